"""Routine files: TOML in, validated immutable ``Routine`` out.

Every problem is a ``RoutineError`` that names the file, the line where TOML gives one,
and the key path (``steps[3].breathe.count``). Steps are counted from 1 in key paths, as
a person counts the ``[[steps]]`` tables of the file: ``steps[1]`` is the first; ``plan``
names the same ``steps[N]``. A translation (``NAME.LANG.toml``) holds only the words of
its routine, put into a copy of the routine's document before it is read.
"""

from __future__ import annotations

import copy
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from voice_coach import tomlfile
from voice_coach.engines.registry import NAMES as ENGINE_NAMES
from voice_coach.errors import show_value
from voice_coach.language import ENGLISH, LANGUAGES
from voice_coach.pace import DEFAULT_PACE, MAX_PHASE_S, PACE_KEYS, Pace, phase_low_s, ramp_problem
from voice_coach.routine_model import (
    BUILTIN_CUES,
    CUE_ROLES,
    DEFAULT_PAUSE_S,
    Breathe,
    CueRole,
    CueSource,
    Pronunciation,
    Repeat,
    Routine,
    RoutineError,
    Say,
    Step,
)
from voice_coach.spoken import placeholder_problem

MAX_STEPS: Final = 2_000
MAX_TEXT_CHARS: Final = 2_000
MAX_TITLE_CHARS: Final = 60
"""A step's title is shown on a lock screen, a phone and a headset's display."""
MAX_BREATHS: Final = 100
MAX_HOLD_S: Final = 600.0
MAX_TIMES: Final = 500
MIN_MINUTES: Final = 1.0
MAX_MINUTES: Final = 180.0

ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_WORD: Final = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
PRONOUNCE_ENGINES: Final = ENGINE_NAMES
"""The engines a ``[pronounce]`` entry may give phonemes for."""
MAX_RESPELLING_CHARS: Final = 200


def parse_routine(text: str, *, source: str, default_id: str | None = None,
                  base_dir: Path | None = None, translations: tuple[str, ...] = ()) -> Routine:
    """Validate TOML text as a routine. ``source`` names it in every error;
    ``translations`` are the languages of the translations found beside it."""
    document = tomlfile.parse(text, source, RoutineError)
    return _Reader(source, base_dir).routine(document, default_id, translations)


def translate(base: Routine, base_text: str, translation_text: str, *, lang: str, source: str,
              default_id: str | None = None, base_dir: Path | None = None) -> Routine:
    """The routine of ``base_text`` with the lines of a translation file put in.

    A translation holds only words: ``lang``, ``title``, ``summary``, ``caution`` and
    ``[[steps]]`` in the routine's order and shape, each with just its texts (``say``;
    a step's ``title``; a breathe's ``inhale_prompt`` and ``exhale_prompt``; a repeat's
    ``steps``). Timings live in the routine alone, so a translation can never drift from
    it. Every text the routine has must be translated; errors name the translation file
    and the key path.
    """
    document = tomlfile.parse(base_text, base.source, RoutineError)
    words = tomlfile.parse(translation_text, source, RoutineError)
    if "lang" in words and words["lang"] != lang:
        raise RoutineError(f"{source}: the file is named for {lang} but says"
                           f" lang = {show_value(words['lang'])}")
    merged = _Merger(source).routine(document, words)
    return _Reader(source, base_dir).routine(merged, default_id, base.languages)


class _Walker:
    """Walks a TOML document, naming the file and the key path in every error."""

    missing = "missing"

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> RoutineError:
        return RoutineError(f"{self.source}: {path}: {message}")

    def unknown_key(self, allowed: set[str]) -> str:
        """Why a key not in ``allowed`` is refused."""
        return f"unknown key; expected one of {', '.join(sorted(allowed))}"

    def table(self, value: object, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a table, got {show_value(value)}")
        return value

    def required(self, table: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in table:
            raise self.fail(f"{path}.{key}" if path else key, self.missing)
        return table[key]

    def only_keys(self, table: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                shown = key if _BARE_KEY.fullmatch(key) else json.dumps(key)
                raise self.fail(f"{path}.{shown}" if path else shown, self.unknown_key(allowed))


class _Merger(_Walker):
    """Puts a translation's texts into a copy of the routine's TOML document."""

    missing = "missing; the routine has this text, so its translation must"

    def unknown_key(self, allowed: set[str]) -> str:
        expected = ", ".join(sorted(allowed)) or "nothing"
        return f"not a text of the routine; a translation holds only its words: {expected}"

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


class _Reader(_Walker):
    """Reads a routine's TOML document into a ``Routine``."""

    def __init__(self, source: str, base_dir: Path | None) -> None:
        super().__init__(source)
        self.base_dir = base_dir
        self.step_count = 0
        self.routine_pace = DEFAULT_PACE
        self.lang = ENGLISH

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
            if not ID_PATTERN.fullmatch(routine_id):
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
                raise self.fail("breath_to", f"expected at least one of {', '.join(PACE_KEYS)}")
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
        self.only_keys(table, path, {"count", *PACE_KEYS, "inhale_prompt", "exhale_prompt",
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
        if path in ("breath", "breath_to"):
            self.only_keys(mapping, path, set(PACE_KEYS))
        if not any(key in mapping for key in PACE_KEYS):
            return fallback
        base = fallback or self.routine_pace
        values = [self.number(mapping.get(key, default), f"{path}.{key}", phase_low_s(key),
                              MAX_PHASE_S)
                  for key, default in zip(PACE_KEYS, base.phases_s, strict=True)]
        return Pace(*values)

    # Scalars

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
        problem = placeholder_problem(cleaned, self.lang, in_repeat)
        if problem is not None:
            raise self.fail(path, problem)
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
