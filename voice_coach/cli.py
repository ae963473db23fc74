"""The ``voice-coach`` command: parse options, call the library, print.

The options that are settings (rate, minutes, breath, ...) are built from the settings
table (``config.SETTINGS``), and each value resolves in ``config.resolve``: command line >
``VOICE_COACH_*`` environment > settings file > routine > built-in default. Every failure
a user can cause is one line on stderr and a non-zero exit: 2 for bad input (options,
environment, routine and settings files), 1 for everything else, 130 when interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from voice_coach import __version__, paths
from voice_coach.config import SETTINGS, Command, Spec
from voice_coach.engines.registry import engine as _engine
from voice_coach.errors import VoiceCoachError
from voice_coach.formats import FORMAT_NAMES
from voice_coach.language import LANGUAGES, PLAN_WORDS, default_voice, locale_language
from voice_coach.plan import PlanSettings, Timeline, to_dict
from voice_coach.routine import (
    CUE_ROLES,
    CueRole,
    CueSource,
    Pace,
    Routine,
    builtin_ids,
    load_builtin,
    load_file,
    parse_pace,
    resolve,
    user_ids,
)
from voice_coach.signals import ignore_stop
from voice_coach.timefmt import minutes_seconds

if TYPE_CHECKING:
    from voice_coach.config import ConfigFile
    from voice_coach.history import Entry, StoppedIn
    from voice_coach.loudness import Leveled
    from voice_coach.session import Composer, Session, SessionOptions

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


class UserError(click.ClickException):
    """A VoiceCoachError, shown as one line with its own exit code."""

    def __init__(self, error: VoiceCoachError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code  # type: ignore[misc]  # per error, not per class


class VoiceCoachGroup(click.Group):
    """Every way a run ends is one line and an exit code, in a terminal and under test."""

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


class ChoiceType(click.ParamType):  # type: ignore[type-arg]
    """A "choice" setting (``--engine piper``), refused in the words the file and the
    environment use."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.name = "|".join(spec.choices)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        from voice_coach.config import ConfigError, parse_value

        try:
            return parse_value(self.spec.key, str(value))
        except ConfigError as exc:
            self.fail(str(exc).removeprefix(f"{self.spec.key}: "), param, ctx)


class FiniteRange(click.FloatRange):
    """A FloatRange that refuses NaN, which compares false with both ends and slips through."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{number} is not in the range {self._describe_range()}.", param, ctx)
        return number


def routine_argument(func: F) -> F:
    """``[ROUTINE]``: given, else the ``routine`` setting (see ``_settings``)."""
    return click.argument("routine", required=False, metavar="[ROUTINE]")(func)


def setting_options(command: Command) -> Callable[[F], F]:
    """The options of ``command`` that are settings, built from ``config.SETTINGS``.

    They have no default and no environment variable of their own: a value not given is
    None, and ``config.resolve`` finds it in the environment, the file or the defaults.
    """
    specs = [spec for spec in SETTINGS.values() if command in spec.commands]

    def decorate(func: F) -> F:
        for spec in reversed(specs):
            func = _setting_option(spec)(func)
        return func

    return decorate


def _setting_option(spec: Spec) -> Callable[[F], F]:
    assert spec.option is not None
    kinds: dict[str, Any] = {
        "int": click.IntRange(int(spec.low), int(spec.high)),
        "float": FiniteRange(spec.low, spec.high),
        "pace": PaceType(),
        "lang": click.Choice(LANGUAGES, case_sensitive=False),
        "str": click.STRING,
        "bool": None,
        "choice": ChoiceType(spec),
    }
    names = [spec.option] + ([spec.short] if spec.short else [])
    if spec.default is None:
        shown = spec.unset
    elif isinstance(spec.default, bool):
        shown = spec.option.split("/")[0 if spec.default else 1].lstrip("-")
    else:
        shown = f"{spec.default:g}" if isinstance(spec.default, float) else str(spec.default)
    help_text = f"{spec.help} [default: {shown}; setting: {spec.key}, {spec.envvar}]"
    return click.option(*names, spec.key, type=kinds[spec.kind], default=None, help=help_text,
                        allow_from_autoenv=False)


def sound_options(func: F) -> F:
    """Options of play and export that are not settings."""
    options = [
        click.option("--cue", "cues", type=CueType(), multiple=True,
                     help="Use your own WAV for a cue (ROLE=WAV, or ROLE=none). Repeatable."),
        click.option("--no-cache", is_flag=True, help="Render all speech afresh."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def _settings(command: Command, routine: str | None = None,
              **given: object) -> dict[str, Any]:
    """The settings ``command`` uses, each from the first place that has it.

    ``given`` holds the command line's values (None: not given). A broken settings file
    or environment value stops the command here, with one line and exit 2.
    """
    from voice_coach.config import load_config
    from voice_coach.config import resolve as resolve_settings

    keys = [key for key, spec in SETTINGS.items() if command in spec.commands]
    if command not in ("check", "routines", "voices", "doctor"):
        keys.append("routine")
    file_values = load_config(paths.config_file())
    found = resolve_settings(keys, {**given, "routine": routine}, os.environ, file_values)
    return {key: setting.value for key, setting in found.items()}


@click.group("voice-coach", cls=VoiceCoachGroup, context_settings=CONTEXT_SETTINGS)
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


def _routine(ref: str, lang: str | None = None) -> Routine:
    """The routine ``ref`` names (see ``routine.resolve``) in ``lang``, else in the
    locale's language when it has that translation; an ambiguous name is a note."""
    return resolve(ref, paths.routines_folder(),
                   warn=lambda message: click.echo(f"note: {message}", err=True),
                   lang=lang, preferred=_locale_language())


def _locale_language() -> str | None:
    found = locale_language(os.environ)
    return found[0] if found else None


@cli.command()
@setting_options("routines")
def routines(**given: Any) -> None:
    """List the built-in routines, and yours from the user routines folder, with the length
    each plays at its own defaults (the speech estimated at the default rate), in the
    language chosen (a routine without that translation is shown in its own), with the
    languages it has.

    \b
    Examples:
      voice-coach routines
      voice-coach routines --lang fr
    """
    lang = _settings("routines", **given)["lang"]
    wanted = lang or _locale_language()
    for routine_id in builtin_ids():
        click.echo(_routine_line(load_builtin(routine_id, preferred=wanted)))
    folder = paths.routines_folder()
    for routine_id in user_ids(folder):
        if routine_id in builtin_ids():
            continue
        try:
            routine = load_file(folder / f"{routine_id}.toml", preferred=wanted)
        except VoiceCoachError as error:
            click.echo(f"{routine_id:<18}    ?  (yours, invalid: {error})")
            continue
        click.echo(_routine_line(routine) + " (yours)")


def _routine_line(routine: Routine) -> str:
    """``psoas-release       7:00  Psoas release - ...  [de en es fr]``."""
    from voice_coach.session import SessionOptions, estimate_timeline

    length = minutes_seconds(estimate_timeline(routine, SessionOptions()).duration_s)
    return (f"{routine.id:<18} {length:>5}  {routine.title} - {routine.summary}"
            f"  [{' '.join(routine.languages)}]")


@cli.command()
@routine_argument
@setting_options("plan")
@click.option("--render", is_flag=True,
              help="Render the speech (or take it from the cache) and use its real lengths.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable timeline.")
def plan(routine: str | None, render: bool, as_json: bool, **given: Any) -> None:
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
    from voice_coach.session import estimate_timeline

    values = _settings("plan", routine, **given)
    loaded = _routine(values["routine"], values["lang"])
    options = _session_options(values, loaded)
    rate = values["rate"]
    if render:
        notes: list[str] = []
        timeline = _build(loaded, options, values["engine"], no_cache=False,
                          quiet=as_json, notes=notes).timeline
        _show_notes(notes)
        how = PLAN_WORDS[loaded.lang].rendered.format(rate=rate)
    else:
        timeline = estimate_timeline(loaded, options)
        how = PLAN_WORDS[loaded.lang].estimated.format(rate=rate)
    listed, bed = to_dict(timeline), None
    if options.ambient is not None:
        from voice_coach import ambient

        span = ambient.session_span(timeline)
        listed["ambient"] = ambient.to_dict(options.ambient, span, timeline.sample_rate)
        bed = ambient.describe(options.ambient, span, timeline.sample_rate)
    if as_json:
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    click.echo(f"{loaded.title} ({loaded.id}): {minutes_seconds(timeline.duration_s)} {how}")
    if bed is not None:
        click.echo(bed)
    for entry in loaded.pronounce:
        click.echo(f"pronounce: {entry.word} -> {entry.spoken(values['engine'])}"
                   f" ({values['engine']}; captions keep {entry.word})")
    for line in describe(timeline):
        click.echo(line)
    for note in timeline.notes:
        click.echo(f"note: {note}", err=True)


def _session_options(values: dict[str, Any], routine: Routine,
                     cues: tuple[tuple[CueRole, CueSource], ...] = ()) -> SessionOptions:
    """What the session is made of, from the resolved settings; the voice speaks the
    routine's language unless one is chosen."""
    from voice_coach.ambient import NONE, parse_bed
    from voice_coach.session import SessionOptions
    from voice_coach.speech import SpeechSettings

    return SessionOptions(
        plan=PlanSettings(minutes=values["minutes"], pace=_pace(values["breath"]),
                          caution=values["caution"], pace_to=_pace(values["breath_to"])),
        speech=SpeechSettings(rate_wpm=values["rate"],
                              voice=values.get("voice")
                              or default_voice(routine.lang)),
        volume=values.get("volume", 1.0),
        chime_volume=values.get("chime_volume", 1.0),
        cue_overrides=dict(cues),
        ambient=parse_bed(values.get("ambient") or NONE, values.get("ambient_volume", 0.0),
                          values.get("tail", 0.0)),
    )


def _pace(breath: Pace | str | None) -> Pace | None:
    """A pace from the command line (parsed) or from the environment or file (text)."""
    return parse_pace(breath) if isinstance(breath, str) else breath


def _build(loaded: Routine, options: SessionOptions, engine: str, no_cache: bool,
           quiet: bool, notes: list[str]) -> Session:
    """Render what the routine speaks with ``engine``, with progress on a terminal;
    ``notes`` gets the line saying the cache switched itself off, for the caller to show
    once its own work is done (an export that then fails shows its error alone)."""
    from voice_coach.cache import ClipCache
    from voice_coach.session import build_session

    factory = _engine(engine).open(options.speech.voice)
    cache = None if no_cache else ClipCache(paths.clips_folder(), warn=notes.append)
    with _progress("Preparing speech", quiet) as progress:
        return build_session(loaded, options, factory, cache, progress)


def _show_notes(notes: list[str]) -> None:
    """Each note once (two workers may fail at once), on stderr, even with ``--quiet``."""
    for note in dict.fromkeys(notes):
        click.echo(f"note: {note}", err=True)


def _composer(loaded: Routine, options: SessionOptions, engine: str,
              no_cache: bool) -> Composer:
    """Get ready to render what the routine speaks, line by line, as it plays."""
    from voice_coach.cache import ClipCache
    from voice_coach.session import Composer

    factory = _engine(engine).open(options.speech.voice)
    cache = None if no_cache else ClipCache(paths.clips_folder())
    return Composer(loaded, options, factory, cache)


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
@setting_options("export")
@sound_options
@click.option("--output", "-o", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files; created if missing.")
@click.option("--format", "audio_format", type=click.Choice(FORMAT_NAMES), default="wav",
              show_default=True,
              help="Audio format: WAV or FLAC (lossless), MP3 (96 kbps) or Opus (48 kbps),"
                   " mono, with one chapter per step.")
@click.option("--force", is_flag=True, help="Replace files from an earlier export.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def export(routine: str | None, cues: tuple[tuple[CueRole, CueSource], ...], no_cache: bool,
           output: Path, audio_format: str, force: bool, quiet: bool, **given: Any) -> None:
    """Write the session to audio files: every spoken line, the whole mix, captions,
    chapters, timeline. Every clip is leveled to -19 LUFS (mono spoken word), true peaks
    at -1 dBTP at most, exactly as 'play' plays it.

    \b
    Writes into OUTPUT (.wav here; .flac, .mp3, .opus or .m4a with --format):
      narration/001-....wav   each spoken line, numbered in speaking order
      session.wav             the whole session, as 'play' plays it
      session.vtt             captions of every spoken line at its time
      session.chapters.json   one chapter per step (Podcasting 2.0 JSON chapters)
      timeline.json           the timeline, as 'plan --json' shows it

    \b
    Examples:
      voice-coach export -o ~/psoas
      voice-coach export --format mp3 -o ~/psoas-phone
      voice-coach export --format m4a -o ~/psoas-iphone
      voice-coach export box-breathing --minutes 10 --rate 120 -o box --force
    """
    from voice_coach.export import export_session
    from voice_coach.formats import Tags, get_format

    chosen = get_format(audio_format)
    chosen.check()
    values = _settings("export", routine, **given)
    loaded = _routine(values["routine"], values["lang"])
    cache_notes: list[str] = []
    session = _build(loaded, _session_options(values, loaded, cues), values["engine"],
                     no_cache, quiet, cache_notes)
    tags = Tags(title=loaded.title, comment=loaded.summary)
    with _progress(f"Writing session{chosen.suffix}", quiet) as progress:
        mixer = session.mixer()
        written = export_session(mixer, output, force=force, audio_format=chosen, tags=tags,
                                 progress=lambda done, total: progress(done * 100 // total, 100))
    _show_notes(cache_notes)
    if not quiet:
        timeline = session.timeline
        length = minutes_seconds(timeline.duration_s)
        click.echo(f"Wrote {len(written)} files to {output} ({length} session)")
        click.echo(describe_levels(mixer.leveled_clips()))
        for note in timeline.notes:
            click.echo(f"note: {note}", err=True)


def describe_levels(leveled: list[Leveled]) -> str:
    """``Levels: 31 clips at -19 LUFS; the limiter took up to 3.0 dB off peaks in 18``."""
    from voice_coach.loudness import TARGET_LUFS

    limited = [clip.reduction_db for clip in leveled if clip.reduction_db > 0.05]
    most = max(limited, default=0.0)
    peaks = (f"the limiter took up to {most:.1f} dB off the peaks of {len(limited)}"
             if limited else "no peak needed limiting")
    return f"Levels: {len(leveled)} clips at {TARGET_LUFS:g} LUFS; {peaks}"


@cli.command()
@routine_argument
@setting_options("play")
@sound_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--resume", is_flag=True,
              help="Pick up the last session stopped before its end, as it was, from the"
                   " start of the step it stopped in.")
def play(routine: str | None, cues: tuple[tuple[CueRole, CueSource], ...], no_cache: bool,
         quiet: bool, resume: bool, **given: Any) -> None:
    """Play a session: lie down, close your eyes, follow the voice and the chimes.

    A rising chime means breathe in, a falling chime breathe out, a double chime move
    to a new spot, a long bell the end. On a terminal: space pauses and resumes, n skips
    to the next step, b repeats the current one, q quits. Media keys, headset buttons
    and the desktop's or a phone's player controls do the same (MPRIS2).

    \b
    Examples:
      voice-coach play
      voice-coach play --minutes 10 --rate 130 --no-caution
      voice-coach play box-breathing --breath 5:5:5:5
      voice-coach play --resume               # the session stopped last, where it stopped
    """
    from dataclasses import replace

    from voice_coach import controls, devices, live
    from voice_coach.playback import Playback
    from voice_coach.player import SimpleaudioDevice
    from voice_coach.stream import SessionStream

    values = _settings("play", routine, **given)
    resuming: list[Entry] | None = None
    from_step = 0
    if resume:
        resuming, values, cues, from_step = _to_resume(routine, cues, given, values)
    route = devices.choose(values["device"])
    loaded = _routine(values["routine"], values["lang"])
    options = replace(_session_options(values, loaded, cues), from_step=from_step)
    composer = _composer(loaded, options, values["engine"], no_cache)
    if resuming is not None and not quiet:
        stopped = resuming[-1].stopped_in
        assert stopped is not None
        when = resuming[-1].started_at.astimezone()
        click.echo(f"Resuming {loaded.title} at \"{stopped.label}\", where the session of"
                   f" {when:%Y-%m-%d %H:%M} stopped.")
    stream = SessionStream(composer.capacity, composer.scores(),
                           sample_rate=composer.options.plan.sample_rate)
    device = SimpleaudioDevice(route=route)
    playback = Playback(device, sample_rate=stream.sample_rate)
    display = live.display_for(sys.stdout, quiet)
    started_at = datetime.now(UTC)
    outcome: live.Outcome = "quit"
    try:
        stream.start(playback.position)
        with (live.keys_for(sys.stdin, None if quiet else sys.stderr) as keys,
              controls.edges(keys, display, title=loaded.title,
                             media_keys=values["media_keys"]) as (steering, shown)):
            outcome = live.run(stream, playback, steering, shown)
    except BaseException:
        display.abort()
        raise
    finally:
        started = playback.state != "idle"
        played_s = min(playback.position(), stream.end) / stream.sample_rate
        playback.stop()
        device.close()
        stream.close()
        composer.close()
        timeline = stream.timeline()
        if started and values["history"] and timeline is not None:
            in_tail = (timeline.tail_start is not None
                       and played_s * stream.sample_rate >= timeline.tail_start)
            _record(timeline, started_at=started_at, played_s=played_s,
                    completed=outcome == "completed" or in_tail, quiet=quiet,
                    stopped_in=_stopped_in(timeline, playback.heard(), from_step, values,
                                           cues, loaded),
                    resumes=None if resuming is None else resuming[0].started_at)


def _to_resume(routine: str | None, cues: tuple[tuple[CueRole, CueSource], ...],
               given: dict[str, Any], values: dict[str, Any],
               ) -> tuple[list[Entry], dict[str, Any], tuple[tuple[CueRole, CueSource], ...],
                          int]:
    """The session ``play --resume`` picks up from the history: its plays so far, its
    settings (this play's own device, history and media keys), its cues, its step."""
    from voice_coach.history import read, to_resume
    from voice_coach.resume import NOTHING_TO_RESUME, THIS_PLAY, ResumeError, picked

    changes = [f"--{key.replace('_', '-')}" for key, value in given.items()
               if value is not None and key not in THIS_PLAY]
    if routine is not None or cues or changes:
        what = ", ".join(["a routine"] * (routine is not None) + ["--cue"] * bool(cues)
                         + changes)
        raise ResumeError(f"--resume plays the stopped session as it was; leave out {what}")
    session = to_resume(read(paths.history_file()).entries)
    if session is None:
        raise ResumeError(NOTHING_TO_RESUME)
    stopped = session[-1].stopped_in
    assert stopped is not None  # to_resume picks only such sessions
    found = picked(stopped.settings, stopped.step)
    return (session, {**found.values, **{key: values[key] for key in THIS_PLAY}},
            found.cues, found.from_step)


def _stopped_in(timeline: Timeline, heard: int, from_step: int, values: dict[str, Any],
                cues: tuple[tuple[CueRole, CueSource], ...], loaded: Routine) -> StoppedIn:
    """Where a stopped play can be resumed: its settings and the step of the whole
    session it stopped in (the session may itself be a resumed one)."""
    from voice_coach.history import StoppedIn
    from voice_coach.resume import kept, routine_ref, whole_step

    shown = timeline.step_at(min(heard, timeline.duration))
    skipped = max(0, from_step - 1)  # steps a resumed session leaves out
    played = {**values, "lang": loaded.lang}  # the language it spoke, whatever the locale
    return StoppedIn(kept(played, cues, routine_ref(values["routine"], loaded.source)),
                     whole_step(shown, from_step), len(timeline.step_labels) + skipped,
                     timeline.step_labels[shown])


def _record(timeline: Timeline, started_at: datetime, played_s: float, completed: bool,
            quiet: bool, stopped_in: StoppedIn, resumes: datetime | None) -> None:
    """Append the session to the history; a failure is a warning, never fatal."""
    from voice_coach.history import Entry, append

    entry = Entry(started_at=started_at, routine=timeline.routine_id,
                  planned_minutes=timeline.duration_s / 60, played_s=played_s,
                  outcome="completed" if completed else "stopped",
                  stopped_in=None if completed else stopped_in, resumes=resumes)
    try:
        append(paths.history_file(), entry)
    except VoiceCoachError as error:
        if not quiet:
            click.echo(f"warning: {error}", err=True)


@cli.command()
@setting_options("voices")
@click.option("--lang", help="Only voices for this language, e.g. en or fr.")
def voices(lang: str | None, **given: Any) -> None:
    """List the speech engine's voices: what --voice takes, then what each one is.

    For pyttsx3: id, name, languages. For piper: name, language, quality and sample
    rate of the packaged voice and of each voice (an .onnx file beside its .onnx.json)
    in the voices folder, shown at the end.

    \b
    Examples:
      voice-coach voices
      voice-coach voices --lang en
      voice-coach voices --engine piper
    """
    from voice_coach.engines import registry

    listing = registry.engine(_settings("voices", **given)["engine"]).listing(lang)
    for note in listing.notes:
        click.echo(f"note: {note}", err=True)
    for line in listing.lines:
        click.echo(line)
    if listing.footer is not None:
        click.echo(listing.footer)


@cli.group(invoke_without_command=True)
@click.pass_context
def config(ctx: click.Context) -> None:
    """Show the settings in effect and where each comes from; change them.

    Order: command line > environment (VOICE_COACH_*) > this file > routine > default.
    A setting that is invalid is shown as such, with the command that repairs it.

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
    from voice_coach.config import (
        ConfigError,
        ConfigFile,
        Setting,
        read_config,
        resolve_one,
        shown_key,
    )

    path = paths.config_file()
    problems: list[str] = []
    try:
        found = read_config(path)
    except ConfigError as error:
        found = ConfigFile({})
        problems.append(f"{error} (the file is ignored here; fix it in an editor)")
    problems += [f"{problem} (repair: voice-coach config set {key} VALUE, or unset {key})"
                 for problem, key in zip(found.problems, map(shown_key, _problem_keys(found)),
                                         strict=True)]
    for spec in SETTINGS.values():
        try:
            setting = resolve_one(spec, {}, os.environ, found.values)
        except ConfigError as error:
            problems.append(str(error))
            click.echo(f"{spec.key:<13} {'(invalid)':<18} {spec.envvar}")
            continue
        if setting.value is None and spec.key == "lang":
            found_locale = locale_language(os.environ)
            shown, setting = (found_locale[0], Setting(spec.key, found_locale[0], "locale",
                                                       found_locale[1])) if found_locale \
                else ("(the routine's)", setting)
        elif setting.value is None:
            shown = f"({spec.unset})"
        elif found.written and spec.key in found.written and spec.key not in found.values:
            shown = "(invalid)"
        else:
            shown = _setting_text(setting.value)
        source = (setting.detail if setting.source == "environment"
                  else f"locale ({setting.detail}), when the routine has it"
                  if setting.source == "locale" else setting.source)
        if shown == "(invalid)":
            source = "config file"
        click.echo(f"{spec.key:<13} {shown:<18} {source}")
    click.echo(f"settings file: {path}{'' if path.exists() else ' (not created yet)'}")
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)


def _problem_keys(found: ConfigFile) -> list[str]:
    """The key each of ``found.problems`` is about, in the same order."""
    return [key for key in (found.written or {}) if key not in found.values]


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

    It replaces whatever the file holds for KEY, so it also repairs an invalid value.
    A routine must exist: a built-in id, one of yours, or a TOML file (stored as an
    absolute path).

    \b
    Example:
      voice-coach config set minutes 10
    """
    from voice_coach.config import set_value

    if key == "routine":
        value = _routine_setting(value)
    stored = set_value(paths.config_file(), key, value)
    click.echo(f"{key} = {_setting_text(stored)}")


def _routine_setting(ref: str) -> str:
    """A routine reference worth storing: it loads now, and a path does not depend on
    the folder ``play`` runs in. Raises the routine's own error (exit 2)."""
    _routine(ref)
    is_id = ref in builtin_ids() or ref in user_ids(paths.routines_folder())
    return ref if is_id else str(Path(ref).expanduser().resolve())


@config.command("unset")
@click.argument("key")
def config_unset(key: str) -> None:
    """Remove KEY from the settings file, back to its default (also an invalid or
    misspelt key the file holds).

    \b
    Example:
      voice-coach config unset rate
    """
    from voice_coach.config import unset_value

    removed = unset_value(paths.config_file(), key)
    click.echo(f"{key} unset" if removed else f"{key} was not set")


@config.command("path")
def config_path_command() -> None:
    """Print the settings file's path.

    \b
    Example:
      voice-coach config path
    """
    click.echo(str(paths.config_file()))


@cli.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
def devices_command(as_json: bool) -> None:
    """List the sound outputs you can play on, '*' marking the default.

    The sound server's sinks (PipeWire or PulseAudio) when one runs, else ALSA's cards
    and PCMs. Choose one with 'play --device NAME' or 'config set device NAME'.

    \b
    Examples:
      voice-coach devices
      voice-coach play --device bluez_output.00_11_22_33_44_55.1
      voice-coach devices --json
    """
    from voice_coach import devices

    found = devices.discover()
    if as_json:
        click.echo(json.dumps(devices.as_json(found), indent=2))
        return
    for line in devices.lines(found):
        click.echo(line)


@cli.command()
@setting_options("doctor")
def doctor(**given: Any) -> None:
    """Check that everything a session needs works here, with a fix for what does not.

    \b
    Examples:
      voice-coach doctor
      voice-coach doctor --engine piper     # also render a test phrase with Piper
    """
    from voice_coach import doctor as checks
    from voice_coach.config import load_config, resolve_one

    values = _settings("doctor", **given)
    config = load_config(paths.config_file())  # read once: doctor's own settings above
    media_keys = resolve_one(SETTINGS["media_keys"], {}, os.environ, config)
    bed = resolve_one(SETTINGS["ambient"], {}, os.environ, config)
    results = checks.run_all(cache_dir=paths.clips_folder(),
                             routines_dir=paths.routines_folder(),
                             engine=values["engine"], voice=values.get("voice"),
                             media_keys=bool(media_keys.value), ambient=str(bed.value))
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
    from voice_coach.history import format_history, read, recent, summarize

    loaded = read(paths.history_file())
    tz = datetime.now().astimezone().tzinfo or UTC
    today = datetime.now(tz).date()
    summary = summarize(loaded.entries, today, tz)
    for line in format_history(summary, recent(loaded.entries, limit), tz):
        click.echo(line)
    if loaded.skipped:
        click.echo(f"note: {loaded.skipped} damaged line(s) in {paths.history_file()} were"
                   " skipped",
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

    folder = paths.routines_folder() if into_user else Path.cwd()
    path = write_template(name, folder, force=force)
    click.echo(f"Wrote {path}; check it with: voice-coach check {path}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@setting_options("check")
def check(file: Path, **given: Any) -> None:
    """Validate a routine file and its translations (NAME.LANG.toml beside it), and
    summarise its plan (at the speech rate in effect).

    \b
    Example:
      voice-coach check neck-release.toml
    """
    from voice_coach.session import SessionOptions, estimate_timeline
    from voice_coach.speech import SpeechSettings

    rate = _settings("check", **given)["rate"]
    loaded = load_file(file)
    options = SessionOptions(speech=SpeechSettings(rate_wpm=rate))
    timeline = estimate_timeline(loaded, options)
    for lang in loaded.languages:
        if lang != loaded.lang:
            estimate_timeline(load_file(file, lang), options)
    spoken = [e for e in timeline.events if e.kind == "speech"]
    chimes = [e for e in timeline.events if e.kind == "cue"]
    click.echo(f"{file}: ok - {loaded.title} ({loaded.id}),"
               f" about {minutes_seconds(timeline.duration_s)}"
               f" at {rate} words per minute: {len(timeline.step_labels)} steps,"
               f" {len(spoken)} spoken lines, {len(chimes)} chimes;"
               f" languages: {', '.join(loaded.languages)}")
    for note in timeline.notes:
        click.echo(f"note: {note}")


def describe(timeline: Timeline) -> Iterator[str]:
    """The timeline for people: one line per event, steps set apart.

    Steps are headed as the screen shows them while playing (``step 4/9``), with the
    ``[[steps]]`` entry of the routine file they come from (``steps[3]``, as errors say),
    in the timeline's language.
    """
    words = PLAN_WORDS[timeline.lang]
    rate = timeline.sample_rate
    total = len(timeline.step_labels)
    step = -1
    for event in timeline.events:
        if event.step != step:
            step = event.step
            label = timeline.step_labels[step]
            source = timeline.step_source(step)
            head = f"{words.step} {step + 1}/{total}" + (f" ({source})" if source else "")
            yield ""
            yield head if event.text == label else f"{head}: {label}"
        seconds = (event.end - event.start) / rate
        at = minutes_seconds(event.start / rate, tenths=True)
        if event.kind == "speech":
            yield f"  {at}  {words.speak:<8} {event.text}"
        elif event.kind == "cue":
            cue = words.cues[event.cue] if event.cue is not None else ""
            yield f"  {at}  {words.chime:<8} {cue}"
        else:
            yield f"  {at}  {words.silence:<8} {seconds:.1f} s"
    yield ""
    yield f"  {minutes_seconds(timeline.duration_s, tenths=True)}  {words.end}"


def main() -> None:
    """Run the command line (the console script goes through ``entry.main``)."""
    cli.main(prog_name="voice-coach")


if __name__ == "__main__":  # pragma: no cover
    main()
