"""Every speech engine by name: how to open it, what its voices are, whether it is there.

The one place the rest of the program learns which engines exist (the ``engine``
setting's choices, ``[pronounce]``'s keys, ``voices``, ``doctor``): adding an engine is
a module under ``engines/`` and an entry here. Each engine's own module is imported only
when that engine is used, so a session with espeak-ng never loads Piper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

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


ENGINES: Final[dict[str, EngineKind]] = {
    kind.name: kind for kind in (
        EngineKind("pyttsx3", "espeak-ng through pyttsx3 (the default)", _open_pyttsx3,
                   _pyttsx3_voices),
        EngineKind("piper", "a natural voice (the neural extra)", _open_piper, _piper_voices),
    )
}
NAMES: Final = tuple(ENGINES)
"""The engines' names, the default first."""
DEFAULT: Final = NAMES[0]


def engine(name: str) -> EngineKind:
    """The engine called ``name`` (one of ``NAMES``: the settings checked it)."""
    return ENGINES[name]
