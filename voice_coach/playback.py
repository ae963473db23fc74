"""Playing one session buffer on a device: play, pause, resume, seek, and where it is.

The position comes from the device: ``Device.progress`` says how much of a play it took,
by its own clock, so a device that runs slow, stalls or starts late holds the session
back with it. ``player.SimpleaudioDevice`` is the device a session plays on; tests hand in
fakes (``support.fakes.FakeDevice``). Where a device cannot say, the clock stands in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol, TypeAlias

import numpy as np

from voice_coach.errors import VoiceCoachError
from voice_coach.pcm import SAMPLE_RATE, Samples

Clock: TypeAlias = Callable[[], float]
"""Seconds from an arbitrary origin that never goes back (``time.monotonic``)."""
State: TypeAlias = Literal["idle", "playing", "paused", "stopped"]
POLL_S: Final = 0.002
SILENT_DEVICE_S: Final = 8.0
"""How long a playing device may take no sound before the session stops (a Bluetooth sink
waking up or a loaded machine stalls it for a few seconds; a dead one, for ever)."""
PLAY_OUT_S: Final = 2.0
"""Where the device cannot say what it took: how long it plays on past the end by the clock,
so that a sound server plays out what it holds (its last sound comes 1-2 s late)."""


class PlaybackError(VoiceCoachError):
    """The sound device could not play."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
        """What the sound libraries printed while failing, for ``--debug``; often empty."""


@dataclass(frozen=True)
class Progress:
    """How far the device has taken the play started last, by its own clock."""

    taken: int
    """Samples it accepted, from the play's first sample on."""
    delay: int
    """Of those, how many it had not yet played when it last said."""
    at_s: float
    """When it last said (``time.monotonic``)."""
    dropped: int = 0
    """Of ``taken``, how many a ``Device.drop`` discarded unplayed: never heard."""


class Device(Protocol):
    """Something that plays one array at a time, from a sample offset."""

    def start(self, samples: Samples, offset: int) -> None:
        """Play ``samples[offset:]``, stopping whatever plays first; return at once."""

    def stop(self) -> None:
        """Stop once the device has played all it took (it drains), returning only once it
        has really stopped. Idempotent."""

    def drop(self) -> None:
        """Stop at once: what the device took but has not played is discarded, and
        ``progress`` says how much (``Progress.dropped``). A device that cannot drop
        stops as ``stop`` does. Idempotent."""

    def is_playing(self) -> bool:
        """Whether a play is still running (it may be playing out its last buffer)."""

    def progress(self) -> Progress | None:
        """How far the play started last has been taken (after ``stop``: all of what was
        taken has been played; after ``drop``: all but ``dropped``); None where the device
        cannot say."""

    def abandon(self) -> None:
        """Ask the play to stop without waiting for it: a device that takes nothing any
        more would never answer."""

    def close(self) -> None:
        """Stop and release the device."""


class Playback:
    """Play, pause, resume and seek one array on a device; the position comes from the device.

    ``position`` is the next sample the device will take: the sample a play started from
    plus what the device took since (``Device.progress``), so a device that runs slow,
    stalls or starts late holds it back. ``heard`` is what the person hears now, for the
    screen: what was taken less what the device still held when it last said, moved on by
    the clock since, never past what was taken. Pausing, seeking and stopping drop what
    the device holds, so it falls silent at once; a resumed play goes on from the first
    sample the drop discarded, so every sample is heard once and in order. The end drains:
    ``finish`` returns once the device has played the last sample. Where the device
    cannot say, both come from the clock since the play started.
    Pausing, seeking and stopping when there is nothing to act on do nothing.
    """

    def __init__(self, device: Device, clock: Clock = time.monotonic,
                 sample_rate: int = SAMPLE_RATE,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.sample_rate = sample_rate
        self._device = device
        self._clock = clock
        self._sleep = sleep
        self._samples: Samples = np.zeros(0, dtype=np.int16)
        self._state: State = "idle"
        self._offset = 0
        self._started = 0.0
        self._taken = 0
        self._taken_since_s = 0.0
        self._heard = 0

    @property
    def state(self) -> State:
        return self._state

    @property
    def length(self) -> int:
        return len(self._samples)

    def play(self, samples: Samples, from_sample: int = 0) -> None:
        """Play ``samples`` from ``from_sample``, replacing whatever was playing."""
        self._samples = samples
        self._start(from_sample)

    def pause(self) -> None:
        if self._state == "playing":
            self._halt()
            self._state = "paused"

    def resume(self) -> None:
        """Play on from where a pause, stop or seek left the position."""
        if self._state in ("paused", "stopped"):
            self._start(self._offset)

    def seek(self, sample: int) -> None:
        """Move to ``sample``: playing goes on playing from there, paused stays paused."""
        if self._state == "playing":
            self._halt()
            self._start(sample)
        elif self._state != "idle":
            self._offset = _clamp(sample, self.length)

    def stop(self) -> None:
        if self._state == "playing":
            self._halt()
        if self._state != "idle":
            self._state = "stopped"

    def position(self) -> int:
        """The next sample the device will take, never past the end."""
        if self._state != "playing":
            return self._offset
        progress = self._device.progress()
        if progress is None:
            return self._by_clock()
        return _clamp(self._offset + progress.taken, self.length)

    def heard(self) -> int:
        """The sample the person hears now, as near as the device lets us know. Within a
        play it never goes back: a device's delay figure wobbles by a few milliseconds
        from one write to the next, and the sound does not."""
        if self._state != "playing":
            return self._offset
        progress = self._device.progress()
        if progress is None:
            return self._by_clock()
        since = round(max(self._clock() - progress.at_s, 0.0) * self.sample_rate)
        heard = max(progress.taken - progress.delay + since, self._heard)
        self._heard = min(max(heard, 0), progress.taken)
        return _clamp(self._offset + self._heard, self.length)

    def check(self) -> None:
        """Raise ``PlaybackError`` if the device, playing, has taken no sound for
        ``SILENT_DEVICE_S``; the play is then abandoned, not waited for."""
        if self._state != "playing":
            return
        progress = self._device.progress()
        if progress is None:
            return
        now = self._clock()
        if progress.taken != self._taken or self._offset + progress.taken >= self.length:
            self._taken, self._taken_since_s = progress.taken, now
        elif now - self._taken_since_s > SILENT_DEVICE_S:
            self._device.abandon()
            self._offset = _clamp(self._offset + progress.taken, self.length)
            self._state = "stopped"
            raise PlaybackError(f"the sound device took no sound for {SILENT_DEVICE_S:g} s;"
                                " the session stopped")

    def finish(self) -> None:
        """Once the position has reached the end: return when the device has played it
        all (it plays out what it took as it stops), and stop."""
        if self._state != "playing":
            return
        if self._device.progress() is None:
            deadline = self._clock() + PLAY_OUT_S
            while self._device.is_playing() and self._clock() < deadline:
                self._sleep(POLL_S)
        self._halt(drain=True)

    def finished(self) -> bool:
        """Whether the position has reached the end (the device may still be playing out)."""
        return self._state != "idle" and self.position() >= self.length

    def _by_clock(self) -> int:
        elapsed = round((self._clock() - self._started) * self.sample_rate)
        return _clamp(self._offset + elapsed, self.length)

    def _start(self, sample: int) -> None:
        never_played = self._state == "idle"
        self._offset = _clamp(sample, self.length)
        self._state = "stopped"
        try:
            self._device.start(self._samples, self._offset)
        except BaseException:
            if never_played:
                self._state = "idle"  # nothing was heard: a session that never started
            raise
        self._started = self._taken_since_s = self._clock()
        self._taken = self._heard = 0
        self._state = "playing"

    def _halt(self, drain: bool = False) -> None:
        """Stop the device; the position is then the first sample not heard."""
        if drain:
            self._device.stop()
        else:
            self._device.drop()
        progress = self._device.progress()
        if progress is None:
            self._offset = self._by_clock()
        else:
            heard = progress.taken - progress.dropped
            self._offset = _clamp(self._offset + heard, self.length)
        self._state = "stopped"


def _clamp(sample: int, length: int) -> int:
    return min(max(sample, 0), length)
