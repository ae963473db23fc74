"""Composing a session as it plays, and the stream the device plays it from.

A fake engine (fast, slow, or failing on demand) and a real clip cache; the real planner,
mixer and memory map. The reference for every sample is the session ``export`` mixes.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import mmap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from support.fakes import FakeFactory
from voice_coach import lines as lines_module
from voice_coach import session as session_module
from voice_coach import stream as streaming
from voice_coach.cache import ClipCache
from voice_coach.lines import HELD_CLIPS_BYTES, UNCACHED_CLIPS_BYTES, SpokenLines
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.plan import PlanSettings, estimated_speech_length
from voice_coach.routine import load_builtin
from voice_coach.session import Composer, Session, SessionOptions, build_session
from voice_coach.speech import SpeechError, SpeechSettings
from voice_coach.stream import SessionStream
from voice_coach.timeline import Event

RATE = SAMPLE_RATE


def sawtooth(text: str, settings: SpeechSettings) -> Samples:
    """A sawtooth per word, each text's own."""
    count = round(len(text.split()) * 60 / settings.rate_wpm * RATE) + len(text)
    step = 50 + len(text) % 150
    return ((np.arange(count) % step - step // 2) * 200).astype(np.int16)


def fake_factory(before_batch: Callable[[int], None] | None = None) -> FakeFactory:
    """The engine is slow or fails where ``before_batch`` says (see ``FakeEngine``)."""
    return FakeFactory(sawtooth, version="1", before_batch=before_batch)


def psoas(minutes: float = 10) -> tuple[Composer, Samples]:
    """A composer for psoas and the whole session as export mixes it (another cache)."""
    return composer_for(minutes), reference(minutes)


def composer_for(minutes: float, factory: FakeFactory | None = None,
                 cache: ClipCache | None = None) -> Composer:
    options = SessionOptions(plan=PlanSettings(minutes=minutes))
    return Composer(load_builtin("psoas-release"), options, factory or fake_factory(), cache)


def reference(minutes: float) -> Samples:
    return reference_session(minutes).mixer().render()


def reference_session(minutes: float) -> Session:
    options = SessionOptions(plan=PlanSettings(minutes=minutes))
    return build_session(load_builtin("psoas-release"), options, fake_factory(), None)


def first_line(session: Session) -> Event:
    return next(e for e in session.timeline.events if e.kind == "speech")


class Playhead:
    """Where the test says the device is."""

    def __init__(self) -> None:
        self.at = 0

    def __call__(self) -> int:
        return self.at

    def move(self, sample: int) -> None:
        """What ``Playback.seek`` does to the device's position."""
        self.at = sample


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout_s:g} s", pytrace=False)
        time.sleep(0.005)


def resident_bytes(samples: Samples) -> int:
    """Resident memory of the pages that hold ``samples``, asked of the kernel page by page
    (mincore). Not /proc/self/smaps: the kernel merges neighbouring anonymous mappings
    into one entry there, so the mixer's own large temporaries would count."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = mmap.PAGESIZE
    start = samples.ctypes.data - samples.ctypes.data % page
    length = samples.ctypes.data + samples.nbytes - start
    pages = -(-length // page)
    vector = (ctypes.c_ubyte * pages)()
    if libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vector) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return sum(1 for flag in vector if flag & 1) * page


# --- Composing in stages ----------------------------------------------------------------


def test_a_filled_session_is_final_in_three_stages_that_never_change_what_came_before() -> None:
    composer, whole = psoas()
    assert composer.length == len(whole) == 10 * 60 * RATE
    scores = list(composer.scores())
    assert [s.complete for s in scores] == [False, False, True]
    opening, first_line, done = scores
    events = done.mixer.timeline.events
    first = next(e for e in events if e.kind == "speech")
    assert opening.final == first.start  # the lead-in and the start chime
    assert first_line.final == first.end
    assert done.final == len(whole)
    for score in scores:
        assert np.array_equal(score.mixer.render(0, score.final), whole[:score.final])
    assert np.abs(whole[:opening.final].astype(np.int32)).max() > 1000  # the chime is in it


def fixed_length(factory: FakeFactory | None = None) -> tuple[Composer, Samples]:
    """A composer for four-seven-eight, a routine without a filling repeat, and its export."""
    routine = load_builtin("four-seven-eight")
    whole = build_session(routine, SessionOptions(), fake_factory(), None).mixer().render()
    return Composer(routine, SessionOptions(), factory or fake_factory(), None), whole


def test_a_fixed_length_routine_is_laid_out_line_after_line() -> None:
    composer, whole = fixed_length()
    assert (composer.length, composer.in_order) == (None, True)
    assert len(whole) < composer.capacity  # the buffer is as long as the session could be


def test_a_session_laid_out_in_order_is_final_a_batch_at_a_time_in_the_order_spoken() -> None:
    # Two minutes: the steps without their lines already take longer, so the filling
    # repeat plays once, no pause stretches, and each event follows the ones before it.
    factory = fake_factory()
    composer, whole = composer_for(2, factory), reference(2)
    assert (composer.length, composer.in_order) == (None, True)
    scores = list(composer.scores())
    finals = [score.final for score in scores]
    texts = scores[-1].mixer.timeline.speech_texts()
    assert [s.complete for s in scores] == [False] * (len(scores) - 1) + [True]
    batches = math.ceil((len(texts) - session_module.FIRST_BATCH) / session_module.RENDER_BATCH)
    assert len(scores) == 1 + batches + 1 and batches >= 2
    assert factory.rendered == texts  # in the order they are spoken
    starts = {e.text: e.start for e in reversed(scores[-1].mixer.timeline.events)}
    batch_firsts = texts[session_module.FIRST_BATCH::session_module.RENDER_BATCH]
    assert finals == [starts[texts[0]], *(starts[text] for text in batch_firsts), len(whole)]
    for score in scores:
        assert np.array_equal(score.mixer.render(0, score.final), whole[:score.final])


def test_a_session_too_short_to_be_sure_of_its_length_is_final_in_three_stages() -> None:
    # Four minutes: lines a little longer than estimated would make the session longer
    # than asked; shorter ones, exactly as long. Either way not line by line.
    composer, whole = composer_for(4), reference(4)
    assert (composer.length, composer.in_order) == (None, False)
    assert len(whole) <= composer.capacity
    scores = list(composer.scores())
    assert [s.complete for s in scores] == [False, False, True]
    assert scores[-1].final == len(whole)


def test_lines_waiting_to_be_leveled_are_few_however_fast_they_come() -> None:
    """Lines read from a warm cache come far faster than they are leveled; each one
    waiting holds its samples, so reading waits once ``LEVEL_QUEUE`` wait."""
    leveler = lines_module.Leveler()
    release = threading.Event()
    leveled: list[int] = []

    def slow(text: str, clip: Samples) -> None:
        release.wait(10)
        leveled.append(int(clip[0]))

    leveler.prepare = slow
    submitted: list[int] = []

    def read_lines() -> None:
        for n in range(3 * lines_module.LEVEL_QUEUE):
            leveler.submit(f"line {n}", np.full(10, n, dtype=np.int16))
            submitted.append(n)

    reader = threading.Thread(target=read_lines)
    reader.start()
    try:
        time.sleep(0.3)
        assert len(submitted) == lines_module.LEVEL_QUEUE  # the next waits for the first
    finally:
        release.set()
        reader.join(10)
        leveler.wait()
        leveler.close()
    assert leveled == submitted == list(range(3 * lines_module.LEVEL_QUEUE))


# --- Speech held within bounds ------------------------------------------------------------


def clip_of(seconds: float, value: int = 1000) -> Samples:
    return np.full(round(seconds * RATE), value, dtype=np.int16)


def test_the_store_holds_a_few_megabytes_and_reads_the_rest_back(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    settings = SpeechSettings()
    store = SpokenLines(cache, settings, fake_factory())
    from voice_coach.speech import clip_key

    texts = [f"line {n}" for n in range(60)]
    for n, text in enumerate(texts):  # 60 clips of 5 s: 13 MB in all
        cache.put(clip_key(text, settings, fake_factory()), clip_of(5, n))
        store.add(text, clip_of(5, n))
    held = sum(c.nbytes for c in store._recent.values())
    assert held <= HELD_CLIPS_BYTES < 60 * clip_of(5).nbytes
    assert [int(store[text][0]) for text in texts] == list(range(60))
    assert len(store) == 60 and store.length("line 7") == 5 * RATE


def test_a_clip_the_cache_lost_stops_the_session_with_one_line(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    store = SpokenLines(cache, SpeechSettings(), fake_factory())
    for n in range(40):  # only the last few stay in memory
        store.add(f"line {n}", clip_of(5, n))
    with pytest.raises(SpeechError) as caught:
        store["line 0"]
    assert str(caught.value) == (f"the speech cache lost the clip for 'line 0' ({tmp_path});"
                                 " play the session again")


def test_without_a_cache_speech_is_held_up_to_a_limit_then_it_is_one_line(
        tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    cache.enabled = False  # as after a write failed: the disk is full
    store = SpokenLines(cache, SpeechSettings(), fake_factory())
    count = UNCACHED_CLIPS_BYTES // clip_of(10).nbytes
    for n in range(count):
        store.add(f"line {n}", clip_of(10, n))
    assert int(store["line 0"][0]) == 0
    with pytest.raises(SpeechError) as caught:
        store.add("one more", clip_of(10))
    assert str(caught.value) == (f"the speech cache cannot store clips in {tmp_path} (is its"
                                 " disk full?), and the session's speech does not fit in memory")


# --- The stream -------------------------------------------------------------------------------


@contextlib.contextmanager
def final_psoas_stream() -> Iterator[tuple[SessionStream, Playhead, Samples]]:
    """A 10-minute psoas session's stream, started, its plan final; closed after."""
    composer, whole = psoas(10)
    head = Playhead()
    stream = SessionStream(len(whole), composer.scores())
    stream.start(head)
    try:
        wait_for(lambda: stream.final() == len(whole), "the plan was not final")
        yield stream, head, whole
    finally:
        stream.close()


def test_the_stream_writes_exactly_the_export_ahead_of_the_playhead_in_flat_memory() -> None:
    with final_psoas_stream() as (stream, head, whole):
        peak_resident = 0
        step = 7 * RATE + 1
        for position in range(0, len(whole), step):
            head.at = position
            want = min(len(whole), position + round(streaming.AHEAD_S * RATE))
            wait_for(lambda: stream.written()[1] >= want,  # noqa: B023
                     f"not written {streaming.AHEAD_S:g} s ahead of {position}")
            low, high = stream.written()
            assert low <= position
            assert np.array_equal(stream.samples[position:high], whole[position:high])
            assert not stream.starved(position)
            peak_resident = max(peak_resident, resident_bytes(stream.samples))
        window = (streaming.AHEAD_S + streaming.BEHIND_S + 2 * streaming.CHUNK_S) * RATE * 2
        assert peak_resident <= window < len(whole) * 2 / 10


def test_a_stream_as_long_as_the_session_could_be_ends_where_the_session_does() -> None:
    composer, whole = fixed_length()
    head = Playhead()
    stream = SessionStream(composer.capacity, composer.scores())
    assert stream.end == composer.capacity > len(whole)
    stream.start(head)
    try:
        wait_for(lambda: stream.end == len(whole), "the end did not move to the session's")
        head.at = len(whole) - RATE
        wait_for(lambda: stream.written()[1] == len(whole), "not written to the end")
        low, high = stream.written()
        assert np.array_equal(stream.samples[low:high], whole[low:high])
        assert not stream.samples[len(whole):].any()  # past the end, the device plays silence
        assert not stream.starved(len(whole) - 1) and stream.ready(len(whole) - 1)
    finally:
        stream.close()


def test_lines_too_long_for_the_stream_end_it_after_the_last_whole_sound() -> None:
    estimate = estimated_speech_length(SpeechSettings().rate_wpm, RATE)

    def four_times_longer(text: str, settings: SpeechSettings) -> Samples:
        return np.resize(sawtooth(text, settings), 4 * estimate(text))

    composer = Composer(load_builtin("four-seven-eight"), SessionOptions(),
                        FakeFactory(four_times_longer), None)
    head = Playhead()
    stream = SessionStream(composer.capacity, composer.scores())
    stream.start(head)
    try:
        wait_for(lambda: stream.error is not None, "the failure was not seen")
        head.at = stream.end - RATE
        assert str(stream.error) == ("the spoken lines came out over 3 times longer than"
                                     " expected; 'voice-coach export' writes the session"
                                     " whatever its length")
        timeline = stream.timeline()
        assert timeline is not None
        assert stream.end in {e.end for e in timeline.events if e.kind != "silence"}
        wait_for(lambda: stream.written()[1] == stream.end, "the last sound was not written")
        assert not stream.samples[stream.end:].any()
    finally:
        stream.close()


def test_seeking_back_into_released_pages_writes_them_again() -> None:
    with final_psoas_stream() as (stream, head, whole):
        head.at = 300 * RATE
        wait_for(lambda: stream.written()[0] > 200 * RATE, "played pages were not released")
        assert not stream.samples[10 * RATE:11 * RATE].any()  # released: reads as silence
        back = 10 * RATE + 123
        stream.seek(back, head.move)
        assert head.at == back
        low, high = stream.written()
        assert low <= back and high - back >= streaming.RESUME_S * RATE
        assert np.array_equal(stream.samples[back:high], whole[back:high])
        assert stream.ready(back)


def test_a_seek_back_keeps_what_it_wrote_however_slowly_the_device_moves() -> None:
    """A few seconds back (pages just released) with a device slow to start again: a
    filler that went on from the old playhead would release what the seek wrote."""
    with final_psoas_stream() as (stream, head, whole):
        back = 10 * RATE + 123
        head.at = back + 8 * RATE
        wait_for(lambda: stream.written()[0] > back, "played pages were not released")

        def slow_device(sample: int) -> None:
            time.sleep(0.5)  # the filler writes some 50 s of session in this time
            head.move(sample)

        stream.seek(back, slow_device)
        time.sleep(0.2)  # the filler's turn, with the playhead moved
        low, high = stream.written()
        assert low <= back and high - back >= streaming.RESUME_S * RATE
        assert np.array_equal(stream.samples[back:high], whole[back:high])
        assert not stream.starved(back)


@contextlib.contextmanager
def stream_with_a_slow_engine() -> Iterator[tuple[SessionStream, Playhead, Samples, Event,
                                                  threading.Event]]:
    """A 10-minute psoas session's stream, started, whose engine renders the lines after
    the first only once the event it yields is set: the stream, the playhead, the whole
    session, its first line and that event. Closed after."""
    release = threading.Event()

    def slow(batch: int) -> None:
        if batch == 1:  # every line after the first
            release.wait(30)

    session = reference_session(10)
    whole, first = session.mixer().render(), first_line(session)
    head = Playhead()
    stream = SessionStream(len(whole), composer_for(10, fake_factory(slow)).scores())
    stream.start(head)
    try:
        yield stream, head, whole, first, release
    finally:
        release.set()
        stream.close()


def test_a_slow_engine_leaves_the_stream_short_and_says_so_before_it_runs_out() -> None:
    with stream_with_a_slow_engine() as (stream, head, whole, first, release):
        wait_for(lambda: stream.final() == first.end, "the first line was not final")
        wait_for(lambda: stream.written()[1] == first.end, "the first line was not written")
        guard = round(streaming.GUARD_S * RATE)
        assert not stream.starved(first.end - guard)
        assert stream.starved(first.end - guard + 1)
        assert not stream.ready(first.end - guard)
        assert not stream.samples[first.end:].any()  # nothing past what is final
        head.at = first.end - guard  # where a player holds
        release.set()
        wait_for(lambda: stream.ready(first.end - guard), "the stream did not catch up")
        low, high = stream.written()
        assert np.array_equal(stream.samples[low:high], whole[low:high])


@pytest.mark.parametrize("then", ["seek", "release"])
def test_a_held_stream_writes_nothing_past_the_hold_until_a_seek_or_a_release(then: str) -> None:
    """The device plays on into silence past a hold; what it played there must never turn
    into speech under it, so the stream writes past the hold only once told to."""
    with stream_with_a_slow_engine() as (stream, head, whole, first, release):
        wait_for(lambda: stream.written()[1] == first.end, "the first line was not written")
        hold = stream.hold()
        assert hold == first.end and not stream.ready(hold)
        head.at = hold - RATE  # where the device is when a player holds
        release.set()
        wait_for(lambda: stream.final() == len(whole), "the plan was not final")
        time.sleep(0.2)  # the filler's turns
        assert stream.written()[1] == hold and not stream.samples[hold:].any()
        assert stream.ready(hold)  # once written from there
        if then == "seek":
            stream.seek(hold, head.move)
            assert stream.written()[1] - hold >= streaming.RESUME_S * RATE
        else:
            stream.release()
            wait_for(lambda: stream.written()[1] - hold >= streaming.RESUME_S * RATE,
                     "the stream did not write on")
        high = stream.written()[1]
        assert np.array_equal(stream.samples[hold:high], whole[hold:high])


@pytest.mark.parametrize("mixing", ["on time", "late"])
def test_an_engine_that_dies_ends_the_stream_after_the_last_whole_sentence(
        mixing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sentence already final is written whole, even when the engine dies before the
    filler has mixed it (on a loaded machine; seen in CI: the sentence's end was silent)."""
    def dies(batch: int) -> None:
        if batch == 1:
            raise SpeechError("the speech engine stopped unexpectedly")

    session = reference_session(10)
    whole, first = session.mixer().render(), first_line(session)
    if mixing == "late":  # the filler writes nothing of the first line until the failure
        target = SessionStream._target

        def behind(stream: SessionStream, position: int) -> int:
            wanted = target(stream, position)
            return wanted if stream.error is not None else min(wanted, first.start)

        monkeypatch.setattr(SessionStream, "_target", behind)
    stream = SessionStream(len(whole), composer_for(10, fake_factory(dies)).scores())
    stream.start(Playhead())
    try:
        wait_for(lambda: stream.error is not None, "the failure was not seen")
        assert stream.end == first.end
        assert str(stream.error) == "the speech engine stopped unexpectedly"
        wait_for(lambda: stream.written()[1] == first.end, "the sentence was not written")
        assert np.array_equal(stream.samples[:first.end], whole[:first.end])
        assert not stream.samples[first.end:].any()
        assert not stream.starved(first.end - 1)  # nothing more is coming: play to the end
    finally:
        stream.close()


def test_a_clip_lost_mid_session_ends_it_after_the_last_whole_sentence_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines_module, "HELD_CLIPS_BYTES", 256 * 1024)  # read most back
    cache = ClipCache(tmp_path / "clips")
    session = reference_session(10)
    whole = session.mixer().render()
    head = Playhead()
    stream = SessionStream(len(whole), composer_for(10, cache=cache).scores())
    stream.start(head)
    try:
        wait_for(lambda: stream.final() == len(whole), "the plan was not final")
        for entry in (tmp_path / "clips").iterdir():  # someone cleared the cache while the
            entry.unlink(missing_ok=True)  # session played (a leveled clip may be mid-write)
        head.at = 300 * RATE
        wait_for(lambda: stream.error is not None, "the failure was not seen")
        assert str(stream.error).startswith("the speech cache lost the clip for ")
        low, high = stream.written()
        sounds = [e for e in session.timeline.events if e.kind != "silence"]
        assert stream.end in {e.end for e in sounds}
        assert stream.end <= high and not stream.starved(high - 1)
        assert np.array_equal(stream.samples[low:stream.end], whole[low:stream.end])
        assert not stream.samples[stream.end:].any()
    finally:
        stream.close()
