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

import hashlib
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import soxr

from voice_coach.pcm import Samples

Floats = npt.NDArray[np.float64]

KNOWN_RATE: Final = 22050
KNOWN_LUFS: Final[dict[str, float]] = {
    "d251537d78c1df724cd1750b6012b6005f4df49df8d1bb8514103445e0f7a029": -20.86464761154564,
    "35d6cb0abadc671d497139f8a947f4c8f2ecad3500a05e9c457e428d8d8ae35a": -19.0712909498571,
    "01d7a76e565832ab94254e5e8b1465eb89d9e911364dbb72a427346a59b13660": -19.012145989059146,
    "b5dc64b9c65a26c6a63fe96fc21c22d3954c37a30a93e07030cea778d9019b01": -22.097988589500414,
    "506b417c8ed14f82ccfe7b583284b530bc5b1a2a7547dd9c0409111ddff0990b": -23.960038295992245,
    "45ff59ebcee4a304d7fdcb8c90a44d59d4b5d2172445e53bd3edab3343093cd6": -20.799283692396838,
    "5f0e41bf3d2eb831c827ab443f76d0c1a19e01220c6aabfc5c3843daa419f115": -20.31355211455136,
    "1451952e80adde2a883061ae4d4969ab8c184873833672ce7cf56803b31125e6": -19.954747037706994,
    "f1fc6e7397c53ad65114d928b6f88b3398caf08331fc4a9be1ece240b0cbbc4f": -22.10759699292669,
    "607821f454302047b1fad819e76c2053bc5874c10e1583a0909edd28e2fe833f": -21.018740865895428,
    "1bac83d41767946849aab2844b80ebfa3dd8e0a53fccb7d02a2576bd0a7fa687": -21.06358235929687,
}
"""``loudness_in_silence`` of the built-in chimes at the session rate, and of the limited
versions leveling passes through, by the SHA-256 of their samples. A session opens with a
chime; with these, it is leveled without loading the meter (pyloudnorm and scipy.signal,
about 0.6 s), so the first sound does not wait for it. tests/test_loudness.py measures each
of them again, and fails when a chime changes without its entry."""

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
    import pyloudnorm  # 0.5 s of scipy.signal: only when a clip is first leveled

    meter = pyloudnorm.Meter(sample_rate, block_size=BLOCK_S)
    if len(x) > block:
        return float(meter.integrated_loudness(x))
    padded = np.concatenate([x, np.zeros(block + 1 - len(x))])
    return float(meter.integrated_loudness(padded)) + 10 * math.log10(len(padded) / len(x))


def loudness_in_silence(samples: Samples, sample_rate: int) -> float:
    """What the clip adds to a session's integrated loudness: measured with a block of
    silence either side, as it sits between pauses.

    BS.1770 measures 400 ms blocks every 100 ms; in a session the blocks that straddle a
    clip's start and end hold part clip, part pause, and most pass the gates. They pull
    the session below the loudness of its clips alone, by more the shorter the clip
    (0.4 LU for 3 s of speech, 1.6 LU for a 0.66 s chime); measured this way, each clip
    pays for its own edges, and the session lands on the target.
    """
    if sample_rate == KNOWN_RATE:
        known = KNOWN_LUFS.get(hashlib.sha256(np.ascontiguousarray(samples).data).hexdigest())
        if known is not None:
            return known
    pad = np.zeros(math.ceil(BLOCK_S * sample_rate), dtype=np.int16)
    return integrated_lufs(np.concatenate([pad, samples, pad]), sample_rate)


def true_peak_dbtp(samples: Samples, sample_rate: int) -> float:
    """True peak (dBTP): the highest sample of the clip oversampled 4x, within its silence."""
    peak = float(np.max(peak_envelope(to_float(samples), sample_rate), initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def peak_envelope(x: Floats, sample_rate: int) -> Floats:
    """Per sample, the largest magnitude of the oversampled signal from it to the next.

    The clip sits in silence in the session, so it is oversampled with silence around it
    (the ringing of a peak at its edge counts too).
    """
    pad = 64
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    up = soxr.resample(padded, sample_rate, sample_rate * OVERSAMPLING, quality="VHQ")
    up = np.abs(up[pad * OVERSAMPLING:(pad + len(x)) * OVERSAMPLING])
    up = np.concatenate([up, np.zeros(len(x) * OVERSAMPLING - len(up))])
    per_sample = np.abs(x)
    for phase in range(OVERSAMPLING):
        per_sample = np.maximum(per_sample, up[phase::OVERSAMPLING])
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
    if len(x) == 0:
        return x, 0.0
    ceiling = 10 ** (ceiling_dbtp / 20)
    envelope = peak_envelope(x, sample_rate)
    need = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
    if need.min() >= 1.0:
        return x, 0.0
    attack = max(1, round(ATTACK_S * sample_rate))
    release = max(1, round(RELEASE_S * sample_rate))
    held = running_min(np.concatenate([np.ones(release), need, np.ones(attack)]),
                       attack + release + 1)  # held[j] = min(need[j - release .. j + attack])
    # gain[n] = mean of held[n - attack .. n + attack], weighted by a triangle (two
    # running means): each held value there covers n, so gain[n] <= need[n].
    # Averaged as depth below 1, which is exactly 0 away from peaks: the gain there is 1.
    depth = np.concatenate([np.zeros(attack), 1.0 - held, np.zeros(attack)])
    gain = 1.0 - _running_mean(_running_mean(depth, attack + 1), attack + 1)
    gain = np.minimum(gain, need)  # guards rounding in the last bit only
    reduction = -20 * math.log10(float(gain.min()))
    limited: Floats = x * gain
    return limited, reduction


def running_min(a: Floats, width: int) -> Floats:
    """``out[i] = min(a[i:i + width])`` for every full window, in linear time (van Herk,
    Gil and Werman: minima from each block's start and end, two per window)."""
    count = len(a) - width + 1
    blocks = -(-len(a) // width)
    padded = np.concatenate([a, np.full(blocks * width - len(a), np.inf)]).reshape(blocks, width)
    from_start = np.minimum.accumulate(padded, axis=1).ravel()
    to_end = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    out: Floats = np.minimum(to_end[:count], from_start[width - 1:width - 1 + count])
    return out


def _running_mean(a: Floats, width: int) -> Floats:
    """``out[i] = mean(a[i:i + width])`` for every full window."""
    sums = np.concatenate([[0.0], np.cumsum(a)])
    out: Floats = (sums[width:] - sums[:-width]) / width
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
    x = to_float(samples)
    wanted = target_lufs + extra_gain_db
    gain_db = wanted - measured
    limited, reduction = limit(x * 10 ** (gain_db / 20), sample_rate)
    for _ in range(MAKEUP_PASSES):
        if reduction == 0:
            break
        loss = wanted - loudness_in_silence(from_float(limited), sample_rate)
        if loss <= MAKEUP_MIN_LU:
            break
        gain_db += loss
        limited, reduction = limit(x * 10 ** (gain_db / 20), sample_rate)
    return Leveled(from_float(limited), gain_db, reduction)


def to_float(samples: Samples) -> Floats:
    return samples.astype(np.float64) / 32768.0


def from_float(x: Floats) -> Samples:
    """Floats at full scale 1.0 to int16, rounded half to even (the limiter keeps them
    well inside full scale; the clip is only a guard)."""
    rounded = np.rint(x * 32768.0)
    out: Samples = np.clip(rounded, -32767, 32767).astype(np.int16)
    return out
