"""Every translated routine with the real espeak-ng engine and its language's voice, and
the export a person would play in each language: balanced, unclipped, captioned."""

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
from voice_coach.engines.pyttsx3_engine import open_engine
from voice_coach.language import PLAN_WORDS, default_voice
from voice_coach.routine import builtin_ids, load_builtin
from voice_coach.session import Session, SessionOptions, build_session
from voice_coach.speech import SpeechSettings

pytestmark = pytest.mark.engine

TRANSLATED = ("de", "fr", "es")
RATE = 22050


@pytest.fixture(scope="session")
def sessions(tmp_path_factory) -> dict[tuple[str, str], Session]:
    """Every built-in routine in every translation, rendered once."""
    cache = ClipCache(tmp_path_factory.mktemp("lang-cache"))
    return {
        (routine_id, lang): build_session(
            load_builtin(routine_id, lang),
            SessionOptions(speech=SpeechSettings(voice=default_voice(lang))), open_engine, cache)
        for routine_id in builtin_ids() for lang in TRANSLATED
    }


@pytest.mark.parametrize("routine_id", ["box-breathing", "four-seven-eight", "psoas-release",
                                        "resonance"])
@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_translation_renders_and_fills_its_session(sessions, routine_id, lang):
    session = sessions[(routine_id, lang)]
    routine = load_builtin(routine_id, lang)
    timeline = session.timeline
    if routine_id != "four-seven-eight":  # the one routine of fixed length
        assert timeline.duration == round(routine.minutes * 60 * RATE)
    spoken = [e for e in timeline.events if e.kind == "speech"]
    assert spoken[-1].text == PLAN_WORDS[lang].session_complete
    for event in spoken:
        clip = session.clips.speech[event.text]
        assert len(clip) == event.end - event.start
        assert len(clip) / RATE > 0.3 and active_rms_db(np.asarray(clip)) > -30, event.text


@pytest.mark.parametrize("lang", TRANSLATED)
def test_each_language_is_spoken_by_its_own_voice(sessions, lang):
    text = PLAN_WORDS[lang].session_complete
    clip = np.asarray(sessions[("box-breathing", lang)].clips.speech[text])
    engine = open_engine()
    try:
        own, = engine.render_many([text], SpeechSettings(voice=lang))
        english, = engine.render_many([text], SpeechSettings())
    finally:
        engine.close()
    assert np.array_equal(clip, np.asarray(own))
    assert not np.array_equal(clip[:len(english)], np.asarray(english)[:len(clip)])


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """psoas-release exported by the command line in each language, as a person would."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path_factory.mktemp("export-cache")))
    found = {}
    for lang in ("en", *TRANSLATED):
        out = tmp_path_factory.mktemp(f"psoas-{lang}")
        result = subprocess.run(
            [sys.executable, "-m", "voice_coach", "export", "psoas-release", "--minutes", "5",
             "--lang", lang, "-q", "-o", str(out)],
            capture_output=True, text=True, env=env, timeout=180)
        assert result.returncode == 0, result.stderr
        found[lang] = (out, json.loads((out / "timeline.json").read_text(encoding="utf-8")))
    return found


def levels(out: Path, timeline: dict) -> tuple[int, float, float]:
    """Peak, voice and chime levels of an exported session."""
    session = read_wav(out / "session.wav").astype(np.int32)
    voice = np.concatenate([session[e["start_sample"]:e["end_sample"]]
                            for e in timeline["events"] if e["kind"] == "speech"])
    chimes = np.concatenate([session[e["start_sample"]:e["end_sample"]]
                             for e in timeline["events"] if e["kind"] == "cue"])
    return int(np.abs(session).max()), active_rms_db(voice), active_rms_db(chimes)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_export_in_each_language_is_balanced_and_unclipped(exports, lang):
    out, timeline = exports[lang]
    peak, voice_db, chime_db = levels(out, timeline)
    assert peak < 32767
    assert abs(voice_db - chime_db) <= 3.0, (voice_db, chime_db)
    _, english_voice_db, _ = levels(*exports["en"])
    assert abs(voice_db - english_voice_db) <= 3.0, (voice_db, english_voice_db)
    sox = subprocess.run(["sox", str(out / "session.wav"), "-n", "stat"], capture_output=True,
                         text=True, check=True).stderr
    assert float(re.search(r"Maximum amplitude:\s+([\d.]+)", sox).group(1)) < 1.0
    assert float(re.search(r"Minimum amplitude:\s+(-?[\d.]+)", sox).group(1)) > -1.0
    assert timeline["duration_samples"] == 5 * 60 * RATE


@pytest.mark.parametrize("lang", TRANSLATED)
def test_export_captions_and_timeline_are_in_the_language(exports, lang):
    out, timeline = exports[lang]
    routine = load_builtin("psoas-release", lang)
    spoken = [e["text"] for e in timeline["events"] if e["kind"] == "speech"]
    assert spoken[0] == routine.caution
    assert spoken[-1] == PLAN_WORDS[lang].session_complete
    captions = (out / "session.vtt").read_text(encoding="utf-8")
    for text in spoken:
        assert f"\n{text}\n" in captions
    assert timeline["steps"][0]["label"] == PLAN_WORDS[lang].starting
    english = {e["text"] for e in exports["en"][1]["events"] if e["kind"] == "speech"}
    assert not english & set(spoken)
