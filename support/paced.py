"""An ALSA device that takes samples in real time and writes them to a file.

ALSA's ``file`` plugin over a ``null`` slave takes a whole buffer at once, faster than
real time, so it cannot stand in for a device that reads a stream as it plays (a device
that got ahead would read samples not yet written). Here the file plugin writes into a
named pipe of one page, read by a thread of the test's process at the session's sample
rate: the device is then never more than its own buffer and a page ahead of the clock,
as a sound card is. The pipe is made and shrunk before any device opens it: a pipe the
plugin opened itself (``file "| command"``) holds 64 KiB, and a reader started by it could
only shrink it while it held less than a page, which it never did (EBUSY), so the device
ran up to 1.5 s ahead. Each time the device is opened again (a pause, a seek) its samples
are added to the end of the file; the clock starts again with the first byte after a pause.
"""

from __future__ import annotations

import fcntl
import os
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from voice_coach.pcm import SAMPLE_RATE, Samples

_PIPE_BYTES: Final = 4096
_TICK_S: Final = 0.01


def paced_config(pipe: Path) -> str:
    """An ALSA config whose default device plays into the named pipe ``pipe``."""
    return textwrap.dedent(f"""\
        pcm.!default {{
            type plug
            slave {{
                pcm {{ type file; slave.pcm {{ type null }}; file "{pipe}"; format "raw" }}
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
        """Make the pipe and start its reader (a daemon thread, for the process's life)."""
        paced = cls(folder / "asound-paced.conf", folder / "played.raw")
        pipe = folder / "device.pipe"
        os.mkfifo(pipe)
        # Read and write: the pipe never reads as ended between two opens of the device.
        source = os.open(pipe, os.O_RDWR | os.O_NONBLOCK)
        fcntl.fcntl(source, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        paced.raw.touch()
        threading.Thread(target=copy_in_real_time, args=(source, paced.raw), daemon=True,
                         name="paced-device").start()
        paced.config.write_text(paced_config(pipe))
        return paced

    @property
    def env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.config)}

    def samples(self) -> Samples:
        return np.fromfile(self.raw, dtype="<i2").astype(np.int16)


def copy_in_real_time(source: int, target: Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Copy the non-blocking ``source`` to ``target`` at ``sample_rate`` 16-bit samples a
    second, for ever; the writer blocks on the pipe meanwhile. An empty pipe (the device
    closed) stops the clock; the next byte starts it again."""
    started: float | None = None
    taken = 0
    with target.open("ab") as out:
        while True:
            now = time.monotonic()
            owed = _PIPE_BYTES
            if started is not None:
                owed = int((now - started) * sample_rate) * 2 - taken
            if owed <= 0:
                time.sleep(_TICK_S)
                continue
            try:
                data = os.read(source, min(owed, _PIPE_BYTES))
            except BlockingIOError:
                started = None
                time.sleep(_TICK_S)
                continue
            if started is None:
                started, taken = now, 0
            out.write(data)
            out.flush()
            taken += len(data)
