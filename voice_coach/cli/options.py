"""Options and parameter types the commands share, so that they cannot drift apart.

The options that are settings (rate, minutes, breath, ...) are built from the settings
table (``config.SETTINGS``); a value not given is None, and ``config.resolve`` finds it in
the environment, the settings file or the defaults.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from voice_coach.config import SETTINGS, Command, Spec
from voice_coach.language import LANGUAGES
from voice_coach.routine import CUE_ROLES, CueRole, CueSource, Pace, parse_pace

F = TypeVar("F", bound=Callable[..., Any])


class PaceType(click.ParamType):  # type: ignore[type-arg]  # generic only in newer Click
    """``--breath 4:6`` or ``4:7:8:0``."""

    name = "IN:OUT|IN:HOLD:OUT:HOLD"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Pace:
        if isinstance(value, Pace):
            return value
        try:
            return parse_pace(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class CueType(click.ParamType):  # type: ignore[type-arg]
    """``--cue inhale=~/bell.wav`` or ``--cue hold=none``."""

    name = "ROLE=WAV"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[CueRole, CueSource]:
        if isinstance(value, tuple):
            return value
        role, sep, where = str(value).partition("=")
        if not sep or role not in CUE_ROLES or not where:
            self.fail(f"{value!r}: expected ROLE=WAV with ROLE one of {', '.join(CUE_ROLES)}",
                      param, ctx)
        if where == "none":
            return role, None
        path = Path(where).expanduser()
        if not path.is_file():
            self.fail(f"{value!r}: no such file: {path}", param, ctx)
        return role, path


class ChoiceType(click.ParamType):  # type: ignore[type-arg]
    """A "choice" setting (``--engine piper``), refused in the words the file and the
    environment use."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.name = "|".join(spec.choices)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        from voice_coach.config import ConfigError, parse_value

        try:
            return parse_value(self.spec.key, str(value))
        except ConfigError as exc:
            self.fail(str(exc).removeprefix(f"{self.spec.key}: "), param, ctx)


class FiniteRange(click.FloatRange):
    """A FloatRange that refuses NaN, which compares false with both ends and slips through."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{number} is not in the range {self._describe_range()}.", param, ctx)
        return number


def routine_argument(func: F) -> F:
    """``[ROUTINE]``: given, else the ``routine`` setting."""
    return click.argument("routine", required=False, metavar="[ROUTINE]")(func)


def setting_options(command: Command) -> Callable[[F], F]:
    """The options of ``command`` that are settings, built from ``config.SETTINGS``.

    They have no default and no environment variable of their own: a value not given is
    None, and ``config.resolve`` finds it in the environment, the file or the defaults.
    """
    specs = [spec for spec in SETTINGS.values() if command in spec.commands]

    def decorate(func: F) -> F:
        for spec in reversed(specs):
            func = _setting_option(spec)(func)
        return func

    return decorate


def _setting_option(spec: Spec) -> Callable[[F], F]:
    assert spec.option is not None
    kinds: dict[str, Any] = {
        "int": click.IntRange(int(spec.low), int(spec.high)),
        "float": FiniteRange(spec.low, spec.high),
        "pace": PaceType(),
        "lang": click.Choice(LANGUAGES, case_sensitive=False),
        "str": click.STRING,
        "bool": None,
        "choice": ChoiceType(spec),
    }
    names = [spec.option] + ([spec.short] if spec.short else [])
    if spec.default is None:
        shown = spec.unset
    elif isinstance(spec.default, bool):
        shown = spec.option.split("/")[0 if spec.default else 1].lstrip("-")
    else:
        shown = f"{spec.default:g}" if isinstance(spec.default, float) else str(spec.default)
    help_text = f"{spec.help} [default: {shown}; setting: {spec.key}, {spec.envvar}]"
    return click.option(*names, spec.key, type=kinds[spec.kind], default=None, help=help_text,
                        allow_from_autoenv=False)


def sound_options(func: F) -> F:
    """Options of play and export that are not settings."""
    options = [
        click.option("--cue", "cues", type=CueType(), multiple=True,
                     help="Use your own WAV for a cue (ROLE=WAV, or ROLE=none). Repeatable."),
        click.option("--no-cache", is_flag=True, help="Render all speech afresh."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def quiet_option(func: F) -> F:
    """``--quiet``: of play and export."""
    return click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(func)
