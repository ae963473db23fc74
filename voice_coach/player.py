"""The sound device, and playing one session buffer on it: the only module that touches it.

A session is played as one continuous stream, because clips started one by one land late
through a sound server while one stream keeps its spacing to the sample. The buffer is as
long as the session and is written just ahead of where the device reads it
(``stream.SessionStream``); the device is handed it once, never a copy. simpleaudio can
only start and stop a buffer, so a pause stops it and remembers what the device took,
and a resume, skip or repeat starts a new play of the
same buffer from a sample offset (a zero-copy view); ``playback.Playback`` drives it.

Where the device is comes from the device. simpleaudio says nothing of it, so the C module
``_devicetap`` (loaded before simpleaudio, into the global symbol scope) follows its calls
into ALSA and counts the frames ALSA accepted: blocking writes advance at the device's own
rate, slow, stalled or late as it may be. simpleaudio's stop drains what ALSA accepted
before it closes: a session ends once the device has taken its last sample and played it
out. A pause must fall silent at once, so the tap can turn that drain into a drop and say
how much the drop discarded (``SimpleaudioDevice.drop``): a resume starts from the first
sample not heard. Where the tap cannot follow (another system, another library loaded
first), the position falls back to the clock (docs/streaming.md).

simpleaudio's playback thread reads the array while it plays and calls into Python when
it ends; a process that exits while one is running can crash. ``SimpleaudioDevice`` so
keeps at most one play running and always stops it before the process exits.
"""

from __future__ import annotations

import _thread
import atexit
import collections
import contextlib
import ctypes
import errno
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import IO, Any, Final

import numpy as np

from voice_coach import devices
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.playback import POLL_S, PlaybackError, Progress

STOP_TIMEOUT_S: Final = 10.0
"""How long a stopping device may take to play out its buffer and close."""
PROBE_S: Final = 0.05
WATCH_S: Final = 0.5
"""How often a play through a sound server checks that its output and server are there."""
UNANSWERED_GONE: Final = 2
"""Unanswered questions in a row after which the sound server is taken to be gone."""
LOST_WITHIN_S: Final = WATCH_S + devices.ANSWER_TIMEOUT_S + 0.5
"""The longest a session goes on after its output or server went away (docs/playing.md says 3 s):
a server that is gone refuses at once, so its two misses take two ``WATCH_S``."""
LOST_SIGNAL: Final = signal.SIGUSR1
SERVER_BUFFER_MS: Final = 250
"""What a PulseAudio stream (also PipeWire's, through its pulse plugin) holds ahead, unless
PULSE_LATENCY_MSEC says otherwise. simpleaudio asks for 100 ms; on a loaded machine a
freshly started server underran that (2 of 8 plays), inserting 80-350 ms of silence
mid-session; with 250 ms none did. A pause drops it (``drop``); the end plays it out."""

_EXPORT_INSTEAD: Final = "or use 'voice-coach export' to write the session to WAV"
_EXPORT_WITHOUT: Final = "'voice-coach export' writes the session to WAV without one"
_ALSA_ERROR: Final = re.compile(r"(?P<what>.*?)\s*-- CODE: (?P<code>-?\d+) -- MSG:\s*(?P<msg>.*)",
                                re.DOTALL)


class SimpleaudioDevice:
    """An output (ALSA's default unless ``route`` says), through simpleaudio.

    Every failure is one ``PlaybackError``. The array is not copied: the device plays
    straight out of it, so it must not change while playing. What ALSA and the sound
    server print never reaches the terminal; the last start's text is kept in ``noise``.

    simpleaudio cannot tell that its output went away: a server moves the stream to its
    default sink, or the play just ends. So a play through a server is watched, every
    ``WATCH_S``, by a thread that asks the server; when the chosen sink or the server is
    gone, it stops the play and interrupts the main thread the way Ctrl-C does, with a
    ``PlaybackError`` saying what went away (the loop driving the session knows nothing
    of devices). The device that is started from the main thread is the one watched.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE,
                 route: devices.Route = devices.DEFAULT_ROUTE,
                 ask: devices.Runner = devices.run_tool) -> None:
        self.sample_rate = sample_rate
        self.route = route
        self.noise = ""
        self.lost: str | None = None
        """Why the output can no longer play, once the watchdog found out."""
        self._play: Any = None
        self._lock = threading.RLock()
        self._registered = False
        self._routed = False
        self._ask = ask
        self._watching: threading.Event | None = None
        self._previous_handler: Any = None
        self._tapped = False

    def start(self, samples: Samples, offset: int) -> None:
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples, got shape {samples.shape}")
        if not 0 <= offset <= len(samples):
            raise ValueError(f"offset {offset} outside 0..{len(samples)}")
        view = np.ascontiguousarray(samples[offset:], dtype="<i2")
        with self._lock:
            self.stop()
            if self.lost is not None:
                raise PlaybackError(self.lost)
            if not len(view):
                return
            simpleaudio = _import_simpleaudio()
            if not self._registered:
                atexit.register(self._close_at_exit)
                self._registered = True
            if not self._routed:
                devices.apply(self.route)
                os.environ.setdefault("PULSE_LATENCY_MSEC", str(SERVER_BUFFER_MS))
                self._routed = True
            error: str | None = None
            opens = _tap_opens()
            with _Fd2Capture() as noise, _alsa_messages() as messages:
                try:
                    self._play = simpleaudio.play_buffer(view, 1, 2, self.sample_rate)
                except Exception as exc:
                    error = describe_error(exc, self.sample_rate)
            self._tapped = _tap_opens() > opens
            self.noise = noise.text + "".join(messages)
            if error is not None:
                raise PlaybackError(error, self.noise)
            if self.route.server:
                self._watch(self._play, len(view) / self.sample_rate)

    def stop(self) -> None:
        self._stop(drop=False)

    def drop(self) -> None:
        self._stop(drop=True)

    def _stop(self, drop: bool) -> None:
        """simpleaudio's stop drains; with ``drop`` and the tap in the path, the tap turns
        the drain into a drop (``_devicetap.drop``)."""
        with self._lock:
            if self._watching is not None:
                self._watching.set()
                self._watching = None
            play = self._play
            if play is None:
                return
            play.stop()
            if drop and self._tapped and _tap is not None:
                _tap.drop()
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

    def progress(self) -> Progress | None:
        if not self._tapped or _tap is None:
            return None
        taken, delay, dropped, at_s = _tap.progress()
        return Progress(taken=taken, delay=delay, at_s=at_s, dropped=max(dropped, 0))

    def abandon(self) -> None:
        with self._lock:
            if self._watching is not None:
                self._watching.set()
                self._watching = None
            if self._play is not None:
                self._play.stop()
                self._play = None

    def close(self) -> None:
        with self._lock:
            self.stop()
            if self._registered:
                atexit.unregister(self._close_at_exit)
                self._registered = False
            if self._previous_handler is not None:
                signal.signal(LOST_SIGNAL, self._previous_handler)
                self._previous_handler = None

    def _close_at_exit(self) -> None:
        with contextlib.suppress(PlaybackError):
            self.close()

    def _watch(self, play: Any, seconds: float) -> None:
        """Start the watchdog of ``play``, which should last ``seconds``."""
        if threading.current_thread() is not threading.main_thread():
            return
        if self._previous_handler is None:
            self._previous_handler = signal.signal(LOST_SIGNAL, self._raise_lost)
        stopped = threading.Event()
        self._watching = stopped
        ends_at = time.monotonic() + seconds
        threading.Thread(target=self._watchdog, args=(play, stopped, ends_at),
                         name="voice-coach-device-watch", daemon=True).start()

    def _watchdog(self, play: Any, stopped: threading.Event, ends_at: float) -> None:
        """A server that is gone refuses at once; one that is only slow (a loaded machine)
        may miss an answer, so only ``UNANSWERED_GONE`` misses in a row mean it is gone."""
        unanswered = 0
        while not stopped.wait(WATCH_S):
            sinks = devices.sink_names(self._ask)
            unanswered = unanswered + 1 if sinks is None else 0
            if 0 < unanswered < UNANSWERED_GONE:
                continue
            problem = devices.watch_problem(sinks, self.route.output)
            if problem is None and not play.is_playing() and time.monotonic() < ends_at - 1.0:
                problem = "the sound device stopped playing; the session stopped"
            if problem is not None and not stopped.is_set():
                self.lost = problem
                play.stop()
                _thread.interrupt_main(LOST_SIGNAL)
                return

    def _raise_lost(self, signum: int, frame: object) -> None:
        if self.lost is not None and self._watching is not None:  # not once stopping
            raise PlaybackError(self.lost)


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


def probe_device(sample_rate: int = SAMPLE_RATE,
                 route: devices.Route = devices.DEFAULT_ROUTE) -> str | None:
    """None if the sound device plays, else the one line saying why it cannot."""
    device = SimpleaudioDevice(sample_rate, route)
    try:
        device.start(np.zeros(round(PROBE_S * sample_rate), dtype=np.int16), 0)
        device.stop()
    except PlaybackError as exc:
        return str(exc)
    finally:
        with contextlib.suppress(PlaybackError):
            device.close()
    return None


def _load_tap() -> ModuleType | None:
    """The device tap, in the global symbol scope so that simpleaudio's ALSA calls reach it:
    it must be loaded before simpleaudio is. None where it was not built (not Linux)."""
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_GLOBAL)
    try:
        from voice_coach import _devicetap  # type: ignore[attr-defined]
    except ImportError:
        return None
    finally:
        sys.setdlopenflags(flags)
    module: ModuleType = _devicetap
    return module


_tap: Final = _load_tap()


def _tap_opens() -> int:
    return 0 if _tap is None else int(_tap.opens())


def _import_simpleaudio() -> ModuleType:
    try:
        import simpleaudio
    except ImportError as exc:
        raise PlaybackError(f"the sound library simpleaudio could not be loaded ({exc});"
                            f" reinstall voice-coach, {_EXPORT_INSTEAD}") from None
    module: ModuleType = simpleaudio
    return module


_AlsaHandler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                ctypes.c_int, ctypes.c_char_p)
_alsa_handler: Any = None
_alsa_heard: collections.deque[str] = collections.deque(maxlen=50)


@contextlib.contextmanager
def _alsa_messages() -> Iterator[list[str]]:
    """ALSA's messages while the block runs (``ALSA lib file:line:(function) format``).

    From the first use on, ALSA reports to a handler here instead of fd 2: simpleaudio's
    playback thread keeps printing (``underrun occurred``) long after a play started,
    when no capture of fd 2 could be in place without hiding our own messages too.
    """
    _quiet_alsa()
    _alsa_heard.clear()
    heard: list[str] = []
    try:
        yield heard
    finally:
        heard.extend(_alsa_heard)


def _quiet_alsa() -> None:
    global _alsa_handler
    if _alsa_handler is not None:
        return
    try:
        library = ctypes.CDLL("libasound.so.2")
    except OSError:
        return

    def remember(file: bytes | None, line: int, function: bytes | None, err: int,
                 fmt: bytes | None) -> None:
        where = f"{(file or b'?').decode(errors='replace')}:{line}"
        what = (fmt or b"").decode(errors="replace")
        _alsa_heard.append(f"ALSA lib {where}:({(function or b'').decode()}) {what}\n")

    _alsa_handler = _AlsaHandler(remember)
    library.snd_lib_error_set_handler(_alsa_handler)


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
