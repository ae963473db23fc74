"""Media keys and player controls: what the MPRIS2 player says (pure), the player on a
private bus steered by playerctl, and what doctor says of media controls and headsets.
The queue that merges keys and bus calls is tested in ``test_controls.py``.

No session is played here (``test_media_keys.py`` plays them): the player is shown
statuses as the live loop would show them, and what it sends is recorded.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from support.bus import BusError, PrivateBus, default_signals
from voice_coach import live, mpris
from voice_coach.devices import Output, SoundStack
from voice_coach.doctor import Check, check_headset, check_media_controls, is_bluetooth, running

pytest_plugins = ["support.fixtures"]

PROJECT = Path(__file__).resolve().parent.parent

STATUS = live.Status(step=1, steps=4, label="Breathe with the chimes.", elapsed_s=3.0,
                     remaining_s=19.5, paused=False)


def shown(at_s: float = 100.0, closed: bool = False, **changes: object) -> mpris.Shown:
    return mpris.Shown(_status(**changes), at_s, closed)


def _status(**changes: object) -> live.Status:
    """``STATUS`` with ``changes``; the remaining time follows the elapsed (22.5 s long)."""
    fields = {**STATUS.__dict__, **changes}
    if "elapsed_s" in changes and "remaining_s" not in changes:
        fields["remaining_s"] = 22.5 - float(changes["elapsed_s"])
    return live.Status(**fields)


# --- What the player says -------------------------------------------------------------


def test_playback_status_follows_the_session():
    assert mpris.playback_status(mpris.Shown(None, 0.0)) == "Stopped"
    assert mpris.playback_status(shown()) == "Playing"
    assert mpris.playback_status(shown(waiting=True)) == "Playing"  # held, not paused by anyone
    assert mpris.playback_status(shown(paused=True)) == "Paused"
    assert mpris.playback_status(shown(closed=True)) == "Stopped"


def test_position_goes_on_with_the_clock_between_statuses_only_while_playing():
    assert mpris.position_us(shown(), 100.0) == 3_000_000
    assert mpris.position_us(shown(), 100.05) == 3_050_000
    assert mpris.position_us(shown(), 101.0) == 3_200_000  # no status for 1 s: 0.2 s at most
    assert mpris.position_us(shown(), 99.0) == 3_000_000   # a clock read before it was shown
    assert mpris.position_us(shown(paused=True), 100.05) == 3_000_000
    assert mpris.position_us(shown(waiting=True), 100.05) == 3_000_000
    assert mpris.position_us(shown(closed=True), 100.05) == 3_000_000
    assert mpris.position_us(shown(elapsed_s=22.45, remaining_s=0.05), 100.1) == 22_500_000
    assert mpris.position_us(mpris.Shown(None, 0.0), 5.0) == 0


def test_metadata_names_the_step_the_routine_and_the_session_length():
    assert mpris.metadata(STATUS, "Short breath") == {
        "mpris:trackid": mpris.Variant("o", "/voice_coach/step/2"),
        "mpris:length": mpris.Variant("x", 22_500_000),
        "xesam:title": mpris.Variant("s", "Breathe with the chimes."),
        "xesam:album": mpris.Variant("s", "Short breath"),
        "xesam:artist": mpris.Variant("as", ["voice-coach"]),
    }
    assert mpris.metadata(None, "Short breath") == {}


def test_what_is_announced_changes_with_the_status_and_the_step_only():
    playing = mpris.announced(shown(), "R")
    assert playing["PlaybackStatus"] == "Playing"
    assert (playing["CanGoNext"], playing["CanGoPrevious"], playing["CanPlay"]) == (
        True, True, True)
    assert mpris.announced(shown(at_s=100.1, elapsed_s=3.1), "R") == playing
    assert mpris.announced(shown(paused=True), "R") == {**playing, "PlaybackStatus": "Paused"}
    last = mpris.announced(shown(step=3), "R")
    assert last["CanGoNext"] is False and last["Metadata"] != playing["Metadata"]
    ended = mpris.announced(shown(closed=True), "R")
    assert (ended["PlaybackStatus"], ended["CanGoNext"], ended["CanPlay"]) == (
        "Stopped", False, False)


@pytest.mark.parametrize(("before", "after", "skip"), [
    (shown(), shown(at_s=100.1, elapsed_s=3.1), False),                 # played on
    (shown(), shown(at_s=100.1, elapsed_s=3.2), False),                 # the device's wobble
    (shown(), shown(at_s=100.8, elapsed_s=3.8), False),                 # a late tick
    (shown(), shown(at_s=100.1, elapsed_s=5.0, step=2), True),          # n
    (shown(), shown(at_s=100.1, elapsed_s=2.0), True),                  # b
    (shown(paused=True), shown(at_s=103.0, paused=True), False),        # stayed paused
    (shown(paused=True), shown(at_s=100.1, paused=True, elapsed_s=5.0), True),  # n, paused
    (shown(waiting=True), shown(at_s=102.0), False),                    # held, then played
    (shown(), shown(at_s=100.1, elapsed_s=2.0, closed=True), False),     # ended
    (mpris.Shown(None, 0.0), shown(), False),                            # the first status
])
def test_a_skip_is_a_status_away_from_where_the_last_one_was_heading(before, after, skip):
    assert mpris.skipped(before, after) is skip


def test_the_session_bus_is_the_variable_else_the_user_bus(tmp_path):
    assert mpris.session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}) == (
        "unix:path=/x")
    assert mpris.session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    bus = PrivateBus(tmp_path / "user")
    try:
        env = {"XDG_RUNTIME_DIR": str(tmp_path / "user"), "DBUS_SESSION_BUS_ADDRESS": " "}
        assert mpris.session_bus_address(env) == f"unix:path={tmp_path / 'user' / 'bus'}"
    finally:
        bus.close()
    assert mpris.session_bus_address({}) is None


def test_doctor_says_in_one_line_whether_media_controls_work_and_why_not():
    assert check_media_controls(False).detail == "off (setting media_keys is false)"
    missing = check_media_controls(problem=lambda: "no session bus (why)")
    assert (missing.ok, missing.detail) == (
        True, "not available: no session bus (why); the terminal's keys still work")
    there = check_media_controls(problem=lambda: "")
    assert there.ok and there.detail.startswith("the session bus answers")


def test_doctor_probes_a_bus_for_real(session_bus, tmp_path):
    assert mpris.probe(session_bus.env) == ""
    gone = tmp_path / "gone"
    assert mpris.probe({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={gone}"}) == (
        f"the session bus at unix:path={gone} does not answer"
        " ([Errno 2] No such file or directory)")
    assert mpris.probe({}).startswith("no session bus")


# --- The player on a private bus --------------------------------------------------------


@pytest.fixture
def player(session_bus: PrivateBus,
           tmp_path: Path) -> Iterator[tuple[mpris.MprisPlayer, list[str]]]:
    """A player whose desktop file is not installed."""
    sent: list[str] = []
    player = mpris.MprisPlayer(session_bus.address, sent.append, album="Short breath",
                               env=no_desktop_file(tmp_path))
    try:
        session_bus.wait_for_player()
        yield player, sent
    finally:
        player.stop()


def test_playerctl_steers_the_player_as_the_keys_do(session_bus, player):
    played, sent = player
    assert session_bus.playerctl("status").stdout == "Stopped\n"  # nothing shown yet
    played.show(STATUS)
    assert _eventually(lambda: session_bus.playerctl("status").stdout) == "Playing\n"
    assert session_bus.playerctl("metadata", "xesam:title").stdout == "Breathe with the chimes.\n"
    assert session_bus.playerctl("metadata", "xesam:album").stdout == "Short breath\n"
    assert session_bus.playerctl("metadata", "mpris:length").stdout == "22500000\n"
    for verb in ("play-pause", "play", "pause", "next", "previous", "stop"):
        assert session_bus.playerctl(verb).returncode == 0
    assert _eventually(lambda: len(sent), 6) == 6
    assert sent == ["toggle", "resume", "pause", "next", "back", "stop"]
    played.show(_status(paused=True, elapsed_s=3.5))
    assert _eventually(lambda: session_bus.playerctl("status").stdout) == "Paused\n"
    assert session_bus.playerctl("position").stdout == "3.500000\n"
    played.close("Stopped.")
    assert _eventually(lambda: session_bus.playerctl("status").stdout, "Stopped\n") == "Stopped\n"


def test_position_is_read_on_demand_and_moves_between_statuses(session_bus, player):
    played, _ = player
    played.show(STATUS)
    time.sleep(0.1)
    seconds = float(session_bus.playerctl("position").stdout)
    assert 3.05 <= seconds <= 3.2


SPEC_PROPERTIES = {
    "org.mpris.MediaPlayer2": {
        "CanQuit": ("b", "readonly"), "CanRaise": ("b", "readonly"),
        "HasTrackList": ("b", "readonly"), "Identity": ("s", "readonly"),
        "SupportedUriSchemes": ("as", "readonly"), "SupportedMimeTypes": ("as", "readonly"),
    },
    "org.mpris.MediaPlayer2.Player": {
        "PlaybackStatus": ("s", "readonly"), "Rate": ("d", "readwrite"),
        "Metadata": ("a{sv}", "readonly"),
        "Volume": ("d", "readonly"),  # read/write in the spec; the issue allows read-only
        "Position": ("x", "readonly"), "MinimumRate": ("d", "readonly"),
        "MaximumRate": ("d", "readonly"), "CanGoNext": ("b", "readonly"),
        "CanGoPrevious": ("b", "readonly"), "CanPlay": ("b", "readonly"),
        "CanPause": ("b", "readonly"), "CanSeek": ("b", "readonly"),
        "CanControl": ("b", "readonly"),
    },
}
SPEC_METHODS = {
    "org.mpris.MediaPlayer2": {"Raise()", "Quit()"},
    "org.mpris.MediaPlayer2.Player": {
        "Next()", "Previous()", "Pause()", "PlayPause()", "Stop()", "Play()", "Seek(x)",
        "SetPosition(o,x)", "OpenUri(s)"},
}


def test_introspection_has_the_spec_interfaces_with_their_types(session_bus, player):
    found = session_bus.run(["gdbus", "introspect", "--address", session_bus.address,
                             "--dest", mpris.BUS_NAME, "--object-path", mpris.OBJECT_PATH])
    assert found.returncode == 0, found.stderr
    interfaces = _interfaces(found.stdout)
    for name, properties in SPEC_PROPERTIES.items():
        assert interfaces[name]["properties"] == properties
        assert interfaces[name]["methods"] == SPEC_METHODS[name]
    assert interfaces["org.mpris.MediaPlayer2.Player"]["signals"] == {"Seeked(x)"}
    identity = session_bus.run(["gdbus", "call", "--address", session_bus.address, "--dest",
                                mpris.BUS_NAME, "--object-path", mpris.OBJECT_PATH, "--method",
                                "org.freedesktop.DBus.Properties.Get",
                                "org.mpris.MediaPlayer2", "Identity"])
    assert identity.stdout == "(<'voice-coach'>,)\n"


def no_desktop_file(folder: Path) -> dict[str, str]:
    return {"HOME": str(folder / "home"), "XDG_DATA_HOME": str(folder / "data"),
            "XDG_DATA_DIRS": str(folder / "system")}


def _get(bus: PrivateBus, interface: str, name: str) -> subprocess.CompletedProcess[str]:
    return bus.run(["gdbus", "call", "--address", bus.address, "--dest", mpris.BUS_NAME,
                    "--object-path", mpris.OBJECT_PATH, "--method",
                    "org.freedesktop.DBus.Properties.Get", interface, name])


def test_desktop_entry_is_said_only_once_the_script_installed_the_desktop_file(
        session_bus, tmp_path):
    """Without the file the root object has no DesktopEntry; once
    scripts/install-desktop-entry.sh put it into XDG_DATA_HOME, it says "voice-coach"."""
    env = no_desktop_file(tmp_path)
    without = mpris.MprisPlayer(session_bus.address, lambda command: None, album="R", env=env)
    try:
        session_bus.wait_for_player()
        missing = _get(session_bus, "org.mpris.MediaPlayer2", "DesktopEntry")
    finally:
        without.stop()
    installed = subprocess.run([str(PROJECT / "scripts" / "install-desktop-entry.sh")],
                               env={**os.environ, **env, "PYTHON": sys.executable},
                               capture_output=True, text=True,
                               timeout=30, check=False)
    desktop_file = tmp_path / "data" / "applications" / "voice-coach.desktop"
    assert (installed.returncode, installed.stdout) == (0, f"installed {desktop_file}\n")
    with_file = mpris.MprisPlayer(session_bus.address, lambda command: None, album="R", env=env)
    try:
        _eventually(lambda: session_bus.playerctl("status").returncode == 0)
        found = _get(session_bus, "org.mpris.MediaPlayer2", "DesktopEntry")
        introspected = session_bus.run(["gdbus", "introspect", "--address", session_bus.address,
                                        "--dest", mpris.BUS_NAME, "--object-path",
                                        mpris.OBJECT_PATH])
    finally:
        with_file.stop()

    assert missing.returncode != 0
    assert "No such property" in missing.stderr or "UnknownProperty" in missing.stderr, (
        missing.stderr)
    assert found.stdout == "(<'voice-coach'>,)\n"
    root = _interfaces(introspected.stdout)["org.mpris.MediaPlayer2"]["properties"]
    assert root == {**SPEC_PROPERTIES["org.mpris.MediaPlayer2"], "DesktopEntry": ("s", "readonly")}
    entry = desktop_file.read_text().splitlines()
    assert f'Exec="{Path(sys.executable).with_name("voice-coach")}" play' in entry
    assert Path(sys.executable).with_name("voice-coach").exists()


def test_the_shipped_desktop_file_is_a_hidden_terminal_launcher():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(
        (files("voice_coach") / "voice-coach.desktop").read_text(encoding="utf-8"))
    entry = dict(parser["Desktop Entry"])
    assert {key: entry[key] for key in ("Type", "Name", "Exec", "Terminal", "NoDisplay")} == {
        "Type": "Application", "Name": "voice-coach", "Exec": "voice-coach play",
        "Terminal": "true", "NoDisplay": "true"}
    assert entry["Categories"].endswith(";")


def test_desktop_entry_looks_where_the_xdg_base_directory_spec_says(tmp_path, monkeypatch):
    def install(folder: Path) -> None:
        (folder / "applications").mkdir(parents=True)
        (folder / "applications" / "voice-coach.desktop").write_text("[Desktop Entry]\n")

    home, system = tmp_path / "home", tmp_path / "system"
    assert mpris.desktop_entry({"HOME": str(home)}) is None
    install(home / ".local" / "share")  # XDG_DATA_HOME's default
    assert mpris.desktop_entry({"HOME": str(home)}) == "voice-coach"
    install(system)
    env = {"HOME": str(tmp_path / "nobody"), "XDG_DATA_HOME": str(tmp_path / "empty")}
    assert mpris.desktop_entry({**env, "XDG_DATA_DIRS": f"/nowhere:{system}"}) == "voice-coach"
    assert mpris.desktop_entry({**env, "XDG_DATA_DIRS": "/nowhere"}) is None
    monkeypatch.chdir(tmp_path)  # a relative path is ignored, even where it would find the file
    assert mpris.desktop_entry({**env, "XDG_DATA_DIRS": "system"}) is None


def test_changes_are_announced_and_a_skip_sends_seeked(session_bus, player):
    played, _ = player
    monitor = subprocess.Popen(
        ["dbus-monitor", "--address", session_bus.address,
         f"type='signal',sender='{mpris.BUS_NAME}'"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=default_signals)
    try:
        time.sleep(0.3)  # the monitor is in place
        played.show(STATUS)
        time.sleep(0.1)
        played.show(_status(elapsed_s=3.1))             # played on: nothing to say
        time.sleep(0.1)
        played.show(_status(elapsed_s=5.0, step=2, label="3 breaths"))  # n
        time.sleep(0.1)
        played.show(_status(elapsed_s=5.0, step=2, label="3 breaths", paused=True))
        time.sleep(0.1)
        played.close("Stopped.")
        time.sleep(0.3)
    finally:
        monitor.terminate()
        out, _ = monitor.communicate(timeout=5)
    members = re.findall(r"member=(PropertiesChanged|Seeked)", out)
    assert members == ["PropertiesChanged", "PropertiesChanged", "Seeked", "PropertiesChanged",
                       "PropertiesChanged"]
    statuses = re.findall(r'string "PlaybackStatus"\s+variant\s+string "(\w+)"', out)
    assert statuses == ["Playing", "Paused", "Stopped"]
    assert re.findall(r'string "xesam:title"\s+variant\s+string "([^"]+)"', out) == [
        "Breathe with the chimes.", "3 breaths"]
    assert "int64 5000000" in out.split("member=Seeked")[1].split("member=")[0]


def test_a_second_player_takes_the_instance_name(session_bus, player):
    other = mpris.MprisPlayer(session_bus.address, lambda command: None, album="Other")
    try:
        _eventually(lambda: len(_names(session_bus)), 2)
        names = _names(session_bus)
    finally:
        other.stop()
    assert sorted(names) == [mpris.BUS_NAME, f"{mpris.BUS_NAME}.instance{os.getpid()}"]


def test_a_bus_that_goes_away_leaves_the_player_quiet(session_bus, player, capfd):
    played, _ = player
    played.show(STATUS)
    session_bus.close()
    time.sleep(0.2)
    played.show(_status(paused=True))   # would be announced: the bus is gone
    played.show(_status(step=2))
    started = time.monotonic()
    played.stop()
    assert time.monotonic() - started < 0.5
    assert capfd.readouterr() == ("", "")


def test_a_bus_that_does_not_answer_leaves_the_player_quiet(tmp_path, capfd):
    played = mpris.MprisPlayer(f"unix:path={tmp_path / 'nothing'}", lambda c: None, album="R")
    played.show(STATUS)
    played.close("Stopped.")
    played.stop()
    assert capfd.readouterr() == ("", "")


# --- Helpers ----------------------------------------------------------------------------


def _eventually(read, want=None, timeout_s: float = 3.0):
    """``read()`` once it gives ``want`` (or, without one, anything true), else its last."""
    started = time.monotonic()
    while True:
        got = read()
        if (got == want if want is not None else got) or time.monotonic() - started > timeout_s:
            return got
        time.sleep(0.02)


def _names(bus: PrivateBus) -> list[str]:
    listed = bus.run(["dbus-send", f"--bus={bus.address}", "--print-reply",
                      "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                      "org.freedesktop.DBus.ListNames"])
    return [n for n in re.findall(r'string "([^"]+)"', listed.stdout)
            if n.startswith(mpris.BUS_NAME)]


def _interfaces(text: str) -> dict[str, dict[str, object]]:
    """gdbus introspect's output: each interface's properties (type, access), methods and
    signals (by their argument types)."""
    found: dict[str, dict[str, object]] = {}
    for block in re.finditer(r"interface (\S+) \{(.*?)\n  \};", text, re.S):
        body = block.group(2)
        properties = {name: (kind, access) for access, kind, name in
                      re.findall(r"(readonly|readwrite|writeonly) (\S+) (\w+)", body)}
        found[block.group(1)] = {
            "properties": properties,
            "methods": _members(body, "methods"), "signals": _members(body, "signals")}
    return found


def _members(body: str, section: str) -> set[str]:
    part = re.search(rf"{section}:\n(.*?)(?:\n    \w+:\n|\Z)", body, re.S)
    if part is None:
        return set()
    members = set()
    for name, args in re.findall(r"(\w+)\(([^)]*)\);", part.group(1)):
        kinds = [arg.split()[-2] for arg in args.split(",") if arg.strip()]
        members.add(f"{name}({','.join(kinds)})")
    return members


def test_a_bus_that_will_not_start_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BusError, match="dbus-daemon is not installed"):
        PrivateBus(tmp_path / "bus")


# --- Headset buttons (doctor) ---------------------------------------------------------

HEADSET = Output("bluez_output.00_1B_66_AA_BB_CC.1", "Momentum 4", default=True)
SPEAKERS = Output("alsa_output.pci-0000_00_1f.3.analog-stereo", "Built-in Audio",
                  default=True)


@pytest.mark.parametrize(("outputs", "proxy", "detail"), [
    ((SPEAKERS,), False, "the default output is not a Bluetooth device"),
    ((), False, "the default output is not a Bluetooth device"),
    ((Output(SPEAKERS.name, SPEAKERS.description), HEADSET), True,
     "the default output is Bluetooth (Momentum 4); mpris-proxy forwards its buttons"),
    ((HEADSET,), False,
     "the default output is Bluetooth (Momentum 4), but mpris-proxy is not running, so its"
     " buttons do nothing; start it: systemctl --user enable --now mpris-proxy"),
])
def test_doctor_says_whether_a_headsets_buttons_reach_the_session(outputs, proxy, detail):
    found = SoundStack("PipeWire", "1.4.2", outputs)
    assert check_headset(found, lambda: proxy) == Check("headset buttons", True, detail)


def test_pulseaudio_names_its_bluetooth_sinks_too():
    assert is_bluetooth("bluez_sink.00_1B_66_AA_BB_CC.a2dp_sink")
    assert not is_bluetooth("alsa_output.usb-bluez_fan_club.analog-stereo")


def test_a_running_mpris_proxy_is_found_by_its_name(tmp_path):
    proxy = tmp_path / "mpris-proxy"
    proxy.write_bytes(Path("/bin/sleep").read_bytes())
    proxy.chmod(0o755)
    assert not running("mpris-proxy")
    child = subprocess.Popen([str(proxy), "30"])
    try:
        assert _eventually(lambda: running("mpris-proxy"), True)
    finally:
        child.kill()
        child.wait()
    assert not running("mpris-proxy")
