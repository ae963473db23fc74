"""Loudness of clips: calibration toward a target and a true-peak limiter (the BS.1770
meter is ``voice_coach.meter``).

Spoken-word audio is published at about -16 LUFS for stereo, which is -19 LUFS for mono,
with true peaks at or below -1 dBTP so that an MP3 or AAC encoder does not clip. The
session gets there clip by clip, never by looking at the whole mix: every speech clip
and every built-in cue is measured once (as it sits between pauses), scaled to the
target, and limited on its own. Events never overlap, so the session's integrated
loudness is the clips' loudness and its true peak is the loudest clip's; and any range
of the session can be mixed without the rest of it, to the same samples
(``Mixer.render(start, stop)``).

Leveling costs what its arithmetic costs: the clip is K-weighted and oversampled once,
its held peaks found once; each pass of the limiter then works only where it lowers the
gain, and measures what that took from the K-weighted energy it already has.

Pure and deterministic: the same clip always levels to the same samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import soxr

from voice_coach.meter import BLOCK_S, SILENT_LUFS, Meter, in_silence, to_float
from voice_coach.meter import integrated_lufs as integrated_lufs
from voice_coach.meter import loudness_in_silence as loudness_in_silence
from voice_coach.pcm import Samples

Floats = npt.NDArray[np.float64]
Arrays = npt.NDArray[np.floating[Any]]

RECIPE_VERSION: Final = 2
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
ATTACK_S: Final = 0.005
"""The limiter starts lowering the gain this long before a peak, so no peak gets through."""
RELEASE_S: Final = 0.060
"""...and holds it down this long after it, so the peaks of a syllable share one dip."""
MAKEUP_MIN_LU: Final = 0.05
"""A loss to limiting smaller than this is left alone."""
MAKEUP_PASSES: Final = 3
"""Each pass makes up what limiting took and limits again; speech needs one."""
@dataclass(frozen=True)
class Leveled:
    """A clip leveled to the target, and what it took: the calibration gain (dB) and the
    deepest gain reduction the limiter applied (dB, 0 when it did nothing)."""

    samples: Samples
    gain_db: float
    reduction_db: float


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
    (the ringing of a peak at its edge counts too). soxr is given and gives float32: a
    clip's samples are exact in it, the oversampled ones within 3e-8 of full scale of
    what float64 gives (1e-6 dB at a -3 dBTP peak), and it takes a third of the time.
    Its HQ filter rather than VHQ: peaks within 0.0003 dB of it on espeak-ng's lines and
    the chimes, in two thirds of the time.
    """
    pad = 64
    stream = soxr.ResampleStream(sample_rate, sample_rate * OVERSAMPLING, 1,
                                 dtype="float32", quality="HQ")
    silence = np.zeros(pad, dtype=np.float32)
    pieces = [silence, *(x[i:i + ENVELOPE_CHUNK].astype(np.float32)
                         for i in range(0, len(x), ENVELOPE_CHUNK)), silence]
    per_sample = np.abs(x)
    pending = np.zeros(0, dtype=np.float32)
    done = -pad  # the clip's index of the next input sample whose 4 outputs are due
    for number, piece in enumerate(pieces):
        fresh = stream.resample_chunk(piece, last=number == len(pieces) - 1)
        if len(pending):
            fresh = np.concatenate([pending, fresh])
        whole = len(fresh) // OVERSAMPLING
        pending = fresh[whole * OVERSAMPLING:].copy()
        magnitude = np.abs(fresh[:whole * OVERSAMPLING], out=fresh[:whole * OVERSAMPLING])
        peaks = magnitude[0::OVERSAMPLING]  # the largest of each sample's 4, strided
        for phase in range(1, OVERSAMPLING):
            np.maximum(peaks, magnitude[phase::OVERSAMPLING], out=peaks)
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
    return Limiter(x, sample_rate, ceiling_dbtp).limited(1.0)


@dataclass(frozen=True)
class Dips:
    """The limiter's gain where it is below 1: at the samples ``where``, ``gain``; the
    deepest reduction in dB."""

    where: slice | npt.NDArray[np.intp]
    gain: Floats
    reduction_db: float


class Limiter:
    """``limit`` for one clip at any gain: what does not depend on the gain is found once.

    That is the true-peak envelope (oversampling is linear: at any gain it is this one
    times the gain) and its maximum over each hold window, the held peak: the gain a
    sample is held to is ceiling / (gain * held peak), at most 1. Per gain there remains
    the triangle, worked out only where that is below 1 and an attack around it; the
    gain everywhere else is exactly 1, and the clip is only scaled.
    """

    def __init__(self, x: Floats | Samples, sample_rate: int,
                 ceiling_dbtp: float = CEILING_DBTP) -> None:
        self._x = x
        self._ceiling = 10 ** (ceiling_dbtp / 20)
        self._attack = max(1, round(ATTACK_S * sample_rate))
        release = max(1, round(RELEASE_S * sample_rate))
        # int16 samples and soxr's float32 output are exact in float32: so is the envelope
        exact: type[np.floating[Any]] = np.float32 if x.dtype == np.int16 else np.float64
        floats = to_float(cast(Samples, x)) if x.dtype == np.int16 else cast(Floats, x)
        envelope = peak_envelope(floats, sample_rate)
        del floats
        # held[j] = max(envelope[j - release .. j + attack]), silence (0) beyond the clip
        padded = np.zeros(release + len(x) + self._attack, dtype=exact)
        padded[release:release + len(x)] = envelope
        self._envelope = envelope.astype(exact)
        del envelope
        self._held_peak = running_max(padded, self._attack + release + 1, overwrite=True)

    def limited(self, gain: float) -> tuple[Floats, float]:
        """The clip times ``gain``, limited; and the deepest reduction (dB, 0 for none)."""
        return self.apply(gain, self.dips(gain))

    def apply(self, gain: float, dips: Dips | None) -> tuple[Floats, float]:
        """The clip times ``gain`` and the ``dips`` in it (``dips(gain)``); the deepest."""
        scaled = _scaled(self._x, gain)
        if dips is None:
            return scaled, 0.0
        scaled[dips.where] *= dips.gain
        return scaled, dips.reduction_db

    def dips(self, gain: float) -> Dips | None:
        """Where the limiter lowers the clip at ``gain``, and to what; None: nowhere."""
        if not len(self._held_peak):
            return None
        near = _dips(self._held_peak > self._ceiling / gain * (1 - 1e-9), self._attack)
        if near is None:
            return None
        # gain[n] = mean of held[n - attack .. n + attack], weighted by a triangle (two
        # running means): each held value there covers n, so gain[n] <= need[n]. Averaged
        # as depth below 1, which is exactly 0 away from peaks: the gain there is 1.
        attack = self._attack
        peaks = self._held_peak[near]
        depth = np.zeros(len(peaks) + 2 * attack)
        self._need(peaks, gain, out=depth[attack:attack + len(peaks)])
        del peaks
        np.subtract(1.0, depth[attack:-attack], out=depth[attack:-attack])
        once = _running_mean(depth, attack + 1)
        del depth
        smooth = _running_mean(once, attack + 1)
        del once
        np.subtract(1.0, smooth, out=smooth)
        np.minimum(smooth, self._need(self._envelope[near], gain), out=smooth)  # last bit
        low = float(smooth.min())
        if low >= 1.0:
            return None
        return Dips(near, smooth, -20 * math.log10(low))

    def _need(self, peaks: Arrays, gain: float, out: Floats | None = None) -> Floats:
        """The gain that takes ``peaks`` (at unit gain) to the ceiling at ``gain``, at most 1."""
        need = np.multiply(peaks, gain, out=out, dtype=np.float64)
        np.maximum(need, 1e-12, out=need)
        np.divide(self._ceiling, need, out=need)
        np.minimum(need, 1.0, out=need)
        return need


def _dips(held: npt.NDArray[np.bool_], attack: int) -> slice | npt.NDArray[np.intp] | None:
    """The samples whose smoothed gain may be below 1: within ``attack`` of one whose held
    gain is (``held``), in order; a slice when they are one run, None when none is."""
    edges = np.flatnonzero(held[1:] != held[:-1]) + 1  # where runs start and end
    if held[0]:
        edges = np.r_[0, edges]
    if held[-1]:
        edges = np.r_[edges, len(held)]
    if not len(edges):
        return None
    low = np.maximum(edges[0::2] - attack, 0)
    high = np.minimum(edges[1::2] + attack, len(held))
    apart = np.flatnonzero(low[1:] > high[:-1])  # runs that the attack joins are one
    low, high = low[np.r_[0, apart + 1]], high[np.r_[apart, len(high) - 1]]
    if len(low) == 1:
        return slice(int(low[0]), int(high[0]))
    runs = high - low
    ends = np.cumsum(runs)
    near: npt.NDArray[np.intp] = np.arange(int(ends[-1])) + np.repeat(low - (ends - runs), runs)
    return near


def _scaled(x: Floats | Samples, gain: float) -> Floats:
    floats = to_float(cast(Samples, x)) if x.dtype == np.int16 else cast(Floats, x)
    scaled: Floats = floats * gain
    return scaled


def running_max(a: Arrays, width: int, overwrite: bool = False) -> Arrays:
    """``out[i] = max(a[i:i + width])`` for every full window: the maximum over 1, 2, 4...
    samples, each from two of the one before (whole-array steps numpy does fast: half the
    time of van Herk's two running maxima per block, whose steps are one sample each).
    ``overwrite``: work in ``a`` (and return a view of it)."""
    out = a if overwrite else a.copy()
    span = 1
    while span * 2 <= width:
        valid = len(a) - 2 * span + 1
        np.maximum(out[:valid], out[span:span + valid], out=out[:valid])
        span *= 2
    count = len(a) - width + 1
    held: Arrays = np.maximum(out[:count], out[width - span:width - span + count],
                              out=out[:count])
    return held


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
    pad = math.ceil(BLOCK_S * sample_rate)
    meter = Meter(in_silence(samples, sample_rate), sample_rate, keep_energy=True)
    measured = meter.lufs()
    if len(samples) == 0 or measured < SILENT_LUFS:
        return Leveled(samples, 0.0, 0.0)
    limiter = Limiter(samples, sample_rate)
    wanted = target_lufs + extra_gain_db
    gain_db = wanted - measured
    dips = limiter.dips(10 ** (gain_db / 20))
    for _ in range(MAKEUP_PASSES):
        if dips is None:
            break
        loss = wanted - meter.lufs(10 ** (gain_db / 20), _energy_taken(meter, dips, pad))
        if loss <= MAKEUP_MIN_LU:
            break
        gain_db += loss
        dips = limiter.dips(10 ** (gain_db / 20))
    limited, reduction = limiter.apply(10 ** (gain_db / 20), dips)
    del limiter, meter, dips  # a long line's megabytes, before its int16 copy is made
    return Leveled(from_float(limited, overwrite=True), gain_db, reduction)


def _energy_taken(meter: Meter, dips: Dips, offset: int) -> Floats:
    """The K-weighted energy (at unit gain) that ``dips`` take from each of ``meter``'s
    quarters, the clip starting at sample ``offset`` of what it measured.

    As if the limiter's gain came after the K-weighting: it moves over 10 ms at the
    fastest, slowly against the filter's memory, so the loudness is within 0.001 LU of
    filtering the limited clip again (espeak-ng's lines, limited by up to 5 dB)."""
    assert meter.energy is not None
    where = (np.arange(dips.where.start, dips.where.stop) if isinstance(dips.where, slice)
             else dips.where) + offset
    taken = meter.energy[where]
    taken *= 1.0 - np.square(dips.gain)
    summed = np.zeros(len(taken) + 1)
    np.cumsum(taken, out=summed[1:])
    firsts = np.searchsorted(where, meter.bounds)  # each quarter's first sample in ``where``
    per_quarter: Floats = summed[firsts[1:]] - summed[firsts[:-1]]
    return per_quarter


def from_float(x: Floats, overwrite: bool = False) -> Samples:
    """Floats at full scale 1.0 to int16, rounded half to even (the limiter keeps them
    well inside full scale; the clip is only a guard). ``overwrite``: work in ``x``."""
    rounded = np.multiply(x, 32768.0, out=x if overwrite else None)
    np.rint(rounded, out=rounded)
    np.clip(rounded, -32767, 32767, out=rounded)
    out: Samples = rounded.astype(np.int16)
    return out
