#!/usr/bin/env python3
"""Start, stop, restart and finish plays on the sound device, over and over, then exit.

simpleaudio plays from a C thread that reads the array in place and calls back into
Python when it ends; a play stopped, replaced or left running at exit at the wrong
moment has crashed processes (exit code -11, SIGSEGV). This drives every such path
through ``voice_coach.player`` and reports what happened:

    scripts/stress_player.py --cycles 500                  # ALSA file plugin, into a temp file
    scripts/stress_player.py --cycles 200 --device default  # ALSA's default device, in real time

Each cycle is one of: a short play to its end (through the file plugin, the file must then
hold exactly what was played), a play stopped part-way, a play replaced while playing, a
play whose array has no other reference left, a pause/seek/resume through ``Playback``,
and every ``--exit-every`` cycles a child process that exits while playing. Prints one
summary line; exits 0 if every cycle passed, 1 if a check failed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support.paced import PacedFile
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.playback import Playback
from voice_coach.player import SimpleaudioDevice

LONG_S = 600
"""The file plugin writes ~10 minutes of audio in ~60 ms: long enough to stop part-way."""


class Failure(Exception):
    """A check on what was played failed."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", choices=["file", "default"], default="file",
                        help="ALSA's file plugin into a temp file (default), or ALSA's default")
    parser.add_argument("--exit-every", type=int, default=25, metavar="N",
                        help="run a child that exits while playing every N cycles (0: never)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vc-stress-") as scratch:
        raw = None
        if args.child and args.device == "file":
            # A device that takes the play in real time: through the file plugin alone the
            # whole play is over 60-200 ms after it starts, and a child delayed that long
            # (a loaded machine) found it ended before it could exit while playing.
            os.environ.update(PacedFile.in_folder(Path(scratch)).env)
            return _exit_while_playing(long_s=LONG_S)
        if args.device == "file":
            raw = Path(scratch) / "played.raw"
            config = Path(scratch) / "asound.conf"
            config.write_text(_file_config(raw))
            os.environ["ALSA_CONFIG_PATH"] = str(config)
        if args.child:
            return _exit_while_playing(long_s=LONG_S if raw else 5)
        return Stress(args, raw).run()


class Stress:
    def __init__(self, args: argparse.Namespace, raw: Path | None) -> None:
        self.args = args
        self.raw = raw
        self.random = random.Random(args.seed)
        rng = np.random.default_rng(args.seed)
        long_s = LONG_S if raw else 3
        self.long = rng.integers(-20000, 20000, long_s * SAMPLE_RATE, dtype=np.int16)
        self.device = SimpleaudioDevice()
        self.counts: Counter[str] = Counter()

    def run(self) -> int:
        kinds: list[Callable[[], None]] = [self.finish, self.stop_part_way, self.restart,
                                           self.orphan, self.playback]
        started = time.monotonic()
        try:
            for cycle in range(1, self.args.cycles + 1):
                if self.args.exit_every and cycle % self.args.exit_every == 0:
                    self.exit_while_playing()
                else:
                    self.random.choice(kinds)()
        except Failure as failure:
            print(f"FAILED after {sum(self.counts.values())} cycles: {failure}")
            return 1
        finally:
            self.device.close()
        kinds_done = ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items()))
        print(f"{self.args.cycles} cycles in {time.monotonic() - started:.1f} s on Python"
              f" {sys.version.split()[0]} ({self.args.device}): {kinds_done}")
        return 0

    def short(self) -> Samples:
        length = self.random.randint(1, round(0.3 * SAMPLE_RATE))
        return self.long[:length].copy()

    def finish(self) -> None:
        samples = self.short()
        offset = self.random.randint(0, len(samples) - 1)
        self.device.start(samples, offset)
        self.wait()
        self.check_played(samples[offset:])
        self.counts["finish"] += 1

    def stop_part_way(self) -> None:
        self.device.start(self.long, self.random.randint(0, SAMPLE_RATE))
        time.sleep(self.random.uniform(0, 0.04))
        self.device.stop()
        self.device.stop()
        if self.device.is_playing():
            raise Failure("still playing after stop()")
        self.counts["stop"] += 1

    def restart(self) -> None:
        self.device.start(self.long, 0)
        time.sleep(self.random.uniform(0, 0.02))
        samples = self.short()
        self.device.start(samples, 0)
        if self.random.random() < 0.5:
            self.wait()
            self.check_played(samples)
        self.counts["restart"] += 1

    def orphan(self) -> None:
        length = self.random.randint(1, round(0.3 * SAMPLE_RATE))
        seed = self.random.randrange(2**32)
        self.device.start(_noise(length, seed), 0)
        gc.collect()
        self.wait()
        self.check_played(_noise(length, seed))
        self.counts["orphan"] += 1

    def playback(self) -> None:
        playback = Playback(self.device)
        playback.play(self.long, self.random.randint(0, SAMPLE_RATE))
        time.sleep(self.random.uniform(0, 0.01))
        playback.pause()
        playback.seek(self.random.randint(0, len(self.long)))
        playback.resume()
        time.sleep(self.random.uniform(0, 0.01))
        playback.seek(len(self.long) - self.random.randint(1, SAMPLE_RATE // 10))
        playback.stop()
        playback.stop()
        self.counts["playback"] += 1

    def exit_while_playing(self) -> None:
        command = [sys.executable, __file__, "--child", "--device", self.args.device]
        child = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if child.returncode != 0 or child.stderr:
            raise Failure(f"child exiting while playing: exit code {child.returncode},"
                          f" stderr {child.stderr!r}")
        self.counts["exit"] += 1

    def wait(self) -> None:
        deadline = time.monotonic() + 10
        while self.device.is_playing():
            if time.monotonic() > deadline:
                raise Failure("a play did not end within 10 s")
            time.sleep(0.001)

    def check_played(self, expected: Samples) -> None:
        if self.raw is None:
            return
        played = np.fromfile(self.raw, dtype="<i2")
        if not np.array_equal(played, expected):
            raise Failure(f"played {len(played)} samples, not the {len(expected)} given")


def _exit_while_playing(long_s: int) -> int:
    """Start a long play and leave it running: the device must stop it at exit."""
    device = SimpleaudioDevice()
    device.start(np.full(long_s * SAMPLE_RATE, 100, dtype=np.int16), 0)
    time.sleep(0.005)
    if not device.is_playing():
        print("the play ended before the child exited", file=sys.stderr)
        return 3
    return 0


def _noise(length: int, seed: int) -> Samples:
    return np.random.default_rng(seed).integers(-20000, 20000, length, dtype=np.int16)


def _file_config(raw: Path) -> str:
    file = f'type file; slave.pcm {{ type null }}; file "{raw}"; format "raw"'
    slave = f"pcm {{ {file} }}; format S16_LE; rate {SAMPLE_RATE}; channels 1"
    return f"pcm.!default {{ type plug; slave {{ {slave} }} }}\n"


if __name__ == "__main__":
    sys.exit(main())
