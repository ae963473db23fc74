"""Where an export's time goes (sections 1 and 2): its phases, timed in-process, and imports."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import BARE_IMPORTS, PROJECT, PYTHON, BenchError, Workspace, run_measured


def profile_export(ws: Workspace, routine: str, cache: Path,
                   minutes: float | None = None) -> dict[str, Any]:
    """One ``voice-coach export`` run by ``phases_child``, its phases timed by wrapping the
    library functions it calls.

    The child gets the parent's CLOCK_MONOTONIC at spawn, so start-up is measured from
    process creation. A wrapped function that no longer exists is an error, not a gap.
    """
    out = ws.fresh("profile-out")
    spawn = time.monotonic()
    finished = run_measured([PYTHON, "-m", "benchmarks.phases_child", repr(spawn), routine,
                             str(out), "" if minutes is None else str(minutes)],
                            ws.env(cache), cwd=PROJECT)
    data = json.loads(finished.stdout)
    seconds, calls = data["seconds"], data["calls"]
    if data["missing"]:
        raise BenchError(f"profile: not found in voice_coach: {', '.join(data['missing'])}")
    mix_s = seconds.get("mix", 0.0)
    build_s, export_s = seconds["synthesis"], seconds["export_session"]
    outer = ("load settings", "synthesis", "export_session", "mix", "fsync wait")
    threaded = "cache get (summed over the reader threads)"
    nested = "cache put (inside engine render)"
    synth_parts = {k: v for k, v in seconds.items() if k not in (*outer, threaded, nested)}
    phases = {
        "interpreter start": data["t_main"] - spawn,
        "import voice_coach.cli, numpy, click": data["t_cli"] - data["t_main"],
        "import the rest (config, export, session, cache, speech)":
            data["t_imports"] - data["t_cli"],
        "load settings": seconds["load settings"],
        "synthesis (load routine, plan, speech)": build_s,
        "mixing (Mixer.render)": mix_s,
        "writing (WAVs, captions, timeline)": export_s - mix_s,
        "the rest of the command (Click, options)":
            data["command_s"] - seconds["load settings"] - build_s - export_s,
        "exit (atexit handlers, flush, os._exit)": finished.wall_s - (data["t_end"] - spawn),
    }
    inside_synthesis = dict(synth_parts)
    inside_synthesis["other (cache reads, resolve, plan rounds, checks)"] = (
        build_s - sum(synth_parts.values()))
    inside_synthesis[threaded] = seconds.get(threaded, 0.0)
    if nested in seconds:
        inside_synthesis[nested] = seconds[nested]
    return {
        "wall_s": finished.wall_s,
        "phases_s": phases,
        "inside_synthesis_s": inside_synthesis,
        "inside_writing_s": {"waiting for fsync (threads, after the last write)":
                                 seconds.get("fsync wait", 0.0)},
        "calls": calls,
    }


def import_times(ws: Workspace, top: int = 8) -> dict[str, Any]:
    """``python -X importtime`` of the same imports: self time summed by top-level package,
    and the modules ``voice_coach.cli`` imports directly, by cumulative time."""
    finished = run_measured([PYTHON, "-X", "importtime", "-c", BARE_IMPORTS],
                            ws.env(ws.root / "nocache"))
    by_package: dict[str, int] = {}
    direct: dict[str, int] = {}
    total = 0
    for line in finished.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
        if not match:
            continue
        own, cumulative, depth, name = int(match[1]), int(match[2]), len(match[3]) // 2, match[4]
        total += own
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0) + own
        if depth == 1:
            direct[name] = cumulative
    biggest = sorted(by_package.items(), key=lambda item: -item[1])[:top]
    heaviest = sorted(direct.items(), key=lambda item: -item[1])[:top]
    return {"total_s": total / 1e6,
            "self_time_by_package_s": {name: us / 1e6 for name, us in biggest},
            "imported_by_voice_coach_cli_cumulative_s": {name: us / 1e6 for name, us in heaviest}}
