"""The ``voice-coach`` group and how every run ends.

Every failure a user can cause is one line on stderr and a non-zero exit: 2 for bad input
(options, environment, routine and settings files), 1 for everything else, 130 when
interrupted. The commands add themselves to ``cli`` (see ``voice_coach.cli.app``).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from typing import IO, Any

import click

from voice_coach import __version__
from voice_coach.errors import VoiceCoachError
from voice_coach.signals import ignore_stop

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "VOICE_COACH"}


class Interrupted(click.ClickException):
    """Ctrl-C, SIGTERM or a closed terminal."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")

    def show(self, file: IO[Any] | None = None) -> None:
        with contextlib.suppress(OSError):  # a closed terminal cannot show it; exit anyway
            super().show(file)


class UserError(click.ClickException):
    """A VoiceCoachError, shown as one line with its own exit code."""

    def __init__(self, error: VoiceCoachError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]  # per error, not per class


class VoiceCoachGroup(click.Group):
    """Every way a run ends is one line and an exit code, in a terminal and under test."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        """Click's, but an interrupt while the options are read is ours to word: Click's
        own handler would put a blank line before it."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            raise Interrupted() from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VoiceCoachError as error:
            raise UserError(error) from None
        except KeyboardInterrupt:
            raise Interrupted() from None

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Click's ``main``, with its endings worded here (see ``finish``)."""
        run = functools.partial(super().main, args, prog_name or "voice-coach", complete_var,
                                standalone_mode=False, **extra)
        if not standalone_mode:
            return run()
        finish(run)


def finish(run: Callable[[], Any]) -> None:
    """Run the command and exit: one line and an exit code for every way a run can end.

    A usage error is one line too (Click's own is four: usage, hint, blank, error).
    A Ctrl-C or SIGTERM that lands while Click is parsing, or just after the command
    finished, still ends in one line (or a clean 0), never a traceback.
    """
    try:
        code = run()
    except (click.exceptions.Abort, KeyboardInterrupt):
        error: click.ClickException = Interrupted()
    except click.UsageError as raised:
        ignore_stop()
        where = raised.ctx.command_path if raised.ctx is not None else "voice-coach"
        with contextlib.suppress(OSError):
            click.echo(f"Error: {raised.format_message()} (see '{where} -h')", err=True)
        sys.exit(raised.exit_code)
    except click.ClickException as raised:
        error = raised
    except BrokenPipeError:  # the reader left (`voice-coach plan | head`): nobody to tell
        ignore_stop()
        sys.exit(1)
    except OSError as raised:  # commands word their own file errors; this is our output
        error = click.ClickException(f"cannot write the output ({raised.strerror or raised})")
    else:
        ignore_stop()
        sys.exit(code if isinstance(code, int) else 0)
    ignore_stop()
    error.show()
    sys.exit(error.exit_code)


@click.group("voice-coach", cls=VoiceCoachGroup, context_settings=CONTEXT_SETTINGS,
             epilog="User guide: docs/index.md in voice-coach's source (every option:"
                    " docs/commands.md); man page: man voice-coach, installed with it"
                    " (in the source: man ./docs/voice-coach.1)")
@click.version_option(__version__, "--version", prog_name="voice-coach")
def cli() -> None:
    """Voice-guided body-work sessions: lie down, close your eyes, follow the voice.

    \b
    Examples:
      voice-coach play                      # the psoas release, 7 minutes
      voice-coach play --minutes 10 --rate 130
      voice-coach export -o ~/psoas         # WAV files to play anywhere
      voice-coach plan box-breathing        # what you will hear, second by second
      voice-coach config set rate 130       # make a setting stick
    """
