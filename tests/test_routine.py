"""Routine files: the built-ins, the format, and every malformed file's exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_coach.pace import DEFAULT_PACE, Pace, parse_pace
from voice_coach.routine import (
    Repeat,
    RoutineError,
    builtin_ids,
    load_builtin,
    load_file,
    parse_routine,
    resolve,
)
from voice_coach.routine_file import clean_text
from voice_coach.routine_model import Breathe, Say
from voice_coach.spoken import fill_placeholders, ordinal, spoken_seconds

HEAD = 'id = "t"\ntitle = "T"\n'
SEED = Path(__file__).resolve().parent / "data" / "psoas-release-source.txt"
"""The public technique text the psoas release follows (see tests/data/README.md)."""


def test_builtins_are_listed_and_load():
    assert builtin_ids() == ["box-breathing", "four-seven-eight", "psoas-release", "resonance"]
    for routine_id in builtin_ids():
        assert load_builtin(routine_id).id == routine_id


def test_psoas_follows_every_instruction_of_the_seed_in_order():
    """Each instruction of the source, in our words, in the source's order."""
    r = load_builtin("psoas-release")
    assert r.minutes == 7
    assert r.caution is not None
    for must in ("gentle pressure only", "sharp or shooting pain", "stop", "pregnant",
                 "surgery on your abdomen", "health professional"):
        assert must in r.caution
    spoken: list[str] = []
    for step in r.steps:
        if isinstance(step, Say):
            spoken.append(step.text)
        elif isinstance(step, Breathe):
            spoken.append(f"<{step.count} breaths> {step.exhale_prompt}")
        elif isinstance(step, Repeat):
            assert step.times is None and step.cue == "spot"
            spoken.extend(s.text if isinstance(s, Say) else f"<{s.count} breaths> {s.exhale_prompt}"
                          for s in step.steps)
    text = "\n".join(spoken)
    instructions = [
        "use the bathroom before you begin",            # the tip
        "pressure on your bladder",
        "Lie down on your back, on a bed or on the floor, and bend your knees",   # 1
        "from the front of your hip",                   # 2: where the psoas lies
        "toward your belly button",
        "begin at the surface",                         # 3: superficial first
        "pressing gently through your belly",           # 2: gentle pressure
        "sink slowly deeper",                           # 3: then deeper
        "feel tension under your fingers",              # 4
        "first spot",                                   # 5
        "hold a gentle, steady pressure",               # 5
        "take a couple of deep breaths, in and out",    # 6
        "<3 breaths> Each time you breathe out, sink a little deeper.",           # 7
        "For the next several minutes",                 # 9: for 5-10 minutes
        "explore other spots between your belly button and your hip",             # 8
        "Find a {nth} spot",                            # 8: new spot
        "<3 breaths> Breathe out, and sink a little deeper.",                     # 8: repeat
        "sit up slowly",                                # 10
        "Notice your lower back",                       # 10
        "hips may feel less tight",                     # 10
        "minutes, hours, or even days",                 # how long the relief lasts
        "why the muscle grew tight in the first place",  # the deeper question
        "the tension will return",
    ]
    position = 0
    for instruction in instructions:
        found = text.find(instruction, position)
        assert found >= 0, f"missing or out of order: {instruction!r}"
        position = found
    seed = SEED.read_text(encoding="utf-8")
    assert "5-10 minutes" in seed  # the source's span; our default sits inside it
    assert 5 <= r.minutes <= 10


def test_psoas_contains_no_advertising():
    text = repr(load_builtin("psoas-release")).lower()
    for advert in ("discovery visit", "amazon", "affiliate", "tap the button", "we can help"):
        assert advert not in text


def test_a_complete_routine_file(tmp_path):
    cue = tmp_path / "bell.wav"
    cue.write_bytes(b"RIFF")
    path = tmp_path / "My Routine.toml"
    path.write_text(
        'title = "Mine"\nsummary = "s"\nminutes = 12\ncaution = "careful"\npause_s = 2\n'
        '[breath]\ninhale_s = 5\nhold_in_s = 1\nexhale_s = 7\nhold_out_s = 0.5\n'
        '[cues]\ninhale = "bell.wav"\nhold = "none"\nspot = "end"\n'
        '[[steps]]\nsay = """multi\n   line"""\n'
        '[[steps]]\nbreathe = { count = 2, inhale_prompt = "in", exhale_prompt = "out",'
        ' prompt_breaths = 5, inhale_s = 3 }\n'
        '[[steps]]\n[steps.repeat]\ntimes = 2\ncue = "none"\n'
        '[[steps.repeat.steps]]\nsay = "round {n}, {{literal}}"\nhold_s = 0\n',
        encoding="utf-8")
    r = load_file(path)
    assert r.id == "my-routine"
    assert (r.title, r.summary, r.minutes, r.caution, r.pause_s) == ("Mine", "s", 12.0, "careful", 2.0)
    assert r.pace == Pace(5, 1, 7, 0.5)
    assert r.cue_source("inhale") == cue
    assert r.cue_source("hold") is None
    assert r.cue_source("spot") == "end"
    assert r.cue_source("exhale") == "exhale"
    assert r.steps == (
        Say("multi line", 2.0),
        Breathe(2, Pace(3, 1, 7, 0.5), "in", "out", 2),
        Repeat((Say("round {n}, {{literal}}", 0.0),), times=2, cue=None),
    )
    assert fill_placeholders("round {n}, {{literal}}", 3, DEFAULT_PACE) == "round 3, {literal}"


def test_defaults_for_a_minimal_routine():
    r = parse_routine(HEAD + '[[steps]]\nsay = "x"\n', source="m.toml")
    assert (r.minutes, r.pace, r.caution, r.pause_s) == (7.0, DEFAULT_PACE, None, 1.0)
    assert dict(r.cues) == {role: role for role in ("start", "inhale", "exhale", "hold", "spot", "end")}


MALFORMED = [
    (HEAD + '[[steps]]\nsay = "x"\nmystery = 1\n',
     "bad.toml: steps[1].mystery: unknown key; expected one of hold_s, say, title"),
    (HEAD + '[[steps]]\nbreathe = { count = 1 }\nhold_s = 1\n',
     "bad.toml: steps[1].hold_s: unknown key; expected one of breathe, title"),
    (HEAD + '[[steps]]\ntitle = "' + "a" * 61 + '"\nsay = "x"\n',
     "bad.toml: steps[1].title: text is 61 characters; at most 60 in a title"),
    (HEAD + '[[steps]]\ntitle = " "\nsay = "x"\n',
     "bad.toml: steps[1].title: expected some text, got an empty string"),
    (HEAD + '[[steps]]\ntitle = 3\nbreathe = { count = 1 }\n',
     "bad.toml: steps[1].title: expected a string, got 3"),
    (HEAD + '[[steps]]\ntitle = "{nth} spot"\nsay = "x"\n',
     "bad.toml: steps[1].title: placeholder {nth} is only allowed inside a repeat;"
     " write {{ and }} for braces"),
    (HEAD + 'minuets = 5\n[[steps]]\nsay = "x"\n',
     "bad.toml: minuets: unknown key; expected one of breath, breath_to, caution, cues, id,"
     " lang, minutes, pause_s, pronounce, steps, summary, title"),
    (HEAD + '[[steps]]\nsay = "x"\n[[steps]]\nbreathe = { count = "two" }\n',
     "bad.toml: steps[2].breathe.count: expected a whole number from 1 to 100, got 'two'"),
    (HEAD + '[[steps]]\nbreathe = { count = 0 }\n',
     "bad.toml: steps[1].breathe.count: expected a whole number from 1 to 100, got 0"),
    (HEAD + '[[steps]]\nbreathe = { count = 2, exhale_s = -1 }\n',
     "bad.toml: steps[1].breathe.exhale_s: expected a number from 0.5 to 60, got -1"),
    (HEAD + '[[steps]]\nsay = "x"\nhold_s = nan\n',
     "bad.toml: steps[1].hold_s: expected a number from 0 to 600, got nan"),
    (HEAD + '[[steps]]\nsay = "x"\nhold_s = inf\n',
     "bad.toml: steps[1].hold_s: expected a number from 0 to 600, got inf"),
    (HEAD + '[[steps]]\nsay = "x"\nhold_s = true\n',
     "bad.toml: steps[1].hold_s: expected a number from 0 to 600, got true"),
    (HEAD + 'minutes = 0\n[[steps]]\nsay = "x"\n',
     "bad.toml: minutes: expected a number from 1 to 180, got 0"),
    (HEAD + '[[steps]]\nsay = ""\n',
     "bad.toml: steps[1].say: expected some text, got an empty string"),
    (HEAD + '[[steps]]\nsay = 5\n',
     "bad.toml: steps[1].say: expected a string, got 5"),
    (HEAD + '[[steps]]\nsay = "x"\nbreathe = { count = 1 }\n',
     "bad.toml: steps[1]: expected exactly one of 'say', 'breathe' or 'repeat', found say and breathe"),
    (HEAD + '[[steps]]\nhold_s = 3\n',
     "bad.toml: steps[1]: expected exactly one of 'say', 'breathe' or 'repeat', found none of them"),
    (HEAD,
     "bad.toml: steps: missing"),
    (HEAD + 'steps = []\n',
     "bad.toml: steps: expected a non-empty list of steps ([[steps]] tables)"),
    (HEAD + 'steps = "say hi"\n',
     "bad.toml: steps: expected a non-empty list of steps ([[steps]] tables)"),
    ('id = "t"\n[[steps]]\nsay = "x"\n',
     "bad.toml: title: missing"),
    (HEAD + 'title = "again"\n',
     "bad.toml:3: invalid TOML: Cannot overwrite a value"),
    (HEAD + '[[steps]\nsay = "x"\n',
     "bad.toml:3: invalid TOML: Expected ']]' at the end of an array declaration"),
    (HEAD + '[[steps]]\nsay = ',                       # "at end of document": the last line
     "bad.toml:4: invalid TOML: Invalid value"),
    (HEAD + 'minutes = 0x' + 'f' * 5000 + '\n',
     "bad.toml: invalid TOML: a number has more than 4,300 digits"),
    (HEAD + 'x = ' + '[' * 101 + ']' * 101 + '\n',
     "bad.toml: invalid TOML: nested more than 100 levels deep"),
    (HEAD + '[[steps]]\nsay = "spot {n}"\n',
     "bad.toml: steps[1].say: placeholder {n} is only allowed inside a repeat;"
     " write {{ and }} for braces"),
    (HEAD + '[[steps]]\n[steps.repeat]\nfill = true\n[[steps.repeat.steps]]\nsay = "{spot}"\n',
     "bad.toml: steps[1].repeat.steps[1].say: unknown placeholder {spot}; known: {n}, {nth},"
     " {pace}, {inhale_s}, {hold_in_s}, {exhale_s}, {hold_out_s}; write {{ and }} for braces"),
    (HEAD + '[[steps]]\nsay = "in for {inhale}"\n',
     "bad.toml: steps[1].say: unknown placeholder {inhale}; known: {n}, {nth}, {pace},"
     " {inhale_s}, {hold_in_s}, {exhale_s}, {hold_out_s}; write {{ and }} for braces"),
    (HEAD + '[[steps]]\nbreathe = { count = 1, inhale_prompt = "{exhale_s:d}" }\n',
     "bad.toml: steps[1].breathe.inhale_prompt: placeholder {exhale_s...} takes no format or"
     " conversion; known: {n}, {nth}, {pace}, {inhale_s}, {hold_in_s}, {exhale_s}, {hold_out_s}"),
    (HEAD + '[[steps]]\n[steps.repeat]\nfill = true\n[[steps.repeat.steps]]\nsay = "{n"\n',
     "bad.toml: steps[1].repeat.steps[1].say: bad placeholder (expected '}' before end of"
     " string); write {{ and }} for braces"),
    (HEAD + '[[steps]]\n[steps.repeat]\nfill = true\ntimes = 3\n[[steps.repeat.steps]]\nsay = "x"\n',
     "bad.toml: steps[1].repeat: expected exactly one of 'times = N' or 'fill = true'"),
    (HEAD + '[[steps]]\n[steps.repeat]\ntimes = 2\n',
     "bad.toml: steps[1].repeat.steps: missing"),
    (HEAD + '[[steps]]\n[steps.repeat]\ntimes = 2\n[[steps.repeat.steps]]\n'
            '[steps.repeat.steps.repeat]\ntimes = 2\n',
     "bad.toml: steps[1].repeat.steps[1].repeat: a repeat cannot contain another repeat"),
    (HEAD + '[[steps]]\n[steps.repeat]\nfill = true\n[[steps.repeat.steps]]\nsay = "a"\n'
            '[[steps]]\n[steps.repeat]\nfill = true\n[[steps.repeat.steps]]\nsay = "b"\n',
     "bad.toml: steps: only one repeat may fill the session (fill = true)"),
    (HEAD + '[[steps]]\n[steps.repeat]\nfill = true\ncue = "gong"\n[[steps.repeat.steps]]\nsay = "a"\n',
     "bad.toml: steps[1].repeat.cue: expected one of start, inhale, exhale, hold, spot, end"
     " or 'none', got 'gong'"),
    (HEAD + '[cues]\ninhale = "gong"\n[[steps]]\nsay = "x"\n',
     "bad.toml: cues.inhale: expected a built-in cue (end, exhale, hold, inhale, spot, start),"
     " 'none', or a path to a .wav file, got 'gong'"),
    (HEAD + '[cues]\nbreathe = "inhale"\n[[steps]]\nsay = "x"\n',
     "bad.toml: cues.breathe: unknown key; expected one of end, exhale, hold, inhale, spot, start"),
    (HEAD + '[breath]\ninhale = 4\n[[steps]]\nsay = "x"\n',
     "bad.toml: breath.inhale: unknown key; expected one of exhale_s, hold_in_s, hold_out_s,"
     " inhale_s"),
    (HEAD + 'breath = 4\n[[steps]]\nsay = "x"\n',
     "bad.toml: breath: expected a table, got 4"),
    ('id = "Bad Id"\ntitle = "T"\n[[steps]]\nsay = "x"\n',
     "bad.toml: id: expected lowercase letters, digits and '-', got 'Bad Id'"),
    (HEAD + '[[steps]]\nsay = "' + "word " * 500 + '"\n',
     "bad.toml: steps[1].say: text is 2,499 characters; at most 2,000 per line"),
]


@pytest.mark.parametrize("text, message", MALFORMED, ids=[m[1][:60] for m in MALFORMED])
def test_malformed_routines_say_where_and_what(text, message):
    with pytest.raises(RoutineError) as caught:
        parse_routine(text, source="bad.toml")
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_missing_cue_file_is_named(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(HEAD + '[cues]\nend = "gone.wav"\n[[steps]]\nsay = "x"\n')
    with pytest.raises(RoutineError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path}: cues.end: no such file: {tmp_path / 'gone.wav'}"


def test_file_problems(tmp_path):
    cases: list[tuple[Path, str]] = []
    cases.append((tmp_path / "missing.toml", "no such file"))
    cases.append((tmp_path, "is a directory, not a routine file"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"title = \xff\xfe\n")
    cases.append((binary, "not UTF-8 text (byte 8); a routine is a UTF-8 TOML file"))
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * 10_000_000)
    cases.append((huge, "file is 10,000,000 bytes; a routine file may be at most 1,000,000 bytes"))
    for path, message in cases:
        with pytest.raises(RoutineError) as caught:
            load_file(path)
        assert str(caught.value) == f"{path}: {message}"


def test_too_many_steps_is_a_clear_limit():
    text = HEAD + '[[steps]]\nsay = "x"\n' * 2001
    with pytest.raises(RoutineError) as caught:
        parse_routine(text, source="big.toml")
    assert str(caught.value) == "big.toml: steps[2001]: too many steps; a routine may have at most 2,000"
    assert len(parse_routine(HEAD + '[[steps]]\nsay = "x"\n' * 2000, source="ok.toml").steps) == 2000


def test_resolve_by_id_or_path(tmp_path):
    assert resolve("box-breathing").id == "box-breathing"
    path = tmp_path / "r.toml"
    path.write_text(HEAD + '[[steps]]\nsay = "x"\n')
    assert resolve(str(path)).source == str(path)
    with pytest.raises(RoutineError) as caught:
        resolve("psoas")
    assert str(caught.value) == ("unknown routine 'psoas'; built-in routines: box-breathing,"
                                 " four-seven-eight, psoas-release, resonance")


def test_a_file_named_like_a_builtin_never_shadows_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "box-breathing").mkdir()
    (tmp_path / "box-breathing" / "x.toml").write_text(HEAD + '[[steps]]\nsay = "x"\n')
    (tmp_path / "four-seven-eight").write_text(HEAD + '[[steps]]\nsay = "x"\n')
    (tmp_path / "mine").write_text(HEAD + '[[steps]]\nsay = "x"\n')
    notes: list[str] = []
    assert resolve("box-breathing", warn=notes.append).id == "box-breathing"
    assert resolve("four-seven-eight", warn=notes.append).id == "four-seven-eight"
    assert notes == [
        "'box-breathing' is the built-in routine, not the folder here; for the folder,"
        " write ./box-breathing",
        "'four-seven-eight' is the built-in routine, not the file here; for the file,"
        " write ./four-seven-eight"]
    assert resolve("./four-seven-eight").source == "four-seven-eight"
    assert resolve("box-breathing/x.toml").source == "box-breathing/x.toml"
    assert resolve("mine", warn=notes.append).source == "mine"  # no id of that name
    assert len(notes) == 2


@pytest.mark.parametrize("text, pace", [
    ("4:6", Pace(4, 0, 6, 0)), ("4:7:8:0", Pace(4, 7, 8, 0)), ("3.5:0:5.5:1", Pace(3.5, 0, 5.5, 1)),
])
def test_parse_pace(text, pace):
    assert parse_pace(text) == pace


@pytest.mark.parametrize("text, message", [
    ("4", "'4' is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)"),
    ("4:5:6", "'4:5:6' is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)"),
    ("a:b", "'a:b' : every part must be a number of seconds".replace("' :", "':")),
    ("0:6", "'0:6': inhale must be from 0.5 to 60 seconds"),
    ("4:nan", "'4:nan': exhale must be from 0.5 to 60 seconds"),
    ("4:-1:4:0", "'4:-1:4:0': hold must be from 0 to 60 seconds"),
    ("4:1000", "'4:1000': exhale must be from 0.5 to 60 seconds"),
])
def test_parse_pace_rejects(text, message):
    with pytest.raises(ValueError) as caught:
        parse_pace(text)
    assert str(caught.value) == message


def test_text_is_cleaned_not_interpreted():
    assert clean_text("a\x01b\x00c\n\t d\x1b[31m") == "a b c d [31m"
    assert clean_text("  <speak>$(rm -rf /); ls `id` </speak> ") == "<speak>$(rm -rf /); ls `id` </speak>"


def test_pace_placeholders_are_allowed_anywhere_and_spoken_as_words():
    r = parse_routine(HEAD + 'caution = "Slowly: {pace}."\n[[steps]]\nsay = "In for {inhale_s}."\n'
                      '[[steps]]\nbreathe = { count = 1, exhale_prompt = "Out for {exhale_s}." }\n',
                      source="p.toml")
    assert r.caution == "Slowly: {pace}."
    pace = Pace(4.5, 7, 8, 0)
    assert fill_placeholders("Slowly: {pace}.", None, pace) == (
        "Slowly: in for four and a half, hold for seven, out for eight.")
    assert fill_placeholders("{inhale_s}/{hold_in_s}/{exhale_s}/{hold_out_s} {{x}}", None,
                             pace) == "four and a half/seven/eight/zero {x}"
    assert fill_placeholders("{nth} round, {pace}", 2, Pace(5, 5, 5, 5)) == (
        "second round, in for five, hold for five, out for five, hold for five")


@pytest.mark.parametrize("seconds, words", [
    (0.5, "a half"), (1, "one"), (4, "four"), (4.5, "four and a half"), (5, "five"),
    (3.25, "three and a quarter"), (6.75, "six and three quarters"), (13, "thirteen"),
    (20, "twenty"), (21, "twenty-one"), (60, "sixty"), (2.2, "two point two"),
    (0.6, "zero point six"), (3.96, "four"),
])
def test_seconds_are_spoken_as_words(seconds, words):
    assert spoken_seconds(seconds) == words


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 12, 20, 21, 22, 23, 111, 112)] == [
        "first", "second", "third", "twelfth", "twentieth", "21st", "22nd", "23rd", "111th", "112th"]
