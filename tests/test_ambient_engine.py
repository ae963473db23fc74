"""Ambient beds on real sessions: espeak-ng speaks, ``export`` writes, ffmpeg's ebur128 and
the project's meter measure. The bed keeps the session's loudness and peak promises, sits
more than 20 dB under the voice, and changes nothing when it is ``none``."""

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
from voice_coach import ambient
from voice_coach.loudness import TARGET_LUFS, integrated_lufs

pytestmark = pytest.mark.engine

RATE = 22050


def export(out: Path, cache: Path, *args: str, env: dict[str, str] | None = None,
           ) -> tuple[np.ndarray, dict]:
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "voice_coach", "export", *args, "-q",
                           "-o", str(out)], capture_output=True, text=True,
                          env=environment, timeout=300)
    assert (done.returncode, done.stderr) == (0, "")
    return read_wav(out / "session.wav"), json.loads((out / "timeline.json").read_text())


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def plain(tmp_path_factory, cache) -> Path:
    out = tmp_path_factory.mktemp("plain") / "out"
    export(out, cache, "box-breathing")
    return out


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("how", [("--ambient", "none"), ("--ambient", "None")])
def test_no_bed_changes_nothing(tmp_path, cache, plain, how):
    """``none`` (the default), from the option or the environment, writes every file byte
    for byte as a session without the option."""
    export(tmp_path / "option", cache, "box-breathing", *how)
    export(tmp_path / "env", cache, "box-breathing", env={"VOICE_COACH_AMBIENT": how[1]})
    assert files_of(tmp_path / "option") == files_of(plain)
    assert files_of(tmp_path / "env") == files_of(plain)


def speech_free_stretches(timeline: dict, span: dict) -> list[tuple[int, int]]:
    """Silences of at least 2 s where the bed plays at full level."""
    full, out = round(span["full_s"] * RATE), round(span["fade_out_s"] * RATE)
    return [(max(e["start_sample"], full), min(e["end_sample"], out))
            for e in timeline["events"] if e["kind"] == "silence"
            and min(e["end_sample"], out) - max(e["start_sample"], full) >= 2 * RATE]


@pytest.mark.parametrize("name", ambient.BED_NAMES)
def test_a_bed_keeps_the_session_loudness_and_sits_20_db_under_the_voice(
        tmp_path, cache, plain, name):
    session, timeline = export(tmp_path / "out", cache, "box-breathing", "--ambient", name)
    reading = ebur128(tmp_path / "out" / "session.wav")
    assert abs(reading.integrated_lufs - TARGET_LUFS) <= 1.0, reading
    assert reading.true_peak_dbtp <= -1.0, reading
    span = timeline["ambient"]
    closing = len(timeline["steps"]) - 1
    assert span["bed"] == name
    assert span["fade_out_sample"] == next(e["start_sample"] for e in timeline["events"]
                                           if e["step"] == closing)
    # the gap: the voice over its lines against the bed alone over its speech-free stretches
    speech = np.concatenate([session[e["start_sample"]:e["end_sample"]]
                             for e in timeline["events"] if e["kind"] == "speech"])
    quiet = speech_free_stretches(timeline, span)
    assert len(quiet) >= 5
    bed_alone = np.concatenate([session[a:b] for a, b in quiet])
    gap = integrated_lufs(speech, RATE) - integrated_lufs(bed_alone, RATE)
    assert gap >= 20.0, gap
    # ffmpeg agrees on the bed's level over the longest stretch
    a, b = max(quiet, key=lambda s: s[1] - s[0])
    alone = ebur128(tmp_path / "out" / "session.wav", start_s=a / RATE, duration_s=(b - a) / RATE)
    assert alone.integrated_lufs <= TARGET_LUFS - 20.0, alone
    # the narration clips carry no bed; once the bed has died away under the end chime,
    # the session is as without
    assert files_of(tmp_path / "out" / "narration") == files_of(plain / "narration")
    end = span["end_sample"]
    assert np.array_equal(session[end:], read_wav(plain / "session.wav")[end:])


@pytest.mark.parametrize("name", ["brown", "waves"])
def test_the_loudest_bed_keeps_the_promises_on_the_quietest_sessions(tmp_path, cache, name):
    """At the top of --ambient-volume, on 4-7-8 and box breathing, whose silences are the
    longest: the bed stays under BS.1770's relative gate, the sum's peaks under the
    ceiling."""
    top = f"{ambient.MAX_VOLUME_DB:g}"
    for routine in ("four-seven-eight", "box-breathing"):
        export(tmp_path / routine, cache, routine, "--ambient", name, "--ambient-volume", top)
        reading = ebur128(tmp_path / routine / "session.wav")
        assert abs(reading.integrated_lufs - TARGET_LUFS) <= 1.0, (routine, reading)
        assert reading.true_peak_dbtp <= -1.0, (routine, reading)


def test_captions_chapters_and_timeline_list_the_bed(tmp_path, cache):
    _, timeline = export(tmp_path / "out", cache, "box-breathing", "--ambient", "pink",
                         "--ambient-volume", "-3")
    span = timeline["ambient"]
    closing = timeline["steps"][-1]["start_s"]
    assert span == {"bed": "pink", "volume_db": -3.0, "level_lufs": -44.0, "start_s": 0.0,
                    "full_s": 10.0, "fade_out_s": closing,
                    "fade_out_sample": round(closing * RATE), "end_s": closing + 3.0,
                    "end_sample": round(closing * RATE) + 3 * RATE, "tail_s": 0.0}
    line = (f"ambient: pink at -44 LUFS (-3 dB), in over 0:00-0:10,"
            f" out over {ambient.minutes_seconds(span['fade_out_s'])}"
            f"-{ambient.minutes_seconds(span['end_s'])}")
    vtt = (tmp_path / "out" / "session.vtt").read_text()
    assert vtt.startswith(f"WEBVTT\n\nNOTE {line}\n\n1\n")
    chapters = json.loads((tmp_path / "out" / "session.chapters.json").read_text())["chapters"]
    assert chapters[0] == {"startTime": 0.0, "endTime": timeline["duration_s"], "title": line,
                           "toc": False}
    assert [c["title"] for c in chapters[1:]] == [s["label"] for s in timeline["steps"]]


def test_a_tail_plays_the_bed_on_after_the_end_and_fades_over_its_last_minute(
        tmp_path, cache):
    _, plain = export(tmp_path / "plain", cache, "four-seven-eight")
    session, timeline = export(tmp_path / "tail", cache, "four-seven-eight", "--ambient",
                               "brown", "--tail", "2")
    end, tail = plain["duration_samples"], 120 * RATE
    assert timeline["duration_samples"] == end + tail
    assert timeline["steps"][-1] == {"step": len(plain["steps"]), "start_s": round(end / RATE, 6),
                                     "label": "Tail, 2 min"}
    assert timeline["events"][-1] == {
        "start_s": round(end / RATE, 6), "end_s": round((end + tail) / RATE, 6),
        "start_sample": end, "end_sample": end + tail, "kind": "silence",
        "step": len(plain["steps"])}
    assert timeline["ambient"]["fade_out_sample"] == end + tail - 60 * RATE
    # the bed at full level through the closing and the tail's first minute, then away
    def rms(a: int, b: int) -> float:
        return float(np.sqrt(np.mean(session[a:b].astype(float) ** 2)))

    second = [rms(i, i + RATE) for i in range(end, end + tail, RATE)]
    full = np.median(second[:60])
    assert all(0.7 * full < level < 1.4 * full for level in second[:60])
    assert 0.7 * full < rms(end - RATE, end) < 1.4 * full  # the closing's last silence
    assert second[-1] < 0.02 * full and second[-30] < 0.6 * full
    assert session[-1] == 0
    reading = ebur128(tmp_path / "tail" / "session.wav")
    assert abs(reading.integrated_lufs - TARGET_LUFS) <= 1.0, reading
    chapters = json.loads((tmp_path / "tail" / "session.chapters.json").read_text())
    assert chapters["chapters"][-1] == {"startTime": round(end / RATE, 3),
                                        "endTime": round((end + tail) / RATE, 3),
                                        "title": "Tail, 2 min"}
    assert "a 2-minute tail" in (tmp_path / "tail" / "session.vtt").read_text()
