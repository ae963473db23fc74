"""Files that are wrong in every way a person (or a broken machine) can make them, through
the command line: one exact line on stderr and the exit code, never a traceback or a hang.

CliRunner with ``catch_exceptions=False``, so anything but a Click exception fails the test.
Exit codes: 2 for a file the person gave or wrote (settings, routines), 1 for one the
program keeps or the machine answers with (the history, the sound tools).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from voice_coach import paths
from voice_coach.cli import cli
from voice_coach.history import Entry, append


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- The settings file --------------------------------------------------------------


def digits_5000(path: Path) -> None:
    write_bytes(path, b"rate = " + b"9" * 5000 + b"\n")


def arrays_5000_deep(path: Path) -> None:
    write_bytes(path, b"rate = " + b"[" * 5000 + b"]" * 5000 + b"\n")


def a_folder(path: Path) -> None:
    path.mkdir(parents=True)


def a_named_pipe(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def latin_1(path: Path) -> None:
    write_bytes(path, b'voice = "fran\xe7ais"\n')


SETTINGS_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a 5,000-digit number": (digits_5000, "invalid TOML: a number has more than 4,300 digits"),
    "arrays 5,000 deep": (arrays_5000_deep, "invalid TOML: nested more than 100 levels deep"),
    "a directory": (a_folder, "is a directory, not a settings file"),
    "a named pipe": (a_named_pipe, "is a named pipe, not a settings file"),
    "invalid UTF-8": (latin_1, "not UTF-8 text (byte 13); the settings file is UTF-8 TOML"),
}


@pytest.mark.parametrize("case", SETTINGS_FILES.values(), ids=SETTINGS_FILES.keys())
def test_a_bad_settings_file_stops_a_session_with_one_line(
        case: tuple[Callable[[Path], None], str]) -> None:
    make, message = case
    path = paths.config_file()
    make(path)
    for command in (["plan"], ["play"], ["export", "-o", "out"], ["config", "set", "rate", "130"]):
        result = invoke(*command)
        assert (result.exit_code, result.stderr, result.stdout) == (
            2, f"Error: {path}: {message}\n", ""), command


@pytest.mark.parametrize("case", SETTINGS_FILES.values(), ids=SETTINGS_FILES.keys())
def test_config_shows_a_bad_settings_file_and_the_defaults(
        case: tuple[Callable[[Path], None], str]) -> None:
    make, message = case
    path = paths.config_file()
    make(path)
    result = invoke("config")
    assert result.exit_code == 0
    assert result.stderr == (f"problem: {path}: {message}"
                             " (the file is ignored here; fix it in an editor)\n")
    assert "rate          140                default" in result.stdout.splitlines()


def test_a_5000_digit_number_from_the_environment_or_config_set() -> None:
    digits = "9" * 5000
    shown = "expected a whole number from 80 to 400, got '9999999999999999999999999999999999999...'"
    result = invoke("plan", env={"VOICE_COACH_RATE": digits})
    assert (result.exit_code, result.stderr) == (2, f"Error: VOICE_COACH_RATE: {shown}\n")
    result = invoke("config", "set", "rate", digits)
    assert (result.exit_code, result.stderr) == (2, f"Error: rate: {shown}\n")


def test_config_shows_a_key_that_does_not_print_quoted_on_one_line() -> None:
    path = paths.config_file()
    write_bytes(path, b'"a\\nb" = 1\n')
    result = invoke("config")
    assert result.exit_code == 0
    assert result.stderr == (
        f'problem: {path}: "a\\nb": unknown setting; known: ambient, ambient_volume, breath, breath_to, caution,'
        " chime_volume, device, engine, history, lang, media_keys, minutes, rate, routine, tail, voice, volume"
        ' (repair: voice-coach config set "a\\nb" VALUE, or unset "a\\nb")\n')


# --- The history --------------------------------------------------------------------


def test_history_shows_the_rest_and_one_note_for_damaged_lines() -> None:
    path = paths.history_file()
    now = datetime.now(UTC)
    for days_ago in (1, 0):
        append(path, Entry(now - timedelta(days=days_ago), "psoas-release", 7.0, 420.0,
                           "completed"))
    with path.open("ab") as file:
        file.write(b"\xff\xfe not JSON\n" + b"[" * 2_000_000 + b"\n"
                   + b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": "r"}\n'
                   + b"x" * 3_000_000)                                # cut short: no newline
    result = invoke("history")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[-1] == "2 sessions, 14 minutes in all; streak: 2 days"
    assert result.stderr == f"note: 4 damaged line(s) in {path} were skipped\n"


@pytest.mark.parametrize(("make", "reason"), [
    (a_folder, "Is a directory"),
    (a_named_pipe, "is a named pipe"),
    (lambda path: (path.parent.mkdir(parents=True), path.symlink_to("/dev/zero")),
     "is a device"),
], ids=["a directory", "a named pipe", "a device"])
def test_a_history_that_is_not_a_file_is_one_line_and_exit_1(
        make: Callable[[Path], object], reason: str) -> None:
    path = paths.history_file()
    make(path)
    result = invoke("history")
    assert (result.exit_code, result.stderr, result.stdout) == (
        1, f"Error: {path}: cannot read the history ({reason})\n", "")
