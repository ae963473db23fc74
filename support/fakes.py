"""Fakes for the edges the core is handed: a clock that moves only when a test moves it, a
speech engine that makes clips a test can recognise, at once, and a display that keeps
what it was shown."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from voice_coach import live
from voice_coach.pcm import Samples
from voice_coach.playback import PlaybackError, Progress
from voice_coach.speech import SpeechSettings, VoiceInfo


class FakeClock:
    """A ``time.monotonic`` stand-in: calling it reads ``now``; a test sets or advances it."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


ClipOf = Callable[[str, SpeechSettings], Samples]
"""How a fake engine speaks a line: any samples a test can recognise."""


class FakeEngine:
    """A speech engine's stand-in (``speech.Engine``): each line becomes ``clip_of(text,
    settings)``, handed over as it is done. Appends what it renders to ``rendered``, and
    calls ``before_batch(n)`` before its n-th ``render_many`` (0-based), where a test makes
    it slow or fail."""

    def __init__(self, clip_of: ClipOf, rendered: list[str] | None = None, *,
                 name: str = "fake", version: str = "1.0",
                 before_batch: Callable[[int], None] | None = None) -> None:
        self.clip_of = clip_of
        self.rendered = [] if rendered is None else rendered
        self.name, self.version = name, version
        self.before_batch = before_batch
        self.batches = 0

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None) -> list[Samples]:
        if self.before_batch is not None:
            self.before_batch(self.batches)
        self.batches += 1
        clips = []
        for index, text in enumerate(texts):
            self.rendered.append(text)
            clips.append(self.clip_of(text, settings))
            if on_clip is not None:
                on_clip(index, clips[-1])
        return clips

    def voices(self) -> list[VoiceInfo]:
        return []

    def close(self) -> None:
        pass


class FakeFactory:
    """Opens ``FakeEngine``s that share one ``rendered`` record, and counts how often."""

    def __init__(self, clip_of: ClipOf, *, name: str = "fake", version: str = "1.0",
                 before_batch: Callable[[int], None] | None = None) -> None:
        self.clip_of = clip_of
        self.name, self.version = name, version
        self.before_batch = before_batch
        self.opened = 0
        self.rendered: list[str] = []

    def __call__(self) -> FakeEngine:
        self.opened += 1
        return FakeEngine(self.clip_of, self.rendered, name=self.name, version=self.version,
                          before_batch=self.before_batch)


class FakeDevice:
    """A sound device on a ``FakeClock``: from each start it takes ``speed`` times
    ``sample_rate`` samples a second of the clock, except while stalled (``stall``).
    It plays what it took ``holds_s`` later (its buffer, which ``progress`` reports as the
    delay): ``stop`` plays that out (draining at once), ``drop`` discards it and says how
    much. Records each start's offset, each stop and each drop in ``calls``, and the
    samples of each play that were heard in ``heard`` (start, end), in order.
    ``says_progress=False`` makes it a device that cannot say how far it got (as
    ``SimpleaudioDevice`` without the tap); a stop or a drop takes ``stop_s`` of the clock,
    as a drain does; a ``PlaybackError`` in ``fail_next`` is raised by the next start."""

    def __init__(self, clock: FakeClock, sample_rate: int, *, speed: float = 1.0,
                 says_progress: bool = True, holds_s: float = 0.0, stop_s: float = 0.0) -> None:
        self.clock = clock
        self.sample_rate = sample_rate
        self.speed = speed
        self.says_progress = says_progress
        self.holds = round(holds_s * sample_rate)
        self.stop_s = stop_s
        self.fail_next: PlaybackError | None = None
        self.calls: list[tuple[str, int]] = []
        self.heard: list[tuple[int, int]] = []
        self.playing = False
        self._length = 0
        self._offset = 0
        self._dropped = 0
        self._taken_before = 0.0
        self._taking_since = clock.now

    @property
    def starts(self) -> list[int]:
        return [offset for call, offset in self.calls if call == "start"]

    @property
    def stops(self) -> int:
        """Stops and drops."""
        return sum(call in ("stop", "drop") for call, _ in self.calls)

    def start(self, samples: Samples, offset: int) -> None:
        assert 0 <= offset <= len(samples)
        self.stop()
        self.calls.append(("start", offset))
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        self.playing = offset < len(samples)  # as SimpleaudioDevice: the end plays nothing
        self._length = len(samples) - offset
        self._offset, self._dropped = offset, 0
        self._taken_before, self._taking_since = 0.0, self.clock.now

    def stall(self, seconds: float) -> None:
        """Take nothing from now for ``seconds`` of the clock (``math.inf``: never again)."""
        self._taken_before = self._taken()
        self._taking_since = self.clock.now + seconds

    def stop(self) -> None:
        if self.playing:
            self.calls.append(("stop", 0))
            self._end(dropped=0)

    def drop(self) -> None:
        if self.playing:
            self.calls.append(("drop", 0))
            self._end(dropped=self._delay())

    def abandon(self) -> None:
        self.calls.append(("abandon", 0))
        self._taken_before = self._taken()
        self.playing = False

    def is_playing(self) -> bool:
        return self.playing

    def progress(self) -> Progress | None:
        if not self.says_progress:
            return None
        delay = self._delay() if self.playing else 0
        return Progress(taken=round(self._taken()), delay=delay, at_s=self.clock.now,
                        dropped=self._dropped)

    def _delay(self) -> int:
        return min(self.holds, round(self._taken()))

    def _end(self, dropped: int) -> None:
        self._taken_before = self._taken()
        self._dropped = dropped
        self.heard.append((self._offset, self._offset + round(self._taken_before) - dropped))
        self.playing = False
        self.clock.advance(self.stop_s)

    def close(self) -> None:
        self.stop()

    def _taken(self) -> float:
        if not self.playing:
            return self._taken_before
        running_s = max(self.clock.now - self._taking_since, 0.0)
        return min(self._taken_before + running_s * self.sample_rate * self.speed, self._length)


class RecordingDisplay:
    """A display (what ``live.run`` shows its status on) that keeps what it was told: each
    status shown and each closing message ("<abort>" for an abort). Given a ``log`` shared
    by several, each also notes every call under its ``name``, to show their order."""

    def __init__(self, name: str = "display", log: list[str] | None = None) -> None:
        self.name, self.log = name, log
        self.shown: list[live.Status] = []
        self.closed: list[str] = []

    def show(self, status: live.Status) -> None:
        self.shown.append(status)
        self._note(f"show {status.step}")

    def close(self, message: str) -> None:
        self.closed.append(message)
        self._note(f"close {message}")

    def abort(self) -> None:
        self.closed.append("<abort>")
        self._note("abort")

    def _note(self, call: str) -> None:
        if self.log is not None:
            self.log.append(f"{self.name} {call}")
