"""Session history: real files, real processes, fixed clocks and real time zones."""

from __future__ import annotations

import multiprocessing
import os
import threading
import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import platformdirs
import pytest

from voice_coach import paths
from voice_coach.history import (
    MAX_LINE_BYTES,
    Entry,
    HistoryError,
    Loaded,
    Summary,
    append,
    format_history,
    from_json,
    load,
    read,
    recent,
    summarize,
    to_json,
)

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def at(text: str, played_s: float = 420.0, routine: str = "psoas-release",
       outcome: str = "completed") -> Entry:
    """An entry starting at an ISO time that carries its offset or zone."""
    started = datetime.fromisoformat(text)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return Entry(started, routine, 7.0, played_s, outcome)  # type: ignore[arg-type]


def local(text: str, tz: tzinfo) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=tz).isoformat()


# --- The file -----------------------------------------------------------------------


def test_history_path_from_environment_or_platform_folder() -> None:
    assert paths.history_file({"VOICE_COACH_HISTORY_FILE": "/x/h.jsonl"}) == Path("/x/h.jsonl")
    expected = Path(platformdirs.user_data_dir("voice-coach")) / "history.jsonl"
    assert paths.history_file({}) == expected
    assert paths.history_file({"VOICE_COACH_HISTORY_FILE": ""}) == expected


def test_a_line_is_utc_iso_8601_json() -> None:
    entry = Entry(datetime(2025, 3, 30, 23, 30, tzinfo=BERLIN), "psoas-release", 7.0, 421.5,
                  "completed")
    line = to_json(entry)
    assert line == ('{"started_at": "2025-03-30T21:30:00+00:00", "routine": "psoas-release",'
                    ' "planned_minutes": 7.0, "played_s": 421.5, "outcome": "completed"}')
    assert from_json(line) == entry
    assert from_json(line.encode()).started_at.tzinfo is UTC  # type: ignore[union-attr]


def test_entry_rejects_what_cannot_be_stored() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Entry(datetime(2025, 1, 1), "r", 7.0, 1.0, "completed")
    with pytest.raises(ValueError, match="played_s"):
        Entry(datetime(2025, 1, 1, tzinfo=UTC), "r", 7.0, -1.0, "completed")
    with pytest.raises(ValueError, match="outcome"):
        Entry(datetime(2025, 1, 1, tzinfo=UTC), "r", 7.0, 1.0, "aborted")  # type: ignore[arg-type]


def test_append_and_load_round_trip_sorted_by_time(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "history.jsonl"
    entries = [
        at(local("2025-03-30T23:30", BERLIN)),
        at("2025-03-01T08:00", 60.0, "box-breathing", "stopped"),
        at("2025-03-15T20:00+05:30", 0.0, "my routine \"quoted\"\nnewline ☃"),
    ]
    for entry in entries:
        append(path, entry)
    assert len(path.read_bytes().splitlines()) == 3
    assert load(path) == sorted(entries, key=lambda e: e.started_at)
    assert read(path).skipped == 0


def test_missing_file_is_an_empty_history(tmp_path: Path) -> None:
    assert load(tmp_path / "none.jsonl") == []
    assert read(tmp_path / "none.jsonl").skipped == 0


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    good = [at("2025-03-02T08:00"), at("2025-03-01T08:00", 30.0)]
    fields = '"routine": "r", "planned_minutes": 7, "played_s": 60, "outcome": "completed"'
    bad = [
        b"garbage",
        b"[1, 2]",
        b"{}",
        b'{"started_at": "2025-03-01T08:00:00", ' + fields.encode() + b"}",   # naive
        b'{"started_at": "yesterday", ' + fields.encode() + b"}",
        b'{"started_at": 5, ' + fields.encode() + b"}",
        b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": "r", "planned_minutes": 7,'
        b' "played_s": -5, "outcome": "completed"}',
        b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": "r", "planned_minutes": 7,'
        b' "played_s": true, "outcome": "completed"}',
        b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": "r", "planned_minutes": 7,'
        b' "played_s": 60, "outcome": "aborted"}',
        b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": 3, "planned_minutes": 7,'
        b' "played_s": 60, "outcome": "completed"}',
        b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": "r", "planned_minutes": NaN,'
        b' "played_s": 60, "outcome": "completed"}',
        b'{"started_at": "2025-03-01T08:00:00+00:00", "routine": "r\xff"}',
        b"[" * 100_000,
        to_json(good[0]).encode()[:40],                                     # cut short
    ]
    lines = [to_json(good[0]).encode(), *bad[:7], b"", b"   ", to_json(good[1]).encode(),
             *bad[7:]]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(lines))
    loaded = read(path)
    assert loaded.entries == (good[1], good[0])
    assert loaded.skipped == len(bad) == 14
    assert load(path) == [good[1], good[0]]


def test_extra_fields_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"started_at": "2025-03-01T08:00:00Z", "routine": "r", "planned_minutes": 7,'
                    ' "played_s": 60, "outcome": "stopped", "mood": "calm"}\n', encoding="utf-8")
    assert load(path) == [Entry(datetime(2025, 3, 1, 8, tzinfo=UTC), "r", 7.0, 60.0, "stopped")]


def test_a_line_cut_short_does_not_swallow_the_next(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    first = at("2025-03-01T08:00")
    path.write_bytes(to_json(first).encode()[:30])               # a crash mid-line
    append(path, first)
    append(path, at("2025-03-02T08:00"))
    loaded = read(path)
    assert loaded.entries == (first, at("2025-03-02T08:00"))
    assert loaded.skipped == 1


def _append_many(path: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    for n in range(50):
        # Long lines: a write split in two would interleave with the other processes.
        append(Path(path), at("2025-03-01T08:00", float(n), f"w{worker}-" + "x" * 8000))


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_append_many, args=(str(path), w, start))
               for w in range(4)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=60)
    assert [process.exitcode for process in workers] == [0, 0, 0, 0]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 201
    loaded = read(path)
    assert loaded.skipped == 0
    assert sorted((e.routine[:2], e.played_s) for e in loaded.entries) == sorted(
        (f"w{w}", float(n)) for w in range(4) for n in range(50))


def test_threads_appending_at_once_each_add_one_whole_line(tmp_path: Path) -> None:
    """Threads of one process too: each append opens the file anew, so its lock holds
    against the others (flock locks an open file, not a process)."""
    path = tmp_path / "history.jsonl"
    start = threading.Barrier(8)

    def append_many(worker: int) -> None:
        start.wait()
        for n in range(25):
            append(path, at("2025-03-01T08:00", float(n), f"t{worker}-" + "y" * 70_000))

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 201
    assert all(from_json(line) is not None for line in lines[:-1])
    assert sorted((e.routine[:2], e.played_s) for e in read(path).entries) == sorted(
        (f"t{w}", float(n)) for w in range(8) for n in range(25))


def test_a_line_of_any_length_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    first, last = at("2025-03-01T08:00"), at("2025-03-02T08:00")
    path.write_bytes(to_json(first).encode() + b"\n" + b"[" * (MAX_LINE_BYTES + 1) + b"\n"
                     + b"x" * (3 * MAX_LINE_BYTES) + b"\n" + to_json(last).encode() + b"\n"
                     + b"{" * (2 * MAX_LINE_BYTES))
    assert read(path) == Loaded((first, last), 3)
    path.write_bytes(b" " * MAX_LINE_BYTES + b"\n" + to_json(first).encode())
    assert read(path) == Loaded((first,), 0)


def test_a_huge_history_is_read_in_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    entry = at("2025-03-01T08:00")
    with path.open("wb") as file:
        file.write(to_json(entry).encode() + b"\n")
        for _ in range(32):
            file.write(b"\x00" * MAX_LINE_BYTES)  # one 32 MB line of damage
    tracemalloc.start()
    try:
        loaded = read(path)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert loaded == Loaded((entry,), 1)
    assert peak_bytes < 8 * MAX_LINE_BYTES  # a quarter of the file


@pytest.mark.parametrize("kind", ["a named pipe", "a device", "a directory"])
def test_a_history_that_is_not_a_file_is_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "history.jsonl"
    if kind == "a named pipe":
        os.mkfifo(path)
    elif kind == "a device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    reason = "Is a directory" if kind == "a directory" else f"is {kind}"
    with pytest.raises(HistoryError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: cannot read the history ({reason})"


def test_a_full_disk_is_one_line(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(HistoryError) as caught:
        append(Path("/dev/full"), at("2025-03-01T08:00"))
    assert str(caught.value) == "/dev/full: cannot record the session (No space left on device)"


def test_a_file_in_the_way_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    path = tmp_path / "file" / "sub" / "history.jsonl"
    with pytest.raises(HistoryError) as caught:
        append(path, at("2025-03-01T08:00"))
    assert str(caught.value) == f"{path}: cannot record the session (Not a directory)"
    with pytest.raises(HistoryError) as caught:
        read(tmp_path / "file" / "history.jsonl")
    assert str(caught.value) == (f"{tmp_path}/file/history.jsonl: cannot read the history"
                                 " (Not a directory)")


def test_history_errors_are_runtime_failures() -> None:
    assert HistoryError.exit_code == 1


# --- Arithmetic ---------------------------------------------------------------------


def test_totals() -> None:
    entries = [at("2025-03-01T08:00", 600.0), at("2025-03-02T08:00", 630.0, outcome="stopped"),
               at("2025-03-03T08:00", 30.0)]
    assert summarize(entries, date(2025, 3, 3), UTC) == Summary(
        total_minutes=21.0, sessions=3, completed=2, streak_days=2)
    assert summarize([], date(2025, 3, 3), UTC) == Summary(0.0, 0, 0, 0)


def test_streak_across_midnight_counts_two_days() -> None:
    entries = [at(local("2025-06-01T23:30", BERLIN)), at(local("2025-06-02T00:10", BERLIN))]
    assert summarize(entries, date(2025, 6, 2), BERLIN).streak_days == 2
    assert summarize(entries, date(2025, 6, 3), BERLIN).streak_days == 2   # yesterday counts
    assert summarize(entries, date(2025, 6, 4), BERLIN).streak_days == 0   # two days ago


@pytest.mark.parametrize(("today", "streak"), [
    (date(2025, 5, 5), 2), (date(2025, 5, 6), 2), (date(2025, 5, 7), 0),
    (date(2025, 5, 4), 1), (date(2025, 5, 3), 2), (date(2025, 5, 2), 2),
])
def test_streak_ends_today_or_yesterday(today: date, streak: int) -> None:
    entries = [at(f"2025-05-0{d}T12:00") for d in (1, 2, 4, 5)]
    entries.append(at("2025-05-05T18:00"))                    # two on one day count once
    assert summarize(entries, today, UTC).streak_days == streak


def test_sessions_under_a_minute_do_not_count() -> None:
    entries = [at("2025-05-01T12:00"), at("2025-05-02T12:00", 59.9), at("2025-05-03T12:00", 60.0)]
    assert summarize(entries, date(2025, 5, 3), UTC).streak_days == 1
    assert summarize(entries[:2], date(2025, 5, 2), UTC).streak_days == 1


def test_streak_across_the_spring_dst_change() -> None:
    """Berlin, last Sunday of March 2025: 02:00 CET jumps to 03:00 CEST."""
    entries = [
        at(local("2025-03-29T23:30", BERLIN)),    # 22:30 UTC, CET
        at(local("2025-03-30T23:30", BERLIN)),    # 21:30 UTC, CEST
        at(local("2025-03-31T00:10", BERLIN)),    # 22:10 UTC on the 30th
    ]
    assert entries[2].started_at == datetime(2025, 3, 30, 22, 10, tzinfo=UTC)
    assert summarize(entries, date(2025, 3, 31), BERLIN).streak_days == 3
    # A fixed winter offset would put the last one on the 30th: a streak of 2.
    assert summarize(entries, date(2025, 3, 31), timezone(timedelta(hours=1))).streak_days == 2


def test_autumn_dst_change_keeps_a_long_day_one_day() -> None:
    """Berlin, 26 October 2025 has 25 hours: 00:30 CEST and 23:30 CET are the same day."""
    entries = [at("2025-10-25T22:30"), at("2025-10-26T22:30")]
    assert summarize(entries, date(2025, 10, 26), BERLIN).streak_days == 1
    assert summarize(entries, date(2025, 10, 27), BERLIN).streak_days == 1
    assert summarize(entries, date(2025, 10, 26), UTC).streak_days == 2


@pytest.mark.parametrize(("tz", "today", "streak"), [
    (UTC, date(2025, 6, 2), 2),
    (TOKYO, date(2025, 6, 3), 1),           # Jun 1 23:00, Jun 3 08:30: the 2nd is missed
    (LOS_ANGELES, date(2025, 6, 2), 2),     # Jun 1 07:00, Jun 2 16:30
])
def test_days_are_local_to_the_time_zone(tz: tzinfo, today: date, streak: int) -> None:
    entries = [at("2025-06-01T14:00"), at("2025-06-02T23:30")]
    assert summarize(entries, today, tz).streak_days == streak


def test_recent_keeps_the_latest_oldest_first() -> None:
    entries = [at(f"2025-05-0{d}T12:00") for d in (3, 1, 5, 2, 4)]
    assert recent(entries, 3) == [at("2025-05-03T12:00"), at("2025-05-04T12:00"),
                                  at("2025-05-05T12:00")]
    assert recent(entries, 10) == sorted(entries, key=lambda e: e.started_at)
    assert recent(entries, 0) == []


def test_format_history() -> None:
    entries = [
        at("2025-03-29T22:30", 420.0),
        at("2025-03-30T21:30", 630.0, "box-breathing"),
        at("2025-03-30T22:10", 30.0, "4-7-8", "stopped"),
    ]
    summary = summarize(entries, date(2025, 3, 31), BERLIN)
    assert format_history(summary, entries, BERLIN) == [
        "2025-03-29 23:30  psoas-release    7 min  completed",
        "2025-03-30 23:30  box-breathing   10 min  completed",   # 10:30 played: 10 whole
        "2025-03-31 00:10  4-7-8           <1 min  stopped",
        "3 sessions, 18 minutes in all; streak: 2 days",
    ]
    assert format_history(summary, [], BERLIN) == [
        "3 sessions, 18 minutes in all; streak: 2 days"]


def test_a_short_first_session_is_less_than_a_minute_and_no_streak() -> None:
    """What a person saw after 55 seconds: "1 minute in all" beside "streak: 0 days"."""
    entries = [at("2025-03-29T22:30", 55.0, outcome="stopped")]
    summary = summarize(entries, date(2025, 3, 29), UTC)
    assert format_history(summary, entries, UTC) == [
        "2025-03-29 22:30  psoas-release   <1 min  stopped",
        "1 session, less than a minute in all; streak: 0 days",
    ]
    entries.append(at("2025-03-29T23:00", 5.0, outcome="stopped"))  # 60 s on the day
    summary = summarize(entries, date(2025, 3, 29), UTC)
    assert format_history(summary, [], UTC) == ["2 sessions, 1 minute in all; streak: 1 day"]
    nearly = [at("2025-03-29T22:30", 119.9)]
    assert format_history(summarize(nearly, date(2025, 3, 29), UTC), nearly, UTC) == [
        "2025-03-29 22:30  psoas-release    1 min  completed",
        "1 session, 1 minute in all; streak: 1 day",
    ]


def test_short_sessions_on_one_day_add_up_to_a_streak_day() -> None:
    entries = [at("2025-05-02T08:00", 40.0), at("2025-05-02T20:00", 40.0),
               at("2025-05-03T08:00", 30.0), at("2025-05-04T08:00", 29.0)]
    assert summarize(entries, date(2025, 5, 2), UTC).streak_days == 1
    assert summarize(entries, date(2025, 5, 4), UTC).streak_days == 0  # 30 s, 29 s: no day


def test_format_history_in_the_singular_and_when_empty() -> None:
    entries = [at("2025-03-29T22:30", 60.0)]
    summary = summarize(entries, date(2025, 3, 29), UTC)
    assert format_history(summary, entries, UTC) == [
        "2025-03-29 22:30  psoas-release    1 min  completed",
        "1 session, 1 minute in all; streak: 1 day",
    ]
    assert format_history(summarize([], date(2025, 3, 29), UTC), [], UTC) == [
        "No sessions recorded yet."]
