"""A session's spoken lines: rendered by one engine shared by every batch, leveled in a
thread of their own as they come, held in memory within a budget, and read back from the
clip cache (``cache.ClipCache``) when needed.

``SpokenLines`` is what the mixer reads speech from (``mix.Clips.speech``); it knows every
line's length and the checksum that names its samples, so a warm session finds each
line's leveled clip without reading the line itself.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final

from voice_coach.cache import ClipCache, Entry, digest
from voice_coach.pcm import Samples
from voice_coach.speech import (
    Engine,
    EngineIdentity,
    SpeechError,
    SpeechSettings,
    VoiceInfo,
    clip_key,
    render_clips,
)

HELD_CLIPS_BYTES: Final = 4 * 1024 * 1024
"""Speech kept in memory; the rest is read back from the clip cache when the mixer needs it."""
UNCACHED_CLIPS_BYTES: Final = 32 * 1024 * 1024
"""Speech a session may hold when the cache cannot keep it (its disk is full) before it stops."""
LEVEL_QUEUE: Final = 8
"""Rendered lines that may wait to be leveled before rendering waits for leveling (a
batch of ``session.RENDER_BATCH``)."""


class SpokenLines(Mapping[str, Samples]):
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


class SharedEngine:
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
        return _Lent(self._open())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class _Lent:
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


class Leveler:
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
