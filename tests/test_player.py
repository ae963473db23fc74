"""player: Playback on a fake clock and device; SimpleaudioDevice through ALSA for real.

Playback's arithmetic is tested with literal times and samples. The device is tested in
child processes (ALSA reads its configuration once per process): through ALSA's file
plugin to see exactly what was played, and against devices that cannot be opened.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from simpleaudio._simpleaudio import SimpleaudioError

from support.fakes import FakeClock, FakeDevice
from support.paced import PacedFile
from support.soundserver import (
    NO_DEVICE_ALSA_CONFIG,
    PROJECT,
    PULSE_ALSA_CONFIG,
    AlsaFile,
    run_python,
)
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.playback import Playback, PlaybackError, Progress
from voice_coach.player import describe_error

pytest_plugins = ["support.fixtures"]

NO_DEVICE = ("no sound device could be opened (ALSA: No such file or directory);"
             " 'voice-coach export' writes the session to WAV without one")
NO_SERVER = ("no sound server is running (ALSA: Connection refused); start PulseAudio or"
             " PipeWire, or use 'voice-coach export' to write the session to WAV")


SECONDS_10 = np.zeros(10 * SAMPLE_RATE, dtype=np.int16)


def make(stop_s: float = 0.0) -> tuple[Playback, FakeDevice, FakeClock]:
    """Playback on a device that cannot say what it played: Playback goes by the clock."""
    clock = FakeClock()
    device = FakeDevice(clock, SAMPLE_RATE, says_progress=False, stop_s=stop_s)
    return Playback(device, clock, sleep=clock.advance), device, clock


# --- Playback -------------------------------------------------------------------------


def test_position_is_the_start_sample_plus_the_clock() -> None:
    playback, device, clock = make()

    playback.play(SECONDS_10, from_sample=22050)
    clock.advance(2.5)

    assert (playback.state, playback.position()) == ("playing", 77175)
    assert device.calls == [("start", 22050)]
    assert not playback.finished()


def test_position_stops_at_the_end_and_then_it_is_finished() -> None:
    playback, _, clock = make()

    playback.play(SECONDS_10)
    clock.advance(9.9)
    assert (playback.position(), playback.finished()) == (218295, False)
    clock.advance(5.0)

    assert (playback.position(), playback.finished()) == (220500, True)


def test_pause_then_resume_continues_from_the_same_sample() -> None:
    playback, device, clock = make()
    playback.play(SECONDS_10)
    clock.advance(1.5)

    playback.pause()
    clock.advance(30.0)
    paused_at = playback.position()
    playback.resume()
    clock.advance(1.0)

    assert paused_at == 33075
    assert device.calls == [("start", 0), ("drop", 0), ("start", 33075)]
    assert (playback.state, playback.position()) == ("playing", 33075 + 22050)


def test_pause_reads_the_clock_once_the_device_has_played_out() -> None:
    playback, _, clock = make(stop_s=0.2)
    playback.play(SECONDS_10)
    clock.advance(1.0)

    playback.pause()

    assert (playback.state, playback.position()) == ("paused", 26460)


def test_seek_while_playing_plays_from_there() -> None:
    playback, device, clock = make()
    playback.play(SECONDS_10)
    clock.advance(3.0)

    playback.seek(110250)
    clock.advance(0.5)

    assert device.calls == [("start", 0), ("drop", 0), ("start", 110250)]
    assert (playback.state, playback.position()) == ("playing", 121275)


def test_seek_while_paused_moves_without_playing() -> None:
    playback, device, clock = make()
    playback.play(SECONDS_10)
    clock.advance(3.0)
    playback.pause()

    playback.seek(-5)
    assert (playback.state, playback.position()) == ("paused", 0)
    assert device.calls == [("start", 0), ("drop", 0)]
    playback.seek(10**9)
    assert playback.position() == len(SECONDS_10)
    playback.seek(44100)
    playback.resume()

    assert device.calls == [("start", 0), ("drop", 0), ("start", 44100)]


def test_stop_is_idempotent_and_keeps_the_position() -> None:
    playback, device, clock = make()
    playback.play(SECONDS_10)
    clock.advance(2.0)

    playback.stop()
    playback.stop()
    clock.advance(5.0)

    assert (playback.state, playback.position()) == ("stopped", 44100)
    assert device.calls == [("start", 0), ("drop", 0)]
    playback.resume()
    assert device.calls == [("start", 0), ("drop", 0), ("start", 44100)]


def test_play_while_playing_replaces_the_play() -> None:
    playback, device, clock = make()
    playback.play(SECONDS_10)
    clock.advance(2.0)
    other = np.zeros(SAMPLE_RATE, dtype=np.int16)

    playback.play(other, from_sample=100)
    clock.advance(0.5)

    assert device.calls == [("start", 0), ("stop", 0), ("start", 100)]
    assert (playback.length, playback.position()) == (SAMPLE_RATE, 100 + 11025)


def test_heard_never_goes_back_within_a_play_when_the_delay_figure_wobbles() -> None:
    clock = FakeClock()
    said = [Progress(taken=2000, delay=1000, at_s=clock.now)]

    class Wobbly(FakeDevice):
        def progress(self) -> Progress:
            return said[-1]

    playback = Playback(Wobbly(clock, 1000), clock, sample_rate=1000, sleep=clock.advance)
    playback.play(np.zeros(10_000, dtype=np.int16))
    first = playback.heard()
    said.append(Progress(taken=2500, delay=1600, at_s=clock.now))  # says 900: it wobbled

    assert (first, playback.heard()) == (1000, 1000)
    clock.advance(0.2)
    assert playback.heard() == 1100  # 900 and 0.2 s since
    playback.play(np.zeros(10_000, dtype=np.int16))  # a new play counts from its own start
    said.append(Progress(taken=100, delay=100, at_s=clock.now))
    assert playback.heard() == 0


def test_nothing_loaded_means_nothing_happens() -> None:
    playback, device, _ = make()

    playback.pause()
    playback.resume()
    playback.seek(100)
    playback.stop()

    assert (playback.state, playback.position(), playback.finished()) == ("idle", 0, False)
    assert device.calls == []


def test_resume_at_the_end_is_finished_at_once() -> None:
    playback, _, _ = make()
    playback.play(SECONDS_10)
    playback.pause()
    playback.seek(len(SECONDS_10))

    playback.resume()

    assert (playback.state, playback.finished()) == ("playing", True)


def test_a_start_that_fails_leaves_playback_stopped_where_it_was_asked_to_start() -> None:
    playback, device, clock = make()
    playback.play(SECONDS_10)
    clock.advance(1.0)
    device.fail_next = PlaybackError(NO_DEVICE)

    with pytest.raises(PlaybackError, match="no sound device"):
        playback.seek(50000)

    assert (playback.state, playback.position()) == ("stopped", 50000)


# --- Errors: one line each ------------------------------------------------------------


@pytest.mark.parametrize(("error", "line"), [
    (SimpleaudioError("Error opening PCM device. -- CODE: -2 -- MSG: No such file or directory"),
     NO_DEVICE),
    (SimpleaudioError("Error opening PCM device. -- CODE: -111 -- MSG: Connection refused"),
     NO_SERVER),
    (SimpleaudioError("Error opening PCM device. -- CODE: -16 -- MSG: Device or resource busy"),
     "the sound device is busy (ALSA: Device or resource busy); close the program using it,"
     " or use 'voice-coach export' to write the session to WAV"),
    (SimpleaudioError("Error opening PCM device. -- CODE: -13 -- MSG: Permission denied"),
     "the sound device could not be opened (ALSA: Permission denied); 'voice-coach export'"
     " writes the session to WAV without one"),
    (SimpleaudioError("Error setting parameters. -- CODE: -22 -- MSG: Invalid argument"),
     "the sound device cannot play mono 16-bit 22050 Hz audio (ALSA: Invalid argument)"),
    (SimpleaudioError("Could not create playback thread. -- CODE: 11 -- MSG: "),
     "the sound device could not play (Could not create playback thread: code 11)"),
    (ValueError("Weird sample rates are not supported."),
     "the sound device could not play (Weird sample rates are not supported.)"),
    (OSError("two\nlines"), "the sound device could not play (two lines)"),
])
def test_every_simpleaudio_error_becomes_one_line(error: Exception, line: str) -> None:
    assert describe_error(error) == line


# --- The real device, through ALSA ------------------------------------------------------


PLAY_TO_THE_END = """\
import time
import numpy as np
from voice_coach.player import SimpleaudioDevice
samples = (np.arange(50_001) * 7 % 60_001 - 30_000).astype(np.int16)
device = SimpleaudioDevice()
device.start(samples, {offset})
while device.is_playing():
    time.sleep(0.001)
device.close()
"""


def expected_samples(length: int = 50_001) -> Samples:
    return (np.arange(length) * 7 % 60_001 - 30_000).astype(np.int16)


@pytest.mark.sound
@pytest.mark.parametrize("offset", [0, 12_345, 50_000])
def test_the_device_plays_exactly_the_samples_from_the_offset(alsa_file: AlsaFile,
                                                              offset: int) -> None:
    child = run_python(PLAY_TO_THE_END.format(offset=offset), alsa_file.env)

    assert (child.returncode, child.stderr) == (0, "")
    assert np.array_equal(alsa_file.samples(), expected_samples()[offset:])


@pytest.mark.sound
def test_the_device_says_how_much_it_took_of_each_play(alsa_file: AlsaFile) -> None:
    """The tap is in simpleaudio's path: each play's count starts at its own open."""
    child = run_python("""\
        import time
        import numpy as np
        from voice_coach.player import SimpleaudioDevice
        device = SimpleaudioDevice()
        print(device.progress())
        for length, offset in ((50_001, 0), (30_000, 12_345)):
            device.start(np.ones(length, dtype=np.int16), offset)
            while device.is_playing():
                time.sleep(0.001)
            print(device.progress().taken)
        device.close()
        """, alsa_file.env)

    assert (child.returncode, child.stdout, child.stderr) == (0, "None\n50001\n17655\n", "")
    assert len(alsa_file.samples()) == 17_655  # the file plugin starts the file anew


@pytest.mark.sound
def test_the_paced_test_device_plays_all_it_took_when_dropped_and_says_none_was_dropped(
        tmp_path: Path) -> None:
    """What the exactness tests rely on: ALSA's file plugin writes out what it holds when
    dropped, and null says a delay of 0, so a drop there leaves nothing unheard."""
    paced = PacedFile.in_folder(tmp_path)
    child = run_python("""\
        import time
        import numpy as np
        from voice_coach.player import SimpleaudioDevice
        device = SimpleaudioDevice()
        device.start((np.arange(44_100) * 7 % 60_001 - 30_000).astype(np.int16), 0)
        time.sleep(0.6)
        device.drop()
        progress = device.progress()
        print(progress.taken, progress.dropped)
        device.close()
        """, paced.env)
    assert (child.returncode, child.stderr) == (0, "")
    taken, dropped = map(int, child.stdout.split())
    played = paced.played()

    assert dropped == 0
    assert 0.5 * SAMPLE_RATE <= taken < 44_100
    assert np.array_equal(played, expected_samples(44_100)[:taken])


@pytest.mark.sound
def test_the_device_keeps_an_array_nobody_else_holds_until_it_is_played(
        alsa_file: AlsaFile) -> None:
    child = run_python("""\
        import gc, time
        import numpy as np
        from voice_coach.player import SimpleaudioDevice
        device = SimpleaudioDevice()
        device.start(np.full(30 * 22050, 1234, dtype=np.int16), 22050)
        gc.collect()
        junk = [np.full(30 * 22050, -1, dtype=np.int16) for _ in range(20)]
        while device.is_playing():
            time.sleep(0.001)
        device.close()
        """, alsa_file.env)

    assert (child.returncode, child.stderr) == (0, "")
    assert np.array_equal(alsa_file.samples(), np.full(29 * 22050, 1234, dtype=np.int16))


@pytest.mark.sound
def test_a_play_left_running_is_stopped_at_exit(alsa_file: AlsaFile) -> None:
    child = run_python("""\
        import atexit
        import numpy as np
        from voice_coach.player import SimpleaudioDevice
        device = SimpleaudioDevice()
        atexit.register(lambda: print("at exit:", device.is_playing()))
        device.start(np.ones(600 * 22050, dtype=np.int16), 0)
        print("playing:", device.is_playing())
        """, alsa_file.env)

    assert (child.returncode, child.stderr) == (0, "")
    assert child.stdout == "playing: True\nat exit: False\n"
    assert 0 < len(alsa_file.samples()) < 600 * 22050


@pytest.mark.sound
def test_probe_finds_a_working_device(alsa_file: AlsaFile) -> None:
    child = run_python("from voice_coach.player import probe_device; print(probe_device())",
                       alsa_file.env)

    assert (child.returncode, child.stdout, child.stderr) == (0, "None\n", "")


OPEN_AND_REPORT = """\
import numpy as np
from voice_coach.playback import PlaybackError
from voice_coach.player import SimpleaudioDevice, probe_device
device = SimpleaudioDevice()
try:
    device.start(np.zeros(2205, dtype=np.int16), 0)
except PlaybackError as error:
    print(error)
    print(probe_device())
    print("ALSA lib" in error.detail, "ALSA lib" in device.noise)
"""


@pytest.mark.parametrize(("config", "env", "line"), [
    (NO_DEVICE_ALSA_CONFIG, {}, NO_DEVICE),
    (PULSE_ALSA_CONFIG, {"PULSE_SERVER": "unix:{tmp}/no-server"}, NO_SERVER),
])
def test_no_device_is_one_line_and_nothing_on_stderr(tmp_path: Path, config: str,
                                                     env: dict[str, str], line: str) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(config)
    env = {key: value.format(tmp=tmp_path) for key, value in env.items()}

    child = run_python(OPEN_AND_REPORT, {"ALSA_CONFIG_PATH": str(conf), **env})

    assert (child.returncode, child.stderr) == (0, "")
    assert child.stdout == f"{line}\n{line}\nTrue True\n"


# --- Stress ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.sound
def test_many_starts_stops_and_exits_do_not_crash() -> None:
    child = subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "stress_player.py"), "--cycles", "300"],
        capture_output=True, text=True, timeout=120, check=False)

    assert child.returncode not in (-11, 139), "segmentation fault"
    assert (child.returncode, child.stderr) == (0, ""), child.stdout  # what failed
    assert child.stdout.startswith("300 cycles in ")


# --- The watchdog -----------------------------------------------------------------------


class EndlessPlay:
    """A simpleaudio play that goes on until stopped."""

    def __init__(self) -> None:
        self.stopped = False

    def is_playing(self) -> bool:
        return not self.stopped

    def stop(self) -> None:
        self.stopped = True


def watch(answers: list[tuple[str, ...] | None], monkeypatch: pytest.MonkeyPatch,
          ) -> tuple[str | None, list[int]]:
    """Run the watchdog over a server answering ``answers`` in turn (then the last for ever)
    until it gives up or has asked for each; what it found lost and the signals it sent."""
    import _thread
    import threading

    from voice_coach import player
    from voice_coach.devices import Route

    asked = iter(answers)
    last: list[tuple[str, ...] | None] = [answers[-1]]
    done = threading.Event()

    def sink_names(run: object = None) -> tuple[str, ...] | None:
        answer = next(asked, "end")
        if answer == "end":
            done.set()
            return last[0]
        return answer  # type: ignore[return-value]

    signals: list[int] = []
    monkeypatch.setattr(player.devices, "sink_names", sink_names)
    monkeypatch.setattr(player, "WATCH_S", 0.01)
    monkeypatch.setattr(_thread, "interrupt_main", signals.append)
    device = player.SimpleaudioDevice(route=Route("PulseAudio", "vc"))
    stopped = threading.Event()
    thread = threading.Thread(target=device._watchdog,
                              args=(EndlessPlay(), stopped, float("inf")))
    thread.start()
    deadline = time.monotonic() + 5
    while not done.is_set() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    stopped.set()
    thread.join(5)
    return device.lost, signals


def test_a_server_that_misses_one_answer_is_not_taken_for_gone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load pactl can miss its 1.5 s: one miss alone ended a session once."""
    assert watch([("vc",), None, ("vc",), None, ("vc",)], monkeypatch) == (None, [])


def test_a_server_that_misses_two_answers_in_a_row_is_gone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import signal
    assert watch([("vc",), None, None], monkeypatch) == (
        "the sound server stopped; the session stopped", [signal.SIGUSR1])
