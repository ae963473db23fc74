"""Controls from every edge: terminal keys and the bus's calls become one queue of
commands the live loop reads, and what the loop shows goes out to every listener.

The loop (``live.run``) reads a ``Keys`` and shows on a ``Display``; it neither knows nor
cares who pressed or who listens. ``Commands`` is a ``Keys`` that merges the terminal's
keys with commands another thread sends (the MPRIS2 player's); ``Fanout`` is a
``Display`` that shows each status on the screen, then to the player on the session bus
and to the logind inhibitor on the system bus (``edges`` puts them together).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator, Mapping

from voice_coach import live


class Commands:
    """Keys and commands from any thread, as one ``live.Keys``.

    ``keys`` are read on a thread of their own, ``tick_s`` at a time, so that ``read``
    wakes as soon as either a key or a ``send`` comes, in the order they came. What
    reading the keys raises (the terminal went away) is raised by ``read``.
    """

    def __init__(self, keys: live.Keys, tick_s: float = live.TICK_S) -> None:
        self._queue: queue.SimpleQueue[str | BaseException] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read_keys, args=(keys, tick_s),
                                        daemon=True, name="voice-coach keys")
        self._reader.start()

    def send(self, command: live.Command) -> None:
        """Steer the session from any thread."""
        self._queue.put(command)

    def read(self, timeout_s: float) -> str | None:
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop reading keys; returns once the reader has (within a tick), so the terminal
        can be restored after it."""
        self._closing.set()
        self._reader.join()

    def _read_keys(self, keys: live.Keys, tick_s: float) -> None:
        try:
            while not self._closing.is_set():
                key = keys.read(tick_s)
                if key is not None:
                    self._queue.put(key)
        except BaseException as error:  # handed to the loop's thread, which raises it
            self._queue.put(error)


class Fanout:
    """A ``live.Display`` that shows each status on every one of ``displays``, in order."""

    def __init__(self, *displays: live.Display) -> None:
        self._displays = displays

    def show(self, status: live.Status) -> None:
        for display in self._displays:
            display.show(status)

    def close(self, message: str) -> None:
        for display in self._displays:
            display.close(message)

    def abort(self) -> None:
        for display in self._displays:
            display.abort()


@contextlib.contextmanager
def edges(keys: live.Keys, display: live.Display, *, title: str, media_keys: bool,
          env: Mapping[str, str] = os.environ) -> Iterator[tuple[live.Keys, live.Display]]:
    """The keys and the display a session is steered by and shown on, with what the
    desktop offers around them: an MPRIS2 player on the session bus (when ``media_keys``
    and there is a session bus) and a logind inhibitor that keeps the machine awake while
    the session plays (when there is a system bus). Without either, ``keys`` and
    ``display`` as they are. Nothing is ever said about the buses; one that cannot be
    reached or goes away leaves the keys and the screen as they were."""
    from voice_coach import awake, mpris

    session_bus = mpris.session_bus_address(env) if media_keys else None
    system_bus = awake.system_bus_address(env)
    listeners: list[live.Display] = []
    with contextlib.ExitStack() as stack:
        if session_bus is not None:
            commands = Commands(keys)
            stack.callback(commands.close)
            player = mpris.MprisPlayer(session_bus, commands.send, album=title)
            stack.callback(player.stop)
            keys = commands
            listeners.append(player)
        if system_bus is not None:
            staying = awake.Awake(system_bus, awake.why(title))
            stack.callback(staying.stop)
            listeners.append(staying)
        yield keys, Fanout(display, *listeners) if listeners else display
