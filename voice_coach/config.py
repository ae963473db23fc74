"""Settings that stick: a small flat TOML file of defaults for ``play``, ``export``, ``plan``.

The file only supplies defaults. Click resolves each value in one order, because the
file's values go in as the context's ``default_map`` (see ``click_default_map``):

    command line > environment (VOICE_COACH_*) > config file > routine > built-in default

Reading is pure apart from ``load_config``; writing replaces the whole file atomically
(a temporary file in the same folder, fsync, ``os.replace``), so a crash or a full disk
never leaves half a file behind, and a malformed file is reported, never overwritten.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeAlias

import platformdirs

from voice_coach.errors import VoiceCoachError
from voice_coach.files import decode_utf8, read_user_file
from voice_coach.routine import MAX_MINUTES, MIN_MINUTES, parse_pace

MIN_RATE_WPM: Final = 80
MAX_RATE_WPM: Final = 400
"""The same bounds as ``speech.MIN_RATE_WPM``/``MAX_RATE_WPM`` (kept here so reading
settings never imports the speech engine)."""

CONFIG_ENVVAR: Final = "VOICE_COACH_CONFIG"
ENVVAR_PREFIX: Final = "VOICE_COACH_"
HEADER: Final = (
    "# voice-coach settings, rewritten by 'voice-coach config set' and 'config unset'.\n"
    "# Comments below this header are not kept.\n"
)

_TRUE: Final = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE: Final = frozenset({"0", "false", "f", "no", "n", "off"})
_WHOLE: Final = re.compile(r"[+-]?\d+")
_TOML_WHERE: Final = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)")


class ConfigError(VoiceCoachError):
    """The settings file is malformed or a setting is invalid."""

    exit_code = 2


Kind: TypeAlias = Literal["int", "float", "str", "bool", "pace"]
Source: TypeAlias = Literal["environment", "config file", "default"]


@dataclass(frozen=True)
class Spec:
    """One setting: its key in the file, what it accepts, and a line of help."""

    key: str
    kind: Kind
    help: str
    low: float = 0.0
    high: float = 0.0

    @property
    def envvar(self) -> str:
        """The environment variable that overrides the file: ``VOICE_COACH_RATE``."""
        return ENVVAR_PREFIX + self.key.upper()


SETTINGS: Final[Mapping[str, Spec]] = {
    spec.key: spec
    for spec in (
        Spec("breath", "pace", "Breath pace in seconds, IN:OUT or IN:HOLD:OUT:HOLD, e.g. 4:6."),
        Spec("caution", "bool", "Speak the safety caution at the start."),
        Spec("chime_volume", "float", "Chime volume relative to the voice, 0 to 2.", 0.0, 2.0),
        Spec("history", "bool", "Record each session in the local history file."),
        Spec("minutes", "float", "Target session length in minutes.", MIN_MINUTES, MAX_MINUTES),
        Spec("rate", "int", "Speech speed in words per minute.", MIN_RATE_WPM, MAX_RATE_WPM),
        Spec("routine", "str", "Default routine: a built-in id or a path to a TOML file."),
        Spec("voice", "str", "Engine voice id or language, e.g. en-gb."),
        Spec("volume", "float", "Voice volume, 0 to 1.", 0.0, 1.0),
    )
}
"""Every setting, sorted by key."""


@dataclass(frozen=True)
class Setting:
    """A setting's effective value and where it came from.

    ``detail`` names the environment variable when ``source`` is "environment". A value
    of None from "default" means the built-in default is the routine's own.
    """

    key: str
    value: object
    source: Source
    detail: str = ""


# --- Locations ------------------------------------------------------------------------


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$VOICE_COACH_CONFIG``, else ``config.toml`` in the user's config folder."""
    chosen = env.get(CONFIG_ENVVAR)
    if chosen:
        return Path(chosen).expanduser()
    return Path(platformdirs.user_config_dir("voice-coach")) / "config.toml"


# --- Reading --------------------------------------------------------------------------


def load_config(path: Path) -> dict[str, object]:
    """The settings in ``path``, validated and converted; {} when there is no file."""
    try:
        raw = read_user_file(path, ConfigError, kind="a settings file")
    except FileNotFoundError:
        return {}
    text = decode_utf8(raw, path, ConfigError, expected="the settings file is UTF-8 TOML")
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str) -> dict[str, object]:
    """Validate TOML text as settings; ``source`` names it in every error."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_WHERE.search(message)
        if found and found.group(1):
            line = int(found.group(1))
        else:  # "at end of document": the last line
            line = max(1, len(text.rstrip("\n").split("\n")))
        reason = _TOML_WHERE.sub("", message).strip()
        raise ConfigError(f"{source}:{line}: invalid TOML: {reason}") from None
    values: dict[str, object] = {}
    for key, value in document.items():
        spec = _spec(key, source)
        try:
            values[key] = _check(spec, value)
        except _Invalid as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
    return dict(sorted(values.items()))


def parse_value(key: str, raw: str) -> object:
    """A setting typed on the command line (``config set rate 130``), validated.

    Booleans accept true/false, yes/no, on/off, 1/0 (also t/f, y/n), as Click does.
    """
    spec = _spec(key, None)
    try:
        return _from_text(spec, raw)
    except _Invalid as exc:
        raise ConfigError(f"{key}: {exc}") from None


# --- Writing --------------------------------------------------------------------------


def set_value(path: Path, key: str, raw: str) -> object:
    """Validate ``raw`` for ``key``, store it, and return the stored value."""
    value = parse_value(key, raw)
    values = load_config(path)
    values[key] = value
    _write_atomically(path, render_config(values))
    return value


def unset_value(path: Path, key: str) -> bool:
    """Remove ``key`` from the file; False (and no write) when it was not set."""
    _spec(key, None)
    values = load_config(path)
    if key not in values:
        return False
    del values[key]
    _write_atomically(path, render_config(values))
    return True


def render_config(values: Mapping[str, object]) -> str:
    """The file's text: the header, then one ``key = value`` line per setting, sorted."""
    lines = [f"{key} = {_toml_scalar(values[key])}\n" for key in sorted(values)]
    return HEADER + "".join(lines)


# --- For the command line -------------------------------------------------------------

_PLAY_PARAMS: Final[tuple[str, ...]] = ("rate", "voice", "volume", "chime_volume", "minutes",
                                        "breath", "no_caution", "routine")
_PLAN_PARAMS: Final[tuple[str, ...]] = ("minutes", "breath", "no_caution", "rate", "routine")


def click_default_map(values: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """Settings as Click's ``default_map`` for ``play``, ``export`` and ``plan``.

    Click takes a value from the command line, then the environment, then the
    ``default_map``, then the parameter's default, which gives the documented order:
    command line > environment (VOICE_COACH_*) > config file > routine > built-in default.
    ``caution`` becomes the ``no_caution`` flag; ``routine`` is the ROUTINE argument's
    default; ``history`` is not an option of any command.
    """
    params: dict[str, object] = {}
    for key, value in values.items():
        if key == "caution":
            params["no_caution"] = not value
        elif key != "history":
            params[key] = value
    play = {name: params[name] for name in _PLAY_PARAMS if name in params}
    return {
        "play": play,
        "export": dict(play),
        "plan": {name: params[name] for name in _PLAN_PARAMS if name in params},
    }


def effective_settings(config: Mapping[str, object], env: Mapping[str, str],
                       defaults: Mapping[str, object]) -> list[Setting]:
    """Each setting's value before the command line: environment > config file > default.

    An empty environment variable counts as unset, as in Click. A missing default is
    None. Raises ConfigError naming the variable when an environment value is invalid.
    """
    found: list[Setting] = []
    for key, spec in SETTINGS.items():
        raw = env.get(spec.envvar)
        if raw:
            try:
                found.append(Setting(key, _from_text(spec, raw), "environment", spec.envvar))
            except _Invalid as exc:
                raise ConfigError(f"{spec.envvar}: {exc}") from None
        elif key in config:
            found.append(Setting(key, config[key], "config file"))
        else:
            found.append(Setting(key, defaults.get(key), "default"))
    return found


def known_keys() -> str:
    """``breath, caution, ...``: every key, for messages and help."""
    return ", ".join(SETTINGS)


# --- Internals ------------------------------------------------------------------------


class _Invalid(Exception):
    """A value that does not fit its setting; the message is "expected ..., got ..."."""


def _spec(key: str, source: str | None) -> Spec:
    if key not in SETTINGS:
        where = f"{source}: {key}" if source else key
        raise ConfigError(f"{where}: unknown setting; known: {known_keys()}")
    return SETTINGS[key]


def _check(spec: Spec, value: object) -> object:
    """A value as TOML gives it, validated and converted."""
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not (
                spec.low <= value <= spec.high):
            raise _Invalid(f"expected a whole number from {spec.low:g} to {spec.high:g},"
                           f" got {_show(value)}")
        return value
    if spec.kind == "float":
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not (math.isfinite(value) and spec.low <= value <= spec.high)):
            raise _Invalid(f"expected a number from {spec.low:g} to {spec.high:g},"
                           f" got {_show(value)}")
        return float(value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise _Invalid(f"expected true or false, got {_show(value)}")
        return value
    if not isinstance(value, str):
        example = " such as '4:6' or '4:7:8:0'" if spec.kind == "pace" else ""
        raise _Invalid(f"expected a string{example}, got {_show(value)}")
    text = value.strip()
    if not text:
        raise _Invalid("expected some text, got an empty string")
    if spec.kind == "pace":
        try:
            parse_pace(text)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
    return text


def _from_text(spec: Spec, raw: str) -> object:
    """A value typed as text (command line, environment), validated and converted."""
    text = raw.strip()
    if spec.kind == "int":
        return _check(spec, int(text) if _WHOLE.fullmatch(text) else raw)
    if spec.kind == "float":
        try:
            number: object = float(text)
        except ValueError:
            number = raw
        return _check(spec, number)
    if spec.kind == "bool":
        word = text.lower()
        return _check(spec, True if word in _TRUE else False if word in _FALSE else raw)
    return _check(spec, raw)


def _show(value: object) -> str:
    """A value as the user wrote it, in a few words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"  # TOML dates and times


def _toml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"cannot write {type(value).__name__} to the settings file")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
               "\f": "\\f", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once, or leave it as it was.

    A symlinked file (dotfile managers) is written through the link. A new file is
    private to the user (0600); an existing file keeps its mode.
    """
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({_reason(exc)})") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(text.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise ConfigError(f"{path}: cannot write ({_reason(exc)})") from None
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
