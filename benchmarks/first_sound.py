"""Section 3: time to first sound, ``voice-coach play`` through ALSA's file plugin."""

from __future__ import annotations

from typing import Final

from benchmarks.measure import (
    Workspace,
    bare_start,
    median,
    primed,
    progress,
    voice_coach_command,
)
from benchmarks.report import About, Section, row
from support.processes import first_sound_s
from support.soundserver import AlsaFile

ABOUT: Final = About(3, "first_sound", "Time to first sound (play psoas-release, ALSA file)")


def measure(ws: Workspace, runs: int) -> Section:
    """From spawning ``voice-coach play`` to the first byte ALSA writes (polled from here)."""
    section = ABOUT.section()
    device = AlsaFile.in_folder(ws.fresh("alsa-file"))
    play = [*voice_coach_command(), "play"]
    warm_cache = primed(ws, "psoas-release")
    bare, warm, cold = [], [], []
    for round_ in range(runs):
        progress(f"3. first sound: round {round_ + 1}/{runs}")
        bare.append(bare_start(ws))
        warm.append(first_sound_s(play, ws.env(warm_cache, device.env), device.raw))
        cold.append(first_sound_s(play, ws.env(ws.fresh("cache"), device.env), device.raw))
    bare_s = median(bare)
    label = "bare start+imports"
    section.rows = [
        row("play, warm cache: first sound", median(warm), "s", peer=bare_s, peer_label=label,
            goal=("ours", "<=", 0.3)),
        row("play, warm cache: vs bare start", median(warm), "s", peer=bare_s,
            peer_label=label, goal=("ratio", "<=", 2.5)),
        row("play, cold cache: first sound", median(cold), "s", peer=bare_s, peer_label=label,
            goal=("ours", "<=", 0.8)),
    ]
    section.details = {"runs": runs, "seconds": {"warm": warm, "cold": cold,
                                                 "bare_start_with_imports": bare}}
    return section
