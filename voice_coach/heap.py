"""How the process's C heap (glibc malloc) is asked to treat big blocks.

Two needs pull apart. A long session reads clips (a few hundred kilobytes each) and drops
them by the hundred: from the heap they fragment it and it never shrinks, so a 180-minute
session peaked about 15 MB higher than a 5-minute one. Leveling a clip makes a few dozen
float arrays of its length and more (1-10 MB each): given their own mapping each time,
every page of each is faulted in afresh, which made leveling 3 times slower (a cold
60-minute export took 16 s, 9 of them in the kernel). So blocks of 128 KiB and more get
their own mapping, returned when freed (``return_freed_blocks``), except while a clip is
leveled (``reusing_big_blocks``), after which the heap's free pages go back to the system.

Not glibc (no ``mallopt``): each call does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from typing import Final

_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
OWN_MAPPING_BYTES: Final = 128 * 1024
"""Blocks this big or bigger get a mapping of their own, returned to the system when freed."""
REUSED_BYTES: Final = 8 * 1024 * 1024
"""...while a clip is leveled, only blocks this big: a 10 s line's leveling reuses all but
its largest arrays. Measured on a 60-minute session's 94 lines: 3.4 s and 10 MB more at
peak (8 MiB), 3.4 s and 11 MB (32 MiB), 4.5 s and 8 MB (4 MiB), 11.5 s and 2 MB (none)."""

_lock = threading.Lock()
_levelers = 0


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 -- AttributeError where malloc is not glibc's
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC: Final = _libc()


def _own_mapping_from(size_bytes: int) -> None:
    """Blocks of ``size_bytes`` and more get their own mapping; the heap keeps as much
    free at its top before it shrinks (glibc ties the two together the same way)."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, size_bytes)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 2 * size_bytes)


def return_freed_blocks() -> None:
    """Give every block of ``OWN_MAPPING_BYTES`` or more its own mapping from now on.

    glibc would otherwise raise that threshold each time such a block is freed, after
    which clips come from the heap, which fragments and never shrinks.
    """
    with _lock:
        if _levelers == 0:
            _own_mapping_from(OWN_MAPPING_BYTES)


@contextlib.contextmanager
def reusing_big_blocks() -> Iterator[None]:
    """Within: blocks up to ``REUSED_BYTES`` come from the heap and are reused. On leaving
    (the last of several threads to leave), back to ``return_freed_blocks``, and the free
    pages of the heap are returned to the system."""
    global _levelers
    with _lock:
        _levelers += 1
        if _levelers == 1:
            _own_mapping_from(REUSED_BYTES)
    try:
        yield
    finally:
        with _lock:
            _levelers -= 1
            if _levelers == 0:
                _own_mapping_from(OWN_MAPPING_BYTES)
                if _LIBC is not None:
                    _LIBC.malloc_trim(0)
