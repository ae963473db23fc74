"""The session as one stream: a buffer as long as the session, filled just ahead of the playhead.

The device plays one continuous buffer (clips started one by one land late through a
sound server) and reads it progressively while it plays, so the samples need only exist a
little before it gets there. The buffer is an anonymous memory map: a page takes memory
only once the filler writes it, and is handed back (``madvise``) once played, so memory
stays flat however long the session. A background thread fills it from
``Mixer.render``, never past what the composer says is final (``Score.final``), so what
is written is never changed again: what plays is what ``export`` writes.

A session whose length is known only once its lines are rendered (``Composer.capacity``)
gets a buffer as long as it could be; its end moves to the real one when the composer's
score is complete, and the device plays silence past it until the player stops it.

Reaching samples not yet written would play silence at the wrong moment. The filler
keeps ``AHEAD_S`` ahead, far more than rendering needs at this machine's speeds; if it
falls behind anyway (a cold engine's first line), ``starved`` says so while there is
still ``GUARD_S`` of sound left, and the player holds: the stream writes nothing past
what it has (``hold``), so the device plays the sound to its end, then silence, until the
player stops it and, once ``RESUME_S`` past the hold is final, starts it again from the
hold's first sample (``seek``). A hold so adds silence between two sounds and changes not
a sample of them. A failure while composing (the engine dies, the cache's disk fills) ends
the stream at the end of the last whole sentence or chime before what is final; the
samples past it are silenced.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from collections.abc import Callable, Iterator
from typing import Final

import numpy as np

from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.session import Score
from voice_coach.timeline import Timeline

AHEAD_S: Final = 20.0
"""How far ahead of the playhead the filler keeps the buffer written."""
BEHIND_S: Final = 2.0
"""How much played sound is kept before its pages are released (the device reads ahead
of the clock by its latency, and a pause lands a little before where the sound stopped)."""
CHUNK_S: Final = 1.0
"""Samples mixed per step: short, so a seek or close is answered quickly."""
GUARD_S: Final = 0.5
"""Written sound left ahead of the playhead below which playing must hold (the device reads
100 ms ahead; the live loop looks every 100 ms)."""
RESUME_S: Final = 3.0
"""Written sound ahead of the playhead before a held session plays on."""
FILL_POLL_S: Final = 0.05
_PAGE_SAMPLES: Final = mmap.PAGESIZE // 2


class SessionStream:
    """A session's samples, written just in time into one buffer the device plays from.

    ``scores`` yields what the composer has made final, in order (``Composer.scores``);
    the last must be complete and no longer than ``capacity``, the buffer's length.
    ``position`` says where the playhead is; until ``start`` it is taken as 0.
    """

    def __init__(self, capacity: int, scores: Iterator[Score],
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.capacity = capacity
        self.sample_rate = sample_rate
        self._scores = scores
        self._map = mmap.mmap(-1, max(2 * capacity, mmap.PAGESIZE),
                              flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._view: Samples = np.frombuffer(self._map, dtype=np.int16, count=capacity)
        self._score: Score | None = None
        self._score_ready = threading.Event()
        self._error: BaseException | None = None
        self._end = capacity
        self._low = 0
        self._high = 0
        self._hold: int | None = None
        self._position: Callable[[], int] = lambda: 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._composer = threading.Thread(target=self._compose, name="compose", daemon=True)
        self._filler = threading.Thread(target=self._fill_loop, name="fill", daemon=True)

    # --- What the player and the loop read ------------------------------------------

    @property
    def samples(self) -> Samples:
        """The whole buffer, for the device: pages not yet written read as silence."""
        return self._view

    @property
    def end(self) -> int:
        """Where the session ends: ``capacity`` until the score is complete, then its
        length, or an earlier sentence end after a failure."""
        return self._end

    @property
    def error(self) -> BaseException | None:
        """Why composing failed, once it has; the stream then ends at ``end``."""
        return self._error

    def timeline(self) -> Timeline | None:
        """The latest plan (final once the score is complete); None before the first."""
        score = self._score
        return score.mixer.timeline if score is not None else None

    def final(self) -> int:
        score = self._score
        return 0 if score is None else min(score.final, self._end)

    def written(self) -> tuple[int, int]:
        """The samples ``[low, high)`` now written and not released."""
        with self._lock:
            return self._low, self._high

    def starved(self, position: int) -> bool:
        """Whether playing on from ``position`` would soon reach samples not yet written."""
        low, high = self.written()
        if high >= self._end:
            return False
        return not low <= position or high - position < round(GUARD_S * self.sample_rate)

    def ready(self, position: int) -> bool:
        """Whether a session held at ``position`` may play on from there once ``seek`` has
        written it: what is final reaches ``RESUME_S`` past it, or the end."""
        final = self.final()
        return final >= self._end or final - position >= round(RESUME_S * self.sample_rate)

    def hold(self) -> int:
        """Write nothing past what is written now until ``seek`` or ``release``, so the
        device plays on into silence there; the sample where that silence begins."""
        with self._lock:
            self._hold = self._high
            return self._high

    def release(self) -> None:
        """Write on past a hold (the speech came before the device got there)."""
        with self._lock:
            self._hold = None
            self._wake.notify_all()

    # --- Running ----------------------------------------------------------------------

    def start(self, position: Callable[[], int], wait_s: float | None = None) -> None:
        """Begin composing and filling; return once the opening is written (or composing
        failed). ``wait_s`` bounds the wait (None: no bound)."""
        self._position = position
        self._composer.start()
        self._score_ready.wait(wait_s)
        with self._lock:
            self._fill_to(self._target(0))
        self._filler.start()

    def seek(self, sample: int, move: Callable[[int], None]) -> None:
        """Make ``sample`` the next to play: outside what is written, release that and
        write from there at once (a page boundary before it), as far as is final; then
        ``move`` the playhead there. The filler waits until the playhead has moved: one
        that read the old playhead would release the pages just written for the new."""
        sample = min(max(sample, 0), self._end)
        with self._lock:
            self._hold = None
            if not self._low <= sample <= self._high:
                self._release(self._low, self._high)
                self._low = self._high = sample - sample % _PAGE_SAMPLES
            self._fill_to(min(self._target(sample), sample + round(RESUME_S * self.sample_rate)))
            move(sample)
            self._wake.notify_all()

    def close(self) -> None:
        """Stop filling and release the buffer. The device must have stopped playing it."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        if self._filler.is_alive():
            self._filler.join()
        with contextlib.suppress(BufferError):  # someone still holds a view: the GC frees it
            del self._view
            self._map.close()

    # --- Threads --------------------------------------------------------------------

    def _compose(self) -> None:
        try:
            for score in self._scores:
                with self._lock:
                    self._score = score
                    if score.complete:
                        self._end = score.final
                    self._wake.notify_all()
                self._score_ready.set()
        except BaseException as exc:  # handed to the player, which raises it
            with self._lock:
                self._fail(exc, self.final())
        finally:
            self._score_ready.set()

    def _fill_loop(self) -> None:
        with self._lock:
            while not self._closed:
                position = self._position()
                keep = position - round(BEHIND_S * self.sample_rate)
                keep -= keep % _PAGE_SAMPLES
                if self._low < keep <= self._high:
                    self._release(self._low, keep)
                    self._low = keep
                target = self._target(position)  # after a failure, at most its ``end``
                if self._high < target:
                    try:
                        self._fill_to(min(target, self._high + round(CHUNK_S * self.sample_rate)))
                    except Exception as exc:  # a clip could not be read back: as a failure
                        self._fail(exc, self._high)
                    continue
                self._wake.wait(FILL_POLL_S)

    def _target(self, position: int) -> int:
        """How far the buffer should be written with the playhead at ``position``."""
        target = min(self.final(), position + round(AHEAD_S * self.sample_rate))
        return target if self._hold is None else min(target, self._hold)

    def _fill_to(self, stop: int) -> None:
        """Write ``[high, stop)`` from the mixer (the lock is held)."""
        score = self._score
        if score is None or stop <= self._high:
            return
        self._view[self._high:stop] = score.mixer.render(self._high, stop)
        self._high = stop

    def _release(self, start: int, stop: int) -> None:
        """Hand the pages wholly inside ``[start, stop)`` back; they read as silence after."""
        first = -(-start // _PAGE_SAMPLES)
        last = stop // _PAGE_SAMPLES
        if last > first:
            self._map.madvise(mmap.MADV_DONTNEED, first * mmap.PAGESIZE,
                              (last - first) * mmap.PAGESIZE)

    def _fail(self, error: BaseException, limit: int) -> None:
        """End the stream after the last whole sentence or chime before ``limit``, and
        silence what was written past it (the lock is held)."""
        self._error = error
        score = self._score
        end = 0
        if score is not None:
            for event in score.mixer.timeline.events:
                if event.end > limit:
                    break
                if event.kind != "silence":
                    end = event.end
        self._end = end
        if self._high > end:
            self._view[max(end, self._low):self._high] = 0
            self._high = max(end, self._low)
        self._wake.notify_all()
