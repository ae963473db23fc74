"""A local record of sessions: one JSON line each, in a file that never leaves the machine.

Appending is the only side effect and it is one ``os.write`` on an ``O_APPEND`` file, so
sessions that end at the same moment cannot interleave their lines. Reading tolerates
damage (a line cut short by a crash, a hand edit, any bytes at all): such lines are
skipped and counted.
Everything else here is arithmetic on ``Entry`` values, with the clock and the time zone
passed in.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import BinaryIO, Final, Literal, TypeAlias

from voice_coach.errors import VoiceCoachError
from voice_coach.files import not_a_file

MAX_LINE_BYTES: Final = 1024 * 1024
"""A session's line is some 150 bytes; a line past this is damage, skipped unread."""
STREAK_MIN_PLAYED_S: Final = 60.0
"""A day counts towards the streak when its sessions played at least this long in all.

Minutes are shown rounded down (whole minutes played), so a day with "1 min" or more on
it always counts, and "less than a minute in all" never makes a streak.
"""

Outcome: TypeAlias = Literal["completed", "stopped"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("completed", "stopped")


class HistoryError(VoiceCoachError):
    """The history file cannot be read or written; the session itself is unaffected."""


@dataclass(frozen=True)
class StoppedIn:
    """Where a stopped session can be picked up: the settings it played with (each a
    JSON scalar, as ``play --resume`` gives them back) and the step it stopped in, an
    index of the whole session's steps, with its title."""

    settings: Mapping[str, object]
    step: int
    steps: int
    label: str


@dataclass(frozen=True)
class Entry:
    """One session: when it began, what was played, for how long, how it ended.

    ``stopped_in`` is where a stopped session can be resumed; ``resumes`` the start of
    the session this one picked up (the first of them), so ``history`` shows them as one.
    """

    started_at: datetime
    routine: str
    planned_minutes: float
    played_s: float
    outcome: Outcome
    stopped_in: StoppedIn | None = None
    resumes: datetime | None = None

    def __post_init__(self) -> None:
        if self.started_at.utcoffset() is None:
            raise ValueError("started_at must be timezone-aware")
        if not (math.isfinite(self.played_s) and self.played_s >= 0):
            raise ValueError(f"played_s must be a finite number >= 0, got {self.played_s!r}")
        if not math.isfinite(self.planned_minutes):
            raise ValueError(f"planned_minutes must be finite, got {self.planned_minutes!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")


@dataclass(frozen=True)
class Loaded:
    """The entries of a history file, by time, and how many damaged lines were skipped."""

    entries: tuple[Entry, ...]
    skipped: int


@dataclass(frozen=True)
class Summary:
    """Totals over a history; ``streak_days`` ends today or yesterday (local days)."""

    total_minutes: float
    sessions: int
    completed: int
    streak_days: int


# --- The file -------------------------------------------------------------------------


def append(path: Path, entry: Entry) -> None:
    """Add ``entry`` as one line; raises HistoryError (one line) when it cannot."""
    data = (to_json(entry) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot record the session ({_reason(exc)})") from None
    try:
        # Another session may be mid-write: its bytes land page by page, so the size and
        # last byte seen without the lock can belong to half a line.
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a line cut short earlier stays apart from this one
        written = os.write(fd, data)
        if written != len(data):
            raise HistoryError(f"{path}: cannot record the session (wrote {written} of"
                               f" {len(data)} bytes)")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot record the session ({_reason(exc)})") from None
    finally:
        os.close(fd)


def read(path: Path) -> Loaded:
    """Every readable entry, sorted by time; a missing file is an empty history.

    The file is read a line at a time, never more than ``MAX_LINE_BYTES`` of one line (a
    longer one is damage, skipped), so a history of any size or content takes memory
    only for its entries. A path that is not a regular file (a named pipe would hang, a
    device never end) is a HistoryError.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return Loaded((), 0)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the history ({_reason(exc)})") from None
    entries: list[Entry] = []
    skipped = 0
    try:
        with os.fdopen(descriptor, "rb") as file:
            other = not_a_file(os.fstat(descriptor).st_mode)
            if other is not None:
                reason = os.strerror(errno.EISDIR) if other == "a directory" else f"is {other}"
                raise HistoryError(f"{path}: cannot read the history ({reason})")
            for line in _lines(file):
                entry = None if line is None else from_json(line)
                if entry is not None:
                    entries.append(entry)
                elif line is None or line.strip():
                    skipped += 1
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the history ({_reason(exc)})") from None
    entries.sort(key=lambda e: e.started_at)
    return Loaded(tuple(entries), skipped)


def _lines(file: BinaryIO) -> Iterator[bytes | None]:
    """Each line of ``file`` without its newline; None for one past ``MAX_LINE_BYTES``,
    whose rest is read past in pieces."""
    while line := file.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line.removesuffix(b"\n")
            continue
        while (rest := file.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def load(path: Path) -> list[Entry]:
    """The entries of ``path`` sorted by time, damaged lines skipped (see ``read``)."""
    return list(read(path).entries)


def to_json(entry: Entry) -> str:
    """One line of JSON, the start in UTC as ISO 8601."""
    record: dict[str, object] = {
        "started_at": entry.started_at.astimezone(UTC).isoformat(),
        "routine": entry.routine,
        "planned_minutes": entry.planned_minutes,
        "played_s": entry.played_s,
        "outcome": entry.outcome,
    }
    if entry.stopped_in is not None:
        stopped = entry.stopped_in
        record["stopped_in"] = {"settings": dict(stopped.settings), "step": stopped.step,
                                "steps": stopped.steps, "label": stopped.label}
    if entry.resumes is not None:
        record["resumes"] = entry.resumes.astimezone(UTC).isoformat()
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def from_json(line: bytes | str) -> Entry | None:
    """The entry on one line, or None when the line is damaged. Extra fields are ignored."""
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            return None
        started_at = datetime.fromisoformat(record["started_at"])
        if started_at.utcoffset() is None:
            return None
        routine = record["routine"]
        planned, played = record["planned_minutes"], record["played_s"]
        outcome = record["outcome"]
        if (not isinstance(routine, str) or outcome not in OUTCOMES
                or not all(_is_number(n) for n in (planned, played))):
            return None
        return Entry(started_at.astimezone(UTC), routine, float(planned), float(played),
                     outcome, _stopped_in(record.get("stopped_in")),
                     _instant(record.get("resumes")))
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


def _stopped_in(record: object) -> StoppedIn | None:
    """Where to resume, from its JSON; None when absent or damaged (the entry stands)."""
    if not isinstance(record, dict):
        return None
    settings, step, steps, label = (record.get(key) for key in
                                    ("settings", "step", "steps", "label"))
    scalars = (str, int, float, bool, type(None))
    if not (isinstance(settings, dict) and isinstance(label, str)
            and all(isinstance(value, scalars) for value in settings.values())
            and type(step) is int and type(steps) is int and 0 <= step < steps):
        return None
    return StoppedIn(settings, step, steps, label)


def _instant(text: object) -> datetime | None:
    """An aware time from ISO 8601 text, in UTC; None when absent or damaged."""
    if not isinstance(text, str):
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found.astimezone(UTC) if found.utcoffset() is not None else None


def sessions(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Entries grouped by session: one played to its end or stopped, then each play
    that resumed it (``resumes``), in order; sessions by when they began."""
    by_start: dict[datetime, list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: e.started_at):
        head = by_start.get(entry.resumes) if entry.resumes is not None else None
        if head is not None:
            head.append(entry)
        else:
            by_start[entry.started_at] = [entry]
    return list(by_start.values())


def to_resume(entries: Sequence[Entry]) -> list[Entry] | None:
    """The session ``play --resume`` picks up: of those whose last play was stopped with
    a place to resume, the one stopped last; None when there is none."""
    stopped = [session for session in sessions(entries)
               if session[-1].outcome == "stopped" and session[-1].stopped_in is not None]
    return max(stopped, key=lambda session: session[-1].started_at, default=None)


# --- Arithmetic -----------------------------------------------------------------------


def summarize(entries: Sequence[Entry], today: date, tz: tzinfo) -> Summary:
    """Totals, and the run of consecutive local days with a minute or more played on each
    (in one session or several).

    The streak ends today or yesterday: it is not broken until a whole day is missed.
    """
    played: dict[date, float] = {}
    for e in entries:
        day = e.started_at.astimezone(tz).date()
        played[day] = played.get(day, 0.0) + e.played_s
    days = {day for day, seconds in played.items() if seconds >= STREAK_MIN_PLAYED_S}
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    grouped = sessions(entries)
    return Summary(
        total_minutes=sum(e.played_s for e in entries) / 60,
        sessions=len(grouped),
        completed=sum(1 for session in grouped if session[-1].outcome == "completed"),
        streak_days=streak,
    )


def recent(entries: Sequence[Entry], n: int) -> list[Entry]:
    """The entries of the ``n`` latest sessions (a resumed one counts once), oldest
    first (so the newest sits above the totals)."""
    if n <= 0:
        return []
    return [entry for session in sessions(entries)[-n:] for entry in session]


def format_history(summary: Summary, entries: Sequence[Entry], tz: tzinfo) -> list[str]:
    """Lines for the ``history`` command: ``entries`` in local time, one line per session
    (a resumed one counts its plays together), then the totals.

    ``2025-03-30 23:30  psoas-release   7 min  completed, resumed once`` ... then
    ``3 sessions, 21 minutes in all; streak: 2 days``. Minutes are whole minutes played,
    rounded down (``_whole``).
    """
    if summary.sessions == 0:
        return ["No sessions recorded yet."]
    width = max((len(e.routine) for e in entries), default=0)
    lines = [
        f"{session[0].started_at.astimezone(tz):%Y-%m-%d %H:%M}  {session[0].routine:<{width}}"
        f"  {_played(sum(e.played_s for e in session)):>7}  {session[-1].outcome}"
        + (f", resumed {_times(len(session) - 1)}" if len(session) > 1 else "")
        for session in sessions(entries)
    ]
    minutes = _whole(summary.total_minutes)
    total = _plural(minutes, "minute") if minutes else "less than a minute"
    lines.append(f"{_plural(summary.sessions, 'session')}, {total} in all;"
                 f" streak: {_plural(summary.streak_days, 'day')}")
    return lines


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _played(seconds: float) -> str:
    if seconds < STREAK_MIN_PLAYED_S:
        return "<1 min"
    return f"{_whole(seconds / 60)} min"


def _whole(minutes: float) -> int:
    """Whole minutes played, rounded down: 55 seconds is not yet a minute, and 10:59 is 10.

    Rounded any other way, a total could show a minute that the streak rule does not see.
    """
    return math.floor(minutes + 1e-9)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
