"""Section 9: under load: cue spacing, underruns and the filler's margin, and the device tap.

``voice-coach play`` of a session through a private PulseAudio and a private PipeWire null
sink, recorded, without load and with every core kept busy by a busy-loop process at
normal priority for the whole session (the quick run: PulseAudio, loaded, a 23-second
session; section 4 plays one without load). Each cue is found in the recording as section 4
finds it (``cue_timing``); the play runs in ``load_child``, which also samples the least
written sound ahead of the device. Underruns are counted where they are heard: the export
is found in the recording block by block, and each time the offset changes the server
played silence (or lost sound) in between. ALSA's own reports are in the details; its pulse
plugin tells of some underruns only.

The device tap: ``tap_child`` plays a buffer into a paced device (real time) and compares
what the tap says the device took, and what ``Playback.heard()`` says is audible, with
what the device has really written out; through PulseAudio, what ALSA's delay says.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from benchmarks.cue_timing import LATE_RETRY_S, load_cue_waves, locate_cues, play_live
from benchmarks.measure import (
    PROJECT,
    PYTHON,
    BenchError,
    Workspace,
    export,
    progress,
    run_measured,
    timeline_of,
)
from benchmarks.report import About, Row, Section, row
from benchmarks.routines import QUICK_LOAD_ROUTINE
from support.audio import best_match, read_wav
from support.processes import die_with_parent, end_process
from support.soundserver import PipeWireServer, SoundServer, SoundServerError
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.stream import GUARD_S

ABOUT: Final = About(9, "under_load", "Under load: cue spacing, underruns, the device tap")

SPACING_LIMIT_MS: Final = 1.0
TAP_S: Final = 20.0
"""How long the device tap is followed (the quick run: ``QUICK_TAP_S``)."""
QUICK_TAP_S: Final = 2.0
TRUTH_TICK_MS: Final = 10.0
"""The paced device writes what it took every 10 ms: the truth is known to within that."""
FULL_SESSION: Final = ("psoas-release", "--minutes", "5")
BLOCK_S: Final = 0.5
"""The export is found in the recording block by block, this long each."""
BLOCK_RMS: Final = 300.0
"""A block quieter than this (a pause) is not looked for: silence matches anywhere."""
BLOCK_SCORE: Final = 0.95
"""A block found with a lower correlation is not counted (the search lost it)."""


def discontinuities(recording: Samples, session: Samples, origin: int) -> dict[str, Any]:
    """Where the recording of a play stops following the export sample for sample: each
    change of the offset at which the next sounding block of the export is found is one
    underrun (the server played silence, the rest came late) or a dropout (sound lost).
    Several within one pause count once. ``origin``: where the export's sample 0 is."""
    block = round(BLOCK_S * SAMPLE_RATE)
    shift, jumps, blocks, moved = 0, [], 0, 0
    for start in range(0, len(session) - block, block):
        piece = session[start:start + block]
        if float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) < BLOCK_RMS:
            continue
        at, score = best_match(recording, piece, origin + start + shift, SAMPLE_RATE)
        if score < BLOCK_SCORE:
            continue
        blocks += 1
        if at - origin - start != shift:
            moved = at - origin - start - shift
            jumps.append({"at_s": round(start / SAMPLE_RATE, 2),
                          "ms": round(1000 * moved / SAMPLE_RATE, 2)})
            shift = at - origin - start
    return {"discontinuities": len(jumps), "blocks_compared": blocks,
            "shift_ms_at_end": round(1000 * shift / SAMPLE_RATE, 2), "jumps": jumps[:20]}


@contextlib.contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """``count`` processes spinning at normal priority while the block runs."""
    spinners = [subprocess.Popen([PYTHON, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                                 start_new_session=True, preexec_fn=die_with_parent)
                for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            end_process(spinner, timeout_s=2)


def play_watched(ws: Workspace, server: SoundServer, routine_args: Sequence[str], cache: Path,
                 export_out: Path, waves: dict[str, Any]) -> dict[str, Any]:
    """One recorded play through ``server``: its cue spacing, underruns and filler margin."""
    timeline = timeline_of(export_out)
    report = ws.fresh("load-child") / "report.json"
    command = [PYTHON, "-m", "benchmarks.load_child", str(report), *routine_args, "--quiet",
               "--no-history"]
    played = play_live(server, command, ws.env(cache, server.env),
                       timeout_s=timeline["duration_s"] + 120)
    timing = locate_cues(played.recording, timeline, waves, slack_s=0.5, late_retry_s=LATE_RETRY_S)
    analysis = timing.analysis()
    first = next((f for f in timing.found if f is not None), None)
    if analysis.get("cues_found", 0) < 2 or first is None:
        raise BenchError(f"{server.label}: found {analysis.get('cues_found', 0)} of"
                         f" {analysis['cues_planned']} cues in the recording")
    origin = first - timing.planned[timing.found.index(first)]
    watched: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    watched["alsa_underruns"] = watched.pop("underruns")
    return {"spacing_error_ms_worst_abs": analysis["spacing_error_ms_worst_abs"],
            "spacing_error_ms_median_abs": analysis["spacing_error_ms_median_abs"],
            "cues_found": analysis["cues_found"], "cues_planned": analysis["cues_planned"],
            "error_ms_final": analysis["error_ms_final"],
            "cpu_while_playing": played.cpu_steady, "wall_s": played.finished.wall_s,
            **discontinuities(played.recording, read_wav(export_out / "session.wav"), origin),
            **watched}


def session_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    rows = []
    for name, result in results.items():
        margin_ms = result["filler_margin_least_ms"]
        rows += [
            row(f"{name}: cue spacing error, worst |e|", result["spacing_error_ms_worst_abs"],
                "ms", goal=("ours", "<=", SPACING_LIMIT_MS)),
            row(f"{name}: underruns or dropouts heard", float(result["discontinuities"]),
                "", goal=("ours", "<=", 0.0)),
            row(f"{name}: filler margin, least", None if margin_ms is None else margin_ms / 1000,
                "s", goal=("ours", ">=", GUARD_S)),
        ]
    return rows


def tap_error(ws: Workspace, seconds: float, server: SoundServer) -> tuple[list[Row],
                                                                             dict[str, Any]]:
    """The tap against a paced device's truth, and PulseAudio's delay."""
    paced_report = ws.fresh("tap") / "paced.json"
    run_measured([PYTHON, "-m", "benchmarks.tap_child", "paced", str(paced_report.parent),
                  f"{seconds:g}", str(paced_report)], ws.env(ws.root / "nocache"),
                 timeout_s=seconds + 60, cwd=PROJECT)
    paced = json.loads(paced_report.read_text(encoding="utf-8"))
    server_report = ws.fresh("tap") / "server.json"
    run_measured([PYTHON, "-m", "benchmarks.tap_child", "server", f"{seconds:g}",
                  str(server_report)], ws.env(ws.root / "nocache", server.env),
                 timeout_s=seconds + 60, cwd=PROJECT)
    delay = json.loads(server_report.read_text(encoding="utf-8"))["delay_ms"]
    ahead, heard = paced["taken_ahead_ms"], paced["heard_minus_truth_ms"]
    if not ahead or not delay:
        raise BenchError("the device tap said nothing (is it in the path?)")
    early, late = max(max(heard), 0.0), max(-min(heard), 0.0)
    rows = [
        row("device tap: taken ahead of the device, max", max(ahead), "ms"),
        row("device tap: taken ahead of the device, median", statistics.median(ahead), "ms"),
        row("heard(): early against the device, max", early, "ms"),
        row("heard(): late against the device, max", late, "ms",
            goal=("ours", "<=", TRUTH_TICK_MS)),
        row(f"{server.label}: ALSA delay, median", statistics.median(delay), "ms"),
        row(f"{server.label}: ALSA delay, max", max(delay), "ms"),
    ]
    details = {"seconds": seconds, "readings": len(ahead),
               "taken_ahead_ms_min": min(ahead),
               "note": "the paced device (support.paced) at real time, read every 10 ms in the"
                       " same process as its reader; it holds up to a page (93 ms) in its"
                       " pipe that ALSA's delay (0, the null plugin's) cannot see, so heard()"
                       " runs early by that much more than on a sound card",
               "server_delay_ms_min": min(delay), "server_readings": len(delay)}
    return rows, details


def measure(ws: Workspace, quick: bool) -> Section:
    section = ABOUT.section()
    if quick:
        routine_path = ws.fresh("live") / "bench-load.toml"
        routine_path.write_text(QUICK_LOAD_ROUTINE)
        routine_args: list[str] = [str(routine_path)]
    else:
        routine_args = list(FULL_SESSION)
    cache = ws.fresh("cache")
    progress("9. under load: export (the plan, and a warm cache for play)")
    _, out = export(ws, routine_args[0], cache, *routine_args[1:])
    timeline = timeline_of(out)
    waves = load_cue_waves()
    kinds: list[type[SoundServer]] = [SoundServer] if quick else [SoundServer, PipeWireServer]
    servers = {kind: kind(ws.fresh(kind.label.lower())) for kind in kinds}
    results: dict[str, dict[str, Any]] = {}
    cores = os.cpu_count() or 2
    try:
        for kind, server in servers.items():
            progress(f"9. under load: starting a private {kind.label}")
            try:
                server.start()
            except SoundServerError as exc:
                raise BenchError(f"cannot start {kind.label}: {exc}") from None
        pulse = servers[SoundServer]
        progress("9. under load: the device tap against a paced device, and PulseAudio's delay")
        tap_rows, tap_details = tap_error(ws, QUICK_TAP_S if quick else TAP_S, pulse)
        minutes = timeline["duration_s"] / 60
        for loaded in (True,) if quick else (False, True):
            for server in servers.values():
                name = f"{server.label}, {'loaded' if loaded else 'idle'}"
                progress(f"9. under load: playing {minutes:.1f} min through {name}")
                with busy_cores(cores if loaded else 0):
                    results[name] = play_watched(ws, server, routine_args, cache, out, waves)
    finally:
        for server in servers.values():
            server.close()
    section.rows = [*session_rows(results), *tap_rows]
    section.details = {
        "routine": " ".join(Path(arg).name for arg in routine_args),
        "session_s": timeline["duration_s"],
        "load": f"{cores} busy-loop processes (python 'while True: pass'), normal priority",
        "underruns": "heard: the export found in the recording block by block"
                     f" ({BLOCK_S:g} s, sounding ones), each change of its offset counted;"
                     " alsa_underruns: ALSA's snd_pcm_recover messages in the playing process"
                     " (not reliable: of two 0.5 s SIGSTOPs of the player through"
                     " PulseAudio, ALSA reported one; of one through PipeWire, none)",
        "filler_margin": "least of SessionStream.written() high less Playback.position(),"
                         " sampled every 10 ms while playing and not all written",
        **results, "device_tap": tap_details,
    }
    return section
