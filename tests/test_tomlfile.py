"""The one reader of the TOML files a person writes (settings, routines, translations):
the exact message for each of its limits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from voice_coach.errors import VoiceCoachError, digit_count, show_value
from voice_coach.tomlfile import MAX_NESTING, parse, read_text


class FileError(VoiceCoachError):
    """A file of this test is refused."""


def read(path: Path) -> str:
    return read_text(path, FileError, kind="a test file", expected="a test file is UTF-8 TOML")


def refused(path: Path) -> str:
    with pytest.raises(FileError) as caught:
        read(path)
    return str(caught.value)


def parse_error(text: str) -> str:
    with pytest.raises(FileError) as caught:
        parse(text, "t.toml", FileError)
    return str(caught.value)


# --- The file -----------------------------------------------------------------------


def test_the_size_limit_is_the_same_for_every_kind_of_file(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * 1_000_000)
    assert read(path) == "#" * 1_000_000
    path.write_bytes(b"#" * 1_000_001)
    assert refused(path) == (f"{path}: file is 1,000,001 bytes; a test file may be at most"
                             " 1,000,000 bytes")


def test_a_named_pipe(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    assert refused(pipe) == f"{pipe}: is a named pipe, not a test file"


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'title = "Ca\xf1ada"\n')
    assert refused(path) == f"{path}: not UTF-8 text (byte 11); a test file is UTF-8 TOML"


# --- Parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("a = 1\nb = \n", "t.toml:2: invalid TOML: Invalid value"),
    ("a = ", "t.toml:1: invalid TOML: Invalid value"),                  # at end of document
    ("a = 1\n\nb = [1,\n", "t.toml:3: invalid TOML: Invalid value"),    # at end of document
    ("\x00", "t.toml:1: invalid TOML: Invalid statement"),
])
def test_malformed_toml_names_the_line(text: str, message: str) -> None:
    assert parse_error(text) == message


@pytest.mark.parametrize("literal", ["9" * 4301, "-" + "9" * 5000, "0x" + "f" * 3573,
                                     "0o" + "7" * 4762, "0b" + "1" * 14_286,
                                     "1" + "_0" * 4300], ids=lambda text: text[:8])
def test_numbers_of_more_than_4300_digits_however_written(literal: str) -> None:
    assert parse_error(f"a = {literal}\n") == (
        "t.toml: invalid TOML: a number has more than 4,300 digits")


def test_numbers_up_to_4300_digits_are_kept() -> None:
    assert parse(f"a = {'9' * 4300}\nb = 0x{'f' * 3571}\n", "t.toml", FileError)["a"] == (
        10**4300 - 1)


@pytest.mark.parametrize("text", [
    "a = " + "[" * MAX_NESTING + "]" * MAX_NESTING,
    "a = " + "{b = " * MAX_NESTING + "1" + "}" * MAX_NESTING,
    f"[{'.'.join(['t'] * MAX_NESTING)}]\n",
])
def test_nesting_up_to_the_limit_is_kept(text: str) -> None:
    assert parse(text, "t.toml", FileError)


@pytest.mark.parametrize("text", [
    "a = " + "[" * 101 + "]" * 101,
    "a = " + "{b = " * 101 + "1" + "}" * 101,
    "a = " + "[" * 5000 + "]" * 5000,                                    # past the parser
    "a = " + "{b = " * 5000 + "1" + "}" * 5000,
    "".join(f"[{'.'.join(['t'] * depth)}]\n" for depth in range(1, 102)),
])
def test_nesting_past_the_limit(text: str) -> None:
    assert parse_error(text) == "t.toml: invalid TOML: nested more than 100 levels deep"


def test_a_deep_parse_from_a_deep_stack_is_still_one_line() -> None:
    """Where the parser gives out depends on the stack it starts from; the error does not."""
    def nest(levels: int) -> str:
        if levels:
            return nest(levels - 1)
        return parse_error("a = " + "[" * 400 + "]" * 400)

    assert nest(sys.getrecursionlimit() // 2) == (
        "t.toml: invalid TOML: nested more than 100 levels deep")


# --- Numbers shown in messages ------------------------------------------------------


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
