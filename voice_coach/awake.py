"""Staying awake while a session plays: a logind inhibitor for sleep and idle.

A laptop on battery suspends after some idle minutes, and that ends a session; the
person, eyes closed, touches nothing. While the session plays (not while paused) this
holds ``org.freedesktop.login1.Manager.Inhibit("sleep:idle", "voice-coach", why,
"block")`` on the system bus, so logind neither suspends nor idles the machine. The
inhibitor is the file descriptor logind hands back: closing it releases it, and the kernel
closes it when the process dies however it dies.

``Awake`` is a ``live.Display``: it follows what the loop shows, and works on a thread of
its own, so no sample waits on the system bus. Where there is no system bus, no logind,
or logind refuses (polkit, for a session that is not the active one), nothing happens
and nothing is said.
"""

# No ``from __future__ import annotations``, as in mpris.py.
import asyncio
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from voice_coach import live
from voice_coach.buscall import BusLoop, NoAnswer, ask_bus

SYSTEM_BUS_SOCKET: Final = Path("/run/dbus/system_bus_socket")
LOGIN1: Final = "org.freedesktop.login1"
WHAT: Final = "sleep:idle"
WHO: Final = "voice-coach"
CONNECT_TIMEOUT_S: Final = 2.0
STOP_TIMEOUT_S: Final = 1.0


def system_bus_address(env: Mapping[str, str] = os.environ) -> str | None:
    """``DBUS_SYSTEM_BUS_ADDRESS``, else the system bus's socket when there is one."""
    address = env.get("DBUS_SYSTEM_BUS_ADDRESS", "").strip()
    if address:
        return address
    return f"unix:path={SYSTEM_BUS_SOCKET}" if SYSTEM_BUS_SOCKET.is_socket() else None


def why(title: str) -> str:
    """What logind (``systemd-inhibit --list``) says the inhibitor is for."""
    return f"playing the session {title!r}"


def inhibit_call(reason: str) -> Message:
    return Message(destination=LOGIN1, path="/org/freedesktop/login1",
                   interface=f"{LOGIN1}.Manager", member="Inhibit", signature="ssss",
                   body=[WHAT, WHO, reason, "block"])


class Awake:
    """Holds the inhibitor (on the bus at ``address``) while the session shows playing."""

    def __init__(self, address: str, reason: str) -> None:
        self._reason = reason
        self._want = False
        self._leaving = False
        self._fd: int | None = None
        self._changed = asyncio.Event()  # bound to the loop that first waits on it
        self._bus_loop = BusLoop("voice-coach awake", lambda: self._serve(address),
                                 after=self._release)
        self._bus_loop.start()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def show(self, status: live.Status) -> None:
        self._follow(not status.paused)

    def close(self, message: str) -> None:
        self._follow(False)

    def abort(self) -> None:
        self._follow(False)

    def stop(self) -> None:
        """Release the inhibitor and leave the bus; waits ``STOP_TIMEOUT_S`` at most."""
        self._want, self._leaving = False, True
        self._wake()
        self._bus_loop.join(STOP_TIMEOUT_S)

    def _follow(self, want: bool) -> None:
        if want != self._want:
            self._want = want
            self._wake()

    def _wake(self) -> None:
        self._bus_loop.post(self._changed.set)

    async def _serve(self, address: str) -> None:
        bus = await asyncio.wait_for(
            MessageBus(bus_address=address, bus_type=BusType.SYSTEM,
                       negotiate_unix_fd=True).connect(), CONNECT_TIMEOUT_S)
        try:
            while not self._leaving:
                await self._changed.wait()
                self._changed.clear()
                if self._want and self._fd is None and not self._leaving:
                    self._fd = await _inhibit(bus, self._reason)
                elif not self._want:
                    self._release()
        finally:
            self._release()
            bus.disconnect()

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


async def _inhibit(bus: MessageBus, reason: str) -> int | None:
    """The inhibitor's file descriptor, or None when logind is not there or refuses."""
    reply = await bus.call(inhibit_call(reason))
    fds = list(reply.unix_fds) if reply is not None else []
    if reply is None or reply.message_type != MessageType.METHOD_RETURN or not fds:
        for fd in fds:
            os.close(fd)
        return None
    index = reply.body[0]
    for other in (fd for position, fd in enumerate(fds) if position != index):
        os.close(other)
    return int(fds[index])


def probe(env: Mapping[str, str] = os.environ, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Why the machine cannot be kept awake here, or "" when logind is on the system bus."""
    address = system_bus_address(env)
    if address is None:
        return "no system bus"
    try:
        found = ask_bus(address, BusType.SYSTEM, _has_logind, timeout_s)
    except NoAnswer as error:
        return str(error)
    return "" if found else "no logind on the system bus"


async def _has_logind(system_bus: MessageBus) -> bool:
    reply = await system_bus.call(Message(
        destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus", member="NameHasOwner", signature="s", body=[LOGIN1]))
    return bool(reply is not None and reply.message_type == MessageType.METHOD_RETURN
                and reply.body[0])
