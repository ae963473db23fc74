"""Reading a file the user named: each way it can fail is one line, in the caller's error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voice_coach.errors import VoiceCoachError

ErrorType = Callable[[str], VoiceCoachError]


@dataclass(frozen=True)
class SizeLimit:
    """At most ``max_bytes``; ``rule`` words the limit after "file is N bytes; "."""

    max_bytes: int
    rule: str


def read_user_file(path: Path, error: ErrorType, *, kind: str,
                   limit: SizeLimit | None = None) -> bytes:
    """The bytes of ``path``, or ``error`` naming the path and what went wrong.

    ``kind`` says what the file should have been ("a routine file"). A missing file raises
    ``FileNotFoundError`` unchanged, for callers to whom that is no error.
    """
    name = str(path)
    try:
        if path.is_dir():
            raise error(f"{name}: is a directory, not {kind}")
        if limit is not None and (size := path.stat().st_size) > limit.max_bytes:
            raise error(f"{name}: file is {size:,} bytes; {limit.rule}")
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except PermissionError:
        raise error(f"{name}: permission denied") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None


def decode_utf8(raw: bytes, path: Path, error: ErrorType, *, expected: str) -> str:
    """``raw`` as UTF-8 text, or ``error`` pointing at the first bad byte and saying what
    the file should be (``expected``: "a routine is a UTF-8 TOML file")."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); {expected}") from None
