"""The ``voice-coach`` command: parse options, call the library, print.

Settings resolve in one order: command line > ``VOICE_COACH_*`` environment > routine >
built-in default. Every failure a user can cause is one line on stderr and a non-zero
exit: 2 for bad input (options, routine files), 1 for everything else, 130 when
interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from voice_coach import __version__
from voice_coach.entry import ignore_signals, raise_interrupt
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
    load_file,
    parse_pace,
    resolve,
    user_ids,
)
from voice_coach.speech import DEFAULT_RATE_WPM, MAX_RATE_WPM, MIN_RATE_WPM

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

    def show(self, file: IO[Any] | None = None) -> None:
        with contextlib.suppress(OSError):  # a closed terminal cannot show it; exit anyway
            super().show(file)


class UsageError(click.ClickException):
    """Bad input from the environment: exit code 2, like a bad option."""

    exit_code = 2


class UserError(click.ClickException):
    """A VoiceCoachError, shown as one line with its own exit code."""

    def __init__(self, error: VoiceCoachError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]  # per error, not per class


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


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so clean-up code runs."""
    previous = {sig: signal.signal(sig, raise_interrupt)
                for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class PaceType(click.ParamType):  # type: ignore[type-arg]  # generic only in newer Click
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


class CueType(click.ParamType):  # type: ignore[type-arg]
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
            return role, None
        path = Path(where).expanduser()
        if not path.is_file():
            self.fail(f"{value!r}: no such file: {path}", param, ctx)
        return role, path


class FiniteRange(click.FloatRange):
    """A FloatRange that refuses NaN, which compares false with both ends and slips through."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{number} is not in the range {self._describe_range()}.", param, ctx)
        return number


def routine_argument(func: F) -> F:
    return click.argument("routine", default=DEFAULT_ROUTINE, metavar="[ROUTINE]",
                          envvar="VOICE_COACH_ROUTINE")(func)


def plan_options(func: F) -> F:
    """Options that shape the timeline: shared by plan, play and export."""
    options = [
        click.option("--minutes", "-m", type=FiniteRange(MIN_MINUTES, MAX_MINUTES),
                     envvar="VOICE_COACH_MINUTES",
                     help="Target session length; the repeating part fills it."
                          " [default: the routine's]"),
        click.option("--breath", "-b", type=PaceType(), envvar="VOICE_COACH_BREATH",
                     help="Breath pace in seconds, overriding the routine's, e.g. 4:6 or 4:7:8:0."),
        click.option("--no-caution", is_flag=True, help="Skip the spoken safety caution."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def sound_options(func: F) -> F:
    """Options that change what is heard: shared by play and export, so they never drift."""
    options = [
        click.option("--rate", "-r", type=click.IntRange(MIN_RATE_WPM, MAX_RATE_WPM),
                     default=DEFAULT_RATE_WPM, show_default=True, envvar="VOICE_COACH_RATE",
                     help="Speech speed in words per minute; the session keeps its length."),
        click.option("--voice", envvar="VOICE_COACH_VOICE",
                     help="Engine voice id or language, e.g. en-gb or gmw/en-us."
                                     " See 'voice-coach voices'."),
        click.option("--volume", type=FiniteRange(0.0, 1.0), default=1.0,
                     envvar="VOICE_COACH_VOLUME",
                     show_default=True, help="Voice volume, 0 to 1."),
        click.option("--chime-volume", type=FiniteRange(0.0, 2.0), default=1.0,
                     envvar="VOICE_COACH_CHIME_VOLUME",
                     show_default=True, help="Chime volume relative to the voice, 0 to 2."),
        click.option("--cue", "cues", type=CueType(), multiple=True,
                     help="Use your own WAV for a cue (ROLE=WAV, or ROLE=none). Repeatable."),
        click.option("--no-cache", is_flag=True, help="Render all speech afresh."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


@click.group(cls=VoiceCoachGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="voice-coach")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Voice-guided body-work sessions: lie down, close your eyes, follow the voice.

    \b
    Examples:
      voice-coach play                      # the psoas release, 7 minutes
      voice-coach play --minutes 10 --rate 130
      voice-coach export -o ~/psoas         # WAV files to play anywhere
      voice-coach plan box-breathing        # what you will hear, second by second
      voice-coach config set rate 130       # make a setting stick
    """
    if ctx.invoked_subcommand == "config":
        return  # the settings file is what 'config' repairs; never refuse it for its content
    from voice_coach.config import click_default_map, config_path, load_config, parse_value

    try:
        values = load_config(config_path())
    except VoiceCoachError as error:
        # Only the commands that take settings refuse to run; help and the rest still work.
        ctx.meta["voice_coach.settings_error"] = error
        return
    caution = os.environ.get("VOICE_COACH_CAUTION")
    if caution:
        try:
            values["caution"] = parse_value("caution", caution)
        except VoiceCoachError as error:
            raise UsageError(f"VOICE_COACH_CAUTION: {error}".replace("caution: ", "", 1)) from None
    ctx.default_map = click_default_map(values)
    ctx.meta["voice_coach.settings"] = values


def _user_routines() -> Path:
    """The folder where ``voice-coach new --user`` puts routines, found by id."""
    import platformdirs

    override = os.environ.get("VOICE_COACH_ROUTINES_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("voice-coach")) / "routines"


@cli.command()
def routines() -> None:
    """List the built-in routines, and yours from the user routines folder.

    \b
    Example:
      voice-coach routines
    """
    for routine_id in builtin_ids():
        routine = load_builtin(routine_id)
        click.echo(f"{routine.id:<18} {routine.minutes:>4g} min  {routine.title}"
                   f" - {routine.summary}")
    folder = _user_routines()
    for routine_id in user_ids(folder):
        if routine_id in builtin_ids():
            continue
        try:
            routine = load_file(folder / f"{routine_id}.toml")
        except VoiceCoachError as error:
            click.echo(f"{routine_id:<18}    ?       (yours, invalid: {error})")
            continue
        click.echo(f"{routine_id:<18} {routine.minutes:>4g} min  {routine.title}"
                   f" - {routine.summary} (yours)")


@cli.command()
@routine_argument
@plan_options
@click.option("--rate", "-r", type=click.IntRange(MIN_RATE_WPM, MAX_RATE_WPM),
              default=DEFAULT_RATE_WPM, show_default=True, envvar="VOICE_COACH_RATE",
              help="Speech speed, which sets the spoken lengths.")
@click.option("--render", is_flag=True,
              help="Render the speech (or take it from the cache) and use its real lengths.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable timeline.")
def plan(routine: str, minutes: float | None, breath: Pace | None, no_caution: bool,
         rate: int, render: bool, as_json: bool) -> None:
    """Show the session second by second: every line, chime and pause.

    ROUTINE is a routine id (see 'voice-coach routines') or a path to a TOML file.
    Spoken lengths are estimated from the word count and the speech rate, or, with
    --render, measured on the rendered speech, exactly as 'play' and 'export' use it.

    \b
    Examples:
      voice-coach plan
      voice-coach plan psoas-release --minutes 10 --json
      voice-coach plan my-routine.toml --breath 4:7:8:0
    """
    from voice_coach.session import SessionOptions, estimate_timeline
    from voice_coach.speech import SpeechSettings

    _require_settings()
    loaded = resolve(routine, _user_routines())
    options = SessionOptions(plan=PlanSettings(minutes=minutes, pace=breath,
                                               caution=not no_caution),
                             speech=SpeechSettings(rate_wpm=rate))
    if render:
        timeline = _build(routine, options, no_cache=False, quiet=as_json).timeline
        how = f"speech rendered at {rate} words per minute"
    else:
        timeline = estimate_timeline(loaded, options)
        how = f"speech estimated at {rate} words per minute"
    if as_json:
        click.echo(json.dumps(to_dict(timeline), indent=2, ensure_ascii=False))
        return
    click.echo(f"{loaded.title} ({loaded.id}): {_clock(timeline.duration_s)} with {how}")
    for line in describe(timeline):
        click.echo(line)
    for note in timeline.notes:
        click.echo(f"note: {note}", err=True)


def _require_settings() -> None:
    """Raise the settings file's problem, for the commands whose defaults it holds."""
    problem = click.get_current_context().find_root().meta.get("voice_coach.settings_error")
    if problem is not None:
        raise problem


def _session_options(minutes: float | None, breath: Pace | None, no_caution: bool, rate: int,
                     voice: str | None, volume: float, chime_volume: float,
                     cues: tuple[tuple[CueRole, CueSource], ...]) -> SessionOptions:
    from voice_coach.session import SessionOptions
    from voice_coach.speech import SpeechSettings

    _require_settings()
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

    loaded = resolve(routine, _user_routines())
    cache = None if no_cache else ClipCache(_cache_dir())
    with _progress("Preparing speech", quiet) as progress:
        return build_session(loaded, options, open_engine, cache, progress)


def _cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("voice-coach")) / "clips"


@contextlib.contextmanager
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
        length = _clock(timeline.duration_s)
        click.echo(f"Wrote {len(written)} files to {output} ({length} session)")
        for note in timeline.notes:
            click.echo(f"note: {note}", err=True)


@cli.command()
@routine_argument
@plan_options
@sound_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--no-history", is_flag=True, help="Do not record this session in the history.")
@click.pass_context
def play(ctx: click.Context, routine: str, minutes: float | None, breath: Pace | None,
         no_caution: bool, rate: int, voice: str | None, volume: float, chime_volume: float,
         cues: tuple[tuple[CueRole, CueSource], ...], no_cache: bool, quiet: bool,
         no_history: bool) -> None:
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
    started_at = datetime.now(UTC)
    outcome: live.Outcome = "quit"
    try:
        with live.keys_for(sys.stdin, None if quiet else sys.stderr) as keys:
            outcome = live.run(session.timeline, samples, playback, keys, display)
    except BaseException:
        display.abort()
        raise
    finally:
        started = playback.state != "idle"
        played_s = playback.position() / session.timeline.sample_rate
        playback.stop()
        device.close()
        if started and _history_enabled(ctx, no_history):
            _record(routine_id=session.timeline.routine_id, started_at=started_at,
                    planned_s=session.timeline.duration_s, played_s=played_s,
                    completed=outcome == "completed", quiet=quiet)


def _history_enabled(ctx: click.Context, no_history: bool) -> bool:
    if no_history:
        return False
    settings = ctx.find_root().meta.get("voice_coach.settings", {})
    raw = os.environ.get("VOICE_COACH_HISTORY")
    if raw:
        from voice_coach.config import parse_value

        try:
            return bool(parse_value("history", raw))
        except VoiceCoachError:
            return True
    return bool(settings.get("history", True))


def _record(routine_id: str, started_at: datetime, planned_s: float, played_s: float,
            completed: bool, quiet: bool) -> None:
    """Append the session to the history; a failure is a warning, never fatal."""
    from voice_coach.history import Entry, append, history_path

    entry = Entry(started_at=started_at, routine=routine_id, planned_minutes=planned_s / 60,
                  played_s=played_s, outcome="completed" if completed else "stopped")
    try:
        append(history_path(), entry)
    except VoiceCoachError as error:
        if not quiet:
            click.echo(f"warning: {error}", err=True)


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
        codes = voice.languages
        if lang and not any(code == lang or code.startswith(lang + "-") for code in codes):
            continue
        click.echo(f"{voice.id:<24} {voice.name:<28} {', '.join(voice.languages)}")


@cli.group(invoke_without_command=True)
@click.pass_context
def config(ctx: click.Context) -> None:
    """Show the settings in effect and where each comes from; change them.

    Order: command line > environment (VOICE_COACH_*) > this file > routine > default.

    \b
    Examples:
      voice-coach config                    # every setting, its value and source
      voice-coach config set rate 130
      voice-coach config set breath 4:6
      voice-coach config unset rate
      voice-coach config path
    """
    if ctx.invoked_subcommand is not None:
        return
    from voice_coach.config import config_path, effective_settings, load_config

    path = config_path()
    defaults: dict[str, object] = {"rate": DEFAULT_RATE_WPM, "volume": 1.0, "chime_volume": 1.0,
                                   "caution": True, "history": True, "routine": DEFAULT_ROUTINE}
    for setting in effective_settings(load_config(path), os.environ, defaults):
        if setting.value is None:
            by_routine = setting.key in ("minutes", "breath")
            shown = "(the routine's)" if by_routine else "(engine default)"
        else:
            shown = _setting_text(setting.value)
        source = setting.detail if setting.source == "environment" else setting.source
        click.echo(f"{setting.key:<13} {shown:<18} {source}")
    click.echo(f"settings file: {path}{'' if path.exists() else ' (not created yet)'}")


def _setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


@config.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Store KEY = VALUE in the settings file (validated; written atomically).

    \b
    Keys: breath, caution, chime_volume, history, minutes, rate, routine, voice, volume.
    Example:
      voice-coach config set minutes 10
    """
    from voice_coach.config import config_path, set_value

    stored = set_value(config_path(), key, value)
    click.echo(f"{key} = {_setting_text(stored)}")


@config.command("unset")
@click.argument("key")
def config_unset(key: str) -> None:
    """Remove KEY from the settings file, back to its default.

    \b
    Example:
      voice-coach config unset rate
    """
    from voice_coach.config import config_path, unset_value

    removed = unset_value(config_path(), key)
    click.echo(f"{key} unset" if removed else f"{key} was not set")


@config.command("path")
def config_path_command() -> None:
    """Print the settings file's path.

    \b
    Example:
      voice-coach config path
    """
    from voice_coach.config import config_path

    click.echo(str(config_path()))


@cli.command()
def doctor() -> None:
    """Check that everything a session needs works here, with a fix for what does not.

    \b
    Example:
      voice-coach doctor
    """
    from voice_coach import doctor as checks

    results = checks.run_all(cache_dir=_cache_dir(), routines_dir=_user_routines())
    for result in results:
        mark = "ok" if result.ok else "FAIL"
        click.echo(f"{mark:<4}  {result.name}: {result.detail}")
        if not result.ok and result.fix:
            click.echo(f"      fix: {result.fix}")
    failed = sum(not r.ok for r in results)
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} checks failed")
    click.echo("Everything needed for a session works.")


@cli.command()
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many recent sessions to show.")
def history(limit: int) -> None:
    """Your recent sessions, minutes in all, and your streak of days.

    Minutes are whole minutes played, rounded down. A day counts towards the streak when
    a minute or more was played on it, in one session or several; the streak lasts until
    a whole day is missed.

    The history is a local file that never leaves this machine; 'play --no-history' or
    'voice-coach config set history false' stops recording.

    \b
    Example:
      voice-coach history -n 20
    """
    from voice_coach.history import format_history, history_path, read, recent, summarize

    loaded = read(history_path())
    tz = datetime.now().astimezone().tzinfo or UTC
    today = datetime.now(tz).date()
    summary = summarize(loaded.entries, today, tz)
    for line in format_history(summary, recent(loaded.entries, limit), tz):
        click.echo(line)
    if loaded.skipped:
        click.echo(f"note: {loaded.skipped} damaged line(s) in {history_path()} were skipped",
                   err=True)


@cli.command()
@click.argument("name")
@click.option("--user", "into_user", is_flag=True,
              help="Write it into your routines folder, so it is found by id.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def new(name: str, into_user: bool, force: bool) -> None:
    """Write a commented routine template, NAME.toml, to edit and play.

    \b
    Examples:
      voice-coach new neck-release          # ./neck-release.toml
      voice-coach new neck-release --user   # found as 'voice-coach play neck-release'
      voice-coach check neck-release.toml
    """
    from voice_coach.template import write_template

    folder = _user_routines() if into_user else Path.cwd()
    path = write_template(name, folder, force=force)
    click.echo(f"Wrote {path}; check it with: voice-coach check {path}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rate", "-r", type=click.IntRange(MIN_RATE_WPM, MAX_RATE_WPM),
              default=DEFAULT_RATE_WPM, show_default=True, envvar="VOICE_COACH_RATE",
              help="Speech speed for the estimate.")
def check(file: Path, rate: int) -> None:
    """Validate a routine file and summarise its plan.

    \b
    Example:
      voice-coach check neck-release.toml
    """
    from voice_coach.session import SessionOptions, estimate_timeline
    from voice_coach.speech import SpeechSettings

    loaded = load_file(file)
    timeline = estimate_timeline(loaded, SessionOptions(speech=SpeechSettings(rate_wpm=rate)))
    spoken = [e for e in timeline.events if e.kind == "speech"]
    chimes = [e for e in timeline.events if e.kind == "cue"]
    click.echo(f"{file}: ok - {loaded.title} ({loaded.id}), about {_clock(timeline.duration_s)}"
               f" at {rate} words per minute: {len(timeline.step_labels)} steps,"
               f" {len(spoken)} spoken lines, {len(chimes)} chimes")
    for note in timeline.notes:
        click.echo(f"note: {note}")


def describe(timeline: Timeline) -> Iterator[str]:
    """The timeline for people: one line per event, steps set apart.

    Steps are headed as the screen shows them while playing (``step 4/9``), with the
    ``[[steps]]`` entry of the routine file they come from (``steps[3]``, as errors say).
    """
    rate = timeline.sample_rate
    total = len(timeline.step_labels)
    step = -1
    for event in timeline.events:
        if event.step != step:
            step = event.step
            label = timeline.step_labels[step]
            source = timeline.step_source(step)
            head = f"step {step + 1}/{total}" + (f" ({source})" if source else "")
            yield ""
            yield head if event.text == label else f"{head}: {label}"
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
    """Console-script entry point: one line and an exit code for every way a run can end.

    Signals are handled for the whole run, not only inside the command: a Ctrl-C or
    SIGTERM that lands while Click is parsing, or just after the command finished,
    still ends in one line (or a clean 0), never a traceback or a death by signal.
    """
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupt)
    try:
        code = cli.main(prog_name="voice-coach", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        error: click.ClickException = Interrupted()
    except click.ClickException as raised:
        error = raised
    except BrokenPipeError:  # the reader left (`voice-coach plan | head`): nobody to tell
        ignore_signals()
        sys.exit(1)
    except OSError as raised:  # commands word their own file errors; this is our output
        error = click.ClickException(f"cannot write the output ({raised.strerror or raised})")
    else:
        ignore_signals()
        sys.exit(code if isinstance(code, int) else 0)
    ignore_signals()
    error.show()
    sys.exit(error.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
