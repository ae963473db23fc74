"""Staying awake: the logind inhibitor held while a session plays, against a stand-in
logind (``support.login1``) on a private bus standing for the system bus.

No session is played here (``test_media_keys.py`` plays them): ``Awake`` is shown
statuses as the live loop would show them.
"""

from __future__ import annotations

import time

import pytest

from support.bus import PrivateBus
from support.login1 import StandInLogind
from voice_coach import awake, live
from voice_coach.doctor import check_staying_awake

pytest_plugins = ["support.fixtures"]

PLAYING = live.Status(step=1, steps=4, label="Breathe", elapsed_s=3.0, remaining_s=19.5,
                      paused=False)
PAUSED = live.Status(step=1, steps=4, label="Breathe", elapsed_s=3.0, remaining_s=19.5,
                     paused=True)
HELD = live.Status(step=1, steps=4, label="Breathe", elapsed_s=3.0, remaining_s=19.5,
                   paused=False, waiting=True)


@pytest.fixture
def logind(session_bus: PrivateBus):
    stand_in = StandInLogind(session_bus.address)
    yield stand_in
    stand_in.close()


def eventually(check, timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_inhibitor_is_held_while_playing_and_released_on_pause_and_at_the_end(
        session_bus, logind):
    staying = awake.Awake(session_bus.address, awake.why("Short breath"))
    try:
        assert logind.inhibitors == []  # nothing before the first status
        staying.show(PLAYING)
        assert eventually(lambda: len(logind.held()) == 1)
        taken = logind.inhibitors[0]
        assert (taken.what, taken.who, taken.why, taken.mode) == (
            "sleep:idle", "voice-coach", "playing the session 'Short breath'", "block")
        staying.show(HELD)  # held for speech: still a session playing
        staying.show(PAUSED)
        assert eventually(lambda: logind.held() == [])
        staying.show(PAUSED)
        staying.show(PLAYING)
        assert eventually(lambda: len(logind.held()) == 1)
        staying.close("Session complete.")
        assert eventually(lambda: logind.held() == [])
    finally:
        staying.stop()
    assert len(logind.inhibitors) == 2
    assert all(i.released_s is not None for i in logind.inhibitors)


def test_stop_releases_what_is_held(session_bus, logind):
    staying = awake.Awake(session_bus.address, awake.why("R"))
    staying.show(PLAYING)
    assert eventually(lambda: len(logind.held()) == 1)
    staying.stop()
    assert eventually(lambda: logind.held() == [])
    assert not staying.held


def test_without_logind_nothing_is_held_and_nothing_said(session_bus, capfd):
    staying = awake.Awake(session_bus.address, awake.why("R"))
    staying.show(PLAYING)
    time.sleep(0.3)
    assert not staying.held
    staying.show(PAUSED)
    staying.stop()
    assert capfd.readouterr() == ("", "")


def test_a_system_bus_that_does_not_answer_is_quiet(tmp_path, capfd):
    staying = awake.Awake(f"unix:path={tmp_path / 'none'}", awake.why("R"))
    staying.show(PLAYING)
    staying.stop()
    assert not staying.held
    assert capfd.readouterr() == ("", "")


def test_the_system_bus_is_the_variable_else_its_socket():
    assert awake.system_bus_address({"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/x"}) == (
        "unix:path=/x")
    expected = (f"unix:path={awake.SYSTEM_BUS_SOCKET}" if awake.SYSTEM_BUS_SOCKET.is_socket()
                else None)
    assert awake.system_bus_address({}) == expected


def test_doctor_says_whether_the_machine_is_kept_awake(session_bus, tmp_path):
    env = {"DBUS_SYSTEM_BUS_ADDRESS": session_bus.address}
    assert awake.probe(env) == "no logind on the system bus"
    stand_in = StandInLogind(session_bus.address)
    try:
        assert awake.probe(env) == ""
    finally:
        stand_in.close()
    nowhere = f"unix:path={tmp_path / 'none'}"
    assert awake.probe({"DBUS_SYSTEM_BUS_ADDRESS": nowhere}) == (
        f"the system bus at {nowhere} does not answer ([Errno 2] No such file or directory)")
    there = check_staying_awake(problem=lambda: "")
    assert (there.ok, there.detail) == (
        True, "logind keeps the machine from sleeping or idling while a session plays")
    missing = check_staying_awake(problem=lambda: "no system bus")
    assert (missing.ok, missing.detail) == (
        True, "not available: no system bus; a machine that suspends mid-session ends it")
