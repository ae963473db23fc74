"""Controls from every edge: the terminal's keys and the bus's calls as one queue the live
loop reads (``controls.Commands``), each status to every listener (``controls.Fanout``),
and the keys and screen left as they are where there is no bus (``controls.edges``)."""

from __future__ import annotations

import threading
import time

import pytest

from support.fakes import RecordingDisplay
from voice_coach import controls, live

STATUS = live.Status(step=1, steps=4, label="Breathe with the chimes.", elapsed_s=3.0,
                     remaining_s=19.5, paused=False)


class SlowKeys:
    """Terminal keys that come at given times (seconds after it was made), read as the
    terminal is, blocking up to the timeout."""

    def __init__(self, presses: list[tuple[float, str]], fails: BaseException | None = None):
        self.started = time.monotonic()
        self.presses = presses
        self.fails = fails

    def read(self, timeout_s: float) -> str | None:
        now = time.monotonic() - self.started
        if self.presses and self.presses[0][0] <= now + timeout_s:
            at, key = self.presses.pop(0)
            time.sleep(max(at - now, 0.0))
            return key
        if not self.presses and self.fails is not None:
            raise self.fails
        time.sleep(timeout_s)
        return None


def read_all(commands: controls.Commands, until_s: float) -> list[tuple[str, float]]:
    """What comes within ``until_s``, each read waiting up to 0.5 s: only a wake-up
    brings one sooner."""
    started, got = time.monotonic(), []
    while time.monotonic() - started < until_s:
        key = commands.read(0.5)
        if key is not None:
            got.append((key, time.monotonic() - started))
    return got


def test_keys_and_sent_commands_come_in_the_order_they_came_and_a_send_wakes_the_reader():
    commands = controls.Commands(SlowKeys([(0.15, " "), (0.55, "n")]))
    try:
        sent_at: list[float] = []

        def send() -> None:
            time.sleep(0.32)
            sent_at.append(time.monotonic())
            commands.send("pause")

        threading.Thread(target=send).start()
        started = time.monotonic()
        got = read_all(commands, 0.8)
    finally:
        commands.close()
    assert [key for key, _ in got] == [" ", "pause", "n"]
    assert got[1][1] - (sent_at[0] - started) < 0.05  # at once, not when the read times out


def test_what_reading_the_keys_raises_the_reader_raises_and_close_waits_for_the_thread():
    commands = controls.Commands(SlowKeys([(0.05, "b")], fails=KeyboardInterrupt()))
    assert commands.read(1.0) == "b"
    with pytest.raises(KeyboardInterrupt):
        commands.read(1.0)
    commands.close()
    assert commands.read(0.0) is None


def test_close_returns_within_a_tick_while_the_keys_wait():
    commands = controls.Commands(SlowKeys([]))
    started = time.monotonic()
    commands.close()
    assert time.monotonic() - started <= live.TICK_S + 0.05


def test_fanout_shows_each_status_on_every_display_in_order():
    log: list[str] = []
    fanout = controls.Fanout(RecordingDisplay("screen", log), RecordingDisplay("bus", log))
    fanout.show(STATUS)
    fanout.close("Stopped.")
    fanout.abort()
    assert log == ["screen show 1", "bus show 1", "screen close Stopped.", "bus close Stopped.",
                   "screen abort", "bus abort"]


@pytest.mark.parametrize(("enabled", "env"), [
    (False, {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nowhere"}),
    (True, {}),
])
def test_without_a_bus_or_when_off_the_loop_gets_the_keys_and_the_screen_as_they_are(
        enabled, env, monkeypatch):
    monkeypatch.setattr("voice_coach.awake.system_bus_address", lambda env: None)
    keys, screen = live.NoKeys(), live.QuietDisplay()
    with controls.edges(keys, screen, title="R", media_keys=enabled, env=env) as got:
        assert got == (keys, screen)
