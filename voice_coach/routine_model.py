"""What a routine is: immutable steps, cues and the routine itself.

A routine is pure data: what to say, how to breathe, what to repeat. ``routine_file``
reads one from TOML, ``routine`` finds and loads them; the planner lays one out in time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeAlias

from voice_coach.errors import VoiceCoachError
from voice_coach.language import ENGLISH
from voice_coach.pace import Pace

CueRole: TypeAlias = Literal["start", "inhale", "exhale", "hold", "spot", "end"]
CUE_ROLES: Final[tuple[CueRole, ...]] = ("start", "inhale", "exhale", "hold", "spot", "end")
BUILTIN_CUES: Final[frozenset[str]] = frozenset(CUE_ROLES)


class RoutineError(VoiceCoachError):
    """A routine file is missing, unreadable or malformed."""

    exit_code = 2


@dataclass(frozen=True)
class Say:
    """A spoken line followed by ``hold_s`` of silence; ``title`` names the step (None:
    the planner makes one from the text)."""

    text: str
    hold_s: float
    title: str | None = None


@dataclass(frozen=True)
class Breathe:
    """``count`` paced breaths; prompts are spoken on the first ``prompt_breaths``."""

    count: int
    pace: Pace | None
    inhale_prompt: str | None
    exhale_prompt: str | None
    prompt_breaths: int
    title: str | None = None


@dataclass(frozen=True)
class Repeat:
    """Steps repeated ``times`` times, or until the session fills its target when None.

    Each repetition opens with the ``cue`` role (None: no cue). Texts inside may use
    ``{n}`` and ``{nth}``: the repetition's number counted from ``count_from`` (1, 2, ...;
    first, second, ...).
    """

    steps: tuple[Say | Breathe, ...]
    times: int | None
    cue: CueRole | None
    count_from: int = 1
    title: str | None = None
    """Each repetition's title (``{nth}`` allowed); None: its first spoken step's."""


Step: TypeAlias = Say | Breathe | Repeat
CueSource: TypeAlias = str | Path | None
"""A built-in cue name, a WAV file, or None for silence."""


@dataclass(frozen=True)
class Pronunciation:
    """How one written word is spoken (captions keep the word as written).

    ``say`` is a plain respelling every engine reads (``psoas`` -> ``sowus``);
    ``phonemes`` are an engine's own, by engine (espeak-ng's for pyttsx3, IPA for piper),
    and win over ``say`` for that engine. With neither for an engine, the word is kept.
    """

    word: str
    say: str | None = None
    phonemes: tuple[tuple[str, str], ...] = ()

    def spoken(self, engine: str) -> str:
        """What ``engine`` is given in place of the word."""
        for name, phonemes in self.phonemes:
            if name == engine:
                return f"[[{phonemes}]]"  # both engines read [[...]] as phonemes
        return self.say if self.say is not None else self.word


def speak_as(text: str, lexicon: tuple[Pronunciation, ...], engine: str) -> str:
    """``text`` as ``engine`` is to say it: each lexicon word, matched whole and in any
    case, replaced by its pronunciation for that engine."""
    if not lexicon:
        return text
    by_word = {entry.word.lower(): entry.spoken(engine) for entry in lexicon}
    words = sorted(by_word, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w'-])(" + "|".join(map(re.escape, words)) + r")(?![\w-])",
                         re.IGNORECASE)
    return pattern.sub(lambda found: by_word[found.group(1).lower()], text)


@dataclass(frozen=True)
class Routine:
    """A validated routine; ``source`` is the file it came from (or ``builtin:ID``).

    ``pace_to`` is the pace at the end of the session when the breath deepens (a ramp
    from ``pace``); ``lang`` the language its lines are in, ``languages`` every language
    it can be loaded in (its own and its translations').
    """

    id: str
    title: str
    summary: str
    minutes: float
    caution: str | None
    pace: Pace
    pause_s: float
    cues: tuple[tuple[CueRole, CueSource], ...]
    steps: tuple[Step, ...]
    source: str
    pace_to: Pace | None = None
    lang: str = ENGLISH
    languages: tuple[str, ...] = (ENGLISH,)
    pronounce: tuple[Pronunciation, ...] = ()

    def cue_source(self, role: CueRole) -> CueSource:
        """Where the sound for ``role`` comes from."""
        return dict(self.cues)[role]


DEFAULT_PAUSE_S: Final = 1.0
