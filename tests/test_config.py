"""Settings: every key's exact message, atomic rewrites that repair, one order of precedence."""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path

import platformdirs
import pytest

from voice_coach import paths
from voice_coach.config import (
    HEADER,
    SETTINGS,
    ConfigError,
    Setting,
    load_config,
    parse_value,
    read_config,
    resolve,
    resolve_one,
    set_value,
    unset_value,
)

KNOWN = ("ambient, ambient_volume, breath, breath_to, caution, chime_volume, device, engine,"
         " history, lang, media_keys, minutes, rate, routine, tail, voice, volume")


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


# --- Where the file is --------------------------------------------------------------


def test_config_path_from_environment_or_platform_folder() -> None:
    assert paths.config_file({"VOICE_COACH_CONFIG": "/etc/vc.toml"}) == Path("/etc/vc.toml")
    expected = Path(platformdirs.user_config_dir("voice-coach")) / "config.toml"
    assert paths.config_file({}) == expected
    assert paths.config_file({"VOICE_COACH_CONFIG": ""}) == expected


def test_config_error_is_a_usage_error() -> None:
    assert ConfigError.exit_code == 2


def test_settings_table_names_each_key_and_its_environment_variable() -> None:
    assert ", ".join(SETTINGS) == KNOWN
    assert [spec.envvar for spec in SETTINGS.values()] == [
        "VOICE_COACH_AMBIENT", "VOICE_COACH_AMBIENT_VOLUME", "VOICE_COACH_BREATH", "VOICE_COACH_BREATH_TO", "VOICE_COACH_CAUTION",
        "VOICE_COACH_CHIME_VOLUME", "VOICE_COACH_DEVICE", "VOICE_COACH_ENGINE",
        "VOICE_COACH_HISTORY",
        "VOICE_COACH_LANG", "VOICE_COACH_MEDIA_KEYS", "VOICE_COACH_MINUTES", "VOICE_COACH_RATE",
        "VOICE_COACH_ROUTINE", "VOICE_COACH_TAIL", "VOICE_COACH_VOICE", "VOICE_COACH_VOLUME"]
    assert all(spec.help.endswith(".") for spec in SETTINGS.values())


# --- Reading ------------------------------------------------------------------------


def test_missing_file_is_no_settings(tmp_path: Path) -> None:
    assert load_config(tmp_path / "nope.toml") == {}


def test_every_key_loads_converted_and_sorted(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([
        "# mine", "volume = 1", "rate = 130", 'voice = " en-gb "', "chime_volume = 0.5",
        "minutes = 10", 'breath = "4:7:8:0"', 'routine = "~/my routine.toml"',
        "caution = false", "history = true", ""]))
    values = load_config(path)
    assert values == {"breath": "4:7:8:0", "caution": False, "chime_volume": 0.5,
                      "history": True, "minutes": 10.0, "rate": 130,
                      "routine": "~/my routine.toml", "voice": "en-gb", "volume": 1.0}
    assert list(values) == sorted(values)
    assert type(values["volume"]) is float and type(values["minutes"]) is float
    assert type(values["rate"]) is int


@pytest.mark.parametrize("line", [
    "rate = 80", "rate = 400", "volume = 0", "volume = 1.0", "chime_volume = 2",
    "minutes = 1", "minutes = 180", 'breath = "0.5:0:0.5:60"',
])
def test_bounds_are_inclusive(tmp_path: Path, line: str) -> None:
    key = line.split(" ")[0]
    assert key in load_config(write(tmp_path, line))


@pytest.mark.parametrize(("line", "message"), [
    ('rate = "fast"', "rate: expected a whole number from 80 to 400, got 'fast'"),
    ("rate = 79", "rate: expected a whole number from 80 to 400, got 79"),
    ("rate = 401", "rate: expected a whole number from 80 to 400, got 401"),
    ("rate = 130.5", "rate: expected a whole number from 80 to 400, got 130.5"),
    ("rate = true", "rate: expected a whole number from 80 to 400, got true"),
    ('voice = ""', "voice: expected some text, got an empty string"),
    ('voice = "   "', "voice: expected some text, got an empty string"),
    ("voice = 3", "voice: expected a string, got 3"),
    ("voice = 1979-05-27", "voice: expected a string, got a date"),
    ("volume = 1.5", "volume: expected a number from 0 to 1, got 1.5"),
    ("volume = -0.1", "volume: expected a number from 0 to 1, got -0.1"),
    ("volume = nan", "volume: expected a number from 0 to 1, got nan"),
    ('volume = "loud"', "volume: expected a number from 0 to 1, got 'loud'"),
    ("chime_volume = 2.5", "chime_volume: expected a number from 0 to 2, got 2.5"),
    ("chime_volume = inf", "chime_volume: expected a number from 0 to 2, got inf"),
    ("chime_volume = 1" + "0" * 400, "chime_volume: expected a number from 0 to 2,"
                                     " got a 401-digit number"),
    ("minutes = 0x" + "f" * 300, "minutes: expected a number from 1 to 180,"
                                 " got a 362-digit number"),
    ("minutes = 0.5", "minutes: expected a number from 1 to 180, got 0.5"),
    ("minutes = 181", "minutes: expected a number from 1 to 180, got 181"),
    ("minutes = false", "minutes: expected a number from 1 to 180, got false"),
    ('breath = "4:7:8"', "breath: '4:7:8' is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)"),
    ('breath = "4:0.1"', "breath: '4:0.1': exhale must be from 0.5 to 60 seconds"),
    ('breath = "in:out"', "breath: 'in:out': every part must be a number of seconds"),
    ("breath = 4", "breath: expected a string such as '4:6' or '4:7:8:0', got 4"),
    ('routine = ""', "routine: expected some text, got an empty string"),
    ('routine = ["a"]', "routine: expected a string, got a list"),
    ('caution = "yes"', "caution: expected true or false, got 'yes'"),
    ("history = 1", "history: expected true or false, got 1"),
    ("history = {on = true}", "history: expected true or false, got a table"),
])
def test_each_invalid_value_names_file_and_key(tmp_path: Path, line: str, message: str) -> None:
    valid = "minutes = 10\n" if line.startswith("rate") else "rate = 130\n"
    path = write(tmp_path, f"# settings\n{valid}{line}\n")
    assert load_error(path) == f"{path}: {message}"


@pytest.mark.parametrize("text", ["speed = 1\n", "[play]\nrate = 130\n", "Rate = 130\n",
                                  "chime-volume = 1\n"])
def test_unknown_key_lists_the_known_ones(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    key = text.split()[0].strip("[]")
    assert load_error(path) == f"{path}: {key}: unknown setting; known: {KNOWN}"


def test_an_unknown_key_that_does_not_print_is_quoted(tmp_path: Path) -> None:
    path = write(tmp_path, '"a\\nb" = 1\n"\\u2028" = 2\n"my key" = 3\n')
    assert read_config(path).problems == (
        f'{path}: "a\\nb": unknown setting; known: {KNOWN}',
        f'{path}: "\\u2028": unknown setting; known: {KNOWN}',
        f"{path}: my key: unknown setting; known: {KNOWN}")
    with pytest.raises(ConfigError) as caught:
        parse_value("a\tb", "1")
    assert str(caught.value) == f'"a\\tb": unknown setting; known: {KNOWN}'


@pytest.mark.parametrize(("text", "where", "reason"), [
    ("rate = 130\nvoice = en-gb\n", 2, "Invalid value"),
    ("rate = 130\nrate = 140\n", 2, "Cannot overwrite a value"),
    ('\n\nvoice = "en\n', 3, "Illegal character '\\n'"),
    ("rate = ", 1, "Invalid value"),                     # "at end of document"
    ("rate = 130\nvolume =\n", 2, "Invalid value"),
])
def test_malformed_toml_names_the_line(tmp_path: Path, text: str, where: int, reason: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}:{where}: invalid TOML: {reason}"


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b'voice = "caf\xe9"\n')
    assert load_error(path) == (f"{path}: not UTF-8 text (byte 12);"
                                " the settings file is UTF-8 TOML")


def test_a_directory_is_not_a_settings_file(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: is a directory, not a settings file"


def test_a_named_pipe_or_a_device_is_not_a_settings_file(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    assert load_error(pipe) == f"{pipe}: is a named pipe, not a settings file"
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    assert load_error(zero) == f"{zero}: is a device, not a settings file"


@pytest.mark.parametrize(("text", "message"), [
    ("rate = " + "9" * 5000 + "\n", "invalid TOML: a number has more than 4,300 digits"),
    ("rate = 0x" + "f" * 5000 + "\n", "invalid TOML: a number has more than 4,300 digits"),
    ("rate = " + "[" * 5000 + "]" * 5000 + "\n",
     "invalid TOML: nested more than 100 levels deep"),
    ("rate = " + "{a = " * 101 + "1" + "}" * 101 + "\n",
     "invalid TOML: nested more than 100 levels deep"),
    ("#" * 1_000_001, "file is 1,000,001 bytes; a settings file may be at most 1,000,000 bytes"),
])
def test_the_limits_of_every_toml_file(tmp_path: Path, text: str, message: str) -> None:
    """The same limits as a routine's (``tomlfile``), and never a file rewritten past them."""
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}: {message}"
    with pytest.raises(ConfigError) as caught:
        set_value(path, "rate", "130")
    assert str(caught.value) == f"{path}: {message}"
    assert path.read_text(encoding="utf-8") == text


# --- Command-line values ------------------------------------------------------------


@pytest.mark.parametrize(("key", "raw", "value"), [
    ("rate", "130", 130), ("rate", " 80 ", 80), ("rate", "+400", 400),
    ("volume", "1", 1.0), ("volume", "0.25", 0.25), ("chime_volume", "2", 2.0),
    ("minutes", "10", 10.0), ("breath", "4:6", "4:6"), ("breath", " 4:7:8:0 ", "4:7:8:0"),
    ("voice", "gmw/en-us", "gmw/en-us"), ("routine", "box-breathing", "box-breathing"),
    ("caution", "true", True), ("caution", "FALSE", False), ("caution", "yes", True),
    ("caution", "no", False), ("history", "on", True), ("history", "Off", False),
    ("history", "1", True), ("history", "0", False),
])
def test_parse_value_converts(key: str, raw: str, value: object) -> None:
    parsed = parse_value(key, raw)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(("key", "raw", "message"), [
    ("rate", "fast", "rate: expected a whole number from 80 to 400, got 'fast'"),
    ("rate", "500", "rate: expected a whole number from 80 to 400, got 500"),
    ("rate", "130.0", "rate: expected a whole number from 80 to 400, got '130.0'"),
    ("rate", "", "rate: expected a whole number from 80 to 400, got ''"),
    ("volume", "loud", "volume: expected a number from 0 to 1, got 'loud'"),
    ("volume", "nan", "volume: expected a number from 0 to 1, got nan"),
    ("chime_volume", "-1", "chime_volume: expected a number from 0 to 2, got -1.0"),
    ("minutes", "200", "minutes: expected a number from 1 to 180, got 200.0"),
    ("breath", "4", "breath: '4' is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)"),
    ("voice", "  ", "voice: expected some text, got an empty string"),
    ("routine", "", "routine: expected some text, got an empty string"),
    ("caution", "maybe", "caution: expected true or false, got 'maybe'"),
    ("history", "", "history: expected true or false, got ''"),
    ("rate", "9" * 5000, "rate: expected a whole number from 80 to 400,"
                         " got '9999999999999999999999999999999999999...'"),
    ("rate", "-" + "9" * 4300, "rate: expected a whole number from 80 to 400,"
                               " got a 4300-digit number"),
    ("rate", "9" * 4301, "rate: expected a whole number from 80 to 400,"
                         " got '9999999999999999999999999999999999999...'"),
    ("speed", "1", f"speed: unknown setting; known: {KNOWN}"),
    ("chime-volume", "1", f"chime-volume: unknown setting; known: {KNOWN}"),
])
def test_parse_value_rejects(key: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_value(key, raw)
    assert str(caught.value) == message


# --- Writing ------------------------------------------------------------------------


def test_set_and_unset_round_trip_keeping_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "config.toml"
    assert set_value(path, "voice", "en-gb") == "en-gb"
    assert set_value(path, "rate", "130") == 130
    assert set_value(path, "caution", "off") is False
    assert set_value(path, "volume", "0.5") == 0.5
    assert path.read_text(encoding="utf-8") == HEADER + (
        'caution = false\nrate = 130\nvoice = "en-gb"\nvolume = 0.5\n')
    assert set_value(path, "rate", "150") == 150
    assert load_config(path) == {"caution": False, "rate": 150, "voice": "en-gb",
                                 "volume": 0.5}
    assert unset_value(path, "rate") is True
    assert load_config(path) == {"caution": False, "voice": "en-gb", "volume": 0.5}
    assert unset_value(path, "rate") is False
    assert path.read_text(encoding="utf-8") == HEADER + (
        'caution = false\nvoice = "en-gb"\nvolume = 0.5\n')


def test_every_key_survives_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    typed = {"breath": "4:7:8:0", "caution": "yes", "chime_volume": "1.75", "history": "0",
             "minutes": "12.5", "rate": "95", "routine": "/tmp/my routine.toml",
             "voice": "en-gb", "volume": "0.1"}
    stored = {key: set_value(path, key, raw) for key, raw in typed.items()}
    assert load_config(path) == stored


def test_strings_are_escaped_for_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    awkward = 'a "quoted" \\ back\tslash\x01 é ☃ \x7f # not a comment'
    assert set_value(path, "routine", awkward) == awkward
    assert load_config(path) == {"routine": awkward}


def test_unset_without_a_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert unset_value(path, "rate") is False
    assert not path.exists()


def test_unset_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        unset_value(tmp_path / "config.toml", "speed")
    assert str(caught.value) == f"speed: unknown setting; known: {KNOWN}"


def test_invalid_value_leaves_the_file_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "rate = 130\n")
    with pytest.raises(ConfigError) as caught:
        set_value(path, "volume", "2")
    assert str(caught.value) == "volume: expected a number from 0 to 1, got 2.0"
    assert path.read_text(encoding="utf-8") == "rate = 130\n"


def test_a_file_that_is_not_toml_is_never_clobbered(tmp_path: Path) -> None:
    text = "rate = \n"
    path = write(tmp_path, text)
    changes: list[Callable[[], object]] = [lambda: set_value(path, "voice", "en"),
                                           lambda: unset_value(path, "rate")]
    for change in changes:
        with pytest.raises(ConfigError) as caught:
            change()
        assert str(caught.value) == f"{path}:1: invalid TOML: Invalid value"
        assert path.read_text(encoding="utf-8") == text


def test_set_repairs_an_invalid_value_and_keeps_the_rest_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, 'rate = "fast"\nspeed = 1\nvolume = 5\n')
    assert set_value(path, "rate", "120") == 120
    assert path.read_text(encoding="utf-8") == HEADER + "rate = 120\nspeed = 1\nvolume = 5\n"
    assert read_config(path).problems == (
        f"{path}: speed: unknown setting; known: {KNOWN}",
        f"{path}: volume: expected a number from 0 to 1, got 5")


def test_unset_removes_an_invalid_or_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'rate = "fast"\nspeed = 1\nvoice = "en"\n')
    assert unset_value(path, "speed") is True
    assert unset_value(path, "rate") is True
    assert load_config(path) == {"voice": "en"}
    assert unset_value(path, "rate") is False


def test_read_config_reports_every_bad_key_and_keeps_the_good_ones(tmp_path: Path) -> None:
    path = write(tmp_path, 'rate = "fast"\nvoice = "en"\nhistory = 2\n')
    found = read_config(path)
    assert found.values == {"voice": "en"}
    assert found.problems == (
        f"{path}: rate: expected a whole number from 80 to 400, got 'fast'",
        f"{path}: history: expected true or false, got 2")
    assert found.written == {"rate": "fast", "voice": "en", "history": 2}
    assert load_error(path) == found.problems[0]


def test_values_of_every_toml_type_are_kept_as_written(tmp_path: Path) -> None:
    text = ("a = [1, 2.5]\nb = 1979-05-27\nc = {x = true}\nd = inf\n"
            'e = "q\\"uote"\n')
    path = write(tmp_path, text)
    set_value(path, "rate", "130")
    assert read_config(path).written == {**tomllib.loads(text), "rate": 130}


def test_keys_that_need_quotes_are_kept_quoted(tmp_path: Path) -> None:
    """A misspelt key in quotes ("my key", "a.b") survives a rewrite as the same key."""
    text = '"my key" = 1\n"a.b" = 2\n"" = 3\n"caf\u00e9" = 4\n'
    path = write(tmp_path, text)
    set_value(path, "rate", "130")
    assert path.read_text(encoding="utf-8") == HEADER + (
        '"" = 3\n"a.b" = 2\n"café" = 4\n"my key" = 1\nrate = 130\n')
    assert read_config(path).written == {**tomllib.loads(text), "rate": 130}


@pytest.mark.parametrize("step", ["replace", "fsync"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """A crash between writing and renaming: a fault we cannot cause for real."""
    path = write(tmp_path, HEADER + "rate = 130\n")
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, step, fail)
    with pytest.raises(ConfigError) as caught:
        set_value(path, "voice", "en-gb")
    assert str(caught.value) == f"{path}: cannot write (Input/output error)"
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["config.toml"]


def test_interrupt_mid_write_leaves_no_temporary(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "rate = 130\n")

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        set_value(path, "rate", "140")
    assert path.read_text(encoding="utf-8") == "rate = 130\n"
    assert os.listdir(tmp_path) == ["config.toml"]


def test_a_file_in_the_way_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    path = tmp_path / "file" / "config.toml"
    changes: list[Callable[[], object]] = [lambda: set_value(path, "rate", "130"),
                                           lambda: load_config(path)]
    for change in changes:
        with pytest.raises(ConfigError) as caught:
            change()
        assert str(caught.value) == f"{path}: cannot read (Not a directory)"


def test_file_mode_is_kept_and_new_files_are_private(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.toml"
    set_value(fresh, "rate", "130")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    shared = write(tmp_path, "rate = 130\n")
    shared.chmod(0o644)
    set_value(shared, "rate", "140")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644


def test_a_symlinked_file_is_written_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "voice-coach.toml"
    real.parent.mkdir()
    real.write_text("rate = 130\n", encoding="utf-8")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    set_value(link, "voice", "en-gb")
    assert link.is_symlink()
    assert load_config(real) == {"rate": 130, "voice": "en-gb"}


# --- Resolving ----------------------------------------------------------------------


def test_resolve_precedence_case_by_case() -> None:
    config = {"rate": 130, "voice": "en-gb", "caution": True, "minutes": 10.0}
    env = {"VOICE_COACH_RATE": "150", "VOICE_COACH_CAUTION": "no", "VOICE_COACH_VOLUME": "",
           "VOICE_COACH_BREATH": "4:7:8:0", "VOICE_COACH_PLAY_QUIET": "1", "HOME": "/root",
           "VOICE_COACH_MEDIA_KEYS": "off", "VOICE_COACH_AMBIENT": "waves"}
    command_line = {"minutes": 12.0, "voice": None, "rate": None, "ambient_volume": -3.0}
    assert list(resolve(SETTINGS, command_line, env, config).values()) == [
        Setting("ambient", "waves", "environment", "VOICE_COACH_AMBIENT"),
        Setting("ambient_volume", -3.0, "command line"),
        Setting("breath", "4:7:8:0", "environment", "VOICE_COACH_BREATH"),
        Setting("breath_to", None, "default"),
        Setting("caution", False, "environment", "VOICE_COACH_CAUTION"),
        Setting("chime_volume", 1.0, "default"),
        Setting("device", None, "default"),
        Setting("engine", "pyttsx3", "default"),
        Setting("history", True, "default"),
        Setting("lang", None, "default"),
        Setting("media_keys", False, "environment", "VOICE_COACH_MEDIA_KEYS"),
        Setting("minutes", 12.0, "command line"),
        Setting("rate", 150, "environment", "VOICE_COACH_RATE"),
        Setting("routine", "psoas-release", "default"),
        Setting("tail", 0.0, "default"),
        Setting("voice", "en-gb", "config file"),
        Setting("volume", 1.0, "default"),       # an empty variable is unset, as in Click
    ]


def test_resolve_with_nothing_set_gives_the_table_defaults() -> None:
    found = resolve(SETTINGS, {}, {}, {})
    assert {key: s.value for key, s in found.items()} == {
        key: spec.default for key, spec in SETTINGS.items()}
    assert all(s.source == "default" and s.detail == "" for s in found.values())


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("VOICE_COACH_RATE", "fast", "expected a whole number from 80 to 400, got 'fast'"),
    ("VOICE_COACH_HISTORY", "banana", "expected true or false, got 'banana'"),
    ("VOICE_COACH_CAUTION", "banana", "expected true or false, got 'banana'"),
    ("VOICE_COACH_BREATH", "4", "'4' is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)"),
    ("VOICE_COACH_MINUTES", "0", "expected a number from 1 to 180, got 0.0"),
])
def test_resolve_names_a_bad_environment_variable(name: str, raw: str, message: str) -> None:
    spec = SETTINGS[name.removeprefix("VOICE_COACH_").lower()]
    with pytest.raises(ConfigError) as caught:
        resolve_one(spec, {}, {name: raw}, {})
    assert str(caught.value) == f"{name}: {message}"
    assert caught.value.exit_code == 2
