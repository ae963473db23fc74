"""TOML files a person writes (settings, routines, translations), read with one set of limits.

Whatever the file holds, reading it ends in a document or in the caller's own error class,
one line naming the file: never a hang, never a traceback. The limits are the same for
every such file:

- a regular file (not a directory, a named pipe or a device) of at most
  ``MAX_FILE_BYTES``, in UTF-8;
- whole numbers of at most ``MAX_DIGITS`` digits, however they are written (Python
  refuses longer decimal ones, and a hexadecimal one can be as long);
- tables and arrays nested at most ``MAX_NESTING`` deep (the parser is recursive).

The error names the line where TOML gives one ("at end of document": the last line).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Final

from voice_coach.files import ErrorType, SizeLimit, decode_utf8, read_user_file

MAX_FILE_BYTES: Final = 1_000_000
MAX_DIGITS: Final = 4_300
"""Python's own limit on converting a decimal string to an integer."""
MAX_NESTING: Final = 100
"""A routine nests 6 deep; tomllib itself gives out at a few hundred."""

_TOO_BIG: Final = 10**MAX_DIGITS
_WHERE: Final = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)")


def read_text(path: Path, error: ErrorType, *, kind: str, expected: str) -> str:
    """The text of the TOML file ``path``, or ``error``: not a regular file, too big,
    not UTF-8. ``kind`` names what it should be ("a routine file"), ``expected`` says
    so after a decoding error ("a routine is a UTF-8 TOML file"). A missing file raises
    ``FileNotFoundError`` unchanged."""
    limit = SizeLimit(MAX_FILE_BYTES, f"{kind} may be at most {MAX_FILE_BYTES:,} bytes")
    raw = read_user_file(path, error, kind=kind, limit=limit)
    return decode_utf8(raw, path, error, expected=expected)


def parse(text: str, source: str, error: ErrorType) -> dict[str, Any]:
    """The document ``text`` holds, or ``error``: ``SOURCE:LINE: invalid TOML: reason``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _WHERE.search(message)
        if found and found.group(1):
            line = int(found.group(1))
        else:  # "at end of document": the last line
            line = max(1, len(text.rstrip("\n").split("\n")))
        reason = _WHERE.sub("", message).strip()
        raise error(f"{source}:{line}: invalid TOML: {reason}") from None
    except ValueError:  # a decimal integer past Python's conversion limit
        raise error(_too_long(source)) from None
    except RecursionError:
        raise error(_too_deep(source)) from None
    problem = _beyond_limits(document, source)
    if problem is not None:
        raise error(problem)
    return document


def _beyond_limits(document: dict[str, Any], source: str) -> str | None:
    """Why a parsed document is beyond the limits, or None; walked without recursion."""
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_NESTING:
                return _too_deep(source)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
        elif isinstance(value, int) and not -_TOO_BIG < value < _TOO_BIG:
            return _too_long(source)
    return None


def _too_long(source: str) -> str:
    return f"{source}: invalid TOML: a number has more than {MAX_DIGITS:,} digits"


def _too_deep(source: str) -> str:
    return f"{source}: invalid TOML: nested more than {MAX_NESTING} levels deep"
