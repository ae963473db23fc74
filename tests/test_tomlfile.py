"""The one reader of the TOML files a person writes, and the file reading beneath it:
exact messages for each limit, with real directories, named pipes and devices."""

from __future__ import annotations

import sys

import pytest

from voice_coach.errors import digit_count, show_value

# --- Numbers shown in messages ------------------------------------------------------------


@pytest.mark.parametrize("number", [0, 7, 10**15, -(10**15) + 1, 10**4299, 16**5000 - 1,
                                    -(2**100_000)], ids=lambda n: f"{n.bit_length()} bits")
def test_digit_count_without_str(number: int) -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        expected = len(str(abs(number)))
    finally:
        sys.set_int_max_str_digits(previous)
    assert digit_count(number) == expected


def test_show_value_of_a_huge_number() -> None:
    assert show_value(16**5000) == "a 6021-digit number"
    assert show_value(9 * 10**30) == "a 31-digit number"
