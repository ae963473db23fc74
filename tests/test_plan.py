"""The planner with literal lengths: no engine, no sound, no clock."""

from __future__ import annotations

import pytest

from voice_coach.plan import (
    LEAD_IN_S,
    SESSION_COMPLETE,
    TAIL_S,
    Event,
    PlanSettings,
    Timeline,
    estimated_speech_length,
    plan,
    to_dict,
)
from voice_coach.routine import Pace, load_builtin, parse_routine

RATE = 1000  # samples per second: keeps the arithmetic readable


def words_length(samples_per_word: int):
    return lambda text: samples_per_word * len(text.split())


def cue_length(samples: int = 200):
    return lambda role: samples


def settings(**kwargs) -> PlanSettings:
    return PlanSettings(sample_rate=RATE, **kwargs)


def routine(body: str):
    return parse_routine('id = "t"\ntitle = "T"\n' + body, source="t.toml")


def kinds(timeline: Timeline) -> list[tuple[str, str | None]]:
    return [(e.kind, e.text or e.cue) for e in timeline.events]


def test_say_steps_are_laid_out_to_the_sample():
    r = routine('[[steps]]\nsay = "one two"\nhold_s = 1.5\n[[steps]]\nsay = "three"\nhold_s = 0\n')
    t = plan(r, settings(), words_length(100), cue_length(200))
    assert t.events == (
        Event(0, 500, "silence", 0),
        Event(500, 700, "cue", 0, cue="start"),
        Event(700, 900, "speech", 1, text="one two"),
        Event(900, 2400, "silence", 1),
        Event(2400, 2500, "speech", 2, text="three"),
        Event(2500, 2700, "cue", 3, cue="end"),
        Event(2700, 2900, "speech", 3, text=SESSION_COMPLETE),
        Event(2900, 4400, "silence", 3),
    )
    assert t.duration == 4400
    assert t.step_labels == ("Starting", "one two", "three", SESSION_COMPLETE)


def test_events_are_gapless_and_never_overlap_in_every_builtin():
    for routine_id in ("psoas-release", "box-breathing", "four-seven-eight"):
        t = plan(load_builtin(routine_id), PlanSettings(), estimated_speech_length(140),
                 cue_length(15000))
        assert t.events[0].start == 0
        for before, after in zip(t.events, t.events[1:], strict=False):
            assert before.end == after.start, (before, after)
            assert before.end > before.start
        assert [e.step for e in t.events] == sorted(e.step for e in t.events)


def test_breath_phases_start_on_their_cue_at_exact_pace():
    r = routine('[breath]\ninhale_s = 4\nhold_in_s = 2\nexhale_s = 6\n'
                '[[steps]]\nbreathe = { count = 2 }\n')
    t = plan(r, settings(), words_length(100), cue_length(300))
    breath_cues = [(e.start, e.cue) for e in t.events if e.cue in ("inhale", "hold", "exhale")]
    first = breath_cues[0][0]
    assert [(s - first, c) for s, c in breath_cues] == [
        (0, "inhale"), (4000, "hold"), (6000, "exhale"),
        (12000, "inhale"), (16000, "hold"), (18000, "exhale"),
    ]
    end_cue = next(e for e in t.events if e.cue == "end")
    assert end_cue.start - first == 24000


def test_breath_override_replaces_every_pace():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 6\n'
                '[[steps]]\nbreathe = { count = 1, inhale_s = 3, exhale_s = 3 }\n')
    t = plan(r, settings(pace=Pace(5, 1, 7, 2)), words_length(100), cue_length(100))
    onsets = [e.start for e in t.events if e.cue in ("inhale", "hold", "exhale")]
    assert [b - onsets[0] for b in onsets] == [0, 5000, 6000, 13000]
    after_breath = next(e for e in t.events if e.cue == "end")
    assert after_breath.start - onsets[0] == 15000


def test_step_pace_beats_routine_pace_without_override():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 6\n'
                '[[steps]]\nbreathe = { count = 1, inhale_s = 3 }\n')
    t = plan(r, settings(), words_length(100), cue_length(100))
    onsets = [e.start for e in t.events if e.cue in ("inhale", "exhale")]
    assert onsets[1] - onsets[0] == 3000
    end = next(e for e in t.events if e.cue == "end")
    assert end.start - onsets[1] == 6000


def test_prompt_follows_its_cue_and_fits_the_phase():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 6\n[[steps]]\n'
                'breathe = { count = 2, exhale_prompt = "sink deeper now", prompt_breaths = 1 }\n')
    t = plan(r, settings(), words_length(500), cue_length(300))
    exhale = [e for e in t.events if e.cue == "exhale"]
    speech = [e for e in t.events if e.kind == "speech" and e.text == "sink deeper now"]
    assert len(speech) == 1  # only the first breath is prompted
    assert speech[0].start == exhale[0].end + 250  # the gap after the chime
    assert speech[0].end == speech[0].start + 1500
    assert exhale[1].start - exhale[0].start == 10000  # the pace did not move
    assert t.notes == ()


def test_prompt_too_long_grows_its_slot_and_says_so():
    r = routine('[breath]\ninhale_s = 4\nexhale_s = 2\n[[steps]]\n'
                'breathe = { count = 2, exhale_prompt = "a b c d e f", prompt_breaths = 1 }\n')
    t = plan(r, settings(), words_length(500), cue_length(300))
    exhale = [e for e in t.events if e.cue == "exhale"]
    inhale = [e for e in t.events if e.cue == "inhale"]
    prompt = next(e for e in t.events if e.text == "a b c d e f")
    # cue 300 + gap 250 + speech 3000 = 3550 samples instead of 2000
    assert inhale[1].start == exhale[0].start + 3550 == prompt.end
    assert exhale[1].start - inhale[1].start == 4000
    assert t.notes == ("exhale grew from 2 s to 3.55 s to fit 'a b c d e f'",)


def test_fill_lands_within_one_repetition_and_never_past_the_target():
    r = routine('[[steps]]\nsay = "hello"\nhold_s = 0\n'
                '[[steps]]\n[steps.repeat]\nfill = true\n'
                '[[steps.repeat.steps]]\nsay = "spot {n}"\nhold_s = 8\n'
                '[[steps]]\nsay = "bye"\nhold_s = 0\n')
    for minutes in (1, 2, 5, 10):
        t = plan(r, settings(minutes=minutes), words_length(1000), cue_length(500))
        repetition = 500 + 2000 + 8000  # spot cue, "spot N", hold
        target = minutes * 60 * RATE
        assert target - repetition < t.duration <= target, minutes
        spots = [e.text for e in t.events if e.text and e.text.startswith("spot")]
        assert spots == [f"spot {n}" for n in range(1, len(spots) + 1)]


def test_fill_keeps_one_repetition_when_the_target_is_too_short():
    r = routine('minutes = 1\n[[steps]]\nsay = "long intro"\nhold_s = 70\n'
                '[[steps]]\n[steps.repeat]\nfill = true\n'
                '[[steps.repeat.steps]]\nsay = "spot"\nhold_s = 1\n')
    t = plan(r, settings(), words_length(1000), cue_length(500))
    assert [e.text for e in t.events if e.text == "spot"] == ["spot"]
    assert t.notes == ("the shortest t session lasts 1:20, longer than the 1-minute target",)


def test_fixed_repeat_numbers_from_count_from_and_ignores_minutes():
    r = routine('[[steps]]\n[steps.repeat]\ntimes = 3\ncount_from = 2\ncue = "none"\n'
                '[[steps.repeat.steps]]\nsay = "the {nth} spot, number {n}"\nhold_s = 0\n')
    t = plan(r, settings(minutes=30), words_length(100), cue_length(100))
    assert [e.text for e in t.events if e.kind == "speech"][:3] == [
        "the second spot, number 2", "the third spot, number 3", "the fourth spot, number 4"]
    assert not any(e.cue == "spot" for e in t.events)
    assert t.notes == ("t has a fixed length; --minutes does not change it",)


def test_caution_is_spoken_first_unless_skipped():
    r = routine('caution = "be gentle"\n[[steps]]\nsay = "go"\n')
    spoken = plan(r, settings(), words_length(100), cue_length(100))
    skipped = plan(r, settings(caution=False), words_length(100), cue_length(100))
    assert [e.text for e in spoken.events if e.kind == "speech"][:2] == ["be gentle", "go"]
    assert [e.text for e in skipped.events if e.kind == "speech"][:1] == ["go"]
    assert spoken.duration - skipped.duration == 200 + 1000  # the line and the routine pause


def test_a_cue_switched_off_leaves_no_event_and_the_pace_unchanged():
    r = routine('[cues]\ninhale = "none"\n[breath]\ninhale_s = 4\nexhale_s = 6\n'
                '[[steps]]\nbreathe = { count = 1 }\n')
    lengths = {"inhale": 0}
    t = plan(r, settings(), words_length(100), lambda role: lengths.get(role, 300))
    assert not any(e.cue == "inhale" for e in t.events)
    exhale = next(e for e in t.events if e.cue == "exhale")
    start_cue = next(e for e in t.events if e.cue == "start")
    assert exhale.start - start_cue.end == 4000


def test_shape_is_the_same_with_real_lengths_as_with_estimates():
    r = load_builtin("four-seven-eight")
    estimated = plan(r, PlanSettings(), estimated_speech_length(140), cue_length(8000))
    real = plan(r, PlanSettings(), lambda text: 7777 * len(text.split()), cue_length(8000))
    assert [(e.kind, e.text, e.cue, e.step) for e in estimated.events] == \
        [(e.kind, e.text, e.cue, e.step) for e in real.events]


def test_psoas_length_follows_minutes_within_one_spot():
    r = load_builtin("psoas-release")
    for minutes in (5, 7, 10):
        t = plan(r, PlanSettings(minutes=minutes), estimated_speech_length(140), cue_length(15000))
        spot_step = next(e.step for e in t.events if e.cue == "spot")
        starts = t.step_starts()
        spot_length = starts[spot_step + 1] - starts[spot_step]
        target = minutes * 60 * t.sample_rate
        assert target - spot_length < t.duration <= target


def test_slower_speech_keeps_the_session_at_its_target():
    r = load_builtin("psoas-release")
    slow = plan(r, PlanSettings(), estimated_speech_length(100), cue_length(15000))
    fast = plan(r, PlanSettings(), estimated_speech_length(250), cue_length(15000))
    for t in (slow, fast):
        assert 6 * 60 < t.duration_s <= 7 * 60


def test_lead_in_and_tail():
    r = routine('[[steps]]\nsay = "x"\n')
    t = plan(r, settings(), words_length(100), cue_length(100))
    assert t.events[0] == Event(0, round(LEAD_IN_S * RATE), "silence", 0)
    assert t.events[-1].kind == "silence"
    assert t.events[-1].end - t.events[-1].start == round(TAIL_S * RATE)


def test_json_shape():
    r = routine('[[steps]]\nsay = "x"\nhold_s = 0\n')
    document = to_dict(plan(r, settings(), words_length(100), cue_length(100)))
    assert document["routine"] == "t"
    assert document["sample_rate"] == RATE
    assert document["duration_s"] == 2.5  # + end cue, "Session complete.", tail
    assert document["events"][1] == {"start_s": 0.5, "end_s": 0.6, "start_sample": 500,
                                     "end_sample": 600, "kind": "cue", "step": 0,
                                     "cue": "start"}
    assert document["events"][2] == {"start_s": 0.6, "end_s": 0.7, "start_sample": 600,
                                     "end_sample": 700, "kind": "speech", "step": 1,
                                     "text": "x"}


def test_step_lookup():
    r = routine('[[steps]]\nsay = "a"\nhold_s = 1\n[[steps]]\nsay = "b"\n')
    t = plan(r, settings(), words_length(100), cue_length(100))
    starts = t.step_starts()
    assert starts == [0, 600, 1700, 2800]
    assert [t.step_at(s) for s in (0, 599, 600, 1699, 1700, 10**9)] == [0, 0, 1, 1, 2, 3]


@pytest.mark.parametrize("rate_wpm, words, seconds", [(140, 14, 6.35), (200, 8, 2.75)])
def test_estimate(rate_wpm, words, seconds):
    length = estimated_speech_length(rate_wpm, 22050)
    assert length(" ".join(["word"] * words)) == round(seconds * 22050)
