"""The breath pace: its four phases, their limits, and how a ramp moves them.

Every place that reads, writes, checks or counts a pace reads it here: the routine file
(``[breath]``, ``[breath_to]``, a breathe step's own phases), the settings and the
command line (``4:6``, ``4:7:8:0``), the planner (phases in whole samples, the ramp) and
the spoken words (``{inhale_s}``...). Pure, and it imports nothing of the program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, TypeAlias

PACE_KEYS: Final[tuple[str, str, str, str]] = ("inhale_s", "hold_in_s", "exhale_s",
                                               "hold_out_s")
"""The four phases, in breathing order, as routine files and placeholders name them."""
MIN_BREATH_S: Final = 0.5
"""The shortest in- or out-breath; a hold may be 0 (no hold)."""
MAX_PHASE_S: Final = 60.0
MIN_RAMP_PHASE_S: Final = 1.0
PACE_FORMAT: Final = "IN:OUT|IN:HOLD:OUT:HOLD"
"""How a pace is written on the command line and in the settings (seconds)."""
PACE_EXAMPLES: Final = "'4:6' or '4:7:8:0'"
_PHASE_WORDS: Final = {"inhale_s": "inhale", "hold_in_s": "hold", "exhale_s": "exhale",
                       "hold_out_s": "hold"}


def phase_low_s(key: str) -> float:
    """The shortest a phase (one of ``PACE_KEYS``) may last: holds may be 0."""
    return MIN_BREATH_S if key in ("inhale_s", "exhale_s") else 0.0


@dataclass(frozen=True)
class Pace:
    """One breath: seconds in, held full, out, held empty (holds may be zero)."""

    inhale_s: float
    hold_in_s: float
    exhale_s: float
    hold_out_s: float

    @property
    def phases_s(self) -> tuple[float, float, float, float]:
        """The four phases in breathing order (``PACE_KEYS``)."""
        return self.inhale_s, self.hold_in_s, self.exhale_s, self.hold_out_s


DEFAULT_PACE: Final = Pace(inhale_s=4.0, hold_in_s=0.0, exhale_s=6.0, hold_out_s=0.0)


def parse_pace(text: str) -> Pace:
    """Parse ``IN:OUT`` or ``IN:HOLD:OUT:HOLD`` seconds (``4:6``, ``4:7:8:0``)."""
    parts = text.split(":")
    if len(parts) not in (2, 4):
        raise ValueError(f"{text!r} is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"{text!r}: every part must be a number of seconds") from None
    if len(values) == 2:
        values = [values[0], 0.0, values[1], 0.0]
    pace = Pace(*values)
    for key in ("inhale_s", "exhale_s", "hold_in_s", "hold_out_s"):
        value, low = getattr(pace, key), phase_low_s(key)
        if not (math.isfinite(value) and low <= value <= MAX_PHASE_S):
            raise ValueError(
                f"{text!r}: {_PHASE_WORDS[key]} must be from {low:g} to {MAX_PHASE_S:g} seconds"
            )
    return pace


def pace_text(pace: Pace) -> str:
    """``pace`` as ``parse_pace`` reads it back: ``4:0:6:0``."""
    return ":".join(f"{seconds:g}" for seconds in pace.phases_s)


def ramp_problem(start: Pace, end: Pace) -> str | None:
    """Why a ramp from ``start`` to ``end`` cannot be breathed (``hold_in_s: ...``), or
    None. Every phase on the way must last at least 1 s, or be a hold absent throughout:
    a hold cannot appear from 0 or fade to 0, its in-between breaths would be blips."""
    for key, first, last in zip(PACE_KEYS, start.phases_s, end.phases_s, strict=True):
        if first == 0 and last == 0:
            continue
        if first == 0 or last == 0:
            verb = "appear from 0 s" if first == 0 else "fade to 0 s"
            return (f"{key}: a hold cannot {verb} (from {first:g} s to {last:g} s);"
                    " give it the same 0 or a length of 1 s or more at both ends")
        if min(first, last) < MIN_RAMP_PHASE_S:
            return (f"{key}: a ramp from {first:g} s to {last:g} s would go below"
                    f" {MIN_RAMP_PHASE_S:g} s; every phase of a ramp lasts 1 s or more")
    return None


PhaseSamples: TypeAlias = tuple[int, int, int, int]
"""Inhale, hold, exhale, hold of one breath, in samples."""


def pace_samples(pace: Pace, sample_rate: int) -> PhaseSamples:
    """A pace's four phases in whole samples."""
    a, b, c, d = (round(seconds * sample_rate) for seconds in pace.phases_s)
    return a, b, c, d


def ramp_phase(first: int, last: int, index: int, count: int) -> int:
    """Samples of one phase of breath ``index`` (0 .. count-1) on a ramp from ``first`` to
    ``last`` samples: equal steps, rounded half up, exactly ``first`` and ``last`` at the
    ends; a single breath keeps ``first``."""
    if count <= 1:
        return first
    span = count - 1
    return first + (2 * (last - first) * index + span) // (2 * span)


def ramp_pace(start: PhaseSamples, end: PhaseSamples, index: int, count: int) -> PhaseSamples:
    """The four phases of breath ``index`` of ``count`` on a ramp, in samples."""
    a, b, c, d = (ramp_phase(first, last, index, count)
                  for first, last in zip(start, end, strict=True))
    return a, b, c, d
