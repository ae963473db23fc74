"""`voice-coach export` with the real espeak-ng engine: the files a person would play."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.audio import active_rms_db, read_wav
from voice_coach.cache import ClipCache
from voice_coach.cues import load_cue
from voice_coach.engines.pyttsx3_engine import open_engine
from voice_coach.loudness import TARGET_LUFS, level
from voice_coach.plan import PlanSettings
from voice_coach.routine import load_builtin
from voice_coach.session import SessionOptions, build_session
from voice_coach.speech import SpeechSettings

pytestmark = pytest.mark.engine

VTT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.+)")


def export(out: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    result = subprocess.run([sys.executable, "-m", "voice_coach", "export", *args, "-o", str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def psoas(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("psoas")
    export(out, "psoas-release", "--minutes", "5", cache=tmp_path_factory.mktemp("cache"))
    return out, json.loads((out / "timeline.json").read_text())


def test_session_length_equals_the_timeline_to_the_sample(psoas):
    out, timeline = psoas
    session = read_wav(out / "session.wav")
    assert len(session) == timeline["duration_samples"]
    assert round(len(session) / 22050, 6) == timeline["duration_s"]
    assert 4 * 60 < timeline["duration_s"] <= 5 * 60


def test_every_cue_starts_on_its_planned_sample(psoas):
    out, timeline = psoas
    session = read_wav(out / "session.wav")
    cues = [e for e in timeline["events"] if e["kind"] == "cue"]
    assert {e["cue"] for e in cues} == {"start", "inhale", "exhale", "spot", "end"}
    for event in cues:
        clip = level(load_cue(event["cue"]), 22050, TARGET_LUFS).samples  # as the mixer levels it
        start = event["start_sample"]
        assert np.array_equal(session[start:start + len(clip)], clip), event
        assert not session[start - 200:start].any(), "something sounds just before the cue"


def test_every_spoken_line_is_speech_in_its_slot_and_its_file(psoas):
    out, timeline = psoas
    session = read_wav(out / "session.wav")
    spoken = [e for e in timeline["events"] if e["kind"] == "speech"]
    files = sorted((out / "narration").iterdir())
    assert len(files) == len(spoken)
    for path, event in zip(files, spoken, strict=True):
        clip = read_wav(path)
        assert len(clip) == event["end_sample"] - event["start_sample"]
        assert np.array_equal(session[event["start_sample"]:event["end_sample"]], clip)
        assert len(clip) / 22050 > 0.4
        assert active_rms_db(clip) > -30, path.name  # speech, not silence or a click


def test_voice_and_chimes_are_balanced_and_nothing_clips(psoas):
    out, timeline = psoas
    session = read_wav(out / "session.wav").astype(np.int32)
    assert int(np.abs(session).max()) < 32767
    voice = np.concatenate([session[e["start_sample"]:e["end_sample"]]
                            for e in timeline["events"] if e["kind"] == "speech"])
    chimes = np.concatenate([session[e["start_sample"]:e["end_sample"]]
                             for e in timeline["events"] if e["kind"] == "cue"])
    difference = active_rms_db(voice) - active_rms_db(chimes)
    assert abs(difference) <= 3.0, difference


def test_captions_are_valid_webvtt_at_the_spoken_times(psoas):
    out, timeline = psoas
    text = (out / "session.vtt").read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n")
    blocks = text[len("WEBVTT\n\n"):].strip("\n").split("\n\n")
    spoken = [e for e in timeline["events"] if e["kind"] == "speech"]
    assert len(blocks) == len(spoken)
    for number, (block, event) in enumerate(zip(blocks, spoken, strict=True), start=1):
        match = VTT_CUE.fullmatch(block)
        assert match, block
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in match.groups()[1:9])
        assert int(match.group(1)) == number
        assert (h1 * 3600 + m1 * 60 + s1) * 1000 + ms1 == round(event["start_sample"] / 22.05)
        assert (h2 * 3600 + m2 * 60 + s2) * 1000 + ms2 == round(event["end_sample"] / 22.05)
        assert match.group(10) == event["text"]


def test_chapters_carry_the_steps_short_titles(psoas):
    """What a podcast app, a lock screen and a headset show: the titles written in the
    routine, never a whole first line (the caution was once a 200-character chapter)."""
    out, timeline = psoas
    document = json.loads((out / "session.chapters.json").read_text(encoding="utf-8"))
    spots = len(document["chapters"]) - 16  # as many as the rendered lines left room for
    assert 1 <= spots <= 3
    assert [chapter["title"] for chapter in document["chapters"]] == [
        "Starting", "Caution", "One tip first", "Lie down", "Find the line", "At the surface",
        "Sink deeper", "First spot", "Breathe into it", "3 breaths: in 4 s, out 6 s",
        "Explore more spots", *[f"{nth} spot" for nth in ("Second", "Third", "Fourth")][:spots],
        "Rest", "Sit up slowly", "Notice your back", "How long it lasts", "Session complete"]
    assert [step["label"] for step in timeline["steps"]] == [
        chapter["title"] for chapter in document["chapters"]]


def test_sox_reads_the_session(psoas):
    out, timeline = psoas
    stat = subprocess.run(["sox", str(out / "session.wav"), "-n", "stat"], capture_output=True,
                          text=True, check=True).stderr
    samples = int(re.search(r"Samples read:\s+(\d+)", stat).group(1))
    assert samples == timeline["duration_samples"]
    assert float(re.search(r"Maximum amplitude:\s+([\d.]+)", stat).group(1)) < 1.0


def test_rate_changes_how_fast_the_voice_speaks_not_the_session_length(tmp_path):
    slow, fast = tmp_path / "slow", tmp_path / "fast"
    export(slow, "psoas-release", "--rate", "120")
    export(fast, "psoas-release", "--rate", "240")
    for name in ("003-lie-down-on-your-back-on.wav", "001-a-word-of-care-before-we.wav"):
        ratio = len(read_wav(slow / "narration" / name)) / len(read_wav(fast / "narration" / name))
        assert ratio >= 1.5, (name, ratio)
    for folder in (slow, fast):
        duration = json.loads((folder / "timeline.json").read_text())["duration_s"]
        assert 6 * 60 < duration <= 7 * 60


def test_the_same_settings_give_the_same_audio_with_a_cold_cache(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    export(first, "box-breathing", "--rate", "170", cache=tmp_path / "cache-a")
    export(second, "box-breathing", "--rate", "170", cache=tmp_path / "cache-b")
    assert (first / "session.wav").read_bytes() == (second / "session.wav").read_bytes()


def test_a_second_session_renders_nothing(tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    export(out, "four-seven-eight", "--rate", "150", cache=cache)

    def no_engine():
        raise AssertionError("the engine was opened on a warm cache")

    options = SessionOptions(plan=PlanSettings(), speech=SpeechSettings(rate_wpm=150))
    # what the CLI passes: the engine's identity, and this factory that must not be called
    no_engine.name = open_engine.name  # type: ignore[attr-defined]
    no_engine.version = open_engine.version  # type: ignore[attr-defined]
    session = build_session(load_builtin("four-seven-eight"), options, no_engine,
                            ClipCache(cache / "voice-coach" / "clips"))
    exported = read_wav(out / "session.wav")
    assert np.array_equal(session.mixer().render(), exported)


NO_ENGINE_EXPORT = """
import sys
from voice_coach.engines import pyttsx3_engine

def refuse(*args, **kwargs):
    raise AssertionError("the engine was opened on a warm cache")

pyttsx3_engine.Pyttsx3Engine.__init__ = refuse
sys.argv[0] = "voice-coach"
from voice_coach.cli import main
main()
"""


def test_another_volume_on_a_warm_cache_renders_nothing_and_scales_the_voice(tmp_path):
    """Volume is a mixer gain, not part of what is rendered and cached: `export --volume 0.5`
    right after `export` opens no engine, its voice is the first export's halved and its
    chimes are the first export's (the chime volume is relative to the full voice)."""
    cache = tmp_path / "cache"
    full, half = tmp_path / "full", tmp_path / "half"
    export(full, "box-breathing", cache=cache)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    result = subprocess.run([sys.executable, "-c", NO_ENGINE_EXPORT, "export", "box-breathing",
                             "--volume", "0.5", "-q", "-o", str(half)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")

    timeline = json.loads((full / "timeline.json").read_text())
    assert json.loads((half / "timeline.json").read_text()) == timeline
    loud, quiet = read_wav(full / "session.wav"), read_wav(half / "session.wav")
    assert len(quiet) == len(loud) == timeline["duration_samples"]
    gains = {"speech": 0.5, "cue": 1.0, "silence": 1.0}
    for event in timeline["events"]:
        span = slice(event["start_sample"], event["end_sample"])
        expected = np.rint(loud[span].astype(np.float64) * gains[event["kind"]])
        assert np.array_equal(quiet[span], expected), event
    voice = [e for e in timeline["events"] if e["kind"] == "speech"]
    assert voice and all(np.abs(loud[e["start_sample"]:e["end_sample"]]).max() > 1000
                         for e in voice)
    narration = sorted(path.name for path in (full / "narration").iterdir())
    assert narration == sorted(path.name for path in (half / "narration").iterdir())
    for name in narration:
        expected = np.rint(read_wav(full / "narration" / name).astype(np.float64) * 0.5)
        assert np.array_equal(read_wav(half / "narration" / name), expected), name
