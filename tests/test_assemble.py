"""The session assembled from settings: literal values in, the options a session is made
of out (no engine, no sound)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_coach import assemble
from voice_coach.ambient import BedSpec
from voice_coach.language import default_voice
from voice_coach.plan import PlanSettings
from voice_coach.routine import load_builtin, parse_pace
from voice_coach.session import SessionOptions
from voice_coach.speech import SpeechSettings

SETTINGS = {"minutes": 10.0, "breath": "4:6", "breath_to": parse_pace("5:7"),
            "caution": False, "rate": 130, "voice": None, "volume": 0.5,
            "chime_volume": 1.5, "ambient": "brown", "ambient_volume": -3.0, "tail": 1.0}


def test_options_take_each_setting_and_parse_a_pace_given_as_text() -> None:
    cue = Path("/usr/share/sounds/bell.wav")
    options = assemble.session_options(SETTINGS, load_builtin("box-breathing"),
                                       (("inhale", cue), ("hold", None)))
    assert options == SessionOptions(
        plan=PlanSettings(minutes=10.0, pace=parse_pace("4:6"), caution=False,
                          pace_to=parse_pace("5:7")),
        speech=SpeechSettings(rate_wpm=130, voice=None), volume=0.5, chime_volume=1.5,
        cue_overrides={"inhale": cue, "hold": None},
        ambient=BedSpec("brown", volume_db=-3.0, tail_s=60.0))


def test_the_voice_speaks_the_routines_language_unless_one_is_chosen() -> None:
    german = load_builtin("box-breathing", lang="de")
    assert assemble.session_options(SETTINGS, german).speech.voice == default_voice("de")
    assert default_voice("de") is not None
    chosen = {**SETTINGS, "voice": "roa/fr"}
    assert assemble.session_options(chosen, german).speech.voice == "roa/fr"


def test_the_settings_a_play_leaves_out_are_the_defaults() -> None:
    bare = {"minutes": None, "breath": None, "breath_to": None, "caution": True,
            "rate": 140}
    options = assemble.session_options(bare, load_builtin("psoas-release"))
    assert (options.volume, options.chime_volume, options.ambient) == (1.0, 1.0, None)
    assert options.plan == PlanSettings()


@pytest.mark.parametrize(("given", "routine", "cues", "message"), [
    ({"rate": 120}, None, (), "leave out --rate"),
    ({"breath_to": "5:5"}, "box-breathing", (), "leave out a routine, --breath-to"),
    ({}, None, (("inhale", None),), "leave out --cue"),
])
def test_a_resume_refuses_anything_that_changes_the_session(
        given: dict[str, object], routine: str | None,
        cues: assemble.Cues, message: str) -> None:
    from voice_coach.playing import to_resume
    from voice_coach.resume import ResumeError

    with pytest.raises(ResumeError) as raised:
        to_resume(routine, cues, given, {})
    assert str(raised.value) == f"--resume plays the stopped session as it was; {message}"
