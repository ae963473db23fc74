"""Section 10, through a sound server: how soon a pause falls silent, and where the resume
starts, through a real PulseAudio or PipeWire null sink.

``voice-coach play`` plays into a private server (``support.soundserver``) while a recorder
reads the sink's monitor, every block stamped with ``time.monotonic`` as it arrives. Each
``playerctl play-pause`` is pressed while a spoken line sounds (by ``Position``), so the
moment the sound stops shows in the recording: the session is sample for sample the export
(both run at 22,050 Hz mono, nothing is resampled) until the pause cuts it. The latency is
from just before ``playerctl`` starts to the arrival of the last sound before the cut (the
recorder's own 10 ms included). The resume error is where the resumed sound starts in the
export, against the first sample not heard: negative, samples heard twice; positive,
samples never heard.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks.measure import BenchError, progress, voice_coach_command
from support.bus import PrivateBus
from support.soundserver import SINK, SoundServer
from voice_coach.pcm import SAMPLE_RATE, Samples

WINDOW: Final = 256
"""Samples matched exactly to find where a stretch of the recording comes from."""
AFTER_START_S: Final = 0.3
BEFORE_END_S: Final = 0.8
"""A pause is pressed this far into a spoken line, and no later than this before its end."""
PLAYED_ON_S: Final = 1.0
"""How long a resumed play plays before the next pause."""
PAUSED_S: Final = 0.5


@dataclass
class TimedRecording:
    """What a sink played, and when each block of it arrived (``time.monotonic``)."""

    blocks: list[tuple[float, bytes]] = field(default_factory=list)

    def samples(self) -> tuple[Samples, np.ndarray[Any, np.dtype[np.float64]]]:
        """The samples, and each one's arrival time."""
        data = b"".join(block for _, block in self.blocks)
        count = len(data) // 2
        samples = np.frombuffer(data[: count * 2], dtype="<i2").astype(np.int16)
        stamps = np.concatenate([np.full(len(block) // 2, at) for at, block in self.blocks]
                                or [np.zeros(0)])
        return samples, stamps[:count]


@contextmanager
def timed_recording(env: Mapping[str, str]) -> Iterator[TimedRecording]:
    """Record the sink's monitor for the duration of the block."""
    recording = TimedRecording()
    recorder = subprocess.Popen(
        ["parecord", f"--device={SINK}.monitor", "--raw", f"--rate={SAMPLE_RATE}",
         "--channels=1", "--format=s16le", "--latency-msec=10"],
        env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    assert recorder.stdout is not None
    source = recorder.stdout.fileno()

    def read() -> None:
        while block := os.read(source, 4096):
            recording.blocks.append((time.monotonic(), block))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(0.3)
        yield recording
        time.sleep(0.5)
    finally:
        recorder.terminate()
        recorder.wait(timeout=10)
        reader.join(timeout=10)


@dataclass(frozen=True)
class Pauses:
    """Per pause: seconds from the press to the last sound, and the resume error (samples)."""

    silent_s: list[float]
    resume_error: list[int]


def measure_server(server: SoundServer, env: Mapping[str, str], bus: PrivateBus,
                   args: tuple[str, ...], export: Samples, timeline: dict[str, Any],
                   pauses: int) -> Pauses:
    """Play ``args`` through ``server`` and pause it ``pauses`` times from the bus."""
    lines = [(e["start_sample"] / SAMPLE_RATE, e["end_sample"] / SAMPLE_RATE)
             for e in timeline["events"] if e["kind"] == "speech"]
    pressed: list[float] = []
    with timed_recording(server.env) as recording:
        child = subprocess.Popen([*voice_coach_command(), "play", *args, "--quiet"],
                                 env=dict(env), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            bus.wait_for_player(15)
            played_on_since = time.monotonic()
            while len(pressed) < pauses:
                heard_s = _position_s(bus)
                speaking = any(start + AFTER_START_S <= heard_s <= end - BEFORE_END_S
                               for start, end in lines)
                if not speaking or time.monotonic() - played_on_since < PLAYED_ON_S:
                    time.sleep(0.02)
                    continue
                progress(f"10. media keys, {server.label}: pause {len(pressed) + 1}/{pauses}")
                pressed.append(time.monotonic())
                bus.playerctl("play-pause")
                time.sleep(PAUSED_S)
                bus.playerctl("play-pause")
                played_on_since = time.monotonic()
            time.sleep(PLAYED_ON_S)
            stop_play(bus, child)
        finally:
            kill_play(child)
    samples, stamps = recording.samples()
    return cuts(samples, stamps, export, pressed)


def stop_play(bus: PrivateBus, child: subprocess.Popen[str]) -> None:
    """Stop ``child``'s play from the bus and wait for it to end: a play that does not end
    with 0 is a ``BenchError`` with its stderr."""
    bus.playerctl("stop")
    _, err = child.communicate(timeout=30)
    if child.returncode != 0:
        raise BenchError(f"play ended with {child.returncode}: {err.strip()}")


def kill_play(child: subprocess.Popen[str]) -> None:
    """End ``child`` if it still plays: a measurement failed on the way."""
    if child.poll() is None:
        child.kill()
        child.wait()


def cuts(recorded: Samples, stamps: np.ndarray[Any, np.dtype[np.float64]], export: Samples,
         pressed: list[float]) -> Pauses:
    """Follow the recording through the export, one pause at a time."""
    first = int(np.flatnonzero(export)[0])
    at = _find(recorded, export[first:first + WINDOW], 0, len(recorded))
    if at is None:
        raise BenchError("the session's first sound is not in the recording")
    shift = at - first  # recorded index = export index + shift, for the current piece
    silent_s: list[float] = []
    errors: list[int] = []
    for press in pressed:
        start = max(int(np.searchsorted(stamps, press)), shift)
        upto = min(len(recorded), len(export) + shift)
        differ = np.flatnonzero(recorded[start:upto] != export[start - shift:upto - shift])
        if not len(differ):
            raise BenchError("a pause left no gap in the recording")
        cut = start + int(differ[0])
        sounding = np.flatnonzero(export[start - shift:cut - shift])
        last = start + int(sounding[-1]) if len(sounding) else start
        silent_s.append(max(float(stamps[last]) - press, 0.0))
        unheard = cut - shift  # the first sample of the export not heard
        resumed = cut + int(np.flatnonzero(recorded[cut:])[0])
        source = _find(export, recorded[resumed:resumed + WINDOW], unheard - SAMPLE_RATE,
                       unheard + SAMPLE_RATE)
        if source is None:
            raise BenchError("the resumed sound is not in the export near the pause")
        expected = unheard + int(np.flatnonzero(export[unheard:])[0])
        errors.append(source - (unheard if source < unheard else expected))
        shift = resumed - source
    return Pauses(silent_s, errors)


def _find(haystack: Samples, needle: Samples, lo: int, hi: int) -> int | None:
    lo, hi = max(lo, 0), min(hi + len(needle), len(haystack))
    if hi - lo < len(needle):
        return None
    found = np.flatnonzero((sliding_window_view(haystack[lo:hi], len(needle)) == needle)
                           .all(axis=1))
    return lo + int(found[0]) if len(found) else None


def _position_s(bus: PrivateBus) -> float:
    got = bus.playerctl("position")
    return float(got.stdout) if got.returncode == 0 and got.stdout.strip() else -1.0


def session_env(folder: Path, server: SoundServer, bus: PrivateBus) -> dict[str, str]:
    return {**server.env, **bus.env,
            "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={folder / 'no-system-bus'}"}
