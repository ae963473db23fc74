"""Section 10: media keys. ``voice-coach play`` as an MPRIS2 player on a private session
bus, steered with ``playerctl`` as a desktop's media keys would.

- From ``playerctl play-pause`` to the sound stopping, through a real PulseAudio and a real
  PipeWire null sink, recorded (``benchmarks.pause_latency``): the call (playerctl starting
  and the bus), the loop waking for it, and the device's drop. And where each resume
  starts against the first sample not heard (the sound server's own delay figure).
- The same into the paced test device (``support.paced``), whose ALSA ``file`` plugin
  writes out what it holds when dropped: it plays all it took, then its page.
- The CPU the play process uses over a stretch without a client, and over one with a
  client reading ``Position`` 20 times a second on one connection
  (``support.bus.polling_position``): the difference is what the bus costs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from benchmarks.measure import (
    PROJECT,
    BenchError,
    Workspace,
    export,
    median,
    primed,
    progress,
    timeline_of,
    voice_coach_command,
)
from benchmarks.pause_latency import Pauses, kill_play, measure_server, session_env, stop_play
from benchmarks.report import About, Row, Section, row
from support.audio import read_wav
from support.bus import PrivateBus, polling_position
from support.paced import PacedFile
from support.processes import size_of
from support.soundserver import PipeWireServer, SoundServer, SoundServerError
from voice_coach.pcm import SAMPLE_RATE

ABOUT: Final = About(10, "media_keys", "Media keys (MPRIS2): pause latency, the bus's CPU")
SERVERS: Final = (SoundServer, PipeWireServer)
FULL: Final = ("psoas-release", "--minutes", "5", "--no-caution")
QUICK: Final = (str(PROJECT / "tests" / "data" / "short-breath.toml"), "--no-caution")
QUIET_S: Final = 0.25
"""The device has stopped once it took nothing for this long."""


def measure(ws: Workspace, quick: bool) -> Section:
    section = ABOUT.section()
    args = QUICK if quick else FULL
    pauses, stretch_s = (3, 3.0) if quick else (20, 10.0)
    cache = primed(ws, *args)
    folder = ws.fresh("media-keys")
    device = PacedFile.in_folder(folder)
    bus = PrivateBus(folder / "bus")
    env = ws.env(cache, {**device.env, **bus.env,
                         "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={folder / 'no-system-bus'}"})
    child = subprocess.Popen([*voice_coach_command(), "play", *args, "--quiet"], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        bus.wait_for_player(15)
        _wait(lambda: size_of(device.raw) >= 4 * SAMPLE_RATE, 15)  # 2 s played
        progress("10. media keys: the play's CPU without a client, then with one")
        alone = _cpu_percent(child.pid, stretch_s)
        with polling_position(bus.address) as reads:
            polled = _cpu_percent(child.pid, stretch_s)
        stops, calls = [], []
        for number in range(pauses):
            progress(f"10. media keys, the paced test device: pause {number + 1}/{pauses}")
            stop_s, call_s = _pause_and_resume(bus, device)
            stops.append(stop_s)
            calls.append(call_s)
        stop_play(bus, child)
    finally:
        kill_play(child)
        bus.close()
    through: dict[str, Pauses] = {}
    for kind in SERVERS:
        through[kind.label] = _through_server(ws, kind, pauses)
    section.rows = [
        *[r for label, measured in through.items() for r in _server_rows(label, measured)],
        row("play-pause to the paced test device stopped", median(stops), "s",
            peer=max(stops), peer_label="worst"),
        row("playerctl play-pause: the call", median(calls), "s"),
        row("play's CPU, a client reading Position 20/s", polled, "%", peer=alone,
            peer_label="no client"),
        row("the bus's CPU (the difference)", max(polled - alone, 0.0), "%",
            goal=("ours", "<=", 0.5)),
    ]
    section.details = {"pauses": pauses, "stretch_s": stretch_s, "position_reads": len(reads),
                       "seconds": {"stopped": stops, "call": calls},
                       "cpu_percent": {"no_client": alone, "client": polled},
                       "servers": {label: {"silent_s": measured.silent_s,
                                           "resume_error_samples": measured.resume_error}
                                   for label, measured in through.items()}}
    return section


def _through_server(ws: Workspace, kind: type[SoundServer], pauses: int) -> Pauses:
    """``pauses`` play-pauses of the full session through a private ``kind`` server."""
    cache = ws.fresh("cache")
    _, out = export(ws, FULL[0], cache, *FULL[1:])
    folder = ws.fresh(f"pause-{kind.label.lower()}")
    (folder / "server").mkdir()
    server = kind(folder / "server")
    bus = PrivateBus(folder / "bus")
    try:
        progress(f"10. media keys: starting a private {kind.label}")
        try:
            server.start()
        except SoundServerError as exc:
            raise BenchError(f"cannot start {kind.label}: {exc}") from None
        env = ws.env(cache, session_env(folder, server, bus))
        return measure_server(server, env, bus, FULL, read_wav(out / "session.wav"),
                              timeline_of(out), pauses)
    finally:
        server.close()
        bus.close()


def _server_rows(label: str, measured: Pauses) -> list[Row]:
    errors_ms = [1000 * abs(error) / SAMPLE_RATE for error in measured.resume_error]
    return [
        row(f"play-pause to silence, {label}", median(measured.silent_s), "s",
            peer=max(measured.silent_s), peer_label="worst", goal=("ours", "<=", 0.15)),
        row(f"resume off the first unheard sample, {label}", median(errors_ms), "ms",
            peer=max(errors_ms), peer_label="worst"),
    ]


def _pause_and_resume(bus: PrivateBus, device: PacedFile) -> tuple[float, float]:
    """One play-pause timed to the device stopping, and resumed once it played on."""
    pressed = time.monotonic()
    if bus.playerctl("play-pause").returncode != 0:
        raise BenchError("playerctl play-pause failed")
    called = time.monotonic()
    size, grew = size_of(device.raw), time.monotonic()
    while time.monotonic() - grew < QUIET_S:
        time.sleep(0.002)
        if size_of(device.raw) != size:
            size, grew = size_of(device.raw), time.monotonic()
    bus.playerctl("play-pause")
    _wait(lambda: size_of(device.raw) > size, 5)
    time.sleep(0.7)
    return grew - pressed, called - pressed


def _cpu_percent(pid: int, seconds: float) -> float:
    """The CPU ``pid`` used over the next ``seconds``, in % of one core."""
    before, started = _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (_cpu_s(pid) - before) / (time.monotonic() - started)


def _cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise BenchError(f"the play did not get there within {timeout_s:g} s")
        time.sleep(0.01)
