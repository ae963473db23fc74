"""The mixer: a timeline and its clips -> session PCM, any range of it, to the sample.

Pure. Each speech and cue event is laid at its start sample; silence is zeros. The same
function feeds ``play`` (the whole session at once) and ``export`` (in chunks, so a long
session never needs its whole length in memory twice).

Levels are applied here and only here: clips arrive as rendered (speech at the engine's
full level, cues as their files hold them) and ``Levels`` scales each by one gain
function, ``apply_gain``. espeak-ng speaks at about -20 dBFS RMS over its active parts
and the built-in cues are normalised to the same, so voice and chimes are balanced at
gain 1; the chime gain is relative to that balance and independent of the voice gain
(a quieter voice leaves the chimes as they are). A gain that would push a clip past full
scale is lowered for that clip; events never overlap, so no sum can clip or wrap.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from voice_coach.pcm import Samples
from voice_coach.plan import Event, Timeline
from voice_coach.routine import CueRole

FULL_SCALE = 32767
LEVELED_CLIPS = 16
"""Clips kept with their gain applied (the oldest made is dropped first)."""


@dataclass(frozen=True)
class Clips:
    """The audio the timeline refers to: speech by its text, cues by their role."""

    speech: Mapping[str, Samples]
    cues: Mapping[CueRole, Samples]


@dataclass(frozen=True)
class Levels:
    """Linear gains: 1.0 plays a clip as rendered. ``voice`` is the person's volume."""

    voice: float = 1.0
    chime: float = 1.0


@dataclass(frozen=True)
class Mixer:
    """A timeline ready to mix; build once, then ask for ranges."""

    timeline: Timeline
    clips: Clips
    levels: Levels = field(default_factory=Levels)

    @cached_property
    def _starts(self) -> list[int]:
        return [event.start for event in self.timeline.events]

    @cached_property
    def _leveled(self) -> dict[tuple[str, str], Samples]:
        """Clips with their gain applied, each scaled once however often it is asked for."""
        return {}

    def clip_for(self, event: Event) -> Samples | None:
        """The samples an event plays, gain applied; None for silence."""
        if event.kind == "speech" and event.text is not None:
            key, gain = ("speech", event.text), self.levels.voice
            clip = self.clips.speech[event.text]
        elif event.kind == "cue" and event.cue is not None:
            key, gain = ("cue", event.cue), self.levels.chime
            clip = self.clips.cues[event.cue]
        else:
            return None
        if gain == 1.0:
            return clip
        leveled = self._leveled.get(key)
        if leveled is None:
            leveled = self._leveled[key] = apply_gain(clip, gain)
            if len(self._leveled) > LEVELED_CLIPS:  # a long session's speech is never all held
                del self._leveled[next(iter(self._leveled))]
        return leveled

    def render(self, start: int = 0, stop: int | None = None) -> Samples:
        """Session samples ``start`` to ``stop`` (default: the end)."""
        end = self.timeline.duration if stop is None else min(stop, self.timeline.duration)
        out = np.zeros(max(0, end - start), dtype=np.int16)
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        for event in self.timeline.events[first:]:
            if event.start >= end:
                break
            if event.end <= start or event.kind == "silence":
                continue
            clip = self.clip_for(event)
            if clip is None:
                continue
            if len(clip) != event.end - event.start:
                raise ValueError(
                    f"clip for {event.kind} at sample {event.start} has {len(clip)} samples,"
                    f" the timeline says {event.end - event.start}"
                )
            lo, hi = max(start, event.start), min(end, event.end)
            out[lo - start:hi - start] = clip[lo - event.start:hi - event.start]
        return out


def mix(timeline: Timeline, clips: Clips, levels: Levels | None = None) -> Samples:
    """The whole session as one array."""
    return Mixer(timeline, clips, levels or Levels()).render()


def apply_gain(clip: Samples, gain: float) -> Samples:
    """``clip`` scaled linearly by ``gain``, rounded to the nearest integer (half to even).

    The product is a float64 (a float32 one is off by one in about 0.1 % of samples at
    gains such as 0.7). A gain that would take the clip's peak past full scale is lowered
    to just reach it.
    """
    if gain == 1.0 or len(clip) == 0:
        return clip
    peak = int(np.max(np.abs(clip.astype(np.int32))))
    safe_gain = min(gain, FULL_SCALE / peak) if peak else gain
    scaled = np.rint(clip.astype(np.float64) * safe_gain)
    limited: Samples = np.clip(scaled, -FULL_SCALE, FULL_SCALE).astype(np.int16)
    return limited
