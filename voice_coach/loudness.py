"""Loudness of clips: BS.1770 measurement, calibration toward a target, a true-peak limiter.

Spoken-word audio is published at about -16 LUFS for stereo, which is -19 LUFS for mono,
with true peaks at or below -1 dBTP so that an MP3 or AAC encoder does not clip. The
session gets there clip by clip, never by looking at the whole mix: every speech clip
and every built-in cue is measured once (as it sits between pauses), scaled to the
target, and limited on its own. Events never overlap, so the session's integrated
loudness is the clips' loudness and its true peak is the loudest clip's; and any range
of the session can be mixed without the rest of it, to the same samples
(``Mixer.render(start, stop)``).

Pure and deterministic: the same clip always levels to the same samples.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final, cast

import numpy as np
import numpy.typing as npt
import soxr

from voice_coach.pcm import Samples

Floats = npt.NDArray[np.float64]

RECIPE_VERSION: Final = 1
"""Bump when ``level`` would give other samples for the same clip (stored leveled clips
are keyed by it)."""
TARGET_LUFS: Final = -19.0
"""Integrated loudness of a mono session: podcast guidelines' -16 LUFS stereo, less 3 LU."""
CEILING_DBTP: Final = -3.0
"""The limiter's ceiling, 2 dB below the -1 dBTP promised, so that what a phone decodes is
under it too: Opus at 48 kbps overshoots espeak-ng's plosives by up to 1.5 dB, and
ffmpeg's meter reads high tones up to 0.5 dB above the true peak."""
OVERSAMPLING: Final = 4
"""True peak as BS.1770-4 defines it: the peak of the signal 4x oversampled."""
BLOCK_S: Final = 0.4
"""BS.1770 gating block; a shorter clip is measured over its whole length, ungated."""
ATTACK_S: Final = 0.005
"""The limiter starts lowering the gain this long before a peak, so no peak gets through."""
RELEASE_S: Final = 0.060
"""...and holds it down this long after it, so the peaks of a syllable share one dip."""
MAKEUP_MIN_LU: Final = 0.05
"""A loss to limiting smaller than this is left alone."""
MAKEUP_PASSES: Final = 3
"""Each pass makes up what limiting took and limits again; speech needs one."""
SILENT_LUFS: Final = -70.0
"""BS.1770's absolute gate: a clip quieter than this is silence and is left as it is."""


@dataclass(frozen=True)
class Leveled:
    """A clip leveled to the target, and what it took: the calibration gain (dB) and the
    deepest gain reduction the limiter applied (dB, 0 when it did nothing)."""

    samples: Samples
    gain_db: float
    reduction_db: float


def integrated_lufs(samples: Samples, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of a mono clip (LUFS), -inf for digital silence.

    A clip shorter than a gating block is measured ungated over its own length: the
    loudness of its K-weighted mean square, as a longer clip's blocks would be.
    """
    x = to_float(samples)
    if not x.any():
        return -math.inf
    block = math.ceil(BLOCK_S * sample_rate)
    if len(x) > block:
        return gated_lufs(x, sample_rate)
    padded = np.concatenate([x, np.zeros(block + 1 - len(x))])
    return gated_lufs(padded, sample_rate) + 10 * math.log10(len(padded) / len(x))


# --- The meter -------------------------------------------------------------------------
#
# BS.1770-4 as pyloudnorm 0.2 measures it (its K-weighting biquads, from the RBJ cookbook
# at any sample rate; its blocks; its gates), written here because pyloudnorm filters
# through scipy.signal, whose import alone takes 1.1 s and 74 MB of resident memory:
# more than the whole of a playing session may use. tests/test_loudness.py holds this
# meter to pyloudnorm to 1e-9 LU, and the session to ffmpeg's ebur128.

K_WEIGHTING: Final = ((4.0, 1 / math.sqrt(2), 1500.0, "high_shelf"),
                      (0.0, 0.5, 38.0, "high_pass"))
"""BS.1770's two stages as (gain dB, Q, frequency Hz, shape): a head-related shelf, then
the RLB high-pass."""
BLOCK_STEP: Final = 0.25
"""Gating blocks start every quarter block (75 % overlap)."""
RELATIVE_GATE_LU: Final = -10.0
IMPULSE_FLOOR: Final = 1e-18
"""The K-weighting's impulse response is cut where it falls below this, relative to its
peak: far under a double's resolution of the sums it feeds."""


def biquad(gain_db: float, q: float, frequency_hz: float, shape: str,
           sample_rate: int) -> tuple[tuple[float, float, float], tuple[float, float]]:
    """RBJ cookbook coefficients ``(b0, b1, b2), (a1, a2)``, normalised by a0."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * frequency_hz / sample_rate
    alpha, cos = math.sin(w0) / (2 * q), math.cos(w0)
    if shape == "high_shelf":
        root = 2 * math.sqrt(a) * alpha
        b = (a * ((a + 1) + (a - 1) * cos + root), -2 * a * ((a - 1) + (a + 1) * cos),
             a * ((a + 1) + (a - 1) * cos - root))
        den = ((a + 1) - (a - 1) * cos + root, 2 * ((a - 1) - (a + 1) * cos),
               (a + 1) - (a - 1) * cos - root)
    else:  # high_pass
        b = ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2)
        den = (1 + alpha, -2 * cos, 1 - alpha)
    return (b[0] / den[0], b[1] / den[0], b[2] / den[0]), (den[1] / den[0], den[2] / den[0])


@functools.lru_cache(maxsize=4)
def k_weighting_impulse(sample_rate: int) -> Floats:
    """The K-weighting's impulse response, as long as it is above ``IMPULSE_FLOOR``."""
    length = sample_rate // 4
    while True:
        response = [1.0] + [0.0] * (length - 1)
        for stage in K_WEIGHTING:
            (b0, b1, b2), (a1, a2) = biquad(*stage, sample_rate)
            x1 = x2 = y1 = y2 = 0.0
            for n, x0 in enumerate(response):
                y0 = b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
                response[n] = y0
                x2, x1, y2, y1 = x1, x0, y1, y0
        h = np.array(response)
        above = np.flatnonzero(np.abs(h) > IMPULSE_FLOOR * np.abs(h).max())
        if above[-1] < length - 1:
            out: Floats = h[: above[-1] + 1]
            return out
        length *= 2  # pragma: no cover -- a quarter second is 1.5 times what it needs


FFT_SIZE: Final = 16384
"""The K-weighting is applied block by block (overlap-add) with FFTs of this size (or 4
times its impulse response, at high rates): little is wasted, and a long clip's
measurement needs a few megabytes, not one FFT of its whole length."""


FFT_BLOCKS: Final = 4
"""Blocks transformed together: about 1 MB of spectra, whatever the clip's length."""


def _fft_size(taps: int) -> int:
    return max(FFT_SIZE, 1 << (4 * taps - 1).bit_length())


@functools.lru_cache(maxsize=4)
def _k_weighting_spectrum(sample_rate: int) -> npt.NDArray[np.complex128]:
    impulse = k_weighting_impulse(sample_rate)
    return np.fft.rfft(impulse, _fft_size(len(impulse)))


def k_weighted(x: Floats, sample_rate: int) -> Floats:
    """``x`` through the K-weighting filter (from rest), by overlap-add FFT convolution,
    ``FFT_BLOCKS`` blocks at a time: a long line needs its output and a few megabytes."""
    taps = len(k_weighting_impulse(sample_rate))
    size = _fft_size(taps)
    step = size - taps + 1  # each block's convolution is exactly ``size`` long
    blocks = -(-len(x) // step)
    out = np.zeros((blocks + 1) * step)
    for first in range(0, blocks, FFT_BLOCKS):
        count = min(FFT_BLOCKS, blocks - first)
        part = np.zeros(count * step)
        given = x[first * step:(first + count) * step]
        part[:len(given)] = given
        spectra = np.fft.rfft(part.reshape(count, step), size, axis=1)
        spectra *= _k_weighting_spectrum(sample_rate)
        pieces = np.fft.irfft(spectra, size, axis=1)
        rows = out[first * step:(first + count + 1) * step].reshape(count + 1, step)
        rows[:count] += pieces[:, :step]
        rows[1:, : taps - 1] += pieces[:, step:]  # each block's tail rings into the next
    weighted: Floats = out[: len(x)]
    return weighted


def gated_lufs(x: Floats, sample_rate: int) -> float:
    """BS.1770-4 gated loudness (LUFS) of mono ``x``, at least a block long."""
    weighted = k_weighted(x, sample_rate)
    count = int(np.round((len(x) / sample_rate - BLOCK_S) / (BLOCK_S * BLOCK_STEP))) + 1
    starts = np.arange(count) * BLOCK_STEP
    low = np.minimum((BLOCK_S * starts * sample_rate).astype(int), len(x))
    high = np.minimum((BLOCK_S * (starts + 1) * sample_rate).astype(int), len(x))
    energy = np.zeros(len(weighted) + 1)
    np.cumsum(np.square(weighted, out=weighted), out=energy[1:])
    del weighted
    power = np.maximum(energy[high] - energy[low], 0.0) / (BLOCK_S * sample_rate)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    gated = power[loudness >= SILENT_LUFS]
    if not len(gated):
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(gated.mean())) + RELATIVE_GATE_LU
    gated = power[(loudness > relative) & (loudness > SILENT_LUFS)]
    return -0.691 + 10 * math.log10(float(gated.mean())) if len(gated) else -math.inf


def loudness_in_silence(samples: Samples, sample_rate: int) -> float:
    """What the clip adds to a session's integrated loudness: measured with a block of
    silence either side, as it sits between pauses.

    BS.1770 measures 400 ms blocks every 100 ms; in a session the blocks that straddle a
    clip's start and end hold part clip, part pause, and most pass the gates. They pull
    the session below the loudness of its clips alone, by more the shorter the clip
    (0.4 LU for 3 s of speech, 1.6 LU for a 0.66 s chime); measured this way, each clip
    pays for its own edges, and the session lands on the target.
    """
    pad = np.zeros(math.ceil(BLOCK_S * sample_rate), dtype=np.int16)
    return integrated_lufs(np.concatenate([pad, samples, pad]), sample_rate)


def true_peak_dbtp(samples: Samples, sample_rate: int) -> float:
    """True peak (dBTP): the highest sample of the clip oversampled 4x, within its silence."""
    peak = float(np.max(peak_envelope(to_float(samples), sample_rate), initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


ENVELOPE_CHUNK: Final = 16384
"""Samples oversampled at a time (soxr's stream gives the same samples as one call): a
long line's 4x signal is never whole in memory."""


def peak_envelope(x: Floats, sample_rate: int) -> Floats:
    """Per sample, the largest magnitude of the oversampled signal from it to the next.

    The clip sits in silence in the session, so it is oversampled with silence around it
    (the ringing of a peak at its edge counts too).
    """
    pad = 64
    stream = soxr.ResampleStream(sample_rate, sample_rate * OVERSAMPLING, 1,
                                 dtype="float64", quality="VHQ")
    silence = np.zeros(pad)
    pieces = [silence, *(x[i:i + ENVELOPE_CHUNK] for i in range(0, len(x), ENVELOPE_CHUNK)),
              silence]
    per_sample = np.abs(x)
    pending = np.zeros(0)
    done = -pad  # the clip's index of the next input sample whose 4 outputs are due
    for number, piece in enumerate(pieces):
        pending = np.concatenate([pending, stream.resample_chunk(
            piece, last=number == len(pieces) - 1)])
        whole = len(pending) // OVERSAMPLING
        peaks = np.abs(pending[:whole * OVERSAMPLING]).reshape(whole, OVERSAMPLING).max(axis=1)
        pending = pending[whole * OVERSAMPLING:]
        low, high = max(done, 0), min(done + whole, len(x))
        if low < high:
            np.maximum(per_sample[low:high], peaks[low - done:high - done],
                       out=per_sample[low:high])
        done += whole
    return per_sample


def limit(x: Floats, sample_rate: int, ceiling_dbtp: float = CEILING_DBTP) -> tuple[Floats, float]:
    """``x`` with its true peaks brought down to ``ceiling_dbtp``; and the deepest reduction.

    A look-ahead limiter with a smooth gain, so nothing is clipped and nothing clicks:
    the gain each sample needs (ceiling / its true peak, at most 1) is held from the
    attack time before every peak to the release time after it, then smoothed by a
    triangle of the attack time either side. A smoothed value is a weighted mean of held
    values that each include the sample's own need, so the gain never exceeds what a
    sample needs: no overshoot, by construction. The hold bridges the peaks of one
    syllable, so the gain does not pump; it falls and rises over twice the attack.
    """
    return limit_with_envelope(x, peak_envelope(x, sample_rate), sample_rate, ceiling_dbtp)


def limit_with_envelope(x: Floats | Samples, envelope: Floats, sample_rate: int,
                        ceiling_dbtp: float = CEILING_DBTP,
                        gain: float = 1.0) -> tuple[Floats, float]:
    """``limit`` of ``x * gain``, given that signal's ``peak_envelope``: oversampling is
    linear, so a clip's envelope at any gain is its envelope found once, times the gain.

    A long line's arrays are megabytes each, so few live at once: ``envelope`` is used
    up (overwritten), ``x`` may be the clip's int16 samples (made floats, times ``gain``,
    only at the end)."""
    if len(x) == 0:
        return _scaled(x, gain), 0.0
    ceiling = 10 ** (ceiling_dbtp / 20)
    need = np.maximum(envelope, 1e-12, out=envelope)
    np.divide(ceiling, need, out=need)
    np.minimum(need, 1.0, out=need)
    if need.min() >= 1.0:
        return _scaled(x, gain), 0.0
    attack = max(1, round(ATTACK_S * sample_rate))
    release = max(1, round(RELEASE_S * sample_rate))
    # held[j] = min(need[j - release .. j + attack]), need padded with 1 (no reduction)
    window = attack + release + 1
    padded = _padded_blocks(need, release, attack, window)
    del need
    held = _running_min_of_blocks(padded, len(x) + attack + release - window + 1)
    need = padded.ravel()[release:release + len(x)]  # the same values, kept in one copy
    # gain[n] = mean of held[n - attack .. n + attack], weighted by a triangle (two
    # running means): each held value there covers n, so gain[n] <= need[n].
    # Averaged as depth below 1, which is exactly 0 away from peaks: the gain there is 1.
    depth = np.zeros(len(held) + 2 * attack)
    np.subtract(1.0, held, out=depth[attack:attack + len(held)])
    del held
    once = _running_mean(depth, attack + 1)
    del depth
    smooth = _running_mean(once, attack + 1)
    del once
    np.subtract(1.0, smooth, out=smooth)
    np.minimum(smooth, need, out=smooth)  # guards rounding in the last bit only
    reduction = -20 * math.log10(float(smooth.min()))
    del padded, need
    smooth *= _scaled(x, gain)
    return smooth, reduction


def _scaled(x: Floats | Samples, gain: float) -> Floats:
    floats = to_float(cast(Samples, x)) if x.dtype == np.int16 else cast(Floats, x)
    scaled: Floats = floats * gain
    return scaled


def _padded_blocks(a: Floats, before: int, after: int, width: int) -> Floats:
    """``a`` with ``before`` ones ahead and ``after`` behind, then +inf up to whole blocks
    of ``width``: ``running_min``'s input, in one array of shape (blocks, width)."""
    length = before + len(a) + after
    blocks = -(-length // width)
    padded = np.empty(blocks * width)
    padded[:before] = 1.0
    padded[before:before + len(a)] = a
    padded[before + len(a):length] = 1.0
    padded[length:] = np.inf
    return padded.reshape(blocks, width)


def running_min(a: Floats, width: int) -> Floats:
    """``out[i] = min(a[i:i + width])`` for every full window, in linear time (van Herk,
    Gil and Werman: minima from each block's start and end, two per window)."""
    return _running_min_of_blocks(_padded_blocks(a, 0, 0, width), len(a) - width + 1)


def _running_min_of_blocks(blocks: Floats, count: int) -> Floats:
    """``running_min`` of what ``_padded_blocks`` made, its first ``count`` windows."""
    width = blocks.shape[1]
    from_start = np.minimum.accumulate(blocks, axis=1).ravel()
    to_end = np.empty_like(blocks)
    np.minimum.accumulate(blocks[:, ::-1], axis=1, out=to_end[:, ::-1])
    out: Floats = to_end.ravel()[:count]
    np.minimum(out, from_start[width - 1:width - 1 + count], out=out)
    return out


def _running_mean(a: Floats, width: int) -> Floats:
    """``out[i] = mean(a[i:i + width])`` for every full window."""
    sums = np.zeros(len(a) + 1)
    np.cumsum(a, out=sums[1:])
    out: Floats = np.subtract(sums[width:], sums[:-width])
    out /= width
    return out


def level(samples: Samples, sample_rate: int, target_lufs: float = TARGET_LUFS,
          extra_gain_db: float = 0.0) -> Leveled:
    """``samples`` at ``target_lufs`` plus ``extra_gain_db`` (as ``loudness_in_silence``
    measures it), true peak at the ceiling at most.

    Limiting takes a little loudness off a peaky clip (0.2-0.4 LU at 3 dB of reduction);
    that loss is measured and made up, so the clip lands on the target (a clip all
    peaks, such as a short tick at twice the chime volume, gets what fits). Silence
    stays silence. The result is int16, rounded half to even, like every gain.
    """
    measured = loudness_in_silence(samples, sample_rate)
    if len(samples) == 0 or measured < SILENT_LUFS:
        return Leveled(samples, 0.0, 0.0)
    envelope = peak_envelope(to_float(samples), sample_rate)

    def limited_at(gain_db: float) -> tuple[Floats, float]:
        gain = 10 ** (gain_db / 20)
        return limit_with_envelope(samples, envelope * gain, sample_rate, gain=gain)

    wanted = target_lufs + extra_gain_db
    gain_db = wanted - measured
    limited, reduction = limited_at(gain_db)
    for _ in range(MAKEUP_PASSES):
        if reduction == 0:
            break
        loss = wanted - loudness_in_silence(from_float(limited), sample_rate)
        if loss <= MAKEUP_MIN_LU:
            break
        gain_db += loss
        del limited  # megabytes for a long line: the next is made without it
        limited, reduction = limited_at(gain_db)
    return Leveled(from_float(limited), gain_db, reduction)


def to_float(samples: Samples) -> Floats:
    x: Floats = samples.astype(np.float64)
    x /= 32768.0
    return x


def from_float(x: Floats) -> Samples:
    """Floats at full scale 1.0 to int16, rounded half to even (the limiter keeps them
    well inside full scale; the clip is only a guard)."""
    rounded = x * 32768.0
    np.rint(rounded, out=rounded)
    out: Samples = np.clip(rounded, -32767, 32767).astype(np.int16)
    return out
