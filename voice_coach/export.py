"""Writing a session to files: narration clips, the mixed session, captions, the timeline.

All or nothing: every file is written beside its final name under a hidden temporary
name, and only when all are complete are they renamed into place. An interrupt, a full
disk or any error removes the temporaries, so the folder holds either the complete
previous export or the complete new one, never a truncated WAV.
"""

from __future__ import annotations

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

import numpy as np

from voice_coach.errors import VoiceCoachError
from voice_coach.mix import Mixer
from voice_coach.pcm import Samples, wav_header
from voice_coach.plan import Event, Timeline, to_dict
from voice_coach.signals import stop_deferred

CHUNK_S = 10
"""Seconds of session mixed and written at a time: bounds memory for long sessions."""
FLUSH_THREADS = 8
"""Threads that fsync written files while the next ones are written (see ``Flusher``)."""
NARRATION_DIR = "narration"
_NARRATION_NAME = re.compile(r"\d{3,}-[a-z0-9-]*\.wav")

Progress = Callable[[int, int], None]
"""Called with (samples written, samples in all)."""


class ExportError(VoiceCoachError):
    """The session could not be written to the output folder."""


@dataclass(frozen=True)
class ExportTarget:
    """One file of an export and how to fill it."""

    path: Path
    write: Callable[[Path], None]


def narration_name(index: int, text: str) -> str:
    """``007-lie-down-on-your-back.wav``: numbered so names sort in speaking order."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = "-".join(slug.split("-")[:6]) or "line"
    return f"{index:03d}-{slug}.wav"


def export_session(mixer: Mixer, out_dir: Path, *, force: bool = False,
                   progress: Progress | None = None) -> list[Path]:
    """Write narration/*.wav, session.wav, session.vtt and timeline.json into ``out_dir``.

    Refuses to replace existing files unless ``force``. Returns the paths written.
    """
    targets = _targets(mixer, out_dir, progress)
    stale = _prepare_folder(out_dir, [t.path for t in targets], force)
    written: list[tuple[Path, Path]] = []
    try:
        with Flusher() as flusher:
            for target in targets:
                temporary = target.path.with_name(f".{target.path.name}.partial")
                written.append((temporary, target.path))
                _guarded(out_dir, target.path, functools.partial(target.write, temporary))
                flusher.flush(temporary)
            _guarded(out_dir, out_dir, flusher.wait)
        with stop_deferred():  # the renames land all together, or an error stops them
            for temporary, final in written:
                _guarded(out_dir, final, functools.partial(os.replace, temporary, final))
            for old in stale:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
    finally:
        for temporary, _ in written:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    return [t.path for t in targets]


def write_wav(path: Path, chunks: Iterator[Samples], sample_rate: int) -> None:
    """A mono 16-bit WAV from chunks of samples (not yet on disk: see ``Flusher``).

    The header is written here rather than by ``wave``: a ``Wave_write`` interrupted
    before its ``__init__`` ran prints a traceback from ``__del__`` ("Exception ignored").
    """
    with open(path, "wb") as raw:
        raw.write(wav_header(0, sample_rate))
        frames = 0
        for chunk in chunks:
            raw.write(np.ascontiguousarray(chunk, dtype="<i2").data)
            frames += chunk.size
        raw.seek(0)
        raw.write(wav_header(frames, sample_rate))


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


def webvtt(timeline: Timeline) -> str:
    """WebVTT captions: every spoken line at its exact time."""
    lines = ["WEBVTT", ""]
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


def _targets(mixer: Mixer, out_dir: Path, progress: Progress | None) -> list[ExportTarget]:
    timeline = mixer.timeline
    rate = timeline.sample_rate
    targets: list[ExportTarget] = []
    spoken = [e for e in timeline.events if e.kind == "speech" and e.text]
    for index, event in enumerate(spoken, start=1):
        path = out_dir / NARRATION_DIR / narration_name(index, event.text or "")
        targets.append(ExportTarget(path, functools.partial(_write_clip, mixer=mixer,
                                                            event=event, rate=rate)))

    def session_chunks() -> Iterator[Samples]:
        step = CHUNK_S * rate
        for start in range(0, timeline.duration, step):
            yield mixer.render(start, start + step)
            if progress is not None:
                progress(min(start + step, timeline.duration), timeline.duration)

    def write_session(path: Path) -> None:
        write_wav(path, session_chunks(), rate)

    document = json.dumps(to_dict(timeline), indent=2, ensure_ascii=False) + "\n"
    targets.append(ExportTarget(out_dir / "session.wav", write_session))
    targets.append(ExportTarget(out_dir / "session.vtt",
                                functools.partial(write_text, text=webvtt(timeline))))
    targets.append(ExportTarget(out_dir / "timeline.json",
                                functools.partial(write_text, text=document)))
    return targets


def _write_clip(path: Path, *, mixer: Mixer, event: Event, rate: int) -> None:
    """One line's clip, fetched only now: a long session's clips are never all held."""
    clip = mixer.clip_for(event)
    assert clip is not None
    write_wav(path, iter([clip]), rate)



def _prepare_folder(out_dir: Path, paths: list[Path], force: bool) -> list[Path]:
    """Create the folders; refuse to replace files unless forced. Returns stale narration."""
    narration = out_dir / NARRATION_DIR
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    try:
        narration.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExportError(f"{out_dir}: exists and is not a folder") from None
    except OSError as exc:
        raise ExportError(f"cannot create {narration}: {exc.strerror or exc}") from None
    ours = {p.name for p in paths if p.parent == narration}
    previous = sorted(p for p in narration.iterdir() if _NARRATION_NAME.fullmatch(p.name))
    if not force:
        existing = [p for p in paths if p.exists()] + [p for p in previous if p.name not in ours]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise ExportError(f"{existing[0]} already exists{more}; use --force to replace")
    if not os.access(out_dir, os.W_OK) or not os.access(narration, os.W_OK):
        raise ExportError(f"cannot write to {out_dir}: permission denied")
    return [p for p in previous if p.name not in ours]


def _guarded(out_dir: Path, path: Path, action: Callable[[], None]) -> None:
    """Run a file operation; a full disk or other OS error becomes one clear line."""
    try:
        action()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(
                f"disk full: no room in {out_dir} for the export; nothing was replaced") from None
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
