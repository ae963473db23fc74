"""Ambient beds under the session: which, how loud, where they play, any range to the sample.

Pure and deterministic: a bed's sample ``n`` is a function of the bed's name, the sample
rate and ``n`` alone, so ``render(a, b)`` followed by ``render(b, c)`` is ``render(a, c)``
sample for sample, and ``play`` (range by range, seeking) hears what ``export`` writes.

The noise itself, block by block, is ``bed_noise``'s.

Level: every bed is scaled to ``BED_LUFS`` (BS.1770's K-weighted mean square, computed
from its kernels) and soft-limited (tanh) under ``BED_PEAK_DBFS``: the true peak of a sum
is at most the sum of the true peaks (oversampling is linear), so the speech's ceiling
plus the bed's stays under the session's -1 dBTP promise at any ``--ambient-volume`` this
module accepts.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import numpy as np

from voice_coach.bed_noise import BedName, Floats, k_power, raw_bed
from voice_coach.errors import VoiceCoachError
from voice_coach.language import PLAN_WORDS
from voice_coach.pcm import SAMPLE_RATE
from voice_coach.timefmt import minutes_seconds
from voice_coach.timeline import Event, Timeline

BED_NAMES: Final[tuple[BedName, ...]] = ("brown", "pink", "waves")
FILE: Final = "file"
"""The built-in beds, in the order help lists them."""
NONE: Final = "none"

BED_LUFS: Final = -41.0
"""A bed's loudness at ``--ambient-volume 0`` (``waves``: held at the top of its highest
swell): 22 LU under the speech's -19 LUFS, so even its loudest 3 s (0.3-0.5 dB over it)
are more than the 20 dB the W3C asks for background sound under speech."""
MIN_VOLUME_DB: Final = -20.0
MAX_VOLUME_DB: Final = 3.0
"""``--ambient-volume`` limits: 3 dB up keeps the bed 19 LU under the voice and under
BS.1770's relative gate on the sessions with the most silence, so they still read
-19 LUFS (box breathing with brown: -19.2 at +4, -21.4 at +6)."""
BED_PEAK_DBFS: Final = -16.0
"""The bed's peaks are soft-limited under this (tanh): with the speech's -3 dBTP ceiling
the sum's true peak stays under -1 dBTP (0.708 + 0.158 < 0.891)."""
FADE_IN_S: Final = 10.0
"""The bed rises over the opening's first seconds (raised cosine)."""
MAX_TAIL_MINUTES: Final = 60
TAIL_FADE_S: Final = 60.0
"""A tail fades out over its last minute (all of it when shorter)."""
FADE_OUT_S: Final = 3.0
"""The bed dies away under the end chime (about 3 s long), before "Session complete."."""



class AmbientError(VoiceCoachError):
    """An ambient bed that cannot be used: unknown name, volume out of range."""

    exit_code = 2


class BedSource(Protocol):
    """A bed from a file (``ambient_file.FileBed``): its samples at any range, as the file
    holds them, and their loudness."""

    @property
    def path(self) -> Path: ...

    @property
    def lufs(self) -> float: ...

    @property
    def length(self) -> int: ...

    def raw(self, start: int, stop: int) -> Floats: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BedSpec:
    """The bed a person chose and how loud: ``name`` a built-in bed, or ``file`` with its
    ``source``; ``volume_db`` relative to ``BED_LUFS``; ``tail_s`` how long it plays on
    after the session's end."""

    name: BedName
    volume_db: float = 0.0
    tail_s: float = 0.0
    source: BedSource | None = None

    def __post_init__(self) -> None:
        if self.name not in BED_NAMES and (self.name != FILE or self.source is None):
            raise AmbientError(f"unknown ambient bed {self.name!r}: expected one of"
                               f" {', '.join((*BED_NAMES, NONE))}")
        if not (math.isfinite(self.volume_db)
                and MIN_VOLUME_DB <= self.volume_db <= MAX_VOLUME_DB):
            raise AmbientError(f"ambient volume must be from {MIN_VOLUME_DB:g} to"
                               f" {MAX_VOLUME_DB:g} dB, got {self.volume_db!r}")
        if not (math.isfinite(self.tail_s) and 0 <= self.tail_s <= MAX_TAIL_MINUTES * 60):
            raise AmbientError(f"tail must be from 0 to {MAX_TAIL_MINUTES} minutes,"
                               f" got {self.tail_s / 60!r}")


def parse_bed(name: str, volume_db: float = 0.0, tail_minutes: float = 0.0,
              sample_rate: int = SAMPLE_RATE) -> BedSpec | None:
    """The bed named ``name`` (``none``: no bed; a path: that sound file, loaded),
    checked; a tail needs a bed."""
    chosen = name.strip().lower()
    if chosen not in (*BED_NAMES, NONE) and os.path.lexists(Path(name).expanduser()):
        from voice_coach.ambient_file import load_file_bed

        BedSpec("brown", volume_db, tail_minutes * 60)  # the numbers checked before loading
        source = load_file_bed(Path(name).expanduser(), sample_rate)
        return BedSpec(FILE, volume_db, tail_minutes * 60, source)
    if chosen == NONE:
        if tail_minutes:
            raise AmbientError("a tail needs an ambient bed to play: choose one with"
                               " --ambient (brown, pink or waves)")
        return None
    if chosen not in BED_NAMES:
        raise AmbientError(f"unknown ambient bed {name!r}: expected one of"
                           f" {', '.join((*BED_NAMES, NONE))} or a sound file")
    return BedSpec(chosen, volume_db, tail_minutes * 60)


@functools.lru_cache(maxsize=8)
def calibration_gain(name: BedName, sample_rate: int) -> float:
    """The linear gain that brings the raw bed to ``BED_LUFS``: the BS.1770 loudness of
    its expected K-weighted power (``bed_noise.k_power``)."""
    lufs = -0.691 + 10 * math.log10(k_power(name, sample_rate) / 3)
    return float(10 ** ((BED_LUFS - lufs) / 20))


def bed_samples(spec: BedSpec, sample_rate: int, start: int, stop: int) -> Floats:
    """The bed at its level, full scale 1.0, soft-limited under ``BED_PEAK_DBFS``."""
    if spec.source is not None:
        gain = 10 ** ((BED_LUFS - spec.source.lufs) / 20)
        x = spec.source.raw(start, stop)
    else:
        gain = calibration_gain(spec.name, sample_rate)
        x = raw_bed(spec.name, sample_rate, start, stop)
    gain *= 10 ** (spec.volume_db / 20)
    ceiling = 10 ** (BED_PEAK_DBFS / 20)
    x *= gain / ceiling
    np.tanh(x, out=x)
    x *= ceiling
    return x


# --- Where the bed plays --------------------------------------------------------------------


@dataclass(frozen=True)
class BedSpan:
    """Where a bed plays in a session, in samples: rising from 0 to full at ``fade_in``,
    falling from ``fade_out`` to silence at ``end``; the two fades multiply, so they
    overlap smoothly in a session shorter than both."""

    fade_in: int
    fade_out: int
    end: int

    def envelope(self, start: int, stop: int) -> Floats:
        """The bed's gain at samples ``start`` to ``stop``: raised-cosine fades."""
        n = np.arange(start, stop, dtype=np.float64)
        gain = np.ones(len(n))
        if self.fade_in > 0:
            rising = n < self.fade_in
            gain[rising] = 0.5 - 0.5 * np.cos(np.pi * n[rising] / self.fade_in)
        length = self.end - self.fade_out
        falling = (n >= self.fade_out) & (n < self.end)
        if length > 0:
            gain[falling] *= 0.5 + 0.5 * np.cos(np.pi * (n[falling] - self.fade_out) / length)
        gain[n >= self.end] = 0.0
        return gain


def bed_span(closing_start: int, sample_rate: int) -> BedSpan:
    """A bed that fades in over the first ``FADE_IN_S`` and out over ``FADE_OUT_S`` from
    ``closing_start`` (the end chime), under the chime.

    Why not before the chime: a streamed session's plan becomes final line by line, and
    a sample already handed to the device must not change. A sample before the closing
    step depends here on nothing but its own position; one at or after the closing's
    start is final only once every event before it is, the closing's start included. A
    fade ending at the chime would need the chime's place before it is known.
    """
    return BedSpan(round(FADE_IN_S * sample_rate), closing_start,
                   closing_start + round(FADE_OUT_S * sample_rate))


def bed_range(spec: BedSpec, span: BedSpan, sample_rate: int, start: int,
              stop: int) -> Floats:
    """The bed as it plays at samples ``start`` to ``stop``: full scale 1.0, faded."""
    stop = max(start, min(stop, span.end))
    if stop <= start:
        return np.zeros(0)
    x = bed_samples(spec, sample_rate, start, stop)
    if start < span.fade_in or stop > span.fade_out:
        x *= span.envelope(start, stop)
    return x


def session_span(timeline: Timeline) -> BedSpan:
    """Where a bed plays in ``timeline``: in over the opening, out under its closing
    step's end chime; with a tail, on to the end, out over the tail's last minute (a
    sample in the tail is final only once the whole plan is)."""
    if timeline.tail_start is not None:
        fade = min(round(TAIL_FADE_S * timeline.sample_rate),
                   timeline.duration - timeline.tail_start)
        return BedSpan(round(FADE_IN_S * timeline.sample_rate), timeline.duration - fade,
                       timeline.duration)
    closing = timeline.step_starts()[-1] if timeline.step_labels else timeline.duration
    return bed_span(closing, timeline.sample_rate)


def with_tail(timeline: Timeline, tail_s: float) -> Timeline:
    """``timeline`` with ``tail_s`` of bed after its end: one silent step of its own."""
    if tail_s <= 0:
        return timeline
    end = timeline.duration
    step = len(timeline.step_labels)
    sources = timeline.step_sources + (None,) * (step - len(timeline.step_sources))
    tail = Event(end, end + round(tail_s * timeline.sample_rate), "silence", step)
    label = f"{PLAN_WORDS[timeline.lang].tail}, {tail_s / 60:g} min"
    return dataclasses.replace(timeline, events=(*timeline.events, tail),
                               step_labels=(*timeline.step_labels, label),
                               step_sources=(*sources, None), tail_start=end)


def to_dict(spec: BedSpec, span: BedSpan, sample_rate: int) -> dict[str, object]:
    """The bed as ``timeline.json`` and ``plan --json`` list it: seconds and samples."""
    named = {} if spec.source is None else {"file": str(spec.source.path)}
    return {
        "bed": spec.name,
        **named,
        "volume_db": spec.volume_db,
        "level_lufs": BED_LUFS + spec.volume_db,
        "start_s": 0.0,
        "full_s": round(span.fade_in / sample_rate, 6),
        "fade_out_s": round(span.fade_out / sample_rate, 6),
        "fade_out_sample": span.fade_out,
        "end_s": round(span.end / sample_rate, 6),
        "end_sample": span.end,
        "tail_s": spec.tail_s,
    }


def describe(spec: BedSpec, span: BedSpan, sample_rate: int) -> str:
    """One line for ``plan`` and the captions: the bed, its level, where it fades."""
    def at(sample: int) -> str:
        return minutes_seconds(sample / sample_rate)

    tail = f", a {spec.tail_s / 60:g}-minute tail" if spec.tail_s else ""
    name = spec.name if spec.source is None else f"{spec.source.path.name} (looped)"
    return (f"ambient: {name} at {BED_LUFS + spec.volume_db:g} LUFS"
            f" ({spec.volume_db:+g} dB){tail}, in over {at(0)}-{at(span.fade_in)},"
            f" out over {at(span.fade_out)}-{at(span.end)}")
