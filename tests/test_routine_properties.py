"""Property tests of the routine loader: every input loads, or fails with one clean line.

The contract (``load_or_reject``): ``parse_routine(text, source="fuzz.toml")`` returns a
``Routine`` or raises ``RoutineError`` whose message starts with the source name and is a
single line; nothing else ever escapes (no KeyError, TypeError, RecursionError, ...). A
routine that loads must also be usable: every text it accepted fills its placeholders.

Three sources of input, checked against that contract:

(a) ``texts``: arbitrary text (any code point, control characters, decoded random bytes),
    TOML-token soup, built-in routines with a slice replaced, and built-ins with one
    number swapped for an odd literal (5,000 digits, 1e999, 0x..., nan).
(b) ``documents``: valid TOML built from nested tables, arrays and scalars (NaN, inf,
    huge integers, bools, dates, times, offsets), some routine-shaped, some nested
    hundreds deep, rendered by the small serializer here (checked by a round trip).
(c) ``mutants``: a valid routine (the built-ins and the guide's example, docs/routines.md) with exactly one
    change: a key dropped, a type changed, a value out of range, an unknown key, a second
    step kind, a nested repeat, a placeholder inserted. Each says whether it must load or
    must be rejected, and which key path the error must name right after the source.

``scripts/fuzz_routines.py`` runs the same strategies and checks with 10,000+ examples.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, TypeAlias

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_coach.pace import Pace
from voice_coach.routine import (
    BUILTIN_CUES,
    CUE_ROLES,
    Repeat,
    Routine,
    RoutineError,
    builtin_ids,
    parse_routine,
)
from voice_coach.routine_file import clean_text
from voice_coach.routine_model import Breathe, Say
from voice_coach.spoken import fill_placeholders

SOURCE = "fuzz.toml"
Outcome: TypeAlias = Literal["loaded", "rejected"]
KeyPath: TypeAlias = tuple[str | int, ...]

SUITE = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- The contract ---------------------------------------------------------------------


class ContractViolation(AssertionError):
    """The loader broke its contract in a way these checks can name (``kind``)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def load_or_reject(text: str) -> Routine | RoutineError:
    """Parse ``text``; any exception but a well-formed ``RoutineError`` propagates."""
    try:
        routine = parse_routine(text, source=SOURCE)
    except RoutineError as error:
        message = str(error)
        if not message.startswith(SOURCE):
            raise ContractViolation("message does not start with the source",
                                    repr(message)) from None
        if "\n" in message or "\r" in message:
            raise ContractViolation("message is more than one line", repr(message)) from None
        return error
    if not isinstance(routine, Routine):
        raise ContractViolation("returned something else", repr(routine))
    check_texts_fill(routine)
    return routine


def check_texts_fill(routine: Routine) -> None:
    """Every accepted text fills as the planner fills it (``{n}`` inside repeats only, the
    pace placeholders anywhere)."""
    for step in routine.steps:
        if isinstance(step, Repeat):
            for number in (step.count_from, step.count_from + 1):
                for inner in step.steps:
                    _fill_all(inner, number)
        else:
            _fill_all(step, None)


def _fill_all(step: Say | Breathe, number: int | None) -> None:
    texts = [step.text] if isinstance(step, Say) else [step.inhale_prompt, step.exhale_prompt]
    for text in texts:
        if text is None:
            continue
        try:
            fill_placeholders(text, number, Pace(4.5, 0.0, 6.0, 0.25))
        except Exception as exc:
            raise ContractViolation(
                "accepted a text that cannot be filled",
                f"{text!r} with n={number}: {type(exc).__name__}: {exc}",
            ) from exc


def outcome_of(result: Routine | RoutineError) -> Outcome:
    return "loaded" if isinstance(result, Routine) else "rejected"


# --- (a) arbitrary text ---------------------------------------------------------------


def builtin_texts() -> list[str]:
    folder = resources.files("voice_coach") / "routines"
    return [(folder / f"{rid}.toml").read_text(encoding="utf-8") for rid in builtin_ids()]


BUILTIN_TEXTS = builtin_texts()

TOKENS = [
    "[[steps]]", "[steps.repeat]", "[[steps.repeat.steps]]", "[breath]", "[cues]", "[steps]",
    "say = ", "breathe = ", "repeat = ", "{ count = 3 }", 'title = "T"', 'id = "x"',
    "hold_s = ", "fill = true", "times = 2", "cue = ", "count_from = ", "minutes = ",
    "steps", "repeat", "say", '"', '"""', "'", "'''", "=", "[", "]", "{", "}", ",", ".",
    "\n", " ", "\t", "#", "\\", "\\u", "\\U0010FFFF", "1", "-1", "0.5", "1e999", "nan",
    "-inf", "true", "1979-05-27T07:32:00Z", "07:32:00", "{n}", "{nth}", "{{", "}}", "{x}",
    "\x00", "\r", "\r\n", "\x7f", "\u2028", "\ufeff", "é", "🫁",
]

NUMBER_LITERALS = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers().map(str),
    st.floats().map(repr),
    st.sampled_from(["1e999", "-1e999", "1e-999", "+inf", "-nan", "0x7FFFFFFFFFFFFFFFFFFF",
                     "0o777", "0b1", "1_000", "-0", "+0.0", "9223372036854775808",
                     "-9223372036854775809", "1979-05-27", "true", '"4"', "[]", "{}"]),
    st.text(alphabet="0123456789+-_.eEoxbinfa", min_size=1, max_size=30),
)
_NUMBER_SLOT = re.compile(r"(?<== )-?[0-9][0-9.]*")


@st.composite
def number_swaps(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(BUILTIN_TEXTS))
    slots = list(_NUMBER_SLOT.finditer(text))
    slot = draw(st.sampled_from(slots))
    return text[:slot.start()] + draw(NUMBER_LITERALS) + text[slot.end():]


@st.composite
def spliced_builtins(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(BUILTIN_TEXTS))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    filler = draw(st.one_of(st.text(max_size=12), st.sampled_from(TOKENS)))
    return text[:start] + filler + text[end:]


def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(),
        st.binary().map(lambda b: b.decode("utf-8", errors="replace")),
        st.binary().map(lambda b: b.decode("latin-1")),
        st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
        spliced_builtins(),
        number_swaps(),
    )


# --- (b) arbitrary TOML documents -----------------------------------------------------

ROUTINE_KEYS = ["id", "title", "summary", "minutes", "caution", "pause_s", "breath", "breath_to",
                "lang", "cues", "steps", "say", "hold_s", "breathe", "repeat", "count", "inhale_s", "hold_in_s",
                "exhale_s", "hold_out_s", "inhale_prompt", "exhale_prompt", "prompt_breaths",
                "times", "fill", "cue", "count_from", *CUE_ROLES]

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: object) -> str:
    """One value, inline: tables as ``{ k = v }``, arrays as ``[a, b]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"no TOML for {value!r}")


def render_document(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(key)} = {toml_value(value)}\n" for key, value in document.items())


def comparable(value: object) -> object:
    """``value`` with NaN replaced so that a round trip compares equal."""
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Document:
    """A TOML text and the value it encodes (None when too deep to compare recursively)."""

    text: str
    value: dict[str, Any] | None


_offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 10**400, -(10**4000)]),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]),
    st.text(),
    st.sampled_from(["", " ", "spot", "none", "x.wav", "{n}", "{nth:d}", "{{", "~nobody/x.wav"]),
    st.dates(),
    st.times(),
    st.datetimes(),
    st.datetimes(timezones=_offsets),
)
KEYS = st.one_of(st.sampled_from(ROUTINE_KEYS), st.text(max_size=8))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=24,
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a value of the right shape, sometimes any value at all."""
    return st.integers(0, 9).flatmap(lambda choice: VALUES if choice == 7 else valid)


def _seconds(low: float, high: float) -> st.SearchStrategy[Any]:
    return mostly(st.one_of(st.integers(math.ceil(low), int(high)),
                            st.floats(low, high, allow_nan=False)))


SPOKEN = st.lists(st.one_of(st.text(min_size=1, max_size=12),
                            st.sampled_from(["{n}", "{nth}", "{{", "}}", " ", "{x}", "\n"])),
                  min_size=1, max_size=5).map("".join)
_PHASES = {"inhale_s": _seconds(0.5, 60), "hold_in_s": _seconds(0, 60),
           "exhale_s": _seconds(0.5, 60), "hold_out_s": _seconds(0, 60)}
SAY_STEP = st.fixed_dictionaries({"say": mostly(SPOKEN)}, optional={"hold_s": _seconds(0, 600)})
BREATHE_STEP = st.fixed_dictionaries({"breathe": mostly(st.fixed_dictionaries(
    {"count": mostly(st.integers(1, 100))},
    optional={**_PHASES, "inhale_prompt": mostly(SPOKEN), "exhale_prompt": mostly(SPOKEN),
              "prompt_breaths": mostly(st.integers(0, 100))}))})
INNER_STEP = mostly(st.one_of(SAY_STEP, BREATHE_STEP))
_REPEAT_OPTIONS = {"cue": mostly(st.sampled_from([*CUE_ROLES, "none"])),
                   "count_from": mostly(st.integers(0, 1000)),
                   "fill": mostly(st.booleans()), "times": mostly(st.integers(1, 500))}
# A repeat has times or fill = true; the other is optional too, so both sometimes appear.
_REPEAT_BODIES = [
    st.fixed_dictionaries(
        {"steps": mostly(st.lists(INNER_STEP, min_size=1, max_size=3)), **required},
        optional={key: value for key, value in _REPEAT_OPTIONS.items() if key not in required})
    for required in ({"times": mostly(st.integers(1, 500))}, {"fill": st.just(True)})
]
REPEAT_STEP = st.fixed_dictionaries({"repeat": mostly(st.one_of(*_REPEAT_BODIES))})
ROUTINE_SHAPED = st.fixed_dictionaries(
    {"id": mostly(st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True)),
     "title": mostly(st.text(min_size=1)),
     "steps": mostly(st.lists(st.one_of(INNER_STEP, REPEAT_STEP), min_size=1, max_size=5))},
    optional={"summary": mostly(st.text()), "minutes": _seconds(1, 180),
              "caution": mostly(SPOKEN), "pause_s": _seconds(0, 600),
              "breath": mostly(st.fixed_dictionaries({}, optional=_PHASES)),
              "cues": mostly(st.fixed_dictionaries(
                  {}, optional={role: mostly(st.sampled_from([*CUE_ROLES, "none"]))
                                for role in CUE_ROLES}))},
)
"""Routine-like documents, each part usually of the right shape: some load, most not."""


@st.composite
def deep_documents(draw: st.DrawFn) -> Document:
    """Arrays or inline tables nested up to 1,200 deep, or repeats 40 deep, as text."""
    shape = draw(st.sampled_from(["array", "table", "mixed", "repeats"]))
    if shape == "repeats":
        depth = draw(st.integers(1, 40))
        lines = ['id = "d"', 'title = "Deep"']
        table = "steps"
        for _ in range(depth):
            lines += [f"[[{table}]]", f"[{table}.repeat]", "times = 2"]
            table += ".repeat.steps"
        lines += [f"[[{table}]]", 'say = "x"']
        return Document("\n".join(lines) + "\n", None)
    depth = draw(st.integers(1, 1200))
    key = draw(st.sampled_from(["steps", "breath", "cues", "x"]))
    opens = {"array": "[", "table": "{a = ", "mixed": "[{a = "}[shape]
    closes = {"array": "]", "table": "}", "mixed": "}]"}[shape]
    return Document(f'id = "d"\ntitle = "T"\n{key} = {opens * depth}1{closes * depth}\n',
                    None)


def documents() -> st.SearchStrategy[Document]:
    shallow = st.one_of(st.dictionaries(KEYS, VALUES, max_size=6), ROUTINE_SHAPED)
    return st.one_of(shallow.map(lambda d: Document(render_document(d), d)), deep_documents())


# --- (c) near-valid routines ----------------------------------------------------------

README_EXAMPLE = """
id = "neck-release"
title = "Neck release"
summary = "Slow breaths while the head rests heavy."
minutes = 6
pause_s = 1.5
caution = "Move slowly, and stop if anything hurts."

[breath]
inhale_s = 4
hold_in_s = 0
exhale_s = 6
hold_out_s = 0

[cues]
spot = "spot"
hold = "none"

[[steps]]
say = "Lie on your back and let your head rest heavy."
hold_s = 5

[[steps]]
breathe = { count = 3, exhale_prompt = "Let your neck soften.", prompt_breaths = 1 }

[[steps]]
[steps.repeat]
fill = true
cue = "spot"
count_from = 2

[[steps.repeat.steps]]
say = "Turn your head a little, to a {nth} position."
hold_s = 4

[[steps.repeat.steps]]
breathe = { count = 3, inhale_s = 3, inhale_prompt = "In, {n}." }

[[steps]]
say = "Roll to your side and sit up slowly."
hold_s = 4
"""

BASES: list[dict[str, Any]] = [tomllib.loads(text) for text in [*BUILTIN_TEXTS, README_EXAMPLE]]

TableKind: TypeAlias = Literal["routine", "breath", "breath_to", "cues", "step", "breathe",
                              "repeat"]
STEP_KINDS = ("say", "breathe", "repeat")
ALLOWED: dict[TableKind, frozenset[str]] = {
    "routine": frozenset({"id", "lang", "title", "summary", "minutes", "caution", "pause_s",
                          "breath", "breath_to", "cues", "steps"}),
    "breath": frozenset({"inhale_s", "hold_in_s", "exhale_s", "hold_out_s"}),
    "breath_to": frozenset({"inhale_s", "hold_in_s", "exhale_s", "hold_out_s"}),
    "cues": frozenset(CUE_ROLES),
    "breathe": frozenset({"count", "inhale_s", "hold_in_s", "exhale_s", "hold_out_s",
                          "inhale_prompt", "exhale_prompt", "prompt_breaths"}),
    "repeat": frozenset({"times", "fill", "cue", "count_from", "steps"}),
    "step": frozenset({"say", "hold_s", "breathe", "repeat", "title"}),  # narrowed per step
}
REQUIRED: dict[TableKind, frozenset[str]] = {
    "routine": frozenset({"id", "title", "steps"}), "breathe": frozenset({"count"}),
    "repeat": frozenset({"steps"}),
}

# What a field holds: (kind, low, high). Kinds: number, integer, id, string, any_string,
# text (spoken, placeholders checked), cue, repeat_cue, bool, table, steps.
FieldSpec: TypeAlias = tuple[str, float, float]
PHASES = {"inhale_s": ("number", 0.5, 60.0), "exhale_s": ("number", 0.5, 60.0),
          "hold_in_s": ("number", 0.0, 60.0), "hold_out_s": ("number", 0.0, 60.0)}
FIELDS: dict[TableKind, dict[str, FieldSpec]] = {
    "routine": {"id": ("id", 0, 0), "title": ("string", 0, 0), "summary": ("any_string", 0, 0),
                "minutes": ("number", 1.0, 180.0), "caution": ("text", 0, 0),
                "pause_s": ("number", 0.0, 600.0), "breath": ("table", 0, 0),
                "breath_to": ("table", 0, 0), "cues": ("table", 0, 0), "steps": ("steps", 0, 0)},
    "breath": dict(PHASES),
    "breath_to": dict(PHASES),
    "cues": {role: ("cue", 0, 0) for role in CUE_ROLES},
    "step": {"say": ("text", 0, 0), "hold_s": ("number", 0.0, 600.0),
             "breathe": ("table", 0, 0), "repeat": ("table", 0, 0), "title": ("title", 0, 0)},
    "breathe": {"count": ("integer", 1, 100), "prompt_breaths": ("integer", 0, 100),
                "inhale_prompt": ("text", 0, 0), "exhale_prompt": ("text", 0, 0), **PHASES},
    "repeat": {"times": ("integer", 1, 500), "fill": ("bool", 0, 0),
               "cue": ("repeat_cue", 0, 0), "count_from": ("integer", 0, 1000),
               "steps": ("steps", 0, 0)},
}


def show_path(path: KeyPath) -> str:
    """A key path as the loader writes it: ``steps[3].breathe.count``, steps counted from 1."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
            continue
        # A key that is not bare (a newline, an escape, a space) is shown JSON-quoted, so
        # the message stays one line and nothing reaches the terminal raw.
        shown = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
        out += f".{shown}" if out else shown
    return out


def table_kind(path: KeyPath) -> TableKind:
    if not path:
        return "routine"
    last = path[-1]
    if isinstance(last, int):
        return "step"
    if len(path) == 1 and last in ("breath", "breath_to", "cues"):
        return last  # type: ignore[return-value]
    if last in ("breathe", "repeat"):
        return "breathe" if last == "breathe" else "repeat"
    raise ValueError(f"not a routine table: {show_path(path)}")


def nodes(value: object, path: KeyPath = ()) -> Iterator[tuple[KeyPath, object]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def get(document: Any, path: KeyPath) -> Any:
    for part in path:
        document = document[part]
    return document


def copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy(item) for item in value]
    return value


def in_repeat(path: KeyPath) -> bool:
    return "repeat" in path


Expect: TypeAlias = Literal["load", "reject", "either"]


@dataclass(frozen=True)
class Mutant:
    """A valid routine with one change, and what the loader must make of it.

    ``expect`` is "load", "reject" or "either"; a rejection must name one of ``paths``
    right after the source (``fuzz.toml: steps[3].say: ...``).
    """

    change: str
    expect: Expect
    paths: tuple[str, ...]
    document: dict[str, Any]

    @property
    def text(self) -> str:
        return render_document(self.document)


WRONG_FOR: dict[str, st.SearchStrategy[Any]] = {}
_small_lists = st.lists(SCALARS, max_size=3)
_small_tables = st.dictionaries(KEYS, SCALARS, max_size=3)
_dates = st.one_of(st.dates(), st.times(), st.datetimes())
_numbers = st.one_of(st.integers(), st.floats())
WRONG_FOR["number"] = st.one_of(st.text(), st.booleans(), _dates, _small_lists, _small_tables)
WRONG_FOR["integer"] = st.one_of(WRONG_FOR["number"], st.floats())
WRONG_FOR["string"] = st.one_of(_numbers, st.booleans(), _dates, _small_lists, _small_tables)
for _kind in ("id", "any_string", "text", "title", "cue", "repeat_cue"):
    WRONG_FOR[_kind] = WRONG_FOR["string"]
WRONG_FOR["bool"] = st.one_of(_numbers, st.text(), _dates, _small_lists, _small_tables)
WRONG_FOR["table"] = st.one_of(SCALARS, _small_lists)
WRONG_FOR["steps"] = st.one_of(SCALARS, _small_tables)

_blank = st.text(alphabet=" \t\n\r\x00\x07\x1b\x7f\x85", max_size=6)
_huge = st.sampled_from([10**20, -(10**20), 2**63, 10**400, -(10**400), 10**4000])


def out_of_range(kind: str, low: float, high: float) -> st.SearchStrategy[Any] | None:
    if kind == "number":
        return st.one_of(
            st.sampled_from([math.nan, math.inf, -math.inf]),
            st.floats(max_value=low, allow_nan=False, allow_infinity=False).filter(
                lambda x: x < low),
            st.floats(min_value=high, allow_nan=False, allow_infinity=False).filter(
                lambda x: x > high),
            st.integers(max_value=math.ceil(low) - 1),
            st.integers(min_value=math.floor(high) + 1),
            _huge,
        )
    if kind == "integer":
        return st.one_of(st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1),
                         _huge)
    if kind == "id":
        return st.text().filter(
            lambda s: not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", clean_text(s)))
    if kind in ("string", "text", "title"):
        most = {"text": 2000, "title": 60}.get(kind)
        if most is None:
            return _blank
        return st.one_of(_blank, st.integers(most + 1, 2 * most).map(lambda n: "a" * n))
    if kind == "cue":
        return st.one_of(
            st.text().filter(lambda s: clean_text(s) not in {*BUILTIN_CUES, "none"}
                             and not clean_text(s).lower().endswith(".wav")),
            st.text().map(lambda s: f"no-such-dir/{s}.wav"),
            st.sampled_from(["~nobody-voice-coach/x.wav", "a" * 300 + ".wav", "Spot", "bell"]),
        )
    if kind == "repeat_cue":
        return st.text().filter(lambda s: clean_text(s) not in {*CUE_ROLES, "none"})
    if kind == "steps":
        return st.just([])
    return None


PLACEHOLDER_TOKENS: dict[str, Expect] = {
    # token: what it is where placeholders are allowed (inside a repeat)
    "{{": "load", "}}": "load", "{{n}}": "load", "{{}}": "load",
    "{n}": "load", "{nth}": "load",
    "{pace}": "load", "{inhale_s}": "load", "{hold_in_s}": "load", "{exhale_s}": "load",
    "{hold_out_s}": "load", "{{pace}}": "load", "{pace:d}": "either", "{Pace}": "reject",
    "{x}": "reject", "{}": "reject", "{0}": "reject", "{N}": "reject", "{n.real}": "reject",
    "{n[0]}": "reject", "{": "reject", "}": "reject", "{n": "reject", "n}": "reject",
    "{nth:d}": "either", "{n:>3}": "either", "{n!r}": "either", "{n!z}": "either",
    "{n:{nth}}": "either", "{nth!s:^9}": "either",
}


@st.composite
def mutants(draw: st.DrawFn) -> Mutant:
    base = draw(st.sampled_from(BASES))
    doc = copy(base)
    every = list(nodes(doc))
    tables = [p for p, v in every if isinstance(v, dict)]
    fields = [p for p in (p for p, _ in every) if p and isinstance(p[-1], str)]
    elements = [p for p, _ in every if p and isinstance(p[-1], int)]
    change = draw(st.sampled_from(["drop", "retype", "range", "unknown", "kind", "nest",
                                   "placeholder"]))

    if change == "drop":
        path = draw(st.sampled_from(fields + elements))
        parent, key = path[:-1], path[-1]
        container = get(doc, parent)
        del container[key]
        if isinstance(key, int):
            empty = not container
            return Mutant(f"drop {show_path(path)}", "reject" if empty else "load",
                          (show_path(parent),), doc)
        kind = table_kind(parent)
        if key in REQUIRED.get(kind, ()):
            return Mutant(f"drop {show_path(path)}", "reject", (show_path(path),), doc)
        if kind == "breath_to" and not container:  # a ramp to nothing
            return Mutant(f"drop {show_path(path)}", "reject", (show_path(parent),), doc)
        one_of = STEP_KINDS if kind == "step" else ("fill", "times") if kind == "repeat" else ()
        if key in one_of:
            return Mutant(f"drop {show_path(path)}", "reject", (show_path(parent),), doc)
        return Mutant(f"drop {show_path(path)}", "load", (), doc)

    if change in ("retype", "range"):
        path = draw(st.sampled_from(fields + elements))
        parent, key = path[:-1], path[-1]
        if isinstance(key, int):
            spec: FieldSpec = ("table", 0, 0)
        else:
            spec = FIELDS[table_kind(parent)][key]
        if change == "range" and spec[0] == "bool":
            # fill = true turned false: neither times nor fill; the repeat is named.
            table = get(doc, parent)
            if "times" in table or table[key] is not True:
                return draw(mutants())
            table[key] = False
            return Mutant(f"{show_path(path)} = false", "reject", (show_path(parent),), doc)
        strategy = WRONG_FOR[spec[0]] if change == "retype" else out_of_range(*spec)
        if strategy is None:
            return draw(mutants())
        value = draw(strategy)
        get(doc, parent)[key] = value
        return Mutant(f"{show_path(path)} = {toml_value(value)[:60]}", "reject",
                      (show_path(path),), doc)

    if change == "unknown":
        path = draw(st.sampled_from(tables))
        kind = table_kind(path)
        table = get(doc, path)
        allowed = (({"say", "hold_s"} if "say" in table else set(table)) | {"title"}
                   if kind == "step" else ALLOWED[kind])
        near = ["Title", "hold", "holds_s", "counts", "steps ", "say_", "inhale", "fill ",
                "prompt", "", " ", "cue\n", "a\nb", "k\r", "\x1b[31m"]
        refused = allowed | set(STEP_KINDS) if kind == "step" else allowed
        key = draw(st.one_of(st.sampled_from(near), st.text(max_size=12)).filter(
            lambda k: k not in refused))
        table[key] = draw(SCALARS)
        where = show_path((*path, key))
        return Mutant(f"add {where!r}", "reject", (where,), doc)

    if change == "kind":
        steps = [p for p in tables if p and isinstance(p[-1], int)]
        path = draw(st.sampled_from(steps))
        table = get(doc, path)
        other = draw(st.sampled_from([k for k in STEP_KINDS if k not in table]))
        table[other] = {"say": "Extra.", "breathe": {"count": 1},
                        "repeat": {"times": 1, "steps": [{"say": "x"}]}}[other]
        return Mutant(f"add {other} to {show_path(path)}", "reject", (show_path(path),), doc)

    if change == "nest":
        repeats = [p for p in tables if p and p[-1] == "repeat"]
        how = draw(st.sampled_from(["inner", "second fill", "times and fill"]))
        if how == "inner" and repeats:
            path = draw(st.sampled_from(repeats))
            inner = get(doc, path)["steps"]
            index = draw(st.integers(0, len(inner)))
            inner.insert(index, {"repeat": {"times": 2, "steps": [{"say": "Nested."}]}})
            where = show_path((*path, "steps", index, "repeat"))
            return Mutant(f"nest a repeat at {where}", "reject", (where,), doc)
        if how == "times and fill" and repeats:
            path = draw(st.sampled_from(repeats))
            table = get(doc, path)
            if "times" in table:
                table["fill"] = True
            else:
                table["times"] = 3
            return Mutant(f"both times and fill in {show_path(path)}", "reject",
                          (show_path(path),), doc)
        has_fill = any(get(doc, p).get("fill") is True for p in repeats)
        index = draw(st.integers(0, len(doc["steps"])))
        doc["steps"].insert(index, {"repeat": {"fill": True, "steps": [{"breathe": {"count": 1}}]}})
        return Mutant(f"a second fill repeat at steps[{index + 1}]",
                      "reject" if has_fill else "load", ("steps",), doc)

    texts = [p for p in fields if FIELDS[table_kind(p[:-1])].get(str(p[-1]), ("",))[0] == "text"]
    path = draw(st.sampled_from(texts))
    token = draw(st.sampled_from(sorted(PLACEHOLDER_TOKENS)))
    words = get(doc, path).split()
    words.insert(draw(st.integers(0, len(words))), token)
    get(doc, path[:-1])[path[-1]] = " ".join(words)
    expect = PLACEHOLDER_TOKENS[token]
    anywhere = ("{{", "}}", "{{n}}", "{{}}", "{{pace}}", "{pace}", "{inhale_s}", "{hold_in_s}",
                "{exhale_s}", "{hold_out_s}", "{pace:d}")
    if not in_repeat(path) and token not in anywhere:
        expect = "reject"
    return Mutant(f"insert {token!r} into {show_path(path)}", expect, (show_path(path),), doc)


# --- The checks, one per source ---------------------------------------------------------


def check_text(text: str) -> Outcome:
    """(a) Any text: a routine, or one clean line."""
    return outcome_of(load_or_reject(text))


def check_document(document: Document) -> Outcome:
    """(b) Valid TOML: a routine, or one clean line about the routine (never 'invalid TOML')."""
    if document.value is not None:
        assert comparable(tomllib.loads(document.text)) == comparable(document.value), (
            "test serializer bug: the TOML text does not encode the document")
    result = load_or_reject(document.text)
    if isinstance(result, RoutineError) and "invalid TOML" in str(result):
        # Deep nesting may be refused as invalid TOML; anything shallow is valid by construction.
        assert document.value is None, f"test serializer wrote invalid TOML: {result}"
    return outcome_of(result)


def check_mutant(mutant: Mutant) -> Outcome:
    """(c) One change to a valid routine: loads or is rejected as expected, naming the path."""
    result = load_or_reject(mutant.text)
    if mutant.expect == "load" and isinstance(result, RoutineError):
        raise ContractViolation("rejected a valid change", f"{mutant.change}: {result}")
    if mutant.expect == "reject" and isinstance(result, Routine):
        raise ContractViolation("accepted an invalid change", mutant.change)
    if isinstance(result, RoutineError):
        message = str(result)
        if not any(message.startswith(f"{SOURCE}: {path}: ") for path in mutant.paths):
            raise ContractViolation("error does not name the changed key path",
                                    f"{mutant.change}: expected {mutant.paths}, got {message!r}")
    return outcome_of(result)


PROPERTIES: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any], Outcome]]] = {
    "arbitrary text": (texts(), check_text),
    "arbitrary TOML": (documents(), check_document),
    "near-valid routines": (mutants(), check_mutant),
}


# --- Tests ----------------------------------------------------------------------------


def test_bases_are_valid_routines() -> None:
    for base in BASES:
        assert isinstance(load_or_reject(render_document(base)), Routine)


@pytest.mark.one_python
@SUITE
@given(texts())
def test_any_text_loads_or_fails_with_one_line(text: str) -> None:
    check_text(text)


@pytest.mark.one_python
@SUITE
@given(documents())
def test_any_toml_document_loads_or_fails_with_one_line(document: Document) -> None:
    check_document(document)


@pytest.mark.one_python
@SUITE
@given(mutants())
def test_one_change_to_a_valid_routine_is_named_by_its_key_path(mutant: Mutant) -> None:
    check_mutant(mutant)


EDGE_CASES = {
    "5,000-digit integer": 'id = "e"\ntitle = "T"\nminutes = ' + "9" * 5000 + "\n",
    "integer too big for a float": 'id = "e"\ntitle = "T"\nminutes = 1' + "0" * 400 + "\n",
    "arrays 1,000 deep": 'id = "e"\ntitle = "T"\nsteps = ' + "[" * 1000 + "]" * 1000 + "\n",
    "inline tables 1,000 deep": 'id = "e"\ntitle = "T"\nx = ' + "{a = " * 1000 + "1"
                                + "}" * 1000 + "\n",
    "cue in an unknown home": 'id = "e"\ntitle = "T"\n[cues]\nspot = "~nobody-vc/x.wav"\n'
                              '[[steps]]\nsay = "x"\n',
    "cue name too long for the file system": 'id = "e"\ntitle = "T"\n[cues]\nspot = "'
                                             + "a" * 300 + '.wav"\n[[steps]]\nsay = "x"\n',
    "unknown key with a newline": 'id = "e"\ntitle = "T"\n"a\\nb" = 1\n',
    "placeholder with a bad format spec": 'id = "e"\ntitle = "T"\n[[steps]]\n[steps.repeat]\n'
                                          'times = 2\n[[steps.repeat.steps]]\nsay = "{nth:d}"\n',
    "placeholder with a bad conversion": 'id = "e"\ntitle = "T"\n[[steps]]\n[steps.repeat]\n'
                                         'times = 2\n[[steps.repeat.steps]]\nsay = "{n!z}"\n',
}


@pytest.mark.parametrize("text", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_load_or_fail_with_one_line(text: str) -> None:
    """Inputs the properties found or aim at, pinned so every run tries them."""
    check_text(text)
