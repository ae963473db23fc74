"""The clip cache: a directory of clips (rendered lines, and lines and cues as leveled),
get and put by key.

The caller builds the key (``speech.clip_key`` covers everything that changes how a line
sounds); the store needs it to be a SHA-256 in hex. Each entry is one file,
``<key>.clip``: a fixed header (magic, format version, sample rate, sample count, SHA-256
of key and samples) followed by the samples as little-endian 16-bit PCM. A damaged entry
(truncated, wrong header or format version, checksum mismatch, a folder or FIFO in its
place) is a miss and is removed, so a corrupt clip is never served; an unreadable one is
a miss that the next put replaces. Entries are written to a temporary file in the same
directory and renamed into place (always mode 0600, whatever they replace), so several
processes may fill the cache at once and a reader sees a whole entry or none. The cache
is an optimisation: when the directory cannot be written it switches itself off, says so
once through ``warn``, and never raises.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from voice_coach.errors import VoiceCoachError
from voice_coach.files import write_atomically
from voice_coach.loudness import Leveled
from voice_coach.pcm import SAMPLE_RATE, Samples

FORMAT_VERSION: Final = 1
"""Bump when the entry layout changes (what a key covers is the caller's: it names it)."""
MAGIC: Final = b"VCCLIP\r\n"
_HEADER: Final = struct.Struct("<8sIIQ32s")  # magic, format, sample rate, samples, sha256
SUFFIX: Final = ".clip"
_KEY: Final = re.compile(r"[0-9a-f]{64}")
_LEVELS: Final = struct.Struct("<dd")  # a leveled clip's gain and reduction, in dB


class ClipCache:
    """Clips on disk. ``warn`` receives one line when the cache switches itself off."""

    def __init__(self, directory: Path, warn: Callable[[str], None] | None = None) -> None:
        self.directory = directory
        self._warn = warn
        self.enabled = True
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._disable("create", exc.strerror or type(exc).__name__)

    def path(self, key: str) -> Path:
        """The entry's file; ``key`` is a SHA-256 in lowercase hex (anything else is a bug)."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a clip key: {key!r}")
        return self.directory / f"{key}{SUFFIX}"

    def get(self, key: str) -> Samples | None:
        """The clip stored under ``key``; None when absent, unreadable or damaged."""
        if not self.enabled:
            return None
        path = self.path(key)
        try:
            identity, data = _read_entry(path)
        except OSError:  # absent, or unreadable: the put after this miss replaces it
            return None
        samples = None if data is None else _decode(key, data)
        if samples is None:
            _remove_if_same(path, identity)
        return samples

    def entry(self, key: str) -> Entry | None:
        """What the entry under ``key`` holds, from its header alone (a few dozen bytes
        read, not the samples); None when absent, unreadable or not an entry. The
        samples are checked only when read (``get``)."""
        if not self.enabled:
            return None
        try:
            descriptor = os.open(self.path(key), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            size = os.fstat(descriptor).st_size
            header = os.read(descriptor, _HEADER.size)
        except OSError:
            return None
        finally:
            os.close(descriptor)
        if len(header) < _HEADER.size:
            return None
        magic, version, rate, count, digest = _HEADER.unpack(header)
        if (magic, version, rate) != (MAGIC, FORMAT_VERSION, SAMPLE_RATE) or \
                size != _HEADER.size + 2 * count:
            return None
        return Entry(count, digest.hex())

    def put(self, key: str, samples: Samples) -> None:
        """Store ``samples`` under ``key`` atomically; on failure switch the cache off."""
        if not self.enabled:
            return
        try:  # not durable: a clip lost to a power cut is only rendered again
            write_atomically(self.path(key), _encode(key, samples), error=_WriteFailed,
                             private=True, durable=False, keep_mode=False)
        except _WriteFailed as failed:
            self._disable("write to", str(failed))

    def get_leveled(self, key: str) -> Leveled | None:
        """The leveled clip stored under ``key`` (``put_leveled``); None as ``get``."""
        entry = self.get(key)
        tail = _LEVELS.size // 2
        if entry is None or len(entry) < tail:
            return None
        gain_db, reduction_db = _LEVELS.unpack(entry[-tail:].astype("<i2").tobytes())
        return Leveled(entry[:-tail], gain_db, reduction_db)  # a view: no second copy

    def put_leveled(self, key: str, leveled: Leveled) -> None:
        """Store a leveled clip: its samples, then its gain and the limiter's reduction
        as two little-endian float64 (eight samples' worth) that the checksum covers."""
        levels = np.frombuffer(_LEVELS.pack(leveled.gain_db, leveled.reduction_db), "<i2")
        self.put(key, np.concatenate([leveled.samples, levels.astype(np.int16)]))

    def _disable(self, action: str, reason: str) -> None:
        self.enabled = False
        if self._warn is not None:
            self._warn(f"speech cache off: cannot {action} {self.directory} ({reason});"
                       " speech will be rendered every time")


@dataclass(frozen=True)
class Entry:
    """A stored clip as its header says: how many samples, and the SHA-256 (hex) of its
    key and samples, which names those exact samples (``digest``)."""

    samples: int
    digest: str


def digest(key: str, samples: Samples) -> str:
    """What ``ClipCache.entry`` says of ``samples`` stored under ``key``: SHA-256 (hex) of
    the key, a NUL and the samples as little-endian 16-bit PCM."""
    return _digest(key, np.ascontiguousarray(samples, dtype="<i2").data).hex()


class _WriteFailed(VoiceCoachError):
    """An entry could not be stored (the reason is the message)."""


def _encode(key: str, samples: Samples) -> bytes:
    pcm = np.ascontiguousarray(samples, dtype="<i2").data
    digest = _digest(key, pcm)
    return b"".join((_HEADER.pack(MAGIC, FORMAT_VERSION, SAMPLE_RATE, pcm.nbytes // 2, digest),
                     pcm))


def _decode(key: str, data: bytes) -> Samples | None:
    if len(data) < _HEADER.size:
        return None
    magic, version, rate, count, digest = _HEADER.unpack_from(data)
    pcm = memoryview(data)[_HEADER.size:]
    if (magic, version, rate) != (MAGIC, FORMAT_VERSION, SAMPLE_RATE) or pcm.nbytes != 2 * count:
        return None
    if _digest(key, pcm) != digest:
        return None
    return np.frombuffer(pcm, dtype="<i2")  # read-only, over the bytes read: no copy


def _digest(key: str, pcm: memoryview) -> bytes:
    """SHA-256 of the key, a NUL and the PCM (fed in parts: a clip is never copied)."""
    digest = hashlib.sha256(key.encode("utf-8") + b"\0")
    digest.update(pcm)
    return digest.digest()


def _read_entry(path: Path) -> tuple[os.stat_result, bytes | None]:
    """What is at ``path`` (its identity) and its bytes; None for the bytes when it is not
    a regular file. Opened without waiting: a FIFO in an entry's place would otherwise
    block the reader until something wrote to it."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        identity = os.fstat(descriptor)
        if not stat.S_ISREG(identity.st_mode):
            return identity, None
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            return identity, file.read()
    finally:
        os.close(descriptor)


def _remove_if_same(path: Path, identity: os.stat_result) -> None:
    """Remove a damaged entry (a folder with all it holds) unless another process has
    already replaced it: a put could not rename a file over a folder."""
    try:
        current = os.stat(path)
        if (current.st_ino, current.st_dev) != (identity.st_ino, identity.st_dev):
            return
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        pass
