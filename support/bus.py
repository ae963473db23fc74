"""A private D-Bus daemon for a test, and playerctl, the MPRIS2 client the tests steer a
play with as a desktop's media keys would.

The daemon is Debian's ``dbus-daemon`` with its session configuration, listening on a
socket in a folder of the test's; its ``env`` points ``DBUS_SESSION_BUS_ADDRESS`` at it, so
nothing the test starts ever reaches the developer's own session bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

PLAYER: Final = "voice_coach"
"""What playerctl's ``-p`` matches: the player's bus name after org.mpris.MediaPlayer2."""
PLAYER_NAME: Final = f"org.mpris.MediaPlayer2.{PLAYER}"


def default_signals() -> None:
    """A child's ``preexec_fn``: SIGTERM, SIGINT and SIGHUP end it, whatever this process
    ignores (an in-process ``play`` leaves them ignored, and a child inherits that)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


class BusError(Exception):
    """The private bus did not start."""


class PrivateBus:
    """``dbus-daemon --session`` on a socket in ``folder``, until ``close``."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("dbus-daemon") is None:
            raise BusError("dbus-daemon is not installed (scripts/setup.sh installs it)")
        folder.mkdir(parents=True, exist_ok=True)
        self.socket = folder / "bus"
        self.address = f"unix:path={self.socket}"
        self._daemon = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={self.address}",
             "--print-address=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=default_signals)
        assert self._daemon.stdout is not None
        if not self._daemon.stdout.readline().strip():
            _, err = self._daemon.communicate(timeout=5)
            raise BusError(f"dbus-daemon did not start: {err.strip()}")

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    @property
    def running(self) -> bool:
        return self._daemon.poll() is None

    def close(self) -> None:
        """End the daemon: every connection to it is cut."""
        if self._daemon.poll() is None:
            self._daemon.terminate()
            try:
                self._daemon.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                self._daemon.wait()

    def playerctl(self, *args: str, timeout_s: float = 10.0) -> subprocess.CompletedProcess[str]:
        """``playerctl -p voice_coach ARGS`` on this bus."""
        return self.run(["playerctl", "-p", PLAYER, *args], timeout_s=timeout_s)

    def run(self, command: Sequence[str],
            timeout_s: float = 10.0) -> subprocess.CompletedProcess[str]:
        """A client command on this bus (and no other)."""
        return subprocess.run(list(command), env={"PATH": "/usr/bin:/bin", **self.env},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout_s, check=False)

    def wait_for_player(self, timeout_s: float = 10.0) -> float:
        """Wait until the player answers ``status``; how long that took."""
        started = time.monotonic()
        while True:
            if self.playerctl("status").returncode == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise BusError(f"no player answered within {timeout_s:g} s")
            time.sleep(0.05)


@contextlib.contextmanager
def polling_position(address: str, every_s: float = 0.05) -> Iterator[list[int]]:
    """A client that reads the player's ``Position`` (µs) every ``every_s`` on one
    connection, as a desktop's widget does, until the block ends; the readings so far."""
    reads: list[int] = []
    done = threading.Event()

    async def client() -> None:
        bus = await MessageBus(bus_address=address).connect()
        try:
            while not done.is_set():
                reply = await bus.call(Message(
                    destination=PLAYER_NAME, path="/org/mpris/MediaPlayer2",
                    interface="org.freedesktop.DBus.Properties", member="Get", signature="ss",
                    body=["org.mpris.MediaPlayer2.Player", "Position"]))
                if reply is not None and reply.message_type == MessageType.METHOD_RETURN:
                    reads.append(int(reply.body[0].value))
                await asyncio.sleep(every_s)
        finally:
            bus.disconnect()

    thread = threading.Thread(target=asyncio.run, args=(client(),), name="position poller")
    thread.start()
    try:
        yield reads
    finally:
        done.set()
        thread.join()
