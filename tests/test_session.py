"""Putting a session together: options, a fake engine, a real cache and the real cues."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support.fakes import FakeFactory
from voice_coach.cache import ClipCache
from voice_coach.export import export_session
from voice_coach.formats import FORMATS
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.plan import PlanSettings
from voice_coach.routine import load_builtin, parse_routine
from voice_coach.session import SessionError, SessionOptions, build_session
from voice_coach.speech import SpeechSettings


def counted_words(text: str, settings: SpeechSettings) -> Samples:
    """A loud sawtooth a word long per word."""
    count = round(len(text.split()) * 60 / settings.rate_wpm * SAMPLE_RATE)
    return ((np.arange(count) % 201 - 100) * 327).astype(np.int16)


def counting_factory() -> FakeFactory:
    return FakeFactory(counted_words, name="counting", version="1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"volume": 1.5}, "volume must be from 0 to 1, got 1.5"),
        ({"volume": float("nan")}, "volume must be from 0 to 1, got nan"),
        ({"volume": -0.1}, "volume must be from 0 to 1, got -0.1"),
        ({"chime_volume": 2.5}, "chime volume must be from 0 to 2, got 2.5"),
        ({"chime_volume": float("inf")}, "chime volume must be from 0 to 2, got inf"),
    ],
)
def test_levels_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SessionError) as caught:
        SessionOptions(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_levels_default_to_full_volume() -> None:
    options = SessionOptions()
    assert (options.volume, options.chime_volume) == (1.0, 1.0)
    assert (options.levels.voice, options.levels.chime) == (1.0, 1.0)


def test_another_volume_on_a_warm_cache_renders_nothing(tmp_path: Path) -> None:
    """Volume is a mixer gain: the clips are the same, only the mix is scaled."""
    routine = load_builtin("box-breathing")
    cache = ClipCache(tmp_path / "clips")
    cold = counting_factory()
    loud = build_session(routine, SessionOptions(plan=PlanSettings(minutes=2)), cold, cache)
    assert cold.opened == 1 and cold.rendered

    warm = counting_factory()
    quiet = build_session(routine, SessionOptions(plan=PlanSettings(minutes=2), volume=0.5,
                                                  chime_volume=0.5), warm, cache)
    assert (warm.opened, warm.rendered) == (0, [])

    assert quiet.timeline == loud.timeline
    whole, half = loud.mixer().render(), quiet.mixer().render()
    for event in loud.timeline.events:
        expected = whole[event.start:event.end].astype(np.float64) * 0.5
        assert np.array_equal(half[event.start:event.end], np.rint(expected)), event
    spoken = [e for e in loud.timeline.events if e.kind == "speech"]
    assert spoken and all(whole[e.start:e.end].any() for e in spoken)


class CountingCache(ClipCache):
    """A clip cache that counts the entries read whole, by key."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.reads: dict[str, int] = {}

    def get(self, key: str) -> Samples | None:
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key)


def test_a_warm_session_reads_each_leveled_line_once_and_no_line_itself(
        tmp_path: Path) -> None:
    """Warm, a line is known from its cache entry's header, and its leveled line is
    found by that header's checksum: the mix reads each leveled line once (the session's
    few lines all stay leveled in memory), the line itself never, at any volume."""
    routine = load_builtin("box-breathing")
    options = SessionOptions(plan=PlanSettings(minutes=2))
    cold = build_session(routine, options, counting_factory(), ClipCache(tmp_path)).mixer()
    whole = cold.render()  # the mix levels the cues too: they are kept beside the lines
    for volume in (1.0, 0.5):
        cache = CountingCache(tmp_path)
        warm = build_session(routine, SessionOptions(plan=PlanSettings(minutes=2),
                                                     volume=volume),
                             counting_factory(), cache)
        assert cache.reads == {}
        mixed = warm.mixer().render()
        cues = {e.cue for e in warm.timeline.events if e.kind == "cue"}
        assert len(cache.reads) == len(warm.timeline.speech_texts()) + len(cues)
        assert set(cache.reads.values()) == {1}
        if volume == 1.0:
            assert np.array_equal(mixed, whole)


@pytest.mark.parametrize("name", ["wav", "opus"])
def test_a_warm_export_reads_each_cached_entry_once(tmp_path: Path, name: str) -> None:
    """The narration files and the session take their lines from one mixer: a warm
    export reads each leveled line and cue once, whether the session is written on the
    calling thread (WAV) or on an encoding thread beside the narration (Opus)."""
    routine = load_builtin("box-breathing")
    options = SessionOptions(plan=PlanSettings(minutes=2))
    build_session(routine, options, counting_factory(), ClipCache(tmp_path)).mixer().render()
    cache = CountingCache(tmp_path)
    warm = build_session(routine, options, counting_factory(), cache)
    export_session(warm.mixer(), tmp_path / "out", audio_format=FORMATS[name])
    cues = {e.cue for e in warm.timeline.events if e.kind == "cue"}
    assert len(cache.reads) == len(warm.timeline.speech_texts()) + len(cues)
    assert set(cache.reads.values()) == {1}


WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve"]
DISTINCT_LINES = parse_routine(
    'id = "lines"\ntitle = "Lines"\n' + "".join(
        f'[[steps]]\nsay = "{" ".join(WORDS[n:] + WORDS[:n])}"\nhold_s = 1\n'
        for n in range(12)),
    source="lines.toml")
"""Twelve different lines of twelve words: about 2.4 MB of speech from ``counted_words``."""


@pytest.mark.parametrize("name", ["wav", "mp3"])
def test_a_warm_export_of_more_speech_than_the_mixer_keeps_reads_each_line_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Each narration clip is written as the session's mix reaches its line, from the
    clip the mix has just used: with the mixer keeping a third of the session's speech,
    every leveled line is still read once."""
    from voice_coach import mix

    options = SessionOptions()
    build_session(DISTINCT_LINES, options, counting_factory(),
                  ClipCache(tmp_path)).mixer().render()
    cache = CountingCache(tmp_path)
    warm = build_session(DISTINCT_LINES, options, counting_factory(), cache)
    speech_bytes = sum(2 * (e.end - e.start) for e in warm.timeline.events
                       if e.kind == "speech")
    monkeypatch.setattr(mix, "LEVELED_BYTES", speech_bytes // 3)
    export_session(warm.mixer(), tmp_path / "out", audio_format=FORMATS[name])
    cues = {e.cue for e in warm.timeline.events if e.kind == "cue"}
    texts = warm.timeline.speech_texts()
    assert len(set(texts)) == len(texts) >= 12
    assert len(cache.reads) == len(texts) + len(cues)
    assert set(cache.reads.values()) == {1}


def test_the_chime_volume_does_not_follow_the_voice_volume(tmp_path: Path) -> None:
    """--chime-volume is relative to the voice at full volume: a quieter voice leaves the
    chimes as they are, and the speech alone is scaled."""
    routine = load_builtin("box-breathing")
    cache = ClipCache(tmp_path / "clips")
    plan = PlanSettings(minutes=2)
    full = build_session(routine, SessionOptions(plan=plan), counting_factory(), cache)
    quiet = build_session(routine, SessionOptions(plan=plan, volume=0.5), counting_factory(),
                          cache)
    whole, half = full.mixer().render(), quiet.mixer().render()
    kinds = {"speech": 0.5, "cue": 1.0, "silence": 1.0}
    for event in full.timeline.events:
        expected = np.rint(whole[event.start:event.end].astype(np.float64) * kinds[event.kind])
        assert np.array_equal(half[event.start:event.end], expected), event
    assert any(e.kind == "cue" for e in full.timeline.events)
