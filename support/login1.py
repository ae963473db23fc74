"""A stand-in for logind on a private bus: ``org.freedesktop.login1.Manager.Inhibit``, as
logind answers it, recording each inhibitor taken and when its file descriptor closes.

logind hands the caller one end of a pipe and keeps the other: the inhibitor lasts until
every copy of the caller's end is closed (by the caller, or by the kernel when it dies).
So does this one, on a thread of the test's process with its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from dataclasses import dataclass

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

LOGIN1 = "org.freedesktop.login1"


@dataclass
class Inhibitor:
    """One ``Inhibit`` call and what became of it (times from ``time.monotonic``)."""

    what: str
    who: str
    why: str
    mode: str
    taken_s: float
    released_s: float | None = None


class StandInLogind:
    """Owns ``org.freedesktop.login1`` on the bus at ``address`` until ``close``."""

    def __init__(self, address: str) -> None:
        self.inhibitors: list[Inhibitor] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._closing: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(address,), daemon=True,
                                        name="stand-in logind")
        self._thread.start()
        if not self._ready.wait(5) or self._error is not None:
            raise RuntimeError(f"the stand-in logind did not start: {self._error}")

    def held(self) -> list[Inhibitor]:
        return [i for i in self.inhibitors if i.released_s is None]

    def close(self) -> None:
        """Leave the bus; a second close does nothing."""
        if self._closing is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # its loop ended meanwhile
                self._loop.call_soon_threadsafe(self._closing.set)
        self._thread.join(5)

    def _run(self, address: str) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve(address))
        except BaseException as error:
            self._error = error
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self, address: str) -> None:
        self._closing = asyncio.Event()
        bus = await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()
        bus.add_message_handler(lambda message: self._answer(bus, message))
        await bus.request_name(LOGIN1)
        self._ready.set()
        await self._closing.wait()
        bus.disconnect()

    def _answer(self, bus: MessageBus, message: Message) -> bool | None:
        if (message.message_type != MessageType.METHOD_CALL
                or message.interface != f"{LOGIN1}.Manager" or message.member != "Inhibit"):
            return None
        what, who, why, mode = message.body
        inhibitor = Inhibitor(what, who, why, mode, time.monotonic())
        self.inhibitors.append(inhibitor)
        kept, handed = os.pipe()
        sent = bus.send(Message.new_method_return(message, "h", [0], unix_fds=[handed]))
        sent.add_done_callback(lambda _: os.close(handed))  # the caller has its copy now

        def closed() -> None:  # every copy of the caller's end is closed: EOF
            inhibitor.released_s = time.monotonic()
            self._loop.remove_reader(kept)
            os.close(kept)

        self._loop.add_reader(kept, closed)
        return True
