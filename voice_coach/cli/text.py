"""What the commands print, built by plain functions: values in, lines out, no Click.

Human output only; ``--json`` output is the library's own (``plan.to_dict``,
``devices.as_json``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from voice_coach.config import SETTINGS, ConfigError, ConfigFile, Setting, resolve_one, shown_key
from voice_coach.language import PLAN_WORDS, locale_language
from voice_coach.plan import Timeline
from voice_coach.routine import Routine
from voice_coach.timefmt import minutes_seconds

if TYPE_CHECKING:
    from voice_coach.checks import Check
    from voice_coach.loudness import Leveled


def describe(timeline: Timeline) -> Iterator[str]:
    """The timeline for people: one line per event, steps set apart.

    Steps are headed as the screen shows them while playing (``step 4/9``), with the
    ``[[steps]]`` entry of the routine file they come from (``steps[3]``, as errors say),
    in the timeline's language.
    """
    words = PLAN_WORDS[timeline.lang]
    rate = timeline.sample_rate
    total = len(timeline.step_labels)
    step = -1
    for event in timeline.events:
        if event.step != step:
            step = event.step
            label = timeline.step_labels[step]
            source = timeline.step_source(step)
            head = f"{words.step} {step + 1}/{total}" + (f" ({source})" if source else "")
            yield ""
            yield head if event.text == label else f"{head}: {label}"
        seconds = (event.end - event.start) / rate
        at = minutes_seconds(event.start / rate, tenths=True)
        if event.kind == "speech":
            yield f"  {at}  {words.speak:<8} {event.text}"
        elif event.kind == "cue":
            cue = words.cues[event.cue] if event.cue is not None else ""
            yield f"  {at}  {words.chime:<8} {cue}"
        else:
            yield f"  {at}  {words.silence:<8} {seconds:.1f} s"
    yield ""
    yield f"  {minutes_seconds(timeline.duration_s, tenths=True)}  {words.end}"


def plan_head(routine: Routine, timeline: Timeline, rate_wpm: int, rendered: bool) -> str:
    """``Psoas release (psoas-release): 7:00 estimated at 150 words per minute``, in
    the routine's language."""
    words = PLAN_WORDS[routine.lang]
    how = (words.rendered if rendered else words.estimated).format(rate=rate_wpm)
    return f"{routine.title} ({routine.id}): {minutes_seconds(timeline.duration_s)} {how}"


def pronounce_lines(routine: Routine, engine: str) -> Iterator[str]:
    """How ``engine`` is told to say each word the routine spells out for it."""
    for entry in routine.pronounce:
        yield (f"pronounce: {entry.word} -> {entry.spoken(engine)}"
               f" ({engine}; captions keep {entry.word})")


def describe_levels(leveled: Sequence[Leveled]) -> str:
    """``Levels: 31 clips at -19 LUFS; the limiter took up to 3.0 dB off peaks in 18``."""
    from voice_coach.loudness import TARGET_LUFS

    limited = [clip.reduction_db for clip in leveled if clip.reduction_db > 0.05]
    most = max(limited, default=0.0)
    peaks = (f"the limiter took up to {most:.1f} dB off the peaks of {len(limited)}"
             if limited else "no peak needed limiting")
    return f"Levels: {len(leveled)} clips at {TARGET_LUFS:g} LUFS; {peaks}"


def export_head(files: int, output: Path, duration_s: float) -> str:
    """``Wrote 28 files to psoas (7:00 session)``."""
    return f"Wrote {files} files to {output} ({minutes_seconds(duration_s)} session)"


def resuming_line(title: str, label: str, started_at: datetime) -> str:
    """What ``play --resume`` says before it plays, the time in the local zone."""
    when = started_at.astimezone()
    return (f"Resuming {title} at \"{label}\", where the session of"
            f" {when:%Y-%m-%d %H:%M} stopped.")


def routine_line(routine: Routine, length_s: float, yours: bool = False) -> str:
    """``psoas-release       7:00  Psoas release - ...  [de en es fr]``, and
    `` (yours)`` after a routine from the user's folder."""
    return (f"{routine.id:<18} {minutes_seconds(length_s):>5}  {routine.title} -"
            f" {routine.summary}  [{' '.join(routine.languages)}]"
            + (" (yours)" if yours else ""))


def broken_routine_line(routine_id: str, error: Exception) -> str:
    """A user's routine that does not load, in the routines list."""
    return f"{routine_id:<18}    ?  (yours, invalid: {error})"


def check_line(file: Path, routine: Routine, timeline: Timeline, rate_wpm: int) -> str:
    """``check``'s summary of a routine file that is valid."""
    spoken = [e for e in timeline.events if e.kind == "speech"]
    chimes = [e for e in timeline.events if e.kind == "cue"]
    return (f"{file}: ok - {routine.title} ({routine.id}),"
            f" about {minutes_seconds(timeline.duration_s)}"
            f" at {rate_wpm} words per minute: {len(timeline.step_labels)} steps,"
            f" {len(spoken)} spoken lines, {len(chimes)} chimes;"
            f" languages: {', '.join(routine.languages)}")


def doctor_lines(results: Sequence[Check]) -> Iterator[str]:
    """One line per check, with its fix under a failed one."""
    for result in results:
        mark = "ok" if result.ok else "FAIL"
        yield f"{mark:<4}  {result.name}: {result.detail}"
        if not result.ok and result.fix:
            yield f"      fix: {result.fix}"


def config_listing(found: ConfigFile, read_error: ConfigError | None,
                   environ: Mapping[str, str], path: Path,
                   path_exists: bool) -> tuple[list[str], list[str]]:
    """``config``'s table: each setting, its value and where it comes from, then the
    settings file; and the problems, each with what repairs it (for stderr)."""
    problems: list[str] = []
    if read_error is not None:
        problems.append(f"{read_error} (the file is ignored here; fix it in an editor)")
    problems += [f"{problem} (repair: voice-coach config set {key} VALUE, or unset {key})"
                 for problem, key in zip(found.problems, map(shown_key, _problem_keys(found)),
                                         strict=True)]
    lines: list[str] = []
    for spec in SETTINGS.values():
        try:
            setting = resolve_one(spec, {}, environ, found.values)
        except ConfigError as error:
            problems.append(str(error))
            lines.append(f"{spec.key:<13} {'(invalid)':<18} {spec.envvar}")
            continue
        shown, setting = _shown_setting(setting, found, environ)
        lines.append(f"{spec.key:<13} {shown:<18} {_source(setting, shown)}")
    lines.append(f"settings file: {path}{'' if path_exists else ' (not created yet)'}")
    return lines, problems


def _shown_setting(setting: Setting, found: ConfigFile,
                   environ: Mapping[str, str]) -> tuple[str, Setting]:
    """A setting's value as ``config`` shows it, and the setting (``lang`` unset is the
    locale's language, when the routine has it)."""
    spec = SETTINGS[setting.key]
    if setting.source != "environment" and spec.key in _problem_keys(found):
        return "(invalid)", setting  # what the file says cannot be used
    if setting.value is None and spec.key == "lang":
        found_locale = locale_language(environ)
        if found_locale:
            return found_locale[0], Setting(spec.key, found_locale[0], "locale",
                                            found_locale[1])
        return "(the routine's)", setting
    if setting.value is None:
        return f"({spec.unset})", setting
    return setting_text(setting.value), setting


def _source(setting: Setting, shown: str) -> str:
    if shown == "(invalid)":
        return "config file"
    if setting.source == "environment":
        return setting.detail
    if setting.source == "locale":
        return f"locale ({setting.detail}), when the routine has it"
    return setting.source


def _problem_keys(found: ConfigFile) -> list[str]:
    """The key each of ``found.problems`` is about, in the same order."""
    return [key for key in (found.written or {}) if key not in found.values]


def setting_text(value: object) -> str:
    """A setting's value as the settings file spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)
