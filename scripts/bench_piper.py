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
    load_voice,
    packaged_voice,
)

VOICE_COACH = Path(sys.executable).with_name("voice-coach")
SESSION = ("psoas-release",)


def export(out: Path, cache: Path, *args: str) -> float:
    """Seconds for one ``voice-coach export`` with ``cache`` as XDG_CACHE_HOME."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    started = time.monotonic()
    subprocess.run([str(VOICE_COACH), "export", *args, "-o", str(out), "--force", "-q"],
                   env=env, check=True)
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


def floor_s(lines: list[str], rate_wpm: int, repeat: int) -> float:
    """Piper alone, warm: the same lines and synthesis settings as the engine's."""
    from piper import SynthesisConfig

    voice_file = packaged_voice()
    voice = load_voice(voice_file)
    config = SynthesisConfig(length_scale=length_scale_for(rate_wpm),
                             noise_scale=voice_file.noise_scale,
                             noise_w_scale=voice_file.noise_w_scale, normalize_audio=False)
    list(voice.synthesize(lines[0], syn_config=config))
    best = float("inf")
    for _ in range(repeat):
        started = time.monotonic()
        for line in lines:
            for chunk in voice.synthesize(line, syn_config=config):
                chunk.audio_int16_array  # noqa: B018  # as the engine reads it
        best = min(best, time.monotonic() - started)
    return best


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
        cold = []
        for attempt in range(options.repeat):
            cold.append(export(out, tmp / f"cold-{attempt}", *SESSION, "--engine", "piper"))
        lines = session_lines(out)
        figures["lines"] = len(lines)
        figures["words"] = sum(len(line.split()) for line in lines)
        figures["floor_s"] = round(floor_s(lines, 140, options.repeat), 2)
        figures["cold_s"] = round(min(cold), 2)
        figures["cold_over_floor"] = round(min(cold) / figures["floor_s"], 2)
        figures["level"] = levels(out)
        warm_piper = min(export(out, tmp / "cold-0", *SESSION, "--engine", "piper")
                         for _ in range(options.repeat + 2))
        export(out, tmp / "espeak", *SESSION)
        warm_espeak = min(export(out, tmp / "espeak", *SESSION)
                          for _ in range(options.repeat + 2))
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
