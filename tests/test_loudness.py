"""Loudness of clips: measured as the reference meter measures it, leveled, limited smoothly."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.audio import write_wav
from support.meter import ebur128
from voice_coach import loudness
from voice_coach.loudness import (
    CEILING_DBTP,
    TARGET_LUFS,
    integrated_lufs,
    level,
    limit,
    loudness_in_silence,
    running_max,
    true_peak_dbtp,
)

RATE = 22050


def tone(hz: float, seconds: float, peak: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.rint(peak * 32767 * np.sin(2 * np.pi * hz * t + phase)).astype(np.int16)


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise in syllable-long bursts with a spiky crest factor, as espeak-ng's speech has:
    about 20 dB between its RMS and its peaks."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    envelope = np.clip(np.sin(np.arange(n) / RATE * 2 * np.pi * 3.1), 0, None) ** 2
    x = rng.standard_normal(n) * envelope * 0.12
    spikes = rng.choice(n, size=12, replace=False)
    x[spikes] = np.sign(x[spikes] + 1e-9) * 0.99
    return np.rint(np.clip(x, -1, 1) * 32767).astype(np.int16)


def test_integrated_loudness_agrees_with_ffmpeg(tmp_path: Path) -> None:
    """A 997 Hz sine peaking at -20 dBFS is -23.0 LUFS mono (BS.1770); speech-like noise
    is whatever the reference meter says, to 0.1 LU."""
    for name, samples in [("sine", tone(997, 5, 0.1)), ("speech", speechlike(6, seed=1))]:
        ours = integrated_lufs(samples, RATE)
        reference = ebur128(write_wav(tmp_path / f"{name}.wav", samples)).integrated_lufs
        assert abs(ours - reference) <= 0.1, (name, ours, reference)
    assert integrated_lufs(tone(997, 5, 0.1), RATE) == pytest.approx(-23.0, abs=0.1)


def test_a_clip_shorter_than_a_block_is_measured_over_its_length() -> None:
    """0.3 s of a sine has the loudness of 3 s of it (BS.1770 gives it no block at all)."""
    short, long = tone(997, 0.3, 0.1), tone(997, 3, 0.1)
    assert integrated_lufs(short, RATE) == pytest.approx(integrated_lufs(long, RATE), abs=0.2)
    assert integrated_lufs(np.zeros(100, dtype=np.int16), RATE) == -math.inf


def test_true_peak_sees_between_samples_as_ffmpeg_does(tmp_path: Path) -> None:
    """A sine at a quarter of the rate, 45 degrees off: every sample is at 0.707 of the
    peak, the wave itself reaches it, 3 dB higher. ffmpeg's interpolator reads such a
    high tone about 0.5 dB higher still (never lower): the reason for the ceiling's margin."""
    samples = tone(RATE / 4, 2, 0.5, phase=math.pi / 4)
    sample_peak = 20 * math.log10(np.abs(samples).max() / 32768)
    ours = true_peak_dbtp(samples, RATE)
    reference = ebur128(write_wav(tmp_path / "tp.wav", samples)).true_peak_dbtp
    assert sample_peak == pytest.approx(-9.03, abs=0.05)
    assert ours == pytest.approx(-6.02, abs=0.1)
    assert 0.0 <= reference - ours <= 0.7
    speech = speechlike(6, seed=3)
    reference = ebur128(write_wav(tmp_path / "speech.wav", speech)).true_peak_dbtp
    assert abs(true_peak_dbtp(speech, RATE) - reference) <= 0.2


def test_level_brings_a_clip_to_the_target_with_peaks_under_the_ceiling(tmp_path: Path) -> None:
    clip = speechlike(8, seed=2)
    assert true_peak_dbtp(clip, RATE) > -0.5  # at full scale: it would clip once encoded
    leveled = level(clip, RATE)
    assert leveled.samples.dtype == np.int16 and len(leveled.samples) == len(clip)
    assert loudness_in_silence(leveled.samples, RATE) == pytest.approx(TARGET_LUFS, abs=0.15)
    assert true_peak_dbtp(leveled.samples, RATE) <= CEILING_DBTP + 0.01
    reading = ebur128(write_wav(tmp_path / "leveled.wav", leveled.samples))
    assert reading.true_peak_dbtp <= -1.0
    assert leveled.reduction_db > 1.0  # the spikes were limited, and it says by how much
    assert np.array_equal(level(clip, RATE).samples, leveled.samples)  # deterministic


def test_clips_leveled_on_their_own_make_a_session_at_the_target(tmp_path: Path) -> None:
    """Short and long clips between pauses, each leveled alone: the reference meter reads
    the whole at the target, though BS.1770's blocks straddle every clip's edges."""
    rng = np.random.default_rng(4)
    parts = []
    for seconds in [0.4, 5.0, 0.66, 2.5, 1.2, 0.3, 3.5, 0.8]:
        parts.append(level(speechlike(seconds, seed=int(seconds * 10)), RATE).samples)
        parts.append(np.zeros(round(rng.uniform(0.3, 2.0) * RATE), dtype=np.int16))
    session = np.concatenate(parts)
    reading = ebur128(write_wav(tmp_path / "session.wav", session))
    assert abs(reading.integrated_lufs - TARGET_LUFS) <= 0.6, reading
    assert reading.true_peak_dbtp <= -1.0


def test_level_leaves_silence_and_a_quiet_clip_is_raised() -> None:
    silence = np.zeros(5000, dtype=np.int16)
    assert np.array_equal(level(silence, RATE).samples, silence)
    quiet = tone(440, 1.0, 0.01)  # -43 LUFS
    raised = level(quiet, RATE)
    assert loudness_in_silence(raised.samples, RATE) == pytest.approx(TARGET_LUFS, abs=0.1)
    assert raised.gain_db == pytest.approx(TARGET_LUFS - loudness_in_silence(quiet, RATE))
    assert raised.reduction_db == 0.0  # a sine at -16 dBTP needs no limiting


def test_the_limiter_lowers_the_gain_smoothly_and_only_near_peaks() -> None:
    """No hard clipping, no pumping: the output is the input times a gain that changes by
    at most 1/(attack+1) of its depth per sample, is 1 away from the peaks, and never
    lets a peak through."""
    rng = np.random.default_rng(5)
    n = 3 * RATE
    x = rng.standard_normal(n) * 0.05
    x[RATE] = 1.6  # +4 dBFS, one sample, in the middle of the clip
    out, reduction = limit(x, RATE)
    gain = out / np.where(x == 0, 1, x)
    attack = round(loudness.ATTACK_S * RATE)
    release = round(loudness.RELEASE_S * RATE)
    assert reduction == pytest.approx(-20 * math.log10(10 ** (CEILING_DBTP / 20) / 1.6),
                                      abs=0.6)
    assert np.all(gain <= 1.0 + 1e-12)
    assert np.max(np.abs(np.diff(gain))) <= (1 - gain.min()) / (attack + 1) + 1e-9
    far = np.r_[0:RATE - 2 * attack - release - 1, RATE + 2 * attack + release + 1:n]
    assert np.array_equal(out[far], x[far])  # untouched away from the peak
    assert np.max(loudness.peak_envelope(out, RATE)) <= 10 ** (CEILING_DBTP / 20) + 1e-9


def test_running_max_is_the_maximum_of_every_window() -> None:
    rng = np.random.default_rng(9)
    for n, width in [(10, 3), (100, 7), (64, 1), (50, 50), (51, 50), (1000, 221), (3000, 1434)]:
        a = rng.random(n)
        expected = [a[i:i + width].max() for i in range(n - width + 1)]
        assert running_max(a, width).tolist() == expected


@pytest.mark.parametrize("seconds", [0.2, 0.41, 3.0, 47.3])
def test_the_meter_measures_what_pyloudnorm_measures(seconds: float) -> None:
    """pyloudnorm (BS.1770-4) is the reference the meter was written from: the same
    filters, blocks and gates, so the same loudness to the last digits, for a clip shorter
    than a block, about one, a spoken line's length, and 47 s, each with loud and quiet
    stretches that the gates must sort."""
    import pyloudnorm

    rng = np.random.default_rng(round(seconds * 100))
    length = round(seconds * RATE)
    gain = np.repeat(rng.uniform(0.0, 0.5, size=length // 2000 + 1), 2000)[:length]
    x = rng.standard_normal(length) * gain  # loud and quiet stretches, some under the gates
    x[: length // 3] *= 0.01
    samples = np.rint(np.clip(x, -1, 1) * 32767).astype(np.int16)

    ours = loudness.integrated_lufs(samples, RATE)
    reference_meter = pyloudnorm.Meter(RATE, block_size=loudness.BLOCK_S)
    floats = samples / 32768.0
    if length > math.ceil(loudness.BLOCK_S * RATE):
        reference = reference_meter.integrated_loudness(floats)
    else:  # pyloudnorm needs a block: the clip's mean square over one, as ours says
        padded = np.concatenate([floats, np.zeros(math.ceil(loudness.BLOCK_S * RATE) + 1 - length)])
        reference = (reference_meter.integrated_loudness(padded)
                     + 10 * math.log10(len(padded) / length))
    assert abs(ours - reference) <= 1e-9, (ours, reference)


def test_the_meter_gates_silence_out() -> None:
    assert loudness.integrated_lufs(np.zeros(RATE, dtype=np.int16), RATE) == -math.inf
    quiet = np.full(RATE, 3, dtype=np.int16)  # -80 dBFS of DC, under the absolute gate
    assert loudness.integrated_lufs(np.concatenate([quiet, quiet]), RATE) == -math.inf


def test_leveling_loads_no_scipy() -> None:
    """The first sound waits for no scipy, and play's memory holds none of it."""
    code = ("import sys; from voice_coach import loudness; from voice_coach.cues import load_cue;"
            " loudness.level(load_cue('start'), 22050, loudness.TARGET_LUFS);"
            " print(sorted(m for m in ('pyloudnorm', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout == "[]\n"
