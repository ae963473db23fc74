"""The mixer with literal clips: every sample where the plan puts it."""

from __future__ import annotations

import numpy as np
import pytest

from voice_coach.mix import Clips, Levels, Mixer, apply_gain, mix
from voice_coach.plan import Event, PlanSettings, Timeline, plan
from voice_coach.routine import parse_routine


def clip(value: int, length: int) -> np.ndarray:
    return np.full(length, value, dtype=np.int16)


def small_timeline() -> Timeline:
    return Timeline(
        routine_id="t",
        sample_rate=100,
        events=(
            Event(0, 5, "silence", 0),
            Event(5, 8, "cue", 0, cue="inhale"),
            Event(8, 12, "speech", 1, text="hi"),
            Event(12, 15, "silence", 1),
            Event(15, 18, "cue", 2, cue="end"),
        ),
        step_labels=("a", "b", "c"),
    )


CLIPS = Clips(speech={"hi": np.array([1, -2, 3, -4], dtype=np.int16)},
              cues={"inhale": clip(7, 3), "end": np.array([100, 200, 300], dtype=np.int16)})


def test_every_clip_lands_on_its_sample():
    out = mix(small_timeline(), CLIPS)
    assert out.dtype == np.int16
    assert out.tolist() == [0, 0, 0, 0, 0, 7, 7, 7, 1, -2, 3, -4, 0, 0, 0, 100, 200, 300]


@pytest.mark.parametrize("levels", [Levels(), Levels(voice=0.5, chime=1.5)])
@pytest.mark.parametrize("start, stop", [(0, 18), (0, 6), (6, 10), (9, 16), (17, 40), (3, 3)])
def test_any_range_matches_the_whole(start, stop, levels):
    whole = mix(small_timeline(), CLIPS, levels)
    mixer = Mixer(small_timeline(), CLIPS, levels)
    part = mixer.render(start, stop)
    assert part.tolist() == whole[start:stop].tolist()
    assert mixer.render(start, stop).tolist() == part.tolist()  # asked again, same samples


def test_chunks_concatenate_to_the_whole_on_a_real_plan():
    r = parse_routine('id = "t"\ntitle = "T"\n[[steps]]\nsay = "one two three"\n'
                      '[[steps]]\nbreathe = { count = 3, exhale_prompt = "out" }\n',
                      source="t.toml")
    rng = np.random.default_rng(7)
    texts = ["one two three", "out", "Session complete."]
    speech = {t: rng.integers(-9000, 9000, 1000 + 37 * i, dtype=np.int16)
              for i, t in enumerate(texts)}
    cues = {role: rng.integers(-9000, 9000, 300 + i, dtype=np.int16)
            for i, role in enumerate(("start", "inhale", "exhale", "hold", "spot", "end"))}
    timeline = plan(r, PlanSettings(), lambda t: len(speech[t]), lambda role: len(cues[role]))
    mixer = Mixer(timeline, Clips(speech, cues))
    whole = mixer.render()
    assert len(whole) == timeline.duration
    chunked = np.concatenate([mixer.render(s, s + 4097) for s in range(0, timeline.duration, 4097)])
    assert np.array_equal(chunked, whole)
    for event in timeline.events:
        piece = whole[event.start:event.end]
        if event.kind == "speech":
            assert np.array_equal(piece, speech[event.text])
        elif event.kind == "cue":
            assert np.array_equal(piece, cues[event.cue])
        else:
            assert not piece.any()


def test_apply_gain_scales_and_rounds():
    samples = np.array([0, 1, 3, -3, 32767, -32768], dtype=np.int16)
    assert apply_gain(samples, 1.0) is samples
    assert apply_gain(samples, 0.5).tolist() == [0, 0, 2, -2, 16384, -16384]
    assert apply_gain(samples, 0.0).tolist() == [0, 0, 0, 0, 0, 0]
    assert apply_gain(samples, 0.5).dtype == np.int16


def test_apply_gain_rounds_a_double_precision_product():
    """The product is a float64, as the voice volume always was: 45 * 0.7 is just under
    31.5 and rounds to 31 (in float32 it becomes 31.5 and rounds to 32)."""
    samples = np.array([45, -23405, 15, 10000], dtype=np.int16)
    assert apply_gain(samples, 0.7).tolist() == [31, -16383, 10, 7000]


def test_voice_gain_scales_only_the_voice():
    """The person's volume: a quieter voice leaves the chimes as they are."""
    out = mix(small_timeline(), CLIPS, Levels(voice=0.5, chime=1.0))
    assert out[5:8].tolist() == [7, 7, 7]
    assert out[8:12].tolist() == [0, -1, 2, -2]  # half of 1, -2, 3, -4, rounded half to even
    assert out[15:18].tolist() == [100, 200, 300]


def test_chime_gain_scales_only_chimes():
    out = mix(small_timeline(), CLIPS, Levels(voice=1.0, chime=0.5))
    assert out[5:8].tolist() == [4, 4, 4]  # 7 * 0.5 = 3.5, rounded half to even
    assert out[8:12].tolist() == [1, -2, 3, -4]
    assert out[15:18].tolist() == [50, 100, 150]


def test_a_gain_that_would_clip_is_limited_never_wrapped():
    loud = Clips(speech={"hi": np.array([30000, -30000, 1, 0], dtype=np.int16)},
                 cues={"inhale": clip(-32768, 3), "end": clip(20000, 3)})
    out = mix(small_timeline(), loud, Levels(voice=2.0, chime=2.0))
    assert out[8:12].tolist() == [32767, -32767, 1, 0]
    assert out[5:8].tolist() == [-32767] * 3
    assert out[15:18].tolist() == [32767] * 3


def test_a_clip_of_the_wrong_length_is_a_bug_not_a_silent_shift():
    wrong = Clips(speech={"hi": clip(1, 5)}, cues=CLIPS.cues)
    with pytest.raises(ValueError, match="clip for speech at sample 8 has 5 samples, the timeline says 4"):
        mix(small_timeline(), wrong)


def test_leveled_clips_are_kept_within_a_bound_and_stay_exact():
    from voice_coach.mix import LEVELED_CLIPS

    count = LEVELED_CLIPS * 3
    texts = [f"line {n}" for n in range(count)]
    events = tuple(Event(10 * n, 10 * n + 10, "speech", n, text=t) for n, t in enumerate(texts))
    timeline = Timeline("t", 100, events, tuple(texts))
    clips = Clips(speech={t: clip(1000 + n, 10) for n, t in enumerate(texts)}, cues={})
    mixer = Mixer(timeline, clips, Levels(voice=0.5))
    whole = mixer.render()
    assert len(mixer._leveled) <= LEVELED_CLIPS
    assert whole.tolist() == [round((1000 + n) * 0.5) for n in range(count) for _ in range(10)]
    assert mixer.render(0, 10).tolist() == whole[:10].tolist()  # dropped, made again, the same
