"""The fill search and the sharing of the rest: pure arithmetic, literal lengths."""

from __future__ import annotations

import pytest

from voice_coach.fill import MAX_FILL_REPETITIONS, fill_count, shares


def brute_force(target: int, session_length) -> int:
    """The most repetitions that fit, counted one by one (at least one)."""
    times = 1
    while session_length(times + 1) <= target:
        times += 1
    return times


def test_steady_repetitions_are_added_until_one_more_would_pass_the_target():
    def session(n: int) -> int:
        return 1000 + 300 * n

    assert fill_count(2200, session, lambda nth: 300) == 4  # 2200 exactly: 1000 + 4 x 300
    assert fill_count(2199, session, lambda nth: 300) == 3
    assert fill_count(1300, session, lambda nth: 300) == 1


def test_steady_repetitions_of_their_own_lengths():
    lengths = {1: 100, 2: 100, 3: 150, 4: 150, 5: 150}  # "spot 1" ... "spot 10" say more

    def session(n: int) -> int:
        return 500 + sum(lengths[k] for k in range(1, n + 1))

    assert [fill_count(target, session, lengths.__getitem__)
            for target in (600, 699, 700, 849, 850, 1149)] == [1, 1, 2, 2, 3, 4]


def test_one_repetition_when_even_one_is_too_long():
    assert fill_count(999, lambda n: 1000 * n, lambda nth: 1000) == 1
    assert fill_count(999, lambda n: 1000 * n) == 1
    assert fill_count(1999, lambda n: 1000 * n) == 1  # the second does not fit


@pytest.mark.parametrize("target", [*range(0, 3000, 29), 10**6, 10**7 + 3])
def test_a_growing_session_is_searched_to_the_most_that_fit(target):
    """A ramp makes each repetition a little longer than the one before."""
    def session(n: int) -> int:
        return 700 + 40 * n + n * n // 3

    assert fill_count(target, session) == brute_force(target, session)


def test_the_search_takes_a_few_whole_session_lengths_not_one_per_repetition():
    asked: list[int] = []

    def session(n: int) -> int:
        asked.append(n)
        return 1000 + 250 * n + n * n // 50

    found = fill_count(22050 * 60 * 180, session)
    assert session(found) <= 22050 * 60 * 180 < session(found + 1)
    assert len(asked) <= 40


def test_the_search_is_bounded():
    assert fill_count(10**12, lambda n: n) == MAX_FILL_REPETITIONS
    assert fill_count(10**12, lambda n: n, lambda nth: 0) == MAX_FILL_REPETITIONS


def test_shares_are_whole_in_proportion_and_sum_to_the_total():
    assert shares(14000, [3000, 1000, 1000]) == [8400, 2800, 2800]
    assert shares(10, [1, 1, 1]) == [4, 3, 3]  # the remainder to the earliest
    assert shares(7, [0, 2, 1]) == [0, 5, 2]  # a pause of 0 stays 0
    assert sum(shares(12345, [7, 11, 13, 17])) == 12345
