"""Lengths and moments as people read them: ``6:28``, `` 0:07.5``."""

from __future__ import annotations

import math


def minutes_seconds(seconds: float, *, tenths: bool = False) -> str:
    """``m:ss`` (``6:28``), or with ``tenths`` a right-aligned `` m:ss.t`` (`` 0:07.5``).

    Rounded half up, so a length and a moment that print alike are alike; never negative.
    """
    if tenths:
        whole, tenth = divmod(max(0, math.floor(seconds * 10 + 0.5)), 10)
        return f"{whole // 60:>2d}:{whole % 60:02d}.{tenth}"
    whole = max(0, math.floor(seconds + 0.5))
    return f"{whole // 60}:{whole % 60:02d}"
