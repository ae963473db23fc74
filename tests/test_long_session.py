"""Eight hours of ``live.run`` on a fake clock: the timing stays exact and memory stays flat.

The timeline is a real plan of a real routine (a fixed repeat of 500 spots, the most a
routine may ask for) lasting over eight hours. A scripted person pauses, skips ahead and
goes back through it. Nobody waits: the fake clock jumps straight to the next moment
something happens (an event boundary, a key press, the end of a pause), the way a
machine under load returns from a wait late; the loop must not care, because it takes
its time from the clock. The samples are a zero-stride view of one sample with the
session's length, so nothing of the 1.3 GB a real eight-hour mix would take is allocated.
"""

from __future__ import annotations

import bisect
import itertools
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from support.fakes import FakeClock, FakeDevice
from voice_coach import live
from voice_coach.cues import load_cue
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.plan import PlanSettings, estimated_speech_length, plan
from voice_coach.playback import Playback
from voice_coach.routine import parse_routine
from voice_coach.timeline import Timeline

RATE = SAMPLE_RATE
HOUR = 3600 * RATE
EIGHT_HOURS = """\
id = "eight-hours"
title = "Eight hours"
[[steps]]
say = "Lie down and rest."
hold_s = 5
[[steps]]
[steps.repeat]
times = 500
cue = "spot"
[[steps.repeat.steps]]
say = "Find a {nth} spot."
hold_s = 6
[[steps.repeat.steps]]
breathe = { count = 5, exhale_prompt = "Sink a little deeper.", prompt_breaths = 1 }
[[steps]]
say = "Sit up slowly."
hold_s = 3
"""
MEMORY_GROWTH_BYTES = 16 * 1024
"""Allowed growth from hour 1 to hour 8. A leak of one small object per loop turn
(~13,000 turns in those seven hours) would be several times this."""


def eight_hour_timeline() -> Timeline:
    routine = parse_routine(EIGHT_HOURS, source="eight-hours.toml")
    cue_lengths = {role: len(load_cue(role)) for role in
                   ("start", "inhale", "exhale", "hold", "spot", "end")}
    return plan(routine, PlanSettings(), estimated_speech_length(140),
                lambda role: cue_lengths[role])


class StepDisplay:
    """Remembers, in preallocated arrays, the position shown when each step first appears."""

    def __init__(self, steps: int) -> None:
        self.first_seen = np.full(steps, -1, dtype=np.int64)
        self.shows = 0
        self.paused_shows = 0
        self.last: live.Status | None = None
        self.closed: list[str] = []

    def show(self, status: live.Status) -> None:
        self.shows += 1
        self.paused_shows += status.paused
        position = round(status.elapsed_s * RATE)
        if self.first_seen[status.step] < 0:
            self.first_seen[status.step] = position
        self.last = status

    def close(self, message: str) -> None:
        self.closed.append(message)

    def abort(self) -> None:
        self.closed.append("<abort>")


@dataclass(frozen=True)
class Press:
    """At ``into_s`` into step ``step``: press ``key``; a space pauses for ``pause_s``."""

    step: int
    into_s: float
    key: str
    pause_s: float = 0.0


class Person:
    """Presses keys on a script; otherwise sleeps until the next moment that matters.

    Reading jumps the clock to the next event boundary, press or hour mark (never past
    it), so the loop sees every step start exactly when it is due. It also writes down
    what the session must have cost in time, and the traced memory at hours 1 and 8.
    """

    def __init__(self, clock: FakeClock, playback: Playback, timeline: Timeline,
                 script: list[Press]) -> None:
        self.clock = clock
        self.playback = playback
        self.starts = timeline.step_starts()
        self.duration = timeline.duration
        self.due = sorted((self.starts[p.step] + round(p.into_s * RATE), p) for p in script)
        self.marks = [HOUR, 8 * HOUR]
        self.memory: dict[int, int] = {}
        boundaries = {e.start for e in timeline.events} | {timeline.duration}
        self.boundaries = sorted(boundaries | {at for at, _ in self.due} | set(self.marks))
        self.resume_at: float | None = None
        self.paused_s = 0.0
        self.skipped = 0
        self.repeated = 0
        self.reads = 0
        self.pressed: list[tuple[str, int, int]] = []

    def read(self, timeout_s: float) -> str | None:
        self.reads += 1
        position = self.playback.position()
        if self.resume_at is not None:
            if self.clock.now < self.resume_at:
                self.clock.now = self.resume_at
                return None
            self.resume_at = None
            return self.press(" ", position)
        while self.marks and position >= self.marks[0]:
            self.memory[self.marks.pop(0) // HOUR] = tracemalloc.get_traced_memory()[0]
        if self.due and self.due[0][0] == position:
            _, press = self.due.pop(0)
            step = bisect.bisect_right(self.starts, position) - 1
            if press.key == " ":
                self.resume_at = self.clock.now + press.pause_s
                self.paused_s += press.pause_s
            elif press.key == "n" and step + 1 < len(self.starts):
                self.skipped += self.starts[step + 1] - position
            elif press.key == "b":
                self.repeated += position - self.starts[step]
            return self.press(press.key, position)
        assert not self.due or self.due[0][0] > position, "a press was missed"
        following = self.boundaries[bisect.bisect_right(self.boundaries, position)]
        self.clock.now += (following - position) / RATE
        return None

    def press(self, key: str, position: int) -> str:
        step = bisect.bisect_right(self.starts, position) - 1
        self.pressed.append((key, position, step))
        return key


SCRIPT = [
    Press(3, 1.0, " ", pause_s=45.0),
    Press(20, 2.0, "n"),
    Press(40, 10.0, "b"),
    Press(100, 0.5, " ", pause_s=600.0),
    *[Press(step, 0.25, "n") for step in range(150, 156)],
    Press(300, 30.0, "b"),
    Press(301, 12.5, " ", pause_s=0.1),
    Press(450, 20.0, " ", pause_s=3600.0),
    Press(502, 1.0, "n"),
    Press(503, 0.5, "n"),
]
"""Pauses from a tenth of a second to an hour, skips (six in a row), repeats, and skips
on the last steps (the very last does nothing)."""


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    return eight_hour_timeline()


class Written:
    """A stream written from end to end before it plays: the loop's time alone is tested."""

    def __init__(self, timeline: Timeline, samples: Samples) -> None:
        self._timeline = timeline
        self.samples = samples
        self.end = timeline.duration
        self.error = None
        self.seeks = 0

    def timeline(self) -> Timeline:
        return self._timeline

    def final(self) -> int:
        return self.end

    def starved(self, position: int) -> bool:
        return False

    def ready(self, position: int) -> bool:
        return True

    def seek(self, sample: int, move: Callable[[int], None]) -> None:
        self.seeks += 1
        move(sample)


def test_the_timeline_is_a_real_eight_hours(timeline: Timeline) -> None:
    assert timeline.duration_s > 8 * 3600
    assert len(timeline.step_labels) == 504
    assert timeline.step_labels[-1] == "Session complete"
    events = timeline.events
    assert events[0].start == 0
    assert all(a.end == b.start for a, b in itertools.pairwise(events))


def test_eight_hours_with_pauses_and_skips_keep_time_to_the_sample_in_flat_memory(
        timeline: Timeline) -> None:
    clock = FakeClock(now=1000.0)
    device = FakeDevice(clock, RATE)
    playback = Playback(device, clock=clock, sample_rate=RATE, sleep=clock.advance)
    person = Person(clock, playback, timeline, SCRIPT)
    display = StepDisplay(len(timeline.step_labels))
    samples = np.broadcast_to(np.zeros(1, dtype=np.int16), (timeline.duration,))
    began = clock.now
    tracemalloc.start()
    try:
        outcome = live.run(Written(timeline, samples), playback, person, display)
    finally:
        tracemalloc.stop()

    assert outcome == "completed"
    assert display.closed == ["Session complete."]
    assert playback.position() == timeline.duration

    # The loop showed every step first at the very sample the plan starts it.
    starts = timeline.step_starts()
    assert display.first_seen.tolist() == starts

    # Each press acted at once and to the sample: pauses resume where they stopped, skips
    # land on the next step's start, repeats on the current one's.
    expected = [0]
    paused = False
    for key, position, step in person.pressed:
        if key == " ":
            if paused:
                expected.append(position)
            paused = not paused
        elif key == "n" and step + 1 < len(starts):
            expected.append(starts[step + 1])
        elif key == "b":
            expected.append(starts[step])
    assert device.starts == expected
    assert device.stops == 4 + 10 + 1  # 4 pauses; 10 skips and repeats; the end
    keys = "".join(key for key, _, _ in person.pressed)
    assert keys == " " * 2 + "nb" + " " * 2 + "n" * 6 + "b" + " " * 4 + "nn"
    assert display.paused_shows >= 4

    # The clock paid for what was heard plus the pauses, to the sample.
    heard = timeline.duration - person.skipped + person.repeated
    spent = (clock.now - began) - person.paused_s
    assert abs(spent * RATE - heard) < 0.5
    assert person.paused_s == 45 + 600 + 0.1 + 3600

    # Memory: hour 1 to hour 8 over thousands of loop turns, flat.
    assert set(person.memory) == {1, 8}
    assert person.reads > 10_000
    assert person.memory[8] - person.memory[1] < MEMORY_GROWTH_BYTES, person.memory
