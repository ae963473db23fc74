"""Routines: find one by id or path, in a language, and load it.

The built-ins ship inside the package (``routines/ID.toml``), the user's live in their
routines folder, and any file may be named; each has its translations beside it
(``ID.LANG.toml``). What a routine is lives in ``routine_model``, how its file is read in
``routine_file``, its pace in ``pace``; the names the commands and the session use are
re-exported here, the routines' front door.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from voice_coach import tomlfile
from voice_coach.language import LANGUAGES, NAMES
from voice_coach.pace import Pace, parse_pace
from voice_coach.routine_file import ID_PATTERN, parse_routine, translate
from voice_coach.routine_model import (
    BUILTIN_CUES,
    CUE_ROLES,
    CueRole,
    CueSource,
    Repeat,
    Routine,
    RoutineError,
    speak_as,
)

__all__ = [  # what the commands and the session read here, besides finding and loading
    "BUILTIN_CUES", "CUE_ROLES", "CueRole", "CueSource", "Pace", "Repeat", "Routine",
    "RoutineError", "builtin_ids", "load_builtin", "load_file", "parse_pace",
    "parse_routine", "pick_language", "resolve", "speak_as", "translate",
    "translation_files", "user_ids",
]


def builtin_ids() -> list[str]:
    """Ids of the routines that ship inside the package, sorted."""
    folder = resources.files("voice_coach") / "routines"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and ID_PATTERN.fullmatch(entry.name[:-5])
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
    return sorted(p.stem for p in user_dir.glob("*.toml") if ID_PATTERN.fullmatch(p.stem))


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


def _id_from_stem(stem: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug or "routine"
