"""Section 6: streaming playback: flat memory at any length, and the first sound early.

Peak RSS of ``play psoas-release`` at 5, 60 and 180 minutes, cold and warm cache, for a
fixed stretch of each session played into an ALSA device that takes samples in real time
(``support.paced``: the file plugin over null would take the whole buffer at once, which
no sound card does). Cold, the stretch covers rendering every line; CPU is measured over
its last part, once rendering is done. First sound, cold and warm: process start to the
first byte at the device (the file plugin; a device's first byte is the same either way),
for the default session and, cold, for one whose length is known only once its lines are
rendered (psoas at 5 minutes: it streams from a buffer as long as it could be).
The full run also plays the whole 180-minute session, warm, into a paced device 60 times
faster than real time (the player follows its device; section 5 plays so), for the
buffer written and released to the end.
Both engines when the neural extra is installed (the quick run: pyttsx3 only). The peak
is the play process's (VmHWM); the details add its helper processes (pyttsx3 renders in
one), sampled.
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
    family_rss_mb,
    median,
    peak_rss_mb,
    progress,
    timeline_of,
    voice_coach_command,
)
from benchmarks.report import About, Row, Section, row
from benchmarks.resources import DEVICE_SPEED, play_memory
from support.paced import PacedFile
from support.processes import die_with_parent, end_process, first_sound_s, size_of
from support.soundserver import AlsaFile
from voice_coach.engines import piper_engine

ABOUT: Final = About(6, "streaming", "Streaming play: peak RSS by length, first sound")

LENGTHS_MIN: Final = (5, 60, 180)
STRETCH_S: Final = 20.0
"""How long each play runs; the CPU is measured over its last ``CPU_WINDOW_S``."""
CPU_WINDOW_S: Final = 8.0
RSS_LIMIT_MB: Final = 80.0
COLD_FIRST_SOUND_S: Final = {"pyttsx3": 0.25, "piper": 1.5}
UNKNOWN_LENGTH: Final = ("psoas-release", "--minutes", "5")
"""A session whose length is known only once its lines are rendered (``Composer.capacity``)."""


def cpu_window_s(stretch_s: float) -> float:
    return min(CPU_WINDOW_S, stretch_s / 2)


def play_stretch(ws: Workspace, cache: Path, minutes: int, stretch_s: float,
                 engine: str = "pyttsx3") -> dict[str, Any]:
    """Play a ``minutes`` session for ``stretch_s``: its peak RSS and its CPU at the end."""
    device = PacedFile.in_folder(ws.fresh("paced"))
    process = subprocess.Popen([*voice_coach_command(), "play", "psoas-release", "--minutes",
                                str(minutes), "--engine", engine, "--quiet", "--no-history"],
                               env=ws.env(cache, device.env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=die_with_parent)
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    peak, family_peak, cpu_from = 0.0, 0.0, None
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < stretch_s:
            if process.poll() is not None:
                raise BenchError(f"play --minutes {minutes} ended after {elapsed:.1f} s"
                                 f" (exit {process.returncode})")
            peak = max(peak, peak_rss_mb(process.pid) or 0.0)
            family_peak = max(family_peak, family_rss_mb(process.pid))
            if cpu_from is None and elapsed >= stretch_s - cpu_window_s(stretch_s):
                cpu_from = (cpu_ticks(process.pid), time.monotonic())
            time.sleep(0.02)
        peak = max(peak, peak_rss_mb(process.pid) or 0.0)
        cpu_to = (cpu_ticks(process.pid), time.monotonic())
        played_s = size_of(device.raw) / 2 / 22050
    finally:
        end_process(process)
    cpu = None
    if cpu_from is not None and cpu_from[0] is not None and cpu_to[0] is not None:
        cpu = (cpu_to[0] - cpu_from[0]) / ticks_per_s / (cpu_to[1] - cpu_from[1])
    return {"peak_rss_mb": round(peak, 1), "with_helpers_mb": round(family_peak, 1),
            "cpu_fraction": cpu, "device_took_s": round(played_s, 2)}


def whole_session_row(ws: Workspace, cache: Path, minutes: int,
                      details: dict[str, Any]) -> Row:
    """Peak RSS of ``play`` through a whole session, into a device 60x real time (as section
    5 plays): the stretches show rendering and the start; this, the buffer written and
    released to the end."""
    progress(f"6. streaming: the whole {minutes}-minute session, warm, into a device"
             f" {DEVICE_SPEED:g}x real time")
    _, out = export(ws, "psoas-release", cache, "--minutes", str(minutes))
    whole = play_memory(ws, cache, minutes, float(timeline_of(out)["duration_s"]), quick=False)
    details[f"pyttsx3_{minutes}_min"]["whole_session"] = {
        **whole, "note": f"warm, the whole session into a device {DEVICE_SPEED:g}x real time"}
    return row(f"play {minutes} min, whole at {DEVICE_SPEED:g}x, warm, pyttsx3: peak RSS",
               whole["peak_rss_mb"], "MB", goal=("ours", "<=", RSS_LIMIT_MB))


def measure(ws: Workspace, quick: bool, runs: int) -> Section:
    section = ABOUT.section()
    details: dict[str, Any] = {"stretch_s": STRETCH_S / 4 if quick else STRETCH_S}
    stretch = details["stretch_s"]
    engines = ["pyttsx3"] + (["piper"] if not quick and piper_engine.installed() else [])
    for engine in engines:
        for minutes in LENGTHS_MIN[:1] if quick else LENGTHS_MIN:
            cache = ws.fresh("cache")
            progress(f"6. streaming: {minutes}-minute play with {engine}, cold then warm,"
                     f" {stretch:g} s each")
            cold = play_stretch(ws, cache, minutes, stretch, engine)
            warm = play_stretch(ws, cache, minutes, stretch, engine)
            details[f"{engine}_{minutes}_min"] = {"cold": cold, "warm": warm}
            for name, result in (("cold", cold), ("warm", warm)):
                section.rows.append(row(f"play {minutes} min, {name}, {engine}: peak RSS",
                                        result["peak_rss_mb"], "MB",
                                        goal=("ours", "<=", RSS_LIMIT_MB)))
            if not quick and engine == "pyttsx3" and minutes == LENGTHS_MIN[-1]:
                section.rows.append(whole_session_row(ws, cache, minutes, details))
    cpu = details[f"pyttsx3_{LENGTHS_MIN[0] if quick else 60}_min"]["cold"]["cpu_fraction"]
    window = cpu_window_s(stretch)
    section.rows.append(row(f"CPU while playing, rendering done (last {window:g} s)",
                            None if cpu is None else 100 * cpu, "%", goal=("ours", "<=", 2.0)))

    for engine in engines:
        device = AlsaFile.in_folder(ws.fresh("alsa-file"))
        options = ("--engine", engine, "--no-history")
        play = [*voice_coach_command(), "play", *options]
        unknown = [*voice_coach_command(), "play", *UNKNOWN_LENGTH, *options]
        warm_cache = ws.fresh("cache")
        first_sound_s(play, ws.env(warm_cache, device.env), device.raw)  # fills the cache
        warm_s, cold_s, unknown_s = [], [], []
        for round_ in range(runs):
            progress(f"6. streaming: first sound with {engine}, round {round_ + 1}/{runs}")
            warm_s.append(first_sound_s(play, ws.env(warm_cache, device.env), device.raw))
            cold_s.append(first_sound_s(play, ws.env(ws.fresh("cache"), device.env),
                                        device.raw))
            unknown_s.append(first_sound_s(unknown, ws.env(ws.fresh("cache"), device.env),
                                           device.raw))
        section.rows += [
            row(f"play, cold cache: first sound ({engine})", median(cold_s), "s",
                goal=("ours", "<=", COLD_FIRST_SOUND_S[engine])),
            row(f"play, warm cache: first sound ({engine})", median(warm_s), "s",
                goal=("ours", "<=", 0.15)),
            row(f"  length known once rendered, cold ({engine})", median(unknown_s), "s",
                goal=("ours", "<=", COLD_FIRST_SOUND_S[engine])),
        ]
        details[f"first_sound_s_{engine}"] = {"cold": cold_s, "warm": warm_s,
                                              "length_unknown_cold": unknown_s}
    section.details = details
    return section
