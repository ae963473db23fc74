"""Section 5: memory and CPU: peak RSS of ``export`` and ``play``, CPU while playing.

``play`` follows its device, so a whole 60-minute session is played into a paced device
60 times faster than real time (``support.paced``): ALSA's file plugin would take it all
at once, and the player would race through it. The CPU while playing is section 4's, in
real time through a sound server.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Final

from benchmarks.measure import (
    BenchError,
    Workspace,
    cpu_ticks,
    export,
    peak_rss_mb,
    progress,
    timeline_of,
    voice_coach_command,
)
from benchmarks.report import About, Section, row
from support.paced import DeviceClock, PacedFile
from support.processes import die_with_parent, end_process, size_of, tail
from voice_coach.pcm import SAMPLE_RATE

ABOUT: Final = About(5, "memory_cpu", "Memory and CPU")
DEVICE_SPEED: Final = 60.0
"""How much faster than real time the device of the memory plays takes sound."""
QUICK_PLAY_S: Final = 3.0
"""The quick run plays this long once the device has started taking the session (a start
slowed by load or by a bed file to read does not eat into it), or ``QUICK_LIMIT_S``."""
QUICK_LIMIT_S: Final = 30.0


def play_memory(ws: Workspace, cache: Path, minutes: float, session_s: float,
                     quick: bool, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Peak RSS of ``play`` (VmHWM, sampled) of a whole session, into a paced device whose
    clock runs ``DEVICE_SPEED`` times fast: the player follows the device, so the session
    passes in a minute, writing and releasing its buffer as it would in an hour. The quick
    run plays ``QUICK_PLAY_S`` of it from the device's first sample only."""
    device = PacedFile.in_folder(ws.fresh("paced"), DeviceClock(speed=DEVICE_SPEED))
    process = subprocess.Popen([*voice_coach_command(), "play", "psoas-release", "--minutes",
                                f"{minutes:g}", "--quiet", "--no-history", *extra],
                               env=ws.env(cache, device.env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=die_with_parent)
    peak, ticks = 0.0, 0
    started = time.monotonic()
    try:
        limit_s = QUICK_LIMIT_S if quick else session_s / DEVICE_SPEED + 60
        first_sample: float | None = None
        while time.monotonic() - started < limit_s and process.poll() is None:
            peak = max(peak, peak_rss_mb(process.pid) or 0.0)
            ticks = cpu_ticks(process.pid) or ticks
            if first_sample is None and size_of(device.raw) > 0:
                first_sample = time.monotonic()
            if quick and first_sample is not None and (
                    time.monotonic() - first_sample >= QUICK_PLAY_S):
                break
            time.sleep(0.01)
        wall_s = time.monotonic() - started
        if not quick and process.poll() is None:
            raise BenchError(f"play --minutes {minutes:g} did not end within {limit_s:.0f} s")
        if process.returncode and process.stderr is not None:
            raise BenchError(f"play --minutes {minutes:g} exited with {process.returncode}:"
                             f" {tail(process.stderr.read().decode(errors='replace'))}")
    finally:
        end_process(process)
    took_s = size_of(device.raw) / 2 / SAMPLE_RATE
    device.raw.unlink(missing_ok=True)
    if not quick and took_s < session_s:
        raise BenchError(f"play --minutes {minutes:g}: the device took {took_s:.1f} of"
                         f" {session_s:.1f} s")
    return {"peak_rss_mb": peak, "wall_s": round(wall_s, 1), "device_took_s": round(took_s, 1),
            "cpu_s": round(ticks / os.sysconf("SC_CLK_TCK"), 2)}


def measure(ws: Workspace, live: Section | None, quick: bool) -> Section:
    """``live``: section 4, whose plays give the CPU while playing, in real time through a
    sound server (None if it did not run)."""
    section = ABOUT.section()
    details: dict[str, Any] = {}
    for minutes, limit in ((10, 100.0), (60, 250.0)):
        progress(f"5. memory: {minutes}-minute session")
        cache = ws.fresh("cache")
        cold, out = export(ws, "psoas-release", cache, "--minutes", str(minutes), rss=True)
        warm, _ = export(ws, "psoas-release", cache, "--minutes", str(minutes), rss=True)
        session_s = float(timeline_of(out)["duration_s"])
        play = play_memory(ws, cache, minutes, session_s, quick)
        play_mb = play["peak_rss_mb"]
        section.rows += [
            row(f"export {minutes} min: peak RSS", warm.maxrss_mb, "MB",
                goal=("ours", "<=", limit)),
            row(f"play {minutes} min: peak RSS", play_mb, "MB", goal=("ours", "<=", limit)),
        ]
        details[f"{minutes}_min"] = {"session_s": timeline_of(out)["duration_s"],
                                     "export_cold_peak_rss_mb": cold.maxrss_mb,
                                     "export_warm_peak_rss_mb": warm.maxrss_mb,
                                     "play": play,
                                     "note": "export: the process and those it waited for (a"
                                             " cold export's speech helper); play: the process,"
                                             f" warm, into a device {DEVICE_SPEED:g}x real"
                                             " time" + (f", its first {QUICK_PLAY_S:g} s" if quick
                                                        else ", the whole session")}
    cpu = live.details.get("cpu_while_playing") if live and not live.error else None
    if cpu is None:
        section.rows.append(row("CPU while playing (user+sys / wall)", None, "%",
                                goal=("ours", "<=", 2.0)))
        details["cpu"] = "not measured: section 4 (the live play) did not run"
    else:
        ours, naive = cpu["voice_coach"], cpu["naive"]
        window = ours["steady_window_s"]
        section.rows.append(row(f"CPU while playing ({window:.0f} s, null sink)",
                                _percent(ours["steady"]), "%", peer=_percent(naive["steady"]),
                                peer_label="naive pyttsx3+sleep", goal=("ours", "<=", 2.0)))
        details["cpu"] = cpu
    section.details = details
    return section


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value
