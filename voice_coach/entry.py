"""The console script's first code: interrupts are handled before anything heavy loads.

Importing ``voice_coach.cli`` takes ~0.1 s (Click, numpy). ``cli.main`` handles signals
for the whole run, but only once that import is done: until then Ctrl-C printed a
traceback and SIGTERM or SIGHUP killed the process silently. This module imports
nothing heavy, so it can take over from the interpreter's first moment.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    try:
        from voice_coach.cli import main as run
    except KeyboardInterrupt:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        print("Error: interrupted", file=sys.stderr)
        sys.exit(130)
    run()
