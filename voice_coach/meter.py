"""The loudness meter: BS.1770-4 integrated loudness of a mono clip, as pyloudnorm 0.2
measures it (its K-weighting biquads, from the RBJ cookbook at any sample rate; its
blocks; its gates).

Written here because pyloudnorm filters through scipy.signal, whose import alone takes
1.1-2.4 s and 74-84 MB of resident memory: more than the whole of a playing session may
use. tests/test_loudness.py holds this meter to pyloudnorm to 1e-9 LU, and the session to
ffmpeg's ebur128. Pure.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from voice_coach.pcm import Samples

Floats = npt.NDArray[np.float64]

BLOCK_S: Final = 0.4
"""BS.1770 gating block; a shorter clip is measured over its whole length, ungated."""
SILENT_LUFS: Final = -70.0
"""BS.1770's absolute gate: a clip quieter than this is silence and is left as it is."""


def integrated_lufs(samples: Samples, sample_rate: int) -> float:
    """BS.1770-4 integrated loudness of a mono clip (LUFS), -inf for digital silence.

    A clip shorter than a gating block is measured ungated over its own length: the
    loudness of its K-weighted mean square, as a longer clip's blocks would be.
    """
    return _integrated(to_float(samples), sample_rate)


def _integrated(x: Floats, sample_rate: int) -> float:
    """``integrated_lufs`` of floats (used up: the K-weighting may work in place)."""
    if not x.any():
        return -math.inf
    block = math.ceil(BLOCK_S * sample_rate)
    if len(x) > block:
        return gated_lufs(x, sample_rate)
    padded = np.concatenate([x, np.zeros(block + 1 - len(x))])
    return gated_lufs(padded, sample_rate) + 10 * math.log10(len(padded) / len(x))


K_WEIGHTING: Final = ((4.0, 1 / math.sqrt(2), 1500.0, "high_shelf"),
                      (0.0, 0.5, 38.0, "high_pass"))
"""BS.1770's two stages as (gain dB, Q, frequency Hz, shape): a head-related shelf, then
the RLB high-pass."""
BLOCK_STEP: Final = 0.25
"""Gating blocks start every quarter block (75 % overlap)."""
RELATIVE_GATE_LU: Final = -10.0
IIR_BLOCK: Final = 32
"""Samples the K-weighting's recursion steps over at once (see ``k_weighted``). Each
sample costs about ``IIR_BLOCK + 8`` multiply-adds; shorter blocks cost more calls."""
IIR_CHUNK_BLOCKS: Final = 512
"""Blocks filtered at a time (16,384 samples): the largest product OpenBLAS still does
in the calling thread (at twice this it started threads, 6 times slower on 2 loaded
cores, whose other one is the engine's in a cold render), and a long line's filtering
needs only its output beside it. Measured on a 9.5 s line: 1.0 ms (block 16, 32 or 64
at this size), 1.5 ms at 64 x 128."""


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


@dataclass(frozen=True)
class _BlockFilter:
    """The K-weighting (both biquads in cascade, four states) stepped ``IIR_BLOCK``
    samples at a time, for row vectors: a block's output is ``inputs @ through +
    state @ ringing``, its end state ``state @ carry + inputs @ load``; ``powers`` are
    ``carry`` squared again and again (``carry`` to the 1st, 2nd, 4th... power)."""

    through: Floats
    ringing: Floats
    load: Floats
    carry: Floats
    powers: tuple[Floats, ...]


@functools.lru_cache(maxsize=4)
def _block_filter(sample_rate: int) -> _BlockFilter:
    stages = []
    for stage in K_WEIGHTING:  # transposed direct form II, as a state-space system
        (b0, b1, b2), (a1, a2) = biquad(*stage, sample_rate)
        stages.append((np.array([[-a1, 1.0], [-a2, 0.0]]), np.array([b1 - a1 * b0, b2 - a2 * b0]),
                       np.array([1.0, 0.0]), b0))
    (a_1, b_1, c_1, d_1), (a_2, b_2, c_2, d_2) = stages
    a = np.zeros((4, 4))
    a[:2, :2], a[2:, 2:], a[2:, :2] = a_1, a_2, np.outer(b_2, c_1)
    b, c, d = np.concatenate([b_1, b_2 * d_1]), np.concatenate([d_2 * c_1, c_2]), d_2 * d_1
    n = IIR_BLOCK
    powers = [np.eye(4)]
    for _ in range(n):
        powers.append(a @ powers[-1])
    impulse = np.array([d] + [c @ powers[i] @ b for i in range(n - 1)])
    lag = np.subtract.outer(np.arange(n), np.arange(n))  # output index - input index
    through = np.where(lag >= 0, impulse[np.clip(lag, 0, None)], 0.0).T
    ringing = np.array([c @ powers[i] for i in range(n)]).T
    load = np.array([powers[n - 1 - j] @ b for j in range(n)])
    carry = powers[n].T
    squares = [carry]
    while 2 ** len(squares) < IIR_CHUNK_BLOCKS:
        squares.append(squares[-1] @ squares[-1])
    contiguous = np.ascontiguousarray
    return _BlockFilter(contiguous(through), contiguous(ringing), contiguous(load),
                        contiguous(carry), tuple(contiguous(p) for p in squares))


def k_weighted(x: Floats, sample_rate: int) -> Floats:
    """``x`` through the K-weighting filter (from rest): the recursion itself, exact, but
    stepped a block at a time so that numpy does the work in matrix products.

    A block's output is its own samples through the filter's first ``IIR_BLOCK`` taps
    plus the ringing of the state it starts in; the states at the blocks' starts are a
    linear recurrence, solved for all blocks at once by doubling (each state takes in
    the one 1, 2, 4... blocks before it).
    """
    f = _block_filter(sample_rate)
    n = IIR_BLOCK
    out = np.empty(len(x))
    state = np.zeros(4)
    for start in range(0, len(x), n * IIR_CHUNK_BLOCKS):
        piece = x[start:start + n * IIR_CHUNK_BLOCKS]
        blocks = -(-len(piece) // n)
        inputs = np.zeros((blocks, n))
        inputs.ravel()[:len(piece)] = piece
        loads = inputs @ f.load
        states = np.empty((blocks, 4))
        states[0] = state
        states[1:] = loads[:-1]
        for step, power in enumerate(f.powers):
            span = 1 << step
            if span >= blocks:
                break
            states[span:] = states[span:] + states[:-span] @ power
        state = states[-1] @ f.carry + loads[-1]
        outputs = inputs @ f.through
        outputs += states @ f.ringing
        out[start:start + len(piece)] = outputs.ravel()[:len(piece)]
    return out


def gated_lufs(x: Floats, sample_rate: int) -> float:
    """BS.1770-4 gated loudness (LUFS) of mono ``x``, at least a block long."""
    return Meter(x, sample_rate).lufs()


class Meter:
    """BS.1770-4 gated loudness of ``x`` (at least a block long), and of ``x`` scaled and
    with some of its K-weighted energy taken away (``lufs``), without filtering again.

    Blocks start every quarter block, so each is four quarters: the K-weighted energy is
    summed once per quarter, and a block's is the sum of its four. ``energy`` keeps the
    K-weighted signal squared, sample by sample, when asked to."""

    def __init__(self, x: Floats, sample_rate: int, keep_energy: bool = False) -> None:
        energy = k_weighted(x, sample_rate)
        count = int(np.round((len(x) / sample_rate - BLOCK_S) / (BLOCK_S * BLOCK_STEP))) + 1
        starts = np.arange(count) * BLOCK_STEP
        low = np.minimum((BLOCK_S * starts * sample_rate).astype(int), len(x))
        high = np.minimum((BLOCK_S * (starts + 1) * sample_rate).astype(int), len(x))
        self.bounds = np.union1d(low, high)
        self._low = np.searchsorted(self.bounds, low)
        self._high = np.searchsorted(self.bounds, high)
        np.square(energy, out=energy)
        self.quarters = np.add.reduceat(energy[:self.bounds[-1]], self.bounds[:-1])
        # float32: half a long line's memory, and 1e-7 of what the limiter takes from a
        # quarter is far below what the makeup resolves
        self.energy = energy.astype(np.float32) if keep_energy else None
        self._block = BLOCK_S * sample_rate

    def lufs(self, scale: float = 1.0, less: Floats | None = None) -> float:
        """The loudness of ``x * scale``, less ``less`` of its energy (at scale 1) in each
        quarter."""
        quarters = self.quarters if less is None else self.quarters - less
        summed = np.zeros(len(quarters) + 1)
        np.cumsum(quarters, out=summed[1:])
        power = np.maximum(summed[self._high] - summed[self._low], 0.0) / self._block
        power *= scale * scale
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
    return _integrated(in_silence(samples, sample_rate), sample_rate)


def in_silence(samples: Samples, sample_rate: int) -> Floats:
    """The clip as floats, with a block of silence either side."""
    pad = math.ceil(BLOCK_S * sample_rate)
    x = np.zeros(len(samples) + 2 * pad)
    middle = x[pad:pad + len(samples)]
    middle[:] = samples
    middle /= 32768.0
    return x


def to_float(samples: Samples) -> Floats:
    """int16 samples as floats at full scale 1.0."""
    x: Floats = samples.astype(np.float64)
    x /= 32768.0
    return x
