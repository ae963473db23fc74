"""Resume: what a stopped session keeps so that ``play --resume`` can pick it up.

A session stopped before its end is recorded in the history with the settings it played
with (every setting of ``play`` that shapes the session, as the settings file would hold
it, so the same validation reads it back) and the step it stopped in. Resuming plays the
same session (same routine, options, language and engine) from the start of that step,
after its opening chime (``plan.resumed``). Where and how this play runs (the device, the
history, the media keys) are this play's own. Pure: the history is read and written at
the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from voice_coach.config import SETTINGS, ConfigError, parse_config, render_config
from voice_coach.errors import VoiceCoachError
from voice_coach.pace import Pace, pace_text
from voice_coach.routine import BUILTIN_CUES, CUE_ROLES, CueRole, CueSource

THIS_PLAY: Final = frozenset({"device", "history", "media_keys"})
"""Settings of ``play`` that say where and how it runs, not what the session is."""
_CUE: Final = "cue."
"""The prefix of a ``--cue`` override among the kept settings (``cue.inhale``)."""
NOTHING_TO_RESUME: Final = ("nothing to resume: no session in the history was stopped before"
                            " its end")


class ResumeError(VoiceCoachError):
    """Nothing to resume, or ``--resume`` given with what would change the session."""

    exit_code = 2


@dataclass(frozen=True)
class Picked:
    """A stopped session as ``play`` resumes it: its settings, its cue overrides, and
    the step of the whole session to start from."""

    values: dict[str, Any]
    cues: tuple[tuple[CueRole, CueSource], ...]
    from_step: int


def session_keys() -> list[str]:
    """The settings that make a session what it is (``routine`` among them)."""
    return [key for key, spec in SETTINGS.items()
            if ("play" in spec.commands or key == "routine") and key not in THIS_PLAY]


def kept(values: Mapping[str, Any], cues: tuple[tuple[CueRole, CueSource], ...],
         routine_ref: str) -> dict[str, object]:
    """The settings to record for a resume, each a JSON scalar (None: the routine's or
    the engine's own); ``routine_ref`` as ``resolve`` finds it from any folder."""
    found: dict[str, object] = {}
    for key in session_keys():
        value = routine_ref if key == "routine" else values.get(key)
        found[key] = pace_text(value) if isinstance(value, Pace) else value
    for role, source in cues:
        found[_CUE + role] = None if source is None else str(source)
    return found


def routine_ref(ref: str, source: str) -> str:
    """The routine named so that it is found again from any folder: a built-in's id, or
    the absolute path of the file ``ref`` named."""
    if source.startswith("builtin:"):
        return source.removeprefix("builtin:")
    path = Path(ref).expanduser()
    return str(path.resolve()) if path.exists() else ref


def picked(settings: Mapping[str, object], step: int) -> Picked:
    """A recorded session's settings as ``play`` takes them, checked as the settings
    file is; a damaged record is a ResumeError (one line)."""
    plain = {key: value for key, value in settings.items()
             if value is not None and not key.startswith(_CUE) and key in session_keys()}
    try:
        checked = parse_config(render_config(plain), source="the stopped session's settings")
    except ConfigError as exc:
        raise ResumeError(f"cannot resume: {exc}") from None
    cues: list[tuple[CueRole, CueSource]] = []
    for key, value in settings.items():
        role = key.removeprefix(_CUE)
        if not key.startswith(_CUE):
            continue
        if role not in CUE_ROLES or not (value is None or isinstance(value, str)):
            raise ResumeError(f"cannot resume: the stopped session's {key} is damaged")
        source: CueSource = (None if value is None
                             else value if value in BUILTIN_CUES else Path(value))
        cues.append((role, source))
    values: dict[str, Any] = {key: checked.get(key) for key in session_keys()}
    return Picked(values, tuple(cues), step)


def whole_step(shown_step: int, from_step: int) -> int:
    """The step of the whole session that step ``shown_step`` of a session resumed at
    ``from_step`` is (its opening is the whole session's step 0)."""
    if from_step <= 1:
        return shown_step
    return from_step + shown_step - 1 if shown_step >= 1 else from_step

