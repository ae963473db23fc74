"""Piper alone, the floor of section 8: ``python -m benchmarks.neural_floor LINES RATE``.

Loads the packaged voice as Piper's own ``PiperVoice.load`` sets it up (onnxruntime's
default threads), renders the first line once to warm it, then times rendering every
line of the JSON list ``LINES`` once, one after another, with the engine's synthesis
settings. Prints ``{"wall_s": ..., "cpu_s": ...}``. A child process of its own, so the
benchmark's process never holds onnxruntime.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from piper import PiperVoice, SynthesisConfig

    from voice_coach.engines.piper_engine import length_scale_for, packaged_voice

    lines: list[str] = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    voice_file = packaged_voice()
    voice = PiperVoice.load(voice_file.model, voice_file.config)
    config = SynthesisConfig(length_scale=length_scale_for(int(argv[2])),
                             noise_scale=voice_file.noise_scale,
                             noise_w_scale=voice_file.noise_w_scale, normalize_audio=False)
    list(voice.synthesize(lines[0], syn_config=config))

    def cpu_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpu, started = cpu_s(), time.monotonic()
    for line in lines:
        for chunk in voice.synthesize(line, syn_config=config):
            chunk.audio_int16_array  # noqa: B018  # as the engine reads it
    print(json.dumps({"wall_s": time.monotonic() - started, "cpu_s": cpu_s() - cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
