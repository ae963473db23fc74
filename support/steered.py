"""A ``voice-coach play`` steered over buses of its own, and what its device was handed.

``Play`` holds one play into its own paced device (``support.paced``) with its private
session bus and, if asked, a private system bus with a stand-in logind
(``support.login1``). ``segments`` says which pieces of the export a device was handed
when a session was skipped about, to the sample; ``assert_handed_exactly`` that it was
handed the whole export and then silence.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from support.bus import PrivateBus
from support.login1 import StandInLogind
from support.paced import PacedFile
from support.processes import size_of
from voice_coach.pcm import SAMPLE_RATE, Samples

TAIL_S: Final = 0.5
"""The most silence a device is handed past a session's end."""


@dataclass
class Play:
    """One ``voice-coach play`` into its own paced device, on its own bus (if any)."""

    device: PacedFile
    bus: PrivateBus | None
    child: subprocess.Popen[Any]
    home: Path
    logind: StandInLogind | None = None
    system_bus: PrivateBus | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def held(self) -> int:
        """How many inhibitors the stand-in logind sees held."""
        assert self.logind is not None
        return len(self.logind.held())

    def taken_s(self) -> float:
        return size_of(self.device.raw) / 2 / SAMPLE_RATE

    def outcomes(self) -> list[str]:
        path = self.home / "data" / "voice-coach" / "history.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line)["outcome"] for line in lines]

    def finish(self, timeout_s: float = 60.0) -> tuple[int, str, str]:
        try:
            stdout, stderr = self.child.communicate(timeout=timeout_s)  # None: a terminal's
        finally:
            if self.child.poll() is None:
                self.child.kill()
                self.child.wait()
            if self.bus is not None:
                self.bus.close()
        return self.child.returncode, stdout or "", stderr or ""

    def close_logind(self) -> None:
        if self.logind is not None:
            self.logind.close()
        if self.system_bus is not None:
            self.system_bus.close()

    def end(self) -> None:
        """Kill the play if it still runs, and close its buses and stand-in logind."""
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        if self.bus is not None:
            self.bus.close()
        self.close_logind()

def wait_until(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s:g} s")
        time.sleep(0.005)


def step_start(timeline: dict[str, Any], step: int) -> int:
    """Where step ``step`` (from 0) starts in a ``timeline.json``, in samples."""
    return min(int(e["start_sample"]) for e in timeline["events"] if e["step"] == step)


def segments(played: Samples, expected: Samples, targets: Sequence[int]) -> list[tuple[int, int]]:
    """Where each piece of ``played`` comes from in ``expected``: the first from its start,
    each next one from the next of ``targets``, to the sample. Each piece as (where it
    starts in ``played``, its length); raises when ``played`` is not made so."""
    pieces, at, source = [], 0, 0
    for target in [*targets, None]:
        length = min(len(played) - at, len(expected) - source)
        differ = np.flatnonzero(played[at:at + length] != expected[source:source + length])
        upto = at + (int(differ[0]) if len(differ) else length)
        if target is None:
            assert upto == len(played) or source + upto - at == len(expected), (
                f"the last piece differs from the export at {upto / SAMPLE_RATE:.3f} s")
            pieces.append((at, upto - at))
            return pieces
        # The cut is at or before the first difference: where both sounds were the same.
        for cut in range(upto, max(at, upto - SAMPLE_RATE // 2) - 1, -1):
            window = min(len(played) - cut, len(expected) - target, SAMPLE_RATE // 2)
            if window > 0 and np.array_equal(played[cut:cut + window],
                                             expected[target:target + window]):
                break
        else:
            raise AssertionError(f"nothing at {upto / SAMPLE_RATE:.3f} s plays from sample"
                                 f" {target} of the export")
        pieces.append((at, cut - at))
        at, source = cut, target
    raise AssertionError("unreachable")  # pragma: no cover


def assert_handed_exactly(played: Samples, expected: Samples) -> None:
    assert np.array_equal(played[:len(expected)], expected)
    assert not played[len(expected):].any()
    assert len(played) - len(expected) <= TAIL_S * SAMPLE_RATE
