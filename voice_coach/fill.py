"""Filling a session to its target: how many repetitions fit, and how the rest is shared.

A routine with a filling repeat (``fill = true``) plays it as many times as fit the
session's target, then lengthens its pauses so that the session ends exactly on the
target sample. Both are arithmetic on lengths in samples: the planner hands in how long a
session of N repetitions lasts, and gets back a count, then the shares of the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MAX_FILL_REPETITIONS: Final = 1_000_000
"""A bound on the search for how many repetitions fit (a session is at most 3 hours)."""


def fill_count(target: int, session_length: Callable[[int], int],
               repetition_length: Callable[[int], int] | None = None) -> int:
    """The most repetitions whose session lasts at most ``target`` samples; at least one.

    ``session_length(n)`` is the whole session's length with ``n`` repetitions, which
    grows with ``n``. With ``repetition_length(k)``, the length of the ``k``-th repetition
    alone (a session without a ramp, where each repetition's length is its own), they are
    added up until one more would pass the target: one pass. Without it (a ramp spreads
    over more breaths, but their mean stays halfway), the count is bracketed from a guess
    (the length of the second repetition) and halved down: a few whole-session lengths.
    """
    shortest = session_length(1)
    if shortest > target:
        return 1
    if repetition_length is not None:
        used, times = shortest, 1
        while times < MAX_FILL_REPETITIONS:
            more = repetition_length(times + 1)
            if used + more > target:
                break
            used, times = used + more, times + 1
        return times
    second = session_length(2)
    if second > target:
        return 1
    guess = min(MAX_FILL_REPETITIONS, 2 + (target - second) // max(1, second - shortest))
    return _most_that_fit(target, session_length, guess)


def _most_that_fit(target: int, session_length: Callable[[int], int], guess: int) -> int:
    """The largest count from 2 whose session fits (2 does): from ``guess``, doubling the
    step up while it fits, then halving the bracket down."""
    low, high = 2, guess
    if session_length(guess) <= target:
        low, step = guess, 1
        while True:
            high = min(MAX_FILL_REPETITIONS, low + step)
            if high == low or session_length(high) > target:
                break
            low, step = high, step * 2
        if high == low:
            return low
    while high - low > 1:
        middle = (low + high) // 2
        if session_length(middle) <= target:
            low = middle
        else:
            high = middle
    return low


def shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights``, whole numbers summing to ``total``
    (largest remainder; ties to the earlier weight)."""
    whole = sum(weights)
    exact = [total * weight for weight in weights]
    parts = [part // whole for part in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] % whole), i))
    for index in by_remainder[: total - sum(parts)]:
        parts[index] += 1
    return parts
