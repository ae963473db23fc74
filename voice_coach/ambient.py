"""Ambient beds: noise synthesized under the session, any range of it, to the sample.

Pure and deterministic: a bed's sample ``n`` is a function of the bed's name, the sample
rate and ``n`` alone, so ``render(a, b)`` followed by ``render(b, c)`` is ``render(a, c)``
sample for sample, and ``play`` (range by range, seeking) hears what ``export`` writes.

How: time is cut into blocks of ``BLOCK`` samples. Each block draws its white noise from
its own seed (PCG64 raw words, whose stream numpy keeps stable across versions), and is
coloured by a fixed linear-phase FIR kernel (``TAPS`` taps, shorter than a block) by FFT
convolution over the tail of the previous block's noise and its own: a block's samples
need two blocks of noise and nothing before them, and the filter never restarts, so no
seam can be heard between blocks. ``waves`` multiplies two colourings of one such noise
(a dark rumble, a bright surf) by envelopes that are closed-form functions of time (one
swell per 10 s slot, its crest, height and shape drawn from the slot's own seed), so they
too are known at any sample without the past.

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
from typing import Final, Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from voice_coach import meter
from voice_coach.errors import VoiceCoachError
from voice_coach.pcm import SAMPLE_RATE
from voice_coach.plan import Event, Timeline
from voice_coach.timefmt import minutes_seconds

Floats: TypeAlias = npt.NDArray[np.float64]
BedName: TypeAlias = Literal["brown", "pink", "waves", "file"]
BED_NAMES: Final[tuple[BedName, ...]] = ("brown", "pink", "waves")
FILE: Final = "file"
"""The built-in beds, in the order help lists them."""
NONE: Final = "none"

SEED: Final = 23
"""The seed every bed grows from (issue #23): the same session, the same samples."""
TAPS: Final = 4095
"""Length of the colouring kernel: resolves its low corner (30-40 Hz) at any rate used."""
_FFT: Final = 32768
BLOCK: Final = _FFT - TAPS + 1
"""Samples generated at a time (1.3 s at 22,050 Hz): one FFT's worth of output."""

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
SHORT_TERM_S: Final = 3.0
"""BS.1770 / EBU R128 short-term loudness window."""
FADE_IN_S: Final = 10.0
"""The bed rises over the opening's first seconds (raised cosine)."""
MAX_TAIL_MINUTES: Final = 60
TAIL_FADE_S: Final = 60.0
"""A tail fades out over its last minute (all of it when shorter)."""
TAIL_LABEL: Final = "Tail"
FADE_OUT_S: Final = 3.0
"""The bed dies away under the end chime (about 3 s long), before "Session complete."."""

WAVE_SLOT_S: Final = 10.0
"""One swell per slot; crests jitter by ±1 s, so swells come every 8-12 s."""
_WAVE_FLOOR: Final = 0.3
"""The level between swells, relative to a crest's."""
_SURF_AT_CREST: Final = 0.8
"""The bright surf's level at a crest, relative to the dark rumble (none between swells)."""


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


# --- Noise, block by block ---------------------------------------------------------------


def _words(*key: int, count: int) -> npt.NDArray[np.uint64]:
    generator = np.random.PCG64(np.random.SeedSequence([SEED, *key]))
    words: npt.NDArray[np.uint64] = generator.random_raw(count)
    return words


@functools.lru_cache(maxsize=4)
def white_block(stream: int, index: int) -> Floats:
    """Block ``index`` of white noise ``stream``: uniform in [-1, 1), 53 bits a sample."""
    if index < 0:
        return np.zeros(BLOCK)
    uniform: Floats = (_words(stream, index, count=BLOCK) >> np.uint64(11)).astype(np.float64)
    uniform *= 2.0 ** -52
    uniform -= 1.0
    return uniform


def _stream_key(name: str) -> int:
    return int.from_bytes(name.encode(), "little")


@functools.lru_cache(maxsize=8)
def _kernel_spectrum(colour: str, sample_rate: int) -> npt.NDArray[np.complex128]:
    """The colouring kernel's spectrum: a magnitude shaped in frequency, made a windowed
    linear-phase FIR of ``TAPS`` taps, normalised to unit power gain."""
    freqs = np.fft.rfftfreq(TAPS + 1, 1 / sample_rate)
    f = np.maximum(freqs, 1.0)
    if colour == "brown":  # 1/f (-6 dB/octave), high-passed at 40 Hz: a rumble, no DC
        magnitude = 1 / f * _high_pass(f, 40.0)
    elif colour == "pink":  # 1/sqrt(f) (-3 dB/octave), high-passed at 30 Hz
        magnitude = 1 / np.sqrt(f) * _high_pass(f, 30.0)
    elif colour == "surf":  # the bright part of a wave: hiss between 400 Hz and 6 kHz
        magnitude = _high_pass(f, 400.0) / np.sqrt(1 + (f / 6000.0) ** 2)
    else:
        raise ValueError(f"no colour {colour!r}")
    impulse = np.roll(np.fft.irfft(magnitude, TAPS + 1), TAPS // 2)[:TAPS]
    window = np.hanning(TAPS)
    impulse *= window
    impulse -= window * (np.sum(impulse) / np.sum(window))  # the window's leak into DC
    impulse /= math.sqrt(float(np.sum(impulse ** 2)))
    return np.fft.rfft(impulse, _FFT)


def _high_pass(f: Floats, corner_hz: float) -> Floats:
    """Second-order high-pass magnitude at ``corner_hz``."""
    ratio = (f / corner_hz) ** 2
    shaped: Floats = ratio / np.sqrt(1 + ratio ** 2)
    return shaped


@functools.lru_cache(maxsize=2)
def _noise_spectrum(stream: int, index: int) -> npt.NDArray[np.complex128]:
    """The spectrum of what block ``index`` of noise ``stream`` is coloured from: the last
    ``TAPS - 1`` samples of the previous block's noise and the block's own."""
    noise = np.concatenate([white_block(stream, index - 1)[BLOCK - TAPS + 1:],
                            white_block(stream, index)])
    spectrum: npt.NDArray[np.complex128] = np.fft.rfft(noise, _FFT)
    spectrum.flags.writeable = False
    return spectrum


@functools.lru_cache(maxsize=4)
def coloured_block(colour: str, sample_rate: int, index: int, noise: str = "") -> Floats:
    """Block ``index`` of white noise ``noise`` (default: the colour's own) coloured by
    ``colour``'s kernel: the part of the convolution that lies in the block."""
    spectrum = _noise_spectrum(_stream_key(noise or colour), index)
    coloured = np.fft.irfft(spectrum * _kernel_spectrum(colour, sample_rate), _FFT)
    block: Floats = coloured[TAPS - 1:TAPS - 1 + BLOCK]
    block.flags.writeable = False
    return block


# --- Waves: envelopes in closed form -----------------------------------------------------


def swell(t_s: Floats) -> Floats:
    """How far the sea has swelled at each of ``t_s`` (ascending): 0 between waves, about
    1 at a crest.

    Slot ``j`` (``WAVE_SLOT_S`` long) holds one wave: its crest at the slot's middle ±1 s,
    a height of 0.6-1, a raised-cosine rise of 2.5-4 s and fall of 4-6 s, each drawn from
    the slot's seed; a time needs only its slot and the two beside it.
    """
    out = np.zeros(len(t_s))
    if not len(t_s):
        return out
    first = math.floor(float(t_s[0]) / WAVE_SLOT_S) - 1
    last = math.floor(float(t_s[-1]) / WAVE_SLOT_S) + 1
    for slot in range(first, last + 1):
        jitter, height, rise, fall = _wave(slot)
        crest = (slot + 0.5 + jitter) * WAVE_SLOT_S
        lo, top, hi = np.searchsorted(t_s, (crest - rise, crest, crest + fall), side="right")
        d = t_s[lo:top] - crest
        out[lo:top] += height * 0.5 * (1 + np.cos(np.pi * d / rise))
        d = t_s[top:hi] - crest
        out[top:hi] += height * 0.5 * (1 + np.cos(np.pi * d / fall))
    return out


@functools.lru_cache(maxsize=64)
def _wave(slot: int) -> tuple[float, float, float, float]:
    """Slot ``slot``'s wave: crest offset (slots), height, rise and fall (s)."""
    u = (_words(_stream_key("wave"), slot & 0xFFFFFFFF, slot < 0, count=4)
         >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (0.2 * float(u[0]) - 0.1, 0.6 + 0.4 * float(u[1]),
            2.5 + 1.5 * float(u[2]), 4.0 + 2.0 * float(u[3]))


# --- A bed --------------------------------------------------------------------------------


def raw_bed(name: BedName, sample_rate: int, start: int, stop: int) -> Floats:
    """Samples ``start`` to ``stop`` of bed ``name`` before its gain and limiting."""
    out = np.empty(max(0, stop - start))
    if not len(out):
        return out
    for index in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        lo, hi = max(start, index * BLOCK), min(stop, (index + 1) * BLOCK)
        out[lo - start:hi - start] = _bed_block(name, sample_rate, index)[lo - index * BLOCK:
                                                                         hi - index * BLOCK]
    return out


@functools.lru_cache(maxsize=2)
def _bed_block(name: BedName, sample_rate: int, index: int) -> Floats:
    if name != "waves":
        return coloured_block(name, sample_rate, index)
    sea = swell((index * BLOCK + np.arange(BLOCK)) / sample_rate)
    block = _sea(sea, sample_rate, index)
    block.flags.writeable = False
    return block


def _sea(sea: Floats, sample_rate: int, index: int) -> Floats:
    """Block ``index`` of waves whose swell is ``sea``: louder and brighter as it rises."""
    height = np.minimum(sea, 1.0)
    level = _WAVE_FLOOR + (1 - _WAVE_FLOOR) * height
    brightness = _SURF_AT_CREST * height ** 2
    waves: Floats = level * (coloured_block("brown", sample_rate, index, "waves")
                             + brightness * coloured_block("surf", sample_rate, index, "waves"))
    return waves


@functools.lru_cache(maxsize=8)
def calibration_gain(name: BedName, sample_rate: int) -> float:
    """The linear gain that brings the raw bed to ``BED_LUFS``: the BS.1770 loudness of
    its expected K-weighted power (for ``waves``, the sea held at the top of its highest
    swell, so no swell is louder). Computed from the kernels, not from rendered noise: a
    bed is stationary noise of known spectrum, so its mean square is the white noise's
    (1/3) times the energy of the kernel through the K-weighting."""
    if name == "waves":
        power = _k_power("brown", sample_rate) + _SURF_AT_CREST ** 2 * _k_power(
            "surf", sample_rate)
    else:
        power = _k_power(name, sample_rate)
    lufs = -0.691 + 10 * math.log10(power / 3)
    return float(10 ** ((BED_LUFS - lufs) / 20))


def _k_power(colour: str, sample_rate: int) -> float:
    """The energy of ``colour``'s kernel through the K-weighting (Parseval, on the rfft)."""
    weighting = _k_weighting_impulse(sample_rate)
    size = 1 << (TAPS + len(weighting)).bit_length()
    kernel = np.fft.irfft(_kernel_spectrum(colour, sample_rate), _FFT)[:TAPS]
    spectrum = np.abs(np.fft.rfft(kernel, size) * np.fft.rfft(weighting, size)) ** 2
    return float((spectrum[0] + 2 * spectrum[1:-1].sum() + spectrum[-1]) / size)


@functools.cache
def _k_weighting_impulse(sample_rate: int) -> Floats:
    """The K-weighting's impulse response over a quarter second, cut where it is below
    1e-18 of its peak (it rings down long before)."""
    impulse = np.zeros(sample_rate // 4)
    impulse[0] = 1.0
    response = meter.k_weighted(impulse, sample_rate)
    above = np.flatnonzero(np.abs(response) > 1e-18 * np.abs(response).max())
    trimmed: Floats = response[: above[-1] + 1]
    return trimmed


def loudest_short_term(x: Floats, sample_rate: int) -> float:
    """The highest BS.1770 short-term loudness (3 s windows, every 0.5 s) of ``x``."""
    window, step = round(SHORT_TERM_S * sample_rate), round(sample_rate / 2)
    energy = np.concatenate([[0.0], np.cumsum(meter.k_weighted(x, sample_rate) ** 2)])
    starts = np.arange(0, max(1, len(x) - window + 1), step)
    stops = np.minimum(starts + window, len(x))
    power = float(np.max((energy[stops] - energy[starts]) / (stops - starts)))
    return -0.691 + 10 * math.log10(power) if power > 0 else -math.inf


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
    minutes = f"{tail_s / 60:g} min"
    return dataclasses.replace(timeline, events=(*timeline.events, tail),
                               step_labels=(*timeline.step_labels, f"{TAIL_LABEL}, {minutes}"),
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
