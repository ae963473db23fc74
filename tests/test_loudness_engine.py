"""The loudness a person hears, on real sessions: every built-in routine spoken by espeak-ng,
exported, and measured by ffmpeg's ebur128 meter (the reference), not by our own code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.audio import read_wav
from support.meter import ebur128
from voice_coach.loudness import TARGET_LUFS, integrated_lufs
from voice_coach.routine import builtin_ids

pytestmark = pytest.mark.engine

VOLUME_DB = 20 * np.log10(0.5)


def export(out: Path, cache: Path, *args: str) -> tuple[np.ndarray, dict]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-m", "voice_coach", "export", *args, "-q",
                           "-o", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert (done.returncode, done.stderr) == (0, "")
    return read_wav(out / "session.wav"), json.loads((out / "timeline.json").read_text())


def loudness_of(session: np.ndarray, timeline: dict, kind: str) -> float:
    """Integrated loudness of every event of one kind, end to end."""
    parts = [session[e["start_sample"]:e["end_sample"]] for e in timeline["events"]
             if e["kind"] == kind]
    return integrated_lufs(np.concatenate(parts), 22050)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("minutes", [None, "12"])
@pytest.mark.parametrize("routine", builtin_ids())
def test_every_routine_is_at_spoken_word_loudness(tmp_path, cache, routine, minutes):
    """-19 LUFS integrated +-1 LU, true peak at -1 dBTP at most, voice and chimes within
    3 dB of each other: at the routine's own length and at 12 minutes."""
    args = [routine] + (["--minutes", minutes] if minutes else [])
    session, timeline = export(tmp_path / "out", cache, *args)
    reading = ebur128(tmp_path / "out" / "session.wav")
    assert abs(reading.integrated_lufs - TARGET_LUFS) <= 1.0, reading
    assert reading.true_peak_dbtp <= -1.0, reading
    voice, chimes = loudness_of(session, timeline, "speech"), loudness_of(session, timeline, "cue")
    assert abs(voice - chimes) <= 3.0, (voice, chimes)


def test_volume_and_chime_volume_stay_relative_to_the_calibrated_levels(tmp_path, cache):
    """--volume 0.5 is the calibrated voice 6 dB down, chimes as they were; --chime-volume
    2 lifts the chimes (the limiter holds a peaky chime's rise to what fits under the
    ceiling); the true peak stays under -1 dBTP either way."""
    base, timeline = export(tmp_path / "base", cache, "box-breathing")
    quiet, _ = export(tmp_path / "quiet", cache, "box-breathing", "--volume", "0.5")
    loud, _ = export(tmp_path / "loud", cache, "box-breathing", "--chime-volume", "2")
    voice = loudness_of(base, timeline, "speech")
    chimes = loudness_of(base, timeline, "cue")
    assert loudness_of(quiet, timeline, "speech") == pytest.approx(voice + VOLUME_DB, abs=0.1)
    assert loudness_of(quiet, timeline, "cue") == pytest.approx(chimes, abs=0.01)
    assert loudness_of(loud, timeline, "speech") == pytest.approx(voice, abs=0.01)
    assert 3.0 <= loudness_of(loud, timeline, "cue") - chimes <= 6.1
    for name in ("quiet", "loud"):
        assert ebur128(tmp_path / name / "session.wav").true_peak_dbtp <= -1.0, name
