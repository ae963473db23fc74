"""Putting a session together: routine + options -> timeline with real clips.

This is the seam between the pure core (plan, mix) and the parts at the edges (the
speech engine, the clip cache, cue files); those come in as arguments so tests can
hand in fakes or the real thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from voice_coach.cache import ClipCache
from voice_coach.cues import load_cues
from voice_coach.errors import VoiceCoachError
from voice_coach.loudness import TARGET_LUFS
from voice_coach.mix import Clips, Levels, Mixer
from voice_coach.pcm import Samples
from voice_coach.plan import PlanSettings, Timeline, estimated_speech_length, plan
from voice_coach.routine import BUILTIN_CUES, CueRole, CueSource, Routine
from voice_coach.speech import Engine, SpeechSettings, render_clips

MAX_PLAN_ROUNDS = 4
"""Re-plans with real lengths; a fill repeat may need new lines (a further {nth})."""


class SessionError(VoiceCoachError):
    """The options for a session are out of range."""


@dataclass(frozen=True)
class SessionOptions:
    """Everything the person chose that changes what is heard.

    ``volume`` (0-1) and ``chime_volume`` (0-2, relative to the voice at full volume) are
    the mixer's levels: changing them renders nothing anew.
    """

    plan: PlanSettings = field(default_factory=PlanSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    volume: float = 1.0
    chime_volume: float = 1.0
    cue_overrides: Mapping[CueRole, CueSource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_level("volume", self.volume, 1)
        _check_level("chime volume", self.chime_volume, 2)

    @property
    def levels(self) -> Levels:
        return Levels(voice=self.volume, chime=self.chime_volume, target_lufs=TARGET_LUFS)


def _check_level(name: str, value: float, top: int) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= top):
        raise SessionError(f"{name} must be from 0 to {top}, got {value!r}")


@dataclass(frozen=True)
class Session:
    """A timeline and the clips it plays, ready to mix."""

    timeline: Timeline
    clips: Clips
    levels: Levels

    def mixer(self) -> Mixer:
        return Mixer(self.timeline, self.clips, self.levels)


def cue_lengths(cues: Mapping[CueRole, Samples]) -> Callable[[CueRole], int]:
    return lambda role: len(cues[role])


def estimate_timeline(routine: Routine, options: SessionOptions) -> Timeline:
    """The plan from word counts alone: no engine, only the cue files."""
    cues = load_cues(routine, options.cue_overrides)
    return plan(routine, options.plan, estimated_speech_length(options.speech.rate_wpm,
                                                               options.plan.sample_rate),
                cue_lengths(cues))


def build_session(routine: Routine, options: SessionOptions,
                  engine_factory: Callable[[], Engine], cache: ClipCache | None,
                  progress: Callable[[int, int], None] | None = None) -> Session:
    """Render every line the session speaks and plan it with their real lengths.

    Planning needs lengths and rendering needs the lines, so: plan from estimates, render
    what that plan speaks, plan again with real lengths, and render any line the new
    plan adds, until nothing new appears.
    """
    cues = load_cues(routine, options.cue_overrides)
    estimate = estimated_speech_length(options.speech.rate_wpm, options.plan.sample_rate)
    speech: dict[str, Samples] = {}

    def length(text: str) -> int:
        clip = speech.get(text)
        return len(clip) if clip is not None else estimate(text)

    timeline = plan(routine, options.plan, length, cue_lengths(cues))
    for _ in range(MAX_PLAN_ROUNDS):
        missing = [text for text in timeline.speech_texts() if text not in speech]
        if not missing:
            break
        speech.update(render_clips(missing, options.speech, engine_factory, cache, progress))
        timeline = plan(routine, options.plan, length, cue_lengths(cues))
    if any(text not in speech for text in timeline.speech_texts()):
        raise RuntimeError("the plan did not settle on a set of lines")  # pragma: no cover
    return Session(timeline, Clips(speech, cues, own_cue_files(routine, options)),
                   options.levels)


def own_cue_files(routine: Routine, options: SessionOptions) -> frozenset[CueRole]:
    """The cue roles the person gave a sound file for: those play as the file holds them."""
    chosen: dict[CueRole, CueSource] = dict(routine.cues)
    chosen.update(options.cue_overrides)
    return frozenset(role for role, source in chosen.items()
                     if source is not None and not (isinstance(source, str)
                                                    and source in BUILTIN_CUES))
