"""An ALSA device that takes samples in real time and writes them to a file.

ALSA's ``file`` plugin over a ``null`` slave takes a whole buffer at once, faster than
real time, so it cannot stand in for a device that reads a stream as it plays (a device
that got ahead would read samples not yet written). Here the file plugin writes into a
pipe read by this module at the session's sample rate, through a one-page pipe: the
device is then never more than its own buffer and a page ahead of the clock, as a sound
card is. Each time the device is opened again (a pause, a seek) its samples are added to
the end of the file. Run as ``python -m support.paced RAW``: copy stdin to ``RAW`` at
real-time speed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np

from voice_coach.pcm import SAMPLE_RATE, Samples

PROJECT: Final = Path(__file__).resolve().parent.parent
_PIPE_BYTES: Final = 4096
_TICK_S: Final = 0.01


def paced_config(raw: Path) -> str:
    """An ALSA config whose default device plays into ``raw`` in real time."""
    command = (f"cd {shlex.quote(str(PROJECT))} && exec {shlex.quote(sys.executable)}"
               f" -m support.paced {shlex.quote(str(raw))}")
    return textwrap.dedent(f"""\
        pcm.!default {{
            type plug
            slave {{
                pcm {{ type file; slave.pcm {{ type null }}; file "| {command}"; format "raw" }}
                format S16_LE
                rate {SAMPLE_RATE}
                channels 1
            }}
        }}
        """)


@dataclass(frozen=True)
class PacedFile:
    """A config that sends ALSA's default device into ``raw``, at real-time speed."""

    config: Path
    raw: Path

    @classmethod
    def in_folder(cls, folder: Path) -> PacedFile:
        paced = cls(folder / "asound-paced.conf", folder / "played.raw")
        paced.config.write_text(paced_config(paced.raw))
        return paced

    @property
    def env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.config)}

    def samples(self) -> Samples:
        return np.fromfile(self.raw, dtype="<i2").astype(np.int16)


def copy_in_real_time(source: int, target: Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Copy file descriptor ``source`` to ``target`` at ``sample_rate`` 16-bit samples a
    second, until it ends; the writer blocks on the pipe meanwhile."""
    with contextlib.suppress(OSError):  # not a pipe (a file): pacing still holds
        fcntl.fcntl(source, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    with target.open("ab") as out:
        fcntl.flock(out, fcntl.LOCK_EX)  # a device opened again waits for the last to end
        _copy(source, out, sample_rate)


def _copy(source: int, out: BinaryIO, sample_rate: int) -> None:
    started = time.monotonic()
    taken = 0
    while True:
        owed = int((time.monotonic() - started) * sample_rate) * 2 - taken
        if owed <= 0:
            time.sleep(_TICK_S)
            continue
        data = os.read(source, min(owed, _PIPE_BYTES))
        if not data:
            return
        out.write(data)
        out.flush()
        taken += len(data)


if __name__ == "__main__":
    copy_in_real_time(0, Path(sys.argv[1]))
