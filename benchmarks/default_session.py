"""Section 2: the default session, ``voice-coach export psoas-release``, cold and warm."""

from __future__ import annotations

import os
from typing import Final

from benchmarks.measure import (
    PYTHON,
    Workspace,
    bare_start,
    export,
    median,
    primed,
    progress,
    run_measured,
    timeline_of,
)
from benchmarks.phases import import_times, profile_export
from benchmarks.report import About, Section, row

ABOUT: Final = About(2, "default_session", "The default session (export psoas-release)")


def measure(ws: Workspace, runs: int) -> Section:
    section = ABOUT.section()
    bare, bare_pass, cold, warm, volume, rss = [], [], [], [], [], []
    session_s = 0.0
    for round_ in range(runs):
        progress(f"2. default session: round {round_ + 1}/{runs}")
        bare.append(bare_start(ws))
        bare_pass.append(run_measured([PYTHON, "-c", "pass"], os.environ).wall_s)
        cache = ws.fresh("cache")
        finished, out = export(ws, "psoas-release", cache)
        cold.append(finished.wall_s)
        session_s = timeline_of(out)["duration_s"]
        warm.append(export(ws, "psoas-release", cache)[0].wall_s)
        # a volume not asked for before: served by the leveled clips the cache holds
        volume.append(export(ws, "psoas-release", cache, "--volume",
                             f"{0.5 + 0.01 * round_:.2f}")[0].wall_s)
    for _ in range(2):  # apart from the timed runs: the launcher that measures it takes time
        rss.append(export(ws, "psoas-release", ws.fresh("cache"), rss=True)[0].maxrss_mb or 0.0)
    bare_s = median(bare)
    label = "bare start+imports"
    section.rows = [
        row("export psoas-release, cold: wall", median(cold), "s", peer=bare_s, peer_label=label),
        row("export psoas-release, cold: real time", session_s / median(cold), "x",
            goal=("ours", ">=", 500)),
        row("export psoas-release, warm: wall", median(warm), "s", peer=bare_s, peer_label=label),
        row("export psoas-release, warm: real time", session_s / median(warm), "x",
            goal=("ours", ">=", 1500)),
        row("export psoas-release, warm, a new --volume", median(volume), "s",
            peer=median(warm), peer_label="warm export", goal=("ratio", "<=", 1.2)),
        row("export psoas-release, cold: peak RSS", max(rss), "MB", goal=("ours", "<=", 80)),
    ]
    progress("2. default session: phase profile and import times")
    section.details = {
        "session_s": session_s,
        "runs": runs,
        "wall_s": {"cold": cold, "warm": warm, "new_volume": volume,
                   "bare_start_with_imports": bare,
                   "bare_start_python_c_pass": bare_pass},
        "profile_cold": profile_export(ws, "psoas-release", ws.fresh("cache")),
        "profile_warm": profile_export(ws, "psoas-release", primed(ws, "psoas-release")),
        "cold_peak_rss_mb": rss,
        "import_time": import_times(ws),
    }
    return section
