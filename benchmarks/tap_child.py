"""How far the device tap's position is from where the device really is.

    python -m benchmarks.tap_child paced FOLDER SECONDS REPORT_JSON
    python -m benchmarks.tap_child server SECONDS REPORT_JSON

Plays ``SECONDS`` of sound on ``player.SimpleaudioDevice`` and reads, every ``SAMPLE_S``,
``device.progress()`` and ``Playback.heard()``. ``paced``: into a paced device
(``support.paced``, real time) made here, whose reader thread runs in this process, so
the truth (the bytes it has written to its raw file, / 2) is read at the same moment.
``server``: through whatever ALSA's default device is in the environment (a sound
server), where no truth is at hand; only what the device's ``delay`` says is reported.
Writes one JSON object of lists (milliseconds) to ``REPORT_JSON``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Final

SAMPLE_S: Final = 0.01


def main(argv: list[str]) -> None:
    mode = argv[1]
    raw: Path | None = None
    if mode == "paced":
        from support.paced import PacedFile

        paced = PacedFile.in_folder(Path(argv[2]))
        os.environ.update(paced.env)  # before ALSA first reads its configuration
        raw = paced.raw
        argv = argv[:2] + argv[3:]
    import numpy as np

    from voice_coach.pcm import SAMPLE_RATE
    from voice_coach.playback import Playback
    from voice_coach.player import SimpleaudioDevice

    seconds, report = float(argv[2]), argv[3]
    tone = np.arange(round(seconds * SAMPLE_RATE))
    samples = (3000 * np.sin(2 * np.pi * 440 * tone / SAMPLE_RATE)).astype(np.int16)
    device = SimpleaudioDevice()
    playback = Playback(device)
    ahead_ms: list[float] = []
    heard_ms: list[float] = []
    delay_ms: list[float] = []
    playback.play(samples)
    try:
        while (progress := device.progress()) is None or progress.taken < len(samples):
            heard = playback.heard()
            truth = raw.stat().st_size // 2 if raw is not None else None
            progress = device.progress()
            if progress is not None:
                delay_ms.append(1000 * progress.delay / SAMPLE_RATE)
                if truth is not None and truth > 0:
                    ahead_ms.append(1000 * (progress.taken - truth) / SAMPLE_RATE)
                    heard_ms.append(1000 * (heard - truth) / SAMPLE_RATE)
            if not device.is_playing():
                break
            time.sleep(SAMPLE_S)
    finally:
        playback.stop()
        device.close()
    with open(report, "w", encoding="utf-8") as out:
        json.dump({"taken_ahead_ms": ahead_ms, "heard_minus_truth_ms": heard_ms,
                   "delay_ms": delay_ms}, out)


if __name__ == "__main__":
    main(sys.argv)
