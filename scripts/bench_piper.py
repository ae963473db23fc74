#!/usr/bin/env python3
"""Figures for the neural engine (Piper), measured the way a person meets them.

    .venv/bin/python scripts/bench_piper.py            # all figures, a few minutes on 2 cores
    .venv/bin/python scripts/bench_piper.py --json     # the same, machine-readable

- floor: Piper alone synthesising the default psoas session's distinct lines in one warm
  process (model loaded, one line rendered first), with the settings the engine uses.
- cold: ``voice-coach export --engine piper`` of that session with an empty cache, the
  whole command (start, model load, every line, the mix, the files); target <= 1.3x floor.
- warm: the same export again (every line from the cache), against pyttsx3's warm
  export; target <= 1.5x.
- memory: peak resident memory of a 60-minute neural export, cold and warm.
- rate: words per minute measured on the session's clips at several asked rates.
- level: active level of the voice and of the chimes in the cold export, and its peak.

Standalone on purpose (one module, the project's own functions), to be folded into the
benchmarks package. Each figure is the best of ``--repeat`` runs: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_coach.engines.piper_engine import (  # noqa: E402
    THREADS,
    active_dbfs,
    length_scale_for,
    packaged_voice,
)

VOICE_COACH = Path(sys.executable).with_name("voice-coach")
SESSION = ("psoas-release",)


CPU_S: dict[str, float] = {}
"""CPU seconds (user + system) of the last measurement of each kind: robust to a shared
machine's load, where wall times are not."""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def export(out: Path, cache: Path, *args: str) -> float:
    """Seconds for one ``voice-coach export`` with ``cache`` as XDG_CACHE_HOME."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    cpu = _children_cpu_s()
    started = time.monotonic()
    subprocess.run([str(VOICE_COACH), "export", *args, "-o", str(out), "--force", "-q"],
                   env=env, check=True)
    CPU_S["export"] = _children_cpu_s() - cpu
    return time.monotonic() - started


def peak_rss_mb(out: Path, cache: Path, *args: str) -> float:
    """Peak resident memory (MB) of one export, measured in a fresh parent."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    child = subprocess.run([sys.executable, "-c", code, str(VOICE_COACH), "export", *args,
                            "-o", str(out), "--force", "-q"], env=env, check=True,
                           capture_output=True, text=True)
    return int(child.stdout.split()[-1]) / 1024


def session_lines(out: Path) -> list[str]:
    timeline = json.loads((out / "timeline.json").read_text())
    return list(dict.fromkeys(e["text"] for e in timeline["events"] if e["kind"] == "speech"))


class Floor:
    """Piper alone, warm, as its own ``PiperVoice.load`` sets it up (onnxruntime's default
    threads), with the engine's synthesis settings, one line after another."""

    def __init__(self, lines: list[str], rate_wpm: int) -> None:
        from piper import PiperVoice, SynthesisConfig

        voice_file = packaged_voice()
        self.voice = PiperVoice.load(voice_file.model, voice_file.config)
        self.config = SynthesisConfig(length_scale=length_scale_for(rate_wpm),
                                      noise_scale=voice_file.noise_scale,
                                      noise_w_scale=voice_file.noise_w_scale,
                                      normalize_audio=False)
        self.lines = lines
        list(self.voice.synthesize(lines[0], syn_config=self.config))

    def once(self) -> float:
        cpu = _self_cpu_s()
        started = time.monotonic()
        for line in self.lines:
            for chunk in self.voice.synthesize(line, syn_config=self.config):
                chunk.audio_int16_array  # noqa: B018  # as the engine reads it
        CPU_S["floor"] = _self_cpu_s() - cpu
        return time.monotonic() - started


def levels(out: Path) -> dict[str, float]:
    with wave.open(str(out / "session.wav")) as reader:
        session = np.frombuffer(reader.readframes(reader.getnframes()), "<i2")
    timeline = json.loads((out / "timeline.json").read_text())

    def active(kind: str) -> float:
        parts = [session[e["start_sample"]:e["end_sample"]] for e in timeline["events"]
                 if e["kind"] == kind]
        return round(active_dbfs(np.concatenate(parts).astype(np.float32) / 32768), 1)

    peak = int(np.abs(session.astype(np.int32)).max())
    return {"voice_active_dbfs": active("speech"), "chimes_active_dbfs": active("cue"),
            "peak_dbfs": round(20 * np.log10(peak / 32768), 1)}


def rates(lines: list[str], asked: list[int]) -> dict[int, float]:
    """Words per minute measured on the clips (all words over all seconds)."""
    from voice_coach.engines.piper_engine import PiperEngine, voices_folder
    from voice_coach.speech import SpeechSettings

    engine = PiperEngine(voices_folder())
    words = sum(len(line.split()) for line in lines)
    found = {}
    try:
        for rate in asked:
            clips = engine.render_many(lines, SpeechSettings(rate_wpm=rate))
            found[rate] = round(words / (sum(map(len, clips)) / 22050) * 60, 1)
    finally:
        engine.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-memory", action="store_true", help="skip the 60-minute export")
    parser.add_argument("--rates", default="80,100,140,200,400")
    options = parser.parse_args()
    figures: dict[str, Any] = {"threads": THREADS, "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-piper-") as scratch:
        tmp = Path(scratch)
        out = tmp / "out"
        cold = [export(out, tmp / "cold-0", *SESSION, "--engine", "piper")]
        cold_cpu = [CPU_S["export"]]
        lines = session_lines(out)
        floor = Floor(lines, 140)
        floors = [floor.once()]
        floor_cpu = [CPU_S["floor"]]
        for attempt in range(1, options.repeat):  # interleaved: the load changes
            cold.append(export(out, tmp / f"cold-{attempt}", *SESSION, "--engine", "piper"))
            cold_cpu.append(CPU_S["export"])
            floors.append(floor.once())
            floor_cpu.append(CPU_S["floor"])
        del floor
        figures["lines"] = len(lines)
        figures["words"] = sum(len(line.split()) for line in lines)
        figures["floor_s"] = round(min(floors), 2)
        figures["cold_s"] = round(min(cold), 2)
        figures["cold_over_floor"] = round(min(cold) / min(floors), 2)
        figures["cold_over_floor_pairs"] = [round(c / f, 2) for c, f in zip(cold, floors,
                                                                             strict=True)]
        figures["floor_cpu_s"] = round(min(floor_cpu), 2)
        figures["cold_cpu_s"] = round(min(cold_cpu), 2)
        figures["cold_cpu_over_floor_cpu"] = round(min(cold_cpu) / min(floor_cpu), 2)
        figures["level"] = levels(out)
        export(out, tmp / "espeak", *SESSION)
        warm_piper = warm_espeak = float("inf")
        for _ in range(options.repeat + 4):  # interleaved, best of each
            warm_piper = min(warm_piper, export(out, tmp / "cold-0", *SESSION, "--engine",
                                                "piper"))
            warm_espeak = min(warm_espeak, export(out, tmp / "espeak", *SESSION))
        figures["warm_piper_s"] = round(warm_piper, 3)
        figures["warm_pyttsx3_s"] = round(warm_espeak, 3)
        figures["warm_ratio"] = round(warm_piper / warm_espeak, 2)
        if not options.no_memory:
            long_args = (*SESSION, "--minutes", "60", "--engine", "piper")
            figures["peak_rss_60min_cold_mb"] = round(peak_rss_mb(out, tmp / "long", *long_args))
            figures["peak_rss_60min_warm_mb"] = round(peak_rss_mb(out, tmp / "long", *long_args))
            figures["session_60min_mb"] = round((out / "session.wav").stat().st_size / 2**20)
        figures["rate_wpm"] = rates(lines, [int(r) for r in options.rates.split(",") if r])
    figures["load_average_after"] = os.getloadavg()[0]
    figures["self_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if options.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:<24} {value}")


if __name__ == "__main__":
    main()
