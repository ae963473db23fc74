"""Routine files: TOML in, validated immutable ``Routine`` out.

A routine is pure data: what to say, how to breathe, what to repeat. Loading never
touches the engine or the sound card. Every problem is a ``RoutineError`` that names
the file, the line where TOML gives one, and the key path (``steps[3].breathe.count``).
Steps are counted from 1 in key paths, as a person counts the ``[[steps]]`` tables of
the file: ``steps[1]`` is the first; ``plan`` names the same ``steps[N]``.
"""

from __future__ import annotations

import copy
import glob
import json
import math
import os
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from voice_coach import language as lang_words
from voice_coach import tomlfile
from voice_coach.engines.registry import NAMES as ENGINE_NAMES
from voice_coach.errors import VoiceCoachError, show_value
from voice_coach.language import ENGLISH, LANGUAGES, NAMES, ORDINAL_FORMS

CueRole: TypeAlias = Literal["start", "inhale", "exhale", "hold", "spot", "end"]
CUE_ROLES: Final[tuple[CueRole, ...]] = ("start", "inhale", "exhale", "hold", "spot", "end")
BUILTIN_CUES: Final[frozenset[str]] = frozenset(CUE_ROLES)
REPEAT_PLACEHOLDERS: Final[tuple[str, ...]] = ("n", "nth")
"""Placeholders for the repetition's number: only inside a repeat."""
PACE_PLACEHOLDERS: Final[tuple[str, ...]] = ("pace", "inhale_s", "hold_in_s", "exhale_s",
                                             "hold_out_s")
"""Placeholders for the breath pace in force, spoken as words: allowed in any text."""
PLACEHOLDERS: Final[frozenset[str]] = frozenset(REPEAT_PLACEHOLDERS + PACE_PLACEHOLDERS)
_KNOWN: Final = ", ".join(f"{{{name}}}" for name in REPEAT_PLACEHOLDERS + PACE_PLACEHOLDERS)

MAX_STEPS: Final = 2_000
MAX_TEXT_CHARS: Final = 2_000
MAX_TITLE_CHARS: Final = 60
"""A step's title is shown on a lock screen, a phone and a headset's display."""
MAX_BREATHS: Final = 100
MAX_PHASE_S: Final = 60.0
MAX_HOLD_S: Final = 600.0
MAX_TIMES: Final = 500
MIN_MINUTES: Final = 1.0
MAX_MINUTES: Final = 180.0

_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_WORD: Final = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
PRONOUNCE_ENGINES: Final = ENGINE_NAMES
"""The engines a ``[pronounce]`` entry may give phonemes for."""
MAX_RESPELLING_CHARS: Final = 200


class RoutineError(VoiceCoachError):
    """A routine file is missing, unreadable or malformed."""

    exit_code = 2


@dataclass(frozen=True)
class Pace:
    """One breath: seconds in, held full, out, held empty (holds may be zero)."""

    inhale_s: float
    hold_in_s: float
    exhale_s: float
    hold_out_s: float


@dataclass(frozen=True)
class Say:
    """A spoken line followed by ``hold_s`` of silence; ``title`` names the step (None:
    the planner makes one from the text)."""

    text: str
    hold_s: float
    title: str | None = None


@dataclass(frozen=True)
class Breathe:
    """``count`` paced breaths; prompts are spoken on the first ``prompt_breaths``."""

    count: int
    pace: Pace | None
    inhale_prompt: str | None
    exhale_prompt: str | None
    prompt_breaths: int
    title: str | None = None


@dataclass(frozen=True)
class Repeat:
    """Steps repeated ``times`` times, or until the session fills its target when None.

    Each repetition opens with the ``cue`` role (None: no cue). Texts inside may use
    ``{n}`` and ``{nth}``: the repetition's number counted from ``count_from`` (1, 2, ...;
    first, second, ...).
    """

    steps: tuple[Say | Breathe, ...]
    times: int | None
    cue: CueRole | None
    count_from: int = 1
    title: str | None = None
    """Each repetition's title (``{nth}`` allowed); None: its first spoken step's."""


Step: TypeAlias = Say | Breathe | Repeat
CueSource: TypeAlias = str | Path | None
"""A built-in cue name, a WAV file, or None for silence."""


@dataclass(frozen=True)
class Pronunciation:
    """How one written word is spoken (captions keep the word as written).

    ``say`` is a plain respelling every engine reads (``psoas`` -> ``sowus``);
    ``phonemes`` are an engine's own, by engine (espeak-ng's for pyttsx3, IPA for piper),
    and win over ``say`` for that engine. With neither for an engine, the word is kept.
    """

    word: str
    say: str | None = None
    phonemes: tuple[tuple[str, str], ...] = ()

    def spoken(self, engine: str) -> str:
        """What ``engine`` is given in place of the word."""
        for name, phonemes in self.phonemes:
            if name == engine:
                return f"[[{phonemes}]]"  # both engines read [[...]] as phonemes
        return self.say if self.say is not None else self.word


def speak_as(text: str, lexicon: tuple[Pronunciation, ...], engine: str) -> str:
    """``text`` as ``engine`` is to say it: each lexicon word, matched whole and in any
    case, replaced by its pronunciation for that engine."""
    if not lexicon:
        return text
    by_word = {entry.word.lower(): entry.spoken(engine) for entry in lexicon}
    words = sorted(by_word, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w'-])(" + "|".join(map(re.escape, words)) + r")(?![\w-])",
                         re.IGNORECASE)
    return pattern.sub(lambda found: by_word[found.group(1).lower()], text)


@dataclass(frozen=True)
class Routine:
    """A validated routine; ``source`` is the file it came from (or ``builtin:ID``).

    ``pace_to`` is the pace at the end of the session when the breath deepens (a ramp
    from ``pace``); ``lang`` the language its lines are in, ``languages`` every language
    it can be loaded in (its own and its translations').
    """

    id: str
    title: str
    summary: str
    minutes: float
    caution: str | None
    pace: Pace
    pause_s: float
    cues: tuple[tuple[CueRole, CueSource], ...]
    steps: tuple[Step, ...]
    source: str
    pace_to: Pace | None = None
    lang: str = ENGLISH
    languages: tuple[str, ...] = (ENGLISH,)
    pronounce: tuple[Pronunciation, ...] = ()

    def cue_source(self, role: CueRole) -> CueSource:
        """Where the sound for ``role`` comes from."""
        return dict(self.cues)[role]


DEFAULT_PACE: Final = Pace(inhale_s=4.0, hold_in_s=0.0, exhale_s=6.0, hold_out_s=0.0)
DEFAULT_PAUSE_S: Final = 1.0


# --- Public entry points ------------------------------------------------------------


def builtin_ids() -> list[str]:
    """Ids of the routines that ship inside the package, sorted."""
    folder = resources.files("voice_coach") / "routines"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and _ID_PATTERN.fullmatch(entry.name[:-5])
    )


def load_builtin(routine_id: str, lang: str | None = None,
                 preferred: str | None = None) -> Routine:
    """Load a built-in routine by id, in ``lang`` (see ``pick_language``)."""
    if routine_id not in builtin_ids():
        known = ", ".join(builtin_ids())
        raise RoutineError(f"unknown routine {routine_id!r}; built-in routines: {known}")
    folder = resources.files("voice_coach") / "routines"
    text = (folder / f"{routine_id}.toml").read_text(encoding="utf-8")
    found = {entry.name.split(".")[-2]: entry for entry in folder.iterdir()
             if entry.name.startswith(f"{routine_id}.") and _is_translation(entry.name)}
    base = parse_routine(text, source=f"builtin:{routine_id}", default_id=routine_id,
                         translations=tuple(found))
    chosen = pick_language(base, lang, preferred)
    if chosen == base.lang:
        return base
    return translate(base, text, found[chosen].read_text(encoding="utf-8"), lang=chosen,
                     source=f"builtin:{routine_id}.{chosen}", default_id=routine_id)


def load_file(path: Path, lang: str | None = None, preferred: str | None = None) -> Routine:
    """Read and validate a routine file, in ``lang`` (see ``pick_language``).

    Its translations are the files ``ID.LANG.toml`` beside it (``neck.de.toml``).
    """
    text = _read_routine_text(path)
    parts = path.name.split(".")
    base_file = path.with_name(".".join(parts[:-2]) + ".toml")
    if _is_translation(path.name) and base_file.is_file():
        raise RoutineError(f"{path} is the {NAMES[parts[-2]]} translation of {base_file};"
                           f" name that file, with --lang {parts[-2]}")
    found = translation_files(path)
    base = parse_routine(text, source=str(path), default_id=_id_from_stem(path.stem),
                         base_dir=path.parent, translations=tuple(found))
    chosen = pick_language(base, lang, preferred)
    if chosen == base.lang:
        return base
    translated = found[chosen]
    return translate(base, text, _read_routine_text(translated), lang=chosen,
                     source=str(translated),
                     default_id=_id_from_stem(path.stem), base_dir=path.parent)


def translation_files(path: Path) -> dict[str, Path]:
    """The translations of the routine file ``path``, by language: ``STEM.LANG.toml``."""
    try:
        return {file.name.split(".")[-2]: file
                for file in sorted(path.parent.glob(f"{glob.escape(path.stem)}.*.toml"))
                if _is_translation(file.name) and file.name.count(".") == path.name.count(".") + 1}
    except OSError:
        return {}


def _is_translation(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 3 and parts[-1] == "toml" and parts[-2] in LANGUAGES


def _read_routine_text(path: Path) -> str:
    try:
        return tomlfile.read_text(path, RoutineError, kind="a routine file",
                                  expected="a routine is a UTF-8 TOML file")
    except FileNotFoundError:
        raise RoutineError(f"{path}: no such file") from None


def pick_language(routine: Routine, lang: str | None, preferred: str | None) -> str:
    """The language to load ``routine`` in: ``lang`` when asked for (it must exist),
    else ``preferred`` (the locale's) when the routine has it, else its own."""
    if lang is not None:
        if lang not in LANGUAGES:
            raise RoutineError(f"unknown language {lang!r}; languages: {', '.join(LANGUAGES)}")
        if lang not in routine.languages:
            raise RoutineError(f"{routine.id} has no {NAMES[lang]} ({lang}) translation;"
                               f" it has: {', '.join(routine.languages)}")
        return lang
    if preferred is not None and preferred in routine.languages:
        return preferred
    return routine.lang


def user_ids(user_dir: Path | None) -> list[str]:
    """Ids of the routines in the user's routines folder (``ID.toml``), sorted."""
    if user_dir is None or not user_dir.is_dir():
        return []
    return sorted(p.stem for p in user_dir.glob("*.toml") if _ID_PATTERN.fullmatch(p.stem))


def resolve(ref: str, user_dir: Path | None = None,
            warn: Callable[[str], None] | None = None, lang: str | None = None,
            preferred: str | None = None) -> Routine:
    """A routine named on the command line: a path to a TOML file when it looks like one
    (it ends in ``.toml`` or holds a ``/``), else a built-in id, else one of the user's ids
    (``user_dir/ID.toml``), else a file of that name.

    A file in the working folder never shadows an id silently: when ``ref`` is an id and
    also a file or folder here, the id wins and ``warn`` says how to name the file.
    ``lang`` and ``preferred`` choose its language (see ``pick_language``).
    """
    path = Path(ref)
    if ref.endswith(".toml") or "/" in ref or os.sep in ref:
        return load_file(path, lang, preferred)
    is_id = ref in builtin_ids() or ref in user_ids(user_dir)
    if is_id and path.exists() and warn is not None:
        whose = "the built-in" if ref in builtin_ids() else "your"
        thing = "folder" if path.is_dir() else "file"
        warn(f"{ref!r} is {whose} routine, not the {thing} here; for the {thing},"
             f" write ./{ref}")
    if ref in builtin_ids():
        return load_builtin(ref, lang, preferred)
    if ref in user_ids(user_dir):
        assert user_dir is not None
        return load_file(user_dir / f"{ref}.toml", lang, preferred)
    if path.is_file():
        return load_file(path, lang, preferred)
    known = ", ".join(builtin_ids())
    yours = ", ".join(user_ids(user_dir))
    raise RoutineError(f"unknown routine {ref!r}; built-in routines: {known}"
                       + (f"; yours: {yours}" if yours else ""))


def parse_pace(text: str) -> Pace:
    """Parse ``IN:OUT`` or ``IN:HOLD:OUT:HOLD`` seconds (``4:6``, ``4:7:8:0``)."""
    parts = text.split(":")
    if len(parts) not in (2, 4):
        raise ValueError(f"{text!r} is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise ValueError(f"{text!r}: every part must be a number of seconds") from None
    if len(values) == 2:
        values = [values[0], 0.0, values[1], 0.0]
    inhale_s, hold_in_s, exhale_s, hold_out_s = values
    for label, value, low in (("inhale", inhale_s, 0.5), ("exhale", exhale_s, 0.5),
                              ("hold", hold_in_s, 0.0), ("hold", hold_out_s, 0.0)):
        if not (math.isfinite(value) and low <= value <= MAX_PHASE_S):
            raise ValueError(
                f"{text!r}: {label} must be from {low:g} to {MAX_PHASE_S:g} seconds"
            )
    return Pace(inhale_s, hold_in_s, exhale_s, hold_out_s)


def fill_placeholders(text: str, n: int | None, pace: Pace, lang: str = ENGLISH) -> str:
    """Substitute the placeholders and unescape ``{{ }}``.

    ``{n}``/``{nth}`` are the repetition's number (None outside a repeat, where the loader
    allows neither; ``{nth:FORM}`` an ordinal form of ``lang``, see
    ``language.ORDINAL_FORMS``); ``{inhale_s}``, ``{hold_in_s}``, ``{exhale_s}``,
    ``{hold_out_s}`` and ``{pace}`` are ``pace`` in words of ``lang``, so what the voice
    says is what the chimes pace.
    """
    values: dict[str, object] = {
        "pace": spoken_pace(pace, lang),
        "inhale_s": spoken_seconds(pace.inhale_s, lang),
        "hold_in_s": spoken_seconds(pace.hold_in_s, lang),
        "exhale_s": spoken_seconds(pace.exhale_s, lang),
        "hold_out_s": spoken_seconds(pace.hold_out_s, lang),
    }
    if n is not None:
        values.update(n=n, nth=_Ordinal(n, lang))
    return text.format_map(values)


@dataclass(frozen=True)
class _Ordinal:
    """``{nth}`` and ``{nth:FORM}``: the ordinal word, formatted on demand."""

    n: int
    lang: str

    def __format__(self, form: str) -> str:
        return ordinal(self.n, self.lang, form)


def spoken_seconds(seconds: float, lang: str = ENGLISH) -> str:
    """A number of seconds as it is said: ``five``, ``four and a half``, ``three point two``.

    Whole numbers, halves and quarters are words; anything else is said to one decimal place.
    """
    return lang_words.spoken_seconds(seconds, lang)


def spoken_pace(pace: Pace, lang: str = ENGLISH) -> str:
    """``in for four, hold for seven, out for eight``: a hold of zero is not mentioned."""
    return lang_words.spoken_pace(
        (pace.inhale_s, pace.hold_in_s, pace.exhale_s, pace.hold_out_s), lang)


def ordinal(n: int, lang: str = ENGLISH, form: str = "") -> str:
    """``first``, ``second`` ... for small n; ``21st`` style beyond twenty (English)."""
    return lang_words.ordinal(n, lang, form)


PACE_KEYS: Final = ("inhale_s", "hold_in_s", "exhale_s", "hold_out_s")
MIN_RAMP_PHASE_S: Final = 1.0


def ramp_problem(start: Pace, end: Pace) -> str | None:
    """Why a ramp from ``start`` to ``end`` cannot be breathed (``hold_in_s: ...``), or
    None. Every phase on the way must last at least 1 s, or be a hold absent throughout:
    a hold cannot appear from 0 or fade to 0, its in-between breaths would be blips."""
    for key in PACE_KEYS:
        first, last = getattr(start, key), getattr(end, key)
        if first == 0 and last == 0:
            continue
        if first == 0 or last == 0:
            verb = "appear from 0 s" if first == 0 else "fade to 0 s"
            return (f"{key}: a hold cannot {verb} (from {first:g} s to {last:g} s);"
                    " give it the same 0 or a length of 1 s or more at both ends")
        if min(first, last) < MIN_RAMP_PHASE_S:
            return (f"{key}: a ramp from {first:g} s to {last:g} s would go below"
                    f" {MIN_RAMP_PHASE_S:g} s; every phase of a ramp lasts 1 s or more")
    return None


# --- Parsing --------------------------------------------------------------------------


def parse_routine(text: str, *, source: str, default_id: str | None = None,
                  base_dir: Path | None = None, translations: tuple[str, ...] = ()) -> Routine:
    """Validate TOML text as a routine. ``source`` names it in every error;
    ``translations`` are the languages of the translations found beside it."""
    document = _parse_toml(text, source)
    return _Reader(source, base_dir).routine(document, default_id, translations)


def translate(base: Routine, base_text: str, translation_text: str, *, lang: str, source: str,
              default_id: str | None = None, base_dir: Path | None = None) -> Routine:
    """The routine of ``base_text`` with the lines of a translation file put in.

    A translation holds only words: ``lang``, ``title``, ``summary``, ``caution`` and
    ``[[steps]]`` in the routine's order and shape, each with just its texts (``say``;
    a step's ``title``; a breathe's ``inhale_prompt`` and ``exhale_prompt``; a repeat's
    ``steps``). Timings
    live in the routine alone, so a translation can never drift from it. Every text the
    routine has must be translated; errors name the translation file and the key path.
    """
    document = _parse_toml(base_text, base.source)
    words = _parse_toml(translation_text, source)
    if "lang" in words and words["lang"] != lang:
        raise RoutineError(f"{source}: the file is named for {lang} but says"
                           f" lang = {show_value(words['lang'])}")
    merged = _Merger(source).routine(document, words)
    return _Reader(source, base_dir).routine(merged, default_id, base.languages)


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    return tomlfile.parse(text, source, RoutineError)


class _Merger:
    """Puts a translation's texts into a copy of the routine's TOML document."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> RoutineError:
        return RoutineError(f"{self.source}: {path}: {message}")

    def routine(self, base: Mapping[str, Any], words: Mapping[str, Any]) -> dict[str, Any]:
        merged = copy.deepcopy(dict(base))
        if "lang" not in words:
            raise self.fail("lang", "missing; a translation says its language"
                                    f" ({', '.join(LANGUAGES)})")
        texts = ["title"] + [key for key in ("summary", "caution") if key in base]
        self.only_keys(words, "", {"lang", "steps", *texts})
        merged["lang"] = words["lang"]
        for key in texts:
            merged[key] = self.required(words, key, "")
        base_steps = base.get("steps")
        if isinstance(base_steps, list):
            merged["steps"] = self.steps(base_steps, self.required(words, "steps", ""),
                                         "steps")
        return merged

    def steps(self, base: list[Any], words: object, path: str) -> list[Any]:
        if not isinstance(words, list) or len(words) != len(base):
            raise self.fail(path, f"expected {len(base)} [[steps]] tables, one per step of"
                                  " the routine, in its order")
        return [self.step(step, word, f"{path}[{number}]")
                for number, (step, word) in enumerate(zip(base, words, strict=True), start=1)]

    def step(self, base: object, words: object, path: str) -> object:
        if not isinstance(base, dict):
            return base
        if not isinstance(words, dict):
            raise self.fail(path, f"expected a table, got {show_value(words)}")
        merged = dict(base)
        kind = next((key for key in ("say", "breathe", "repeat") if key in base), None)
        if kind is None:
            return base
        titled = {"title"} if "title" in base else set()
        self.only_keys(words, path, {kind, *titled})
        for key in titled:
            merged[key] = self.required(words, key, path)
        found = self.required(words, kind, path)
        if kind == "say":
            merged["say"] = found
        elif kind == "breathe" and isinstance(base["breathe"], dict):
            prompts = {key for key in ("inhale_prompt", "exhale_prompt") if key in base[kind]}
            table = self.table(found, f"{path}.breathe")
            self.only_keys(table, f"{path}.breathe", prompts)
            merged["breathe"] = {**base[kind], **{key: self.required(table, key, f"{path}.breathe")
                                                  for key in sorted(prompts)}}
        elif kind == "repeat" and isinstance(base["repeat"], dict):
            table = self.table(found, f"{path}.repeat")
            self.only_keys(table, f"{path}.repeat", {"steps"})
            inner = base["repeat"].get("steps")
            if isinstance(inner, list):
                merged["repeat"] = {**base["repeat"], "steps": self.steps(
                    inner, self.required(table, "steps", f"{path}.repeat"),
                    f"{path}.repeat.steps")}
        return merged

    def table(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {show_value(value)}")
        return value

    def required(self, table: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in table:
            raise self.fail(f"{path}.{key}" if path else key,
                            "missing; the routine has this text, so its translation must")
        return table[key]

    def only_keys(self, table: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                shown = key if _BARE_KEY.fullmatch(key) else json.dumps(key)
                where = f"{path}.{shown}" if path else shown
                expected = ", ".join(sorted(allowed)) or "nothing"
                raise self.fail(where, "not a text of the routine; a translation holds"
                                       f" only its words: {expected}")


class _Reader:
    """Walks a TOML document, keeping the file name for errors."""

    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.step_count = 0
        self.routine_pace = DEFAULT_PACE
        self.lang = ENGLISH

    def fail(self, path: str, message: str) -> RoutineError:
        return RoutineError(f"{self.source}: {path}: {message}")

    # Top level

    def routine(self, doc: Mapping[str, Any], default_id: str | None,
                translations: tuple[str, ...] = ()) -> Routine:
        self.only_keys(doc, "", {"id", "lang", "title", "summary", "minutes", "caution",
                                 "pause_s", "breath", "breath_to", "cues", "steps",
                                 "pronounce"})
        if "lang" in doc:
            self.lang = self.string(doc["lang"], "lang")
            if self.lang not in LANGUAGES:
                raise self.fail("lang", f"expected one of {', '.join(LANGUAGES)},"
                                        f" got {self.lang!r}")
        if "id" in doc:
            routine_id = self.string(doc["id"], "id")
            if not _ID_PATTERN.fullmatch(routine_id):
                raise self.fail("id", "expected lowercase letters, digits and '-',"
                                      f" got {routine_id!r}")
        elif default_id is not None:
            routine_id = default_id
        else:
            raise self.fail("id", "missing")
        title = self.string(self.required(doc, "title", ""), "title")
        summary = self.string(doc.get("summary", ""), "summary", allow_empty=True)
        minutes = self.number(doc.get("minutes", 7.0), "minutes", MIN_MINUTES, MAX_MINUTES)
        caution = self.text(doc["caution"], "caution") if "caution" in doc else None
        pause_s = self.number(doc.get("pause_s", DEFAULT_PAUSE_S), "pause_s", 0.0, MAX_HOLD_S)
        pace = self.pace(doc.get("breath", {}), "breath", DEFAULT_PACE) or DEFAULT_PACE
        self.routine_pace = pace
        pace_to = None
        if "breath_to" in doc:
            pace_to = self.pace(doc["breath_to"], "breath_to", None)
            if pace_to is None:
                raise self.fail("breath_to", "expected at least one of inhale_s, hold_in_s,"
                                             " exhale_s, hold_out_s")
            problem = ramp_problem(pace, pace_to)
            if problem is not None:
                key, _, reason = problem.partition(": ")
                raise self.fail(f"breath_to.{key}", reason)
        cues = self.cues(doc.get("cues", {}))
        steps = self.steps(self.required(doc, "steps", ""), "steps", pause_s, in_repeat=False)
        fills = [s for s in steps if isinstance(s, Repeat) and s.times is None]
        if len(fills) > 1:
            raise self.fail("steps", "only one repeat may fill the session (fill = true)")
        pronounce = self.pronounce(doc.get("pronounce", {}))
        languages = tuple(sorted({self.lang, *translations}))
        return Routine(id=routine_id, title=title, summary=summary, minutes=minutes,
                       caution=caution, pace=pace, pause_s=pause_s, cues=cues,
                       steps=steps, source=self.source, pace_to=pace_to, lang=self.lang,
                       languages=languages, pronounce=pronounce)

    def pronounce(self, table: object) -> tuple[Pronunciation, ...]:
        """``[pronounce]``: word = "respelling", or word = { say = ..., piper = ..., ... }."""
        entries = []
        for word, value in self.table(table, "pronounce").items():
            path = f"pronounce.{word if _BARE_KEY.fullmatch(word) else json.dumps(word)}"
            if not _WORD.fullmatch(word):
                raise self.fail(path, "expected one word (letters and digits, joined by ' or"
                                      f" -), got {show_value(word)}")
            if isinstance(value, str):
                entries.append(Pronunciation(word, say=self.respelling(value, path)))
                continue
            if not isinstance(value, dict):
                raise self.fail(path, "expected a respelling or a table of say,"
                                      f" {', '.join(PRONOUNCE_ENGINES)}, got {show_value(value)}")
            options = self.table(value, path)
            self.only_keys(options, path, {"say", *PRONOUNCE_ENGINES})
            if not options:
                raise self.fail(path, "expected say or an engine's phonemes"
                                      f" ({', '.join(PRONOUNCE_ENGINES)})")
            say = self.respelling(options["say"], f"{path}.say") if "say" in options else None
            phonemes = tuple((engine, self.phonemes(options[engine], f"{path}.{engine}"))
                             for engine in PRONOUNCE_ENGINES if engine in options)
            entries.append(Pronunciation(word, say=say, phonemes=phonemes))
        return tuple(entries)

    def respelling(self, value: object, path: str) -> str:
        text = self.string(value, path)
        if len(text) > MAX_RESPELLING_CHARS or any(char in text for char in "[]{}<>"):
            raise self.fail(path, f"expected plain words of at most {MAX_RESPELLING_CHARS}"
                                  " characters, without brackets or braces,"
                                  f" got {show_value(value)}")
        return text

    def phonemes(self, value: object, path: str) -> str:
        text = self.string(value, path)
        if len(text) > MAX_RESPELLING_CHARS or any(char in text for char in "[]{}"):
            raise self.fail(path, f"expected the engine's phonemes (at most"
                                  f" {MAX_RESPELLING_CHARS} characters, without brackets or"
                                  f" braces), got {show_value(value)}")
        return text

    def cues(self, table: object) -> tuple[tuple[CueRole, CueSource], ...]:
        mapping = self.table(table, "cues")
        self.only_keys(mapping, "cues", set(CUE_ROLES))
        chosen: list[tuple[CueRole, CueSource]] = []
        for role in CUE_ROLES:
            path = f"cues.{role}"
            value = mapping.get(role, role)
            name = self.string(value, path)
            if name == "none":
                chosen.append((role, None))
            elif name in BUILTIN_CUES:
                chosen.append((role, name))
            elif name.lower().endswith(".wav"):
                try:
                    file = Path(name).expanduser()
                    if not file.is_absolute() and self.base_dir is not None:
                        file = self.base_dir / file
                    found = file.is_file()
                except (OSError, RuntimeError) as exc:
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                    raise self.fail(path, f"cannot use {show_value(name)}: {reason}") from None
                if not found:
                    raise self.fail(path, f"no such file: {file}")
                chosen.append((role, file))
            else:
                names = ", ".join(sorted(BUILTIN_CUES))
                raise self.fail(path, f"expected a built-in cue ({names}), 'none',"
                                      f" or a path to a .wav file, got {name!r}")
        return tuple(chosen)

    # Steps

    def steps(self, value: object, path: str, pause_s: float,
              in_repeat: bool) -> tuple[Step, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(path, "expected a non-empty list of steps ([[steps]] tables)")
        return tuple(self.step(item, f"{path}[{number}]", pause_s, in_repeat)
                     for number, item in enumerate(value, start=1))

    def step(self, value: object, path: str, pause_s: float, in_repeat: bool) -> Step:
        self.step_count += 1
        if self.step_count > MAX_STEPS:
            raise self.fail(path, f"too many steps; a routine may have at most {MAX_STEPS:,}")
        table = self.table(value, path)
        kinds = [key for key in ("say", "breathe", "repeat") if key in table]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none of them"
            raise self.fail(path, "expected exactly one of 'say', 'breathe' or 'repeat',"
                                  f" found {found}")
        kind = kinds[0]
        title = (self.text(table["title"], f"{path}.title", in_repeat or kind == "repeat",
                           MAX_TITLE_CHARS) if "title" in table else None)
        if kind == "say":
            self.only_keys(table, path, {"say", "hold_s", "title"})
            return Say(text=self.text(table["say"], f"{path}.say", in_repeat),
                       hold_s=self.number(table.get("hold_s", pause_s), f"{path}.hold_s",
                                          0.0, MAX_HOLD_S), title=title)
        self.only_keys(table, path, {kind, "title"})
        if kind == "breathe":
            return replace(self.breathe(table["breathe"], f"{path}.breathe", in_repeat),
                           title=title)
        if in_repeat:
            raise self.fail(f"{path}.repeat", "a repeat cannot contain another repeat")
        return replace(self.repeat(table["repeat"], f"{path}.repeat", pause_s), title=title)

    def breathe(self, value: object, path: str, in_repeat: bool) -> Breathe:
        table = self.table(value, path)
        self.only_keys(table, path, {"count", "inhale_s", "hold_in_s", "exhale_s",
                                     "hold_out_s", "inhale_prompt", "exhale_prompt",
                                     "prompt_breaths"})
        count = self.integer(self.required(table, "count", path), f"{path}.count", 1, MAX_BREATHS)
        pace = self.pace(table, path, None)
        inhale_prompt = (self.text(table["inhale_prompt"], f"{path}.inhale_prompt", in_repeat)
                         if "inhale_prompt" in table else None)
        exhale_prompt = (self.text(table["exhale_prompt"], f"{path}.exhale_prompt", in_repeat)
                         if "exhale_prompt" in table else None)
        prompt_breaths = self.integer(table.get("prompt_breaths", 1), f"{path}.prompt_breaths",
                                      0, MAX_BREATHS)
        return Breathe(count, pace, inhale_prompt, exhale_prompt, min(prompt_breaths, count))

    def repeat(self, value: object, path: str, pause_s: float) -> Repeat:
        table = self.table(value, path)
        self.only_keys(table, path, {"times", "fill", "cue", "count_from", "steps"})
        fill = table.get("fill", False)
        if not isinstance(fill, bool):
            raise self.fail(f"{path}.fill", f"expected true or false, got {show_value(fill)}")
        if fill == ("times" in table):
            raise self.fail(path, "expected exactly one of 'times = N' or 'fill = true'")
        times = (self.integer(table["times"], f"{path}.times", 1, MAX_TIMES)
                 if "times" in table else None)
        cue_name = self.string(table.get("cue", "spot"), f"{path}.cue")
        if cue_name != "none" and cue_name not in CUE_ROLES:
            raise self.fail(f"{path}.cue", f"expected one of {', '.join(CUE_ROLES)} or 'none',"
                                           f" got {cue_name!r}")
        cue: CueRole | None = None if cue_name == "none" else cue_name  # type: ignore[assignment]
        steps = self.steps(self.required(table, "steps", path), f"{path}.steps", pause_s,
                           in_repeat=True)
        count_from = self.integer(table.get("count_from", 1), f"{path}.count_from", 0, 1000)
        return Repeat(steps=steps, times=times, cue=cue,  # type: ignore[arg-type]
                      count_from=count_from)

    def pace(self, table: object, path: str, fallback: Pace | None) -> Pace | None:
        mapping = self.table(table, path)
        keys = ("inhale_s", "hold_in_s", "exhale_s", "hold_out_s")
        if path in ("breath", "breath_to"):
            self.only_keys(mapping, path, set(keys))
        if not any(key in mapping for key in keys):
            return fallback
        base = fallback or self.routine_pace
        values: list[float] = []
        for key in keys:
            low = 0.5 if key in ("inhale_s", "exhale_s") else 0.0
            default = getattr(base, key)
            values.append(self.number(mapping.get(key, default), f"{path}.{key}", low,
                                      MAX_PHASE_S))
        return Pace(*values)

    # Scalars

    def required(self, table: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in table:
            raise self.fail(f"{path}.{key}" if path else key, "missing")
        return table[key]

    def table(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {show_value(value)}")
        return value

    def only_keys(self, table: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                shown = key if _BARE_KEY.fullmatch(key) else json.dumps(key)
                where = f"{path}.{shown}" if path else shown
                raise self.fail(where, f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def string(self, value: object, path: str, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {show_value(value)}")
        cleaned = clean_text(value)
        if not cleaned and not allow_empty:
            raise self.fail(path, "expected some text, got an empty string")
        return cleaned

    def text(self, value: object, path: str, in_repeat: bool = False,
             most_chars: int = MAX_TEXT_CHARS) -> str:
        """Spoken text or a title: cleaned, bounded, placeholders checked."""
        cleaned = self.string(value, path)
        if len(cleaned) > most_chars:
            what = "per line" if most_chars == MAX_TEXT_CHARS else "in a title"
            raise self.fail(path, f"text is {len(cleaned):,} characters; at most"
                                  f" {most_chars:,} {what}")
        try:
            fields = [(field, spec, conv) for _, field, spec, conv
                      in string.Formatter().parse(cleaned) if field is not None]
        except ValueError as exc:
            raise self.fail(path, f"bad placeholder ({exc});"
                                  " write {{ and }} for braces") from None
        forms = ORDINAL_FORMS[self.lang]
        for field, spec, conv in fields:
            if field == "nth" and spec and not conv and spec not in forms:
                names = NAMES[self.lang]
                raise self.fail(path, f"{{nth:{spec}}}: {names} ordinals take "
                                      + (f"one of the forms {', '.join(forms)}"
                                         f" ({{nth:{forms[0]}}})" if forms else "no form;"
                                         " write {nth}"))
            if (spec and field != "nth") or conv:
                raise self.fail(path, f"placeholder {{{field}...}} takes no format or conversion;"
                                      f" known: {_KNOWN}")
            if field not in PLACEHOLDERS:
                raise self.fail(path, f"unknown placeholder {{{field}}}; known: {_KNOWN};"
                                      " write {{ and }} for braces")
            if field in REPEAT_PLACEHOLDERS and not in_repeat:
                raise self.fail(path, f"placeholder {{{field}}} is only allowed inside a repeat;"
                                      " write {{ and }} for braces")
        return cleaned

    def number(self, value: object, path: str, low: float, high: float) -> float:
        expected = f"expected a number from {low:g} to {high:g}, got {show_value(value)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, expected)
        in_range = isinstance(value, int) or math.isfinite(value)
        if not (in_range and low <= value <= high):
            raise self.fail(path, expected)
        return float(value)

    def integer(self, value: object, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(path, f"expected a whole number from {low} to {high},"
                                  f" got {show_value(value)}")
        return value


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control characters: text is spoken, never interpreted."""
    visible = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return " ".join(visible.split())


def _id_from_stem(stem: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug or "routine"
