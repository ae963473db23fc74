"""What ``awake`` (logind on the system bus) and ``mpris`` (the session bus) share: the
thread and loop each serves its bus on, and one question to a bus for their probes
(connect within a time limit, ask, disconnect, and say in one line why it could not)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from dbus_fast import BusType
from dbus_fast.aio import MessageBus

Answer = TypeVar("Answer")


class NoAnswer(Exception):
    """The bus could not be reached, or failed the question: the text is the one line."""


def ask_bus(address: str, bus_type: BusType,
            question: Callable[[MessageBus], Awaitable[Answer]], timeout_s: float) -> Answer:
    """``question``'s answer from the bus at ``address``, connected within ``timeout_s``;
    raises ``NoAnswer`` naming the bus for any failure on the way."""

    async def connect_and_ask() -> Answer:
        bus = await asyncio.wait_for(
            MessageBus(bus_address=address, bus_type=bus_type).connect(), timeout_s)
        try:
            return await question(bus)
        finally:
            bus.disconnect()

    try:
        return asyncio.run(connect_and_ask())
    except Exception as error:
        kind = "system" if bus_type == BusType.SYSTEM else "session"
        raise NoAnswer(f"the {kind} bus at {address} does not answer"
                       f" ({error or type(error).__name__})") from error


class BusLoop:
    """A daemon thread that runs ``serve()`` on an event loop of its own until it returns or
    fails (no bus, or it went away: the session plays on), then calls ``after()``. The
    loop's errors never reach the terminal; ``post`` hands it a callback from any thread."""

    def __init__(self, name: str, serve: Callable[[], Coroutine[Any, Any, None]],
                 after: Callable[[], None] = lambda: None) -> None:
        self._serve, self._after = serve, after
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda loop, context: None)  # never on the terminal
        self._live = True
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> None:
        self._thread.start()

    def post(self, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback(*args)`` on the loop, unless it has ended."""
        if self._live:
            with contextlib.suppress(RuntimeError):  # the loop has ended meanwhile
                self._loop.call_soon_threadsafe(callback, *args)

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception:  # no bus, or it went away: the session plays on
            pass
        finally:
            self._live = False
            self._after()
            self._loop.close()
