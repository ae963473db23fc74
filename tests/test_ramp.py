"""Breath ramps: the planner to the sample, the fill contract, and every bad ramp's message."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from voice_coach.cli import cli
from voice_coach.pace import Pace, parse_pace, ramp_phase
from voice_coach.pcm import SAMPLE_RATE
from voice_coach.plan import PlanSettings, RampError, estimated_speech_length, plan
from voice_coach.routine import RoutineError, load_builtin, parse_routine
from voice_coach.timeline import Timeline

RATE = 1000  # samples per second: keeps the arithmetic readable


def routine(body: str):
    return parse_routine('id = "t"\ntitle = "T"\n' + body, source="t.toml")


def cues(timeline: Timeline) -> list[tuple[str | None, int]]:
    return [(e.cue, e.start) for e in timeline.events if e.kind == "cue"]


def phases(timeline: Timeline, role: str, until: str) -> list[int]:
    """Each ``role`` phase in samples: from its cue to the next cue or the next step,
    where that is an ``until`` cue or anything but another phase."""
    events = timeline.events
    found = []
    for index, event in enumerate(events):
        if event.kind != "cue" or event.cue != role:
            continue
        end = next(e for e in events[index + 1:] if e.kind == "cue" or e.step != event.step)
        if end.kind != "cue" or end.cue in (until, "end"):
            found.append(end.start - event.start)
    return found


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ramp_phase_is_equal_steps_rounded_half_up_exact_at_both_ends():
    assert [ramp_phase(4000, 5000, i, 4) for i in range(4)] == [4000, 4333, 4667, 5000]
    assert [ramp_phase(6000, 8000, i, 4) for i in range(4)] == [6000, 6667, 7333, 8000]
    assert [ramp_phase(8000, 6000, i, 4) for i in range(4)] == [8000, 7333, 6667, 6000]
    assert [ramp_phase(4000, 4001, i, 3) for i in range(3)] == [4000, 4001, 4001]
    assert ramp_phase(4000, 9000, 0, 1) == 4000  # a single breath keeps the start


def test_a_ramped_breathe_step_is_laid_out_to_the_sample():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 6\n[breath_to]\ninhale_s = 5\nexhale_s = 8\n'
                '[[steps]]\nbreathe = { count = 4 }\n')
    t = plan(r, PlanSettings(sample_rate=RATE), lambda text: 100, lambda role: 100)
    assert cues(t) == [
        ("start", 500),
        ("inhale", 600), ("exhale", 4600),      # 4000, 6000
        ("inhale", 10600), ("exhale", 14933),   # 4333, 6667
        ("inhale", 21600), ("exhale", 26267),   # 4667, 7333
        ("inhale", 33600), ("exhale", 38600),   # 5000, 8000
        ("end", 46600),
    ]
    assert t.step_labels[1] == "4 breaths: in 4 → 5 s, out 6 → 8 s"


def test_the_ramp_runs_across_steps_and_skips_steps_with_their_own_pace():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 4\n[breath_to]\nexhale_s = 7\n'
                '[[steps]]\nbreathe = { count = 2 }\n'
                '[[steps]]\nbreathe = { count = 2, inhale_s = 3, exhale_s = 3 }\n'
                '[[steps]]\nbreathe = { count = 2 }\n')
    t = plan(r, PlanSettings(sample_rate=RATE), lambda text: 100, lambda role: 100)
    assert phases(t, "inhale", "exhale") == [4000, 4000, 3000, 3000, 4000, 4000]
    assert phases(t, "exhale", "inhale") == [4000, 5000, 3000, 3000, 6000, 7000]
    assert t.step_labels[1:4] == ("2 breaths: in 4 s, out 4 → 5 s", "2 breaths: in 3 s, out 3 s",
                                  "2 breaths: in 4 s, out 6 → 7 s")


def test_breath_overrides_every_step_so_every_breath_ramps():
    r = routine('[[steps]]\nbreathe = { count = 2, exhale_s = 9 }\n'
                '[[steps]]\nbreathe = { count = 1 }\n')
    t = plan(r, PlanSettings(sample_rate=RATE, pace=parse_pace("2:0:2:2"),
                             pace_to=parse_pace("2:0:5:2")),
             lambda text: 100, lambda role: 100)
    assert phases(t, "inhale", "exhale") == [2000, 2000, 2000]
    assert phases(t, "exhale", "hold") == [2000, 3500, 5000]


def test_a_ramped_session_still_ends_on_its_target_and_the_last_breath_is_the_end_pace():
    r = load_builtin("psoas-release")
    for minutes in (5, 10, 23):
        t = plan(r, PlanSettings(minutes=minutes, pace_to=parse_pace("5:8")),
                 estimated_speech_length(140), lambda role: 4000)
        assert t.duration == minutes * 60 * SAMPLE_RATE
        inhales = phases(t, "inhale", "exhale")
        assert inhales[0] == 4 * SAMPLE_RATE and inhales[-1] == 5 * SAMPLE_RATE
        assert inhales == sorted(inhales) and len(set(inhales)) > len(inhales) // 2


def test_a_ramped_fill_plays_as_many_repetitions_as_fit_and_no_more():
    body = ('minutes = 2\npause_s = 1\n[breath]\ninhale_s = 4\nexhale_s = 4\n'
            '[breath_to]\nexhale_s = 6\n[[steps]]\nsay = "begin"\n'
            '[[steps]]\n[steps.repeat]\n{times}\n[[steps.repeat.steps]]\nsay = "round {{n}}"\n'
            '[[steps.repeat.steps]]\nbreathe = {{ count = 2 }}\n')
    settings = PlanSettings(sample_rate=RATE)
    filled = plan(routine(body.format(times="fill = true")), settings, lambda text: 700,
                  lambda role: 100)
    assert filled.duration == 120 * RATE
    rounds = sum(1 for label in filled.step_labels if label.startswith("round "))
    assert rounds == 5
    for times, fits in ((rounds, True), (rounds + 1, False)):
        fixed = plan(routine(body.format(times=f"times = {times}")), settings,
                     lambda text: 700, lambda role: 100)
        assert (fixed.duration <= 120 * RATE) == fits


def test_resonance_goes_from_four_four_to_four_six():
    t = plan(load_builtin("resonance"), PlanSettings(), estimated_speech_length(140),
             lambda role: 4000)
    exhales = phases(t, "exhale", "inhale")
    assert (exhales[0], exhales[-1]) == (4 * SAMPLE_RATE, 6 * SAMPLE_RATE)
    assert exhales == sorted(exhales)
    assert set(phases(t, "inhale", "exhale")) == {4 * SAMPLE_RATE}
    assert len(exhales) == 4 + 5 * 10  # the warm-up, then 10 rounds of 5
    assert "We start at an easy pace: in for four, out for four." in t.speech_texts()[1]


def test_plan_shows_each_steps_ramp():
    result = invoke("plan", "four-seven-eight", "--breath", "2:3.5:4:0", "--breath-to",
                    "4:7:8:0")
    assert result.exit_code == 0
    heads = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert heads[3:7] == [
        "step 4/9 (steps[3], repetition 1): 1 breath: in 2 s, hold 3.5 s, out 4 s",
        "step 5/9 (steps[3], repetition 2): 1 breath: in 2.667 s, hold 4.667 s, out 5.333 s",
        "step 6/9 (steps[3], repetition 3): 1 breath: in 3.333 s, hold 5.833 s, out 6.667 s",
        "step 7/9 (steps[3], repetition 4): 1 breath: in 4 s, hold 7 s, out 8 s",
    ]


BAD_RAMPS = [
    (["plan", "box-breathing", "--breath-to", "4:0:4:4"],
     "Error: breath_to: hold_in_s: a hold cannot fade to 0 s (from 4 s to 0 s); give it the"
     " same 0 or a length of 1 s or more at both ends\n"),
    (["plan", "psoas-release", "--breath-to", "4:2:6:0"],
     "Error: breath_to: hold_in_s: a hold cannot appear from 0 s (from 0 s to 2 s); give it"
     " the same 0 or a length of 1 s or more at both ends\n"),
    (["plan", "psoas-release", "--breath-to", "0.5:6"],
     "Error: breath_to: inhale_s: a ramp from 4 s to 0.5 s would go below 1 s; every phase"
     " of a ramp lasts 1 s or more\n"),
    (["export", "psoas-release", "--breath", "0.8:6", "--breath-to", "4:6", "-o", "x"],
     "Error: breath_to: inhale_s: a ramp from 0.8 s to 4 s would go below 1 s; every phase"
     " of a ramp lasts 1 s or more\n"),
]


@pytest.mark.parametrize(("args", "message"), BAD_RAMPS)
def test_a_bad_ramp_is_one_line_naming_the_key(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)
    assert not (tmp_path / "x").exists()


def test_a_ramp_with_no_breaths_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "talk.toml").write_text('title = "Talk"\n[[steps]]\nsay = "hello"\n'
                                        '[[steps]]\nbreathe = { count = 2, exhale_s = 8 }\n',
                                        encoding="utf-8")
    result = invoke("plan", "talk.toml", "--breath-to", "4:8")
    assert (result.exit_code, result.stderr) == (
        2, "Error: breath_to: talk has no breaths at its own pace to ramp (every breathe step"
           " sets its pace, or there are none)\n")
    r = routine('[[steps]]\nsay = "x"\n')
    with pytest.raises(RampError):
        plan(r, PlanSettings(pace_to=Pace(4, 0, 6, 0)), lambda text: 1, lambda role: 1)


ROUTINE_RAMPS = [
    ('[breath_to]\nhold_out_s = 2\n',
     "t.toml: breath_to.hold_out_s: a hold cannot appear from 0 s (from 0 s to 2 s); give it"
     " the same 0 or a length of 1 s or more at both ends"),
    ('[breath_to]\nexhale_s = 0.6\n',
     "t.toml: breath_to.exhale_s: a ramp from 6 s to 0.6 s would go below 1 s; every phase"
     " of a ramp lasts 1 s or more"),
    ('[breath_to]\n', "t.toml: breath_to: expected at least one of inhale_s, hold_in_s,"
                      " exhale_s, hold_out_s"),
    ('[breath_to]\nexhale = 8\n', "t.toml: breath_to.exhale: unknown key; expected one of"
                                  " exhale_s, hold_in_s, hold_out_s, inhale_s"),
    ('breath_to = "4:8"\n', "t.toml: breath_to: expected a table, got '4:8'"),
]


@pytest.mark.parametrize(("body", "message"), ROUTINE_RAMPS)
def test_a_bad_breath_to_in_a_routine_names_the_key(body, message):
    with pytest.raises(RoutineError) as raised:
        routine(body + '[[steps]]\nbreathe = { count = 2 }\n')
    assert str(raised.value) == message


def test_breath_to_in_a_routine_defaults_each_phase_to_breath():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 4\n[breath_to]\nexhale_s = 6\n'
                '[[steps]]\nbreathe = { count = 2 }\n')
    assert (r.pace, r.pace_to) == (Pace(4, 0, 4, 0), Pace(4, 0, 6, 0))


def test_breath_to_comes_from_the_environment_and_the_settings_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICE_COACH_BREATH_TO", "5:8")
    heads = [line for line in invoke("plan", "psoas-release").stdout.splitlines()
             if "breaths:" in line]
    # 12 breaths at 7 minutes (3, then 3 at each of 3 spots): 11 steps of 1/11 s and 2/11 s
    assert heads[0].endswith("3 breaths: in 4 → 4.182 s, out 6 → 6.364 s")
    monkeypatch.delenv("VOICE_COACH_BREATH_TO")
    assert invoke("config", "set", "breath_to", "4:0.5").exit_code == 0
    result = invoke("plan", "psoas-release")
    assert (result.exit_code, result.stderr) == (2, "Error: breath_to: exhale_s: a ramp from"
                                                    " 6 s to 0.5 s would go below 1 s; every"
                                                    " phase of a ramp lasts 1 s or more\n")
