"""A bed from the person's own file: read as any user file is, resampled, looped with an
equal-power crossfade whose seam cannot be found in level or spectrum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from voice_coach import ambient
from voice_coach.ambient import AmbientError, BedSpec, parse_bed
from voice_coach.ambient_file import CROSSFADE_S, load_file_bed
from voice_coach.meter import gated_lufs

RATE = 22050


def noise_file(path: Path, seconds: float, rate: int = 44100, channels: int = 2,
               **kwargs: object) -> Path:
    """Pink-ish stereo noise, a little louder in its second half (a file is no loop)."""
    rng = np.random.default_rng(23)
    white = rng.standard_normal((round(seconds * rate) + 7, channels))
    soft = sum(white[i:len(white) - 7 + i] for i in range(8)) / 8  # a gentle low-pass
    soft *= 0.05 / soft.std()
    soft[len(soft) // 2:] *= 1.3
    soundfile.write(path, soft, rate, **kwargs)
    return path


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    loaded = load_file_bed(noise_file(tmp_path_factory.mktemp("bed") / "b.wav", 20.0), RATE)
    yield loaded
    loaded.close()


def test_the_file_is_resampled_to_the_session_rate(bed):
    assert bed.length == pytest.approx(20.0 * RATE, abs=2)
    assert bed.crossfade == CROSSFADE_S * RATE


@pytest.mark.parametrize("a, b, c", [
    (0, 1000, 50000), (300000, 16 * RATE + 5, 40 * RATE), (16 * RATE - 3, 16 * RATE, 17 * RATE),
    (RATE * 3600, RATE * 3601, RATE * 3700),
])
def test_any_range_of_the_loop_is_the_whole(bed, a, b, c):
    whole = bed.raw(a, c)
    assert len(whole) == c - a
    assert np.array_equal(np.concatenate([bed.raw(a, b), bed.raw(b, c)]), whole)


def levels_db(x: np.ndarray, window: int) -> np.ndarray:
    frames = x[: len(x) // window * window].reshape(-1, window)
    return 10 * np.log10(np.mean(frames ** 2, axis=1))


def spectra_db(x: np.ndarray, window: int) -> np.ndarray:
    frames = x[: len(x) // window * window].reshape(-1, window) * np.hanning(window)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    bands = np.add.reduceat(power, np.geomspace(4, window // 2, 16).astype(int), axis=1)
    return 10 * np.log10(bands)


def test_the_seam_has_no_step_in_level_or_spectrum(bed):
    """Across a seam (the loop's end faded into its start), the level and the spectrum of
    quarter-second windows move no more than they do elsewhere in the file."""
    period = bed.length - bed.crossfade
    window = RATE // 4
    seam = bed.raw(period - 2 * RATE, period + bed.crossfade + 2 * RATE)
    inside = bed.raw(RATE, period - RATE)
    step = np.abs(np.diff(levels_db(seam, window)))
    usual = np.abs(np.diff(levels_db(inside, window)))
    assert step.max() <= usual.max()
    spectral = np.abs(np.diff(spectra_db(seam, window), axis=0)).mean(axis=1)
    usual_spectral = np.abs(np.diff(spectra_db(inside, window), axis=0)).mean(axis=1)
    assert spectral.max() <= usual_spectral.max()


def test_a_file_bed_is_at_the_bed_level(bed):
    spec = BedSpec("file", 0.0, 0.0, bed)
    x = ambient.bed_samples(spec, RATE, 0, 60 * RATE)
    assert gated_lufs(x, RATE) == pytest.approx(ambient.BED_LUFS, abs=0.5)


@pytest.mark.parametrize("suffix, kwargs", [
    (".flac", {}), (".ogg", {"format": "OGG", "subtype": "VORBIS"}),
    (".mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
])
def test_every_format_soundfile_reads(tmp_path, suffix, kwargs):
    path = noise_file(tmp_path / f"b{suffix}", 10.0, rate=48000, **kwargs)
    loaded = load_file_bed(path, RATE)
    try:
        assert loaded.length == pytest.approx(10.0 * RATE, abs=0.1 * RATE)
        assert -40 < loaded.lufs < -20
    finally:
        loaded.close()


def play_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voice_coach", "plan", "four-seven-eight",
                           *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(cwd / "cache")})


def test_a_file_that_cannot_be_used_is_one_line_exit_2(tmp_path):
    (tmp_path / "garbage.wav").write_bytes(b"not audio at all" * 100)
    os.mkfifo(tmp_path / "pipe.wav")
    noise_file(tmp_path / "short.wav", 3.0)
    (tmp_path / "folder.wav").mkdir()
    expected = {
        "folder.wav": "Error: folder.wav: is a directory, not a sound file\n",
        "pipe.wav": "Error: pipe.wav: is a named pipe, not a sound file\n",
        "garbage.wav": "Error: garbage.wav: not a sound file soundfile can read (Format not"
                       " recognised.)\n",
        "short.wav": "Error: short.wav: a bed file must hold at least 8 s of sound\n",
    }
    for name, message in expected.items():
        done = play_cli("--ambient", name, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", message), name


def test_parse_bed_loads_a_path(tmp_path):
    path = noise_file(tmp_path / "b.wav", 10.0)
    spec = parse_bed(str(path), -3.0, 1.0)
    assert spec is not None and spec.name == "file" and spec.source is not None
    assert spec.source.path == path and spec.volume_db == -3.0 and spec.tail_s == 60.0
    with pytest.raises(AmbientError):
        parse_bed(str(path), 9.0)


def test_doctor_checks_a_configured_ambient_file(tmp_path):
    from voice_coach.doctor import check_ambient

    path = noise_file(tmp_path / "b.flac", 10.0)
    found = check_ambient(str(path))
    assert found.ok and found.name == "ambient bed"
    assert found.detail.startswith(f"{path} reads, 10 s at ")
    assert found.detail.endswith("LUFS, looped at -41 LUFS")
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    bad = check_ambient(str(tmp_path / "bad.wav"))
    assert not bad.ok
    assert bad.detail.startswith(f"{tmp_path / 'bad.wav'}: not a sound file soundfile can read")
    assert bad.fix == ("choose another with 'voice-coach config set ambient FILE' (or brown,"
                       " pink, waves), or 'config unset ambient'")
    assert check_ambient("waves").detail == "waves (built in)"
    assert check_ambient("none").detail == "none"
