"""support/: the helpers tests and benchmarks share find what they claim to find.

A helper that judges sound wrongly would let a test pass or a benchmark report a number
without anything being right, so each is checked here on audio whose answer is known.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from support.audio import best_match, match_scores, noise, read_wav, write_wav
from support.processes import NoSoundError, first_sound_s
from support.soundserver import AlsaFile
from voice_coach.pcm import SAMPLE_RATE


def test_a_template_is_found_where_it_was_put_at_any_gain() -> None:
    template = noise(0.05, seed=1) // 2 * 2  # even, so that half of it is exact
    recording = np.zeros(SAMPLE_RATE, dtype=np.int16)
    recording[1234 : 1234 + len(template)] = template // 2

    scores = match_scores(recording, template)

    assert len(scores) == len(recording) - len(template) + 1
    assert int(np.argmax(scores)) == 1234
    assert scores[1234] == pytest.approx(1.0, abs=1e-9)
    silent = 1234 - len(template) + 1  # offsets whose window holds only zeros
    assert np.all(np.isfinite(scores)) and np.max(np.abs(scores[:silent])) < 1e-6
    assert best_match(recording, template, around=1300, radius=200) == (1234, pytest.approx(1.0))


def test_no_match_in_a_window_shorter_than_the_template() -> None:
    template = noise(0.05, seed=1)

    assert len(match_scores(template[:100], template)) == 0
    assert best_match(template[:100], template, around=40, radius=10) == (40, 0.0)


def test_read_wav_gives_back_what_write_wav_wrote(tmp_path: Path) -> None:
    samples = noise(0.2, seed=2)

    assert np.array_equal(read_wav(write_wav(tmp_path / "a.wav", samples)), samples)


def test_read_wav_refuses_another_format_and_a_cut_file(tmp_path: Path) -> None:
    stereo = write_wav(tmp_path / "stereo.wav", bytes(400), channels=2)
    with pytest.raises(AssertionError) as caught:
        read_wav(stereo)
    assert str(caught.value) == f"{stereo}: (channels, width, rate) (2, 2, 22050), not (1, 2, 22050)"

    cut = write_wav(tmp_path / "cut.wav", noise(0.1, seed=3))
    cut.write_bytes(cut.read_bytes()[:-10])
    with pytest.raises(AssertionError) as caught:
        read_wav(cut)
    assert str(caught.value) == f"{cut}: header says 2205 frames, holds 2200"


def test_first_sound_reports_a_command_that_ends_silent(tmp_path: Path) -> None:
    device = AlsaFile.in_folder(tmp_path)
    command = [sys.executable, "-c", "import sys; print('no device', file=sys.stderr); sys.exit(3)"]

    with pytest.raises(NoSoundError) as caught:
        first_sound_s(command, device.env, device.raw)

    assert str(caught.value) == f"{Path(sys.executable).name} exited with 3 before any sound: no device"


def test_first_sound_times_the_first_byte_on_the_device(tmp_path: Path) -> None:
    device = AlsaFile.in_folder(tmp_path)
    command = [sys.executable, "-c", "import time, sys; time.sleep(0.3);"
               f" open({str(device.raw)!r}, 'wb').write(b'x'); time.sleep(60)"]

    seconds = first_sound_s(command, device.env, device.raw)

    assert 0.3 <= seconds < 10


def test_silence_put_in_finds_silence_put_between_sounds_and_nothing_else() -> None:
    from support.audio import silence_put_in

    rng = np.random.default_rng(3)
    sound = rng.integers(-3000, 3000, 3000).astype(np.int16)
    sound[sound == 0] = 1
    gap = np.zeros(500, dtype=np.int16)
    expected = np.concatenate([sound[:1000], gap, sound[1000:]])
    held = np.concatenate([expected[:1000], np.zeros(700, np.int16), expected[1000:1600],
                           np.zeros(300, np.int16), expected[1600:], np.zeros(50, np.int16)])
    same = silence_put_in(expected, expected)
    assert (same.insertions, same.after_end, same.problem) == ([], 0, None)
    found = silence_put_in(held, expected)
    # The first joins the gap that was there: it is counted from the next sound.
    assert (found.insertions, found.after_end, found.problem) == (
        [(1500, 700), (1600, 300)], 50, None)
    changed = held.copy()
    changed[2500] += 1
    assert silence_put_in(changed, expected).problem == "a sound differs at 0.073 s"
    assert silence_put_in(held[:-100], expected).problem == "the end is missing"
    assert silence_put_in(np.concatenate([held, sound[:5]]), expected).problem == (
        "sound after the end")
    assert silence_put_in(held, expected, most=1).problem == "silence put in more than 1 times"


def test_holds_in_holds_a_play_to_silence_put_in_and_a_short_tail() -> None:
    from tests.test_play_e2e import TAIL_S, holds_in

    sound = np.arange(1, 2001, dtype=np.int16)
    held = np.concatenate([sound[:900], np.zeros(400, np.int16), sound[900:]])
    assert holds_in(held, sound) == [(900, 400)]
    with pytest.raises(AssertionError, match="a sound differs at"):
        holds_in(held[::-1].copy(), sound)
    with pytest.raises(AssertionError):
        holds_in(np.concatenate([sound, np.zeros(round(TAIL_S * 22050) + 1, np.int16)]), sound)
