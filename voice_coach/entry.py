"""The console script's first and last code: interrupts are handled before anything heavy
loads, and output that cannot be written is one line, not Python's "Exception ignored".

Importing ``voice_coach.cli`` takes about a tenth of a second (Click, numpy). Until the
handlers are in place Ctrl-C printed a traceback and SIGTERM or SIGHUP killed the process
silently, so this module imports only the standard library and ``voice_coach.signals``,
and takes over from the interpreter's first moment.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn, TextIO

from voice_coach.signals import ignore_stop, interrupt_on_stop


def main() -> None:
    """Console-script entry point."""
    interrupt_on_stop()
    try:
        from voice_coach.cli import main as run
    except KeyboardInterrupt:
        ignore_stop()
        print("Error: interrupted", file=sys.stderr)
        sys.exit(130)
    try:
        run()
    except SystemExit as done:
        leave(done.code)
    leave(0)


def leave(code: object) -> NoReturn:
    """Exit with ``code``, once stdout's last bytes are out or told as lost.

    The interpreter flushes stdout at exit, and a failure there (a full disk, a reader
    that left) becomes "Exception ignored" and exit 120. So the flush is done here: a
    closed pipe ends the run quietly with exit 1 (nobody is left to tell); any other
    failure is one line. Either way stdout then points at /dev/null, so the interpreter's
    own flush finds nothing left to fail on; stderr likewise when a closed terminal
    cannot take the last line.
    """
    status = code if isinstance(code, int) else 0 if code is None else 1
    if not isinstance(code, int) and code is not None:
        print(code, file=sys.stderr)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left: nobody to tell
        status = status or 1
        _discard(sys.stdout)
    except OSError as exc:  # a full disk
        if status == 0:  # else the failure was told already (cli.main), maybe this same one
            print(f"Error: cannot write the output ({exc.strerror or exc})", file=sys.stderr)
            status = 1
        _discard(sys.stdout)
    try:
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed terminal: nobody left to tell
        _discard(sys.stderr)
    sys.exit(status)


def _discard(stream: TextIO) -> None:
    """Point ``stream``'s descriptor at /dev/null, so what is still buffered goes nowhere
    and the interpreter's own flush at exit cannot fail (it would make the exit 120)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
