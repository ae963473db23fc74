"""Section 5: memory and CPU: peak RSS of ``export`` and ``play``, CPU while playing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Final

from benchmarks.measure import (
    BenchError,
    Workspace,
    export,
    peak_rss_mb,
    progress,
    timeline_of,
    voice_coach_command,
)
from benchmarks.report import About, Section, row
from support.processes import end_process, size_of
from support.soundserver import AlsaFile

ABOUT: Final = About(5, "memory_cpu", "Memory and CPU")


def play_peak_rss_mb(ws: Workspace, cache: Path, minutes: float, expected_bytes: int) -> float:
    """Peak RSS of ``play`` through ALSA's file plugin: sampled until ALSA has taken the
    whole session (the file plugin runs ahead of the clock), then the player is stopped."""
    device = AlsaFile.in_folder(ws.fresh("alsa-file"))
    process = subprocess.Popen([*voice_coach_command(), "play", "psoas-release", "--minutes",
                                f"{minutes:g}", "--quiet", "--no-history"],
                               env=ws.env(cache, device.env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    peak = 0.0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            peak = max(peak, peak_rss_mb(process.pid) or 0.0)
            if size_of(device.raw) >= expected_bytes:
                time.sleep(0.2)
                peak = max(peak, peak_rss_mb(process.pid) or 0.0)
                break
            time.sleep(0.01)
        else:
            raise BenchError(f"play --minutes {minutes:g} did not get through its session"
                             f" (exit {process.returncode})")
    finally:
        end_process(process)
        device.raw.unlink(missing_ok=True)
    return peak


def measure(ws: Workspace, live: Section | None) -> Section:
    """``live``: section 4, whose plays give the CPU while playing (None if it did not run)."""
    section = ABOUT.section()
    details: dict[str, Any] = {}
    for minutes, limit in ((10, 100.0), (60, 250.0)):
        progress(f"5. memory: {minutes}-minute session")
        cache = ws.fresh("cache")
        cold, out = export(ws, "psoas-release", cache, "--minutes", str(minutes), rss=True)
        warm, _ = export(ws, "psoas-release", cache, "--minutes", str(minutes), rss=True)
        expected = int(timeline_of(out)["duration_samples"]) * 2
        play_mb = play_peak_rss_mb(ws, cache, minutes, expected)
        section.rows += [
            row(f"export {minutes} min: peak RSS", warm.maxrss_mb, "MB",
                goal=("ours", "<=", limit)),
            row(f"play {minutes} min: peak RSS", play_mb, "MB", goal=("ours", "<=", limit)),
        ]
        details[f"{minutes}_min"] = {"session_s": timeline_of(out)["duration_s"],
                                     "export_cold_peak_rss_mb": cold.maxrss_mb,
                                     "export_warm_peak_rss_mb": warm.maxrss_mb,
                                     "play_peak_rss_mb": play_mb,
                                     "note": "export: the process and those it waited for (a"
                                             " cold export's speech helper); play: the process"}
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
