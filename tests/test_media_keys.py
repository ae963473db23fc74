"""``voice-coach play`` steered from the session bus, as media keys, a headset and a phone
steer it: the installed command in a child, a private ``dbus-daemon`` (``support.bus``) as
its session bus, ``playerctl`` as the desktop, and a paced test device (``support.paced``)
taking the sound in real time.

``export`` with the same arguments is the reference: a pause from the bus adds no gap to
what the device is handed, and next and previous hand it exactly what the keys would (the
rest of the session from the start of the next step, or of the current one), and keys on
a pseudo-terminal and bus calls taken in turn each see what the other did. Without a
bus, with one that goes away, or with media keys off, play is exactly as it was and says
nothing about it. A stand-in logind (``support.login1``) on a private system bus sees the
inhibitor held while a play plays, released for each pause and at the end, and released
by the kernel when the play is killed. The plays of a test run at the same time, each
with its own buses, device and history, from a cache the export warmed. One more plays
the session through a private PulseAudio while a client reads Position 20 times a second:
every cue as the export spaces it, to the sample (timed, so it runs alone).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest

from support.audio import find_session, read_wav
from support.bus import PrivateBus, polling_position
from support.login1 import StandInLogind
from support.paced import PacedFile
from support.processes import size_of
from support.soundserver import SoundServer
from support.steered import (
    TAIL_S,
    Play,
    assert_handed_exactly,
    segments,
    step_start,
    wait_until,
)
from tests.test_play_e2e import Terminal, playing
from voice_coach.pcm import SAMPLE_RATE, Samples

pytestmark = [pytest.mark.one_python, pytest.mark.waiting]

pytest_plugins = ["support.fixtures"]

VOICE_COACH: Final = Path(sys.executable).with_name("voice-coach")
SHORT: Final = (str(Path(__file__).parent / "data" / "short-breath.toml"), "--no-caution")
"""22.5 s in four steps: Starting (0-1.7 s), a line (to 4.4 s), three breaths (to 16.4 s),
the closing."""
STOPPED_WITHIN_S: Final = 0.4
"""From ``playerctl play-pause`` to the device taking nothing more: playerctl starting and
calling (about 10 ms; the loop wakes for it at once), then the device's drop, which on
this test device writes out what ALSA's file plugin holds (100 ms) before it returns, and
the test device's page (46 ms): 0.16-0.17 s measured, as for the space bar. A sound
server drops what it holds (docs/streaming.md)."""
POSITION_WITHIN_S: Final = 0.3
"""How far ``Position`` may be from what the device has played when it is read: the
test device's buffer (ALSA says nothing of it), played out by a pause while ``Position``
goes on for at most 0.2 s past the last status, its page (46 ms) and playerctl's own
call."""

STARTED: list[Play] = []
"""Every play a test started, ended after it whatever happened (``_end_every_play``)."""


@pytest.fixture(autouse=True)
def _end_every_play() -> Iterator[None]:
    yield
    while STARTED:
        STARTED.pop().end()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Samples, dict[str, Any], Path]:
    """The export every play is held against, its timeline, and the cache it warmed."""
    folder = tmp_path_factory.mktemp("export")
    cache = folder / "cache"
    child = subprocess.run([str(VOICE_COACH), "export", *SHORT, "-o", str(folder / "out"),
                            "--quiet"], env={**os.environ, "XDG_CACHE_HOME": str(cache)},
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=300, check=False)
    assert (child.returncode, child.stdout, child.stderr) == (0, "", ""), child.stderr
    timeline = json.loads((folder / "out" / "timeline.json").read_text())
    return read_wav(folder / "out" / "session.wav"), timeline, cache


def start_play(folder: Path, cache: Path, *, bus: bool = True, logind: bool = False,
               args: Sequence[str] = (), env: Mapping[str, str | None] | None = None,
               terminal: list[Terminal] | None = None) -> Play:
    """``play`` of the short session; ``env`` values of None are removed. Its system bus
    is a private one with a stand-in logind (``logind``), else one that is not there.
    With ``terminal`` (a list to put it in), it plays on a pseudo-terminal of its own,
    where keys steer it too."""
    folder.mkdir()
    device = PacedFile.in_folder(folder)
    private = PrivateBus(folder / "bus") if bus else None
    system_bus = PrivateBus(folder / "system-bus") if logind else None
    stand_in = StandInLogind(system_bus.address) if system_bus else None
    system = system_bus.address if system_bus else f"unix:path={folder / 'no-system-bus'}"
    child_env = {**os.environ, **device.env, "XDG_DATA_HOME": str(folder / "data"),
                 "XDG_CACHE_HOME": str(cache), **(private.env if private else {}),
                 "DBUS_SYSTEM_BUS_ADDRESS": system}
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    if terminal is not None:
        terminal.append(Terminal(["play", *SHORT, *args], child_env))
        child = terminal[-1].process
    else:
        child = subprocess.Popen([str(VOICE_COACH), "play", *SHORT, *args], env=child_env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    STARTED.append(Play(device, private, child, folder, stand_in, system_bus))
    return STARTED[-1]


def title(play: Play) -> str:
    assert play.bus is not None
    return play.bus.playerctl("metadata", "xesam:title").stdout.strip()


# --- Steered from the bus ---------------------------------------------------------------


def pause_from_the_bus(play: Play) -> None:
    """Three pauses by play-pause, each timed to the device stopping, while a client
    polls Position 20 times a second; then the session plays to its end."""
    bus = play.bus
    assert bus is not None
    play.notes["started_s"] = bus.wait_for_player(15)
    play.notes["status"] = bus.playerctl("status").stdout
    positions: list[tuple[float, float, float]] = []
    polling = threading.Event()

    def poll() -> None:
        while not polling.is_set():
            before = play.taken_s()
            got = bus.playerctl("position")
            if got.returncode == 0:
                positions.append((before, float(got.stdout), play.taken_s()))
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        wait_until(lambda: play.held() == 1, 5, "no inhibitor taken while playing")
        stops, paused_status, resumed_status, still, held = [], [], [], [], []
        for at_s in (3.0, 7.0, 11.0):
            wait_until(lambda at_s=at_s: play.taken_s() >= at_s, 30, f"not played to {at_s} s")
            pressed = time.monotonic()
            assert bus.playerctl("play-pause").returncode == 0
            last_size, last_growth = size_of(play.device.raw), time.monotonic()
            while time.monotonic() - last_growth < 0.3:
                time.sleep(0.002)
                if size_of(play.device.raw) != last_size:
                    last_size, last_growth = size_of(play.device.raw), time.monotonic()
            stops.append(last_growth - pressed)
            paused_status.append(bus.playerctl("status").stdout)
            held.append(play.held())
            time.sleep(0.3)
            still.append(size_of(play.device.raw) == last_size)
            assert bus.playerctl("play-pause").returncode == 0
            wait_until(lambda last_size=last_size: size_of(play.device.raw) > last_size, 2,
                       "play-pause did not resume")
            resumed_status.append(bus.playerctl("status").stdout)
            wait_until(lambda: play.held() == 1, 2, "the inhibitor was not taken again")
    finally:
        polling.set()
        poller.join()
    play.notes.update(stops=stops, paused=paused_status, resumed=resumed_status, still=still,
                      positions=positions, held_while_paused=held)


def skip_from_the_bus(play: Play, timeline: dict[str, Any]) -> None:
    """next in the first step, next in the second, previous in the third, then stop; the
    title after each."""
    bus = play.bus
    assert bus is not None
    bus.wait_for_player(15)
    titles = [title(play)]
    for verb, after_s in (("next", 0.8), ("next", 1.0), ("previous", 1.5)):
        taken = play.taken_s()
        wait_until(lambda taken=taken, after_s=after_s: play.taken_s() >= taken + after_s, 10,
                   f"not played {after_s} s on")
        before = title(play)
        assert bus.playerctl(verb).returncode == 0
        if verb == "next":
            wait_until(lambda before=before: title(play) != before, 2, f"{verb}: same title")
        time.sleep(0.2)
        titles.append(title(play))
    time.sleep(1.0)
    assert bus.playerctl("stop").returncode == 0
    play.notes["titles"] = titles
    play.notes["labels"] = [step["label"] for step in timeline["steps"]]


def keys_and_bus_in_turn(play: Play, terminal: Terminal) -> None:
    """Space pauses, the bus's Play resumes, its Pause pauses, space resumes; n skips and
    the bus's Next skips on; b repeats the step; the bus's Stop ends it. Each side sees
    what the other did."""
    bus = play.bus
    assert bus is not None

    def until(ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 5
        while not ready():
            assert time.monotonic() < deadline, f"{what}: {terminal.screen()!r}"
            terminal.pump(0.01)

    terminal.wait_for(playing, 30, "no status line")
    until(lambda: bus.playerctl("status").returncode == 0, "no player on the bus")
    until(lambda: play.taken_s() >= 0.3, "not played on")
    seen = []
    terminal.send(b" ")
    terminal.wait_for(lambda line: "paused" in line, 2, "space did not pause")
    seen.append(bus.playerctl("status").stdout)
    bus.playerctl("play")
    terminal.wait_for(lambda line: playing(line) and "paused" not in line, 2, "Play did not")
    bus.playerctl("pause")
    terminal.wait_for(lambda line: "paused" in line, 2, "Pause did not pause")
    terminal.send(b" ")
    terminal.wait_for(lambda line: playing(line) and "paused" not in line, 2, "space did not")
    seen.append(bus.playerctl("status").stdout)
    steps = [_step_shown(terminal.line())]  # the first step (0), well before its end (1.7 s)
    terminal.send(b"n")
    terminal.wait_for(lambda line: "step 2/" in line, 2, "n did not skip")
    until(lambda: title(play) == play.notes["labels"][1], "the title did not follow n")
    terminal.pump(0.8)
    steps.append(_step_shown(terminal.line()))
    bus.playerctl("next")
    terminal.wait_for(lambda line: "step 3/" in line, 2, "Next did not skip")
    terminal.pump(1.2)
    steps.append(_step_shown(terminal.line()))
    terminal.send(b"b")
    terminal.pump(1.0)
    bus.playerctl("stop")
    terminal.wait_exit()
    play.notes.update(seen=seen, screen=terminal.screen(), steps=steps)


def _step_shown(line: str) -> int:
    """The step (from 0) the status line shows."""
    found = re.search(r"step (\d+)/", line)
    assert found is not None, line
    return int(found[1]) - 1


@pytest.mark.sound
def test_play_pause_next_previous_and_stop_from_the_bus_do_what_the_keys_do(session, tmp_path):
    expected, timeline, cache = session
    pausing = start_play(tmp_path / "pause", cache, logind=True, args=("--quiet",))
    skipping = start_play(tmp_path / "skip", cache, args=("--quiet",))
    terminals: list[Terminal] = []
    mixed = start_play(tmp_path / "mixed", cache, terminal=terminals)
    mixed.notes["labels"] = [step["label"] for step in timeline["steps"]]
    try:
        with ThreadPoolExecutor(3) as pool:
            paused = pool.submit(pause_from_the_bus, pausing)
            skipped = pool.submit(skip_from_the_bus, skipping, timeline)
            both = pool.submit(keys_and_bus_in_turn, mixed, terminals[0])
            both.result(timeout=60)
            skipped.result(timeout=60)
            paused.result(timeout=90)
    finally:
        terminals[0].close()
        mixed.finish()

    # Keys and the bus in turn: each sees what the other did, and the device is handed the
    # export cut to the same step starts, pauses adding nothing.
    assert mixed.child.returncode == 0
    assert mixed.notes["seen"] == ["Paused\n", "Playing\n"]
    assert mixed.notes["screen"][-2:] == ["Stopped.", ""]
    assert mixed.outcomes() == ["stopped"]
    assert mixed.notes["steps"] == [0, 1, 2]
    segments(mixed.device.played(), expected,
             [step_start(timeline, 1), step_start(timeline, 2), step_start(timeline, 2)])

    assert skipping.finish() == (0, "", "")
    assert skipping.outcomes() == ["stopped"]
    notes = skipping.notes
    assert notes["titles"] == [notes["labels"][0], notes["labels"][1], notes["labels"][2],
                               notes["labels"][2]]
    pieces = segments(skipping.device.played(), expected,
                      [step_start(timeline, 1), step_start(timeline, 2), step_start(timeline, 2)])
    assert [round(length / SAMPLE_RATE, 1) >= 0.7 for _, length in pieces] == [True] * 4

    assert pausing.finish(timeout_s=60) == (0, "", "")
    assert pausing.outcomes() == ["completed"]
    assert pausing.logind is not None
    inhibitors = pausing.logind.inhibitors
    pausing.close_logind()
    # Held while playing, released for each of the three pauses and at the end.
    assert [(i.what, i.who, i.mode, i.released_s is not None) for i in inhibitors] == [
        ("sleep:idle", "voice-coach", "block", True)] * 4
    assert inhibitors[0].why == "playing the session 'Short breath'"
    assert pausing.notes["held_while_paused"] == [0, 0, 0]
    assert_handed_exactly(pausing.device.played(), expected)  # a pause adds no gap
    notes = pausing.notes
    stops_ms = [round(stop * 1000) for stop in notes["stops"]]
    misses = [round(abs(position - (before + after) / 2), 3)
              for before, position, after in notes["positions"]]
    print(f"player on the bus after {notes['started_s']:.2f} s; play-pause to the device"
          f" stopping: {stops_ms} ms; Position read {len(misses)} times, at most"
          f" {max(misses) * 1000:.0f} ms (median {np.median(misses) * 1000:.0f} ms) from what"
          " the device had played")
    assert notes["status"] == "Playing\n"
    assert notes["paused"] == ["Paused\n"] * 3
    assert notes["resumed"] == ["Playing\n"] * 3
    assert notes["still"] == [True] * 3
    assert max(notes["stops"]) <= STOPPED_WITHIN_S
    assert len(misses) >= 100
    assert max(misses) <= POSITION_WITHIN_S


# --- No bus, media keys off, a bus that goes away -----------------------------------------


def lose_the_bus(play: Play) -> None:
    assert play.bus is not None
    play.bus.wait_for_player(15)
    wait_until(lambda: play.taken_s() >= 2.0, 15, "not played 2 s")
    play.bus.close()


def kill_while_playing(play: Play) -> None:
    wait_until(lambda: play.held() == 1, 15, "no inhibitor taken while playing")
    wait_until(lambda: play.taken_s() >= 2.0, 15, "not played 2 s")
    play.child.kill()
    play.child.wait()
    killed_at = time.monotonic()
    wait_until(lambda: play.held() == 0, 2, "the kernel did not release the inhibitor")
    assert play.logind is not None
    play.notes["released_after_s"] = play.logind.inhibitors[0].released_s - killed_at


def no_player(play: Play) -> None:
    assert play.bus is not None
    wait_until(lambda: play.taken_s() >= 2.0, 15, "not played 2 s")
    play.notes["players"] = play.bus.run(["playerctl", "-l"]).stdout


@pytest.mark.sound
def test_without_a_bus_with_media_keys_off_or_a_bus_that_goes_away_play_is_as_it_was(
        session, tmp_path):
    expected, _, cache = session
    plays = {
        "no bus": start_play(tmp_path / "none", cache, bus=False, env={
            "DBUS_SESSION_BUS_ADDRESS": None, "XDG_RUNTIME_DIR": None}),
        "a bus nowhere": start_play(tmp_path / "nowhere", cache, bus=False, args=("--quiet",),
                                    env={"DBUS_SESSION_BUS_ADDRESS":
                                         f"unix:path={tmp_path / 'nothing'}"}),
        "--no-media-keys": start_play(tmp_path / "off", cache, args=("--quiet", "--no-media-keys")),
        "the setting": start_play(tmp_path / "setting", cache, args=("--quiet",),
                                  env={"VOICE_COACH_MEDIA_KEYS": "false"}),
        "gone": start_play(tmp_path / "gone", cache, args=("--quiet",)),
    }
    killed = start_play(tmp_path / "killed", cache, logind=True, args=("--quiet",))
    with ThreadPoolExecutor(4) as pool:
        steered = [pool.submit(kill_while_playing, killed),
                   pool.submit(lose_the_bus, plays["gone"]),
                   pool.submit(no_player, plays["--no-media-keys"]),
                   pool.submit(no_player, plays["the setting"])]
        for future in steered:
            future.result(timeout=60)

    results = {}
    for name, play in plays.items():
        returncode, stdout, stderr = play.finish()
        played = play.device.played()
        handed = (np.array_equal(played[:len(expected)], expected)
                  and not played[len(expected):].any()
                  and len(played) - len(expected) <= TAIL_S * SAMPLE_RATE)
        results[name] = (returncode, stderr, handed, play.outcomes())
        assert "bus" not in stdout.lower() and "mpris" not in stdout.lower()
        if name != "no bus":
            assert stdout == ""
    assert results == {name: (0, "", True, ["completed"]) for name in plays}
    killed.finish()
    killed.close_logind()
    assert killed.notes["released_after_s"] <= 0.5  # the kernel closed it, with the process
    assert plays["--no-media-keys"].notes["players"] == ""
    assert plays["the setting"].notes["players"] == ""


# --- Through the sound server, with a client reading Position (timed) ---------------------


@pytest.mark.sound
@pytest.mark.timed
def test_cue_spacing_is_exact_with_a_client_polling_position(
        sound_server: SoundServer, session, tmp_path: Path) -> None:
    """The bus never delays a sample: the whole session through the sound server, recorded,
    every cue spaced to the sample while a client reads Position 20 times a second. Timed
    against the server, so it runs alone (marked ``timed``)."""
    expected, timeline, cache = session
    bus = PrivateBus(tmp_path / "bus")
    env = {**os.environ, **sound_server.env, **bus.env, "XDG_CACHE_HOME": str(cache),
           "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-system-bus'}"}
    try:
        with sound_server.recording() as recording:
            child = subprocess.Popen([str(VOICE_COACH), "play", *SHORT, "--quiet"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            try:
                bus.wait_for_player(15)
                with polling_position(bus.address) as reads:
                    stdout, stderr = child.communicate(timeout=timeline["duration_s"] + 60)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    finally:
        bus.close()

    assert (child.returncode, stdout, stderr) == (0, "", "")
    assert len(reads) >= 15 * 20 * 0.8  # most of the session, 20 times a second
    assert reads == sorted(reads)  # nothing skipped or paused: Position only goes on
    found = find_session(recording.samples, expected, timeline)
    assert not found.missing(), f"not heard as exported: {found.missing()}"
    print(found.summary(), f"; Position read {len(reads)} times")
    assert found.cues == 8
    assert np.abs(found.cue_spacing_errors()).max() <= round(SAMPLE_RATE / 1000)
