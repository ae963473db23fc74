"""The ``voice-coach`` command line: ``main`` runs it, ``cli`` is its Click group.

The package is laid out by concern: ``group`` (the group and how every run ends),
``options`` (shared options and parameter types), the commands by what they serve
(``session``: play, export, plan; ``settings``: config; ``information``: routines,
voices, devices, doctor, history; ``authoring``: new, check), ``output`` (progress and
notes on the terminal) and ``text`` (what the commands print, as plain functions).

This module is the console script's first and last code: interrupts are handled before
anything heavy loads, and output that cannot be written is one line, not Python's
"Exception ignored". Loading the commands takes about a tenth of a second (Click, numpy);
until the handlers are in place Ctrl-C would print a traceback and SIGTERM or SIGHUP kill
the process silently, so this module imports only the standard library and
``voice_coach.signals``, and the group ``cli`` is loaded on first use.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, NoReturn, TextIO

from voice_coach.signals import ignore_stop, interrupt_on_stop

if TYPE_CHECKING:
    from voice_coach.cli.app import cli

__all__ = ["cli", "leave", "main"]


def main() -> None:
    """Console-script entry point."""
    interrupt_on_stop()
    try:
        from voice_coach.cli.app import run
    except KeyboardInterrupt:
        ignore_stop()
        print("Error: interrupted", file=sys.stderr)
        sys.exit(130)
    try:
        run()
    except SystemExit as done:
        leave(done.code)
    leave(0)


def leave(code: object) -> NoReturn:
    """Exit with ``code``, once stdout's last bytes are out or told as lost.

    The interpreter flushes stdout at exit, and a failure there (a full disk, a reader
    that left) becomes "Exception ignored" and exit 120. So the flush is done here: a
    closed pipe ends the run quietly with exit 1 (nobody is left to tell); any other
    failure is one line. Either way stdout then points at /dev/null, so the interpreter's
    own flush finds nothing left to fail on; stderr likewise when a closed terminal
    cannot take the last line.
    """
    status = code if isinstance(code, int) else 0 if code is None else 1
    if not isinstance(code, int) and code is not None:
        print(code, file=sys.stderr)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left: nobody to tell
        status = status or 1
        _discard(sys.stdout)
    except OSError as exc:  # a full disk
        if status == 0:  # else the failure was told already (group.finish), maybe this same one
            print(f"Error: cannot write the output ({exc.strerror or exc})", file=sys.stderr)
            status = 1
        _discard(sys.stdout)
    try:
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed terminal: nobody left to tell
        _discard(sys.stderr)
    sys.exit(status)


def _discard(stream: TextIO) -> None:
    """Point ``stream``'s descriptor at /dev/null, so what is still buffered goes nowhere
    and the interpreter's own flush at exit cannot fail (it would make the exit 120)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def __getattr__(name: str) -> object:
    """``cli``, the group with every command, loaded when first asked for."""
    if name == "cli":
        from voice_coach.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
