"""Section 11: ambient beds (issue #23): the loudness of the sum, render cost, memory, CPU.

Each built-in bed under a 60-minute psoas session (5 minutes in the quick run): ffmpeg's
``ebur128`` on the export, the export's wall and CPU time and peak RSS against the same
session without a bed, and ``play`` into a paced device (section 5's, 60 times real time)
for its peak RSS and its CPU per second of session: everything the process used, start
and rendering included, divided by the session's length, so an upper bound on the CPU
while playing in real time.
"""

from __future__ import annotations

from typing import Any, Final

from benchmarks.measure import Workspace, export, primed, progress, timeline_of
from benchmarks.report import About, Section, row
from benchmarks.resources import play_memory
from support.meter import ebur128

ABOUT: Final = About(11, "ambient", "Ambient beds: loudness of the sum, cost, memory, CPU")
BEDS: Final = ("none", "brown", "pink", "waves")


def measure(ws: Workspace, quick: bool) -> Section:
    section = ABOUT.section()
    minutes = 5 if quick else 60
    cache = primed(ws, "psoas-release", "--minutes", str(minutes))
    details: dict[str, Any] = {"minutes": minutes}
    for bed in BEDS:
        progress(f"11. ambient: {bed}, {minutes} minutes")
        finished, out = export(ws, "psoas-release", cache, "--minutes", str(minutes),
                               "--ambient", bed, rss=True)
        reading = ebur128(out / "session.wav")
        session_s = float(timeline_of(out)["duration_s"])
        play = play_memory(ws, cache, minutes, session_s, quick, ("--ambient", bed))
        played_s = session_s if not quick else play["device_took_s"]  # quick: a stretch
        cpu_percent = 100 * play["cpu_s"] / played_s if played_s else None
        section.rows += [
            row(f"{bed}: integrated loudness", reading.integrated_lufs, "LUFS"),
            row(f"{bed}: true peak", reading.true_peak_dbtp, "dBTP", goal=("ours", "<=", -1.0)),
            row(f"{bed}: export {minutes} min, peak RSS", finished.maxrss_mb, "MB",
                goal=("ours", "<=", 80.0)),
            row(f"{bed}: play {minutes} min, peak RSS", play["peak_rss_mb"], "MB",
                goal=("ours", "<=", 80.0)),
            row(f"{bed}: play, CPU per second of session", cpu_percent, "%",
                goal=("ours", "<=", 2.0)),
        ]
        details[bed] = {"export_wall_s": round(finished.wall_s, 2),
                        "export_cpu_s": round(finished.user_s + finished.sys_s, 2),
                        "integrated_lufs": reading.integrated_lufs,
                        "range_lu": reading.range_lu, "true_peak_dbtp": reading.true_peak_dbtp,
                        "play": play}
    section.details = details
    return section
