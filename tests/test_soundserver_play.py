"""player through a real sound server, recorded in real time: spacing, lead-in, pause.

Each test writes a session array to ``tmp_path``, plays it in a child process through a
private PulseAudio null sink (``support.soundserver``) and finds it again in the recording.
The sink runs at the session format, so what was played comes back sample for sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from support.audio import locate, noise, onsets, runs
from support.pausing import pause_and_resume
from support.soundserver import SoundServer, run_python
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.plan import LEAD_IN_S

pytest_plugins = ["support.fixtures"]
pytestmark = [pytest.mark.sound, pytest.mark.timed]

MS = SAMPLE_RATE / 1000
BURST_PEAK = 20000


def burst() -> Samples:
    """A 60 ms 880 Hz ping at full strength from its first sample, dying away."""
    t = np.arange(round(0.060 * SAMPLE_RATE)) / SAMPLE_RATE
    wave = np.round(BURST_PEAK * np.cos(2 * np.pi * 880 * t) * np.exp(-t / 0.015))
    return wave.astype(np.int16)


def envelope(samples: Samples) -> npt.NDArray[np.int32]:
    """Peak of every millisecond."""
    frames = np.abs(samples.astype(np.int32))[: len(samples) // 22 * 22].reshape(-1, 22)
    peaks: npt.NDArray[np.int32] = frames.max(axis=1)
    return peaks


def play_in_child(server: SoundServer, session: Path, body: str) -> str:
    """Run ``body`` in a child with ``samples`` loaded and ``device``/``playback`` made."""
    code = f"""\
import json, time
import numpy as np
from voice_coach.playback import Playback
from voice_coach.player import SimpleaudioDevice
samples = np.load({str(session)!r})
device = SimpleaudioDevice()
playback = Playback(device)
def wait_s(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.002)
""" + body + "\ndevice.close()\n"
    child = run_python(code, server.env, timeout=120)
    assert (child.returncode, child.stderr) == (0, ""), child.stderr
    return child.stdout


@pytest.mark.one_python
def test_cues_keep_their_spacing_to_the_sample(sound_server: SoundServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    gaps = rng.integers(round(0.6 * SAMPLE_RATE), round(3.2 * SAMPLE_RATE), size=6)
    planned = np.concatenate([[0], np.cumsum(gaps)]) + round(LEAD_IN_S * SAMPLE_RATE)
    ping = burst()
    session = np.zeros(planned[-1] + SAMPLE_RATE, dtype=np.int16)
    for start in planned:
        session[start : start + len(ping)] = ping
    np.save(tmp_path / "session.npy", session)

    with sound_server.recording() as recording:
        play_in_child(sound_server, tmp_path / "session.npy", """
playback.play(samples)
while not playback.finished():
    time.sleep(0.01)
""")
    heard = onsets(recording.samples, threshold=BURST_PEAK // 10, min_gap=round(0.3 * SAMPLE_RATE))

    assert len(heard) == len(planned)
    error = (np.array(heard) - heard[0]) - (planned - planned[0])
    print(f"spacing error, ms: median {np.median(np.abs(error)) / MS:.3f},"
          f" max {np.abs(error).max() / MS:.3f}")
    assert np.abs(error).max() <= round(MS)
    first = recording.samples[heard[0] : heard[0] + len(ping)]
    assert np.abs(envelope(first) - envelope(ping)).max() <= 0.05 * BURST_PEAK


def test_pause_then_resume_continues_where_the_sound_stopped(
        sound_server: SoundServer, tmp_path: Path) -> None:
    session = noise(3.0, seed=11)

    play = pause_and_resume(sound_server, session, tmp_path)

    print(f"lead-in lost {play.first / MS:.1f} ms; stopped at {play.stopped}, resumed from"
          f" {play.paused_at} ({play.dropped / MS:.0f} ms dropped); resumed at {play.resumed}:"
          f" skipped {(play.resumed - play.stopped) / MS:.1f} ms; silent for"
          f" {play.silent / MS:.0f} ms")
    assert play.first <= 0.25 * LEAD_IN_S * SAMPLE_RATE
    assert 0.9 * SAMPLE_RATE <= play.stopped <= 1.5 * SAMPLE_RATE
    # The pause dropped what the server and ALSA held (about 0.35 s), not played it out...
    assert play.dropped >= 0.1 * SAMPLE_RATE
    # ...and the resume started from the first sample not heard, by the server's delay
    # figure: within 3.2 ms in 20 pauses (benchmark section 10), ~0-2 ms lost by a new stream.
    assert abs(play.resumed - play.stopped) <= 5 * MS
    assert 0 <= play.resumed - play.paused_at <= 3 * MS  # a new stream loses its first 0-2 ms
    assert play.ended == len(session)


def test_starting_while_playing_stops_the_first_play(
        sound_server: SoundServer, tmp_path: Path) -> None:
    before, after = noise(3.0, seed=21), noise(1.0, seed=22)
    np.save(tmp_path / "session.npy", np.concatenate([before, after]))

    with sound_server.recording() as recording:
        play_in_child(sound_server, tmp_path / "session.npy", f"""
device.start(samples, 0)
wait_s(0.5)
device.start(samples, {len(before)})
while device.is_playing():
    time.sleep(0.01)
""")
    pieces = runs(recording.samples, min_length=64)

    assert len(pieces) == 2
    (start1, end1), (start2, end2) = pieces
    assert locate(recording.samples[start1 : start1 + 64], before) is not None
    assert end1 - start1 < 1.0 * SAMPLE_RATE
    lost = locate(recording.samples[start2 : start2 + 64], after)
    assert lost is not None and lost <= 10 * MS
    assert np.array_equal(recording.samples[start2:end2], after[lost:])
