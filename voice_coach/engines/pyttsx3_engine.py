"""espeak-ng through pyttsx3 2.99: each line rendered by a fresh engine and checked.

pyttsx3 and espeak-ng have measured faults that shape this module; ``docs/engines.md``
describes each one and the workaround. In short:

- espeak keeps state between utterances, so only the first utterance of a fresh engine
  equals ``espeak-ng -w`` sample for sample: every line is rendered by a fresh engine, in a
  child forked by a helper process (``pyttsx3_backend``, ``pyttsx3_helper``).
- The rate property can be lost, so the rate travels in-band, as espeak's embedded speed
  command at the head of the text. That it is honoured is checked on every batch: the
  first line of every ``CHECK_EVERY`` is rendered a second time with the rate also set as
  the property, and the two must agree sample for sample.
- Every take is checked against what the engine said it produced (sample count and
  CRC-32), and a line that fails is rendered once more before ``SpeechError``.

The engine renders at espeak's full level; the voice volume is the mixer's business.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from voice_coach.engines.pyttsx3_backend import (
    ForkingBackend,
    SynthBackend,
    SynthJob,
    SynthReport,
)
from voice_coach.pcm import AudioFormatError, Samples, decode_audio
from voice_coach.speech import (
    SpeechError,
    SpeechSettings,
    VoiceInfo,
    preview,
    resolve_voice,
    speakable_text,
)

ENGINE_NAME: Final = "pyttsx3-espeak"
RECIPE_VERSION: Final = 1
"""Bump when the way lines are rendered changes the sound (it is part of cache keys)."""

CHECK_EVERY: Final = 64
"""Lines per rate check (see ``Pyttsx3Engine.render_many``)."""
ATTEMPTS: Final = 2
"""Renders of a line before it is given up (``SpeechError``)..."""
SILENT_ATTEMPTS: Final = 6
"""...unless every failure was a silent take (``SILENT_TAKE``), which costs this many."""
SILENT_TAKE: Final = "the engine rendered nothing"
"""A fresh espeak now and then ends an utterance without a sample: one callback, the end
of the message (a few renders in a thousand; two in a row for one line are rare but
happen). Rendered again, it speaks (``docs/engines.md`` has the measurements)."""


def pcm_crc32(samples: Samples) -> int:
    """CRC-32 of samples as little-endian 16-bit PCM."""
    return zlib.crc32(np.ascontiguousarray(samples, dtype="<i2").data)


def read_take(job: SynthJob, report: SynthReport) -> Samples | str:
    """The samples a job left in its file, or what is wrong with them (the file is removed)."""
    if report.error is not None:
        return report.error
    if report.delivered == 0:
        job.path.unlink(missing_ok=True)
        return SILENT_TAKE
    try:
        data = job.path.read_bytes()
    except FileNotFoundError:
        return "the engine wrote no file"
    except OSError as exc:
        return f"cannot read the engine's file ({exc.strerror or exc})"
    finally:
        job.path.unlink(missing_ok=True)
    try:
        samples = decode_audio(data, job.path.name)
    except AudioFormatError as exc:
        return str(exc)
    if samples.size == 0:
        return "the engine wrote an empty clip"
    if samples.size != report.delivered or pcm_crc32(samples) != report.crc32:
        return (f"the file holds {samples.size} samples, not the {report.delivered}"
                " the engine produced")
    return samples


def _compare(take: Samples | str, check: Samples | str, rate_wpm: int) -> str | None:
    """Why a take and its check render are not both good and equal, or None."""
    if isinstance(take, str):
        return take
    if isinstance(check, str):
        return check
    if not np.array_equal(take, check):
        return (f"two renders at {rate_wpm} wpm differ ({check.size} and {take.size} samples),"
                " so the engine did not apply the rate")
    return None


# --- The pyttsx3 engine ----------------------------------------------------------------


class Pyttsx3Engine:
    """espeak-ng through pyttsx3: each line rendered by a fresh engine and checked.

    Use from one thread only (it talks to one helper process). ``backend`` is for tests.
    """

    def __init__(self, backend: SynthBackend | None = None, *, parallel: int | None = None,
                 version: str | None = None) -> None:
        self._owner = threading.get_ident()
        self.name = ENGINE_NAME
        self.version = version if version is not None else engine_identity()
        # Its removal is arranged before the folder exists: no interrupt can strand it.
        self._dir = Path(tempfile.gettempdir()) / f"voice-coach-speech-{secrets.token_hex(8)}"
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self._dir.mkdir(mode=0o700)
        self._count = 0
        self._closed = False
        self._voices: list[VoiceInfo] | None = None
        if backend is None:
            try:
                backend = ForkingBackend(self._dir, parallel=parallel)
            except BaseException:
                self._finalizer()
                raise
        self._backend = backend

    def __enter__(self) -> Pyttsx3Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def voices(self) -> list[VoiceInfo]:
        self._check_thread()
        if self._voices is None:
            self._voices = self._backend.voices()
        return list(self._voices)

    def render(self, text: str, settings: SpeechSettings) -> Samples:
        """One line: ``render_many`` for a single text."""
        return self.render_many([text], settings)[0]

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None) -> list[Samples]:
        """Every text rendered and verified: a line is rendered again after a failure, up to
        ``ATTEMPTS`` renders (``SILENT_ATTEMPTS`` when it only ever came out silent), then
        ``SpeechError``.

        Each line is rendered once, with the rate in-band. Every ``CHECK_EVERY`` lines, one
        check renders the first of them again with the rate also set as the property; if
        the two differ, the engine did not honour the in-band rate and those lines are
        redone. ``on_clip(index, samples)`` hears of each line as soon as it is verified,
        while the others are still being rendered.
        """
        self._check_thread()
        voice = resolve_voice(self, settings.voice) if settings.voice is not None else None
        spoken = [speakable_text(text) for text in texts]
        results: dict[int, Samples] = {}
        problems: dict[int, str] = {}

        def settle(index: int, take: Samples | str, rate_problem: str | None) -> None:
            problem = take if isinstance(take, str) else rate_problem
            if problem is not None:
                problems[index] = problem
                return
            assert not isinstance(take, str)
            results[index] = take
            problems.pop(index, None)
            if on_clip is not None:
                on_clip(index, results[index])

        for index, text in enumerate(spoken):
            if not text:
                settle(index, np.zeros(0, dtype=np.int16), None)
        pending = [index for index, text in enumerate(spoken) if text]
        tries = dict.fromkeys(pending, 0)
        failures = dict.fromkeys(pending, 0)  # other than silent takes
        while pending:
            self._render_checked(spoken, pending, settings.rate_wpm, voice, settle)
            pending = [index for index in pending if index not in results]
            for index in pending:
                tries[index] += 1
                failures[index] += problems[index] != SILENT_TAKE
            given_up = [index for index in pending if failures[index] >= ATTEMPTS
                        or tries[index] >= SILENT_ATTEMPTS]
            if given_up:
                index = given_up[0]
                times = "twice" if tries[index] == 2 else f"{tries[index]} times"
                raise SpeechError(f'could not render "{preview(spoken[index])}":'
                                  f" {problems[index]} (tried {times})")
        return [results[index] for index in range(len(texts))]

    def _render_checked(self, spoken: Sequence[str], lines: list[int], rate_wpm: int,
                        voice: str | None,
                        settle: Callable[[int, Samples | str, str | None], None]) -> None:
        """One pass over ``lines``: jobs for a check and the takes of each group, their
        takes settled with the group's verdict as the reports come in."""
        groups = [lines[start:start + CHECK_EVERY] for start in range(0, len(lines), CHECK_EVERY)]
        jobs: list[SynthJob] = []
        owner: list[tuple[int, int | None]] = []  # (group, line) of each job; line None: check
        for number, group in enumerate(groups):
            jobs.append(self._job(spoken[group[0]], rate_wpm, voice, rate_property=True))
            owner.append((number, None))
            for index in group:
                jobs.append(self._job(spoken[index], rate_wpm, voice))
                owner.append((number, index))
        checks: dict[int, Samples | str] = {}
        takes: dict[int, Samples | str] = {}
        verdicts: dict[int, str | None] = {}
        waiting: dict[int, list[int]] = {number: [] for number in range(len(groups))}
        for job_number, report in self._backend.run(jobs):
            number, line = owner[job_number]
            take = read_take(jobs[job_number], report)
            if line is None:
                checks[number] = take
            else:
                takes[line] = take
                waiting[number].append(line)
            first = groups[number][0]
            if number not in verdicts and number in checks and first in takes:
                verdicts[number] = _compare(takes[first], checks[number], rate_wpm)
            if number in verdicts:
                for ready in waiting[number]:
                    settle(ready, takes[ready], verdicts[number])
                waiting[number] = []

    def close(self) -> None:
        if self._closed:
            return
        self._check_thread()
        self._closed = True
        try:
            self._backend.close()
        finally:
            self._finalizer()

    def _job(self, text: str, rate_wpm: int, voice: str | None, *,
             rate_property: bool = False) -> SynthJob:
        self._count += 1
        kind = "check" if rate_property else "take"
        return SynthJob(text, rate_wpm, voice, rate_property,
                        self._dir / f"{self._count:06d}.{kind}.wav")

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError("a Pyttsx3Engine must be used only by the thread that opened it")
        if self._closed:
            raise RuntimeError("this Pyttsx3Engine is closed")


class _Pyttsx3Factory:
    """Opens a ``Pyttsx3Engine``; knows its identity without loading pyttsx3 or espeak."""

    name = ENGINE_NAME

    @functools.cached_property
    def version(self) -> str:
        return engine_identity()

    def __call__(self) -> Pyttsx3Engine:
        return Pyttsx3Engine(version=self.version)


open_engine: Final = _Pyttsx3Factory()
"""The engine factory: ``open_engine()`` opens one; ``open_engine.version`` loads nothing."""


def engine_version() -> str:
    """pyttsx3's and espeak-ng's versions and ours, for people (it loads espeak)."""
    return (f"pyttsx3 {_pyttsx3_version()}; espeak-ng {_espeak_ng_version()};"
            f" recipe {RECIPE_VERSION}")


def engine_identity() -> str:
    """What cached clips are keyed on: like ``engine_version``, but without loading espeak.

    Every ``libespeak-ng.so.1`` where the dynamic loader looks is named with its size and
    modification time, so replacing the one in use changes the identity (loading the
    library to ask its version would cost a warm start dearly, see ``docs/engines.md``).
    When none is found there, the version is asked the slow way.
    """
    found = [path for folder in _library_folders()
             if (path := folder / _LIBRARY_NAMES[0]).is_file()]
    if not found:
        return engine_version()
    files = []
    for path in dict.fromkeys(p.resolve() for p in found):
        stat = path.stat()
        files.append(f"{path} {stat.st_size} {stat.st_mtime_ns}")
    return f"pyttsx3 {_pyttsx3_version()}; {'; '.join(files)}; recipe {RECIPE_VERSION}"


def _library_folders() -> list[Path]:
    """Where the dynamic loader finds libraries on Linux, roughly in its order."""
    arch = getattr(sys.implementation, "_multiarch", "")
    folders = [Path(f) for f in os.environ.get("LD_LIBRARY_PATH", "").split(":") if f]
    folders += [Path("/usr/local/lib")]
    if arch:
        folders += [Path("/lib") / arch, Path("/usr/lib") / arch]
    folders += [Path("/lib64"), Path("/usr/lib64"), Path("/lib"), Path("/usr/lib")]
    return folders


def _pyttsx3_version() -> str:
    """pyttsx3's version from its dist-info folder, without importing importlib.metadata
    (slow to import) or pyttsx3."""
    spec = importlib.util.find_spec("pyttsx3")
    if spec is None or spec.origin is None:
        return "missing"
    for info in Path(spec.origin).parent.parent.glob("pyttsx3-*.dist-info"):
        return info.name.removeprefix("pyttsx3-").removesuffix(".dist-info")
    from importlib import metadata

    try:
        return metadata.version("pyttsx3")
    except metadata.PackageNotFoundError:
        return "missing"


_LIBRARY_NAMES: Final = ("libespeak-ng.so.1", "/usr/local/lib/libespeak-ng.so.1",
                         "/opt/homebrew/lib/libespeak-ng.1.dylib",
                         "/usr/local/lib/libespeak-ng.1.dylib")


def _espeak_ng_version() -> str:
    for name in _LIBRARY_NAMES:
        try:
            library = ctypes.CDLL(name)
        except OSError:
            continue
        info = library.espeak_Info
        info.restype = ctypes.c_char_p
        info.argtypes = [ctypes.c_void_p]
        version: bytes | None = info(None)
        return version.decode("ascii", "replace") if version else "unknown"
    return "missing"


