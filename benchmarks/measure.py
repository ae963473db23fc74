"""Running and timing processes, and running the project's commands in private folders."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from support.processes import children_of, kill, tail

PROJECT: Final = Path(__file__).resolve().parent.parent
PYTHON: Final = sys.executable
BARE_IMPORTS: Final = "import voice_coach.cli.app, numpy, click"  # the group and every command
RSS_LAUNCHER: Final = Path(__file__).with_name("rss_launcher.py")


class BenchError(Exception):
    """A measurement could not be made."""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class Finished:
    """A child process that ran to its end: wall time from spawn to reaped, and its rusage
    (its own and that of the children it waited for)."""

    wall_s: float
    returncode: int
    user_s: float
    sys_s: float
    maxrss_mb: float | None
    """Only with ``run_measured(rss=True)``; see there."""
    stdout: str
    stderr: str


def run_measured(command: Sequence[str], env: Mapping[str, str], *, timeout_s: float = 600.0,
                 check: bool = True, cwd: Path | None = None, rss: bool = False,
                 started: Callable[[int], None] | None = None) -> Finished:
    """Run ``command`` to its end and measure it (``os.wait4``: this child's own rusage).

    ``started`` gets the child's pid as soon as it runs. ``rss``: also measure its peak
    resident set, through ``rss_launcher``. Linux keeps the high-water mark of the memory
    a process had when it called exec, and a child of this (large) process starts as a
    copy of it, so its own ``ru_maxrss`` would report at least our size; the launcher's
    children start as copies of the launcher (~5 MB). The launcher runs by its path with
    ``-S``, so it loads neither ``site`` nor this package.
    """
    if rss:
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            finished = run_measured([PYTHON, "-S", str(RSS_LAUNCHER), report.name, *command],
                                    env, timeout_s=timeout_s, check=check, cwd=cwd,
                                    started=started)
            maxrss_kb = json.loads(Path(report.name).read_text() or "{}").get("maxrss_kb")
        return dataclasses.replace(finished, maxrss_mb=maxrss_kb / 1024 if maxrss_kb else None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(list(command), env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, cwd=cwd, start_new_session=True)
        timer = threading.Timer(timeout_s, kill, (process.pid,))
        timer.start()
        if started is not None:
            started(process.pid)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        finished = Finished(wall, process.returncode, usage.ru_utime, usage.ru_stime, None,
                            out.read().decode(errors="replace"),
                            err.read().decode(errors="replace"))
    if check and finished.returncode != 0:
        raise BenchError(f"{' '.join(command[:4])} … exited with {finished.returncode}:"
                         f" {tail(finished.stderr)}")
    return finished


def cpu_ticks(pid: int) -> int | None:
    """CPU time of ``pid`` and of the children it has waited for (user + system), in clock
    ticks, from /proc; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(value) for value in fields[11:15])


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (the kernel's peak resident set) of ``pid``, from /proc; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match[1]) / 1024 if match else None


def family_rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of ``pid`` and of its child processes (the engine's helper),
    summed, now; 0 once it is gone."""
    total_kb = 0
    for member in (pid, *children_of(pid)):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total_kb += int(match[1]) if match else 0
    return total_kb / 1024


# --- The project's commands ------------------------------------------------------------


def voice_coach_command() -> list[str]:
    script = Path(PYTHON).with_name("voice-coach")
    return [str(script)] if script.exists() else [PYTHON, "-m", "voice_coach"]


class Workspace:
    """Temporary folders, and environments with private XDG folders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = 0

    def fresh(self, name: str) -> Path:
        self._count += 1
        path = self.root / f"{self._count:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def env(self, cache: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("VOICE_COACH_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(XDG_CACHE_HOME=str(cache), XDG_CONFIG_HOME=str(self.root / "config"),
                   XDG_DATA_HOME=str(self.root / "data"))
        env.update(extra or {})
        return env


def export(ws: Workspace, routine: str | Path, cache: Path, *args: str,
           extra_env: Mapping[str, str] | None = None, rss: bool = False) -> tuple[Finished, Path]:
    """``voice-coach export ROUTINE ARGS`` into a fresh folder, with ``cache`` as its cache."""
    out = ws.fresh("export")
    finished = run_measured([*voice_coach_command(), "export", str(routine), *args,
                             "-o", str(out), "-q"], ws.env(cache, extra_env), rss=rss)
    return finished, out


def primed(ws: Workspace, routine: str | Path, *args: str) -> Path:
    """A fresh cache that one export of ``routine`` has filled."""
    cache = ws.fresh("cache")
    export(ws, routine, cache, *args)
    return cache


def timeline_of(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "timeline.json").read_text())
    return document


def bare_start(ws: Workspace) -> float:
    """Wall time of the interpreter importing what the command imports, and nothing else."""
    return run_measured([PYTHON, "-c", BARE_IMPORTS], ws.env(ws.root / "nocache")).wall_s
