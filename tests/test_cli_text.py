"""What the commands print, built without Click: literal values in, exact lines out."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from voice_coach.assemble import check_file
from voice_coach.cli import text
from voice_coach.config import ConfigError, ConfigFile
from voice_coach.doctor import Check
from voice_coach.loudness import Leveled
from voice_coach.routine import RoutineError, load_builtin
from voice_coach.routine_model import Pronunciation
from voice_coach.session import SessionOptions, estimate_timeline
from voice_coach.template import write_template

PSOAS_LINE = ("psoas-release       7:00  Psoas release - Gentle pressure along the psoas, with"
              " slow breaths, to ease a tight lower back.  [de en es fr]")
CONFIG = Path("/home/me/.config/voice-coach/config.toml")


def _leveled(reduction_db: float) -> Leveled:
    return Leveled(np.zeros(10, dtype=np.int16), gain_db=0.0, reduction_db=reduction_db)


def test_levels_say_how_many_clips_the_limiter_touched_and_the_most_it_took() -> None:
    leveled = [_leveled(0.0), _leveled(0.05), _leveled(1.23), _leveled(3.04)]
    assert text.describe_levels(leveled) == (
        "Levels: 4 clips at -19 LUFS; the limiter took up to 3.0 dB off the peaks of 2")
    assert text.describe_levels([_leveled(0.0)]) == (
        "Levels: 1 clips at -19 LUFS; no peak needed limiting")


def test_a_routine_line_has_id_length_title_summary_and_languages() -> None:
    psoas = load_builtin("psoas-release")
    assert text.routine_line(psoas, 420.0) == PSOAS_LINE
    assert text.routine_line(psoas, 420.0, yours=True) == PSOAS_LINE + " (yours)"
    assert text.broken_routine_line("mine", RoutineError("mine.toml: steps[2]: no text")) == (
        "mine                  ?  (yours, invalid: mine.toml: steps[2]: no text)")


def test_the_plan_is_headed_in_the_routines_language_with_how_lengths_were_found() -> None:
    psoas = load_builtin("psoas-release")
    timeline = estimate_timeline(psoas, SessionOptions())
    assert text.plan_head(psoas, timeline, 140, rendered=False) == (
        "Psoas release (psoas-release): 7:00 with speech estimated at 140 words per minute")
    assert text.plan_head(psoas, timeline, 120, rendered=True) == (
        "Psoas release (psoas-release): 7:00 with speech rendered at 120 words per minute")


def test_check_summarises_a_new_template(tmp_path: Path) -> None:
    written = write_template("my-routine", tmp_path, force=False)
    loaded, timeline = check_file(written, 140)
    assert text.check_line(Path("my-routine.toml"), loaded, timeline, 140) == (
        "my-routine.toml: ok - My routine (my-routine), about 6:00 at 140 words per minute:"
        " 13 steps, 12 spoken lines, 57 chimes; languages: en")


def test_doctor_shows_a_fix_only_under_a_failed_check() -> None:
    checks = [Check("speech engine", True, "pyttsx3 2.99", fix="never shown"),
              Check("sound output", False, "no device", fix="plug in headphones"),
              Check("media keys", False, "no session bus")]
    assert list(text.doctor_lines(checks)) == [
        "ok    speech engine: pyttsx3 2.99",
        "FAIL  sound output: no device",
        "      fix: plug in headphones",
        "FAIL  media keys: no session bus",
    ]


def test_export_and_resume_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    assert text.export_head(28, Path("psoas"), 420.4) == "Wrote 28 files to psoas (7:00 session)"
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        line = text.resuming_line("Box breathing", "Round 2",
                                  datetime(2026, 12, 5, 7, 30, tzinfo=UTC))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line == ('Resuming Box breathing at "Round 2", where the session of'
                    " 2026-12-05 08:30 stopped.")


def test_config_lists_each_setting_with_its_source_and_the_problems_apart() -> None:
    found = ConfigFile({"minutes": 10}, problems=("rate: expected a whole number, got 'fast'",),
                       written={"minutes": 10, "rate": "fast"})
    environ = {"VOICE_COACH_ENGINE": "piper", "VOICE_COACH_VOLUME": "loud",
               "LANG": "de_DE.UTF-8"}
    lines, problems = text.config_listing(found, None, environ, CONFIG, path_exists=False)
    assert lines == [
        "ambient       none               default",
        "ambient_volume 0                  default",
        "breath        (the routine's)    default",
        "breath_to     (the routine's)    default",
        "caution       true               default",
        "chime_volume  1                  default",
        "device        (the system's)     default",
        "engine        piper              VOICE_COACH_ENGINE",
        "history       true               default",
        "lang          de                 locale (LANG=de_DE.UTF-8), when the routine has it",
        "media_keys    true               default",
        "minutes       10                 config file",
        "rate          (invalid)          config file",
        "routine       psoas-release      default",
        "tail          0                  default",
        "voice         (the language's)   default",
        "volume        (invalid)          VOICE_COACH_VOLUME",
        f"settings file: {CONFIG} (not created yet)",
    ]
    assert problems == [
        "rate: expected a whole number, got 'fast'"
        " (repair: voice-coach config set rate VALUE, or unset rate)",
        "VOICE_COACH_VOLUME: expected a number from 0 to 1, got 'loud'",
    ]


def test_config_shows_an_unusable_file_value_as_invalid_unless_the_environment_wins() -> None:
    """A setting left unset shows what stands in for it ("(the routine's)"); one whose file
    value cannot be used shows "(invalid)", whatever it would show unset."""
    found = ConfigFile({}, problems=("breath: bad", "lang: bad", "rate: bad"),
                       written={"breath": "bad", "lang": 5, "rate": "fast"})
    lines, _ = text.config_listing(found, None, {"VOICE_COACH_RATE": "200"}, CONFIG,
                                   path_exists=True)
    assert [line for line in lines if line.split()[0] in ("breath", "lang", "rate")] == [
        "breath        (invalid)          config file",
        "lang          (invalid)          config file",
        "rate          200                VOICE_COACH_RATE",
    ]


def test_config_ignores_a_file_it_cannot_read_and_says_so() -> None:
    lines, problems = text.config_listing(ConfigFile({}), ConfigError("config.toml: not TOML"),
                                          {}, CONFIG, path_exists=True)
    assert lines[-1] == f"settings file: {CONFIG}"
    assert "lang          (the routine's)    default" in lines
    assert problems == ["config.toml: not TOML (the file is ignored here; fix it in an editor)"]


@pytest.mark.parametrize(("value", "shown"), [
    (True, "true"), (False, "false"), (130, "130"), (10.0, "10"), (0.5, "0.5"),
    ("brown", "brown"),
])
def test_a_setting_is_shown_as_the_file_spells_it(value: object, shown: str) -> None:
    assert text.setting_text(value) == shown


def test_pronounce_lines_say_what_each_engine_is_told_and_captions_keep() -> None:
    psoas = replace(load_builtin("psoas-release"), pronounce=(
        Pronunciation("psoas", say="sowus"),
        Pronunciation("iliacus", phonemes=(("piper", "ilaiakas"),))))
    assert list(text.pronounce_lines(psoas, "pyttsx3")) == [
        "pronounce: psoas -> sowus (pyttsx3; captions keep psoas)",
        "pronounce: iliacus -> iliacus (pyttsx3; captions keep iliacus)",
    ]
    assert list(text.pronounce_lines(psoas, "piper"))[1] == (
        "pronounce: iliacus -> [[ilaiakas]] (piper; captions keep iliacus)")
