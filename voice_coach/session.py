"""Putting a session together: routine + options -> timeline with real clips.

This is the seam between the pure core (plan, mix) and the parts at the edges (the
speech engine, the clip cache, cue files); those come in as arguments so tests can
hand in fakes or the real thing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import math
import struct
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Protocol

import numpy as np

from voice_coach import heap
from voice_coach.ambient import BedSpec, with_tail
from voice_coach.cache import ClipCache, Entry, digest
from voice_coach.cues import load_cues
from voice_coach.errors import VoiceCoachError
from voice_coach.loudness import TARGET_LUFS, Leveled
from voice_coach.mix import Clips, Levels, LevelStore, Mixer, leveled_key
from voice_coach.pcm import Samples
from voice_coach.plan import (
    PlanSettings,
    SpeechLength,
    Timeline,
    estimated_speech_length,
    plan,
    resumed,
)
from voice_coach.routine import BUILTIN_CUES, CueRole, CueSource, Repeat, Routine, speak_as
from voice_coach.speech import (
    Engine,
    EngineIdentity,
    SpeechError,
    SpeechSettings,
    VoiceInfo,
    clip_key,
    render_clips,
)

MAX_PLAN_ROUNDS = 4
"""Re-plans with real lengths; a fill repeat may need new lines (a further {nth})."""
FIRST_BATCH: Final = 2
"""Lines rendered before the first is final: the first, and one more beside it on an
engine that renders two at once (Piper's second thread would wait otherwise)."""
RENDER_BATCH: Final = 8
"""Lines rendered (or read from the cache) at a time: only a batch is ever held at once."""
HELD_CLIPS_BYTES: Final = 4 * 1024 * 1024
"""Speech kept in memory; the rest is read back from the clip cache when the mixer needs it."""
UNCACHED_CLIPS_BYTES: Final = 32 * 1024 * 1024
"""Speech a session may hold when the cache cannot keep it (its disk is full) before it stops."""
LEVEL_QUEUE: Final = RENDER_BATCH
"""Rendered lines that may wait to be leveled before rendering waits for leveling."""
ESTIMATE_MARGIN: Final = 1.5
"""How much longer than estimated a line may turn out while a filled session keeps its
length: such a session's length is known before any speech is rendered."""
BOUND_MARGIN: Final = 3.0
"""How much longer than estimated the lines of a session whose length is not known before
they are rendered may turn out: its stream's buffer is as long as that (``Composer.capacity``;
its pages cost nothing until written). Measured: 0.55-1.95 times, Piper in French the most."""


class SessionError(VoiceCoachError):
    """The options for a session are out of range."""


@dataclass(frozen=True)
class SessionOptions:
    """Everything the person chose that changes what is heard.

    ``volume`` (0-1) and ``chime_volume`` (0-2, relative to the voice at full volume) are
    the mixer's levels: changing them renders nothing anew.
    """

    plan: PlanSettings = field(default_factory=PlanSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    volume: float = 1.0
    chime_volume: float = 1.0
    cue_overrides: Mapping[CueRole, CueSource] = field(default_factory=dict)
    ambient: BedSpec | None = None
    """The bed under the session (``voice_coach.ambient``); None: silence between clips."""
    from_step: int = 0
    """Resume at this step (an index of the whole session's steps): the opening, then it
    and the rest (``plan.resumed``); 0 plays the whole session."""

    @property
    def tail_s(self) -> float:
        """Seconds the bed plays on after the session's end (``--tail``)."""
        return self.ambient.tail_s if self.ambient is not None else 0.0

    def __post_init__(self) -> None:
        _check_level("volume", self.volume, 1)
        _check_level("chime volume", self.chime_volume, 2)

    @property
    def levels(self) -> Levels:
        return Levels(voice=self.volume, chime=self.chime_volume, target_lufs=TARGET_LUFS,
                      bed=self.ambient)


def _check_level(name: str, value: float, top: int) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= top):
        raise SessionError(f"{name} must be from 0 to {top}, got {value!r}")


@dataclass(frozen=True)
class Session:
    """A timeline and the clips it plays, ready to mix."""

    timeline: Timeline
    clips: Clips
    levels: Levels
    store: LevelStore | None = None

    def mixer(self) -> Mixer:
        return Mixer(self.timeline, self.clips, self.levels, self.store)

    @classmethod
    def of(cls, score: Score) -> Session:
        mixer = score.mixer
        return cls(mixer.timeline, mixer.clips, mixer.levels, mixer.store)


class CachedLevels:
    """Leveled clips kept in the clip cache (``mix.LevelStore``). An entry holds the
    leveled samples, then the gain and the limiter's reduction as two little-endian
    float64, eight samples' worth, at its end; the cache's checksum covers them all."""

    _META: Final = struct.Struct("<dd")

    def __init__(self, cache: ClipCache) -> None:
        self._cache = cache

    def get(self, key: str) -> Leveled | None:
        entry = self._cache.get(key)
        tail = self._META.size // 2
        if entry is None or len(entry) < tail:
            return None
        gain_db, reduction_db = self._META.unpack(entry[-tail:].astype("<i2").tobytes())
        return Leveled(entry[:-tail], gain_db, reduction_db)  # a view: no second copy

    def put(self, key: str, leveled: Leveled) -> None:
        meta = np.frombuffer(self._META.pack(leveled.gain_db, leveled.reduction_db), "<i2")
        self._cache.put(key, np.concatenate([leveled.samples, meta.astype(np.int16)]))


def cue_lengths(cues: Mapping[CueRole, Samples]) -> Callable[[CueRole], int]:
    return lambda role: len(cues[role])


def estimate_timeline(routine: Routine, options: SessionOptions) -> Timeline:
    """The plan from word counts alone: no engine, only the cue files."""
    cues = load_cues(routine, options.cue_overrides)
    return with_tail(plan(routine, options.plan,
                          estimated_speech_length(options.speech.rate_wpm,
                                                  options.plan.sample_rate),
                          cue_lengths(cues)), options.tail_s)


def build_session(routine: Routine, options: SessionOptions,
                  engine_factory: Callable[[], Engine], cache: ClipCache | None,
                  progress: Callable[[int, int], None] | None = None) -> Session:
    """Render every line the session speaks and plan it with their real lengths.

    Planning needs lengths and rendering needs the lines, so: plan from estimates, render
    what that plan speaks, plan again with real lengths, and render any line the new
    plan adds, until nothing new appears. The clips stay in the cache (a private one
    with ``cache`` None) and only a few are held in memory, so a long session's speech
    never is all at once.
    """
    composer = Composer(routine, options, engine_factory, cache, progress)
    return Session.of(composer.whole())


# --- Speech held within bounds ---------------------------------------------------------


class SpeechStore(Mapping[str, Samples]):
    """Rendered lines by text: their lengths always, their samples within a budget.

    A line's samples are kept in memory while recently used (``HELD_CLIPS_BYTES``) and
    otherwise read back from the clip cache, which already holds them (``render_clips``
    put them there). Lines the cache could not keep are held; more than
    ``UNCACHED_CLIPS_BYTES`` of those is a ``SpeechError``: the session cannot go on
    without using memory in proportion to its length. Safe to use from several threads.
    """

    def __init__(self, cache: ClipCache, settings: SpeechSettings, identity: EngineIdentity,
                 keep: object = None, say: Callable[[str], str] = str,
                 engine_factory: Callable[[], Engine] | None = None) -> None:
        self._cache = cache
        self._factory = engine_factory  # a fresh engine for a line found damaged (see add_known)
        self._by_header: set[str] = set()
        self._say = say  # the text the engine was given (a routine's [pronounce] applied)
        self._keep = keep  # a private cache's folder lives as long as the clips it holds
        self._settings = settings
        self._identity = identity
        self._lengths: dict[str, int] = {}
        self._sources: dict[str, str] = {}
        self._pinned: dict[str, Samples] = {}
        self._recent: OrderedDict[str, Samples] = OrderedDict()
        self._recent_bytes = 0
        self._lock = threading.Lock()

    def add(self, text: str, clip: Samples) -> None:
        source = digest(self.cache_key(text), clip)
        with self._lock:
            self._lengths[text] = len(clip)
            self._sources[text] = source
            if not self._cache.enabled:
                self._pinned[text] = clip
                held = sum(held.nbytes for held in self._pinned.values())
                if held > UNCACHED_CLIPS_BYTES:
                    raise SpeechError(
                        f"the speech cache cannot store clips in {self._cache.directory}"
                        " (is its disk full?), and the session's speech does not fit in memory")
                return
            self._remember(text, clip)

    def add_known(self, text: str, entry: Entry) -> None:
        """A line the cache holds, known by its entry's header alone: its samples are read
        only if they are asked for, and if the entry then turns out damaged, the line is
        rendered again by an engine of its own (``engine_factory``), opened and closed for
        it: what was read at first would have been, and any thread may ask."""
        with self._lock:
            self._lengths[text] = entry.samples
            self._sources[text] = entry.digest
            self._by_header.add(text)

    def length(self, text: str) -> int:
        return self._lengths[text]

    def source(self, text: str) -> str:
        """What names the line's samples: its cache entry's checksum (``cache.digest``)."""
        return self._sources[text]

    def cache_key(self, text: str) -> str:
        """The clip cache's key of the line for ``text``."""
        return clip_key(self._say(text), self._settings, self._identity)

    def __getitem__(self, text: str) -> Samples:
        with self._lock:
            if text in self._pinned:
                return self._pinned[text]
            clip = self._recent.get(text)
            if clip is not None:
                self._recent.move_to_end(text)
                return clip
            if text not in self._lengths:
                raise KeyError(text)
        clip = self._cache.get(self.cache_key(text))
        if clip is None and self._factory is not None and text in self._by_header:
            said = self._say(text)
            clip = render_clips([said], self._settings, self._factory, self._cache)[said]
        if clip is None or len(clip) != self._lengths[text]:
            raise SpeechError(f"the speech cache lost the clip for {_quoted(text)}"
                              f" ({self._cache.directory}); play the session again")
        with self._lock:
            self._remember(text, clip)
        return clip

    def __contains__(self, text: object) -> bool:
        return text in self._lengths

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._lengths))

    def __len__(self) -> int:
        return len(self._lengths)

    def _remember(self, text: str, clip: Samples) -> None:
        previous = self._recent.pop(text, None)
        if previous is not None:
            self._recent_bytes -= previous.nbytes
        self._recent[text] = clip
        self._recent_bytes += clip.nbytes
        while self._recent_bytes > HELD_CLIPS_BYTES and len(self._recent) > 1:
            _, dropped = self._recent.popitem(last=False)
            self._recent_bytes -= dropped.nbytes


def _quoted(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


# --- Composing a session while it plays ------------------------------------------------


@dataclass(frozen=True)
class Score:
    """What is settled so far: the samples ``[0, final)`` of ``mixer`` never change again.

    ``complete``: every line is rendered and the plan is final (``final`` is its length).
    """

    mixer: Mixer
    final: int
    complete: bool


class Composer:
    """Renders a session's speech and says, as it goes, what is final.

    What never depends on a line not yet rendered: everything before the first spoken
    line (the lead-in and the start chime), then that line itself once rendered. Past it,
    two kinds of session:

    - A session that fills ``--minutes`` spreads slack over every pause, so a pause early
      in it depends on the length of every line: the rest becomes final all at once when
      the last line's length is known. ``scores()`` yields three stages.
    - A session laid out line after line (``in_order``: a routine without a filling
      repeat, or one whose shortest session is longer than its minutes even with silent
      lines) places each event after the ones before it, so everything before the first
      line not yet rendered is final. Its lines are rendered in order and ``scores()``
      yields a stage per batch.

    ``length`` is the session's length in samples when it is known before any speech is
    rendered (a session filling its minutes, even with lines ``ESTIMATE_MARGIN`` times
    longer than estimated), else None. ``capacity`` is that length, else the length with
    every line ``BOUND_MARGIN`` times longer than estimated: the session is never longer
    (a ``SpeechError`` says so if its lines were), and a stream that long can play it.
    """

    def __init__(self, routine: Routine, options: SessionOptions,
                 engine_factory: Callable[[], Engine], cache: ClipCache | None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.routine = routine
        self.options = options
        self._factory = engine_factory
        self._progress = progress
        self._cues = load_cues(routine, options.cue_overrides)
        self._own_cues = own_cue_files(routine, options)
        self._private: tempfile.TemporaryDirectory[str] | None = None  # for --no-cache
        if cache is None:
            self._private = tempfile.TemporaryDirectory(prefix="voice-coach-clips-")
            cache = ClipCache(Path(self._private.name))
        self._cache = cache
        self._estimate = estimated_speech_length(options.speech.rate_wpm,
                                                 options.plan.sample_rate)
        self._tail = round(options.tail_s * options.plan.sample_rate)
        known = self._known_length()
        self.in_order = known is None and self._laid_out_in_order()
        self.length = None if known is None else known + self._tail
        self.capacity = self.length if self.length is not None else self._plan(
            lambda text: math.ceil(self._estimate(text) * BOUND_MARGIN)).duration + self._tail
        engine = engine_factory.name if isinstance(engine_factory, EngineIdentity) else ""
        self._engine_name = engine.partition("-")[0]  # "pyttsx3-espeak": as in [pronounce]

    def _say(self, text: str) -> str:
        """What the engine is given for ``text``: the routine's ``[pronounce]`` applied
        (captions and the timeline keep ``text``)."""
        return speak_as(text, self.routine.pronounce, self._engine_name)

    def close(self) -> None:
        """Remove the private cache, if any. Idempotent."""
        if self._private is not None:
            self._private.cleanup()

    def _plan(self, length: SpeechLength) -> Timeline:
        return plan(self.routine, self.options.plan, length, cue_lengths(self._cues))

    def _fills(self) -> bool:
        return any(isinstance(step, Repeat) and step.times is None for step in self.routine.steps)

    def _target(self) -> int:
        minutes = self.options.plan.minutes or self.routine.minutes
        return round(minutes * 60.0 * self.options.plan.sample_rate)

    def _known_length(self) -> int | None:
        if not self._fills():
            return None
        longer = self._plan(lambda text: math.ceil(self._estimate(text) * ESTIMATE_MARGIN))
        return self._target() if longer.duration == self._target() else None

    def _laid_out_in_order(self) -> bool:
        """Whether each event's place depends only on the lines before it: nothing fills
        the minutes, or the session overruns them even with every line silent (then the
        filling repeat plays once and no pause is stretched, whatever the lines)."""
        return not self._fills() or self._plan(lambda text: 0).duration > self._target()

    def _mixer(self, timeline: Timeline, speech: Mapping[str, Samples]) -> Mixer:
        """The mixer of ``timeline`` as planned, with the tail, if any, after it."""
        timeline = with_tail(timeline, self.options.tail_s)
        sources = speech.source if isinstance(speech, SpeechStore) else None
        return Mixer(timeline, Clips(speech, self._cues, self._own_cues, sources),
                     self.options.levels, CachedLevels(self._cache))

    def scores(self) -> Generator[Score, None, None]:
        """The opening, then the first line, then the rest (see the class); a resumed
        session (``from_step``) only once complete, since where its steps begin depends
        on every line before them.

        Raises ``SpeechError`` (and whatever the engine raises) when rendering fails or
        the session would be longer than ``capacity``.
        """
        if self.options.from_step <= 1:
            yield from self._whole_session()
            return
        with contextlib.closing(self._whole_session()) as whole:
            complete = next(score for score in whole if score.complete)
        view = resumed(complete.mixer.timeline, self.options.from_step)
        yield Score(replace(complete.mixer, timeline=view), view.duration, True)

    def _whole_session(self) -> Generator[Score, None, None]:
        heap.return_freed_blocks()
        shared = _SharedFactory(self._factory)
        store = SpeechStore(self._cache, self.options.speech, shared, keep=self._private,
                            say=self._say, engine_factory=self._factory)
        leveler = _Leveler()  # given the mixer's leveling once there is a plan

        def length(text: str) -> int:
            return store.length(text) if text in store else self._estimate(text)

        try:
            timeline = self._plan(length)
            texts = timeline.speech_texts()
            if not texts:
                whole = self._mixer(timeline, store)
                yield Score(whole, whole.timeline.duration, True)
                return
            first = next(e for e in timeline.events if e.kind == "speech")
            opening = self._mixer(timeline, store)
            leveler.prepare = opening.prepare_speech
            yield Score(opening, first.start, False)
            render = functools.partial(self._render, store=store, engine_factory=shared,
                                       leveler=leveler)
            render(texts[:FIRST_BATCH], done=0, total=len(texts))
            timeline = self._plan(length)
            if self.in_order:
                timeline = yield from self._rest_in_order(timeline, length, store, render)
            else:
                spoken = next(e for e in timeline.events if e.kind == "speech")
                yield Score(self._mixer(timeline, store), spoken.end, False)
                timeline = self._rest_at_once(timeline, length, store, render)
            target = None if self.length is None else self.length - self._tail
            if target is not None and timeline.duration != target:
                raise SpeechError(
                    f"the spoken lines came out much longer than expected, so the session"
                    f" no longer lasts {_minutes_text(target, timeline.sample_rate)};"
                    " use 'voice-coach export' or a longer --minutes")
            self._check_capacity(timeline.duration)
            shared.close()  # the engine's helper and its memory go before the mix
            leveler.wait()
            whole = self._mixer(timeline, store)
            yield Score(whole, whole.timeline.duration, True)
        finally:
            shared.close()
            leveler.close()

    def _rest_at_once(self, timeline: Timeline, length: SpeechLength, store: SpeechStore,
                      render: _Render) -> Timeline:
        """Render every line the plan still lacks; the plan with all their lengths."""
        for _ in range(MAX_PLAN_ROUNDS):
            missing = [text for text in timeline.speech_texts() if text not in store]
            if not missing:
                return timeline
            # Nothing more is final until the last line is known, so the order is free:
            # longest first, so no batch ends waiting on one long line alone.
            render(sorted(missing, key=len, reverse=True), done=len(store),
                   total=len(store) + len(missing))
            timeline = self._plan(length)
        if any(text not in store for text in timeline.speech_texts()):
            raise RuntimeError("the plan did not settle on a set of lines")  # pragma: no cover
        return timeline

    def _rest_in_order(self, timeline: Timeline, length: SpeechLength, store: SpeechStore,
                       render: _Render) -> Generator[Score, None, Timeline]:
        """Render the lines the plan still lacks in the order they are spoken, a batch at a
        time, yielding what is final before each; the plan with all their lengths."""
        while True:
            missing = [text for text in timeline.speech_texts() if text not in store]
            if not missing:
                return timeline
            final = next(e.start for e in timeline.events
                         if e.kind == "speech" and e.text not in store)
            self._check_capacity(final)
            yield Score(self._mixer(timeline, store), final, False)
            render(missing[:RENDER_BATCH], done=len(store), total=len(store) + len(missing))
            timeline = self._plan(length)

    def _check_capacity(self, samples: int) -> None:
        """A ``SpeechError`` when ``samples`` of the session would not fit its capacity."""
        if samples > self.capacity:
            raise SpeechError(
                f"the spoken lines came out over {BOUND_MARGIN:g} times longer than expected;"
                " 'voice-coach export' writes the session whatever its length")

    def whole(self) -> Score:
        """The complete score, every line rendered (the engine is closed on return)."""
        with contextlib.closing(self.scores()) as scores:
            for score in scores:
                if score.complete:
                    return score
        raise RuntimeError("the plan did not settle")  # pragma: no cover

    def _render(self, texts: Sequence[str], *, store: SpeechStore,
                engine_factory: Callable[[], Engine], done: int, total: int,
                leveler: _Leveler) -> None:
        """Render (or read) ``texts`` in order, a batch at a time, into ``store``; each
        batch is leveled (``leveler``) while the next renders."""
        progress = self._progress

        def counted(batch_done: int, _: int) -> None:
            if progress is not None:
                progress(done + batch_done, total)

        known = self._leveled_in_cache(texts, store)
        if known:
            done += known
            counted(0, total)
            texts = [text for text in texts if text not in store]
        for begin in range(0, len(texts), RENDER_BATCH):
            batch = texts[begin:begin + RENDER_BATCH]
            said = [self._say(text) for text in batch]
            clips = render_clips(said, self.options.speech, engine_factory, self._cache,
                                 counted)
            for text, spoken in zip(batch, said, strict=True):
                store.add(text, clips[spoken])
                leveler.submit(text, clips[spoken])
            done += len(batch)

    def _leveled_in_cache(self, texts: Sequence[str], store: SpeechStore) -> int:
        """Add to ``store`` each of ``texts`` whose line and leveled line the cache holds,
        from their headers alone; how many. The mix reads the leveled line when it needs
        it, and nothing reads the line itself: a warm session reads each line once."""
        levels = self.options.levels
        if levels.target_lufs is None or levels.voice > 1.0:
            return 0
        count = 0
        for text in dict.fromkeys(texts):
            entry = self._cache.entry(store.cache_key(text))
            if entry is None:
                continue
            leveled = leveled_key(entry.digest, self.options.plan.sample_rate,
                                  levels.target_lufs, 0.0)
            if self._cache.entry(leveled) is not None:
                store.add_known(text, entry)
                count += 1
        return count


class _Render(Protocol):
    """``Composer._render`` with the session's store, engine and leveler given."""

    def __call__(self, texts: Sequence[str], *, done: int, total: int) -> None: ...


class _Leveler:
    """Levels rendered lines (``prepare``: ``Mixer.prepare_speech``) in a thread of its own
    while the engine renders the next ones: a cold Piper export's leveling, 1.1 s, would
    otherwise follow its last line.

    At most ``LEVEL_QUEUE`` lines wait: a line waiting holds its samples, and lines read
    from a warm cache come far faster than they are leveled (unbounded, a 180-minute
    play peaked at 100 MB warm and 145 MB cold; bounded, at 51 and 70)."""

    def __init__(self) -> None:
        self.prepare: Callable[[str, Samples], None] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "voice-coach-level")
        self._pending: deque[concurrent.futures.Future[None]] = deque()

    def submit(self, text: str, clip: Samples) -> None:
        """Queue ``clip`` (rendered for ``text``), first waiting for the oldest line while
        ``LEVEL_QUEUE`` wait."""
        if self.prepare is None:
            return
        while len(self._pending) >= LEVEL_QUEUE:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self.prepare, text, clip))

    def wait(self) -> None:
        """Until every line submitted is leveled; raises what leveling raised."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _minutes_text(samples: int, sample_rate: int) -> str:
    return f"{samples / sample_rate / 60:g} minutes"


class _SharedFactory:
    """One engine for every batch, opened on the first miss and closed by its owner.

    It knows the engine's identity without opening it when the factory does (a warm
    cache never starts an engine), else it opens it to ask.
    """

    def __init__(self, factory: Callable[[], Engine]) -> None:
        self._factory = factory
        self._engine: Engine | None = None
        identity: EngineIdentity = (factory if isinstance(factory, EngineIdentity)
                                    else self._open())
        self.name = identity.name
        self.version = identity.version

    def _open(self) -> Engine:
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    def __call__(self) -> Engine:
        return _Unclosed(self._open())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class _Unclosed:
    """An engine lent to ``render_clips`` for one batch: its ``close`` is the owner's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.name = engine.name
        self.version = engine.version

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None) -> list[Samples]:
        return self._engine.render_many(texts, settings, on_clip=on_clip)

    def voices(self) -> list[VoiceInfo]:
        return self._engine.voices()

    def close(self) -> None:
        pass


def own_cue_files(routine: Routine, options: SessionOptions) -> frozenset[CueRole]:
    """The cue roles the person gave a sound file for: those play as the file holds them."""
    chosen: dict[CueRole, CueSource] = dict(routine.cues)
    chosen.update(options.cue_overrides)
    return frozenset(role for role, source in chosen.items()
                     if source is not None and not (isinstance(source, str)
                                                    and source in BUILTIN_CUES))
