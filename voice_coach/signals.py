"""How a run reacts to Ctrl-C, SIGTERM and SIGHUP: the one place signal handlers are set.

Standard library only, so the console script can install the handlers before anything
heavy is imported (``entry``). SIGTERM and SIGHUP unwind like Ctrl-C (a KeyboardInterrupt),
so every ``finally`` and ``except BaseException`` clean-up runs whichever way a run is
stopped; once the outcome is decided, late signals are ignored; and a block that must not
be cut in half (the renames that publish an export) holds them until it is done.
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


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler: unwind like Ctrl-C, so clean-up code runs."""
    raise KeyboardInterrupt


def interrupt_on_stop() -> None:
    """Make every stopping signal raise KeyboardInterrupt (SIGINT already does)."""
    for sig in STOPPING:
        signal.signal(sig, raise_interrupt)


def ignore_stop() -> None:
    """The outcome is decided: a late signal must not turn it into a traceback."""
    for sig in STOPPING:
        signal.signal(sig, signal.SIG_IGN)


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
