"""The parent side of the pyttsx3 helper process: jobs out, reports back.

``Pyttsx3Engine`` renders through a ``SynthBackend``; the real one, ``ForkingBackend``,
starts ``pyttsx3_helper`` as its own process (``helper.HelperProcess``). The helper
forks one fresh pyttsx3 engine per job (why: ``docs/engines.md``); this side keeps the
conversation honest (answers complete and well-formed, a helper that dies started again
once, a stuck one ended) and turns what the helper says into ``SpeechError``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from voice_coach.engines.helper import HelperDied, HelperNotReady, HelperProcess
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
    A helper that dies is started again once per request.
    """

    def __init__(self, directory: Path, *, parallel: int | None = None,
                 job_timeout_s: float = JOB_TIMEOUT_S) -> None:
        self._parallel = parallel or min(8, 4 * (os.cpu_count() or 1))
        self._job_timeout_s = job_timeout_s
        self._log = directory / "engine.log"
        self._helper = self._start()

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
        self._helper.stop()

    def _start(self) -> HelperProcess:
        try:
            return HelperProcess("voice_coach.engines.pyttsx3_helper", "serve_helper", [],
                                 log=self._log)
        except HelperNotReady as exc:
            raise _not_ready_error(exc.reply) from None

    def _request(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each task's number and result, as the helper's children finish them. A helper
        that dies is started again once, for the tasks it had not answered."""
        remaining = dict(enumerate(tasks))
        for attempt in range(2):
            if not remaining:
                return
            if not self._helper.alive():
                self._helper.stop()
                self._helper = self._start()
            numbers = list(remaining)
            message = {"tasks": [remaining[n] for n in numbers], "parallel": self._parallel,
                       "timeout_s": self._job_timeout_s, "log": str(self._log)}
            try:
                for position, result in self._exchange(message, len(numbers)):
                    number = numbers[position]
                    del remaining[number]
                    yield number, result
                return
            except HelperDied:
                if attempt == 1:
                    raise SpeechError("the speech engine stopped unexpectedly"
                                      f"{self._helper.last_words()}") from None

    def _exchange(self, message: dict[str, Any], count: int
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Send one request and yield its answers; if stopped before the end (an interrupt, a
        caller that gave up), end the helper at once, children and all."""
        helper = self._helper
        finished = False
        try:
            helper.send(message)
            answered: set[int] = set()
            while True:
                # A child that hangs is killed after the job timeout, so answers keep coming.
                reply = helper.receive(time.monotonic() + self._job_timeout_s + 10.0)
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
        finally:
            if not finished:
                helper.stop(at_once=True)
