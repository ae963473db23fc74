"""The session as an MPRIS2 player on the session bus: media keys, a headset's buttons,
the desktop's player controls and a phone steer it as the terminal's keys do.

What the player says comes from what the live loop last showed (``live.Status``) and when
it showed it; what it is asked to do goes to the loop as a command (``live.Command``), by
``send``. The bus runs on a thread of its own with its own event loop: ``show`` only
notes the status, and hands the bus thread a callback when something a listener is told
about changed, so no sample waits on the bus. A bus that cannot be reached or goes away
leaves the player silent and the session as it was (spec 2.2:
https://specifications.freedesktop.org/mpris-spec/2.2/).
"""

# No ``from __future__ import annotations``: dbus-fast reads the signatures of the
# exported methods from their annotations, and takes a deferred "None" for one.
import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Final

from dbus_fast import BusType, NameFlag, PropertyAccess, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusDict,
    DBusDouble,
    DBusInt64,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.service import ServiceInterface, dbus_property, method, signal

from voice_coach import live
from voice_coach.buscall import BusLoop, NoAnswer, ask_bus

BUS_NAME: Final = "org.mpris.MediaPlayer2.voice_coach"
OBJECT_PATH: Final = "/org/mpris/MediaPlayer2"
IDENTITY: Final = "voice-coach"
DESKTOP_ENTRY: Final = "voice-coach"
"""The desktop file's name without ``.desktop``; shipped as ``voice_coach/voice-coach.desktop``
and installed by ``scripts/install-desktop-entry.sh``."""
CONNECT_TIMEOUT_S: Final = 2.0
STOP_TIMEOUT_S: Final = 1.0
AHEAD_S: Final = 2 * live.TICK_S
"""How far past the last status shown ``Position`` goes on while playing: the loop shows
one every tick, and one that did not come means the sound did not move either."""
SEEK_S: Final = 0.25
"""A status further than this from where the last one was heading is a skip (``Seeked``):
more than the device's own wobble, less than a step."""

Send = Callable[[live.Command], None]
DBusStrings = Annotated[list[str], DBusSignature("as")]

logging.getLogger("dbus_fast").addHandler(logging.NullHandler())  # never on the terminal


def session_bus_address(env: Mapping[str, str] = os.environ) -> str | None:
    """Where the session bus listens: ``DBUS_SESSION_BUS_ADDRESS``, else the user bus at
    ``$XDG_RUNTIME_DIR/bus`` when there is one, as libdbus finds it; None: no bus."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and (Path(runtime) / "bus").is_socket():
        return f"unix:path={Path(runtime) / 'bus'}"
    return None


# --- What the player says (pure) ------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """The last status the loop showed and when (``time.monotonic``); ``closed`` once the
    session ended."""

    status: live.Status | None
    at_s: float
    closed: bool = False


def playback_status(shown: Shown) -> str:
    if shown.closed or shown.status is None:
        return "Stopped"
    return "Paused" if shown.status.paused else "Playing"


def position_us(shown: Shown, now_s: float, ahead_s: float = AHEAD_S) -> int:
    """Microseconds into the session: as shown, and while playing, on from there as the
    clock goes, ``ahead_s`` at most and never past the end."""
    status = shown.status
    if status is None:
        return 0
    seconds = status.elapsed_s
    if not (status.paused or status.waiting or shown.closed):
        went_s = min(max(now_s - shown.at_s, 0.0), ahead_s)
        seconds = min(seconds + went_s, status.elapsed_s + status.remaining_s)
    return round(seconds * 1_000_000)


def track_id(step: int) -> str:
    """Each step's ``mpris:trackid``, counted from 1 as the screen counts steps."""
    return f"/voice_coach/step/{step + 1}"


def metadata(status: live.Status | None, album: str) -> dict[str, Variant]:
    if status is None:
        return {}
    length_us = round((status.elapsed_s + status.remaining_s) * 1_000_000)
    return {"mpris:trackid": Variant("o", track_id(status.step)),
            "mpris:length": Variant("x", length_us),
            "xesam:title": Variant("s", status.label),
            "xesam:album": Variant("s", album),
            "xesam:artist": Variant("as", [IDENTITY])}


def can_go_next(shown: Shown) -> bool:
    return (not shown.closed and shown.status is not None
            and shown.status.step + 1 < shown.status.steps)


def announced(shown: Shown, album: str) -> dict[str, Any]:
    """The properties a listener is told of when they change, as they are now."""
    running = not shown.closed and shown.status is not None
    return {"PlaybackStatus": playback_status(shown), "Metadata": metadata(shown.status, album),
            "CanGoNext": can_go_next(shown), "CanGoPrevious": running, "CanPlay": running,
            "CanPause": running}


def skipped(before: Shown, after: Shown) -> bool:
    """Whether ``after`` is somewhere the sound did not get to by playing on from
    ``before``: a skip, or a step played again."""
    if before.status is None or after.status is None or after.closed:
        return False
    heading_s = position_us(before, after.at_s, ahead_s=float("inf")) / 1_000_000
    return abs(after.status.elapsed_s - heading_s) > SEEK_S


def desktop_entry(env: Mapping[str, str] = os.environ) -> str | None:
    """``DESKTOP_ENTRY`` when its desktop file is installed: in ``applications`` under
    ``XDG_DATA_HOME`` or one of ``XDG_DATA_DIRS`` (XDG Base Directory defaults when unset;
    relative paths are ignored, as the spec says). Else None: the player names no file."""
    home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "/")) / ".local" / "share")
    dirs = (env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")
    name = f"{DESKTOP_ENTRY}.desktop"
    for folder in (home, *dirs):
        if Path(folder).is_absolute() and (Path(folder) / "applications" / name).is_file():
            return DESKTOP_ENTRY
    return None


# --- The objects on the bus -------------------------------------------------------------


class _Root(ServiceInterface):
    """org.mpris.MediaPlayer2: who the player is; Quit ends the session as q does."""

    def __init__(self, send: Send) -> None:
        super().__init__("org.mpris.MediaPlayer2")
        self._send = send

    @method()
    def Raise(self) -> None:  # CanRaise is false: no effect
        pass

    @method()
    def Quit(self) -> None:
        self._send("stop")

    @dbus_property(access=PropertyAccess.READ)
    def CanQuit(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def CanRaise(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def HasTrackList(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Identity(self) -> DBusStr:
        return IDENTITY

    @dbus_property(access=PropertyAccess.READ)
    def SupportedUriSchemes(self) -> DBusStrings:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def SupportedMimeTypes(self) -> DBusStrings:
        return []


class _RootWithDesktopEntry(_Root):
    """The root object of a player whose desktop file is installed: the desktop shows its
    name and icon."""

    @dbus_property(access=PropertyAccess.READ)
    def DesktopEntry(self) -> DBusStr:
        return DESKTOP_ENTRY


class _Player(ServiceInterface):
    """org.mpris.MediaPlayer2.Player: the session's controls and where it is. It cannot
    seek (steps are what it skips), and its rate and volume are fixed."""

    def __init__(self, send: Send, shown: Callable[[], Shown], album: str,
                 clock: Callable[[], float]) -> None:
        super().__init__("org.mpris.MediaPlayer2.Player")
        self._send, self._shown, self._album, self._clock = send, shown, album, clock

    @method()
    def Next(self) -> None:
        self._send("next")

    @method()
    def Previous(self) -> None:
        self._send("back")

    @method()
    def Pause(self) -> None:
        self._send("pause")

    @method()
    def PlayPause(self) -> None:
        self._send("toggle")

    @method()
    def Stop(self) -> None:
        self._send("stop")

    @method()
    def Play(self) -> None:
        self._send("resume")

    @method()
    def Seek(self, offset: DBusInt64) -> None:  # CanSeek is false: no effect
        pass

    @method()
    def SetPosition(self, track: DBusObjectPath, position: DBusInt64) -> None:
        pass

    @method()
    def OpenUri(self, uri: DBusStr) -> None:  # no URI schemes are supported
        pass

    @signal()
    def Seeked(self, position: int) -> DBusInt64:
        return position

    @dbus_property(access=PropertyAccess.READ)
    def PlaybackStatus(self) -> DBusStr:
        return playback_status(self._shown())

    @dbus_property(access=PropertyAccess.READ)
    def Metadata(self) -> DBusDict:
        return metadata(self._shown().status, self._album)

    @dbus_property(access=PropertyAccess.READ)
    def Position(self) -> DBusInt64:
        return position_us(self._shown(), self._clock())

    @dbus_property()
    def Rate(self) -> DBusDouble:
        return 1.0

    @Rate.setter  # type: ignore[no-redef]
    def Rate(self, rate: DBusDouble) -> None:  # outside Minimum..MaximumRate: ignored
        pass

    @dbus_property(access=PropertyAccess.READ)
    def MinimumRate(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=PropertyAccess.READ)
    def MaximumRate(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=PropertyAccess.READ)
    def Volume(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=PropertyAccess.READ)
    def CanGoNext(self) -> DBusBool:
        return can_go_next(self._shown())

    @dbus_property(access=PropertyAccess.READ)
    def CanGoPrevious(self) -> DBusBool:
        return bool(announced(self._shown(), self._album)["CanGoPrevious"])

    @dbus_property(access=PropertyAccess.READ)
    def CanPlay(self) -> DBusBool:
        return bool(announced(self._shown(), self._album)["CanPlay"])

    @dbus_property(access=PropertyAccess.READ)
    def CanPause(self) -> DBusBool:
        return bool(announced(self._shown(), self._album)["CanPause"])

    @dbus_property(access=PropertyAccess.READ)
    def CanSeek(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def CanControl(self) -> DBusBool:
        return True


# --- The player's thread --------------------------------------------------------------


class MprisPlayer:
    """A ``live.Display`` that is an MPRIS2 player on the bus at ``address`` while the
    session plays; its calls go to ``send``. It connects on its own thread; ``stop``
    leaves the bus (and frees the name)."""

    def __init__(self, address: str, send: Send, *, album: str,
                 clock: Callable[[], float] = time.monotonic,
                 env: Mapping[str, str] = os.environ) -> None:
        self._clock = clock
        self._desktop_entry = desktop_entry(env)
        self._shown = Shown(None, clock())
        self._album = album
        self._send = send
        self._stopping = asyncio.Event()  # bound to the loop that first waits on it
        self._player: _Player | None = None
        self._bus_loop = BusLoop("voice-coach mpris", lambda: self._serve(address))
        self._bus_loop.start()

    def show(self, status: live.Status) -> None:
        self._note(Shown(status, self._clock()))

    def close(self, message: str) -> None:
        self._note(replace(self._shown, closed=True))

    def abort(self) -> None:
        self._note(replace(self._shown, closed=True))

    def stop(self) -> None:
        """Leave the bus; waits ``STOP_TIMEOUT_S`` at most."""
        self._bus_loop.post(self._leave)
        self._bus_loop.join(STOP_TIMEOUT_S)

    def _note(self, shown: Shown) -> None:
        before, self._shown = self._shown, shown
        if (announced(before, self._album) != announced(shown, self._album)
                or skipped(before, shown)):
            self._bus_loop.post(self._announce, before, shown)

    def _announce(self, before: Shown, after: Shown) -> None:
        if self._player is None:
            return
        now, then = announced(after, self._album), announced(before, self._album)
        changed = {name: value for name, value in now.items() if then[name] != value}
        with contextlib.suppress(Exception):  # the bus went away: say nothing
            if changed:
                self._player.emit_properties_changed(changed)
            if skipped(before, after):
                self._player.Seeked(position_us(after, after.at_s))

    def _leave(self) -> None:
        self._stopping.set()

    async def _serve(self, address: str) -> None:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(),
                                     CONNECT_TIMEOUT_S)
        try:
            root = _Root if self._desktop_entry is None else _RootWithDesktopEntry
            bus.export(OBJECT_PATH, root(self._send))
            player = _Player(self._send, lambda: self._shown, self._album, self._clock)
            bus.export(OBJECT_PATH, player)
            await _own_name(bus)
            self._player = player
            stopping = asyncio.ensure_future(self._stopping.wait())
            gone = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
            await asyncio.wait({stopping, gone}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            gone.cancel()
        finally:
            self._player = None
            bus.disconnect()


async def _own_name(bus: MessageBus) -> str:
    """Take ``BUS_NAME``, or its ``.instance<pid>`` when another player has it."""
    for name in (BUS_NAME, f"{BUS_NAME}.instance{os.getpid()}"):
        reply = await bus.request_name(name, NameFlag.DO_NOT_QUEUE)
        if reply in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            return name
    raise ConnectionError("both of the player's bus names are taken")


def probe(env: Mapping[str, str] = os.environ, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Why media controls cannot work here, or "" when the session bus answers."""
    address = session_bus_address(env)
    if address is None:
        return "no session bus (DBUS_SESSION_BUS_ADDRESS is not set and there is no user bus)"
    try:
        ask_bus(address, BusType.SESSION, _hello, timeout_s)
    except NoAnswer as error:
        return str(error)
    return ""


async def _hello(session_bus: MessageBus) -> None:
    """Nothing to ask: connecting is the answer."""
