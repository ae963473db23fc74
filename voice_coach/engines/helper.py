"""A speech engine's helper process: a Python function run as a process of its own.

Both engines render in a helper (``pyttsx3_helper``, ``piper_helper``): pyttsx3 because
espeak must be fresh for every line, Piper because its model and onnxruntime's arena
would otherwise stay in the player's memory for the whole session. ``HelperProcess`` is
the parent's side of either: it starts the helper in a session of its own (Ctrl-C reaches
only us), waits for its first line to say it is ready, and talks to it in JSON lines;
what the helper prints goes to a log whose last line names a helper's death. It never
outlives its owner: ``stop`` (or the garbage collector) ends it with its children.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from voice_coach.speech import SpeechError


class HelperDied(Exception):
    """The helper process closed its end of the conversation."""


class HelperNotReady(Exception):
    """The helper started but said it cannot serve; ``reply`` is what it said."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(str(reply.get("error")))
        self.reply = reply


class HelperProcess:
    """``module.function(*args)`` in a process of its own, answering in JSON lines.

    The helper's first line says whether it is ready (``{"ready": true}``); anything else
    raises ``HelperNotReady``. Its stderr goes to ``log`` (a private temporary file when
    None). A helper that does not answer by a deadline is a ``SpeechError``; one that
    closes its output, ``HelperDied``.
    """

    def __init__(self, module: str, function: str, args: Sequence[str], *,
                 log: Path | None = None, ready_timeout_s: float = 30.0) -> None:
        bootstrap = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]);"
                     f" from {module} import {function}; {function}(*sys.argv[2:])")
        # Read back by ``last_words``, so kept open until this object goes.
        self._log: IO[bytes] = (tempfile.TemporaryFile() if log is None  # noqa: SIM115
                                else log.open("a+b"))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", bootstrap, json.dumps(sys.path), *args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise SpeechError(f"cannot start the speech engine ({exc.strerror or exc})"
                              ) from None
        self._finalizer = weakref.finalize(self, _stop, self._process, True)
        self._buffer = b""
        try:
            ready = self.receive(time.monotonic() + ready_timeout_s)
        except BaseException:
            self.stop(at_once=True)
            raise
        if not ready.get("ready"):
            self.stop(at_once=True)
            raise HelperNotReady(ready)

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()
        except OSError:
            raise HelperDied() from None

    def receive(self, deadline: float) -> dict[str, Any]:
        """The helper's next JSON line, by ``deadline`` (``time.monotonic``)."""
        stdout = self._process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SpeechError("the speech engine stopped answering")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise HelperDied()
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def last_words(self) -> str:
        """The last line the helper logged, as ``" (...)"``, or nothing."""
        try:
            self._log.flush()
            size = os.fstat(self._log.fileno()).st_size
            tail = os.pread(self._log.fileno(), 4096, max(0, size - 4096))
        except (OSError, ValueError):
            return ""
        lines = tail.decode("utf-8", "replace").split("\n")
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return f" ({last})" if last else ""

    def stop(self, at_once: bool = False) -> None:
        """End the helper: politely (close its input, wait 2 s) unless ``at_once``, then by
        force, together with any children it is running."""
        self._finalizer.detach()
        _stop(self._process, at_once)


def _stop(process: subprocess.Popen[bytes], at_once: bool) -> None:
    if process.poll() is None and not at_once:
        assert process.stdin is not None
        try:
            process.stdin.close()
            process.wait(timeout=2.0)
        except (OSError, subprocess.TimeoutExpired):
            pass
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
