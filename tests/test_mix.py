"""The mixer with literal clips: every sample where the plan puts it."""

from __future__ import annotations

import numpy as np
import pytest

from voice_coach import ambient, bed_noise
from voice_coach.ambient import BedSpec
from voice_coach.mix import Clips, Levels, Mixer, apply_gain, mix
from voice_coach.pcm import Samples
from voice_coach.plan import PlanSettings, plan
from voice_coach.routine import parse_routine
from voice_coach.timeline import Event, Timeline


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


def random_session(breaths: int, speech_samples: int, cue_samples: int
                   ) -> tuple[Timeline, dict[str, Samples], dict[str, Samples]]:
    """A real plan (a line, then ``breaths`` breaths with a spoken exhale), its clips random
    and each a few samples longer than the last: the timeline, the speech, the cues."""
    r = parse_routine('id = "t"\ntitle = "T"\n[[steps]]\nsay = "one two three"\n'
                      f'[[steps]]\nbreathe = {{ count = {breaths}, exhale_prompt = "out" }}\n',
                      source="t.toml")
    rng = np.random.default_rng(7)
    texts = ["one two three", "out", "Session complete."]
    speech = {t: rng.integers(-9000, 9000, speech_samples + 37 * i, dtype=np.int16)
              for i, t in enumerate(texts)}
    cues = {role: rng.integers(-9000, 9000, cue_samples + i, dtype=np.int16)
            for i, role in enumerate(("start", "inhale", "exhale", "hold", "spot", "end"))}
    timeline = plan(r, PlanSettings(), lambda t: len(speech[t]), lambda role: len(cues[role]))
    return timeline, speech, cues


def test_chunks_concatenate_to_the_whole_on_a_real_plan():
    timeline, speech, cues = random_session(3, 1000, 300)
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
    from voice_coach.mix import LEVELED_BYTES

    length = 100_000  # 200 kB a clip: 48 of them are more than the bound
    count = 48
    texts = [f"line {n}" for n in range(count)]
    events = tuple(Event(length * n, length * (n + 1), "speech", n, text=t)
                   for n, t in enumerate(texts))
    timeline = Timeline("t", 100, events, tuple(texts))
    clips = Clips(speech={t: clip(1000 + n, length) for n, t in enumerate(texts)}, cues={})
    mixer = Mixer(timeline, clips, Levels(voice=0.5))
    whole = mixer.render()
    assert sum(c.samples.nbytes for c in mixer._leveled.values()) <= LEVELED_BYTES
    assert np.array_equal(whole, np.repeat(np.rint((1000 + np.arange(count)) * 0.5), length))
    assert mixer.render(0, 10).tolist() == whole[:10].tolist()  # dropped, made again, the same


# --- Levels calibrated to a loudness target (what every session uses) ------------------


def noisy_clips(seed: int = 11, spikes: bool = True,
                cues: dict | None = None) -> tuple[Timeline, Clips]:
    """A real plan with speech-like clips at various levels, peaking at full scale."""
    r = parse_routine('id = "t"\ntitle = "T"\n[[steps]]\nsay = "one two three"\n'
                      '[[steps]]\nbreathe = { count = 3, exhale_prompt = "out" }\n',
                      source="t.toml")
    rng = np.random.default_rng(seed)
    rate = 22050

    def burst(seconds: float, level: float) -> np.ndarray:
        n = round(seconds * rate)
        x = rng.standard_normal(n) * level * np.hanning(n)
        if spikes:
            x[n // 3] = 0.99
        return np.rint(np.clip(x, -1, 1) * 32767).astype(np.int16)

    texts = ["one two three", "out", "Session complete."]
    speech = {t: burst(1.2 + 0.4 * i, 0.02 * (i + 1)) for i, t in enumerate(texts)}
    cues = cues or {role: burst(0.3 + 0.1 * i, 0.05) for i, role in
                    enumerate(("start", "inhale", "exhale", "hold", "spot", "end"))}
    timeline = plan(r, PlanSettings(sample_rate=rate), lambda t: len(speech[t]),
                    lambda role: len(cues[role]))
    return timeline, Clips(speech, cues)


CALIBRATED = Levels(target_lufs=-19.0)


@pytest.mark.parametrize("levels", [CALIBRATED, Levels(voice=0.5, chime=2.0, target_lufs=-19.0)])
def test_a_calibrated_range_is_the_same_samples_as_the_whole_mix(levels):
    """What streaming relies on: a mixer asked only for a late range, having leveled
    nothing before, gives that range of the whole session to the sample."""
    timeline, clips = noisy_clips()
    whole = Mixer(timeline, clips, levels).render()
    n = timeline.duration
    for start, stop in [(n // 2, n // 2 + 5000), (n - 3000, n), (0, 1), (1234, 98765)]:
        fresh = Mixer(timeline, clips, levels)
        assert np.array_equal(fresh.render(start, stop), whole[start:stop]), (start, stop)
    chunked = Mixer(timeline, clips, levels)
    pieces = [chunked.render(s, s + 4097) for s in range(0, n, 4097)]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_every_clip_is_calibrated_to_the_target_and_under_the_ceiling():
    from voice_coach.loudness import CEILING_DBTP, loudness_in_silence, true_peak_dbtp

    timeline, clips = noisy_clips()
    mixer = Mixer(timeline, clips, CALIBRATED)
    whole = mixer.render()
    for event in timeline.events:
        piece = whole[event.start:event.end]
        if event.kind == "silence":
            assert not piece.any()
            continue
        # 1 LU: these clips are a 30 dB spike on faint noise, the worst case for the
        # limiter; speech-like clips land within 0.15 (test_loudness)
        assert loudness_in_silence(piece, 22050) == pytest.approx(-19.0, abs=1.0), event
        assert true_peak_dbtp(piece, 22050) <= CEILING_DBTP + 0.01, event
    assert all(leveled.reduction_db > 0 for leveled in mixer.leveled_clips())


def test_calibrated_voice_volume_halves_the_leveled_voice_exactly():
    """--volume is relative to the calibrated voice: half of it, rounded, chimes untouched."""
    timeline, clips = noisy_clips()
    full = Mixer(timeline, clips, CALIBRATED).render()
    half = Mixer(timeline, clips, Levels(voice=0.5, target_lufs=-19.0)).render()
    for event in timeline.events:
        span = slice(event.start, event.end)
        gain = 0.5 if event.kind == "speech" else 1.0
        assert np.array_equal(half[span], np.rint(full[span].astype(np.float64) * gain)), event


def test_calibrated_chime_volume_two_is_six_db_louder_and_still_limited():
    """On the built-in chimes: +6 dB, except that the short hold tick (a 16 dB crest)
    cannot rise that far under the ceiling; the limiter gives it what fits."""
    from voice_coach.cues import load_cue
    from voice_coach.loudness import CEILING_DBTP, loudness_in_silence, true_peak_dbtp

    roles = ("start", "inhale", "exhale", "hold", "spot", "end")
    timeline, clips = noisy_clips(spikes=False, cues={role: load_cue(role) for role in roles})
    loud = Mixer(timeline, clips, Levels(chime=2.0, target_lufs=-19.0)).render()
    found = set()
    for event in timeline.events:
        if event.kind == "cue":
            found.add(event.cue)
            piece = loud[event.start:event.end]
            lowest = -19.0 + 6.02 - (3.5 if event.cue == "hold" else 0.5)
            assert lowest <= loudness_in_silence(piece, 22050) <= -19.0 + 6.02 + 0.3, event
            assert true_peak_dbtp(piece, 22050) <= CEILING_DBTP + 0.01
    assert {"start", "inhale", "exhale", "end"} <= found


def test_a_cue_from_the_persons_own_file_plays_as_the_file_holds_it():
    """Calibration is for speech and the built-in chimes; a file the person chose plays at
    its own level (only the chime volume scales it), even in a calibrated session."""
    timeline, clips = noisy_clips()
    own = Clips(clips.speech, clips.cues, as_recorded=frozenset({"inhale", "exhale"}))
    for chime in (1.0, 0.5):
        out = Mixer(timeline, own, Levels(chime=chime, target_lufs=-19.0)).render()
        calibrated = Mixer(timeline, clips, Levels(chime=chime, target_lufs=-19.0)).render()
        for event in timeline.events:
            span = slice(event.start, event.end)
            if event.cue in ("inhale", "exhale"):
                assert np.array_equal(out[span], apply_gain(clips.cues[event.cue], chime))
            else:
                assert np.array_equal(out[span], calibrated[span]), event


@pytest.mark.parametrize("levels", [CALIBRATED, Levels(voice=0.5, chime=2.0, target_lufs=-19.0)])
def test_a_stored_level_gives_the_same_samples_and_levels_nothing_again(
        levels, tmp_path, monkeypatch):
    """Leveled clips kept in the clip cache (``ClipCache.put_leveled``): a second run
    measures and limits nothing, and mixes exactly what leveling afresh gives."""
    from voice_coach import loudness
    from voice_coach.cache import ClipCache

    timeline, clips = noisy_clips()
    fresh = Mixer(timeline, clips, levels)
    expected = fresh.render()
    store = ClipCache(tmp_path / "clips")
    assert np.array_equal(Mixer(timeline, clips, levels, store).render(), expected)
    calls: list[int] = []
    real_level = loudness.level
    monkeypatch.setattr(loudness, "level", lambda *a, **k: calls.append(1) or real_level(*a, **k))
    again = Mixer(timeline, clips, levels, store)
    assert np.array_equal(again.render(), expected)
    assert calls == []
    assert [(c.gain_db, c.reduction_db) for c in again.leveled_clips()] == [
        (c.gain_db, c.reduction_db) for c in fresh.leveled_clips()]


def bed_session(bed: BedSpec | None) -> Mixer:
    """A real plan of about a minute, its clips random, with ``bed`` under it."""
    timeline, speech, cues = random_session(6, 20000, 3000)
    return Mixer(timeline, Clips(speech, cues), Levels(bed=bed))


@pytest.mark.parametrize("name", ambient.BED_NAMES)
def test_a_bed_is_under_every_sample_and_any_range_is_the_whole(name):
    mixer = bed_session(BedSpec(name))
    plain = bed_session(None).render()
    whole = mixer.render()
    span = mixer.bed_span
    assert span is not None
    assert len(whole) == mixer.timeline.duration == len(plain)
    for size in (4097, 22050 * 10, 1):
        if size == 1:  # a few single samples across the fades and a block edge
            starts = [0, span.fade_in - 1, span.fade_in, bed_noise.BLOCK - 1, bed_noise.BLOCK,
                      span.fade_out, span.fade_out + 1, mixer.timeline.duration - 1]
            assert [int(mixer.render(s, s + 1)[0]) for s in starts] == [whole[s] for s in starts]
            continue
        chunked = np.concatenate([mixer.render(s, s + size)
                                  for s in range(0, mixer.timeline.duration, size)])
        assert np.array_equal(chunked, whole)
    # the clips are where they were; what is added is the bed, rounded once
    bed = np.rint(ambient.bed_range(BedSpec(name), span, 22050, 0, len(whole)) * 32768)
    bed = np.concatenate([bed, np.zeros(len(whole) - len(bed))])
    assert np.array_equal(whole.astype(np.int64) - plain, bed.astype(np.int64))
    assert bed[0] == 0 and not bed[span.end:].any() and np.any(bed[span.fade_in:span.fade_out])
    assert span.fade_out == mixer.timeline.step_starts()[-1]  # away under the end chime
    assert span.end == span.fade_out + 3 * 22050


def test_without_a_bed_the_session_is_the_clips_alone():
    mixer = bed_session(None)
    assert mixer.bed_span is None
    whole = mixer.render()
    silent = np.zeros(len(whole), dtype=bool)
    for event in mixer.timeline.events:
        if event.kind == "silence":
            silent[event.start:event.end] = True
    assert not whole[silent].any()


def test_a_tail_is_mixed_like_the_rest_any_range_the_whole():
    mixer = bed_session(BedSpec("pink", 0.0, 30.0))
    tailed = Mixer(ambient.with_tail(mixer.timeline, 30.0), mixer.clips, mixer.levels)
    whole = tailed.render()
    assert len(whole) == mixer.timeline.duration + 30 * 22050
    chunked = np.concatenate([tailed.render(s, s + 7001) for s in range(0, len(whole), 7001)])
    assert np.array_equal(chunked, whole)
    end = mixer.timeline.duration
    assert np.array_equal(whole[:end - 22050 * 5], mixer.render(0, end - 22050 * 5))  # no fade
    assert np.any(whole[end:]) and whole[-1] == 0
