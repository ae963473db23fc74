"""The planner with literal lengths: no engine, no sound, no clock."""

from __future__ import annotations

import io
import re
from bisect import bisect_left
from itertools import pairwise

import pytest

from voice_coach import live
from voice_coach.cli.text import describe
from voice_coach.pace import Pace
from voice_coach.plan import (
    LEAD_IN_S,
    SESSION_COMPLETE,
    TAIL_S,
    PlanSettings,
    estimated_speech_length,
    plan,
)
from voice_coach.routine import Repeat, RoutineError, load_builtin, parse_routine
from voice_coach.routine_model import Breathe, Say
from voice_coach.timeline import TITLE_CHARS, Event, Timeline, short_title, to_dict

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
    assert t.step_labels == ("Starting", "one two", "three", "Session complete")


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


def test_fill_lands_on_the_target_sample_with_whole_repetitions():
    r = routine('[[steps]]\nsay = "hello"\nhold_s = 0\n'
                '[[steps]]\n[steps.repeat]\nfill = true\n'
                '[[steps.repeat.steps]]\nsay = "spot {n}"\nhold_s = 8\n'
                '[[steps]]\nsay = "bye"\nhold_s = 0\n')
    for minutes in (1, 2, 5, 10):
        t = plan(r, settings(minutes=minutes), words_length(1000), cue_length(500))
        repetition = 500 + 2000 + 8000  # spot cue, "spot N", hold
        fixed = 500 + 500 + 1000 + 1000 + 500 + 2000 + 1500  # lead-in, start, hello, bye,
        # end cue, "Session complete.", tail
        target = minutes * 60 * RATE
        assert t.duration == target, minutes
        spots = [e.text for e in t.events if e.text and e.text.startswith("spot")]
        assert spots == [f"spot {n}" for n in range(1, len(spots) + 1)]
        assert len(spots) == (target - fixed) // repetition  # as many as fit unstretched
        assert t.notes == ()


def test_the_slack_goes_to_the_pauses_in_proportion_and_never_to_a_breath():
    r = routine('[breath]\ninhale_s = 3\nexhale_s = 5\n'
                '[[steps]]\nsay = "settle"\nhold_s = 3\n'
                '[[steps]]\n[steps.repeat]\nfill = true\ncue = "none"\n'
                '[[steps.repeat.steps]]\nsay = "round"\nhold_s = 1\n'
                '[[steps.repeat.steps]]\nbreathe = { count = 2 }\n'
                '[[steps]]\nsay = "bye"\nhold_s = 0\n')
    t = plan(r, settings(minutes=1), words_length(1000), cue_length(500))
    # fixed: lead-in 500, start 500, settle 1000 + 3000, bye 1000, end 500, "Session
    # complete." 2000, tail 1500 = 10,000; a round 2000 + 16,000. 2 rounds, 14,000 short,
    # shared 3:1:1 by the pauses (the "bye" pause is 0 and stays 0).
    silences = [e.end - e.start for e in t.events if e.kind == "silence"]
    assert t.duration == 60000
    pauses = [(e.text, t.events[i + 1].end - t.events[i + 1].start)
              for i, e in enumerate(t.events) if e.kind == "speech" and e.text != SESSION_COMPLETE
              and t.events[i + 1].kind == "silence"]
    assert pauses == [("settle", 3000 + 8400), ("round", 1000 + 2800), ("round", 1000 + 2800)]
    assert next(e for e in t.events if e.text == "bye").end == \
        next(e for e in t.events if e.cue == "end").start
    breath_cues = [e.start for e in t.events if e.cue in ("inhale", "exhale")]
    assert [b - a for a, b in pairwise(breath_cues)] == [
        3000, 5000, 3000, 5000 + 1000 + 3800, 3000, 5000, 3000]  # + "round" and its pause
    assert sum(silences) == t.duration - sum(e.end - e.start for e in t.events
                                             if e.kind != "silence")


def test_with_no_pause_to_grow_each_repetition_gets_a_rest():
    r = routine('pause_s = 0\n[breath]\ninhale_s = 3\nexhale_s = 5\n'
                '[[steps]]\n[steps.repeat]\nfill = true\n'
                '[[steps.repeat.steps]]\nbreathe = { count = 1 }\n')
    t = plan(r, settings(minutes=1), words_length(1000), cue_length(500))
    assert t.duration == 60000
    spots = [e.start for e in t.events if e.cue == "spot"]
    gaps = {b - a for a, b in pairwise(spots)}
    assert len(gaps) <= 2 and max(gaps) - min(gaps) <= 1  # shared equally, to the sample
    assert min(gaps) > 500 + 8000


def test_fill_keeps_one_repetition_when_the_target_is_too_short():
    r = routine('minutes = 1\n[[steps]]\nsay = "long intro"\nhold_s = 70\n'
                '[[steps]]\n[steps.repeat]\nfill = true\n'
                '[[steps.repeat.steps]]\nsay = "spot"\nhold_s = 1\n')
    t = plan(r, settings(), words_length(1000), cue_length(500))
    assert [e.text for e in t.events if e.text == "spot"] == ["spot"]
    assert t.notes == ("the shortest t session lasts 1:20, longer than the 1-minute target;"
                       " it plays that long",)
    assert t.duration == 500 + 500 + 2000 + 70000 + 500 + 1000 + 1000 + 500 + 2000 + 1500


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


def test_psoas_lands_on_minutes_to_the_sample_with_more_spots_for_more_minutes():
    r = load_builtin("psoas-release")
    spots = []
    for minutes in (5, 7, 10):
        t = plan(r, PlanSettings(minutes=minutes), estimated_speech_length(140), cue_length(15000))
        assert t.duration == minutes * 60 * t.sample_rate
        spots.append(sum(event.cue == "spot" for event in t.events))
    assert spots[0] < spots[1] < spots[2], spots


CUE_SAMPLES = {"start": 26460, "inhale": 13230, "exhale": 13230, "hold": 6615, "spot": 17640,
               "end": 44100}
"""Literal cue lengths, about those of the built-in chimes."""


@pytest.mark.parametrize("routine_id", ["psoas-release", "box-breathing", "four-seven-eight"])
@pytest.mark.parametrize("rate_wpm", [140, 100])
def test_every_builtin_lands_on_minutes_from_1_to_180(routine_id, rate_wpm):
    """Exactly on the target when the routine fills; else its fixed length, with a note.

    Breath phases keep their exact sample counts whatever the stretch.
    """
    r = load_builtin(routine_id)
    speech = estimated_speech_length(rate_wpm)
    unstretched = plan(r, PlanSettings(minutes=180), speech, CUE_SAMPLES.__getitem__)
    shortest = plan(r, PlanSettings(minutes=1), speech, CUE_SAMPLES.__getitem__)
    for minutes in range(1, 181):
        t = plan(r, PlanSettings(minutes=minutes), speech, CUE_SAMPLES.__getitem__)
        target = minutes * 60 * t.sample_rate
        grown = tuple(note for note in t.notes if " grew from " in note)  # slow speech
        notes = tuple(note for note in t.notes if note not in grown)
        if routine_id == "four-seven-eight":
            assert t.duration == unstretched.duration
            assert notes == ("four-seven-eight has a fixed length; --minutes does not change it",)
        elif notes:
            assert t.duration > target
            assert notes == (f"the shortest {routine_id} session lasts"
                               f" {t.duration_s // 60:.0f}:{round(t.duration_s % 60):02d},"
                               f" longer than the {minutes}-minute target; it plays that long",)
            assert t.duration == shortest.duration
        else:
            assert t.duration == target, minutes
        pace = r.pace
        phases = {"inhale": pace.inhale_s, "exhale": pace.exhale_s}
        starts = [e.start for e in t.events]
        for before, after in zip(t.events, t.events[1:], strict=False):
            assert before.end == after.start
            if before.cue in phases and before.step == after.step and not grown:
                phase_end = before.start + round(phases[before.cue] * t.sample_rate)
                assert phase_end in starts[bisect_left(starts, before.start):][:8], (
                    minutes, before)  # the next phase (or step) starts exactly then


def test_slower_speech_keeps_the_session_at_its_target():
    """Slower speech leaves room for fewer spots; both sessions end on the target sample."""
    r = load_builtin("psoas-release")
    slow = plan(r, PlanSettings(), estimated_speech_length(100), cue_length(15000))
    fast = plan(r, PlanSettings(), estimated_speech_length(250), cue_length(15000))
    for t in (slow, fast):
        assert t.duration == 7 * 60 * t.sample_rate
    spots = [sum(event.cue == "spot" for event in t.events) for t in (slow, fast)]
    assert spots[0] < spots[1], spots


def test_spoken_pace_follows_the_pace_in_force():
    r = routine('caution = "Go {pace}."\n[breath]\ninhale_s = 4\nexhale_s = 6\n'
                '[[steps]]\nsay = "Next: in for {inhale_s}, out for {exhale_s}."\n'
                '[[steps]]\nbreathe = { count = 1, inhale_s = 3, exhale_prompt = "out {exhale_s}" }\n'
                '[[steps]]\nsay = "Then {pace}."\n'
                '[[steps]]\n[steps.repeat]\ntimes = 1\n[[steps.repeat.steps]]\n'
                'say = "Round {n}: {pace}."\n'
                '[[steps.repeat.steps]]\nbreathe = { count = 1, hold_in_s = 2.5 }\n'
                '[[steps]]\nsay = "Done {pace}."\n')

    def spoken(**kwargs):
        t = plan(r, settings(**kwargs), words_length(100), cue_length(100))
        return [e.text for e in t.events if e.kind == "speech"][:-1]

    assert spoken() == ["Go in for three, out for six.", "Next: in for three, out for six.",
                        "out six", "Then in for four, hold for two and a half, out for six.",
                        "Round 1: in for four, hold for two and a half, out for six.",
                        "Done in for four, out for six."]
    assert spoken(pace=Pace(5, 5, 5, 5)) == ["Go " + "in for five, hold for five, out for five,"
                                             " hold for five."] + [
        "Next: in for five, out for five.", "out five"] + [
        f"{lead} in for five, hold for five, out for five, hold for five."
        for lead in ("Then", "Round 1:", "Done")]


def test_box_breathing_says_the_pace_it_paces():
    r = load_builtin("box-breathing")
    for pace, words in ((None, "four"), (Pace(5, 5, 5, 5), "five"),
                        (Pace(4.5, 4.5, 4.5, 4.5), "four and a half")):
        t = plan(r, PlanSettings(pace=pace), estimated_speech_length(140), cue_length(8000))
        text = " ".join(e.text for e in t.events if e.kind == "speech" and e.text)
        assert (f"in a square: in for {words}, hold for {words}, out for {words},"
                f" hold for {words}.") in text
        numbers = {"four", "five", "six", "seven", "eight"} - set(words.split())
        assert not numbers & set(text.replace(",", " ").replace(".", " ").split())


NUMBERED = ('caution = "careful"\n[[steps]]\nsay = "first"\n'
            '[[steps]]\n[steps.repeat]\ntimes = 2\n[[steps.repeat.steps]]\nsay = "again {n}"\n'
            '[[steps.repeat.steps]]\nbreathe = { count = 1 }\n'
            '[[steps]]\nsay = "last"\n')


def test_steps_are_numbered_alike_in_plan_on_screen_and_in_errors():
    t = plan(routine(NUMBERED), settings(), words_length(100), cue_length(100))
    assert t.step_sources == (None, "caution", "steps[1]", "steps[2], repetition 1",
                              "steps[2], repetition 2", "steps[3]", None)
    headers = [line for line in describe(t) if line.startswith("step ")]
    assert headers == ["step 1/7: Starting", "step 2/7 (caution): Caution",
                       "step 3/7 (steps[1])", "step 4/7 (steps[2], repetition 1): again 1",
                       "step 5/7 (steps[2], repetition 2): again 2", "step 6/7 (steps[3])",
                       "step 7/7: Session complete"]
    for index, header in enumerate(headers):  # the screen, at the start of each step
        out = io.StringIO()
        live.TerminalDisplay(out, width=100).show(
            live.status_at(t, t.step_starts()[index], paused=False))
        shown = re.search(r"  (step \d+/\d+)  ", out.getvalue())
        assert shown is not None and re.split(r"[ :]", header)[:2] == shown[1].split(), header
    broken = NUMBERED.replace('breathe = { count = 1 }', 'breathe = { count = 0 }')
    with pytest.raises(RoutineError) as caught:
        routine(broken)
    assert str(caught.value) == ("t.toml: steps[2].repeat.steps[2].breathe.count: expected a"
                                 " whole number from 1 to 100, got 0")


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


# --- Step titles ----------------------------------------------------------------------------

TITLED = ('caution = "careful"\n'
          '[[steps]]\ntitle = "Lie down"\nsay = "Lie down on your back, and rest."\n'
          '[[steps]]\ntitle = "Slow breaths"\nbreathe = { count = 2 }\n'
          '[[steps]]\ntitle = "{nth} spot"\n[steps.repeat]\ntimes = 2\ncount_from = 2\n'
          '[[steps.repeat.steps]]\nsay = "Find a {nth} spot."\n'
          '[[steps]]\nsay = "Now let your fingers sink slowly deeper, a little at a time."\n'
          '[[steps]]\nbreathe = { count = 1 }\n')


def test_a_step_is_shown_by_its_title_or_a_short_one_made_from_its_first_sentence():
    t = plan(routine(TITLED), settings(), words_length(100), cue_length(100))
    assert t.step_labels == ("Starting", "Caution", "Lie down", "Slow breaths", "Second spot",
                             "Third spot", "Now let your fingers sink slowly deeper…",
                             "1 breath: in 4 s, out 6 s", "Session complete")
    assert "Find a second spot." in t.speech_texts()  # the title is shown, never spoken
    assert not {"Lie down", "Slow breaths"} & set(t.speech_texts())
    headers = [line for line in describe(t) if line.startswith("step ")]
    assert headers[2:5] == ["step 3/9 (steps[1]): Lie down", "step 4/9 (steps[2]): Slow breaths",
                            "step 5/9 (steps[3], repetition 1): Second spot"]


@pytest.mark.parametrize(("text", "title"), [
    ("A word of care before we start. Use gentle pressure only.",
     "A word of care before we start"),
    ("Lie down on your back, on a bed or on the floor, and bend your knees.",
     "Lie down on your back, on a bed or on…"),
    ("Round 3.", "Round 3"),
    ("Wait... then breathe.", "Wait..."),
    ("Is it tight? Ease off.", "Is it tight?"),
    ("¿Notas la tensión? Quédate ahí.", "¿Notas la tensión?"),
    ("Eine-sehr-lange-Zusammensetzung-ohne-jedes-Leerzeichen-darin.",
     "Eine-sehr-lange-Zusammensetzung-ohne-jed…"),
])
def test_a_title_made_from_a_line_is_its_first_sentence_cut_at_a_word(text, title):
    assert short_title(text) == title
    assert len(short_title(text)) <= TITLE_CHARS + 1


@pytest.mark.parametrize("lang", ["en", "de", "es", "fr"])
@pytest.mark.parametrize("routine_id", ["psoas-release", "box-breathing", "four-seven-eight",
                                        "resonance"])
def test_every_builtin_step_has_a_short_title_in_every_language(routine_id, lang):
    """Titled in the routine, none over 40 characters and none a cut line: what a lock
    screen and a headset show. A breathe step is titled by its breaths and their pace
    (``3 breaths: in 4 s, out 6 s``), which a ramp changes from one to the next."""
    loaded = load_builtin(routine_id, lang)
    for step in loaded.steps:
        if isinstance(step, Say | Repeat) and not (
                isinstance(step, Repeat) and all(isinstance(s, Breathe) for s in step.steps)):
            assert step.title is not None, step
    t = plan(loaded, PlanSettings(), estimated_speech_length(140), cue_length(15000))
    breaths_only = sum(1 if isinstance(step, Breathe) else step.times or 0
                       for step in loaded.steps if isinstance(step, Breathe) or (
                           isinstance(step, Repeat)
                           and all(isinstance(inner, Breathe) for inner in step.steps)))
    titles = [label for label in t.step_labels if not re.match(r"\d+ \w+: ", label)]
    assert len(titles) == len(t.step_labels) - breaths_only
    assert all(len(title) <= TITLE_CHARS and not title.endswith("…") for title in titles), titles
