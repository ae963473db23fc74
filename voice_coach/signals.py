"""How a run reacts to Ctrl-C, SIGTERM and SIGHUP: the one place signal handlers are set.

Standard library only, so the console script can install the handlers before anything
heavy is imported (``entry``). SIGTERM and SIGHUP unwind like Ctrl-C (a KeyboardInterrupt),
so every ``finally`` and ``except BaseException`` clean-up runs whichever way a run is
stopped; once the outcome is decided, late signals are ignored; and a block that must not
be cut in half (the renames that publish an export) holds them until it is done.

A signal that lands while a module is being imported is held until the import is done:
an extension module cut off half-way through its initialisation can take the whole
interpreter down (soxr's nanobind aborts with "terminate called", the interpreter
segfaults, numpy's import fails with a traceback), and some runs interrupted so printed
their one line, then died by SIGINT (exit -2, CPython's exit for a KeyboardInterrupt it
counts as unhandled).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Final

STOPPING: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""The signals that stop a run: Ctrl-C, ``kill``, a closed terminal."""

RECHECK: Final = signal.SIGALRM
"""Brings a signal held during an import back: the timer's signal, used for nothing else."""

RECHECK_S: Final = 0.01
"""How often a held signal looks again whether the import is done."""

IMPORTING_FILES: Final = ("<frozen importlib._bootstrap>",
                          "<frozen importlib._bootstrap_external>")
"""Where the import machinery's frames come from: one on the stack means an import runs."""

_held: list[int] = []
"""The stopping signal that came during an import, until the import is done."""


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler: unwind like Ctrl-C, so clean-up code runs; during an import, once
    the import is done."""
    if importing(frame):
        _held[:] = [signum]
        signal.setitimer(signal.ITIMER_REAL, RECHECK_S)
        return
    raise KeyboardInterrupt


def deliver_held(signum: int, frame: FrameType | None) -> None:
    """The timer's handler: hand the held signal to whatever handles it now (it may be held
    again, remembered by ``stop_deferred``, or ignored once the outcome is decided)."""
    if not _held:
        return
    held = _held.pop()
    handler = signal.getsignal(held)
    if callable(handler):
        handler(held, frame)


def importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (a module's top level, or code it calls)."""
    while frame is not None:
        if frame.f_code.co_filename in IMPORTING_FILES:
            return True
        frame = frame.f_back
    return False


def interrupt_on_stop() -> None:
    """Make every stopping signal raise KeyboardInterrupt (SIGINT already does)."""
    signal.signal(RECHECK, deliver_held)
    for sig in STOPPING:
        signal.signal(sig, raise_interrupt)


def ignore_stop() -> None:
    """The outcome is decided: a late signal must not turn it into a traceback."""
    for sig in STOPPING:
        signal.signal(sig, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)
    _held.clear()


@contextlib.contextmanager
def stop_deferred() -> Iterator[None]:
    """Hold stopping signals until the block is done, then raise KeyboardInterrupt.

    Python runs a handler between bytecodes, possibly well after the signal came, so the
    handlers themselves are swapped: a signal that arrives during the block, or just
    before it and is handled inside it, is remembered and raised once the block is done.
    Off the main thread (which receives no signals) the block simply runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in STOPPING}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt
