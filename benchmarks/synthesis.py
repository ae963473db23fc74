"""Section 1: synthesis against its floor, one ``espeak-ng -w`` call on the same text."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from benchmarks.measure import (
    PROJECT,
    PYTHON,
    Workspace,
    export,
    median,
    primed,
    progress,
    run_measured,
    timeline_of,
)
from benchmarks.phases import profile_export
from benchmarks.report import About, Section, row
from benchmarks.routines import narration_lines, narration_routine
from support.audio import wav_seconds

ABOUT: Final = About(1, "synthesis", "Synthesis against its floor (espeak-ng -w, one call)")
RATE_WPM: Final = 140
LEVELED_LINES: Final = 24
"""Lines of the routine leveled on their own for the leveling row (about 4 minutes)."""


def leveling_cost(folder: Path, lines: list[str]) -> dict[str, float]:
    """``leveling_child`` on ``lines``, each spoken by ``espeak-ng -w`` as the engine does."""
    wavs = []
    for number, line in enumerate(lines):
        wav = folder / f"line-{number:03d}.wav"
        run_measured(["espeak-ng", "-s", str(RATE_WPM), "-w", str(wav), line], os.environ)
        wavs.append(str(wav))
    finished = run_measured([PYTHON, "-m", "benchmarks.leveling_child", *wavs], os.environ,
                            cwd=PROJECT)
    result: dict[str, float] = json.loads(finished.stdout)
    return result


def measure(ws: Workspace, quick: bool, runs: int) -> Section:
    section = ABOUT.section()
    lines = narration_lines(400 if quick else 3000)
    folder = ws.fresh("narration")
    routine = folder / "bench-narration.toml"
    narration_routine(lines, routine)
    text = folder / "narration.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    floor_wav = folder / "floor.wav"
    words = sum(len(line.split()) for line in lines)

    floor, cold, warm = [], [], []
    session_s = 0.0
    for round_ in range(runs):
        progress(f"1. synthesis: round {round_ + 1}/{runs}")
        floor.append(run_measured(["espeak-ng", "-s", str(RATE_WPM), "-w", str(floor_wav),
                                   "-f", str(text)], os.environ).wall_s)
        cache = ws.fresh("cache")
        finished, out = export(ws, routine, cache)
        cold.append(finished.wall_s)
        session_s = timeline_of(out)["duration_s"]
        warm.append(export(ws, routine, cache)[0].wall_s)
    floor_s = median(floor)
    progress("1. synthesis: leveling against its arithmetic")
    leveling = leveling_cost(folder, lines[:LEVELED_LINES])
    per_10_s = 10 / leveling["speech_s"]
    section.rows = [
        row("export, cold cache: wall", median(cold), "s", peer=floor_s,
            peer_label="espeak-ng -w", goal=("ratio", "<=", 1.5)),
        row("export, warm cache: wall", median(warm), "s", peer=floor_s,
            peer_label="espeak-ng -w", goal=("ratio", "<=", 0.3)),
        row("leveling: CPU per 10 s of speech", leveling["level_cpu_s"] * per_10_s * 1000,
            "ms", peer=leveling["floor_cpu_s"] * per_10_s * 1000,
            peer_label="oversample+K-weight once"),
    ]
    progress("1. synthesis: phase profile")
    section.details = {
        "routine": {"lines": len(lines), "words": words, "session_s": session_s,
                    "floor_speech_s": wav_seconds(floor_wav), "rate_wpm": RATE_WPM},
        "runs": runs,
        "wall_s": {"espeak_ng": floor, "cold": cold, "warm": warm},
        "leveling": leveling,
        "profile_cold": profile_export(ws, str(routine), ws.fresh("cache")),
        "profile_warm": profile_export(ws, str(routine), primed(ws, routine)),
    }
    return section
