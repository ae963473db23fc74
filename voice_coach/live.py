"""Live playback: the session plays while keys steer it and the screen follows.

The loop is small and owns nothing: the playback (sound device + clock), the key
source and the display come in, so tests drive it with a fake clock, fake keys and a
recording display. Time comes from the playback's clock, never from adding up sleeps.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import termios
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal, Protocol, TextIO

from voice_coach.pcm import Samples
from voice_coach.timefmt import minutes_seconds
from voice_coach.timeline import Timeline

TICK_S = 0.1
"""How often the display refreshes and keys are read: a key answers within this."""
HOLD_PAST_S: Final = 0.5
"""How long the device plays silence past a hold before it is stopped: by then it has
played out the sound before the hold (it reads 100 ms ahead of the clock)."""
RELEASE_S: Final = 0.3
"""How far before a hold the playhead must still be for speech that came meanwhile to
play on without stopping: the device reads 100 ms ahead, the loop looks every 100 ms."""

Outcome = Literal["completed", "quit"]

Command = Literal["toggle", "pause", "resume", "next", "back", "stop"]
"""What steers a session, whoever sent it: ``pause`` and ``resume`` leave a session that
already is so alone; ``toggle`` is the space bar's."""
COMMANDS: Final[dict[str, Command]] = {
    " ": "toggle", "n": "next", "N": "next", "b": "back", "B": "back",
    "q": "stop", "Q": "stop", "\x1b": "stop",
    **{command: command for command in ("toggle", "pause", "resume", "next", "back", "stop")},
}
"""Each key the loop answers, and each command by its own name (what the bus sends)."""

WAITING: Final = "waiting for the speech to be ready"
"""Shown while the sound is held because rendering fell behind the playhead."""

BACKGROUND_NOTE: Final = ("note: not in the terminal's foreground, so keys are off"
                          " (Ctrl-C does not reach it either); 'kill {pid}' stops the session")
"""Said once when ``play`` runs outside the terminal's foreground (``&``, ``timeout``)."""


class PlaybackControl(Protocol):
    """What the loop needs of ``playback.Playback``."""

    sample_rate: int

    def play(self, samples: Samples, from_sample: int = 0) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def seek(self, sample: int) -> None: ...
    def stop(self) -> None: ...
    def position(self) -> int: ...
    def heard(self) -> int: ...
    def check(self) -> None: ...
    def finish(self) -> None: ...
    @property
    def state(self) -> str: ...


class Stream(Protocol):
    """What the loop needs of ``stream.SessionStream``: samples written ahead of it."""

    @property
    def samples(self) -> Samples: ...
    @property
    def end(self) -> int: ...
    @property
    def error(self) -> BaseException | None: ...
    def timeline(self) -> Timeline | None: ...
    def final(self) -> int: ...
    def starved(self, position: int) -> bool: ...
    def ready(self, position: int) -> bool: ...
    def hold(self) -> int: ...
    def release(self) -> None: ...
    def seek(self, sample: int, move: Callable[[int], None]) -> None: ...


class Keys(Protocol):
    """Key presses, one character at a time, or commands by name (``COMMANDS``); None
    when none came within ``timeout_s``."""

    def read(self, timeout_s: float) -> str | None: ...


@dataclass(frozen=True)
class Status:
    """What the screen shows at one moment."""

    step: int
    steps: int
    label: str
    elapsed_s: float
    remaining_s: float
    paused: bool
    waiting: bool = False
    """Held until the speech ahead is ready (it rendered too slowly to play on)."""


class Display(Protocol):
    def show(self, status: Status) -> None: ...
    def close(self, message: str) -> None: ...
    def abort(self) -> None:
        """Leave the screen clean for an error line."""


def run(stream: Stream, playback: PlaybackControl, keys: Keys, display: Display) -> Outcome:
    """Play the session to its end, or until the person quits.

    When the stream is about to run out of written samples, the loop holds the sound (a
    pause the person did not ask for) where the written sound ends: the stream writes
    nothing past it (``Stream.hold``), the device plays the last sound whole and then
    silence, and ``HOLD_PAST_S`` later it is stopped. Once the stream is well ahead again
    it plays on from the hold's first sample; speech that comes before the device reaches
    the hold releases it, and nothing stops. When composing failed, the session ends
    where the stream ends, and the failure is raised.

    Where the device is (``position``, the next sample it takes) rules what is written
    and when the session ends: once the device has taken the last sample, ``finish``
    returns when it has played it, and only then is the session complete. The screen and
    the keys follow what is heard (``heard``).
    """
    playback.play(stream.samples, 0)
    state = _State()
    while True:
        playback.check()
        position = playback.position()
        if position >= stream.end:
            break
        _hold_or_play_on(stream, playback, state, position)
        timeline = stream.timeline()
        if timeline is None:
            raise RuntimeError("the stream started without a plan")  # pragma: no cover
        position = playback.heard()
        display.show(status_at(timeline, position, state.paused, state.held))
        key = keys.read(TICK_S)
        command = COMMANDS.get(key) if key is not None else None
        outcome = None if command is None else _steer(command, timeline, position, stream,
                                                      playback, state)
        if outcome is not None:
            display.close("Session complete." if outcome == "completed" else "Stopped.")
            return outcome
    if stream.error is not None:
        raise stream.error
    playback.finish()
    timeline = stream.timeline()
    if timeline is not None:
        display.show(status_at(timeline, timeline.duration, False))
    display.close("Session complete.")
    return "completed"


@dataclass
class _State:
    """What the loop keeps between ticks."""

    paused: bool = False
    """The person paused."""
    held: bool = False
    """Held and stopped: rendering fell behind the device."""
    hold_at: int | None = None
    """The device plays silence from here until it is stopped (a hold under way)."""


def _hold_or_play_on(stream: Stream, playback: PlaybackControl, state: _State,
                     position: int) -> None:
    """Hold where the written sound ends when the stream runs short of it, stop the device
    ``HOLD_PAST_S`` later, and play on from the hold once the stream is ahead again (see
    ``run``); ``position``: the next sample the device takes."""
    rate = playback.sample_rate
    if (state.hold_at is None and not state.held and not state.paused
            and stream.starved(position)):
        state.hold_at = stream.hold()
    if state.hold_at is not None and not state.held:
        if (stream.final() > state.hold_at
                and state.hold_at - position >= round(RELEASE_S * rate)):
            stream.release()
            state.hold_at = None
        elif position >= state.hold_at + round(HOLD_PAST_S * rate):
            playback.pause()  # what it still holds is silence
            state.held = True
    resume_at = position if state.hold_at is None else state.hold_at
    if state.held and not state.paused and stream.ready(resume_at):
        _seek(stream, playback, resume_at)
        playback.resume()
        state.held, state.hold_at = False, None


def _steer(command: Command, timeline: Timeline, heard: int, stream: Stream,
           playback: PlaybackControl, state: _State) -> Outcome | None:
    """Carry out one key's or the bus's ``command`` at ``heard``; how the session ended if
    it did."""
    starts = timeline.step_starts()
    step = timeline.step_at(heard)
    in_tail = timeline.tail_start is not None and heard >= timeline.tail_start
    if in_tail and command in ("stop", "toggle", "pause"):  # the session is over
        playback.stop()
        return "completed"
    if command == "stop":
        playback.stop()
        return "quit"
    if command == "toggle" or (command, state.paused) in (("pause", False), ("resume", True)):
        state.paused = not state.paused
        if state.paused and not state.held:
            playback.pause()
        elif not state.held:
            # Written from here first: the seek ends a hold, and the pause's drop may have
            # put the first sample not heard behind what the stream still keeps.
            _seek(stream, playback, playback.position())
            state.hold_at = None
            playback.resume()
    elif command == "next" and step + 1 < len(starts) and starts[step + 1] < stream.final():
        _seek(stream, playback, starts[step + 1])
        state.hold_at = None  # the seek released the hold; a held session plays on when ready
    elif command == "back":
        _seek(stream, playback, starts[step])
        state.hold_at = None
    return None


def _seek(stream: Stream, playback: PlaybackControl, sample: int) -> None:
    """Play from ``sample``, which may have been played and released. The device stops
    first: the pages it is reading may be released and written anew."""
    playing = playback.state == "playing"
    if playing:
        playback.pause()
    stream.seek(sample, playback.seek)
    if playing:
        playback.resume()


def status_at(timeline: Timeline, position: int, paused: bool, waiting: bool = False) -> Status:
    step = timeline.step_at(position)
    rate = timeline.sample_rate
    return Status(step=step, steps=len(timeline.step_labels), label=timeline.step_labels[step],
                  elapsed_s=position / rate, remaining_s=(timeline.duration - position) / rate,
                  paused=paused, waiting=waiting)


# --- Terminal edges -------------------------------------------------------------------


class NoKeys:
    """No terminal: nothing to read, just wait."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def read(self, timeout_s: float) -> str | None:
        self._sleep(timeout_s)
        return None


class TerminalKeys:
    """Single key presses from a terminal in cbreak mode; restored by ``restore``.

    Made only for the terminal's foreground process group. Should the session be sent
    to the background later (Ctrl-Z, ``bg``), reading would stop it (SIGTTIN), so it
    reads nothing until it is in the foreground again.
    """

    def __init__(self, stream: TextIO, sleep: Callable[[float], None] = time.sleep) -> None:
        self._fd = stream.fileno()
        self._sleep = sleep
        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)

    def read(self, timeout_s: float) -> str | None:
        if not in_foreground(self._fd):
            self._sleep(timeout_s)
            return None
        ready, _, _ = select.select([self._fd], [], [], timeout_s)
        if not ready:
            return None
        try:
            data = os.read(self._fd, 1)
        except OSError:  # EIO: sent to the background between select and read
            return None
        if not data:  # the terminal went away
            raise KeyboardInterrupt
        return data.decode("latin-1")

    def restore(self) -> None:
        with contextlib.suppress(termios.error, OSError):  # the terminal may be gone
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)


def in_foreground(fd: int) -> bool:
    """Whether this process is in the foreground process group of the terminal ``fd``."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:  # not a terminal, or not this process's controlling terminal
        return False


def never_stopped_by_the_terminal() -> None:
    """Ignore SIGTTOU and SIGTTIN for the rest of the process.

    A process outside the terminal's foreground (``voice-coach play &``, ``timeout 60
    voice-coach play``) is stopped by these when it changes the terminal's settings,
    reads it, or (with ``stty tostop``) writes to it; a stopped process cannot answer
    SIGTERM. Ignored, the call goes ahead or fails with EIO instead, and SIGTERM always
    ends the session.
    """
    for sig in (signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def keys_for(stream: TextIO, err: TextIO | None = None) -> Iterator[Keys]:
    """Terminal keys when ``stream`` is a terminal and this process is in its foreground,
    else none; the terminal is always restored.

    In the background the keys belong to whatever is in the foreground (the shell), so
    they are left alone, and ``BACKGROUND_NOTE`` goes to ``err`` (None: say nothing).
    """
    if not stream.isatty():
        yield NoKeys()
        return
    never_stopped_by_the_terminal()
    if not in_foreground(stream.fileno()):
        if err is not None:
            err.write(BACKGROUND_NOTE.format(pid=os.getpid()) + "\n")
            err.flush()
        yield NoKeys()
        return
    keys = TerminalKeys(stream)
    try:
        yield keys
    finally:
        keys.restore()


class LineDisplay:
    """One line per step, numbered as ``plan`` and the terminal display number them: for
    logs, pipes and a session in the background."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._step = -1
        self._paused = False
        self._waiting = False

    def show(self, status: Status) -> None:
        if status.step != self._step:
            self._step = status.step
            at = minutes_seconds(status.elapsed_s)
            self._out.write(f"[{at}] step {status.step + 1}/{status.steps}  {status.label}\n")
        if status.paused != self._paused:
            self._paused = status.paused
            self._out.write("paused\n" if status.paused else "resumed\n")
        if status.waiting != self._waiting:
            self._waiting = status.waiting
            self._out.write(f"{WAITING}\n" if status.waiting else "resumed\n")
        self._out.flush()

    def close(self, message: str) -> None:
        self._out.write(message + "\n")
        self._out.flush()

    def abort(self) -> None:
        pass


class TerminalDisplay:
    """The current step and the time, redrawn in place on one line."""

    def __init__(self, out: TextIO, width: int | None = None) -> None:
        self._out = out
        self._width = width
        self._last = ""

    def show(self, status: Status) -> None:
        width = (self._width or _terminal_width(self._out)) - 1
        head = (f"{minutes_seconds(status.elapsed_s)} / -{minutes_seconds(status.remaining_s)}"
                f"  step {status.step + 1}/{status.steps}  ")
        hint = ("paused - space resumes" if status.paused else WAITING if status.waiting
                else "space pause  n next  b back  q quit")
        room = width - len(head) - len(hint) - 2
        if room < 16:
            hint = "paused" if status.paused else ""
            room = width - len(head) - (len(hint) + 2 if hint else 0)
        line = head + _fit(status.label, room) + ("  " + hint if hint else "")
        if line != self._last:
            self._out.write("\r\x1b[2K" + line)
            self._out.flush()
            self._last = line

    def close(self, message: str) -> None:
        self._out.write("\r\x1b[2K" + message + "\n")
        self._out.flush()

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # the terminal may be gone
            self._out.write("\r\x1b[2K")
            self._out.flush()


class QuietDisplay:
    def show(self, status: Status) -> None:
        pass

    def close(self, message: str) -> None:
        pass

    def abort(self) -> None:
        pass


def display_for(out: TextIO, quiet: bool) -> Display:
    """Redrawn in place on a terminal we have the foreground of; else a line per step, which
    stays readable beside a shell prompt when the session plays in the background."""
    if quiet:
        return QuietDisplay()
    if out.isatty() and in_foreground(out.fileno()):
        return TerminalDisplay(out)
    return LineDisplay(out)


def _fit(text: str, width: int) -> str:
    width = max(width, 8)
    return text if len(text) <= width else text[: width - 1] + "…"


def _terminal_width(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError):
        return 80
