"""Section 4: cue timing, live: what a private PulseAudio null sink heard, against the plan.

``voice-coach play --quiet`` plays a session while the sink is recorded; every cue is
found in the recording by cross-correlation with its waveform and compared with
``timeline.json``. Next to it, ``naive_player`` plays the same timeline.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from benchmarks.measure import (
    PROJECT,
    PYTHON,
    BenchError,
    Finished,
    Workspace,
    cpu_ticks,
    export,
    median,
    progress,
    run_measured,
    timeline_of,
    voice_coach_command,
)
from benchmarks.report import About, Section, row
from benchmarks.routines import QUICK_LIVE_ROUTINE
from support.audio import Scores, match_scores, read_wav, silence_put_in
from support.soundserver import SoundServer, SoundServerError
from voice_coach.pcm import SAMPLE_RATE, Samples, decode_audio

ABOUT: Final = About(4, "cue_timing", "Cue timing, live (PulseAudio null sink, recorded)")
CUE_DIR: Final = PROJECT / "audio_cues"
MATCH_THRESHOLD: Final = 0.6
"""Normalised cross-correlation a cue must reach to count as found. A cue overlapped by
speech still scores about 0.7; the rising and the falling glide score 0.53 on each other."""
LIVE_MIN_S: Final = 600.0
"""The full run's live session lasts at least this long."""
LATE_RETRY_S: Final = 5.0
"""How much later than its slack a cue of ours is still searched for: a cue that late is
reported (``cues_found_late``, and in the spacing error), not lost from the count."""
GROWTH_LIMIT_MS: Final = 5.0
"""Cue error that may build up over a whole session before it counts as growing."""


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
        holder["finished"] = run_measured(command, env, timeout_s=timeout_s, cwd=PROJECT,
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


def first_match(scores: Scores) -> tuple[int, float]:
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
    late: list[int]
    """Indexes of the cues found only by the second, later search (``late_retry_s``)."""

    def analysis(self) -> dict[str, Any]:
        pairs = [(p, f, u) for p, f, u in zip(self.planned, self.found,
                                              self.utterances_before, strict=True)
                 if f is not None]
        result: dict[str, Any] = {"cues_planned": len(self.planned), "cues_found": len(pairs),
                                  "cues_found_late": list(self.late)}
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
                upto_utterances: int | None = None, late_retry_s: float = 0.0) -> CueTiming:
    """Find each planned cue in ``recording``, in order: the first match after where the
    previous cue found and the plan put it, less ``slack_s`` and ``skipped_speech`` (a
    fraction) of the speech planned in between, and at most ``slack_s`` plus
    ``late_per_line_s`` for each line in between later. The first cue is searched for from
    the start of the recording. A cue not found so is searched for up to ``late_retry_s``
    later still (a sound server that underran on a starved machine put silence in
    between: the cue came late, it was not lost), and counted in ``late``."""
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
    found_late: list[int] = []
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
        if score < MATCH_THRESHOLD and anchor is not None and late_retry_s > 0:
            lo = max(lo, hi - len(template))
            hi = min(len(recording), hi + round(late_retry_s * SAMPLE_RATE))
            offset, score = first_match(match_scores(recording[lo:hi], template))
            if score >= MATCH_THRESHOLD:
                found_late.append(index)
        scores.append(round(score, 3))
        if score >= MATCH_THRESHOLD:
            found.append(lo + offset)
            anchor = index
        else:
            found.append(None)
    return CueTiming(planned, found, roles, before, scores, found_late)


def server_gaps(recording: Samples, expected: Samples) -> dict[str, Any]:
    """Whether the recording is the export with only silence put in (a starved sound
    server underran: the session came late, nothing was lost), and where it was put."""
    heard, planned = np.flatnonzero(recording), np.flatnonzero(expected)
    if not len(heard) or not len(planned) or heard[0] < planned[0]:
        return {"handed_whole": False, "problem": "the recording does not hold the session",
                "gaps_at_s_ms": []}
    compared = silence_put_in(recording[heard[0] - planned[0]:], expected)
    return {"handed_whole": compared.problem is None, "problem": compared.problem,
            "gaps_at_s_ms": [[round(at / SAMPLE_RATE, 3), round(samples / SAMPLE_RATE * 1000, 1)]
                             for at, samples in compared.insertions]}


def measure(ws: Workspace, quick: bool) -> Section:
    section = ABOUT.section()
    if quick:
        routine_path = ws.fresh("live") / "bench-live.toml"
        routine_path.write_text(QUICK_LIVE_ROUTINE)
        routine_args, naive_lines = [str(routine_path)], 2
    else:
        routine_args, naive_lines = ["psoas-release", "--minutes", "10"], 0
    cache = ws.fresh("cache")
    progress("4. cue timing: export (the plan, and a warm cache for play)")
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
        progress("4. cue timing: starting a private PulseAudio")
        try:
            server.start()
        except SoundServerError as exc:
            raise BenchError(f"cannot start PulseAudio: {exc}") from None
        env = ws.env(cache, server.env)
        minutes = timeline["duration_s"] / 60
        progress(f"4. cue timing: playing {minutes:.1f} min through the null sink")
        ours = play_live(server, [*voice_coach_command(), "play", *routine_args, "--quiet",
                                  "--no-history"], env, timeout_s=timeline["duration_s"] + 120)
        ours_timing = locate_cues(ours.recording, timeline, waves, slack_s=0.5,
                                  late_retry_s=LATE_RETRY_S)
        what = f"{naive_lines} lines" if naive_lines else "the whole timeline"
        progress(f"4. cue timing: the naive player, {what}")
        naive = play_live(server, [PYTHON, "-m", "benchmarks.naive_player",
                                   str(out / "timeline.json"), str(CUE_DIR), str(naive_lines)],
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
                        "wall_s": ours.finished.wall_s,
                        **server_gaps(ours.recording, read_wav(out / "session.wav"))},
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
