"""Files a user names or keeps: reading them with one-line errors, replacing them atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from voice_coach.errors import VoiceCoachError

ErrorType = Callable[[str], VoiceCoachError]


@dataclass(frozen=True)
class SizeLimit:
    """At most ``max_bytes``; ``rule`` words the limit after "file is N bytes; "."""

    max_bytes: int
    rule: str


def read_user_file(path: Path, error: ErrorType, *, kind: str, limit: SizeLimit) -> bytes:
    """The bytes of ``path``, or ``error`` naming the path and what went wrong.

    ``kind`` says what the file should have been ("a routine file"). Only a regular file
    is read: a directory, a named pipe, a device or a socket is refused before a byte is
    read (opened non-blocking, so a pipe without a writer cannot hang), and no more than
    ``limit`` is ever read, even from a file that grows meanwhile. A missing file raises
    ``FileNotFoundError`` unchanged, for callers to whom that is no error.
    """
    name = str(path)
    try:
        other = not_a_file(os.stat(path).st_mode)  # a device is not even opened
        if other is None:
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            with os.fdopen(descriptor, "rb") as file:
                info = os.fstat(file.fileno())
                other = not_a_file(info.st_mode)  # replaced between stat and open
                if other is None:
                    return _read_at_most(file, info.st_size, name, error, limit)
        raise error(f"{name}: is {other}, not {kind}")
    except FileNotFoundError:
        raise
    except PermissionError:
        raise error(f"{name}: permission denied") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None


def not_a_file(mode: int) -> str | None:
    """What a path of ``st_mode`` ``mode`` is when it is not a regular file ("a
    directory", "a named pipe"), or None when it is one."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _read_at_most(file: BinaryIO, size: int, name: str, error: ErrorType,
                  limit: SizeLimit) -> bytes:
    if size > limit.max_bytes:
        raise error(f"{name}: file is {size:,} bytes; {limit.rule}")
    data = file.read(limit.max_bytes + 1)
    if len(data) > limit.max_bytes:
        raise error(f"{name}: file is more than {limit.max_bytes:,} bytes; {limit.rule}")
    return data


def decode_utf8(raw: bytes, path: Path, error: ErrorType, *, expected: str) -> str:
    """``raw`` as UTF-8 text, or ``error`` pointing at the first bad byte and saying what
    the file should be (``expected``: "a routine is a UTF-8 TOML file")."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); {expected}") from None


def write_atomically(path: Path, data: bytes, *, error: ErrorType, private: bool = False,
                     durable: bool = True, keep_mode: bool = True) -> None:
    """Replace ``path`` with ``data`` all at once, or leave it as it was.

    The data goes to a temporary file beside the target, named before it exists (so an
    interrupt at any point leaves no temporary behind), then is renamed over it. A
    symlinked target (dotfile managers) is written through the link; an existing file
    keeps its mode when ``keep_mode`` (a person may have chosen it); a new one, or any with
    ``keep_mode`` False, gets 0600 when ``private``, else what the umask allows.
    ``durable`` fsyncs the file and the folder, so the rename survives a power cut.
    Any OSError becomes ``error(reason)``.
    """
    target = Path(os.path.realpath(path))
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        try:
            kept: int | None = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            kept = None
        target.parent.mkdir(parents=True, exist_ok=True)
        new_mode = 0o600 if private else 0o666  # the umask applies
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, new_mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        if kept is not None and keep_mode:
            os.chmod(temporary, kept)
        os.replace(temporary, target)
    except OSError as exc:
        raise error(exc.strerror or str(exc)) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)  # gone already after a successful replace
    if durable:
        fsync_folder(target.parent)


def fsync_folder(folder: Path) -> None:
    """Make renames in ``folder`` durable; best effort (not every file system allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

