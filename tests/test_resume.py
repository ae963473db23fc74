"""``voice-coach play --resume``: a session stopped halfway picks up where it stopped.

The real thing first: a play into a paced test device (``support.paced``) stopped with
Ctrl-C mid-breath, then ``play --resume`` into another: the second device is handed the
session's opening (lead-in and start chime), then the export from the first sample of the
step the first play stopped in, to its end, sample for sample. Then the pure parts: the
resumed timeline, what the history keeps and which session it picks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from support.audio import read_wav
from support.paced import PacedFile
from voice_coach.ambient import with_tail
from voice_coach.history import Entry, StoppedIn, format_history, sessions, summarize, to_resume
from voice_coach.pace import Pace
from voice_coach.plan import PlanSettings, plan
from voice_coach.resume import NOTHING_TO_RESUME, ResumeError, kept, picked, whole_step
from voice_coach.routine import parse_routine
from voice_coach.timeline import RESUME_GAP_S, Event, resumed

VOICE_COACH: Final = Path(sys.executable).with_name("voice-coach")
SHORT: Final = str(Path(__file__).parent / "data" / "short-breath.toml")  # 22.5 s
STOP_AT_S: Final = 8.0
"""Inside the breaths (4.8 to 16.8 s): the third of the session's four steps."""


def env_for(root: Path, device: PacedFile | None = None) -> dict[str, str]:
    return {**os.environ, **(device.env if device else {}),
            "XDG_CACHE_HOME": str(root / "cache"), "XDG_DATA_HOME": str(root / "data"),
            "XDG_CONFIG_HOME": str(root / "config")}


def voice_coach(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VOICE_COACH), *args], env=env_for(root), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


def step_starts(out: Path) -> list[int]:
    """Each step's first sample, from the export's timeline.json."""
    events = json.loads((out / "timeline.json").read_text())["events"]
    starts: dict[int, int] = {}
    for event in events:
        starts.setdefault(event["step"], event["start_sample"])
    return [starts[step] for step in sorted(starts)]


@pytest.mark.sound
@pytest.mark.engine
@pytest.mark.waiting
def test_a_stopped_session_resumes_at_the_start_of_its_step(tmp_path: Path) -> None:
    exported = voice_coach(tmp_path, "export", SHORT, "--no-caution", "--rate", "160",
                           "-q", "-o", str(tmp_path / "out"))
    assert (exported.returncode, exported.stderr) == (0, "")
    whole = read_wav(tmp_path / "out" / "session.wav")
    starts = step_starts(tmp_path / "out")

    (tmp_path / "first").mkdir()
    first = PacedFile.in_folder(tmp_path / "first")
    child = subprocess.Popen([str(VOICE_COACH), "play", SHORT, "--no-caution", "--rate",
                              "160", "--quiet"], env=env_for(tmp_path, first),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(first.samples()) < STOP_AT_S * 22050 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130, stderr
    heard = len(first.played())
    stopped_step = max(step for step, start in enumerate(starts) if start <= heard)
    assert stopped_step == 2, (heard, starts)
    (record,) = (json.loads(line) for line in
                 (tmp_path / "data" / "voice-coach" / "history.jsonl").read_text().splitlines())
    assert (record["outcome"], record["stopped_in"]["step"], record["stopped_in"]["steps"],
            record["stopped_in"]["label"]) == ("stopped", 2, 4, "3 breaths: in 1.5 s, out 2.5 s")
    assert record["stopped_in"]["settings"] == {
        "routine": SHORT, "lang": "en", "rate": 160, "caution": False, "engine": "pyttsx3",
        "minutes": None, "breath": None, "breath_to": None, "voice": None, "volume": 1.0,
        "chime_volume": 1.0, "ambient": "none", "ambient_volume": 0.0, "tail": 0.0}

    changed = voice_coach(tmp_path, "play", "--resume", "--rate", "200")
    assert (changed.returncode, changed.stdout, changed.stderr) == (
        2, "", "Error: --resume plays the stopped session as it was; leave out --rate\n")

    (tmp_path / "second").mkdir()
    second = PacedFile.in_folder(tmp_path / "second")
    done = subprocess.run([str(VOICE_COACH), "play", "--resume"],
                          env=env_for(tmp_path, second), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    when = datetime.fromisoformat(record["started_at"]).astimezone()
    assert done.stdout.splitlines()[0] == (
        f'Resuming Short breath at "3 breaths: in 1.5 s, out 2.5 s", where the session of'
        f" {when:%Y-%m-%d %H:%M} stopped.")
    played = second.played()
    gap = np.zeros(round(RESUME_GAP_S * 22050), dtype=whole.dtype)
    expected = np.concatenate([whole[:starts[1]], gap, whole[starts[2]:]])
    assert len(played) >= len(expected)
    assert np.array_equal(played[:len(expected)], expected)
    assert not played[len(expected):].any()

    shown = voice_coach(tmp_path, "history")
    assert shown.stdout.splitlines()[0].endswith("  short-breath   <1 min  completed, resumed once")
    assert shown.stdout.splitlines()[1].startswith("1 session, ")
    again = voice_coach(tmp_path, "play", "--resume")
    assert (again.returncode, again.stdout, again.stderr) == (2, "", f"Error: {NOTHING_TO_RESUME}\n")


# --- The resumed timeline -------------------------------------------------------------------

ROUTINE = parse_routine('id = "t"\ntitle = "T"\ncaution = "careful"\n'
                        '[[steps]]\nsay = "one two"\n[[steps]]\nbreathe = { count = 2 }\n'
                        '[[steps]]\nsay = "three"\n', source="t.toml")


def test_a_resumed_timeline_is_the_opening_then_the_step_on_each_sample_as_before() -> None:
    whole = plan(ROUTINE, PlanSettings(sample_rate=1000), lambda text: 100 * len(text.split()),
                 lambda role: 150)
    starts = whole.step_starts()
    later = resumed(whole, 3)
    assert later.step_labels == (whole.step_labels[0], *whole.step_labels[3:])
    assert later.step_sources == (None, "steps[2]", "steps[3]", None)
    cut = starts[3] - starts[1] - 1000  # RESUME_GAP_S of silence after the opening
    assert later.duration == whole.duration - cut
    opening = [e for e in whole.events if e.step == 0]
    assert [e for e in later.events if e.step == 0] == [
        *opening, Event(starts[1], starts[1] + 1000, "silence", 0)]
    assert [(e.start + cut, e.end + cut, e.kind, e.step + 2, e.text, e.cue)
            for e in later.events if e.step >= 1] == [
        (e.start, e.end, e.kind, e.step, e.text, e.cue) for e in whole.events if e.step >= 3]
    assert resumed(whole, 0) == whole and resumed(whole, 1) == whole
    tailed = resumed(with_tail(whole, 60.0), 3)  # a tail stays the resumed session's end
    assert tailed.tail_start == later.duration == tailed.step_starts()[-1]
    assert tailed.duration == later.duration + 60_000
    assert resumed(whole, 99).step_labels == (whole.step_labels[0], whole.step_labels[-1])
    assert (whole_step(0, 3), whole_step(1, 3), whole_step(2, 3), whole_step(2, 0)) == (3, 3, 4, 2)


# --- What the history keeps, and which session is picked ----------------------------------

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
KEPT = {"routine": "psoas-release", "minutes": 10.0, "breath": "4:0:6:0", "rate": 130,
        "engine": "pyttsx3", "lang": "de", "caution": False, "volume": 0.8,
        "chime_volume": 1.0, "voice": None, "breath_to": None, "ambient": "waves",
        "ambient_volume": -3.0, "tail": 10.0, "cue.spot": None}


def entry(minutes: int, outcome: str = "stopped", step: int = 5,
          resumes: datetime | None = None) -> Entry:
    stopped = StoppedIn(KEPT, step, 20, "Second spot") if outcome == "stopped" else None
    return Entry(T0 + timedelta(minutes=minutes), "psoas-release", 10.0, 120.0,
                 outcome, stopped, resumes)  # type: ignore[arg-type]


def test_the_session_stopped_last_is_picked_and_a_resumed_one_counts_once() -> None:
    first, other = entry(0), entry(30, "completed")
    assert to_resume([first, other]) == [first]
    resumed_once = entry(60, step=9, resumes=first.started_at)
    assert to_resume([first, other, resumed_once]) == [first, resumed_once]
    finished = entry(90, "completed", resumes=first.started_at)
    assert to_resume([first, other, resumed_once, finished]) is None
    history = [finished, other, first, resumed_once]  # in any order
    assert sessions(history) == [[first, resumed_once, finished], [other]]
    summary = summarize(history, T0.date(), UTC)
    assert (summary.sessions, summary.completed) == (2, 2)
    assert format_history(summary, history, UTC)[:2] == [
        "2026-12-05 08:00  psoas-release    6 min  completed, resumed twice",
        "2026-12-05 08:30  psoas-release    2 min  completed"]


def test_the_kept_settings_come_back_as_they_were_played() -> None:
    values = {**KEPT, "breath": Pace(4, 0, 6, 0), "device": "hw:0", "history": True}
    stored = kept(values, (("spot", None),), "psoas-release")
    assert stored == {key: value for key, value in KEPT.items()}
    back = picked(json.loads(json.dumps(stored)), 5)
    assert back.values == {key: value for key, value in KEPT.items() if key != "cue.spot"}
    assert (back.cues, back.from_step) == ((("spot", None),), 5)


@pytest.mark.parametrize(("damage", "message"), [
    ({"rate": 5000}, "cannot resume: the stopped session's settings: rate: expected a whole"
                     " number from 80 to 400, got 5000"),
    ({"cue.sopt": None}, "cannot resume: the stopped session's cue.sopt is damaged"),
])
def test_a_damaged_record_is_one_line(damage: dict[str, object], message: str) -> None:
    with pytest.raises(ResumeError) as caught:
        picked({**KEPT, **damage}, 5)
    assert str(caught.value) == message
