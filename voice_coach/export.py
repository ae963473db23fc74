"""Writing a session to files: narration clips, the mixed session, captions, chapters,
the timeline, in the format asked for (``formats``: WAV, FLAC, MP3, Ogg Opus or M4A).

All or nothing: every file is written beside its final name under a hidden temporary
name, and only when all are complete are they renamed into place. An interrupt, a full
disk or any error removes the temporaries, so the folder holds either the complete
previous export or the complete new one, never a truncated file. Tagging (chapters) is
part of writing a file, so it too happens before the renames.

The session is mixed and written on the calling thread, and each narration clip is
written as the mix reaches its line, from the clip the mix has just used (``_Files``): a
warm export reads each cached line once, however long the session. A lossy format's
clips are encoded on a worker thread beside the session (the encoders leave Python's
lock while they work). An error in any file stops the rest.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import errno
import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voice_coach import ambient
from voice_coach.errors import VoiceCoachError
from voice_coach.formats import FORMATS, Chapter, Format, Tags
from voice_coach.mix import Mixer
from voice_coach.pcm import Samples
from voice_coach.plan import Event, Timeline, to_dict
from voice_coach.signals import stop_deferred

CHUNK_S = 10
"""Seconds of session mixed and written at a time: bounds memory for long sessions."""
FLUSH_THREADS = 8
"""Threads that fsync written files while the next ones are written (see ``Flusher``)."""
ENCODE_THREADS = 2
"""Threads that encode a lossy format's files, one per core of a small machine: the
calling thread (the session) and ``ENCODE_THREADS - 1`` workers (the narration)."""
_QUEUED_PER_THREAD = 2
"""Clips handed to the encoding threads ahead, per thread: enough to keep them busy, few
clips held."""
NARRATION_DIR = "narration"
_NARRATION_NAME = re.compile(r"\d{3,}-[a-z0-9-]*\.(?:wav|flac|mp3|opus|m4a)")
CHAPTERS_VERSION = "1.2.0"
"""Podcasting 2.0 JSON chapters, the version whose fields are written."""

Progress = Callable[[int, int], None]
"""Called with (samples written, samples in all)."""
Writer = Callable[[Path], None]
"""Fills the file at a path."""


class ExportError(VoiceCoachError):
    """The session could not be written to the output folder."""


@dataclass(frozen=True)
class ExportTarget:
    """One file of an export and how to fill it."""

    path: Path
    prepare: Callable[[], Writer]
    """Called on the exporting thread; what it returns writes the file."""
    beside: bool = False
    """Written on an encoding thread (its writer shares nothing with the others)."""


def narration_name(index: int, text: str, suffix: str = ".wav") -> str:
    """``007-lie-down-on-your-back.wav``: numbered so names sort in speaking order."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = "-".join(slug.split("-")[:6]) or "line"
    return f"{index:03d}-{slug}{suffix}"


def export_session(mixer: Mixer, out_dir: Path, *, force: bool = False,
                   progress: Progress | None = None, audio_format: Format = FORMATS["wav"],
                   tags: Tags | None = None) -> list[Path]:
    """Write narration/*, session.<format>, session.vtt, session.chapters.json and
    timeline.json into ``out_dir``; the audio in ``audio_format``, tagged with ``tags``
    and one chapter per step.

    Refuses to replace existing files unless ``force``, which also removes what an
    earlier export left that this one does not write (narration of more lines, the
    session in another format). Returns the paths written.
    """
    audio_format.check()
    files = _Files(out_dir, _narration_targets(mixer, out_dir, audio_format, tags))
    others = _session_targets(mixer, out_dir, progress, audio_format, tags, files.reach)
    paths = files.narration_paths + [target.path for target in others]
    stale = _prepare_folder(out_dir, paths, force)
    try:
        with Flusher() as flusher, concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, ENCODE_THREADS - 1)) as pool:
            files.begin(flusher, pool)
            try:
                for target in others:
                    files.start(target)
                files.reach(mixer.timeline.duration + 1)
                _wait_for_room(files.pending, 0)
            except BaseException:
                for future in files.pending:
                    future.cancel()
                raise
            _guarded(out_dir, out_dir, flusher.wait)
        with stop_deferred():  # the renames land all together, or an error stops them
            for temporary, final in files.written:
                _guarded(out_dir, final, functools.partial(os.replace, temporary, final))
            for old in stale:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
    finally:
        for temporary, _ in files.written:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    return paths


class _Files:
    """The files of one export as they are written: each under a temporary name, the
    narration clips started as the session's mix reaches their lines.

    The session is mixed and written on the calling thread. Each time a chunk of it is
    mixed (``reach``), the clips of the lines spoken in it are fetched from the mixer,
    which has just leveled or read them for the session, and written: at once for WAV
    and FLAC, on the encoding threads for a lossy format (at most a few queued, each
    holding its clip). So the session and its narration take every line from one read.
    """

    def __init__(self, out_dir: Path, narration: list[tuple[int, ExportTarget]]) -> None:
        self.out_dir = out_dir
        self.narration_paths = [target.path for _, target in narration]
        self._narration = collections.deque(narration)
        self._flusher: Flusher | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.written: list[tuple[Path, Path]] = []
        self.pending: list[concurrent.futures.Future[None]] = []

    def begin(self, flusher: Flusher, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        """Write through ``flusher``, encode on ``pool``, from now on."""
        self._flusher, self._pool = flusher, pool

    def start(self, target: ExportTarget) -> None:
        """Write ``target`` now, or queue it on an encoding thread (``beside``)."""
        assert self._flusher is not None and self._pool is not None, "begin() first"
        temporary = target.path.with_name(f".{target.path.name}.partial")
        self.written.append((temporary, target.path))
        job = functools.partial(_write_and_flush, self.out_dir, target.path,
                                target.prepare(), temporary, self._flusher)
        if target.beside:
            _wait_for_room(self.pending, ENCODE_THREADS * _QUEUED_PER_THREAD)
            self.pending.append(self._pool.submit(job))
        else:
            job()

    def reach(self, sample: int) -> None:
        """Start the narration of every line that begins before ``sample``; raise the
        error of any clip that failed, which stops the session where it is."""
        _wait_for_room(self.pending, len(self.pending))
        while self._narration and self._narration[0][0] < sample:
            self.start(self._narration.popleft()[1])


def _write_and_flush(out_dir: Path, final: Path, write: Writer, temporary: Path,
                     flusher: Flusher) -> None:
    _guarded(out_dir, final, functools.partial(write, temporary))
    flusher.flush(temporary)


def _wait_for_room(pending: list[concurrent.futures.Future[None]], room: int) -> None:
    """Wait until at most ``room`` jobs are unfinished; raise the first error of any."""
    while True:
        for future in pending:
            if future.done():
                future.result()
        running = [future for future in pending if not future.done()]
        if len(running) <= room:
            return
        concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)


def write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


class Flusher:
    """Puts files' data on disk (fsync) in the background while more are written.

    fsync waits for the disk and releases the GIL, so a few threads overlap the waits
    with each other and with the writing (124 files: 79 ms one by one after writing).
    ``wait`` raises the first error; leaving the block waits for every flush.
    """

    def __init__(self, threads: int = FLUSH_THREADS) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
        self._pending: list[concurrent.futures.Future[None]] = []

    def __enter__(self) -> Flusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def flush(self, path: Path) -> None:
        self._pending.append(self._pool.submit(_fsync, path))

    def wait(self) -> None:
        for future in self._pending:
            future.result()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def webvtt(timeline: Timeline, note: str | None = None) -> str:
    """WebVTT captions: every spoken line at its exact time; ``note`` (the ambient bed),
    when given, as a NOTE block before the first cue."""
    lines = ["WEBVTT", ""]
    if note is not None:
        lines += [f"NOTE {note}", ""]
    rate = timeline.sample_rate
    spoken = [e for e in timeline.events if e.kind == "speech" and e.text]
    for number, event in enumerate(spoken, start=1):
        text = (event.text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        lines += [str(number), f"{_vtt_time(event.start, rate)} --> {_vtt_time(event.end, rate)}",
                  text, ""]
    return "\n".join(lines)


def _vtt_time(sample: int, rate: int) -> str:
    millis = round(sample * 1000 / rate)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def chapters(timeline: Timeline) -> list[Chapter]:
    """One chapter per step, titled with its label, at the step's first sample."""
    rate = timeline.sample_rate
    starts = timeline.step_starts()
    ends = [*starts[1:], timeline.duration]
    return [Chapter(_millis(start, rate), _millis(end, rate), label)
            for start, end, label in zip(starts, ends, timeline.step_labels, strict=True)]


def chapters_json(timeline: Timeline, tags: Tags | None, bed: str | None = None) -> str:
    """Podcasting 2.0 JSON chapters: ``startTime``/``endTime`` in seconds, to the ms.

    ``bed`` (the ambient bed's line) is listed first as a chapter with ``"toc": false``,
    the format's mark for an entry that is not a place to jump to, spanning the bed."""
    document: dict[str, object] = {"version": CHAPTERS_VERSION}
    if tags is not None:
        document["title"] = tags.title
        document["author"] = tags.artist
    listed: list[dict[str, object]] = [
        {"startTime": chapter.start_ms / 1000, "endTime": chapter.end_ms / 1000,
         "title": chapter.title}
        for chapter in chapters(timeline)]
    if bed is not None:
        listed.insert(0, {"startTime": 0.0, "endTime": timeline.duration_s, "title": bed,
                          "toc": False})
    document["chapters"] = listed
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _millis(sample: int, rate: int) -> int:
    return round(sample * 1000 / rate)


def _narration_targets(mixer: Mixer, out_dir: Path, audio_format: Format,
                       tags: Tags | None) -> list[tuple[int, ExportTarget]]:
    """Each spoken line's clip file, after the sample where the line begins."""
    found: list[tuple[int, ExportTarget]] = []
    spoken = [e for e in mixer.timeline.events if e.kind == "speech" and e.text]
    for index, event in enumerate(spoken, start=1):
        path = out_dir / NARRATION_DIR / narration_name(index, event.text or "",
                                                         audio_format.suffix)
        line_tags = Tags(title=event.text or "", comment=tags.title) if tags else None
        prepare = functools.partial(_clip_writer, mixer=mixer, event=event,
                                    sample_rate=mixer.timeline.sample_rate,
                                    audio_format=audio_format, tags=line_tags)
        found.append((event.start, ExportTarget(path, prepare, audio_format.encodes)))
    return found


def _session_targets(mixer: Mixer, out_dir: Path, progress: Progress | None,
                     audio_format: Format, tags: Tags | None,
                     reached: Callable[[int], None]) -> list[ExportTarget]:
    """The session's audio, then its captions, chapters and timeline; ``reached`` is told
    the sample the session's mix has come to after each chunk."""
    timeline = mixer.timeline
    rate = timeline.sample_rate

    def session_chunks() -> Iterator[Samples]:
        step = CHUNK_S * rate
        for start in range(0, timeline.duration, step):
            yield mixer.render(start, start + step)
            reached(start + step)
            if progress is not None:
                progress(min(start + step, timeline.duration), timeline.duration)

    def write_session(path: Path) -> None:
        audio_format.write(path, session_chunks(), rate, chapters(timeline), tags)

    def ready(write: Writer) -> Callable[[], Writer]:
        return lambda: write

    listed = to_dict(timeline)
    bed = None
    if mixer.levels.bed is not None and mixer.bed_span is not None:
        listed["ambient"] = ambient.to_dict(mixer.levels.bed, mixer.bed_span, rate)
        bed = ambient.describe(mixer.levels.bed, mixer.bed_span, rate)
    document = json.dumps(listed, indent=2, ensure_ascii=False) + "\n"
    texts = {"session.vtt": webvtt(timeline, bed),
             "session.chapters.json": chapters_json(timeline, tags, bed),
             "timeline.json": document}
    return [ExportTarget(out_dir / f"session{audio_format.suffix}", ready(write_session)),
            *(ExportTarget(out_dir / name, ready(functools.partial(write_text, text=text)))
              for name, text in texts.items())]


def _clip_writer(*, mixer: Mixer, event: Event, sample_rate: int, audio_format: Format,
                 tags: Tags | None) -> Writer:
    """One line's clip, fetched only now: a long session's clips are never all held."""
    clip = mixer.clip_for(event)
    assert clip is not None
    return functools.partial(audio_format.write, chunks=iter([clip]), sample_rate=sample_rate,
                             tags=tags)


def _prepare_folder(out_dir: Path, paths: list[Path], force: bool) -> list[Path]:
    """Create the folders; refuse to replace files unless forced. Returns stale files."""
    narration = out_dir / NARRATION_DIR
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    try:
        narration.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExportError(f"{out_dir}: exists and is not a folder") from None
    except OSError as exc:
        raise ExportError(f"cannot create {narration}: {exc.strerror or exc}") from None
    folders = [p for p in paths if p.is_dir()]
    if folders:  # found only when renaming, it would leave the export half replaced
        raise ExportError(f"{folders[0]}: exists and is not a file")
    ours = set(paths)
    previous = sorted(p for p in narration.iterdir()
                      if _NARRATION_NAME.fullmatch(p.name) and p.is_file())
    previous += [out_dir / f"session{f.suffix}" for f in FORMATS.values()
                 if (out_dir / f"session{f.suffix}").is_file()]
    if not force:
        existing = [p for p in paths if p.exists()] + [p for p in previous if p not in ours]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise ExportError(f"{existing[0]} already exists{more}; use --force to replace")
    if not os.access(out_dir, os.W_OK) or not os.access(narration, os.W_OK):
        raise ExportError(f"cannot write to {out_dir}: permission denied")
    return [p for p in previous if p not in ours]


def _guarded(out_dir: Path, path: Path, action: Callable[[], None]) -> None:
    """Run a file operation; a full disk or other OS error becomes one clear line."""
    try:
        action()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(
                f"disk full: no room in {out_dir} for the export; nothing was replaced") from None
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
