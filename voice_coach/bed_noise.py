"""The built-in beds' noise, any range of it, to the sample: pure and deterministic.

How: time is cut into blocks of ``BLOCK`` samples. Each block draws its white noise from
its own seed (PCG64 raw words, whose stream numpy keeps stable across versions), and is
coloured by a fixed linear-phase FIR kernel (``TAPS`` taps, shorter than a block) by FFT
convolution over the tail of the previous block's noise and its own: a block's samples
need two blocks of noise and nothing before them, and the filter never restarts, so no
seam can be heard between blocks. ``waves`` multiplies two colourings of one such noise
(a dark rumble, a bright surf) by envelopes that are closed-form functions of time (one
swell per 10 s slot, its crest, height and shape drawn from the slot's own seed), so they
too are known at any sample without the past.
"""

from __future__ import annotations

import functools
import math
from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from voice_coach import meter

Floats: TypeAlias = npt.NDArray[np.float64]
BedName: TypeAlias = Literal["brown", "pink", "waves", "file"]

SEED: Final = 23
"""The seed every bed grows from: the same session, the same samples."""
TAPS: Final = 4095
"""Length of the colouring kernel: resolves its low corner (30-40 Hz) at any rate used."""
_FFT: Final = 32768
BLOCK: Final = _FFT - TAPS + 1
"""Samples generated at a time (1.3 s at 22,050 Hz): one FFT's worth of output."""
WAVE_SLOT_S: Final = 10.0
"""One swell per slot; crests jitter by ±1 s, so swells come every 8-12 s."""
_WAVE_FLOOR: Final = 0.3
"""The level between swells, relative to a crest's."""
_SURF_AT_CREST: Final = 0.8
"""The bright surf's level at a crest, relative to the dark rumble (none between swells)."""


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


# --- Its loudness, from the kernels -------------------------------------------------------


def k_power(name: BedName, sample_rate: int) -> float:
    """The raw bed's expected K-weighted power (for ``waves``, the sea held at the top of
    its highest swell, so no swell is louder). Computed from the kernels, not from rendered
    noise: a bed is stationary noise of known spectrum, so its mean square is the white
    noise's (1/3) times the energy of the kernel through the K-weighting."""
    if name == "waves":
        return _k_power("brown", sample_rate) + _SURF_AT_CREST ** 2 * _k_power(
            "surf", sample_rate)
    return _k_power(name, sample_rate)


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
