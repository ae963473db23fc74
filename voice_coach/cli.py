"""The ``voice-coach`` command: parse options, call the library, print.

Settings resolve in one order: command line > ``VOICE_COACH_*`` environment > routine >
built-in default. Every failure a user can cause is one line on stderr and a non-zero
exit: 2 for bad input (options, routine files), 1 for everything else, 130 when
interrupted.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from voice_coach import __version__
from voice_coach.errors import VoiceCoachError
from voice_coach.plan import PlanSettings, Timeline, to_dict
from voice_coach.routine import (
    CUE_ROLES,
    MAX_MINUTES,
    MIN_MINUTES,
    CueRole,
    CueSource,
    Pace,
    builtin_ids,
    load_builtin,
    parse_pace,
    resolve,
)

if TYPE_CHECKING:
    from voice_coach.session import Session, SessionOptions

DEFAULT_ROUTINE = "psoas-release"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "VOICE_COACH"}

F = TypeVar("F", bound=Callable[..., Any])


class Interrupted(click.ClickException):
    """Ctrl-C, SIGTERM or a closed terminal."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")


class UserError(click.ClickException):
    """A VoiceCoachError, shown as one line with its own exit code."""

    def __init__(self, error: VoiceCoachError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class VoiceCoachGroup(click.Group):
    """Turns library errors and interrupts into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _signals_interrupt():
                return super().invoke(ctx)
        except VoiceCoachError as error:
            raise UserError(error) from None
        except KeyboardInterrupt:
            raise Interrupted() from None


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so clean-up code runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class PaceType(click.ParamType):
    """``--breath 4:6`` or ``4:7:8:0``."""

    name = "IN:OUT|IN:HOLD:OUT:HOLD"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Pace:
        if isinstance(value, Pace):
            return value
        try:
            return parse_pace(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class CueType(click.ParamType):
    """``--cue inhale=~/bell.wav`` or ``--cue hold=none``."""

    name = "ROLE=WAV"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[CueRole, CueSource]:
        if isinstance(value, tuple):
            return value
        role, sep, where = str(value).partition("=")
        if not sep or role not in CUE_ROLES or not where:
            self.fail(f"{value!r}: expected ROLE=WAV with ROLE one of {', '.join(CUE_ROLES)}",
                      param, ctx)
        if where == "none":
            return role, None  # type: ignore[return-value]
        path = Path(where).expanduser()
        if not path.is_file():
            self.fail(f"{value!r}: no such file: {path}", param, ctx)
        return role, path  # type: ignore[return-value]


def routine_argument(func: F) -> F:
    return click.argument("routine", default=DEFAULT_ROUTINE, metavar="[ROUTINE]")(func)


def plan_options(func: F) -> F:
    """Options that shape the timeline: shared by plan, play and export."""
    options = [
        click.option("--minutes", "-m", type=click.FloatRange(MIN_MINUTES, MAX_MINUTES),
                     help="Target session length; the repeating part fills it."
                          " [default: the routine's]"),
        click.option("--breath", "-b", type=PaceType(),
                     help="Breath pace in seconds, overriding the routine's, e.g. 4:6 or 4:7:8:0."),
        click.option("--no-caution", is_flag=True, help="Skip the spoken safety caution."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def sound_options(func: F) -> F:
    """Options that change what is heard: shared by play and export, so they never drift."""
    from voice_coach.speech import DEFAULT_RATE_WPM, MAX_RATE_WPM, MIN_RATE_WPM

    options = [
        click.option("--rate", "-r", type=click.IntRange(MIN_RATE_WPM, MAX_RATE_WPM),
                     default=DEFAULT_RATE_WPM, show_default=True,
                     help="Speech speed in words per minute; the session keeps its length."),
        click.option("--voice", help="Engine voice id or language, e.g. en-gb or gmw/en-us."
                                     " See 'voice-coach voices'."),
        click.option("--volume", type=click.FloatRange(0.0, 1.0), default=1.0,
                     show_default=True, help="Voice volume, 0 to 1."),
        click.option("--chime-volume", type=click.FloatRange(0.0, 2.0), default=1.0,
                     show_default=True, help="Chime volume relative to the voice, 0 to 2."),
        click.option("--cue", "cues", type=CueType(), multiple=True,
                     help="Use your own WAV for a cue (ROLE=WAV, or ROLE=none). Repeatable."),
        click.option("--no-cache", is_flag=True, help="Render all speech afresh."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


@click.group(cls=VoiceCoachGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="voice-coach")
def cli() -> None:
    """Voice-guided body-work sessions: lie down, close your eyes, follow the voice.

    \b
    Examples:
      voice-coach play                      # the psoas release, 7 minutes
      voice-coach play --minutes 10 --rate 130
      voice-coach export -o ~/psoas         # WAV files to play anywhere
      voice-coach plan box-breathing        # what you will hear, second by second
    """


@cli.command()
def routines() -> None:
    """List the built-in routines.

    \b
    Example:
      voice-coach routines
    """
    for routine_id in builtin_ids():
        routine = load_builtin(routine_id)
        click.echo(f"{routine.id:<18} {routine.minutes:>4g} min  {routine.title}"
                   f" - {routine.summary}")


@cli.command()
@routine_argument
@plan_options
@click.option("--rate", "-r", type=int, default=None,
              help="Speech speed used to estimate spoken lengths. [default: 140]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable timeline.")
def plan(routine: str, minutes: float | None, breath: Pace | None, no_caution: bool,
         rate: int | None, as_json: bool) -> None:
    """Show the session second by second: every line, chime and pause.

    ROUTINE is a built-in id (see 'voice-coach routines') or a path to a TOML file.
    Spoken lengths are estimated from the word count and the speech rate.

    \b
    Examples:
      voice-coach plan
      voice-coach plan psoas-release --minutes 10 --json
      voice-coach plan my-routine.toml --breath 4:7:8:0
    """
    from voice_coach.session import SessionOptions, estimate_timeline
    from voice_coach.speech import DEFAULT_RATE_WPM, MAX_RATE_WPM, MIN_RATE_WPM, SpeechSettings

    rate_wpm = DEFAULT_RATE_WPM if rate is None else rate
    if not MIN_RATE_WPM <= rate_wpm <= MAX_RATE_WPM:
        raise click.BadParameter(f"{rate_wpm} is not in the range {MIN_RATE_WPM}<=x<={MAX_RATE_WPM}.",
                                 param_hint="'--rate' / '-r'")
    loaded = resolve(routine)
    options = SessionOptions(plan=PlanSettings(minutes=minutes, pace=breath,
                                               caution=not no_caution),
                             speech=SpeechSettings(rate_wpm=rate_wpm))
    timeline = estimate_timeline(loaded, options)
    if as_json:
        click.echo(json.dumps(to_dict(timeline), indent=2, ensure_ascii=False))
        return
    click.echo(f"{loaded.title} ({loaded.id}): {_clock(timeline.duration_s)}"
               f" with speech estimated at {rate_wpm} words per minute")
    for line in describe(timeline):
        click.echo(line)
    for note in timeline.notes:
        click.echo(f"note: {note}", err=True)


def _session_options(minutes: float | None, breath: Pace | None, no_caution: bool, rate: int,
                     voice: str | None, volume: float, chime_volume: float,
                     cues: tuple[tuple[CueRole, CueSource], ...]) -> SessionOptions:
    from voice_coach.session import SessionOptions
    from voice_coach.speech import SpeechSettings

    return SessionOptions(
        plan=PlanSettings(minutes=minutes, pace=breath, caution=not no_caution),
        speech=SpeechSettings(rate_wpm=rate, voice=voice, volume=volume),
        chime_volume=chime_volume,
        cue_overrides=dict(cues),
    )


def _build(routine: str, options: SessionOptions, no_cache: bool, quiet: bool) -> Session:
    """Load the routine and render what it speaks, with progress on a terminal."""
    from voice_coach.cache import ClipCache
    from voice_coach.session import build_session
    from voice_coach.speech import open_engine

    loaded = resolve(routine)
    cache = None if no_cache else ClipCache(_cache_dir())
    with _progress("Preparing speech", quiet) as progress:
        return build_session(loaded, options, open_engine, cache, progress)


def _cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("voice-coach")) / "clips"


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """``label 12/40`` redrawn in place on a terminal's stderr; nothing elsewhere."""
    shown = False

    def report(done: int, total: int) -> None:
        nonlocal shown
        if quiet or not sys.stderr.isatty():
            return
        shown = True
        click.echo(f"\r\x1b[2K{label} {done}/{total}", nl=False, err=True)

    try:
        yield report
    finally:
        if shown:
            click.echo("\r\x1b[2K", nl=False, err=True)


@cli.command()
@routine_argument
@plan_options
@sound_options
@click.option("--output", "-o", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files; created if missing.")
@click.option("--force", is_flag=True, help="Replace files from an earlier export.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def export(routine: str, minutes: float | None, breath: Pace | None, no_caution: bool,
           rate: int, voice: str | None, volume: float, chime_volume: float,
           cues: tuple[tuple[CueRole, CueSource], ...], no_cache: bool, output: Path,
           force: bool, quiet: bool) -> None:
    """Write the session to WAV: every spoken line, the whole mix, captions, timeline.

    \b
    Writes into OUTPUT:
      narration/001-....wav   each spoken line, numbered in speaking order
      session.wav             the whole session, as 'play' plays it
      session.vtt             captions of every spoken line at its time
      timeline.json           the timeline, as 'plan --json' shows it

    \b
    Examples:
      voice-coach export -o ~/psoas
      voice-coach export box-breathing --minutes 10 --rate 120 -o box --force
    """
    from voice_coach.export import export_session

    options = _session_options(minutes, breath, no_caution, rate, voice, volume, chime_volume,
                               cues)
    session = _build(routine, options, no_cache, quiet)
    with _progress("Writing session.wav", quiet) as progress:
        written = export_session(session.mixer(), output, force=force,
                                 progress=lambda done, total: progress(done * 100 // total, 100))
    if not quiet:
        timeline = session.timeline
        click.echo(f"Wrote {len(written)} files to {output} ({_clock(timeline.duration_s)} session)")
        for note in timeline.notes:
            click.echo(f"note: {note}", err=True)


@cli.command()
@routine_argument
@plan_options
@sound_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def play(routine: str, minutes: float | None, breath: Pace | None, no_caution: bool,
         rate: int, voice: str | None, volume: float, chime_volume: float,
         cues: tuple[tuple[CueRole, CueSource], ...], no_cache: bool, quiet: bool) -> None:
    """Play a session: lie down, close your eyes, follow the voice and the chimes.

    A rising chime means breathe in, a falling chime breathe out, a double chime move
    to a new spot, a long bell the end. On a terminal: space pauses and resumes, n skips
    to the next step, b repeats the current one, q quits.

    \b
    Examples:
      voice-coach play
      voice-coach play --minutes 10 --rate 130 --no-caution
      voice-coach play box-breathing --breath 5:5:5:5
    """
    from voice_coach import live
    from voice_coach.player import Playback, SimpleaudioDevice

    options = _session_options(minutes, breath, no_caution, rate, voice, volume, chime_volume,
                               cues)
    session = _build(routine, options, no_cache, quiet)
    samples = session.mixer().render()
    device = SimpleaudioDevice()
    playback = Playback(device, sample_rate=session.timeline.sample_rate)
    display = live.display_for(sys.stdout, quiet)
    try:
        with live.keys_for(sys.stdin) as keys:
            live.run(session.timeline, samples, playback, keys, display)
    except BaseException:
        display.abort()
        raise
    finally:
        playback.stop()
        device.close()


@cli.command()
@click.option("--lang", help="Only voices for this language, e.g. en or fr.")
def voices(lang: str | None) -> None:
    """List the speech engine's voices (id, name, languages).

    \b
    Examples:
      voice-coach voices
      voice-coach voices --lang en
    """
    from voice_coach.speech import open_engine

    engine = open_engine()
    try:
        found = engine.voices()
    finally:
        engine.close()
    for voice in found:
        if lang and not any(code == lang or code.startswith(lang + "-") for code in voice.languages):
            continue
        click.echo(f"{voice.id:<24} {voice.name:<28} {', '.join(voice.languages)}")


def describe(timeline: Timeline) -> Iterator[str]:
    """The timeline for people: one line per event, steps set apart."""
    rate = timeline.sample_rate
    step = -1
    for event in timeline.events:
        if event.step != step:
            step = event.step
            yield ""
            yield f"[{step}] {timeline.step_labels[step]}"
        seconds = (event.end - event.start) / rate
        at = _clock(event.start / rate, tenths=True)
        if event.kind == "speech":
            yield f"  {at}  speak    {event.text}"
        elif event.kind == "cue":
            yield f"  {at}  chime    {event.cue}"
        else:
            yield f"  {at}  silence  {seconds:.1f} s"
    yield ""
    yield f"  {_clock(timeline.duration_s, tenths=True)}  end"


def _clock(seconds: float, tenths: bool = False) -> str:
    if tenths:
        whole, tenth = divmod(round(seconds * 10), 10)
        return f"{whole // 60:>2d}:{whole % 60:02d}.{tenth}"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="voice-coach")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
