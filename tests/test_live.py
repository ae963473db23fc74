"""The live loop with a fake clock, fake keys, a recording device and a fake terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest

from support.fakes import FakeClock, FakeDevice, RecordingDisplay
from voice_coach import live
from voice_coach.playback import Playback
from voice_coach.speech import SpeechError
from voice_coach.timeline import Event, Timeline

RATE = 1000


class ScriptedKeys:
    """Keys pressed at given clock times; reading waits on the fake clock."""

    def __init__(self, clock: FakeClock, presses: list[tuple[float, str]]) -> None:
        self.clock = clock
        self.presses = sorted((clock.now + at, key) for at, key in presses)

    def read(self, timeout_s: float) -> str | None:
        if self.presses and self.presses[0][0] <= self.clock.now + timeout_s:
            at, key = self.presses.pop(0)
            self.clock.now = max(self.clock.now, at)
            return key
        self.clock.now += timeout_s
        return None


def timeline() -> Timeline:
    """Three steps: 0-2 s, 2-5 s, 5-10 s."""
    return Timeline("t", RATE, (
        Event(0, 2000, "speech", 0, text="one"),
        Event(2000, 5000, "speech", 1, text="two"),
        Event(5000, 10000, "silence", 2),
    ), ("first", "second", "third"))


class ScriptedStream:
    """A stream whose samples are written up to ``written_at(seconds since the start)``;
    with ``fails_at``, composing fails at that sample (the stream then ends there)."""

    def __init__(self, clock: FakeClock, written_at=lambda s: 10000, fails_at: int | None = None):
        self.clock = clock
        self.begun = clock.now
        self.written_at = written_at
        self.fails_at = fails_at
        self.samples = np.zeros(10000, np.int16)
        self.seeks: list[int] = []
        self.holds: list[int] = []
        self.releases = 0

    def high(self) -> int:
        return min(10000, self.written_at(self.clock.now - self.begun))

    @property
    def end(self) -> int:
        return 10000 if self.fails_at is None else self.fails_at

    @property
    def error(self):
        return None if self.fails_at is None else SpeechError("the speech engine stopped")

    def timeline(self) -> Timeline:
        return timeline()

    def final(self) -> int:
        return self.high()

    def starved(self, position: int) -> bool:
        return self.high() < self.end and self.high() - position < 500

    def ready(self, position: int) -> bool:
        return self.high() >= self.end or self.high() - position >= 3000

    def hold(self) -> int:
        self.holds.append(self.high())
        return self.high()

    def release(self) -> None:
        self.releases += 1

    def seek(self, sample: int, move) -> None:
        self.seeks.append(sample)
        move(sample)


def run(presses: list[tuple[float, str]], **stream_options):
    outcome, calls, display, clock, _ = run_with(stream_options, presses)
    return outcome, calls, display, clock


def run_with(stream_options: dict, presses: list[tuple[float, str]] | None = None):
    clock = FakeClock()
    device = FakeDevice(clock, RATE)
    display = RecordingDisplay()
    stream = ScriptedStream(clock, **stream_options)
    outcome = live.run(stream, Playback(device, clock=clock, sample_rate=RATE, sleep=clock.advance),
                       ScriptedKeys(clock, presses or []), display)
    return outcome, device.calls, display, clock, stream


def test_plays_to_the_end_untouched():
    outcome, calls, display, clock = run([])
    assert outcome == "completed"
    assert calls == [("start", 0), ("stop", 0)]  # stopped once it has played the end
    assert display.closed == ["Session complete."]
    assert round(clock.now - 100.0, 6) == 10.0
    assert [s.step for s in display.shown][:1] == [0]
    assert {s.step for s in display.shown} == {0, 1, 2}
    assert display.shown[-1].remaining_s == 0.0


def test_space_pauses_and_resumes_from_the_same_sample():
    outcome, calls, display, clock = run([(1.5, " "), (4.0, " ")])
    assert outcome == "completed"
    assert calls == [("start", 0), ("drop", 0), ("start", 1500), ("stop", 0)]
    assert any(s.paused for s in display.shown)
    paused = [s for s in display.shown if s.paused]
    assert {s.elapsed_s for s in paused} == {1.5}
    assert round(clock.now - 100.0, 6) == 12.5  # 10 s of session + 2.5 s paused


def test_n_skips_to_the_next_step_and_b_repeats_the_current_one():
    outcome, calls, _, _ = run([(0.5, "n"), (3.0, "b"), (3.5, "n")])
    assert outcome == "completed"
    assert calls == [("start", 0), ("drop", 0), ("start", 2000),  # n in step 0 -> step 1
                     ("drop", 0), ("start", 2000),   # b at 2 + 2.5 = 4.5 s: step 1 again
                     ("drop", 0), ("start", 5000),   # n from step 1 (2.5 s in) -> step 2
                     ("stop", 0)]  # the end drains


def test_commands_by_name_do_what_their_keys_do_whoever_sends_them():
    by_keys = run([(0.5, "n"), (3.0, "b"), (3.5, " "), (4.0, " "), (4.5, "n")])
    by_name = run([(0.5, "next"), (3.0, "back"), (3.5, "toggle"), (4.0, "toggle"),
                   (4.5, "next")])
    assert by_name[0] == by_keys[0] == "completed"
    assert by_name[1] == by_keys[1]
    assert by_name[2].shown == by_keys[2].shown
    stopped = run([(3.0, "stop")])
    assert (stopped[0], stopped[1], stopped[2].closed) == ("quit", [("start", 0), ("drop", 0)],
                                                           ["Stopped."])


def test_pause_and_resume_leave_a_session_that_already_is_so_alone():
    # A media key's Pause while paused by the space bar does not resume it, nor Play pause it.
    outcome, calls, _, clock = run([(1.0, "resume"), (1.5, " "), (2.0, "pause"),
                                          (3.0, "resume"), (3.5, "resume"), (4.0, "pause"),
                                          (4.5, " ")])
    assert outcome == "completed"
    assert calls == [("start", 0), ("drop", 0), ("start", 1500),  # paused 1.5 s to 3.0 s
                     ("drop", 0), ("start", 2500),  # paused 4.0 s to 4.5 s
                     ("stop", 0)]
    assert round(clock.now - 100.0, 6) == 12.0


def test_unknown_keys_and_names_do_nothing():
    _, calls, _, clock = run([(1.0, "x"), (2.0, "quit"), (3.0, "")])
    assert calls == [("start", 0), ("stop", 0)]
    assert round(clock.now - 100.0, 6) == 10.0


def test_a_pause_drops_what_the_device_holds_and_the_resume_plays_it_so_each_sample_is_heard_once():
    """A device holding 0.2 s it took but has not played: a pause falls silent at once
    (the drop discards it), and the resume starts from the first sample not heard."""
    clock = FakeClock()
    device = FakeDevice(clock, RATE, holds_s=0.2)
    display = RecordingDisplay()
    stream = ScriptedStream(clock)
    outcome = live.run(stream,
                       Playback(device, clock=clock, sample_rate=RATE, sleep=clock.advance),
                       ScriptedKeys(clock, [(1.5, " "), (4.0, " "), (6.0, "pause"),
                                            (6.5, "resume")]), display)
    assert outcome == "completed"
    # Taken to 1.5 s, heard to 1.3 s: played on from 1.3 s; the end drains all it took.
    assert device.calls == [("start", 0), ("drop", 0), ("start", 1300), ("drop", 0),
                            ("start", 3100), ("stop", 0)]
    assert device.heard == [(0, 1300), (1300, 3100), (3100, 10000)]
    assert stream.seeks == [1300, 3100]  # written from there first: it may have been released
    assert {s.elapsed_s for s in display.shown if s.paused} == {1.3, 3.1}


def test_n_on_the_last_step_does_nothing():
    _, calls, _, _ = run([(6.0, "n")])
    assert calls == [("start", 0), ("stop", 0)]


def test_q_stops_at_once():
    outcome, calls, display, clock = run([(3.0, "q")])
    assert outcome == "quit"
    assert calls == [("start", 0), ("drop", 0)]
    assert display.closed == ["Stopped."]
    assert clock.now - 100.0 == 3.0


SLOW_FILL = {"written_at": lambda s: 3000 if s < 5.95 else 10000}
"""The first 3 s written at once, the rest only from 5.95 s on (rendering was slow)."""


def test_a_fill_that_falls_behind_holds_the_sound_after_what_is_written_and_plays_on_from_there():
    outcome, calls, display, clock, stream = run_with(SLOW_FILL)
    assert outcome == "completed"
    # At the first tick with less than the guard (500 samples here) written ahead, the
    # stream holds at 3000: the device plays to there, then silence; 0.5 s later it stops.
    assert stream.holds == [3000]
    assert calls == [("start", 0), ("drop", 0), ("start", 3000), ("stop", 0)]
    assert stream.seeks == [3000]  # written from the hold before the device starts again
    waiting = [s for s in display.shown if s.waiting]
    assert waiting and {s.elapsed_s for s in waiting} == {3.5}
    assert not any(s.paused for s in display.shown)
    assert round(clock.now - 100.0, 6) == 13.0  # 10 s of session + 3 s held (0.5 s of it played)


def test_speech_that_comes_before_the_device_reaches_the_hold_plays_on_without_stopping():
    outcome, calls, _, clock, stream = run_with(
        {"written_at": lambda s: 3000 if s < 2.65 else 10000})
    assert outcome == "completed"
    assert (stream.holds, stream.releases) == ([3000], 1)
    assert calls == [("start", 0), ("stop", 0)]
    assert round(clock.now - 100.0, 6) == 10.0


def test_speech_that_comes_as_the_device_reaches_the_hold_still_stops_it_there():
    # Final at 2.85 s, 0.15 s before the hold: the device may have read past it already.
    _, calls, _, clock, stream = run_with(
        {"written_at": lambda s: 3000 if s < 2.85 else 10000})
    assert (stream.holds, stream.releases) == ([3000], 0)
    assert calls == [("start", 0), ("drop", 0), ("start", 3000), ("stop", 0)]
    assert round(clock.now - 100.0, 6) == 10.5  # the 0.5 s of silence played past the hold


def test_the_person_pausing_while_held_stays_paused_once_the_fill_is_ready():
    outcome, calls, display, clock, stream = run_with(SLOW_FILL, [(3.0, " "), (9.0, " ")])
    assert outcome == "completed"
    assert calls == [("start", 0), ("drop", 0), ("start", 3000), ("stop", 0)]
    assert stream.seeks == [3000]  # resumed by the person: written from there first
    assert any(s.paused for s in display.shown if s.elapsed_s == 3.0)
    assert round(clock.now - 100.0, 6) == 16.0  # resumed at 9 s, from 3 s: 7 s more


def test_a_failure_while_composing_ends_the_session_where_the_stream_ends_and_raises_it():
    clock = FakeClock()
    device = FakeDevice(clock, RATE)
    display = RecordingDisplay()
    stream = ScriptedStream(clock, fails_at=2000)
    with pytest.raises(SpeechError, match=r"^the speech engine stopped$"):
        live.run(stream, Playback(device, clock=clock, sample_rate=RATE, sleep=clock.advance), ScriptedKeys(clock, []),
                 display)
    assert round(clock.now - 100.0, 6) == 2.0
    assert "Session complete." not in display.closed


def test_keys_that_seek_stop_the_device_and_have_the_stream_write_from_there_first():
    """The stream may release and write anew the pages the device is reading."""
    clock = FakeClock()
    device = FakeDevice(clock, RATE)
    stream = ScriptedStream(clock)
    playing_while_written: list[bool] = []
    written = stream.seek
    stream.seek = lambda sample, move: (playing_while_written.append(device.playing),
                                        written(sample, move))
    live.run(stream, Playback(device, clock=clock, sample_rate=RATE, sleep=clock.advance),
             ScriptedKeys(clock, [(0.5, "n"), (3.0, "b")]), RecordingDisplay())
    assert stream.seeks == [2000, 2000]
    assert playing_while_written == [False, False]
    assert device.calls[-2:] == [("start", 2000), ("stop", 0)]


def test_n_does_not_skip_to_a_step_whose_start_is_not_final_yet():
    _, calls, _, _ = run([(0.5, "n")], written_at=lambda s: 1900 if s < 1.0 else 10000)
    assert ("start", 2000) not in calls


def test_terminal_display_redraws_one_line_in_place():
    out = io.StringIO()
    display = live.TerminalDisplay(out, width=80)
    display.show(live.Status(0, 3, "Lie down on your back, on a bed or on the floor", 1.2, 418.8, False))
    display.show(live.Status(0, 3, "Lie down on your back, on a bed or on the floor", 1.3, 418.7, False))
    display.show(live.Status(1, 3, "Breathe", 65.0, 355.0, True))
    display.close("Session complete.")
    text = out.getvalue()
    assert text.count("\n") == 1
    frames = [f for f in text.split("\r\x1b[2K") if f]
    assert frames[0] == "0:01 / -6:59  step 1/3  Lie down on your …  space pause  n next  b back  q quit"
    assert frames[1] == "1:05 / -5:55  step 2/3  Breathe  paused - space resumes"
    assert frames[-1] == "Session complete.\n"
    assert all(len(f.rstrip("\n")) < 80 for f in frames)
    narrow = io.StringIO()
    live.TerminalDisplay(narrow, width=40).show(live.Status(0, 3, "Lie down on your back", 1, 2, False))
    assert narrow.getvalue() == "\r\x1b[2K0:01 / -0:02  step 1/3  Lie down on yo…"


def test_line_display_for_pipes_prints_each_step_once():
    out = io.StringIO()
    display = live.LineDisplay(out)
    for status in (live.Status(0, 2, "first", 0.0, 10, False), live.Status(0, 2, "first", 0.5, 9.5, False),
                   live.Status(1, 2, "second", 2.0, 8, False), live.Status(1, 2, "second", 2.0, 8, True),
                   live.Status(1, 2, "second", 2.0, 8, False)):
        display.show(status)
    display.close("Session complete.")
    assert out.getvalue() == ("[0:00] step 1/2  first\n[0:02] step 2/2  second\npaused\nresumed\n"
                              "Session complete.\n")


def test_quiet_prints_nothing():
    out = io.StringIO()
    display = live.display_for(out, quiet=True)
    display.show(live.Status(0, 1, "x", 0, 1, False))
    display.close("done")
    assert out.getvalue() == ""
