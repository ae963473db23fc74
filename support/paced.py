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

A pause drops (``snd_pcm_drop``): the file plugin's drop writes what it holds into the pipe
before it returns, and ``null`` reports a delay of 0, so this device plays every sample it
took and says nothing was dropped. That is the truth about it, and a resume from what it
took is exact here; a device that discards what it holds is ``support.fakes.FakeDevice``
with ``holds_s``, and the real sound servers (benchmark section 10).

A ``DeviceClock`` makes it a device that does not keep the wall clock: one whose crystal
runs slow, that stalls for a while (a Bluetooth sink waking up), that starts late, or
that stops taking samples altogether.
"""

from __future__ import annotations

import fcntl
import os
import select
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
class DeviceClock:
    """How a test device takes samples: ``speed`` times real time, nothing for ``late_s``
    after its first byte, nothing for ``stall_s`` once it has taken ``stall_after_s`` of
    sound, and nothing ever again once it has taken ``dies_after_s``."""

    speed: float = 1.0
    late_s: float = 0.0
    stall_after_s: float | None = None
    stall_s: float = 0.0
    dies_after_s: float | None = None


REAL_TIME: Final = DeviceClock()


@dataclass(frozen=True)
class PacedFile:
    """A config that sends ALSA's default device into ``raw``, at real-time speed."""

    config: Path
    raw: Path

    @classmethod
    def in_folder(cls, folder: Path, clock: DeviceClock = REAL_TIME) -> PacedFile:
        """Make the pipe and start its reader (a daemon thread, for the process's life)."""
        paced = cls(folder / "asound-paced.conf", folder / "played.raw")
        pipe = folder / "device.pipe"
        os.mkfifo(pipe)
        # Read and write: the pipe never reads as ended between two opens of the device.
        source = os.open(pipe, os.O_RDWR | os.O_NONBLOCK)
        fcntl.fcntl(source, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        paced.raw.touch()
        threading.Thread(target=copy_in_real_time, args=(source, paced.raw, SAMPLE_RATE, clock),
                         daemon=True, name="paced-device").start()
        paced.config.write_text(paced_config(pipe))
        return paced

    @property
    def env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.config)}

    def samples(self) -> Samples:
        return np.fromfile(self.raw, dtype="<i2").astype(np.int16)

    def played(self, quiet_s: float = 0.3) -> Samples:
        """What it has played once it has played all it was handed: a player that closed
        it leaves up to a page in the pipe, its buffer, taken at the device's pace."""
        size, since = -1, time.monotonic()
        while time.monotonic() - since < quiet_s:
            time.sleep(_TICK_S)
            if self.raw.stat().st_size != size:
                size, since = self.raw.stat().st_size, time.monotonic()
        return self.samples()


def copy_in_real_time(source: int, target: Path, sample_rate: int = SAMPLE_RATE,
                      clock: DeviceClock = REAL_TIME) -> None:
    """Copy the non-blocking ``source`` to ``target`` at ``sample_rate`` 16-bit samples a
    second (times ``clock.speed``), for ever; the writer blocks on the pipe meanwhile. An
    empty pipe (the device closed) stops the clock; the next byte starts it again. The
    faults of ``clock`` come on the first time the device has taken that much."""
    started: float | None = None
    taken = total = 0
    stall_at = _bytes(clock.stall_after_s, sample_rate)
    dies_at = _bytes(clock.dies_after_s, sample_rate)
    late_s = clock.late_s
    with target.open("ab") as out:
        while True:
            now = time.monotonic()
            owed = _PIPE_BYTES
            if started is not None:
                owed = int((now - started) * sample_rate * clock.speed) * 2 - taken
            if stall_at is not None:
                owed = min(owed, stall_at - total)
            if dies_at is not None:
                owed = min(owed, dies_at - total)
            if stall_at is not None and total >= stall_at:
                time.sleep(clock.stall_s)
                stall_at, started, taken = None, time.monotonic(), 0
                continue
            if dies_at is not None and total >= dies_at:
                time.sleep(_TICK_S)
                continue
            if owed <= 0:
                time.sleep(_TICK_S)
                continue
            if started is None and late_s and select.select([source], [], [], _TICK_S)[0]:
                time.sleep(late_s)  # the first byte is there: it is taken late_s later
                late_s = 0.0
            try:
                data = os.read(source, min(owed, _PIPE_BYTES))
            except BlockingIOError:
                # Empty for a whole tick: the device closed. Sooner, the writer is only
                # refilling it (a fast clock drains a page in a few milliseconds).
                if not select.select([source], [], [], _TICK_S)[0]:
                    started = None
                continue
            if started is None:
                started, taken = time.monotonic(), 0
            out.write(data)
            out.flush()
            taken += len(data)
            total += len(data)


def _bytes(seconds: float | None, sample_rate: int) -> int | None:
    return None if seconds is None else round(seconds * sample_rate) * 2
