"""A routine's ``[pronounce]`` table: speech says the respelling, captions keep the word.

Checked for both engines for real: espeak-ng (through pyttsx3) is deterministic, so its
clip must equal a render of the respelled text; Piper is not, so its clip must be the
one cached under the respelled text's key (what the engine was handed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from voice_coach.cache import ClipCache
from voice_coach.cli import cli
from voice_coach.engines.piper_engine import PiperFactory
from voice_coach.engines.pyttsx3_engine import open_engine
from voice_coach.engines.registry import NAMES as ENGINES
from voice_coach.pcm import Samples
from voice_coach.routine import RoutineError, parse_routine, speak_as
from voice_coach.routine_model import Pronunciation
from voice_coach.session import SessionOptions, build_session
from voice_coach.speech import SpeechSettings, clip_key

pytestmark = [pytest.mark.one_python, pytest.mark.waiting]

HEAD = 'id = "lex"\ntitle = "Lexicon"\nminutes = 1\n[[steps]]\nsay = "Rest your psoas."\n'
LEXICON = HEAD + """
[pronounce]
psoas = "sowus"
iliacus = { say = "ill eye a cuss", piper = "ɪlˈaɪəkəs" }
"4-7-8" = "four seven eight"
"""
LINE = "Rest your Psoas and iliacus; not the psoas-like iliacuses. The 4-7-8 breath."


def lexicon() -> tuple[Pronunciation, ...]:
    return parse_routine(LEXICON, source="lex.toml").pronounce


def test_the_table_is_read_in_order() -> None:
    assert lexicon() == (
        Pronunciation("psoas", say="sowus"),
        Pronunciation("iliacus", say="ill eye a cuss", phonemes=(("piper", "ɪlˈaɪəkəs"),)),
        Pronunciation("4-7-8", say="four seven eight"))


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_of_the_registry_takes_phonemes_that_only_it_is_given(engine: str) -> None:
    table = parse_routine(HEAD + f'[pronounce]\nw = {{ {engine} = "wuh" }}\n',
                          source="lex.toml").pronounce
    assert {other: speak_as("a w b", table, other) for other in ENGINES} == {
        other: "a [[wuh]] b" if other == engine else "a w b" for other in ENGINES}


@pytest.mark.parametrize(("engine", "spoken"), [
    ("pyttsx3", "Rest your sowus and ill eye a cuss; not the psoas-like iliacuses."
                " The four seven eight breath."),
    ("piper", "Rest your sowus and [[ɪlˈaɪəkəs]]; not the psoas-like iliacuses."
              " The four seven eight breath."),
])
def test_whole_words_in_any_case_are_replaced_for_each_engine(engine: str, spoken: str) -> None:
    assert speak_as(LINE, lexicon(), engine) == spoken
    assert speak_as(LINE, (), engine) == LINE


@pytest.mark.parametrize(("table", "error"), [
    ('"two words" = "x"', 'lex.toml: pronounce."two words": expected one word (letters and'
                          " digits, joined by ' or -), got 'two words'"),
    ("w = 3", "lex.toml: pronounce.w: expected a respelling or a table of say, pyttsx3,"
              " piper, got 3"),
    ('w = ""', "lex.toml: pronounce.w: expected some text, got an empty string"),
    ('w = "[[wQ]]"', "lex.toml: pronounce.w: expected plain words of at most 200 characters,"
                     " without brackets or braces, got '[[wQ]]'"),
    ("w = {}", "lex.toml: pronounce.w: expected say or an engine's phonemes (pyttsx3, piper)"),
    ('w = { festival = "x" }', "lex.toml: pronounce.w.festival: unknown key; expected one of"
                               " piper, pyttsx3, say"),
    ('w = { piper = "a]]b" }', "lex.toml: pronounce.w.piper: expected the engine's phonemes"
                               " (at most 200 characters, without brackets or braces),"
                               " got 'a]]b'"),
    ('w = { say = 1 }', "lex.toml: pronounce.w.say: expected a string, got 1"),
])
def test_a_bad_entry_is_one_line_naming_its_key(table: str, error: str) -> None:
    with pytest.raises(RoutineError) as raised:
        parse_routine(HEAD + "[pronounce]\n" + table + "\n", source="lex.toml")
    assert str(raised.value) == error


def test_plan_shows_what_each_engine_is_given(tmp_path: Path) -> None:
    path = tmp_path / "lex.toml"
    path.write_text(LEXICON)
    result = CliRunner().invoke(cli, ["plan", str(path), "--engine", "piper"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1:4] == [
        "pronounce: psoas -> sowus (piper; captions keep psoas)",
        "pronounce: iliacus -> [[ɪlˈaɪəkəs]] (piper; captions keep iliacus)",
        "pronounce: 4-7-8 -> four seven eight (piper; captions keep 4-7-8)"]


def session_line(tmp_path: Path, factory: Any) -> Samples:
    """The clip the session plays for ``LINE`` (as rendered, before the mixer's levels),
    checking on the way that the timeline, and so the captions, keep the written words."""
    routine = parse_routine(LEXICON.replace("Rest your psoas.", LINE), source="lex.toml")
    session = build_session(routine, SessionOptions(), factory, ClipCache(tmp_path / "clips"))
    assert LINE in session.timeline.speech_texts()
    return session.clips.speech[LINE]


def test_captions_keep_the_written_words(tmp_path: Path) -> None:
    routine = tmp_path / "lex.toml"
    routine.write_text(LEXICON.replace("Rest your psoas.", LINE))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(routine), "-o", str(out), "-q"],
                                catch_exceptions=False)
    assert (result.exit_code, result.output) == (0, "")
    assert LINE in (out / "session.vtt").read_text(encoding="utf-8")


@pytest.mark.engine
def test_espeak_says_the_respelling(tmp_path: Path) -> None:
    played = session_line(tmp_path, open_engine)
    engine = open_engine()
    try:
        expected = engine.render_many([speak_as(LINE, lexicon(), "pyttsx3")],
                                      SpeechSettings())[0]
    finally:
        engine.close()
    assert np.array_equal(played, expected)


@pytest.mark.neural
def test_piper_is_handed_the_respelling_and_its_phonemes(tmp_path: Path) -> None:
    factory = PiperFactory()
    played = session_line(tmp_path, factory)
    key = clip_key(speak_as(LINE, lexicon(), "piper"), SpeechSettings(), factory)
    cached = ClipCache(tmp_path / "clips").get(key)
    assert cached is not None
    assert np.array_equal(played, cached)
