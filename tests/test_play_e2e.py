"""``voice-coach play`` end to end, as a person meets it: the installed command in a child.

What the child plays goes to a real ALSA device: the ``file`` plugin (exactly what was
handed to the device, faster than real time) or a private PulseAudio null sink (what was
heard, in real time). Keys, the status line, Ctrl-C and a closed terminal go through a
real pseudo-terminal. ``export`` run with the same settings is the reference: what play
plays must be its ``session.wav``, to the sample, and on time to the sample.

``play`` paces itself by the clock whatever the device, so a test that only needs what was
handed to the device stops the child once all of it has arrived.

Time to first sound is measured by ``support.processes.first_sound_s``, as the benchmark does.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest
import soundfile

from support.audio import (
    find_session,
    locate,
    noise,
    read_wav,
    runs,
    silence_put_in,
    write_wav,
)
from support.paced import PacedFile
from support.processes import first_sound_s, processes_in_session, size_of
from support.soundserver import NO_DEVICE_ALSA_CONFIG, AlsaFile, SoundServer
from voice_coach.pcm import SAMPLE_RATE, Samples

pytestmark = [pytest.mark.one_python, pytest.mark.timed]

pytest_plugins = ["support.fixtures"]

VOICE_COACH: Final = Path(sys.executable).with_name("voice-coach")
MS: Final = SAMPLE_RATE / 1000
SHORT: Final = str(Path(__file__).parent / "data" / "short-breath.toml")
"""A 22-second session, eight cues and two lines: a whole session through a sound stack."""
ONE_BREATH: Final = str(Path(__file__).parent / "data" / "one-breath.toml")
"""A 15-second session: where a whole session plays, not how its cues fall."""
NON_DEFAULT: Final = ("psoas-release", "--minutes", "5", "--rate", "180", "--breath", "3:2:5:0",
                      "--chime-volume", "0.5", "--no-caution")
NO_DEVICE: Final = ("Error: no sound device could be opened (ALSA: No such file or directory);"
                    " 'voice-coach export' writes the session to WAV without one\n")
INTERRUPTED_WITHIN_S: Final = 1.0
TAIL_S: Final = 0.5
"""The most silence a device is handed past a session's end."""


@pytest.fixture(autouse=True)
def _installed() -> None:
    if not VOICE_COACH.is_file():
        pytest.fail(f"{VOICE_COACH} not found: install voice-coach into this interpreter's"
                    " environment (scripts/setup.sh)", pytrace=False)


# --- Running the command -------------------------------------------------------------


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **(extra or {})}


def voice_coach(*args: str, env: Mapping[str, str] | None = None,
                timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run the command to its end with stdin not a terminal; stdout and stderr captured."""
    return subprocess.run([str(VOICE_COACH), *args], env=child_env(env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False)


def export(out: Path, *args: str) -> tuple[Samples, dict[str, Any]]:
    """``voice-coach export ARGS -o OUT``: the session's samples and its timeline.json."""
    child = voice_coach("export", *args, "-o", str(out), "--quiet")
    # The whole of stderr in the report: pytest's diff elides the middle of a long line.
    assert (child.returncode, child.stdout, child.stderr) == (0, "", ""), child.stderr
    samples = read_wav(out / "session.wav")
    timeline = json.loads((out / "timeline.json").read_text())
    return samples, timeline


def history_entries() -> list[dict[str, Any]]:
    path = Path(os.environ["XDG_DATA_HOME"]) / "voice-coach" / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_until(ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout_s:g} s", pytrace=False)
        time.sleep(0.005)


def streams_of(server: SoundServer, pid: int) -> int:
    """How many streams process ``pid`` is playing into the sound server."""
    listing = server.pactl("list", "sink-inputs").stdout
    return len(re.findall(rf'application\.process\.id = "{pid}"', listing))


# --- 1. What play hands the device is what export writes --------------------------------


BED_FILE: Final = "BED_FILE"
"""Stands in a test's arguments for the path of a bed file that ``bed_file`` writes."""


def bed_file(path: Path) -> Path:
    """A 9-second 44.1 kHz stereo FLAC of soft noise with a hum (a loop longer than its
    4-second crossfade, shorter than the session), as a person's own bed file is."""
    rate = 44100
    seconds = np.arange(9 * rate) / rate
    rng = np.random.default_rng(5)
    noise = np.convolve(rng.standard_normal(len(seconds)), np.ones(8) / 8, mode="same")
    hum = 0.3 * np.sin(2 * np.pi * 110 * seconds)
    left = 0.05 * (noise / noise.std() + hum)
    soundfile.write(path, np.column_stack([left, 0.8 * left]), rate, subtype="PCM_16")
    return path


@pytest.fixture
def paced_file(tmp_path: Path) -> PacedFile:
    return PacedFile.in_folder(tmp_path)


def play_and_record(device: PacedFile, args: Sequence[str], until_samples: int,
                    timeout_s: float) -> tuple[subprocess.CompletedProcess[str], bool]:
    """``voice-coach play ARGS --quiet`` into ``device`` until it has taken ``until_samples``
    (or the command ended); then SIGTERM. The result, and whether it was still playing."""
    play = subprocess.Popen([str(VOICE_COACH), "play", *args, "--quiet"],
                            env=child_env(device.env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: size_of(device.raw) >= 2 * until_samples or play.poll() is not None,
                   timeout_s, "play did not hand the session to the device")
        time.sleep(0.3)
        still_playing = play.poll() is None
        play.send_signal(signal.SIGTERM)
        stdout, stderr = play.communicate(timeout=10)
    finally:
        if play.poll() is None:
            play.kill()
            play.wait()
    return subprocess.CompletedProcess(play.args, play.returncode, stdout, stderr), still_playing


@pytest.mark.sound
@pytest.mark.parametrize("args", [(SHORT, "--no-caution"),
                                  (SHORT, "--no-caution", "--ambient", "waves"),
                                  (SHORT, "--no-caution", "--ambient", "pink", "--tail", "0.1"),
                                  (SHORT, "--no-caution", "--ambient", BED_FILE),
                                  pytest.param(NON_DEFAULT, marks=[pytest.mark.slow, pytest.mark.long])],
                         ids=["short-breath", "short-breath-waves", "short-breath-tail",
                              "short-breath-file-bed", "psoas-non-default"])
def test_play_hands_the_device_exactly_what_export_writes(
        paced_file: PacedFile, tmp_path: Path, args: tuple[str, ...]) -> None:
    """The whole session, through a device that takes it in real time as a card does (it
    streams: a device that took it all at once would find most of it not yet written).
    Both sessions' lengths are known only once their lines are rendered. A bed from the
    person's own file (44.1 kHz stereo FLAC, shorter than the session: resampled, downmixed
    and looped across its seam) is played where export puts it too."""
    if BED_FILE in args:
        args = tuple(str(bed_file(tmp_path / "bed.flac")) if a == BED_FILE else a
                     for a in args)
    expected, timeline = export(tmp_path / "export", *args)
    assert len(expected) == timeline["duration_samples"]
    assert np.abs(expected.astype(np.int32)).max() > 5000

    started = time.monotonic()
    child = voice_coach("play", *args, "--quiet", env=paced_file.env,
                        timeout=timeline["duration_s"] + 60)
    took_s = time.monotonic() - started

    played = paced_file.played()
    assert took_s >= timeline["duration_s"], "play ended before the session's length had passed"
    assert (child.returncode, child.stdout, child.stderr) == (0, "", "")
    assert len(expected) == timeline["duration_samples"]
    assert_handed_exactly(played, expected)
    assert [e["outcome"] for e in history_entries()] == ["completed"]


def holds_in(played: Samples, expected: Samples, most: int = 8) -> list[tuple[int, int]]:
    """Where play held (rendering fell behind the device) and for how long: each sample
    of ``expected`` was handed once and in order, with only silence put in between two
    sounds at a hold, then silence; ``(sample of expected, samples of silence)`` each."""
    compared = silence_put_in(played, expected, most)
    assert compared.problem is None, (compared.problem, compared.insertions)
    assert compared.after_end <= TAIL_S * SAMPLE_RATE
    return compared.insertions


def assert_handed_exactly(played: Samples, expected: Samples) -> None:
    """The device was handed ``expected``, then silence: a session whose length is known
    only once its lines are rendered plays from a buffer as long as it could be, silent
    past its end until ``play`` stops the device, once it has taken the end (the loop
    looks every 100 ms; the device takes 100 ms a write)."""
    assert np.array_equal(played[:len(expected)], expected)
    assert not played[len(expected):].any()
    assert len(played) - len(expected) <= TAIL_S * SAMPLE_RATE


@pytest.mark.sound
def test_a_streamed_session_is_exact_past_the_moment_its_plan_became_final(
        paced_file: PacedFile, tmp_path: Path) -> None:
    """Every sample across the opening, the first line and the rest of the plan (final
    only once every line's length is known) is what export writes."""
    args = ("psoas-release", "--minutes", "10")
    expected, timeline = export(tmp_path / "export", *args)
    first_line = next(e for e in timeline["events"] if e["kind"] == "speech")
    stretch = first_line["end_sample"] + 4 * SAMPLE_RATE  # into the final plan

    child, still_playing = play_and_record(paced_file, args, stretch, 90)

    played = paced_file.samples()
    assert still_playing
    assert (child.returncode, child.stdout, child.stderr) == (130, "", "Error: interrupted\n")
    assert len(played) >= stretch
    assert np.array_equal(played, expected[: len(played)])


@pytest.mark.sound
@pytest.mark.parametrize("bed", [(), ("--ambient", "brown")], ids=["plain", "brown-bed"])
def test_going_back_into_a_part_already_played_and_released_plays_it_again_exactly(
        paced_file: PacedFile, tmp_path: Path, bed: tuple[str, ...]) -> None:
    """With a bed too: the bed plays again where it belongs, under the step's start."""
    args = ("psoas-release", "--minutes", "10", *bed)
    expected, timeline = export(tmp_path / "export", *args)
    first_line = next(e for e in timeline["events"] if e["kind"] == "speech")
    back_after = first_line["start_sample"] + 8 * SAMPLE_RATE  # pages 2 s behind are released

    terminal = Terminal(["play", *args], paced_file.env)
    try:
        terminal.wait_for(playing, 30, "no status line")
        wait_until(lambda: size_of(paced_file.raw) >= 2 * back_after, 30, "not played on")
        terminal.send(b"b")
        seam = size_of(paced_file.raw) // 2
        wait_until(lambda: size_of(paced_file.raw) >= 2 * (seam + 4 * SAMPLE_RATE), 30,
                   "b did not play on")
        terminal.send(b"q")
        terminal.wait_exit()
        assert terminal.process.returncode == 0
    finally:
        terminal.close()

    played = paced_file.samples()
    same = int(np.flatnonzero(played[: len(expected)] != expected[: len(played)])[0])
    again = played[same:]
    step_start = first_line["start_sample"]
    assert same >= back_after  # exact up to the key, which came with the first 2 s released
    assert len(again) >= 3 * SAMPLE_RATE
    assert np.array_equal(again, expected[step_start : step_start + len(again)])


@pytest.mark.sound
@pytest.mark.parametrize("key, code", [(b" ", 0), (b"q", 0), (b"\x03", 130)],
                         ids=["space", "q", "ctrl-c"])
def test_a_key_in_the_tail_ends_it_at_once_and_the_session_counts_as_completed(
        paced_file: PacedFile, tmp_path: Path, key: bytes, code: int) -> None:
    args = (SHORT, "--no-caution", "--ambient", "brown", "--tail", "1")
    terminal = Terminal(["play", *args], paced_file.env)
    try:
        terminal.wait_for(lambda line: "Tail, 1 min" in line, 60, "the tail did not come")
        terminal.pump(1.0)
        terminal.send(key)
        sent_at = time.monotonic()
        terminal.wait_exit()
        ended_s = time.monotonic() - sent_at
        assert terminal.process.returncode == code
        if code == 0:
            assert terminal.screen() == ["Session complete.", ""]
    finally:
        terminal.close()
    assert ended_s < INTERRUPTED_WITHIN_S
    assert [e["outcome"] for e in history_entries()] == ["completed"]


DYING_ENGINE: Final = """
import sys
import numpy as np
from voice_coach.engines import pyttsx3_engine
from voice_coach.speech import SpeechError


class DyingEngine:
    \"\"\"Speaks its first batch (a sawtooth per line), then dies, as a helper process can.\"\"\"

    name, version = "dying", "1"
    batches = 0

    def render_many(self, texts, settings, *, on_clip=None):
        DyingEngine.batches += 1
        if DyingEngine.batches > 1:
            raise SpeechError("the speech engine stopped unexpectedly (exit code -9)")
        clips = [((np.arange(22050 + 100 * len(t)) % 120 - 60) * 300).astype(np.int16)
                 for t in texts]
        for index, clip in enumerate(clips):
            if on_clip is not None:
                on_clip(index, clip)
        return clips

    def voices(self):
        return []

    def close(self):
        pass


class DyingFactory:
    name, version = "dying", "1"

    def __call__(self):
        return DyingEngine()


pyttsx3_engine.open_engine = DyingFactory()
sys.argv[0] = "voice-coach"
from voice_coach.cli import main
main()
"""
"""``voice-coach`` with an engine that dies after the first line (a fault injected at the
process's edge: everything else is the real command)."""


@pytest.mark.sound
def test_an_engine_dying_mid_session_stops_after_a_whole_sentence_with_one_line(
        paced_file: PacedFile) -> None:
    child = subprocess.run(
        [sys.executable, "-c", DYING_ENGINE, "play", "psoas-release", "--minutes", "10",
         "--no-cache"], env=child_env(paced_file.env), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120, check=False)

    assert (child.returncode, child.stderr) == (
        1, "Error: the speech engine stopped unexpectedly (exit code -9)\n")
    assert [e["outcome"] for e in history_entries()] == ["stopped"]
    played = paced_file.samples()
    sound = np.flatnonzero(played)
    lead_in = round(0.5 * SAMPLE_RATE)
    chime_end = lead_in + round(1.2 * SAMPLE_RATE)
    assert sound[0] >= lead_in - 1 and sound[-1] > chime_end  # the chime, then the first line
    # The first line, whole: a sawtooth of its own length after the chime, then nothing.
    # Its last second is still the sawtooth at one level (the mixer levels the line as a
    # whole, so it is quieter than rendered): every 120-sample period alike, none faded.
    last_second = played[sound[-1] - 22050 + 1 : sound[-1] + 1].astype(np.int32)
    periods = last_second[: 22050 // 120 * 120].reshape(-1, 120)
    assert np.abs(periods - periods[0]).max() <= 1
    assert np.ptp(periods[0]) >= 0.15 * 65535  # leveled to -19 LUFS: about 0.22
    assert len(played) - sound[-1] < 2 * SAMPLE_RATE  # stopped right after it


# --- 2. A whole session through the sound server, in real time --------------------------


@pytest.mark.sound
def test_a_whole_session_through_the_sound_server_has_every_cue_on_time(
        sound_server: SoundServer, tmp_path: Path) -> None:
    session, timeline = export(tmp_path / "export", SHORT, "--no-caution")

    with sound_server.recording() as recording:
        child = voice_coach("play", SHORT, "--no-caution", "--quiet", env=sound_server.env,
                            timeout=timeline["duration_s"] + 60)
    heard = recording.samples

    assert (child.returncode, child.stdout, child.stderr) == (0, "", "")
    assert_heard_whole(heard, session, timeline, cues=8)


def assert_heard_whole(heard: Samples, session: Samples, timeline: dict[str, Any],
                       cues: int) -> None:
    """Every cue and line of the exported session is in ``heard``, cues spaced to the sample.

    The same check for every sound server (``support.audio.find_session``).
    """
    first = next(e for e in timeline["events"] if e["kind"] in ("cue", "speech"))
    assert first["cue"] == "start"
    start_cue = session[first["start_sample"] : first["end_sample"]]
    found = find_session(heard, session, timeline)
    assert found.start_score > 0.99, (f"start chime not found (best correlation"
                                      f" {found.start_score:.3f})")
    assert not found.missing(), f"not heard as exported: {found.missing()}"
    print(found.summary())
    assert found.cues == sum(e["kind"] == "cue" for e in timeline["events"]) == cues
    assert np.abs(found.cue_spacing_errors()).max() <= round(MS)
    onset = round(10 * MS)
    origin = found.origin
    assert np.array_equal(heard[origin + first["start_sample"] :][:onset], start_cue[:onset])
    assert np.abs(start_cue[:onset].astype(np.int32)).max() > 5000


# --- A pseudo-terminal ----------------------------------------------------------------


ERASE_LINE: Final = "\x1b[2K"


def screen_of(transcript: str) -> list[str]:
    """The lines a terminal shows after ``transcript``; it may only use CR, LF and erase-line."""
    lines: list[list[str]] = [[]]
    column = 0
    index = 0
    while index < len(transcript):
        if transcript.startswith(ERASE_LINE, index):
            lines[-1] = []
            index += len(ERASE_LINE)
            continue
        char = transcript[index]
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append([])
            column = 0
        elif char < " " or char == "\x7f":
            raise AssertionError(f"unexpected control character {char!r} in {transcript!r}")
        else:
            line = lines[-1]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = char
            column += 1
        index += 1
    return ["".join(line).rstrip() for line in lines]


def _controlling_terminal() -> None:
    """In the child, a session leader already: make its stdin its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """The command on a pseudo-terminal of its own, as in a terminal window.

    stdin, stdout and stderr are the terminal, which is the child's controlling terminal,
    so Ctrl-C typed on it interrupts the child and closing it hangs the child up.
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str], columns: int = 100,
                 shell: str | None = None) -> None:
        """Run ``voice-coach ARGS``, or with ``shell``, ``sh -c SHELL`` (``$VC`` is the command)."""
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
        self.attributes = termios.tcgetattr(self.slave)
        """The terminal's settings before the command ran."""
        self.output = bytearray()
        argv = ["sh", "-c", shell] if shell is not None else [str(VOICE_COACH), *args]
        self.process = subprocess.Popen(
            argv, env=child_env({**env, "VC": str(VOICE_COACH)}), stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave, start_new_session=True, preexec_fn=_controlling_terminal)

    def screen(self) -> list[str]:
        return screen_of(self.output.decode(errors="replace"))

    def line(self) -> str:
        """The line the cursor is on: the status line while playing."""
        return self.screen()[-1]

    def foreground_group(self) -> int:
        """The terminal's foreground process group (asked on the master side: the slave is
        not this process's controlling terminal)."""
        packed = fcntl.ioctl(self.master, termios.TIOCGPGRP, struct.pack("i", 0))
        group: int = struct.unpack("i", packed)[0]
        return group

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def pump(self, seconds: float) -> None:
        """Read what the command shows for ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.master >= 0:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, min(left, 0.005)))
            if ready:
                try:
                    self.output += os.read(self.master, 4096)
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    return
            elif left <= 0:
                return

    def wait_for(self, shown: Callable[[str], bool], timeout_s: float, what: str) -> str:
        """Pump until the status line satisfies ``shown``; return it."""
        deadline = time.monotonic() + timeout_s
        while not shown(self.line()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what}: the terminal shows {self.screen()!r},"
                            f" exit code {self.process.poll()}", pytrace=False)
            self.pump(0.01)
        return self.line()

    def wait_exit(self, timeout_s: float = 10.0) -> float:
        """Pump until the command exits; return how long that took."""
        started = time.monotonic()
        while self.process.poll() is None:
            if time.monotonic() - started > timeout_s:
                pytest.fail(f"still running {timeout_s:g} s later: {self.screen()!r}",
                            pytrace=False)
            if self.master >= 0:
                self.pump(0.002)
            else:
                time.sleep(0.002)
        took = time.monotonic() - started
        self.pump(0.1)
        return took

    def hang_up(self) -> None:
        """Close the terminal, as when its window is closed."""
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1


def playing(line: str) -> bool:
    return bool(re.match(r"\d+:\d\d / -\d+:\d\d  step \d+/\d+  ", line))


# --- 3. Ctrl-C, SIGTERM and a closed terminal --------------------------------------------



@pytest.mark.sound
@pytest.mark.parametrize("how", ["ctrl-c", "SIGINT", "SIGTERM", "SIGHUP", "closed terminal"])
def test_an_interrupt_stops_at_once_and_restores_the_terminal(
        sound_server: SoundServer, how: str) -> None:
    terminal = Terminal(["play", "four-seven-eight"], sound_server.env)
    try:
        terminal.wait_for(playing, 30, "no status line")
        terminal.pump(1.0)
        while_playing = termios.tcgetattr(terminal.slave)
        pid = terminal.process.pid
        assert streams_of(sound_server, pid) == 1

        if how == "ctrl-c":
            terminal.send(b"\x03")
        elif how == "closed terminal":
            terminal.hang_up()
        else:
            terminal.process.send_signal(getattr(signal, how))
        took = terminal.wait_exit()

        wait_until(lambda: streams_of(sound_server, pid) == 0, 2, "a stream is still playing")
        assert processes_in_session(pid) == []
        print(f"{how}: exited {terminal.process.returncode} {took * 1000:.0f} ms later")
        assert (while_playing[3] & termios.ICANON) == 0
        if how != "closed terminal":  # a closed terminal has no settings left to read
            assert termios.tcgetattr(terminal.slave) == terminal.attributes
            assert terminal.screen() == ["Error: interrupted", ""]
        assert took <= INTERRUPTED_WITHIN_S
        assert terminal.process.returncode == 130
    finally:
        terminal.close()


BACKGROUND_NOTE: Final = ("note: not in the terminal's foreground, so keys are off"
                          " (Ctrl-C does not reach it either); 'kill {pid}' stops the session")


def process_state(pid: int) -> tuple[str, int]:
    """A process's state letter (R, S, T for stopped, ...) and its process group."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def voice_coach_in(session_id: int) -> int:
    """The pid of the voice-coach process in a session started by ``Terminal``."""
    for pid in processes_in_session(session_id):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if any(arg.endswith(b"/voice-coach") for arg in argv[:2]):
                return pid
    raise LookupError("no voice-coach process")


@pytest.mark.sound
@pytest.mark.parametrize("shell", [
    "timeout 60 $VC play four-seven-eight; exit $?",
    "set -m; $VC play four-seven-eight & wait $!; exit $?",
], ids=["timeout", "background-job"])
def test_play_outside_the_foreground_plays_without_keys_and_sigterm_ends_it(
        paced_file: PacedFile, shell: str) -> None:
    """``timeout 60 voice-coach play`` and ``voice-coach play &`` on a terminal: the command
    runs in a process group that is not the terminal's foreground, where changing the
    terminal's settings would stop it (SIGTTOU) with a blank screen, deaf to SIGTERM."""
    terminal = Terminal([], paced_file.env, shell=shell)
    try:
        wait_until(lambda: size_of(paced_file.raw) > 0 or terminal.process.poll() is not None,
                   60, "nothing was played")
        terminal.pump(0.5)
        pid = voice_coach_in(terminal.process.pid)
        state, group = process_state(pid)
        assert group != terminal.foreground_group(), "the test did not put it in the background"
        assert state != "T", "play was stopped by the terminal"
        assert termios.tcgetattr(terminal.slave) == terminal.attributes  # keys left alone
        terminal.pump(0.5)
        assert process_state(pid)[0] != "T", "play was stopped by the terminal"
        assert terminal.process.poll() is None, "play ended before its time"

        os.kill(pid, signal.SIGTERM)
        took = terminal.wait_exit()

        screen = terminal.screen()
        print(f"{shell!r}: exited {terminal.process.returncode} {took * 1000:.0f} ms after"
              f" SIGTERM; screen {screen!r}")
        assert took <= INTERRUPTED_WITHIN_S
        assert terminal.process.returncode == 130
        note = BACKGROUND_NOTE.format(pid=pid)
        assert screen[0] == note
        assert screen[1] == "[0:00] step 1/9  Starting"
        assert screen[-2:] == ["Error: interrupted", ""]
        assert screen.count(note) == 1
        assert termios.tcgetattr(terminal.slave) == terminal.attributes
        assert [e["outcome"] for e in history_entries()] == ["stopped"]
    finally:
        for pid in processes_in_session(terminal.process.pid):  # a stopped one ignores the pty
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        terminal.close()


# --- 4. Keys through a real terminal ---------------------------------------------------


KEYS_ROUTINE: Final = """\
id = "keys"
title = "Keys"
summary = "A session steered with keys."
pause_s = 0.5

[cues]
start = "noise.wav"

[[steps]]
say = "First step."
hold_s = 1

[[steps]]
say = "Second step."
hold_s = 1
"""


@pytest.mark.sound
def test_keys_pause_resume_skip_and_quit(sound_server: SoundServer, tmp_path: Path) -> None:
    loud = noise(6.0, seed=3)
    write_wav(tmp_path / "noise.wav", loud)
    routine = tmp_path / "keys.toml"
    routine.write_text(KEYS_ROUTINE)
    session, timeline = export(tmp_path / "export", str(routine))
    steps = len(timeline["steps"])
    first_step = timeline["steps"][1]

    with sound_server.recording() as recording:
        terminal = Terminal(["play", str(routine)], sound_server.env)
        try:
            assert f"step 1/{steps}  Starting" in terminal.wait_for(playing, 30, "no status line")
            terminal.pump(1.0)

            terminal.send(b" ")
            pressed_at = time.monotonic()
            line = terminal.wait_for(lambda line: "paused" in line, 1, "space did not pause")
            shown_at = time.monotonic()
            assert line.endswith(f"step 1/{steps}  Starting  paused - space resumes")
            terminal.pump(1.0)
            terminal.send(b" ")
            resumed_at = time.monotonic()
            terminal.wait_for(lambda line: playing(line) and "paused" not in line, 1,
                              "space did not resume")
            terminal.pump(0.5)

            terminal.send(b"n")
            line = terminal.wait_for(lambda line: "step 2/" in line, 1, "n did not skip")
            assert f"step 2/{steps}  {first_step['label']}  space pause" in line
            terminal.pump(0.5)

            terminal.send(b"q")
            terminal.wait_exit()
            assert terminal.process.returncode == 0
            assert terminal.screen() == ["Stopped.", ""]
            assert termios.tcgetattr(terminal.slave) == terminal.attributes
        finally:
            terminal.close()

    heard = recording.samples
    step_start = next(e["start_sample"] for e in timeline["events"] if e["step"] == 1)
    first_sound = step_start + int(np.flatnonzero(session[step_start:])[0])
    pieces = runs(heard, min_length=64)
    assert len(pieces) >= 3, f"expected noise, pause, noise, skip; heard {pieces}"
    (start1, end1), (start2, end2), (start3, _) = pieces[:3]
    first = locate(heard[start1 : start1 + 64], loud)
    second = locate(heard[start2 : start2 + 64], loud)
    after_skip = locate(heard[start3 : start3 + 64], session)
    silent_s = (start2 - end1) / SAMPLE_RATE
    print(f"space to space {(resumed_at - pressed_at) * 1000:.0f} ms, 'paused' shown to space"
          f" {(resumed_at - shown_at) * 1000:.0f} ms; silent {silent_s * 1000:.0f} ms;"
          f" resumed at noise sample {second}, stopped at {end1 - start1}; after n the next"
          f" sound is session sample {after_skip}, step 2's first sound {first_sound}")

    assert first == 0, "the start cue lost its onset"
    assert np.array_equal(heard[start1:end1], loud[: end1 - start1])
    # Silent from the moment the screen said paused until space was pressed again.
    assert resumed_at - shown_at - 0.05 <= silent_s <= resumed_at - pressed_at + 0.05
    assert second is not None and abs(second - (end1 - start1)) <= 15 * MS
    assert np.array_equal(heard[start2:end2], loud[second : second + end2 - start2])
    assert second + end2 - start2 < len(loud), "n did not cut the start cue short"
    assert after_skip is not None and 0 <= after_skip - first_sound <= 10 * MS


# --- 5. No sound device ----------------------------------------------------------------


def test_no_device_is_one_line_and_no_history(tmp_path: Path) -> None:
    config = tmp_path / "asound.conf"
    config.write_text(NO_DEVICE_ALSA_CONFIG)

    child = voice_coach("play", env={"ALSA_CONFIG_PATH": str(config)})

    assert (child.returncode, child.stdout, child.stderr) == (1, "", NO_DEVICE)
    assert history_entries() == []


# --- 6. Time to first sound --------------------------------------------------------------


def measure_first_sound(env: Mapping[str, str], cache_dir: Path,
                        args: Sequence[str] = ("play",), timeout_s: float = 60.0) -> float:
    """Seconds from starting ``voice-coach ARGS`` to its first bytes reaching the device.

    The device is ALSA's file plugin in a temporary folder; ``cache_dir`` is the child's
    XDG_CACHE_HOME (a fresh one is a cold clip cache); ``env`` is added to this process's
    environment. The child is stopped once it has sounded, and records no history.
    """
    with tempfile.TemporaryDirectory(prefix="vc-first-sound-") as folder:
        device = AlsaFile.in_folder(Path(folder))
        environment = {**os.environ, **env, "XDG_CACHE_HOME": str(cache_dir), **device.env,
                       "VOICE_COACH_HISTORY": "false"}
        return first_sound_s([str(VOICE_COACH), *args], environment, device.raw, timeout_s)


@pytest.mark.sound
def test_time_to_first_sound_is_measured(tmp_path: Path) -> None:
    runs_each = 5
    warm_cache = tmp_path / "warm"
    measure_first_sound({}, warm_cache)
    warm = [measure_first_sound({}, warm_cache) for _ in range(runs_each)]
    cold = [measure_first_sound({}, tmp_path / f"cold-{n}") for n in range(runs_each)]

    for name, times in (("warm", warm), ("cold", cold)):
        print(f"first sound, {name} cache: median {statistics.median(times) * 1000:.0f} ms,"
              f" min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}")
    assert all(t > 0 for t in warm + cold)
    assert any((warm_cache / "voice-coach").rglob("*")), "the warm runs filled no cache"
