"""A session from the settings in effect, for the commands to show, export or play.

Each setting resolves in ``config.resolve`` (command line > ``VOICE_COACH_*`` environment >
settings file > routine > built-in default); the routine is found by id or path, in the
language chosen or the locale's; the options are built from both; the speech is rendered
whole (export, ``plan --render``) or made ready line by line (play). Nothing here prints:
what a user should read comes back as values or through the ``warn`` and ``progress``
callables the caller passes in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice_coach import paths
from voice_coach.config import SETTINGS, Command
from voice_coach.engines.registry import engine as _engine
from voice_coach.errors import VoiceCoachError
from voice_coach.language import default_voice, locale_language
from voice_coach.plan import PlanSettings, Timeline
from voice_coach.routine import (
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

if TYPE_CHECKING:
    from voice_coach.checks import Check
    from voice_coach.session import Composer, Session, SessionOptions

Cues = tuple[tuple[CueRole, CueSource], ...]
"""``--cue`` overrides: each role with its own sound file, or None for silence."""

Progress = Callable[[int, int], None]
"""Told ``(done, total)`` as work goes on."""


def resolved_settings(command: Command, routine: str | None = None,
                      **given: object) -> dict[str, Any]:
    """The settings ``command`` uses, each from the first place that has it.

    ``given`` holds the command line's values (None: not given). A broken settings file
    or environment value raises ``ConfigError`` (exit 2).
    """
    from voice_coach.config import load_config
    from voice_coach.config import resolve as resolve_settings

    keys = [key for key, spec in SETTINGS.items() if command in spec.commands]
    if command not in ("check", "routines", "voices", "doctor"):
        keys.append("routine")
    file_values = load_config(paths.config_file())
    found = resolve_settings(keys, {**given, "routine": routine}, os.environ, file_values)
    return {key: setting.value for key, setting in found.items()}


def locale_lang() -> str | None:
    """The locale's language, when it is one the routines may be translated into."""
    found = locale_language(os.environ)
    return found[0] if found else None


def find_routine(ref: str, warn: Callable[[str], None], lang: str | None = None) -> Routine:
    """The routine ``ref`` names (see ``routine.resolve``) in ``lang``, else in the
    locale's language when it has that translation; ``warn`` hears of an ambiguous name."""
    return resolve(ref, paths.routines_folder(), warn=warn, lang=lang,
                   preferred=locale_lang())


def routine_setting(ref: str, warn: Callable[[str], None]) -> str:
    """A routine reference worth storing: it loads now, and a path does not depend on
    the folder ``play`` runs in. Raises the routine's own error (exit 2)."""
    find_routine(ref, warn)
    is_id = ref in builtin_ids() or ref in user_ids(paths.routines_folder())
    return ref if is_id else str(Path(ref).expanduser().resolve())


def listed_routines(lang: str | None,
                    ) -> Iterator[tuple[str, Routine | VoiceCoachError, bool]]:
    """The built-in routines, then the user's that do not shadow one, each in ``lang``
    (else the locale's language) when it has it; a user's that cannot load, as its error.
    Each with its id and whether it is the user's."""
    wanted = lang or locale_lang()
    for routine_id in builtin_ids():
        yield routine_id, load_builtin(routine_id, preferred=wanted), False
    folder = paths.routines_folder()
    for routine_id in user_ids(folder):
        if routine_id in builtin_ids():
            continue
        try:
            yield routine_id, load_file(folder / f"{routine_id}.toml", preferred=wanted), True
        except VoiceCoachError as error:
            yield routine_id, error, True


def default_length_s(routine: Routine) -> float:
    """How long ``routine`` plays at its own defaults, the speech estimated at the
    default rate."""
    from voice_coach.session import SessionOptions, estimate_timeline

    return estimate_timeline(routine, SessionOptions()).duration_s


def session_options(values: Mapping[str, Any], routine: Routine,
                    cues: Cues = ()) -> SessionOptions:
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


@dataclass(frozen=True)
class Prepared:
    """A session before its speech: the settings in effect, the routine, the options."""

    values: dict[str, Any]
    routine: Routine
    options: SessionOptions


def prepare(command: Command, routine: str | None, given: Mapping[str, object],
            warn: Callable[[str], None], cues: Cues = ()) -> Prepared:
    """The settings ``command`` uses resolved, the routine they name found (``warn``
    hears of an ambiguous name) and the session's options built from both."""
    values = resolved_settings(command, routine, **given)
    loaded = find_routine(values["routine"], warn, values["lang"])
    return Prepared(values, loaded, session_options(values, loaded, cues))


def build(prepared: Prepared, no_cache: bool, notes: list[str],
          progress: Progress) -> Session:
    """Render what the routine speaks with the engine chosen, telling ``progress``;
    ``notes`` gets the line saying the cache switched itself off, for the caller to show
    once its own work is done (an export that then fails shows its error alone)."""
    from voice_coach.cache import ClipCache
    from voice_coach.session import build_session

    options = prepared.options
    factory = _engine(prepared.values["engine"]).open(options.speech.voice)
    cache = None if no_cache else ClipCache(paths.clips_folder(), warn=notes.append)
    return build_session(prepared.routine, options, factory, cache, progress)


def composer(loaded: Routine, options: SessionOptions, engine: str,
             no_cache: bool) -> Composer:
    """Get ready to render what the routine speaks, line by line, as it plays."""
    from voice_coach.cache import ClipCache
    from voice_coach.session import Composer

    factory = _engine(engine).open(options.speech.voice)
    cache = None if no_cache else ClipCache(paths.clips_folder())
    return Composer(loaded, options, factory, cache)


def doctor_results(values: Mapping[str, Any]) -> list[Check]:
    """Every check ``doctor`` makes, with the engine and voice in ``values`` and the
    media keys and ambient bed in effect."""
    from voice_coach import doctor as checks
    from voice_coach.config import load_config, resolve_one

    config = load_config(paths.config_file())  # read once: doctor's own settings are in values
    media_keys = resolve_one(SETTINGS["media_keys"], {}, os.environ, config)
    bed = resolve_one(SETTINGS["ambient"], {}, os.environ, config)
    return checks.run_all(cache_dir=paths.clips_folder(),
                          routines_dir=paths.routines_folder(),
                          engine=values["engine"], voice=values.get("voice"),
                          media_keys=bool(media_keys.value), ambient=str(bed.value))


def timeline(prepared: Prepared, render: bool, notes: list[str],
             progress: Progress) -> Timeline:
    """The session second by second: its spoken lengths estimated from the word count and
    the rate, or, with ``render``, measured on the speech as ``build`` renders it."""
    from voice_coach.session import estimate_timeline

    if render:
        return build(prepared, no_cache=False, notes=notes, progress=progress).timeline
    return estimate_timeline(prepared.routine, prepared.options)


def plan_listing(timeline: Timeline, options: SessionOptions,
                 ) -> tuple[dict[str, Any], str | None]:
    """The timeline as ``plan --json`` lists it, with the ambient bed when there is one,
    and the bed described for people (None: no bed)."""
    from voice_coach.plan import to_dict

    listed = to_dict(timeline)
    if options.ambient is None:
        return listed, None
    from voice_coach import ambient

    span = ambient.session_span(timeline)
    listed["ambient"] = ambient.to_dict(options.ambient, span, timeline.sample_rate)
    return listed, ambient.describe(options.ambient, span, timeline.sample_rate)


def check_file(file: Path, rate_wpm: int) -> tuple[Routine, Timeline]:
    """A routine file and its translations loaded and planned at ``rate_wpm`` (each
    raises its own error), and the routine's own plan."""
    from voice_coach.session import SessionOptions, estimate_timeline
    from voice_coach.speech import SpeechSettings

    loaded = load_file(file)
    options = SessionOptions(speech=SpeechSettings(rate_wpm=rate_wpm))
    planned = estimate_timeline(loaded, options)
    for lang in loaded.languages:
        if lang != loaded.lang:
            estimate_timeline(load_file(file, lang), options)
    return loaded, planned
