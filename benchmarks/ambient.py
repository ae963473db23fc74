"""Section 11: ambient beds (issue #23): the loudness of the sum, render cost, memory, CPU.

Each built-in bed and a person's own 10-minute file (1 minute in the quick run; 44.1 kHz
stereo FLAC: resampled, downmixed and looped) under a 60-minute psoas session (5 minutes
in the quick run): ffmpeg's ``ebur128`` on the export, the export's wall and CPU time and
peak RSS against the same session without a bed, and ``play`` into a paced device
(section 5's, 60 times real time) for its peak RSS and its CPU per second of session:
everything the process used, start and rendering included, divided by the session's
length, so an upper bound on the CPU while playing in real time. The full run also plays
and exports a 5- and a 180-minute session under ``brown`` and the file: their memory must
not grow with length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import soundfile

from benchmarks.measure import Workspace, export, primed, progress, timeline_of
from benchmarks.report import About, Section, row
from benchmarks.resources import play_memory
from support.meter import ebur128

ABOUT: Final = About(11, "ambient", "Ambient beds: loudness of the sum, cost, memory, CPU")
BEDS: Final = ("none", "brown", "pink", "waves", "file")
LENGTHS_BEDS: Final = ("brown", "file")
"""The beds whose memory is measured at every length of ``LENGTHS_MIN`` in the full run."""
LENGTHS_MIN: Final = (5, 60, 180)
FILE_MIN: Final = 10
QUICK_FILE_MIN: Final = 1
FILE_RATE: Final = 44100


def bed_file(path: Path, minutes: float = FILE_MIN, rate: int = FILE_RATE) -> Path:
    """A person's own bed: soft stereo noise with a slow swell, written a second at a time."""
    rng = np.random.default_rng(11)
    with soundfile.SoundFile(path, "w", rate, 2, subtype="PCM_16", format="FLAC") as out:
        for second in range(round(minutes * 60)):
            noise = rng.standard_normal((rate + 15, 2))
            soft = sum(noise[i:i + rate] for i in range(16)) / 16  # a gentle low-pass
            swell = 1.0 + 0.3 * np.sin(2 * np.pi * second / 9.0)
            out.write(0.1 * swell * soft)
    return path


def measure(ws: Workspace, quick: bool) -> Section:
    section = ABOUT.section()
    minutes = 5 if quick else 60
    file_min = QUICK_FILE_MIN if quick else FILE_MIN
    own_file = bed_file(ws.fresh("bed") / "own-bed.flac", file_min)
    details: dict[str, Any] = {"minutes": minutes,
                               "file": f"{file_min} min, {FILE_RATE} Hz stereo FLAC"}
    caches = {minutes: primed(ws, "psoas-release", "--minutes", str(minutes))}
    for bed in BEDS:
        argument = str(own_file) if bed == "file" else bed
        lengths = LENGTHS_MIN if bed in LENGTHS_BEDS and not quick else (minutes,)
        for length in lengths:
            if length not in caches:
                caches[length] = primed(ws, "psoas-release", "--minutes", str(length))
            progress(f"11. ambient: {bed}, {length} minutes")
            measured = _measure_bed(ws, caches[length], argument, length, quick)
            section.rows += [
                row(f"{bed}: export {length} min, peak RSS", measured["export_peak_rss_mb"],
                    "MB", goal=("ours", "<=", 80.0)),
                row(f"{bed}: play {length} min, peak RSS", measured["play"]["peak_rss_mb"],
                    "MB", goal=("ours", "<=", 80.0)),
            ]
            if length == minutes:
                section.rows += [
                    row(f"{bed}: integrated loudness", measured["integrated_lufs"], "LUFS"),
                    row(f"{bed}: true peak", measured["true_peak_dbtp"], "dBTP",
                        goal=("ours", "<=", -1.0)),
                    row(f"{bed}: play, CPU per second of session", measured["cpu_percent"],
                        "%", goal=("ours", "<=", 2.0)),
                ]
                details[bed] = measured
            else:
                details[f"{bed}, {length} min"] = measured
    section.details = details
    return section


def _measure_bed(ws: Workspace, cache: Path, bed: str, minutes: int,
                 quick: bool) -> dict[str, Any]:
    """Export and play a ``minutes`` psoas session over ``bed`` with a warm ``cache``."""
    finished, out = export(ws, "psoas-release", cache, "--minutes", str(minutes),
                           "--ambient", bed, rss=True)
    reading = ebur128(out / "session.wav")
    session_s = float(timeline_of(out)["duration_s"])
    play = play_memory(ws, cache, minutes, session_s, quick, ("--ambient", bed))
    played_s = session_s if not quick else play["device_took_s"]  # quick: a stretch
    return {"export_wall_s": round(finished.wall_s, 2),
            "export_cpu_s": round(finished.user_s + finished.sys_s, 2),
            "export_peak_rss_mb": finished.maxrss_mb,
            "integrated_lufs": reading.integrated_lufs, "range_lu": reading.range_lu,
            "true_peak_dbtp": reading.true_peak_dbtp,
            "cpu_percent": 100 * play["cpu_s"] / played_s if played_s else None,
            "play": play}
