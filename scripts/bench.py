#!/usr/bin/env python3
"""Measure voice-coach against its floors and peers: five measurements, one run, one table.

    .venv/bin/python scripts/bench.py             # the full run (about 20 minutes)
    .venv/bin/python scripts/bench.py --quick     # small runs, for the smoke test (~1 minute)
    .venv/bin/python scripts/bench.py --json      # the same data as JSON on stdout
    .venv/bin/python scripts/bench.py --only 1,3  # some sections only
    .venv/bin/python scripts/bench.py --table-from run.json  # the table of a --json run

1. Synthesis against its floor: ``voice-coach export`` of a generated narration-heavy routine
   (>= 3,000 words), cold and warm cache, next to one ``espeak-ng -w`` call on the same text.
2. The default session: ``voice-coach export psoas-release``, cold and warm: wall time,
   real-time factor, the phases timed in-process the way ``cli.export`` runs them, the
   heaviest imports (``-X importtime``), and the bare interpreter with the same imports.
3. Time to first sound: ``voice-coach play`` through ALSA's file plugin, from process start
   to the first byte written to the device (the output file's size, polled from outside).
4. Cue timing, live: ``voice-coach play --quiet`` through a private PulseAudio null sink,
   recorded; every cue found by cross-correlation with its waveform and compared with the
   plan (``timeline.json``). Next to it, what a beginner writes: pyttsx3 ``say()`` +
   ``runAndWait()``, ``time.sleep()`` for silences and one ``simpleaudio.play_buffer`` per cue.
5. Memory and CPU: peak RSS of ``export`` and ``play`` for a 10- and a 60-minute session, and
   the CPU a session uses while it plays in real time.

Every command runs with private XDG folders, so the user's cache, settings and history are
neither used nor touched. Progress goes to stderr; the exit code is 1 when a measurement
could not be made (a goal missed is a result, not a failure).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

PROJECT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from support.soundserver import SoundServer, alsa_file_config  # noqa: E402
from voice_coach.pcm import SAMPLE_RATE, Samples, decode_audio  # noqa: E402

PYTHON: Final = sys.executable
BARE_IMPORTS: Final = "import voice_coach.cli, numpy, click"
RATE_WPM: Final = 140
CUE_DIR: Final = PROJECT / "audio_cues"
MATCH_THRESHOLD: Final = 0.6
"""Normalised cross-correlation a cue must reach to count as found. A cue overlapped by
speech still scores about 0.7; the rising and the falling glide score 0.53 on each other."""
LIVE_MIN_S: Final = 600.0
"""The full run's live session lasts at least this long."""
GROWTH_LIMIT_MS: Final = 5.0
"""Cue error that may build up over a whole session before it counts as growing."""


class BenchError(Exception):
    """A measurement could not be made."""


# --- Results ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table. ``ratio`` is ours / peer; ``met`` None when there is no goal."""

    measurement: str
    ours: float | None
    unit: str
    peer: float | None = None
    peer_label: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None


@dataclass
class Section:
    number: int
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def row(measurement: str, ours: float | None, unit: str, *, peer: float | None = None,
        peer_label: str = "", goal: tuple[str, str, float] | None = None) -> Row:
    """A row; ``goal`` is ``(what, op, limit)``: what is "ours" or "ratio", op "<=" or ">="."""
    ratio = ours / peer if ours is not None and peer else None
    text, met = "", None
    if goal is not None:
        what, op, limit = goal
        value = ours if what == "ours" else ratio
        shown = f"{limit:g}x" if what == "ratio" or unit == "x" else f"{limit:g} {unit}"
        text = f"{'≤' if op == '<=' else '≥'} {shown}" + (" of peer" if what == "ratio" else "")
        if value is not None:
            met = value <= limit if op == "<=" else value >= limit
    return Row(measurement, ours, unit, peer, peer_label, ratio, text, met)


# --- Running and timing processes -------------------------------------------------------


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


RSS_LAUNCHER: Final = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"maxrss_kb": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: Sequence[str], env: Mapping[str, str], *, timeout_s: float = 600.0,
                 check: bool = True, cwd: Path | None = None, rss: bool = False,
                 started: Callable[[int], None] | None = None) -> Finished:
    """Run ``command`` to its end and measure it (``os.wait4``: this child's own rusage).

    ``started`` gets the child's pid as soon as it runs. ``rss``: also measure its peak
    resident set, through a small launcher. Linux keeps the high-water mark of the memory
    a process had when it called exec, and a child of this (large) process starts as a
    copy of it, so its own ``ru_maxrss`` would report at least our size; the launcher's
    children start as copies of the launcher (~5 MB).
    """
    if rss:
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            finished = run_measured([PYTHON, "-S", "-c", RSS_LAUNCHER, report.name, *command],
                                    env, timeout_s=timeout_s, check=check, cwd=cwd)
            maxrss_kb = json.loads(Path(report.name).read_text() or "{}").get("maxrss_kb")
        return dataclasses.replace(finished, maxrss_mb=maxrss_kb / 1024 if maxrss_kb else None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(list(command), env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, cwd=cwd, start_new_session=True)
        timer = threading.Timer(timeout_s, _kill_group, (process.pid,))
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
                         f" {_tail(finished.stderr)}")
    return finished


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing on stderr)"


def end_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM (the player stops its sound and exits 130), then SIGKILL if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()


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


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


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
    out = ws.fresh("export")
    finished = run_measured([*voice_coach_command(), "export", str(routine), *args,
                             "-o", str(out), "-q"], ws.env(cache, extra_env), rss=rss)
    return finished, out


def timeline_of(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "timeline.json").read_text())
    return document


def bare_start(ws: Workspace) -> float:
    return run_measured([PYTHON, "-c", BARE_IMPORTS], ws.env(ws.root / "nocache")).wall_s


# --- Generated routines ----------------------------------------------------------------

_OPENERS = ("Now", "Gently", "For a moment", "Slowly", "Without hurrying", "Little by little",
            "As you rest", "Perhaps", "Once more", "In this quiet", "When you are ready")
_SUBJECTS = ("your breath", "the floor beneath you", "your shoulders", "the back of your neck",
             "your jaw", "the belly", "your hands", "each exhale", "the room around you",
             "your lower back", "the weight of your legs", "a slow wave of warmth",
             "the space behind your eyes", "your forehead")
_VERBS = ("settles", "softens", "grows quiet", "slowly lets go", "feels heavier",
          "rests easily", "becomes still", "moves gently", "finds its own pace",
          "opens a little", "sinks down", "loosens")
_TAILS = ("as you listen", "without any effort", "with every breath you take",
          "while the minutes pass", "and nothing needs to change", "in its own time",
          "like sand sinking in water", "as the sounds fade away", "and you simply notice it",
          "the way a tide goes out", "until it feels like enough")


def narration_lines(words: int, seed: int = 2024) -> list[str]:
    """Distinct lines of one to three varied sentences, ``words`` words or a few more."""
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[str] = set()
    count = 0
    while count < words:
        line = " ".join(f"{rng.choice(_OPENERS)}, {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)}"
                        f" {rng.choice(_TAILS)}." for _ in range(rng.randint(1, 3)))
        if line not in seen:
            seen.add(line)
            lines.append(line)
            count += len(line.split())
    return lines


def narration_routine(lines: Sequence[str], path: Path) -> None:
    parts = ['id = "bench-narration"', 'title = "Benchmark narration"',
             'summary = "Generated for scripts/bench.py: many spoken lines."',
             "minutes = 60", "pause_s = 0.5", ""]
    for line in lines:
        parts += ["[[steps]]", f"say = {json.dumps(line)}", "hold_s = 0.5", ""]
    path.write_text("\n".join(parts), encoding="utf-8")


QUICK_LIVE_ROUTINE: Final = """\
id = "bench-live"
title = "Benchmark live"
summary = "An 18-second session for the quick benchmark: four cues, three lines."
minutes = 1
pause_s = 0.3

[breath]
inhale_s = 2
exhale_s = 2.5

[[steps]]
say = "Lie down and let your breath slow."

[[steps]]
breathe = { count = 1 }

[[steps]]
say = "Once more, in and out."
"""


# --- Section 1: synthesis against its floor --------------------------------------------


def section_synthesis(ws: Workspace, quick: bool, runs: int) -> Section:
    section = Section(1, "synthesis", "Synthesis against its floor (espeak-ng -w, one call)")
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
        _progress(f"1. synthesis: round {round_ + 1}/{runs}")
        floor.append(run_measured(["espeak-ng", "-s", str(RATE_WPM), "-w", str(floor_wav),
                                   "-f", str(text)], os.environ).wall_s)
        cache = ws.fresh("cache")
        finished, out = export(ws, routine, cache)
        cold.append(finished.wall_s)
        session_s = timeline_of(out)["duration_s"]
        warm.append(export(ws, routine, cache)[0].wall_s)
    floor_s = median(floor)
    section.rows = [
        row("export, cold cache: wall", median(cold), "s", peer=floor_s,
            peer_label="espeak-ng -w", goal=("ratio", "<=", 1.5)),
        row("export, warm cache: wall", median(warm), "s", peer=floor_s,
            peer_label="espeak-ng -w", goal=("ratio", "<=", 0.3)),
    ]
    _progress("1. synthesis: phase profile")
    section.details = {
        "routine": {"lines": len(lines), "words": words, "session_s": session_s,
                    "floor_speech_s": _wav_seconds(floor_wav), "rate_wpm": RATE_WPM},
        "runs": runs,
        "wall_s": {"espeak_ng": floor, "cold": cold, "warm": warm},
        "profile_cold": profile_export(ws, str(routine), ws.fresh("cache")),
        "profile_warm": profile_export(ws, str(routine), _primed(ws, routine)),
    }
    return section


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def _primed(ws: Workspace, routine: str | Path, *args: str) -> Path:
    cache = ws.fresh("cache")
    export(ws, routine, cache, *args)
    return cache


# --- The in-process phase profile (section 1 and 2) --------------------------------------

PROFILE_CHILD: Final = r'''
import sys, time
T_SPAWN = float(sys.argv[1])
T_MAIN = time.monotonic()
import click, numpy
import voice_coach.cli as cli
T_CLI = time.monotonic()
import functools, json, os
from collections import defaultdict
from voice_coach import cache, config, export, mix, session, speech
T_IMPORTS = time.monotonic()

seconds = defaultdict(float)
calls = defaultdict(int)
missing = []

def timed(owner, name, key):
    original = getattr(owner, name, None)
    if original is None:
        missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
        return
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[key] += time.perf_counter() - start
            calls[key] += 1
    setattr(owner, name, wrapper)

timed(config, "load_config", "load settings")
timed(cli, "_build", "synthesis")
timed(export, "export_session", "export_session")
timed(session, "load_cues", "cues")
timed(session, "plan", "plan")
timed(cache.ClipCache, "get", "cache get (summed over the reader threads)")
timed(cache.ClipCache, "put", "cache put (inside engine render)")
timed(speech.Pyttsx3Engine, "__init__", "engine start (helper process)")
timed(speech.Pyttsx3Engine, "render_many", "engine render (a fork per line, streamed)")
timed(speech.Pyttsx3Engine, "close", "engine close")
timed(mix.Mixer, "render", "mix")
timed(export.Flusher, "wait", "fsync wait")

args = ["export", sys.argv[2], "-o", sys.argv[3], "-q"]
if sys.argv[4]:
    args += ["--minutes", sys.argv[4]]
start = time.monotonic()
cli.cli.main(args, prog_name="voice-coach", standalone_mode=False)
command_s = time.monotonic() - start
print(json.dumps({"t_main": T_MAIN, "t_cli": T_CLI, "t_imports": T_IMPORTS,
                  "command_s": command_s, "seconds": seconds, "calls": calls,
                  "missing": missing, "t_end": time.monotonic()}))
from voice_coach.entry import leave  # as the console script ends
leave(0)
'''


def profile_export(ws: Workspace, routine: str, cache: Path,
                   minutes: float | None = None) -> dict[str, Any]:
    """One ``voice-coach export``, run in-process through the real command, with its phases
    timed by wrapping the library functions it calls.

    The child gets the parent's CLOCK_MONOTONIC at spawn, so start-up is measured from
    process creation. A wrapped function that no longer exists is an error, not a gap.
    """
    script = ws.root / "profile_export.py"
    script.write_text(PROFILE_CHILD)
    out = ws.fresh("profile-out")
    spawn = time.monotonic()
    finished = run_measured([PYTHON, str(script), repr(spawn), routine, str(out),
                             "" if minutes is None else str(minutes)], ws.env(cache))
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


# --- Section 2: the default session ----------------------------------------------------


def section_default(ws: Workspace, quick: bool, runs: int) -> Section:
    section = Section(2, "default_session", "The default session (export psoas-release)")
    bare, bare_pass, cold, warm = [], [], [], []
    session_s = 0.0
    for round_ in range(runs):
        _progress(f"2. default session: round {round_ + 1}/{runs}")
        bare.append(bare_start(ws))
        bare_pass.append(run_measured([PYTHON, "-c", "pass"], os.environ).wall_s)
        cache = ws.fresh("cache")
        finished, out = export(ws, "psoas-release", cache)
        cold.append(finished.wall_s)
        session_s = timeline_of(out)["duration_s"]
        warm.append(export(ws, "psoas-release", cache)[0].wall_s)
    bare_s = median(bare)
    label = "bare start+imports"
    section.rows = [
        row("export psoas-release, cold: wall", median(cold), "s", peer=bare_s, peer_label=label),
        row("export psoas-release, cold: real time", session_s / median(cold), "x",
            goal=("ours", ">=", 500)),
        row("export psoas-release, warm: wall", median(warm), "s", peer=bare_s, peer_label=label),
        row("export psoas-release, warm: real time", session_s / median(warm), "x",
            goal=("ours", ">=", 1000)),
    ]
    _progress("2. default session: phase profile and import times")
    section.details = {
        "session_s": session_s,
        "runs": runs,
        "wall_s": {"cold": cold, "warm": warm, "bare_start_with_imports": bare,
                   "bare_start_python_c_pass": bare_pass},
        "profile_cold": profile_export(ws, "psoas-release", ws.fresh("cache")),
        "profile_warm": profile_export(ws, "psoas-release", _primed(ws, "psoas-release")),
        "import_time": import_times(ws),
    }
    return section


# --- Section 3: time to first sound ----------------------------------------------------


def first_sound_s(ws: Workspace, cache: Path, config: Path, raw: Path,
                  args: Sequence[str] = ()) -> float:
    """Seconds from spawning ``voice-coach play`` to the first byte ALSA writes to ``raw``."""
    raw.unlink(missing_ok=True)
    env = ws.env(cache, {"ALSA_CONFIG_PATH": str(config)})
    start = time.monotonic()
    process = subprocess.Popen([*voice_coach_command(), "play", *args], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        while True:
            with contextlib.suppress(FileNotFoundError):
                if raw.stat().st_size > 0:
                    return time.monotonic() - start
            if process.poll() is not None:
                assert process.stderr is not None
                raise BenchError(f"voice-coach play exited with {process.returncode} before"
                                 f" any sound: {_tail(process.stderr.read().decode())}")
            if time.monotonic() - start > 60:
                raise BenchError("voice-coach play wrote no sound within 60 s")
            time.sleep(0.0005)
    finally:
        end_process(process)
        if process.stderr is not None:
            process.stderr.close()


def section_first_sound(ws: Workspace, quick: bool, runs: int) -> Section:
    section = Section(3, "first_sound", "Time to first sound (play psoas-release, ALSA file)")
    folder = ws.fresh("alsa-file")
    raw = folder / "played.raw"
    config = folder / "asound-file.conf"
    config.write_text(alsa_file_config(raw))
    warm_cache = _primed(ws, "psoas-release")
    bare, warm, cold = [], [], []
    for round_ in range(runs):
        _progress(f"3. first sound: round {round_ + 1}/{runs}")
        bare.append(bare_start(ws))
        warm.append(first_sound_s(ws, warm_cache, config, raw))
        cold.append(first_sound_s(ws, ws.fresh("cache"), config, raw))
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


# --- Section 4: cue timing, live -------------------------------------------------------

NAIVE_PLAYER: Final = r'''
"""The naive player: pyttsx3 say() + runAndWait(), sleep() for silences, a play_buffer per cue."""
import json, sys, time, wave
import pyttsx3
import simpleaudio

timeline = json.load(open(sys.argv[1]))
cue_dir, limit = sys.argv[2], int(sys.argv[3])
cues = {}
for role in ("start", "inhale", "exhale", "hold", "spot", "end"):
    with wave.open(f"{cue_dir}/{role}.wav", "rb") as reader:
        cues[role] = reader.readframes(reader.getnframes())
engine = pyttsx3.init()
engine.setProperty("rate", 140)
plays, spoken = [], 0
for event in timeline["events"]:
    seconds = event["end_s"] - event["start_s"]
    if event["kind"] == "speech":
        if limit and spoken == limit:
            break
        began = time.monotonic()
        engine.say(event["text"])
        engine.runAndWait()
        print(json.dumps({"planned_s": seconds, "waited_s": time.monotonic() - began}),
              flush=True)
        spoken += 1
    elif event["kind"] == "cue":
        plays.append(simpleaudio.play_buffer(cues[event["cue"]], 1, 2, 22050))
        time.sleep(seconds)
    else:
        time.sleep(seconds)
for play in plays:
    play.wait_done()
'''


@dataclass(frozen=True)
class Played:
    """A live play: its recording, its rusage and its CPU while playing."""

    finished: Finished
    recording: Samples
    cpu_steady: float | None
    """(user+sys)/wall between 3 s after start and the end: the playing, not the start-up."""
    steady_window_s: float


def play_live(server: SoundServer, command: Sequence[str], env: Mapping[str, str],
              timeout_s: float) -> Played:
    """Run ``command`` while recording the sink, sampling its CPU time from /proc."""
    samples: list[tuple[float, int]] = []
    holder: dict[str, Any] = {}

    def run() -> None:
        holder["finished"] = run_measured(command, env, timeout_s=timeout_s,
                                          started=lambda pid: holder.setdefault("pid", pid))

    with server.recording() as recording:
        thread = threading.Thread(target=run)
        start = time.monotonic()
        thread.start()
        while thread.is_alive():
            pid = holder.get("pid")
            ticks = cpu_ticks(pid) if pid is not None else None
            if ticks is not None:
                samples.append((time.monotonic() - start, ticks))
            thread.join(timeout=0.5)
    if "finished" not in holder:
        raise BenchError(f"{command[0]} did not finish")
    steady = [(t, ticks) for t, ticks in samples if t >= 3.0]
    cpu, window = None, 0.0
    if len(steady) >= 2:
        window = steady[-1][0] - steady[0][0]
        cpu = (steady[-1][1] - steady[0][1]) / os.sysconf("SC_CLK_TCK") / window
    return Played(holder["finished"], recording.samples, cpu, window)


def load_cue_waves() -> dict[str, Samples]:
    return {path.stem: decode_audio(path.read_bytes(), path.name)
            for path in sorted(CUE_DIR.glob("*.wav"))}


def match_scores(segment: Samples, template: Samples) -> npt.NDArray[np.float64]:
    """Normalised cross-correlation of ``template`` at every offset in ``segment``."""
    n = len(template)
    if len(segment) < n:
        return np.zeros(0)
    x = segment.astype(np.float64)
    t = template.astype(np.float64)
    size = 1 << (len(x) + n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    window = np.sqrt(np.maximum(energy[n:] - energy[:-n], 1e-9))
    scores: npt.NDArray[np.float64] = corr[: len(x) - n + 1] / (np.linalg.norm(t) * window)
    return scores


def first_match(scores: npt.NDArray[np.float64]) -> tuple[int, float]:
    """The earliest match scoring MATCH_THRESHOLD or more (else the best score, as a miss).

    Offsets within 0.3 s of the first one belong to that match (a chime correlates with
    itself one period over), whose offset is its best score's.
    """
    if not len(scores):
        return 0, 0.0
    strong = np.flatnonzero(scores >= MATCH_THRESHOLD)
    if not len(strong):
        index = int(np.argmax(scores))
        return index, float(scores[index])
    group = strong[strong < strong[0] + round(0.3 * SAMPLE_RATE)]
    index = int(group[np.argmax(scores[group])])
    return index, float(scores[index])


@dataclass(frozen=True)
class CueTiming:
    """Planned and found onsets (samples) of every cue, and what they say."""

    planned: list[int]
    found: list[int | None]
    roles: list[str]
    utterances_before: list[int]
    scores: list[float]

    def analysis(self) -> dict[str, Any]:
        pairs = [(p, f, u) for p, f, u in zip(self.planned, self.found,
                                              self.utterances_before, strict=True)
                 if f is not None]
        result: dict[str, Any] = {"cues_planned": len(self.planned), "cues_found": len(pairs)}
        if len(pairs) < 2:
            return result
        planned = np.array([p for p, _, _ in pairs], dtype=np.float64)
        found = np.array([f for _, f, _ in pairs], dtype=np.float64)
        spoken = np.array([u for _, _, u in pairs], dtype=np.float64)
        spacing_ms = (np.diff(found) - np.diff(planned)) / SAMPLE_RATE * 1000
        error_ms = ((found - found[0]) - (planned - planned[0])) / SAMPLE_RATE * 1000
        minutes = (planned - planned[0]) / SAMPLE_RATE / 60
        slope = float(np.polyfit(minutes, error_ms, 1)[0]) if minutes[-1] > 0 else 0.0
        per_utterance = (float(np.polyfit(spoken, error_ms, 1)[0])
                         if spoken[-1] > spoken[0] else 0.0)
        lines = np.diff(spoken)
        added = np.diff(error_ms)[lines > 0] / lines[lines > 0]
        per_line = float(np.median(added)) if len(added) else 0.0
        result.update({
            "spacing_error_ms_median_abs": float(np.median(np.abs(spacing_ms))),
            "spacing_error_ms_worst_abs": float(np.max(np.abs(spacing_ms))),
            "spacings_exact_to_the_sample": int(np.sum(np.diff(found) == np.diff(planned))),
            "error_ms_final": float(error_ms[-1]),
            "error_growth_ms_per_min": slope,
            "error_growth_ms_per_utterance": per_utterance,
            "error_added_per_line_ms_median": per_line,
            "span_min": float(minutes[-1]),
            "utterances_spanned": int(spoken[-1] - spoken[0]),
            "error_ms_by_cue": [round(float(e), 2) for e in error_ms],
        })
        return result


def locate_cues(recording: Samples, timeline: Mapping[str, Any], waves: Mapping[str, Samples],
                *, slack_s: float, skipped_speech: float = 0.0, late_per_line_s: float = 0.0,
                upto_utterances: int | None = None) -> CueTiming:
    """Find each planned cue in ``recording``, in order: the first match after where the
    previous cue found and the plan put it, less ``slack_s`` and ``skipped_speech`` (a
    fraction) of the speech planned in between, and at most ``slack_s`` plus
    ``late_per_line_s`` for each line in between later. The first cue is searched for from
    the start of the recording."""
    planned, roles, before, speech_s = [], [], [], []
    spoken, talked = 0, 0.0
    for event in timeline["events"]:
        if event["kind"] == "speech":
            if upto_utterances is not None and spoken == upto_utterances:
                break
            spoken += 1
            talked += event["end_s"] - event["start_s"]
        elif event["kind"] == "cue" and len(waves.get(event["cue"], ())):
            planned.append(int(event["start_sample"]))
            roles.append(event["cue"])
            before.append(spoken)
            speech_s.append(talked)
    found: list[int | None] = []
    scores: list[float] = []
    anchor: int | None = None  # index of the last cue found
    for index, (at, role) in enumerate(zip(planned, roles, strict=True)):
        template = waves[role]
        if anchor is None:
            lo, hi = 0, min(len(recording), at + round(30 * SAMPLE_RATE))
        else:
            anchored = found[anchor]
            assert anchored is not None
            expected = anchored + at - planned[anchor]
            early = slack_s + skipped_speech * (speech_s[index] - speech_s[anchor])
            late = slack_s + late_per_line_s * (before[index] - before[anchor])
            lo = max(anchored + 1, expected - round(early * SAMPLE_RATE))
            hi = min(len(recording), expected + round(late * SAMPLE_RATE) + len(template))
        offset, score = first_match(match_scores(recording[lo:hi], template))
        scores.append(round(score, 3))
        if score >= MATCH_THRESHOLD:
            found.append(lo + offset)
            anchor = index
        else:
            found.append(None)
    return CueTiming(planned, found, roles, before, scores)


def section_live(ws: Workspace, quick: bool, runs: int) -> Section:
    section = Section(4, "cue_timing", "Cue timing, live (PulseAudio null sink, recorded)")
    if quick:
        routine_path = ws.fresh("live") / "bench-live.toml"
        routine_path.write_text(QUICK_LIVE_ROUTINE)
        routine_args, naive_lines = [str(routine_path)], 2
    else:
        routine_args, naive_lines = ["psoas-release", "--minutes", "10"], 0
    cache = ws.fresh("cache")
    _progress("4. cue timing: export (the plan, and a warm cache for play)")
    _, out = export(ws, routine_args[0], cache, *routine_args[1:])
    timeline = timeline_of(out)
    while not quick and timeline["duration_s"] < LIVE_MIN_S:
        # The fill repeats whole spots, so a target can come out short: ask for more.
        routine_args[2] = f"{float(routine_args[2]) + 0.5:g}"
        _, out = export(ws, routine_args[0], cache, *routine_args[1:])
        timeline = timeline_of(out)
    waves = load_cue_waves()
    server = SoundServer(ws.fresh("pulse"))
    try:
        _progress("4. cue timing: starting a private PulseAudio")
        try:
            server.start()
        except BaseException as exc:  # support.soundserver raises SoundServerError
            raise BenchError(f"cannot start PulseAudio: {exc}") from None
        env = ws.env(cache, server.env)
        minutes = timeline["duration_s"] / 60
        _progress(f"4. cue timing: playing {minutes:.1f} min through the null sink")
        ours = play_live(server, [*voice_coach_command(), "play", *routine_args, "--quiet",
                                  "--no-history"], env, timeout_s=timeline["duration_s"] + 120)
        ours_timing = locate_cues(ours.recording, timeline, waves, slack_s=0.5)
        script = ws.root / "naive_player.py"
        script.write_text(NAIVE_PLAYER)
        what = f"{naive_lines} lines" if naive_lines else "the whole timeline"
        _progress(f"4. cue timing: the naive player, {what}")
        naive = play_live(server, [PYTHON, str(script), str(out / "timeline.json"),
                                   str(CUE_DIR), str(naive_lines)],
                          env, timeout_s=3 * timeline["duration_s"] + 300)
        # It may skip a line (runAndWait returns at once) or speak it slowly.
        naive_timing = locate_cues(naive.recording, timeline, waves, slack_s=2.0,
                                   skipped_speech=1.0, late_per_line_s=3.0,
                                   upto_utterances=naive_lines or None)
    finally:
        server.close()
    a, b = ours_timing.analysis(), naive_timing.analysis()
    for name, result in (("voice-coach", a), ("naive", b)):
        if result.get("cues_found", 0) < 2:
            raise BenchError(f"{name}: found {result.get('cues_found', 0)} of"
                             f" {result['cues_planned']} cues in the recording")
    span = a["span_min"]
    label = "naive pyttsx3+sleep"
    section.rows = [
        row("cue spacing error, median |e|", a["spacing_error_ms_median_abs"], "ms",
            peer=b["spacing_error_ms_median_abs"], peer_label=label),
        row("cue spacing error, worst |e|", a["spacing_error_ms_worst_abs"], "ms",
            peer=b["spacing_error_ms_worst_abs"], peer_label=label),
        row("cue error growth over time", a["error_growth_ms_per_min"], "ms/min",
            peer=b["error_growth_ms_per_min"], peer_label=label,
            goal=("ours", "<=", round(GROWTH_LIMIT_MS / max(span, 1e-9), 3))),
        row("cue error added per spoken line, median", a["error_added_per_line_ms_median"],
            "ms/line", peer=b["error_added_per_line_ms_median"], peer_label=label),
    ]
    row_growth = section.rows[2]
    row_growth.met = abs(a["error_growth_ms_per_min"]) * span <= GROWTH_LIMIT_MS
    row_growth.goal = f"|growth| x {span:.1f} min ≤ {GROWTH_LIMIT_MS:g} ms"
    section.details = {
        "routine": " ".join(Path(arg).name for arg in routine_args),
        "session_s": timeline["duration_s"],
        "voice_coach": {**a, "roles": ours_timing.roles, "scores": ours_timing.scores,
                        "wall_s": ours.finished.wall_s},
        "naive": {**b, "lines_spoken": naive_lines or "all", "scores": naive_timing.scores,
                  "wall_s": naive.finished.wall_s, **_waits(naive.finished.stdout)},
        "cpu_while_playing": {
            "voice_coach": _cpu(ours), "naive": _cpu(naive),
        },
        "error_growth_limit_ms": GROWTH_LIMIT_MS,
    }
    return section


def _waits(log: str) -> dict[str, Any]:
    """How long the naive player's runAndWait() took against each line's planned length."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    short = [line for line in lines if line["waited_s"] < 0.5 * line["planned_s"]]
    waited = [line["waited_s"] - line["planned_s"] for line in lines if line not in short]
    return {"run_and_wait": {
        "lines": len(lines),
        "returned_before_half_the_line": len(short),
        "overrun_s_median_when_it_waited": median(waited) if waited else None,
        "overrun_s_worst_when_it_waited": max(waited) if waited else None,
    }}


def _cpu(played: Played) -> dict[str, Any]:
    finished = played.finished
    return {"steady": played.cpu_steady, "steady_window_s": played.steady_window_s,
            "total": (finished.user_s + finished.sys_s) / finished.wall_s,
            "user_s": finished.user_s, "sys_s": finished.sys_s, "wall_s": finished.wall_s}


# --- Section 5: memory and CPU ---------------------------------------------------------


def play_peak_rss_mb(ws: Workspace, cache: Path, minutes: float, expected_bytes: int) -> float:
    """Peak RSS of ``play`` through ALSA's file plugin: sampled until ALSA has taken the
    whole session (the file plugin runs ahead of the clock), then the player is stopped."""
    folder = ws.fresh("alsa-file")
    raw = folder / "played.raw"
    config = folder / "asound-file.conf"
    config.write_text(alsa_file_config(raw))
    env = ws.env(cache, {"ALSA_CONFIG_PATH": str(config)})
    process = subprocess.Popen([*voice_coach_command(), "play", "psoas-release", "--minutes",
                                f"{minutes:g}", "--quiet", "--no-history"], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    peak = 0.0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            peak = max(peak, peak_rss_mb(process.pid) or 0.0)
            with contextlib.suppress(FileNotFoundError):
                if raw.stat().st_size >= expected_bytes:
                    time.sleep(0.2)
                    peak = max(peak, peak_rss_mb(process.pid) or 0.0)
                    break
            time.sleep(0.01)
        else:
            raise BenchError(f"play --minutes {minutes:g} did not get through its session"
                             f" (exit {process.returncode})")
    finally:
        end_process(process)
        raw.unlink(missing_ok=True)
    return peak


def section_resources(ws: Workspace, quick: bool, runs: int,
                      live: Section | None) -> Section:
    section = Section(5, "memory_cpu", "Memory and CPU")
    details: dict[str, Any] = {}
    for minutes, limit in ((10, 100.0), (60, 250.0)):
        _progress(f"5. memory: {minutes}-minute session")
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


# --- The machine, the table ------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                            check=False).stdout.strip()
    match = re.search(r"(\d+\.\d+[\w.-]*)", espeak)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "espeak_ng": match[1] if match else espeak or "missing",
        "numpy": np.__version__,
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "x":
        return f"{value:,.0f}x" if abs(value) >= 100 else f"{value:.2f}x"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.2f} {unit}"


def render_table(sections: Sequence[Section], info: Mapping[str, Any], quick: bool) -> str:
    lines = [f"voice-coach benchmark ({'quick' if quick else 'full'} run), {info['date']}",
             f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']};"
             f" espeak-ng {info['espeak_ng']}; numpy {info['numpy']}; kernel {info['kernel']}",
             f"load average: {info['load_average_at_start']} at start,"
             f" {info.get('load_average_at_end')} at end"]
    lines += [f"  {name}: {when}" for name, when in info.get("runs", {}).items()]
    lines += [f"bytecode: {info['bytecode']}"] if "bytecode" in info else []
    lines.append("")
    header = ("measurement", "ours", "peer / floor", "ratio", "goal", "")
    table: list[tuple[str, ...]] = []
    for section in sections:
        table.append((f"{section.number}. {section.title}",))
        if section.error:
            table.append((f"   not measured: {section.error}",))
        for r in section.rows:
            peer = f"{_fmt(r.peer, r.unit)} {r.peer_label}" if r.peer is not None else "—"
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "—"
            verdict = "—" if r.met is None else ("met" if r.met else "MISSED")
            table.append(("   " + r.measurement, _fmt(r.ours, r.unit), peer, ratio,
                          r.goal or "—", verdict))
    widths = [max(len(cells[i]) for cells in [header, *table] if len(cells) > 1)
              for i in range(len(header))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for cells in table:
        if len(cells) == 1:
            lines.append(cells[0])
        else:
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                         .rstrip())
    met = sum(r.met is True for s in sections for r in s.rows)
    missed = sum(r.met is False for s in sections for r in s.rows)
    lines += ["", f"goals: {met} met, {missed} missed"]
    for section in sections:
        lines += ["", f"{section.number}. {section.title}: details"]
        lines += textwrap.indent(_details_text(section.details), "   ").splitlines()
    return "\n".join(lines)


def _details_text(details: Mapping[str, Any], depth: int = 0) -> str:
    out = []
    for key, value in details.items():
        if isinstance(value, Mapping):
            out.append(f"{'  ' * depth}{key}:")
            out.append(_details_text(value, depth + 1))
        else:
            if isinstance(value, float):
                value = round(value, 4)
            elif isinstance(value, list) and value and isinstance(value[0], float):
                value = [round(v, 4) for v in value]
            text = json.dumps(value, ensure_ascii=False)
            if len(text) > 160:
                text = text[:157] + "..."
            out.append(f"{'  ' * depth}{key}: {text}")
    return "\n".join(out)


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- Main ------------------------------------------------------------------------------

SECTIONS: Final[dict[int, tuple[str, str]]] = {
    1: ("synthesis", "Synthesis against its floor (espeak-ng -w, one call)"),
    2: ("default_session", "The default session (export psoas-release)"),
    3: ("first_sound", "Time to first sound (play psoas-release, ALSA file)"),
    4: ("cue_timing", "Cue timing, live (PulseAudio null sink, recorded)"),
    5: ("memory_cpu", "Memory and CPU"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small runs (about a minute), for the smoke test")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--runs", type=int, help="runs per timing (default: 5; --quick: 2)")
    parser.add_argument("--only", help="comma-separated section numbers, e.g. 1,3")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--table-from", metavar="JSON", type=Path, nargs="+",
                        help="print the table of earlier runs' --json output (a section in a"
                             " later file replaces the same section in an earlier one),"
                             " measure nothing")
    args = parser.parse_args(argv)
    if args.table_from is not None:
        try:
            sections, info = merged_runs(args.table_from)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"bench: cannot read the runs: {exc}", file=sys.stderr)
            return 2
        print(render_table(sections, info, info["mode"] == "quick"))
        return 0
    runs = args.runs or (2 if args.quick else 5)
    wanted = sorted({int(n) for n in args.only.split(",")}) if args.only else list(SECTIONS)
    if not set(wanted) <= set(SECTIONS) or runs < 1:
        parser.error("--only takes numbers from 1 to 5; --runs at least 1")
    info = machine()
    # As pip leaves an installed wheel: compiled, whatever PYTHONDONTWRITEBYTECODE says here.
    compileall.compile_dir(PROJECT / "voice_coach", quiet=1)
    info["bytecode"] = "compiled ahead, as pip does for an installed wheel"
    root = Path(tempfile.mkdtemp(prefix="vc-bench-"))
    ws = Workspace(root)
    sections: list[Section] = []
    started = time.monotonic()
    steps: dict[int, Callable[[], Section]] = {
        1: lambda: section_synthesis(ws, args.quick, runs),
        2: lambda: section_default(ws, args.quick, runs),
        3: lambda: section_first_sound(ws, args.quick, runs),
        4: lambda: section_live(ws, args.quick, runs),
        5: lambda: section_resources(ws, args.quick, runs,
                                     next((s for s in sections if s.number == 4), None)),
    }
    try:
        for number in wanted:
            begun = time.monotonic()
            try:
                sections.append(steps[number]())
                sections[-1].details["section_wall_s"] = round(time.monotonic() - begun, 1)
            except (BenchError, OSError, subprocess.SubprocessError, ValueError,
                    KeyError) as exc:
                key, title = SECTIONS[number]
                sections.append(Section(number, key, title, error=f"{type(exc).__name__}: {exc}"))
                _progress(f"{number}. failed: {exc}")
    finally:
        if args.keep:
            _progress(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["bench_wall_s"] = round(time.monotonic() - started, 1)
    info["mode"] = "quick" if args.quick else "full"
    info["runs_per_timing"] = runs
    if args.json:
        document = {"machine": info,
                    "sections": [_jsonable(asdict(section)) for section in sections],
                    "summary": {"met": sum(r.met is True for s in sections for r in s.rows),
                                "missed": sum(r.met is False for s in sections for r in s.rows),
                                "not_measured": [s.number for s in sections if s.error]}}
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_table(sections, info, args.quick))
    return 1 if any(section.error for section in sections) else 0


def merged_runs(paths: Sequence[Path]) -> tuple[list[Section], dict[str, Any]]:
    """The sections of several ``--json`` runs, a later run's replacing an earlier one's
    section of the same number, and the machine of each run that contributed."""
    by_number: dict[int, Section] = {}
    machines: dict[int, dict[str, Any]] = {}
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not a --json run ({exc})") from None
        for data in document["sections"]:
            section = _section_from(data)
            by_number[section.number] = section
            machines[section.number] = document["machine"]
    if not by_number:
        raise ValueError("no sections in " + ", ".join(map(str, paths)))
    numbers = sorted(by_number)
    info = dict(machines[numbers[-1]])
    runs = {json.dumps(m, sort_keys=True) for m in machines.values()}
    if len(runs) > 1:
        info["runs"] = {f"section {n}": f"{machines[n]['date']}, load"
                        f" {machines[n]['load_average_at_start']}" for n in numbers}
    return [by_number[n] for n in numbers], info


def _section_from(data: Mapping[str, Any]) -> Section:
    return Section(data["number"], data["key"], data["title"],
                   [Row(**row) for row in data["rows"]], dict(data["details"]), data["error"])


def _jsonable(value: Any) -> Any:
    """Plain JSON: no NaN or infinities (they become null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
