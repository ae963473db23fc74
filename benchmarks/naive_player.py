"""The naive player, what a beginner writes: pyttsx3 ``say()`` + ``runAndWait()``,
``time.sleep()`` for silences and one ``simpleaudio.play_buffer`` per cue.

    python -m benchmarks.naive_player TIMELINE_JSON CUE_DIR LINES

Plays the events of an exported ``timeline.json``; with LINES > 0 it stops before the
line after that many. For each line it prints one JSON object: how long the line was
planned to last and how long ``runAndWait()`` took.
"""

from __future__ import annotations

import json
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pyttsx3
import simpleaudio

CUE_ROLES = ("start", "inhale", "exhale", "hold", "spot", "end")


def main(argv: list[str]) -> None:
    timeline: dict[str, Any] = json.loads(Path(argv[1]).read_text())
    cue_dir, limit = Path(argv[2]), int(argv[3])
    cues: dict[str, bytes] = {}
    for role in CUE_ROLES:
        with wave.open(str(cue_dir / f"{role}.wav"), "rb") as reader:
            cues[role] = reader.readframes(reader.getnframes())
    engine = pyttsx3.init()
    engine.setProperty("rate", 140)
    plays = []
    spoken = 0
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


if __name__ == "__main__":
    main(sys.argv)
