"""Speech: text in, verified session-format samples out.

The engine is espeak-ng driven through pyttsx3 2.99, whose measured faults shape this module
(see AUDIO-NOTES.md; the numbers below were re-measured with espeak-ng 1.51):

- espeak keeps state between utterances (pitch flutter, wave phase, gain), so in one process
  the same line comes out differently depending on what was said before (±250 samples).
  Only the first utterance of a fresh engine equals ``espeak-ng -w`` sample for sample, and
  espeak cannot be re-initialised in-process. So every utterance is rendered by a *fresh*
  engine: a helper process (``synth_helper``, started once per ``Pyttsx3Engine``) forks one
  child per utterance. Children are cheap (~30 ms wall, ~10 ms CPU, the rest pyttsx3's
  10 ms polling sleeps), run in parallel, and keep pyttsx3's prints, espeak's stderr, hangs
  and crashes away from us.
- ``setProperty('rate')`` is queued inside espeak and dropped when ``runAndWait`` cancels a
  busy engine; ``getProperty('rate')`` is mis-declared and may report a value never applied.
  The rate therefore travels in-band, as espeak's embedded speed command at the head of the
  text (output identical to ``espeak-ng -s``), so the property is never relied on. That the
  in-band command is honoured is checked on every batch: its first line is rendered a
  second time by another engine with the rate also set as the property, and the two must
  agree sample for sample (lengths differ by 20-30 % when a rate is not applied, which a
  length model cannot tell on short lines: espeak's pauses scale unevenly with the rate).
- ``runAndWait`` after ``setProperty`` with no text queued never returns, and a failing
  file write inside the synthesis callback leaves the loop running forever: children only
  call ``runAndWait`` with a text queued, and a child that overruns is killed.
- pyttsx3 writes the WAV on the end-of-message event *before* appending that callback's
  samples, and appends chunks quadratically; a wrapped callback collects the chunks itself
  and hands the driver the whole buffer first. (With espeak-ng 1.51 the final callback
  carried no samples in 900 utterances measured, so nothing was lost, but it is cheap.)
- pyttsx3 initialises espeak with 1000 ms buffers, and espeak's samples depend on buffer
  size in rare cases; children use the library default, as the command line does, so
  every clip equals ``espeak-ng -s RATE -v VOICE -w`` (656 of 656 lines x rates x voices).

Volume is applied by scaling the verified samples (exact and independent of the engine);
the engine always renders at full amplitude, which is espeak's default.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import importlib.util
import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import numpy as np

from voice_coach.errors import VoiceCoachError
from voice_coach.pcm import AudioFormatError, Samples, decode_audio

if TYPE_CHECKING:
    from voice_coach.cache import ClipCache

DEFAULT_RATE_WPM: Final = 140
"""A calm guided-relaxation pace; relaxation narration is commonly 120-150 wpm."""
MIN_RATE_WPM: Final = 80
MAX_RATE_WPM: Final = 400

ENGINE_NAME: Final = "pyttsx3-espeak"
RECIPE_VERSION: Final = 1
"""Bump when the way lines are rendered changes the sound (it is part of cache keys)."""

ENGINE_NOT_FOUND: Final = (
    "speech engine not found: install espeak-ng (on Debian/Ubuntu: sudo apt-get install espeak-ng)"
)
JOB_TIMEOUT_S: Final = 30.0
"""A child that has not finished one line by then is stuck (synthesis runs ~100x real time)."""
CHECK_EVERY: Final = 64
"""Lines per rate check (see ``Pyttsx3Engine.render_many``)."""
CACHE_READERS: Final = 4
"""Threads reading cached clips (a warm 120-line session: 70 ms read one by one)."""


class SpeechError(VoiceCoachError):
    """Speech could not be rendered."""


class UnknownVoiceError(SpeechError):
    """The voice asked for is not one the engine has."""

    exit_code = 2


@dataclass(frozen=True)
class SpeechSettings:
    """How lines are spoken. ``voice`` is an engine voice id or a language; None: default."""

    rate_wpm: int = DEFAULT_RATE_WPM
    voice: str | None = None
    volume: float = 1.0

    def __post_init__(self) -> None:
        rate = self.rate_wpm
        if isinstance(rate, bool) or not isinstance(rate, int) or not (
            MIN_RATE_WPM <= rate <= MAX_RATE_WPM
        ):
            raise SpeechError(
                f"rate must be a whole number from {MIN_RATE_WPM} to {MAX_RATE_WPM}"
                f" words per minute, got {rate!r}"
            )
        if not (isinstance(self.volume, int | float) and math.isfinite(self.volume)
                and 0.0 <= self.volume <= 1.0):
            raise SpeechError(f"volume must be from 0 to 1, got {self.volume!r}")
        if self.voice is not None and not self.voice.strip():
            raise SpeechError("voice must not be empty; run 'voice-coach voices' to list them")


@dataclass(frozen=True)
class VoiceInfo:
    """One engine voice: ``id`` is what ``--voice`` takes (``gmw/en-us``)."""

    id: str
    name: str
    languages: tuple[str, ...]


@runtime_checkable
class EngineIdentity(Protocol):
    """What identifies the sound an engine makes; part of every cache key."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


class Engine(EngineIdentity, Protocol):
    """A text-to-speech engine producing session-format samples."""

    def render(self, text: str, settings: SpeechSettings) -> Samples: ...

    def voices(self) -> list[VoiceInfo]: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchEngine(Engine, Protocol):
    """An engine that renders several lines faster together than one by one."""

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None
                    ) -> list[Samples]: ...


class EngineFactory(EngineIdentity, Protocol):
    """Opens an engine and knows its identity before opening it (see ``render_clips``)."""

    def __call__(self) -> Engine: ...


# --- Pure helpers ---------------------------------------------------------------------


def speakable_text(text: str) -> str:
    """The text as the engine gets it: control characters become spaces, spaces collapse.

    espeak reads ``\\x01`` as the start of an embedded command, so no control character may
    reach it. Markup is not interpreted (no SSML flag is ever passed): ``<speak>`` is spoken.
    """
    visible = "".join(" " if unicodedata.category(char) in ("Cc", "Cs") else char
                      for char in text)
    return " ".join(visible.split())


def resolve_voice(engine: Engine, wanted: str) -> str:
    """The engine voice id for ``wanted``: a voice id or name, or a language (``en-us``, ``fr``).

    A language picks the voice named after it (``fr`` -> ``roa/fr``), else the first voice
    speaking it, else the first speaking a variant of it (``en`` -> ``en-gb``).
    """
    voices = engine.voices()
    want = wanted.strip().lower().replace("_", "-")
    rules: tuple[Callable[[VoiceInfo], bool], ...] = (
        lambda v: v.id.lower() == want or v.name.lower() == want,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == want,
        lambda v: want in (language.lower() for language in v.languages),
        lambda v: any(language.lower().startswith(want + "-") for language in v.languages),
    )
    for rule in rules:
        for voice in voices:
            if rule(voice):
                return voice.id
    raise UnknownVoiceError(f"unknown voice {wanted!r}; run 'voice-coach voices' to list them")


def render_clips(texts: Iterable[str], settings: SpeechSettings,
                 engine_factory: Callable[[], Engine], cache: ClipCache | None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Samples]:
    """Samples for every distinct text, from the cache or rendered (and then cached).

    The engine is opened only on the first cache miss and closed before returning, so a
    warm cache never loads it, provided the factory knows the engine's ``name`` and
    ``version`` (``open_engine`` does); any other factory is opened to learn them.
    ``progress(done, total)`` counts distinct texts.
    """
    wanted = list(dict.fromkeys(texts))
    total = len(wanted)
    clips: dict[str, Samples] = {}
    engine: Engine | None = None
    try:
        keys: dict[str, str] = {}
        if cache is not None:
            identity: EngineIdentity
            if isinstance(engine_factory, EngineIdentity):
                identity = engine_factory
            else:
                identity = engine = engine_factory()
            keys = {text: cache.key(text, settings, identity) for text in wanted}
        missing: list[str] = []
        for text, hit in zip(wanted, _cached(cache, [keys.get(text, "") for text in wanted]),
                             strict=True):
            if hit is None:
                missing.append(text)
            else:
                clips[text] = hit
                if progress is not None:
                    progress(len(clips), total)
        if missing and engine is None:
            engine = engine_factory()

        def store(position: int, samples: Samples) -> None:
            text = missing[position]
            clips[text] = samples
            if cache is not None:
                cache.put(keys[text], samples)
            if progress is not None:
                progress(len(clips), total)

        if missing:
            assert engine is not None
            if isinstance(engine, BatchEngine):
                engine.render_many(missing, settings, on_clip=store)
            else:
                for position, text in enumerate(missing):
                    store(position, engine.render(text, settings))
    finally:
        if engine is not None:
            engine.close()
    return {text: clips[text] for text in wanted}


def _cached(cache: ClipCache | None, keys: list[str]) -> Iterator[Samples | None]:
    """Each key's clip from the cache, or None: read by a few threads (reading and
    checksumming release the GIL), yielded in order as they come."""
    if cache is None:
        yield from (None for _ in keys)
        return
    if len(keys) < 4:
        yield from map(cache.get, keys)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=CACHE_READERS) as pool:
        yield from pool.map(cache.get, keys)


def apply_volume(samples: Samples, volume: float) -> Samples:
    """Samples scaled linearly by ``volume`` (0-1), rounded to the nearest integer."""
    if volume == 1.0:
        return samples
    return np.rint(samples.astype(np.float64) * volume).astype(np.int16)


# --- Verified rendering ----------------------------------------------------------------


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


def pcm_crc32(samples: Samples) -> int:
    """CRC-32 of samples as little-endian 16-bit PCM."""
    return zlib.crc32(np.ascontiguousarray(samples, dtype="<i2").data)


def read_take(job: SynthJob, report: SynthReport) -> Samples | str:
    """The samples a job left in its file, or what is wrong with them (the file is removed)."""
    if report.error is not None:
        return report.error
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


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
        return self.render_many([text], settings)[0]

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None) -> list[Samples]:
        """Every text rendered and verified; one retry per line, then ``SpeechError``.

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
            results[index] = apply_volume(take, settings.volume)
            problems.pop(index, None)
            if on_clip is not None:
                on_clip(index, results[index])

        for index, text in enumerate(spoken):
            if not text:
                settle(index, np.zeros(0, dtype=np.int16), None)
        pending = [index for index, text in enumerate(spoken) if text]
        for _attempt in range(2):
            if pending:
                self._render_checked(spoken, pending, settings.rate_wpm, voice, settle)
            pending = [index for index in pending if index not in results]
        if pending:
            index = pending[0]
            raise SpeechError(
                f'could not render "{_preview(spoken[index])}": {problems[index]} (tried twice)'
            )
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
"""The engine factory: ``open_engine()`` opens one; ``open_engine.version`` costs ~1 ms."""


def engine_version() -> str:
    """pyttsx3's and espeak-ng's versions and ours, for people (loading espeak: ~16 ms)."""
    return (f"pyttsx3 {_pyttsx3_version()}; espeak-ng {_espeak_ng_version()};"
            f" recipe {RECIPE_VERSION}")


def engine_identity() -> str:
    """What cached clips are keyed on: like ``engine_version``, but without loading espeak.

    Every ``libespeak-ng.so.1`` where the dynamic loader looks is named with its size and
    modification time, so replacing the one in use changes the identity (loading the
    library to ask its version took 16 ms of a 0.2 s warm start). When none is found
    there, the version is asked the slow way.
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
    (25 ms) or pyttsx3."""
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
                     " from voice_coach.synth_helper import serve_helper; serve_helper()")
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
