"""The sound device, and playing one session buffer on it: the only module that touches it.

A session is played as one continuous stream, because clips started one by one land late
through a sound server while one stream keeps its spacing to the sample. The buffer is as
long as the session and is written just ahead of where the device reads it
(``stream.SessionStream``); the device is handed it once, never a copy. simpleaudio can
only start and stop a buffer, so ``Playback`` pauses by stopping and remembering where the
clock says the sound stopped, and resumes, skips or repeats by starting a new play of the
same buffer from a sample offset (a zero-copy view).

simpleaudio's playback thread reads the array while it plays and calls into Python when
it ends; a process that exits while one is running can crash. ``SimpleaudioDevice`` so
keeps at most one play running and always stops it before the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import IO, Any, Final, Literal, Protocol, TypeAlias

import numpy as np

from voice_coach.errors import VoiceCoachError
from voice_coach.pcm import SAMPLE_RATE, Samples

Clock: TypeAlias = Callable[[], float]
"""Seconds from an arbitrary origin that never goes back (``time.monotonic``)."""
State: TypeAlias = Literal["idle", "playing", "paused", "stopped"]

STOP_TIMEOUT_S: Final = 10.0
"""How long a stopping device may take to play out its buffer and close."""
POLL_S: Final = 0.002
PROBE_S: Final = 0.05

_EXPORT_INSTEAD: Final = "or use 'voice-coach export' to write the session to WAV"
_EXPORT_WITHOUT: Final = "'voice-coach export' writes the session to WAV without one"
_ALSA_ERROR: Final = re.compile(r"(?P<what>.*?)\s*-- CODE: (?P<code>-?\d+) -- MSG:\s*(?P<msg>.*)",
                                re.DOTALL)


class PlaybackError(VoiceCoachError):
    """The sound device could not play."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail
        """What the sound libraries printed while failing, for ``--debug``; often empty."""


class Device(Protocol):
    """Something that plays one array at a time, from a sample offset."""

    def start(self, samples: Samples, offset: int) -> None:
        """Play ``samples[offset:]``, stopping whatever plays first; return at once."""

    def stop(self) -> None:
        """Stop, returning only once the device has really stopped. Idempotent."""

    def is_playing(self) -> bool:
        """Whether a play is still running (it may be playing out its last buffer)."""

    def close(self) -> None:
        """Stop and release the device."""


class SimpleaudioDevice:
    """ALSA's default device, through simpleaudio. Every failure is one ``PlaybackError``.

    The array is not copied: the device plays straight out of it, so it must not change
    while playing. What ALSA and the sound server print while a play starts never reaches
    the terminal; the last start's text is kept in ``noise``.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self.noise = ""
        self._play: Any = None
        self._lock = threading.RLock()
        self._registered = False

    def start(self, samples: Samples, offset: int) -> None:
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples, got shape {samples.shape}")
        if not 0 <= offset <= len(samples):
            raise ValueError(f"offset {offset} outside 0..{len(samples)}")
        view = np.ascontiguousarray(samples[offset:], dtype="<i2")
        with self._lock:
            self.stop()
            if not len(view):
                return
            simpleaudio = _import_simpleaudio()
            if not self._registered:
                atexit.register(self._close_at_exit)
                self._registered = True
            error: str | None = None
            with _Fd2Capture() as noise:
                try:
                    self._play = simpleaudio.play_buffer(view, 1, 2, self.sample_rate)
                except Exception as exc:
                    error = describe_error(exc, self.sample_rate)
            self.noise = noise.text
            if error is not None:
                raise PlaybackError(error, noise.text)

    def stop(self) -> None:
        with self._lock:
            play = self._play
            if play is None:
                return
            play.stop()
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while play.is_playing():
                if time.monotonic() > deadline:
                    raise PlaybackError(
                        f"the sound device did not stop within {STOP_TIMEOUT_S:g} s")
                time.sleep(POLL_S)
            self._play = None

    def is_playing(self) -> bool:
        play = self._play
        return play is not None and bool(play.is_playing())

    def close(self) -> None:
        with self._lock:
            self.stop()
            if self._registered:
                atexit.unregister(self._close_at_exit)
                self._registered = False

    def _close_at_exit(self) -> None:
        with contextlib.suppress(PlaybackError):
            self.close()


def describe_error(exc: BaseException, sample_rate: int = SAMPLE_RATE) -> str:
    """The one line a person reads when simpleaudio fails with ``exc``."""
    text = " ".join(str(exc).split())
    match = _ALSA_ERROR.fullmatch(text)
    if match is None:
        return f"the sound device could not play ({text or type(exc).__name__})"
    what, code, message = match["what"].rstrip("."), int(match["code"]), match["msg"]
    alsa = f"ALSA: {message}" if message else f"code {code}"
    if what == "Error opening PCM device":
        if code == -errno.EBUSY:
            return (f"the sound device is busy ({alsa}); close the program using it,"
                    f" {_EXPORT_INSTEAD}")
        if code == -errno.ECONNREFUSED:
            return (f"no sound server is running ({alsa}); start PulseAudio or PipeWire,"
                    f" {_EXPORT_INSTEAD}")
        if code == -errno.ENOENT:
            return f"no sound device could be opened ({alsa}); {_EXPORT_WITHOUT}"
        return f"the sound device could not be opened ({alsa}); {_EXPORT_WITHOUT}"
    if what == "Error setting parameters":
        return f"the sound device cannot play mono 16-bit {sample_rate} Hz audio ({alsa})"
    return f"the sound device could not play ({what}: {alsa})"


def probe_device(sample_rate: int = SAMPLE_RATE) -> str | None:
    """None if the default sound device plays, else the one line saying why it cannot."""
    device = SimpleaudioDevice(sample_rate)
    try:
        device.start(np.zeros(round(PROBE_S * sample_rate), dtype=np.int16), 0)
        device.stop()
    except PlaybackError as exc:
        return str(exc)
    finally:
        with contextlib.suppress(PlaybackError):
            device.close()
    return None


class Playback:
    """Play, pause, resume and seek one array on a device; the position comes from a clock.

    The device cannot say where it is, so the position is the sample a play started from
    plus the clock's time since it started. Pausing stops the device first and reads the
    clock once it has really stopped (a device plays out what it has buffered), so a
    resumed play continues where the sound stopped, within the device's latency.
    Pausing, seeking and stopping when there is nothing to act on do nothing.
    """

    def __init__(self, device: Device, clock: Clock = time.monotonic,
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self._device = device
        self._clock = clock
        self._samples: Samples = np.zeros(0, dtype=np.int16)
        self._state: State = "idle"
        self._offset = 0
        self._started = 0.0

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
            self._start(sample)
        elif self._state != "idle":
            self._offset = _clamp(sample, self.length)

    def stop(self) -> None:
        if self._state == "playing":
            self._halt()
        if self._state != "idle":
            self._state = "stopped"

    def position(self) -> int:
        """The sample playing now, by the clock, never past the end."""
        if self._state != "playing":
            return self._offset
        elapsed = round((self._clock() - self._started) * self.sample_rate)
        return _clamp(self._offset + elapsed, self.length)

    def play_out(self, timeout_s: float) -> None:
        """Wait, up to ``timeout_s``, for the device to play what it holds and end on its
        own: a device reads a little ahead of the clock, so stopping the moment the clock
        reaches the end could cut the last of the sound."""
        deadline = self._clock() + timeout_s
        while self._device.is_playing() and self._clock() < deadline:
            time.sleep(POLL_S)

    def finished(self) -> bool:
        """Whether the position has reached the end (the device may still be closing)."""
        return self._state != "idle" and self.position() >= self.length

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
        self._started = self._clock()
        self._state = "playing"

    def _halt(self) -> None:
        self._device.stop()
        self._offset = self.position()
        self._state = "stopped"


def _clamp(sample: int, length: int) -> int:
    return min(max(sample, 0), length)


def _import_simpleaudio() -> ModuleType:
    try:
        import simpleaudio
    except ImportError as exc:
        raise PlaybackError(f"the sound library simpleaudio could not be loaded ({exc});"
                            f" reinstall voice-coach, {_EXPORT_INSTEAD}") from None
    module: ModuleType = simpleaudio
    return module


class _Fd2Capture:
    """Send what C libraries write to file descriptor 2 to a temporary file meanwhile.

    ``text`` holds it once the block has ended. Python's own ``sys.stderr`` is flushed
    first so none of it is caught. If fd 2 cannot be redirected, nothing is.
    """

    def __init__(self) -> None:
        self.text = ""
        self._saved: int | None = None
        self._sink: IO[bytes] | None = None

    def __enter__(self) -> _Fd2Capture:
        with contextlib.suppress(Exception):
            if sys.stderr is not None:
                sys.stderr.flush()
        try:
            self._sink = tempfile.TemporaryFile()
            self._saved = os.dup(2)
            os.dup2(self._sink.fileno(), 2)
        except OSError:
            self._release()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._saved is not None and self._sink is not None:
            os.dup2(self._saved, 2)
            self._sink.seek(0)
            self.text = self._sink.read().decode(errors="replace")
        self._release()

    def _release(self) -> None:
        if self._saved is not None:
            os.close(self._saved)
            self._saved = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None
