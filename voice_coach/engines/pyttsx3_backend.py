"""The parent side of the pyttsx3 helper process: jobs out, reports back.

``Pyttsx3Engine`` renders through a ``SynthBackend``; the real one, ``ForkingBackend``,
starts ``pyttsx3_helper`` as its own process and talks to it in JSON lines. The helper
forks one fresh pyttsx3 engine per job (why: ``docs/engines.md``); this side keeps the
conversation honest (answers complete and well-formed, a helper that dies started again
once, a stuck one ended) and turns what the helper says into ``SpeechError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from voice_coach.speech import SpeechError, VoiceInfo

ENGINE_NOT_FOUND: Final = (
    "speech engine not found: install espeak-ng (on Debian/Ubuntu: sudo apt-get install espeak-ng)"
)
JOB_TIMEOUT_S: Final = 30.0
"""A child that has not finished one line by then is stuck (synthesis is far faster than
real time)."""


@dataclass(frozen=True)
class SynthJob:
    """One utterance for one fresh engine, written as WAV to ``path``.

    The rate always travels in-band; ``rate_property`` also sets it as the engine property
    (the check render, see ``Pyttsx3Engine.render_many``).
    """

    text: str
    rate_wpm: int
    voice: str | None
    rate_property: bool
    path: Path


@dataclass(frozen=True)
class SynthReport:
    """What the engine said it did: samples delivered to its callback and their CRC-32
    (a check that the file arrived whole, not a seal: the cache has its own SHA-256)."""

    error: str | None
    delivered: int = 0
    crc32: int = 0


class SynthBackend(Protocol):
    """Runs jobs, each in a fresh engine; yields each job's number and report as it ends."""

    def run(self, jobs: Sequence[SynthJob]) -> Iterator[tuple[int, SynthReport]]: ...

    def voices(self) -> list[VoiceInfo]: ...

    def close(self) -> None: ...


def _not_ready_error(reply: dict[str, Any]) -> SpeechError:
    """The user's view of a helper that could not load pyttsx3 or espeak-ng."""
    cause, error = reply.get("cause"), reply.get("error")
    if cause == "engine":
        return SpeechError(ENGINE_NOT_FOUND)
    if cause == "pyttsx3":
        return SpeechError(f"pyttsx3 is missing ({error}); reinstall voice-coach")
    return SpeechError(f"speech engine failed to start: {error}")


# --- The helper process (imperative shell around pyttsx3) ------------------------------


class ForkingBackend:
    """A helper process that forks one fresh pyttsx3 engine per job, several at a time.

    The helper is single-threaded (it never loads espeak itself), so forking it is safe.
    It runs in its own session: Ctrl-C reaches only us, and ``close`` ends it and its
    children together. A helper that dies is started again once per request.
    """

    def __init__(self, directory: Path, *, parallel: int | None = None,
                 job_timeout_s: float = JOB_TIMEOUT_S) -> None:
        self._parallel = parallel or min(8, 4 * (os.cpu_count() or 1))
        self._job_timeout_s = job_timeout_s
        self._log = directory / "engine.log"
        self._process = self._start()
        self._finalizer = weakref.finalize(self, _stop_helper, self._process, False)

    def run(self, jobs: Sequence[SynthJob]) -> Iterator[tuple[int, SynthReport]]:
        tasks = [{"op": "render", "text": job.text, "rate": job.rate_wpm, "voice": job.voice,
                  "rate_property": job.rate_property, "path": str(job.path)} for job in jobs]
        for index, result in self._request(tasks):
            yield index, SynthReport(error=result.get("error"),
                                     delivered=int(result.get("delivered", 0)),
                                     crc32=int(result.get("crc32", -1)))

    def voices(self) -> list[VoiceInfo]:
        # Read to the end: a request left half-read ends the helper.
        result = dict(self._request([{"op": "voices"}]))[0]
        if result.get("error"):
            raise SpeechError(f"cannot list the engine's voices: {result['error']}")
        return [VoiceInfo(id=str(v["id"]), name=str(v["name"]),
                          languages=tuple(str(x) for x in v["languages"]))
                for v in result["voices"]]

    def close(self) -> None:
        self._finalizer.detach()
        _stop_helper(self._process, False)

    def _start(self) -> subprocess.Popen[bytes]:
        bootstrap = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]);"
                     " from voice_coach.engines.pyttsx3_helper import serve_helper; serve_helper()")
        try:
            with self._log.open("ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-c", bootstrap, json.dumps(sys.path)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                    start_new_session=True,
                )
        except OSError as exc:
            raise SpeechError(f"cannot start the speech engine ({exc.strerror or exc})") from None
        self._buffer = b""
        try:
            ready = self._receive(process, deadline=time.monotonic() + 30.0)
        except BaseException:
            _stop_helper(process, True)
            raise
        if not ready.get("ready"):
            _stop_helper(process, True)
            raise _not_ready_error(ready)
        return process

    def _request(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each task's number and result, as the helper's children finish them. A helper
        that dies is started again once, for the tasks it had not answered."""
        remaining = dict(enumerate(tasks))
        for attempt in range(2):
            if not remaining:
                return
            if self._process.poll() is not None:
                self._finalizer.detach()
                self._process = self._start()
                self._finalizer = weakref.finalize(self, _stop_helper, self._process, False)
            numbers = list(remaining)
            message = json.dumps({"tasks": [remaining[n] for n in numbers],
                                  "parallel": self._parallel, "timeout_s": self._job_timeout_s,
                                  "log": str(self._log)})
            try:
                for position, result in self._exchange(message, len(numbers)):
                    number = numbers[position]
                    del remaining[number]
                    yield number, result
                return
            except _HelperDied:
                if attempt == 1:
                    raise SpeechError(
                        f"the speech engine stopped unexpectedly{self._last_words()}") from None

    def _exchange(self, message: str, count: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """Send one request and yield its answers; if stopped before the end (an interrupt, a
        caller that gave up), end the helper at once, children and all."""
        process = self._process
        assert process.stdin is not None
        finished = False
        try:
            process.stdin.write(message.encode() + b"\n")
            process.stdin.flush()
            answered: set[int] = set()
            while True:
                # A child that hangs is killed after the job timeout, so answers keep coming.
                reply = self._receive(process, time.monotonic() + self._job_timeout_s + 10.0)
                if "done" in reply:
                    if answered != set(range(count)):
                        raise SpeechError("the speech engine gave a malformed answer")
                    finished = True
                    return
                position = reply.get("index")
                if not isinstance(position, int) or not 0 <= position < count \
                        or position in answered or not isinstance(reply.get("result"), dict):
                    raise SpeechError("the speech engine gave a malformed answer")
                answered.add(position)
                yield position, reply["result"]
        except OSError:
            raise _HelperDied() from None
        finally:
            if not finished:
                _stop_helper(process, True)

    def _receive(self, process: subprocess.Popen[bytes], deadline: float) -> dict[str, Any]:
        """The helper's next JSON line."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SpeechError("the speech engine stopped answering")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _HelperDied()
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _last_words(self) -> str:
        """The last line the helper logged, as ``" (...)"``, or nothing."""
        try:
            lines = self._log.read_text(encoding="utf-8", errors="replace").split("\n")
        except OSError:
            return ""
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return f" ({last})" if last else ""


class _HelperDied(Exception):
    """The helper process closed its end of the conversation."""


def _stop_helper(process: subprocess.Popen[bytes], at_once: bool) -> None:
    """End the helper: politely (close its input, wait 2 s) unless ``at_once``, then by force,
    together with any children it is running."""
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
