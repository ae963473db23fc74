"""The command line: measure the sections asked for, then print the table or ``--json``."""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import benchmarks
from benchmarks import (
    ambient,
    cue_timing,
    default_session,
    first_sound,
    formats,
    load,
    media_keys,
    neural,
    resources,
    streaming,
    synthesis,
)
from benchmarks.measure import PROJECT, BenchError, Workspace, progress
from benchmarks.report import About, Section, document, machine, merged_runs, render_table
from support.processes import NoSoundError

SECTIONS: Final[dict[int, About]] = {module.ABOUT.number: module.ABOUT for module in
                                     (synthesis, default_session, first_sound, cue_timing,
                                      resources, streaming, formats, neural, load, media_keys,
                                      ambient)}
FAILURES: Final = (BenchError, NoSoundError, OSError, subprocess.SubprocessError, ValueError,
                   KeyError)
"""What ends one section as "not measured" while the others go on."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(benchmarks.__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small runs (about 2.5 minutes), for the smoke test")
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
            earlier, info = merged_runs(args.table_from)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"bench: cannot read the runs: {exc}", file=sys.stderr)
            return 2
        print(render_table(earlier, info, info["mode"] == "quick"))
        return 0
    runs = args.runs or (2 if args.quick else 5)
    try:
        wanted = sorted({int(n) for n in args.only.split(",")}) if args.only else list(SECTIONS)
    except ValueError:
        wanted = []
    if not wanted or not set(wanted) <= set(SECTIONS) or runs < 1:
        parser.error(f"--only takes numbers from 1 to {max(SECTIONS)}; --runs at least 1")
    info = machine()
    # As pip leaves an installed wheel: compiled, whatever PYTHONDONTWRITEBYTECODE says here.
    compileall.compile_dir(PROJECT / "voice_coach", quiet=1)
    info["bytecode"] = "compiled ahead, as pip does for an installed wheel"
    root = Path(tempfile.mkdtemp(prefix="vc-bench-"))
    ws = Workspace(root)
    sections: list[Section] = []
    started = time.monotonic()
    steps: dict[int, Callable[[], Section]] = {
        1: lambda: synthesis.measure(ws, args.quick, runs),
        2: lambda: default_session.measure(ws, runs),
        3: lambda: first_sound.measure(ws, runs),
        4: lambda: cue_timing.measure(ws, args.quick),
        5: lambda: resources.measure(ws, next((s for s in sections if s.number == 4), None),
                                     args.quick),
        6: lambda: streaming.measure(ws, args.quick, runs),
        7: lambda: formats.measure(ws, 1 if args.quick else runs, args.quick),
        8: lambda: neural.measure(ws, args.quick),
        9: lambda: load.measure(ws, args.quick),
        10: lambda: media_keys.measure(ws, args.quick),
        11: lambda: ambient.measure(ws, args.quick),
    }
    try:
        for number in wanted:
            begun = time.monotonic()
            try:
                sections.append(steps[number]())
                sections[-1].details["section_wall_s"] = round(time.monotonic() - begun, 1)
            except FAILURES as exc:
                sections.append(SECTIONS[number].section(error=f"{type(exc).__name__}: {exc}"))
                progress(f"{number}. failed: {exc}")
    finally:
        if args.keep:
            progress(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    info["bench_wall_s"] = round(time.monotonic() - started, 1)
    info["mode"] = "quick" if args.quick else "full"
    info["runs_per_timing"] = runs
    if args.json:
        print(json.dumps(document(sections, info), indent=2, ensure_ascii=False))
    else:
        print(render_table(sections, info, args.quick))
    return 1 if any(section.error for section in sections) else 0
