"""Leveling against its arithmetic, for section 1: ``python -m benchmarks.leveling_child
WAV...``.

Levels every WAV (16-bit mono, as ``espeak-ng -w`` writes a line) as the mixer does, and
times, on the same clips, what leveling cannot do without: one 4x oversampling with
soxr (the true peak) and one K-weighting (the loudness), each of the whole clip. Each
the best of ``ROUNDS``, in CPU seconds of this process. Prints ``{"speech_s": ...,
"level_cpu_s": ..., "floor_cpu_s": ...}``. A child of its own, so that its CPU time is
its own.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable
from typing import Final

import numpy as np
import soundfile
import soxr

from voice_coach import loudness, meter
from voice_coach.pcm import Samples

ROUNDS: Final = 3


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def best(work: Callable[[Samples, int], object], clips: list[tuple[Samples, int]]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = cpu_s()
        for samples, rate in clips:
            work(samples, rate)
        times.append(cpu_s() - started)
    return min(times)


def floor(samples: Samples, rate: int) -> None:
    x = meter.to_float(samples)
    soxr.resample(x.astype(np.float32), rate, rate * loudness.OVERSAMPLING, quality="HQ")
    meter.k_weighted(x, rate)


def main(argv: list[str]) -> int:
    clips = []
    for path in argv[1:]:
        samples, rate = soundfile.read(path, dtype="int16")
        clips.append((samples, rate))
    print(json.dumps({
        "speech_s": sum(len(samples) / rate for samples, rate in clips),
        "level_cpu_s": best(lambda s, r: loudness.level(s, r), clips),
        "floor_cpu_s": best(floor, clips),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
