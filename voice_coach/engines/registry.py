"""Every speech engine by name: how to open it, what its voices are, whether it is there
(doctor's checks).

The one place the rest of the program learns which engines exist (the ``engine``
setting's choices, ``[pronounce]``'s keys, ``voices``, ``doctor``): adding an engine is
a module under ``engines/`` and an entry here. Each engine's own module is imported only
when that engine is used, so a session with espeak-ng never loads Piper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from voice_coach.checks import Check
from voice_coach.errors import VoiceCoachError

if TYPE_CHECKING:
    from voice_coach.speech import Engine

EngineFactory = Callable[[], "Engine"]


class VoicesError(VoiceCoachError):
    """No voice matches the language asked for: bad input."""

    exit_code = 2


@dataclass(frozen=True)
class Listing:
    """What ``voices`` prints for an engine: a line per voice, then notes (voice files
    skipped) and a closing line (where voices are looked for), either possibly empty."""

    lines: list[str]
    notes: list[str]
    footer: str | None = None


@dataclass(frozen=True)
class EngineKind:
    """One engine: its name, what it is, how to open it with a voice, its voices."""

    name: str
    summary: str
    open: Callable[[str | None], EngineFactory]
    """The factory for ``voice`` (None: the engine's default); a missing engine or a bad
    voice stops here, before anything is rendered."""
    listing: Callable[[str | None], Listing]
    """The voices for a language (None: all); a VoicesError when none speaks it."""
    checks: Callable[[bool, str | None], list[Check]]
    """doctor's lines for it: whether it is the engine chosen, with which voice."""


def _open_pyttsx3(voice: str | None) -> EngineFactory:
    from voice_coach.engines.pyttsx3_engine import open_engine

    return open_engine  # the voice is a render setting: SpeechSettings.voice


def _open_piper(voice: str | None) -> EngineFactory:
    from voice_coach.engines.piper_engine import PiperFactory

    factory = PiperFactory(voice)
    factory.version  # noqa: B018  # the voice file is found and checked here
    return factory


def _pyttsx3_voices(lang: str | None) -> Listing:
    from voice_coach.engines.pyttsx3_engine import open_engine

    engine = open_engine()
    try:
        found = engine.voices()
    finally:
        engine.close()
    shown = [voice for voice in found if lang is None or any(
        code == lang or code.startswith(lang + "-") for code in voice.languages)]
    if not shown:
        languages = sorted({code.split("-")[0] for v in found for code in v.languages})
        raise VoicesError(f"no voice for language {lang!r}; languages: {', '.join(languages)}")
    return Listing([f"{voice.id:<24} {voice.name:<28} {', '.join(voice.languages)}"
                    for voice in shown], [])


def _piper_voices(lang: str | None) -> Listing:
    from voice_coach import paths
    from voice_coach.engines.piper_engine import survey

    folder = paths.voices_folder()
    found, problems = survey(folder)
    wanted = None if lang is None else lang.lower().replace("_", "-")
    shown = [voice for voice in found if wanted is None or any(
        code == wanted or code.startswith(wanted + "-") for code in voice.info().languages)]
    notes = [f"skipped {problem}" for problem in problems]
    if not shown:
        languages = sorted({v.language for v in found})
        raise VoicesError(f"no voice for language {lang!r}; languages: {', '.join(languages)}")
    return Listing([f"{voice.name:<28} {voice.language:<8} {voice.quality:<8}"
                    f" {voice.sample_rate} Hz" for voice in shown], notes,
                   f"voices folder: {folder}{'' if folder.is_dir() else ' (not created yet)'}")


def check_pyttsx3(chosen: bool, voice: str | None = None) -> list[Check]:
    """espeak-ng loads and renders a test phrase, and has voices: checked whether it is the
    engine chosen or not, since it is the default."""
    from voice_coach.engines.pyttsx3_engine import engine_version, open_engine
    from voice_coach.pcm import SAMPLE_RATE
    from voice_coach.speech import SpeechSettings

    try:
        started = time.monotonic()
        engine = open_engine()
        try:
            samples = engine.render_many(["Testing, one, two, three."], SpeechSettings())[0]
            took_ms = (time.monotonic() - started) * 1000
            voices = engine.voices()
        finally:
            engine.close()
    except VoiceCoachError as error:
        failed = Check("speech engine", False, str(error),
                       "sudo apt-get install espeak-ng (Debian/Ubuntu)")
        return [failed, Check("voices", False, "no engine to ask")]
    seconds = len(samples) / SAMPLE_RATE
    if seconds <= 0.2:
        return [Check("speech engine", False, f"the test phrase came out {seconds:.2f} s long",
                      "reinstall espeak-ng"), Check("voices", False, "not checked")]
    speech = Check("speech engine", True,
                   f"{engine_version()} rendered a test phrase ({seconds:.1f} s of speech"
                   f" in {took_ms:.0f} ms)")
    english = sum(1 for v in voices if any(lang.startswith("en") for lang in v.languages))
    found = Check("voices", bool(voices), f"{len(voices)} voices, {english} of them English",
                  "" if voices else "reinstall espeak-ng-data")
    return [speech, found]


def check_piper(chosen: bool, voice: str | None = None, folder: Path | None = None) -> Check:
    """The neural engine: installed, its voice loads, a test phrase renders, and how long
    that took. When it is not the engine chosen, only whether it is installed."""
    from voice_coach import paths
    from voice_coach.engines import piper_engine
    from voice_coach.pcm import SAMPLE_RATE
    from voice_coach.speech import SpeechSettings

    name = "neural voice (piper)"
    if not piper_engine.installed():
        if not chosen:
            return Check(name, True, f"not installed (optional: {piper_engine.INSTALL})")
        return Check(name, False, "engine is piper, but it is not installed",
                     piper_engine.INSTALL)
    if not chosen:
        return Check(name, True, "installed, not in use (--engine piper, or"
                     " 'voice-coach config set engine piper')")
    try:
        started = time.monotonic()
        factory = piper_engine.PiperFactory(voice, folder)
        engine = factory()
        try:
            samples = engine.render_many(["Testing, one, two, three."],
                                         SpeechSettings(voice=voice))[0]
        finally:
            engine.close()
        took_s = time.monotonic() - started
        voice_file = piper_engine.find_voice(voice, folder or paths.voices_folder())
    except VoiceCoachError as error:
        return Check(name, False, str(error),
                     "run 'voice-coach voices --engine piper' to list the voices")
    seconds = len(samples) / SAMPLE_RATE
    if seconds <= 0.2:
        return Check(name, False, f"the test phrase came out {seconds:.2f} s long",
                     "pip install --force-reinstall 'voice-coach[neural]'")
    return Check(name, True, f"{voice_file.name} loaded and rendered a test phrase"
                 f" ({seconds:.1f} s of speech in {took_s:.1f} s, {piper_engine.THREADS}"
                 " lines at once)")


ENGINES: Final[dict[str, EngineKind]] = {
    kind.name: kind for kind in (
        EngineKind("pyttsx3", "espeak-ng through pyttsx3 (the default)", _open_pyttsx3,
                   _pyttsx3_voices, check_pyttsx3),
        EngineKind("piper", "a natural voice (the neural extra)", _open_piper, _piper_voices,
                   lambda chosen, voice: [check_piper(chosen, voice)]),
    )
}
NAMES: Final = tuple(ENGINES)
"""The engines' names, the default first."""
DEFAULT: Final = NAMES[0]


def engine(name: str) -> EngineKind:
    """The engine called ``name`` (one of ``NAMES``: the settings checked it)."""
    return ENGINES[name]
