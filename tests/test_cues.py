"""cues: the built-in chimes as documented, user files converted, failures named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import voice_coach
from support.audio import write_wav
from voice_coach.cues import CueError, builtin_cue_dir, load_cue, load_cues
from voice_coach.pcm import SAMPLE_RATE, Samples, encode_wav
from voice_coach.routine import CUE_ROLES, CueRole, CueSource, load_builtin, parse_routine

REPO = Path(__file__).resolve().parent.parent
MAKE_CUES = REPO / "scripts" / "make_cues.py"

LENGTHS: dict[CueRole, int] = {  # 1.2, 0.66, 0.66, 0.3, 0.8 and 3.0 s at 22050 Hz
    "start": 26460, "inhale": 14553, "exhale": 14553, "hold": 6615, "spot": 17640, "end": 66150,
}
PEAK_LIMIT = 32768 * 10 ** (-3 / 20)  # -3 dBFS


def floats(samples: Samples) -> npt.NDArray[np.float64]:
    return samples.astype(np.float64) / 32768


def envelope_10ms(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Centred 221-sample moving RMS, by cumulative sums."""
    padded = np.concatenate([np.zeros(110), x**2, np.zeros(110)])
    sums = np.cumsum(np.concatenate([np.zeros(1), padded]))
    result: npt.NDArray[np.float64] = np.sqrt(np.maximum(sums[221:] - sums[:-221], 0.0) / 221)
    return result


def active_rms_dbfs(samples: Samples) -> float:
    x = floats(samples)
    env = envelope_10ms(x)
    active = 20 * np.log10(np.maximum(env, 1e-12) / env.max()) >= -30
    return float(20 * np.log10(np.sqrt(np.mean(x[active] ** 2))))


def onsets_s(samples: Samples) -> list[float]:
    """Times where the 10 ms envelope jumps by 6 dB within 30 ms, at least 100 ms apart."""
    hop = 110  # 5 ms
    env = envelope_10ms(floats(samples))[::hop]
    level_db = 20 * np.log10(np.maximum(env, 1e-12) / env.max())
    found: list[float] = []
    for index in range(len(level_db)):
        rise = level_db[index] - level_db[max(0, index - 6):index + 1].min()
        if rise > 6 and level_db[index] > -30 and (
                not found or index * hop / SAMPLE_RATE - found[-1] > 0.1):
            found.append(index * hop / SAMPLE_RATE)
    return found


def dominant_hz(samples: Samples) -> float:
    x = floats(samples)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 1 << 15))
    return float(np.argmax(spectrum) * SAMPLE_RATE / (1 << 15))


def centroid_hz(samples: Samples) -> float:
    x = floats(samples)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return float((power * np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)).sum() / power.sum())


# --- Built-in cues --------------------------------------------------------------------


def test_builtin_folder_holds_every_cue() -> None:
    folder = builtin_cue_dir()
    package = Path(voice_coach.__file__).resolve().parent
    assert folder in (package / "audio_cues", package.parent / "audio_cues")
    assert sorted(p.name for p in folder.glob("*.wav")) == sorted(f"{r}.wav" for r in CUE_ROLES)


@pytest.mark.parametrize("role", CUE_ROLES)
def test_builtin_file_is_session_format(role: CueRole) -> None:
    with wave.open(str(builtin_cue_dir() / f"{role}.wav")) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                reader.getnframes()) == (1, 2, SAMPLE_RATE, LENGTHS[role])


@pytest.mark.parametrize("role", CUE_ROLES)
def test_builtin_cue_shape_and_level(role: CueRole) -> None:
    samples = load_cue(role)
    assert samples.dtype == np.int16
    assert samples.ndim == 1
    assert len(samples) == LENGTHS[role]
    assert (samples[0], samples[-1]) == (0, 0)
    assert np.abs(samples.astype(np.int32)).max() <= PEAK_LIMIT
    assert abs(active_rms_dbfs(samples) - -20.0) <= 0.5
    assert abs(samples.mean()) < 1.0  # no DC offset
    magnitude = np.abs(samples.astype(np.int32))
    one_ms = SAMPLE_RATE // 1000
    assert magnitude[:one_ms].max() < 0.05 * magnitude.max()  # soft attack, no click
    assert magnitude[-one_ms:].max() < 0.01 * magnitude.max()  # smooth release


@pytest.mark.parametrize("role", CUE_ROLES)
def test_builtin_cues_are_cached_and_read_only(role: CueRole) -> None:
    samples = load_cue(role)
    assert load_cue(role) is samples
    assert not samples.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        samples[0] = 1


@pytest.mark.parametrize(("role", "from_hz", "to_hz"), [("inhale", 440, 659), ("exhale", 659, 440)])
def test_breath_cues_glide_a_fifth(role: CueRole, from_hz: float, to_hz: float) -> None:
    samples = load_cue(role)
    quarter = len(samples) // 4
    first, last = samples[:quarter], samples[-quarter:]
    assert abs(dominant_hz(first) - from_hz) < 5
    assert abs(dominant_hz(last) - to_hz) < 5
    rising = centroid_hz(last) > 1.3 * centroid_hz(first)
    falling = centroid_hz(first) > 1.3 * centroid_hz(last)
    assert (rising, falling) == ((True, False) if role == "inhale" else (False, True))


@pytest.mark.parametrize(("role", "count"),
                         [("start", 1), ("inhale", 1), ("exhale", 1), ("hold", 1), ("spot", 2),
                          ("end", 1)])
def test_onsets(role: CueRole, count: int) -> None:
    found = onsets_s(load_cue(role))
    assert len(found) == count
    assert found[0] < 0.02
    if role == "spot":
        assert 0.18 <= found[1] <= 0.23


def test_cue_pitches_are_far_apart() -> None:
    pitch = {role: dominant_hz(load_cue(role)) for role in ("start", "hold", "spot", "end")}
    assert pitch["end"] < pitch["hold"] < pitch["start"] < pitch["spot"]
    assert [round(pitch[r]) for r in ("end", "hold", "start", "spot")] == [147, 196, 392, 880]


def test_make_cues_check_passes_on_the_committed_files() -> None:
    result = subprocess.run([sys.executable, str(MAKE_CUES), "--check"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")


def test_make_cues_check_finds_a_changed_file(tmp_path: Path) -> None:
    for role in CUE_ROLES:
        shutil.copy(builtin_cue_dir() / f"{role}.wav", tmp_path)
    changed = bytearray((tmp_path / "hold.wav").read_bytes())
    changed[1000] ^= 1
    (tmp_path / "hold.wav").write_bytes(changed)
    (tmp_path / "end.wav").unlink()
    result = subprocess.run([sys.executable, str(MAKE_CUES), "--check", "--out", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr == (f"{tmp_path}/hold.wav: differs from what make_cues.py generates\n"
                             f"{tmp_path}/end.wav: missing\n"
                             "run: python scripts/make_cues.py\n")


# --- User cues ------------------------------------------------------------------------


def test_none_is_an_empty_cue() -> None:
    samples = load_cue(None)
    assert samples.dtype == np.int16
    assert samples.shape == (0,)


def test_user_8_bit_cue(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "u8.wav", bytes([128, 192, 64, 255, 0]), 1, 1, SAMPLE_RATE)
    samples = load_cue(path)
    assert samples.tolist() == [0, 16384, -16384, 32512, -32768]
    assert not samples.flags.writeable


def test_user_96_khz_cue_is_resampled(tmp_path: Path) -> None:
    t = np.arange(96000) / 96000
    tone = np.rint(16000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    samples = load_cue(write_wav(tmp_path / "hi.wav", tone.tobytes(), 1, 2, 96000))
    assert len(samples) == 22050
    assert abs(dominant_hz(samples) - 440) < 1
    assert abs(np.abs(samples[1000:-1000].astype(np.int32)).max() - 16000) <= 30


def test_user_stereo_cue_is_averaged(tmp_path: Path) -> None:
    frames = np.array([1000, 3000, -500, 500, 7, 9], dtype="<i2").tobytes()
    path = write_wav(tmp_path / "stereo.wav", frames, 2, 2, SAMPLE_RATE)
    assert load_cue(path).tolist() == [2000, 0, 8]


def test_user_cue_named_by_a_string(tmp_path: Path) -> None:
    path = tmp_path / "mine.wav"
    path.write_bytes(encode_wav(np.array([3, -3], dtype=np.int16)))
    assert load_cue(str(path)).tolist() == [3, -3]


def test_cues_for_a_routine_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "gong.wav").write_bytes(encode_wav(np.array([5, 6, 7], dtype=np.int16)))
    routine = parse_routine('title = "T"\n[cues]\nhold = "none"\nspot = "gong.wav"\n'
                            '[[steps]]\nsay = "Hello."\n', source="t.toml", default_id="t",
                            base_dir=tmp_path)
    cues = load_cues(routine)
    assert list(cues) == list(CUE_ROLES)
    assert cues["hold"].shape == (0,)
    assert cues["spot"].tolist() == [5, 6, 7]
    assert cues["inhale"] is load_cue("inhale")
    overrides: dict[CueRole, CueSource] = {"hold": "hold", "spot": None, "end": "inhale"}
    changed = load_cues(routine, overrides)
    assert changed["hold"] is load_cue("hold")
    assert changed["spot"].shape == (0,)
    assert changed["end"] is load_cue("inhale")


def test_cues_for_a_builtin_routine() -> None:
    cues = load_cues(load_builtin("box-breathing"))
    assert {role: len(samples) for role, samples in cues.items()} == LENGTHS


# --- Failures -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.wav"
    with pytest.raises(CueError) as caught:
        load_cue(path)
    assert str(caught.value) == f"{path}: no such file"


def test_text_file_renamed_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("Breathe in slowly.\n", encoding="utf-8")
    with pytest.raises(CueError) as caught:
        load_cue(path)
    assert str(caught.value) == (f"{path}: not WAV or AIFF audio (starts with b'Brea');"
                                 " expected WAV or AIFF audio (PCM or float)")


def test_over_long_cue(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "long.wav", bytes(2 * 11 * SAMPLE_RATE), 1, 2, SAMPLE_RATE)
    with pytest.raises(CueError) as caught:
        load_cue(path)
    assert str(caught.value) == f"{path}: cue lasts 11.00 s; a cue may last at most 10 s"


def test_a_long_cue_at_a_low_rate_is_refused_before_it_is_resampled(tmp_path: Path) -> None:
    """Resampling an hour at 1 kHz took minutes; the header tells the length at once."""
    path = write_wav(tmp_path / "hour.wav", bytes(3600 * 1000), 1, 1, 1000)
    started = time.monotonic()
    with pytest.raises(CueError) as caught:
        load_cue(path)
    assert str(caught.value) == f"{path}: cue lasts 3600.00 s; a cue may last at most 10 s"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("frames", "rate"), [(10 * 1000, 1000), (10 * 44100, 44100),
                                              (441_001, 44100)])
def test_the_length_before_decoding_is_the_length_decoded(
        tmp_path: Path, frames: int, rate: int) -> None:
    """10.00002 s at 44.1 kHz is 220,500 samples at 22,050 Hz: allowed, as it always was."""
    path = write_wav(tmp_path / "edge.wav", bytes(2 * frames), 1, 2, rate)
    assert len(load_cue(path)) == round(frames * SAMPLE_RATE / rate) == 10 * SAMPLE_RATE


def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)
    with pytest.raises(CueError) as caught:
        load_cue(pipe)
    assert str(caught.value) == f"{pipe}: is a named pipe, not a sound file"


def test_ten_seconds_is_allowed(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "ten.wav", bytes(2 * 10 * SAMPLE_RATE), 1, 2, SAMPLE_RATE)
    assert len(load_cue(path)) == 10 * SAMPLE_RATE


def test_compressed_cue(tmp_path: Path) -> None:
    header = bytes.fromhex("52494646") + (36).to_bytes(4, "little") + b"WAVEfmt "
    fmt = (16).to_bytes(4, "little") + bytes.fromhex("0700 0100 401f0000 401f0000 0100 0800")
    path = tmp_path / "ulaw.wav"
    path.write_bytes(header + fmt + b"data" + (2).to_bytes(4, "little") + b"\xff\x7f")
    with pytest.raises(CueError) as caught:
        load_cue(path)
    assert str(caught.value) == (f"{path}: compressed WAV (format 0x0007, mu-law);"
                                 " expected uncompressed PCM or IEEE float")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CueError) as caught:
        load_cue(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a directory, not a sound file"


def test_unknown_builtin_name() -> None:
    with pytest.raises(CueError) as caught:
        load_cue("gong")
    assert str(caught.value) == ("unknown cue 'gong'; expected a built-in cue"
                                 " (end, exhale, hold, inhale, spot, start) or a .wav file")
