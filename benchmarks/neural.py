"""Section 8: the neural engine (Piper): its cold render against Piper alone, warm, memory.

- Cold: ``export --engine piper`` of the default session with an empty cache, the whole
  command (start, the helper's model load, every line, the mix, the files), against the
  floor: Piper alone rendering the same lines, one after another, in a warm process as
  its own ``PiperVoice.load`` sets it up (``neural_floor``). Interleaved, best of each,
  with CPU seconds beside the wall times (the machine may be shared).
- Warm: the same export again (every line from the cache) against pyttsx3's warm export.
- Memory: a cold 60-minute neural export: the export process's own peak (VmHWM, sampled
  while it runs) and its family's (the kernel's ``ru_maxrss`` over it and the Piper
  helper it waited for).

The quick run (the smoke test): the short 4-7-8 routine, one round, no 60-minute export.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Final

from benchmarks.measure import (
    PYTHON,
    BenchError,
    Finished,
    Workspace,
    export,
    peak_rss_mb,
    progress,
    run_measured,
    timeline_of,
    voice_coach_command,
)
from benchmarks.report import About, Section, row
from support.processes import children_of
from voice_coach.engines import piper_engine

ABOUT: Final = About(8, "neural", "The neural engine (Piper): cold, warm, memory")
COLD_OVER_FLOOR: Final = 1.3
WARM_OVER_PYTTSX3: Final = 1.5
RSS_LIMIT_MB: Final = 80.0
RATE_WPM: Final = 140
ROUNDS: Final = 3


def measure(ws: Workspace, quick: bool) -> Section:
    if not piper_engine.installed():
        raise BenchError(f"the neural extra is not installed ({piper_engine.INSTALL})")
    section = ABOUT.section()
    routine = "four-seven-eight" if quick else "psoas-release"
    rounds = 1 if quick else ROUNDS
    cold: list[Finished] = []
    floor: list[dict[str, float]] = []
    out = Path()
    for round_ in range(rounds):  # interleaved: a shared machine's load changes
        progress(f"8. neural: round {round_ + 1}/{rounds}, a cold export, then Piper alone")
        finished, out = export(ws, routine, ws.fresh("cache"), "--engine", "piper")
        cold.append(finished)
        floor.append(piper_alone(ws, out))
    cold_s = min(f.wall_s for f in cold)
    floor_s = min(f["wall_s"] for f in floor)
    details: dict[str, Any] = {
        "routine": routine, "lines": len(spoken_lines(out)),
        "cold_s": [round(f.wall_s, 2) for f in cold],
        "cold_cpu_s": [round(f.user_s + f.sys_s, 2) for f in cold],
        "floor_s": [round(f["wall_s"], 2) for f in floor],
        "floor_cpu_s": [round(f["cpu_s"], 2) for f in floor],
    }
    section.rows.append(row(f"export {routine}, cold, piper", cold_s, "s", peer=floor_s,
                            peer_label="Piper alone, warm",
                            goal=("ratio", "<=", COLD_OVER_FLOOR)))

    progress("8. neural: warm exports, piper and pyttsx3")
    piper_cache, espeak_cache = ws.fresh("cache"), ws.fresh("cache")
    export(ws, routine, piper_cache, "--engine", "piper")
    export(ws, routine, espeak_cache)
    warm_piper = min(export(ws, routine, piper_cache, "--engine", "piper")[0].wall_s
                     for _ in range(rounds + 2))
    warm_espeak = min(export(ws, routine, espeak_cache)[0].wall_s for _ in range(rounds + 2))
    section.rows.append(row(f"export {routine}, warm, piper", warm_piper, "s",
                            peer=warm_espeak, peer_label="pyttsx3, warm",
                            goal=("ratio", "<=", WARM_OVER_PYTTSX3)))

    if not quick:
        progress("8. neural: a cold 60-minute export")
        own, family = export_memory(ws, routine, "--minutes", "60", "--engine", "piper")
        details["export_60_min_cold"] = {"own_peak_mb": own, "with_helper_mb": family}
        section.rows.append(row("export 60 min, cold, piper: peak RSS", own, "MB",
                                goal=("ours", "<=", RSS_LIMIT_MB)))
        section.rows.append(row("  the same, with the Piper helper", family, "MB"))
    section.details = details
    return section


def spoken_lines(out: Path) -> list[str]:
    """The distinct lines an export spoke, in order."""
    events = timeline_of(out)["events"]
    return list(dict.fromkeys(e["text"] for e in events if e["kind"] == "speech"))


def piper_alone(ws: Workspace, out: Path) -> dict[str, float]:
    """The floor: ``neural_floor`` on the lines the export ``out`` spoke."""
    lines = ws.fresh("lines") / "lines.json"
    lines.write_text(json.dumps(spoken_lines(out)), encoding="utf-8")
    finished = run_measured([PYTHON, "-m", "benchmarks.neural_floor", str(lines),
                             str(RATE_WPM)], ws.env(ws.fresh("cache")),
                            cwd=Path(__file__).resolve().parent.parent)
    result: dict[str, float] = json.loads(finished.stdout)
    return result


def export_memory(ws: Workspace, routine: str, *args: str) -> tuple[float, float]:
    """A cold export's own peak RSS (VmHWM, read every 10 ms while it runs) and its
    family's (MB). The export runs under ``rss_launcher``, so it is the launcher's child."""
    peak = 0.0
    done = threading.Event()

    def watch(launcher: int) -> None:
        def loop() -> None:
            nonlocal peak
            while not done.wait(0.01):
                for pid in children_of(launcher):
                    peak = max(peak, peak_rss_mb(pid) or 0.0)

        threading.Thread(target=loop, daemon=True).start()

    out = ws.fresh("export")
    try:
        finished = run_measured([*voice_coach_command(), "export", routine, *args, "-o",
                                 str(out), "-q"], ws.env(ws.fresh("cache")), rss=True,
                                started=watch)
    finally:
        done.set()
    if finished.maxrss_mb is None or peak == 0.0:
        raise BenchError("the export's memory could not be read")
    return round(peak, 1), round(finished.maxrss_mb, 1)

