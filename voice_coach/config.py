"""Settings: the one table of what can be set, where each value comes from, and the file.

``SETTINGS`` is the only place a setting's name, type, range, built-in default,
environment variable, command-line option and help are written; the CLI builds its
options from it. Each value resolves in one order, in one function (``resolve``):

    command line > environment (VOICE_COACH_*) > settings file > routine > built-in default

The file only supplies defaults: a small flat TOML file. Reading is pure apart from
``load_config``; writing replaces the whole file atomically, so a crash or a full disk
never leaves half a file behind. ``config set`` and ``config unset`` work on the file as
it is, so they can repair a value that ``load_config`` refuses.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, TypeAlias

from voice_coach import tomlfile
from voice_coach.engines.registry import NAMES as ENGINE_NAMES
from voice_coach.errors import VoiceCoachError, show_value
from voice_coach.files import write_atomically
from voice_coach.language import LANGUAGES, UnknownLanguageError, check_language
from voice_coach.pace import PACE_EXAMPLES, parse_pace
from voice_coach.routine_file import MAX_MINUTES, MIN_MINUTES

MIN_RATE_WPM: Final = 80
MAX_RATE_WPM: Final = 400
DEFAULT_RATE_WPM: Final = 140
"""A calm guided-relaxation pace; relaxation narration is commonly 120-150 wpm."""
DEFAULT_ROUTINE: Final = "psoas-release"

NEURAL_INSTALL: Final = "pip install 'voice-coach[neural]'"
ENVVAR_PREFIX: Final = "VOICE_COACH_"
HEADER: Final = (
    "# voice-coach settings, rewritten by 'voice-coach config set' and 'config unset'.\n"
    "# Comments below this header are not kept.\n"
)

_TRUE: Final = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE: Final = frozenset({"0", "false", "f", "no", "n", "off"})
_WHOLE: Final = re.compile(r"[+-]?\d+")
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(VoiceCoachError):
    """The settings file is malformed or a setting is invalid."""

    exit_code = 2


Kind: TypeAlias = Literal["int", "float", "str", "bool", "pace", "lang", "choice"]
Source: TypeAlias = Literal["command line", "environment", "config file", "locale", "default"]
Command: TypeAlias = Literal["plan", "play", "export", "check", "routines", "voices", "doctor"]

_SHAPE: Final[frozenset[Command]] = frozenset({"plan", "play", "export"})
_SOUND: Final[frozenset[Command]] = frozenset({"play", "export"})


@dataclass(frozen=True)
class Spec:
    """One setting: its key in the file, what it accepts, its default and its option.

    ``default`` None means another part decides; ``unset`` says which, for help and
    ``config`` (the routine's minutes, the language's voice, the system's device).
    ``option`` is the command-line option of the ``commands`` that take it, with
    ``short`` its one-letter form; a bool's option is a ``--x/--no-x`` pair. A setting
    without an option (``routine``) is a command's argument. A "choice" takes one of
    ``choices``.
    """

    key: str
    kind: Kind
    help: str
    low: float = 0.0
    high: float = 0.0
    default: object = None
    unset: str = "the routine's"
    option: str | None = None
    short: str | None = None
    commands: frozenset[Command] = frozenset()
    choices: tuple[str, ...] = ()

    @property
    def envvar(self) -> str:
        """The environment variable that overrides the file: ``VOICE_COACH_RATE``."""
        return ENVVAR_PREFIX + self.key.upper()


SETTINGS: Final[Mapping[str, Spec]] = {
    spec.key: spec
    for spec in (
        Spec("ambient", "str", "Ambient bed under the session: brown, pink, waves or none.",
             default="none", option="--ambient", commands=_SHAPE),
        Spec("ambient_volume", "float", "Ambient bed volume in dB from its default, 23 dB"
             " under the voice: -20 to 3.", -20.0, 3.0, default=0.0,
             option="--ambient-volume", commands=_SHAPE),
        Spec("breath", "pace", "Breath pace in seconds, IN:OUT or IN:HOLD:OUT:HOLD, e.g. 4:6.",
             option="--breath", short="-b", commands=_SHAPE),
        Spec("breath_to", "pace", "Breath pace at the end of the session; breaths in between"
             " move smoothly from --breath to it, e.g. 4:6 to 5:8.",
             option="--breath-to", commands=_SHAPE),
        Spec("caution", "bool", "Speak the safety caution at the start.", default=True,
             option="--caution/--no-caution", commands=_SHAPE),
        Spec("chime_volume", "float", "Chime volume relative to the voice, 0 to 2.", 0.0, 2.0,
             default=1.0, option="--chime-volume", commands=_SOUND),
        Spec("device", "str", "Sound output to play on, a name 'voice-coach devices' lists.",
             unset="the system's", option="--device", commands=frozenset({"play"})),
        Spec("engine", "choice", "Speech engine: pyttsx3 (espeak-ng) or piper (a natural"
             f" voice; {NEURAL_INSTALL}).", default=ENGINE_NAMES[0], option="--engine",
             commands=_SHAPE | {"voices", "doctor"}, choices=ENGINE_NAMES),
        Spec("history", "bool", "Record each session in the local history file.",
             default=True, option="--history/--no-history", commands=frozenset({"play"})),
        Spec("lang", "lang", f"Language of the session: {', '.join(LANGUAGES)}; unset, the"
             " locale's when the routine has it.", option="--lang",
             commands=_SHAPE | {"routines"}),
        Spec("media_keys", "bool", "Let media keys, headset buttons, the desktop's player"
             " controls and a phone pause, skip and stop the session (MPRIS2).", default=True,
             option="--media-keys/--no-media-keys", commands=frozenset({"play"})),
        Spec("minutes", "float", "Target session length in minutes.", MIN_MINUTES,
             MAX_MINUTES, option="--minutes", short="-m", commands=_SHAPE),
        Spec("rate", "int", "Speech speed in words per minute (both engines).", MIN_RATE_WPM,
             MAX_RATE_WPM, default=DEFAULT_RATE_WPM, option="--rate", short="-r",
             commands=_SHAPE | {"check"}),
        Spec("routine", "str", "Default routine: a built-in id or a path to a TOML file.",
             default=DEFAULT_ROUTINE),
        Spec("tail", "float", "Minutes the ambient bed plays on after the session ends,"
             " fading out over its last minute: 0 to 60.", 0.0, 60.0, default=0.0,
             option="--tail", commands=_SHAPE),
        Spec("voice", "str", "Engine voice: an espeak-ng id or language, e.g. en-gb; for"
             " piper a voice name, a language or an .onnx path.", unset="the language's",
             option="--voice", commands=_SHAPE | {"doctor"}),
        Spec("volume", "float", "Voice volume, 0 to 1.", 0.0, 1.0, default=1.0,
             option="--volume", commands=_SOUND),
    )
}
"""Every setting, sorted by key."""


@dataclass(frozen=True)
class Setting:
    """A setting's value and where it came from.

    ``detail`` names the environment variable when ``source`` is "environment". A value
    of None from "default" means the routine's own (or the engine's).
    """

    key: str
    value: object
    source: Source
    detail: str = ""


# --- Reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigFile:
    """A settings file as found: its valid settings, and one line per key that is not."""

    values: dict[str, object]
    problems: tuple[str, ...] = ()
    written: dict[str, object] | None = None
    """Every key as the file has it, valid or not (None when there is no file)."""


def read_config(path: Path) -> ConfigFile:
    """The settings in ``path``, with its invalid or unknown keys reported, not refused.

    A file that cannot be read, is not UTF-8 or is not TOML at all raises ConfigError.
    """
    try:
        text = tomlfile.read_text(path, ConfigError, kind="a settings file",
                                  expected="the settings file is UTF-8 TOML")
    except FileNotFoundError:
        return ConfigFile({})
    document = tomlfile.parse(text, str(path), ConfigError)
    values, problems = _validate(document, source=str(path))
    return ConfigFile(values, problems, document)


def load_config(path: Path) -> dict[str, object]:
    """The settings in ``path``, validated and converted; {} when there is no file.

    Raises ConfigError for the first invalid or unknown key: a session never runs on a
    setting that was not what the person meant.
    """
    found = read_config(path)
    if found.problems:
        raise ConfigError(found.problems[0])
    return found.values


def parse_config(text: str, *, source: str) -> dict[str, object]:
    """Validate TOML text as settings; ``source`` names it in every error."""
    values, problems = _validate(tomlfile.parse(text, source, ConfigError), source=source)
    if problems:
        raise ConfigError(problems[0])
    return values


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
    """Validate ``raw`` for ``key``, store it, and return the stored value.

    Works on the file as written, so it replaces an invalid value of ``key``; the other
    keys are kept as they are.
    """
    value = parse_value(key, raw)
    written = dict(read_config(path).written or {})
    written[key] = value
    write_atomically(path, render_config(written).encode("utf-8"), private=True,
                     error=lambda reason: ConfigError(f"{path}: cannot write ({reason})"))
    return value


def unset_value(path: Path, key: str) -> bool:
    """Remove ``key`` from the file; False (and no write) when it was not set.

    A key the file has is removed even when it is unknown (a typo) or invalid.
    """
    written = dict(read_config(path).written or {})
    if key not in written:
        _spec(key, None)
        return False
    del written[key]
    write_atomically(path, render_config(written).encode("utf-8"), private=True,
                     error=lambda reason: ConfigError(f"{path}: cannot write ({reason})"))
    return True


def render_config(values: Mapping[str, object]) -> str:
    """The file's text: the header, then one ``key = value`` line per setting, sorted."""
    lines = [f"{_toml_key(key)} = {_toml_value(values[key])}\n" for key in sorted(values)]
    return HEADER + "".join(lines)


# --- Resolving ------------------------------------------------------------------------


def resolve(keys: Collection[str], command_line: Mapping[str, object],
            env: Mapping[str, str], config: Mapping[str, object]) -> dict[str, Setting]:
    """Each of ``keys`` from the first place that gives it a value: command line >
    environment > settings file > built-in default (None: the routine's or engine's).

    ``command_line`` holds values already checked by the option's type; None there means
    not given. An empty environment variable counts as unset, as in Click. Raises
    ConfigError naming the variable when an environment value is invalid.
    """
    return {key: resolve_one(SETTINGS[key], command_line, env, config) for key in keys}


def resolve_one(spec: Spec, command_line: Mapping[str, object], env: Mapping[str, str],
                config: Mapping[str, object]) -> Setting:
    """One setting, as ``resolve`` finds it."""
    given = command_line.get(spec.key)
    if given is not None:
        return Setting(spec.key, given, "command line")
    raw = env.get(spec.envvar)
    if raw:
        try:
            return Setting(spec.key, _from_text(spec, raw), "environment", spec.envvar)
        except _Invalid as exc:
            raise ConfigError(f"{spec.envvar}: {exc}") from None
    if spec.key in config:
        return Setting(spec.key, config[spec.key], "config file")
    return Setting(spec.key, spec.default, "default")


def known_keys() -> str:
    """``breath, caution, ...``: every key, for messages and help."""
    return ", ".join(SETTINGS)


# --- Internals ------------------------------------------------------------------------


class _Invalid(Exception):
    """A value that does not fit its setting; the message is "expected ..., got ..."."""


def _validate(document: Mapping[str, object],
              source: str) -> tuple[dict[str, object], tuple[str, ...]]:
    """The valid settings of a parsed file (sorted), and one line per key that is not."""
    values: dict[str, object] = {}
    problems: list[str] = []
    for key, value in document.items():
        try:
            values[key] = _check(_spec(key, source), value)
        except ConfigError as exc:
            problems.append(str(exc))
        except _Invalid as exc:
            problems.append(f"{source}: {key}: {exc}")
    return dict(sorted(values.items())), tuple(problems)


def shown_key(key: str) -> str:
    """A key as messages show it: as written, or quoted when it holds a line break or
    another character that does not print (so every message stays one line)."""
    return key if key.isprintable() else json.dumps(key)


def _spec(key: str, source: str | None) -> Spec:
    if key not in SETTINGS:
        where = f"{source}: {shown_key(key)}" if source else shown_key(key)
        raise ConfigError(f"{where}: unknown setting; known: {known_keys()}")
    return SETTINGS[key]


def _check(spec: Spec, value: object) -> object:
    """A value as TOML gives it, validated and converted."""
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not (
                spec.low <= value <= spec.high):
            raise _Invalid(f"expected a whole number from {spec.low:g} to {spec.high:g},"
                           f" got {show_value(value)}")
        return value
    if spec.kind == "float":
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not ((isinstance(value, int) or math.isfinite(value))
                        and spec.low <= value <= spec.high)):
            raise _Invalid(f"expected a number from {spec.low:g} to {spec.high:g},"
                           f" got {show_value(value)}")
        return float(value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise _Invalid(f"expected true or false, got {show_value(value)}")
        return value
    if spec.kind == "choice" and (not isinstance(value, str)
                                  or value.strip() not in spec.choices):
        raise _Invalid(f"expected one of {', '.join(spec.choices)}, got {show_value(value)}")
    if not isinstance(value, str):
        example = f" such as {PACE_EXAMPLES}" if spec.kind == "pace" else ""
        raise _Invalid(f"expected a string{example}, got {show_value(value)}")
    text = value.strip()
    if not text:
        raise _Invalid("expected some text, got an empty string")
    if spec.kind == "pace":
        try:
            parse_pace(text)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
    if spec.kind == "lang":
        try:
            return check_language(text)
        except UnknownLanguageError as exc:
            raise _Invalid(f"expected one of {', '.join(LANGUAGES)}, got {text!r}") from exc
    return text


def _from_text(spec: Spec, raw: str) -> object:
    """A value typed as text (command line, environment), validated and converted."""
    text = raw.strip()
    if spec.kind == "int":
        number: object = raw
        if _WHOLE.fullmatch(text):
            with contextlib.suppress(ValueError):  # past 4,300 digits: shown as text
                number = int(text)
        return _check(spec, number)
    if spec.kind == "float":
        try:
            number = float(text)
        except ValueError:
            number = raw
        return _check(spec, number)
    if spec.kind == "bool":
        word = text.lower()
        return _check(spec, True if word in _TRUE else False if word in _FALSE else raw)
    return _check(spec, raw)


def _toml_value(value: object) -> str:
    """A scalar as TOML writes it; a value of another key kept as the file had it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # also TOML's spelling of inf, -inf and nan
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)  # dates, times


def _toml_key(key: str) -> str:
    """A key as TOML reads it back: bare when it can be, else quoted (``"my key"``)."""
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


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
