"""Ambient beds, pure: any range of a bed is that range of the whole, to the sample; each
bed has the colour, the swell, the level and the peak it promises."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from support.meter import loudest_short_term
from voice_coach import ambient, bed_noise
from voice_coach.ambient import AmbientError, BedSpan, BedSpec, parse_bed
from voice_coach.bed_noise import BLOCK, TAPS
from voice_coach.loudness import true_peak_dbtp
from voice_coach.meter import gated_lufs

RATE = 22050


def fresh(spec: BedSpec, start: int, stop: int) -> np.ndarray:
    """The bed's samples computed with every cache emptied: nothing left from before."""
    for cached in (bed_noise._bed_block, bed_noise.coloured_block, bed_noise._noise_spectrum,
                   bed_noise.white_block):
        cached.cache_clear()
    return ambient.bed_samples(spec, RATE, start, stop)


@pytest.mark.parametrize("name", ambient.BED_NAMES)
@pytest.mark.parametrize("a, b, c", [
    (0, 1, 2), (0, BLOCK, 2 * BLOCK), (BLOCK - 1, BLOCK, BLOCK + 1), (12345, 40000, 100003),
    (3 * BLOCK + 17, 5 * BLOCK - 3, 5 * BLOCK + 9000), (RATE * 3600, RATE * 3600 + 7, RATE * 3605),
])
def test_a_range_then_the_next_is_the_range_of_both(name, a, b, c):
    spec = BedSpec(name)
    whole = fresh(spec, a, c)
    assert len(whole) == c - a
    first, second = fresh(spec, a, b), fresh(spec, b, c)
    assert np.array_equal(np.concatenate([first, second]), whole)
    # asked in the other order, and warm: the same samples
    assert np.array_equal(ambient.bed_samples(spec, RATE, b, c), second)
    assert np.array_equal(ambient.bed_samples(spec, RATE, a, b), first)


def test_an_hour_in_is_reached_without_rendering_from_the_start():
    """Sample 79,380,000 (an hour) needs two blocks of noise, not an hour of them."""
    fresh(BedSpec("brown"), RATE * 3600, RATE * 3600 + 10)
    info = bed_noise.white_block.cache_info()
    assert info.misses == 2


def test_blocks_join_as_one_unbroken_filter():
    """A block's samples are the kernel run over the noise without restarting at block
    edges: three blocks equal one direct convolution of their noise."""
    stream = bed_noise._stream_key("pink")
    noise = np.concatenate([bed_noise.white_block(stream, i) for i in range(3)])
    kernel = np.fft.irfft(bed_noise._kernel_spectrum("pink", RATE), bed_noise._FFT)[:TAPS]
    direct = np.convolve(noise, kernel)[:3 * BLOCK]
    blocks = np.concatenate([bed_noise.coloured_block("pink", RATE, i) for i in range(3)])
    assert np.max(np.abs(blocks[TAPS:] - direct[TAPS:])) < 1e-12


def test_the_same_bed_is_the_same_samples_and_beds_differ():
    brown = fresh(BedSpec("brown"), 5000, 9000)
    assert np.array_equal(brown, fresh(BedSpec("brown"), 5000, 9000))
    assert not np.array_equal(brown, fresh(BedSpec("pink"), 5000, 9000))


def band_power(x: np.ndarray, f_hz: float) -> float:
    """Power near ``f_hz`` (a fifth of an octave either side), averaged over 4096-sample
    frames."""
    frames = x[: len(x) // 4096 * 4096].reshape(-1, 4096) * np.hanning(4096)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(4096, 1 / RATE)
    return float(np.mean(power[(freqs > f_hz / 1.15) & (freqs < f_hz * 1.15)]))


def slope_db_per_octave(x: np.ndarray, low_hz: float, high_hz: float) -> float:
    ratio = band_power(x, high_hz) / band_power(x, low_hz)
    return 10 * math.log10(ratio) / math.log2(high_hz / low_hz)


@pytest.mark.parametrize("name, slope", [("brown", -6.0), ("pink", -3.0)])
def test_the_colour_of_the_noise(name, slope):
    x = bed_noise.raw_bed(name, RATE, 0, RATE * 60)
    assert slope_db_per_octave(x, 200, 3200) == pytest.approx(slope, abs=0.3)
    # high-passed: 10 Hz at least 6 dB under 60 Hz (no DC, no subsonic push on a speaker)
    assert band_power(x, 10) < band_power(x, 60) / 4
    response = np.abs(bed_noise._kernel_spectrum(name, RATE))
    assert response[0] < 1e-3 * response.max()


def test_waves_swell_and_ebb_every_8_to_12_seconds():
    t_s = np.arange(0, 600, 0.05)
    sea = bed_noise.swell(t_s)
    crests = [t_s[i] for i in range(1, len(sea) - 1)
              if sea[i] > sea[i - 1] and sea[i] >= sea[i + 1] and sea[i] > 0.5]
    gaps = np.diff(crests)
    assert len(crests) == pytest.approx(60, abs=2)
    assert gaps.min() >= 8.0 and gaps.max() <= 12.0
    assert gaps.std() > 0.3  # irregular, not a metronome


def short_term_levels(x: np.ndarray) -> np.ndarray:
    window = 3 * RATE
    return np.array([10 * math.log10(np.mean(x[i:i + window] ** 2))
                     for i in range(0, len(x) - window, RATE // 2)])


def brightness_hz(x: np.ndarray) -> float:
    """Spectral centroid."""
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return float(np.sum(np.fft.rfftfreq(len(x), 1 / RATE) * power) / np.sum(power))


def test_waves_rise_in_level_and_brightness_together():
    x = bed_noise.raw_bed("waves", RATE, 0, RATE * 120)
    levels = short_term_levels(x)
    assert levels.max() - levels.min() > 6.0
    sea = bed_noise.swell(np.arange(len(x)) / RATE)
    crest, trough = int(np.argmax(sea)), int(np.argmin(sea[RATE:RATE * 110])) + RATE
    half = RATE // 2
    assert brightness_hz(x[crest - half:crest + half]) > 1.5 * brightness_hz(
        x[trough - half:trough + half])


@pytest.mark.parametrize("name, below_db", [("brown", 0.5), ("pink", 0.5), ("waves", 5.0)])
@pytest.mark.parametrize("minute", [0, 5, 60])
def test_every_bed_is_at_its_level(name, below_db, minute):
    """On the project's meter, over any two minutes: brown and pink read BED_LUFS
    integrated; the loudest 3 s of any bed are at most 0.5 dB over it (a swell's top up to
    5 dB under it: the level is set for the highest swell there can be); the volume moves
    it by its dB."""
    start = RATE * 60 * minute
    for volume_db in (0.0, ambient.MAX_VOLUME_DB, ambient.MIN_VOLUME_DB):
        x = ambient.bed_samples(BedSpec(name, volume_db), RATE, start, start + RATE * 120)
        loudest = loudest_short_term(x, RATE) - volume_db
        assert ambient.BED_LUFS - below_db <= loudest <= ambient.BED_LUFS + 0.5
        if name != "waves":
            assert gated_lufs(x, RATE) - volume_db == pytest.approx(ambient.BED_LUFS, abs=0.3)


@pytest.mark.parametrize("name", ambient.BED_NAMES)
def test_a_bed_at_its_loudest_keeps_its_peaks_under_its_ceiling(name):
    x = ambient.bed_samples(BedSpec(name, ambient.MAX_VOLUME_DB), RATE, 0, RATE * 120)
    ceiling = 10 ** (ambient.BED_PEAK_DBFS / 20)
    assert np.max(np.abs(x)) < ceiling
    samples = np.rint(x * 32768).astype(np.int16)
    assert true_peak_dbtp(samples, RATE) < ambient.BED_PEAK_DBFS + 0.5


def test_the_span_fades_in_and_out():
    span = BedSpan(fade_in=100, fade_out=300, end=400)
    gain = span.envelope(0, 500)
    assert gain[0] == 0.0 and gain[50] == pytest.approx(0.5) and gain[100] == 1.0
    assert np.all(np.diff(gain[:101]) > 0) and np.all(gain[100:301] == 1.0)
    assert gain[350] == pytest.approx(0.5) and np.all(np.diff(gain[300:401]) < 0)
    assert np.all(gain[400:] == 0.0)
    assert np.array_equal(span.envelope(37, 333), gain[37:333])


def test_fades_that_overlap_multiply():
    gain = BedSpan(fade_in=100, fade_out=50, end=150).envelope(0, 200)
    assert gain[75] == pytest.approx(math.sin(math.pi * 0.75 / 2) ** 4, abs=1e-12)
    assert np.max(np.abs(np.diff(gain))) < 0.05 and np.all(gain[150:] == 0.0)


def test_a_span_depends_on_the_closing_only_from_the_closing_on():
    """Fades in over the first 10 s whatever the session; out over 3 s from the closing
    step's start: before it, a sample's gain does not depend on where the closing is."""
    early, late = ambient.bed_span(RATE * 60, RATE), ambient.bed_span(RATE * 90, RATE)
    assert early == BedSpan(fade_in=RATE * 10, fade_out=RATE * 60, end=RATE * 63)
    assert np.array_equal(early.envelope(0, RATE * 60), late.envelope(0, RATE * 60))


@pytest.mark.parametrize("text, expected", [
    ("none", None), ("NONE", None), ("waves", BedSpec("waves")), (" Brown ", BedSpec("brown")),
])
def test_a_bed_by_name(text, expected):
    assert parse_bed(text) == expected


@pytest.mark.parametrize("text, volume, message", [
    ("ocean", 0.0, "unknown ambient bed 'ocean': expected one of brown, pink, waves, none"
               " or a sound file"),
    ("pink", 3.5, "ambient volume must be from -20 to 3 dB, got 3.5"),
    ("pink", -21.0, "ambient volume must be from -20 to 3 dB, got -21.0"),
    ("pink", math.nan, "ambient volume must be from -20 to 3 dB, got nan"),
])
def test_a_bed_that_cannot_be_used_says_why(text, volume, message):
    with pytest.raises(AmbientError) as raised:
        parse_bed(text, volume)
    assert str(raised.value) == message
    assert raised.value.exit_code == 2


def test_a_tail_is_a_silent_step_of_its_own_after_the_end():
    from voice_coach.plan import Event, Timeline

    timeline = Timeline("t", 100, (Event(0, 50, "silence", 0), Event(50, 80, "cue", 1, cue="end")),
                        ("a", "b"), step_sources=(None,))
    tailed = ambient.with_tail(timeline, 90.0)
    assert tailed.events[-1] == Event(80, 9080, "silence", 2)
    assert tailed.step_labels == ("a", "b", "Tail, 1.5 min")
    assert tailed.step_sources == (None, None, None) and tailed.tail_start == 80
    assert ambient.session_span(tailed) == BedSpan(fade_in=1000, fade_out=3080, end=9080)
    assert ambient.with_tail(timeline, 0.0) is timeline


@pytest.mark.parametrize("lang, label", [("de", "Ausklang, 2 min"), ("fr", "Prolongation, 2 min"),
                                         ("es", "Prolongación, 2 min")])
def test_the_tail_is_named_in_the_sessions_language(lang, label, tmp_path):
    """The screen, the chapters and the plan name the tail as they name every step."""
    from voice_coach.cli import cli

    result = CliRunner().invoke(cli, ["plan", "psoas-release", "--lang", lang, "--minutes", "5",
                                      "--ambient", "brown", "--tail", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"][-1]["label"] == label


@pytest.mark.parametrize("tail, message", [
    (61.0, "tail must be from 0 to 60 minutes, got 61.0"),
    (-1.0, "tail must be from 0 to 60 minutes, got -1.0"),
])
def test_a_tail_out_of_range_says_why(tail, message):
    with pytest.raises(AmbientError) as raised:
        parse_bed("brown", 0.0, tail)
    assert str(raised.value) == message


def test_a_tail_without_a_bed_says_why():
    with pytest.raises(AmbientError) as raised:
        parse_bed("none", 0.0, 5.0)
    assert str(raised.value) == ("a tail needs an ambient bed to play: choose one with"
                                 " --ambient (brown, pink or waves)")
    assert parse_bed("none", 0.0, 0.0) is None
