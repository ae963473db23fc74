"""Fakes for the edges the core is handed: a clock that moves only when a test moves it."""

from __future__ import annotations


class FakeClock:
    """A ``time.monotonic`` stand-in: calling it reads ``now``; a test sets or advances it."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
