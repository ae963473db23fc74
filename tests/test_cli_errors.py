"""Bad input through the real ``voice-coach`` process: one exact line, the right exit code.

Every case runs the installed console script as a child process, so what is checked is
what a person sees: the whole of stderr, the exit code (2 bad input, 1 run-time failure),
and never a traceback. Faults are caused for real where a person would meet them: a file
root cannot read (capabilities dropped with ``setpriv``), a read-only bind mount, the
espeak-ng library hidden by a bind mount in a private mount namespace, ALSA without a
device. Those need root and util-linux, the mount faults also a private mount namespace
(not in a chroot, where / is not a mount point); they are skipped elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from support.audio import read_wav
from support.soundserver import NO_DEVICE_ALSA_CONFIG
from tests.test_cli import COMMANDS
from voice_coach import __version__
from voice_coach.pcm import SAMPLE_RATE, decode_audio

VOICE_COACH = Path(sys.executable).with_name("voice-coach")
ESPEAK_LIBRARY = "libespeak-ng.so.1"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT or not all(shutil.which(tool) for tool in ("unshare", "mount", "setpriv")),
    reason="needs root and util-linux (unshare, mount, setpriv) to cause the fault for real")


def espeak_languages() -> str:
    """The base language codes ``espeak-ng --voices`` lists, as the error should name them."""
    if not shutil.which("espeak-ng"):
        return "(espeak-ng is not installed)"
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
    return ", ".join(sorted({line.split()[1].split("-")[0] for line in listing}))


ESPEAK_LANGUAGES = espeak_languages()


def private_mounts_refused() -> str:
    """Why a private mount namespace cannot be had here, or "" if it can. ``unshare
    --propagation private`` remounts / private, which fails where / is not a mount point
    (a chroot, some containers): the fault cannot be caused there."""
    if not IS_ROOT or not shutil.which("unshare"):
        return "needs root and unshare"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return ""
    return probe.stderr.strip() or f"unshare exited {probe.returncode}"


PRIVATE_MOUNTS_REFUSED = private_mounts_refused()
needs_private_mounts = pytest.mark.skipif(
    bool(PRIVATE_MOUNTS_REFUSED),
    reason=f"needs a private mount namespace to cause the fault for real: {PRIVATE_MOUNTS_REFUSED}")

TINY = """\
title = "Tiny"
[[steps]]
say = "Rest."
hold_s = 0.5
[[steps]]
breathe = { count = 1 }
"""
"""A routine that renders in a moment: one line, one breath (one inhale cue)."""


def usage(command: str, message: str) -> str:
    """A usage error, exactly as the person sees it: one line, pointing at the help."""
    return f"Error: {message} (see 'voice-coach {command} -h')\n"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        prefix: list[str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The console script, as a person runs it, in ``cwd`` with the test's private dirs."""
    return subprocess.run([*(prefix or []), str(VOICE_COACH), *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def say_routine(step: str, header: str = 'title = "t"\n') -> str:
    return f"{header}[[steps]]\n{step}\n"


# --- The table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: what to set up, what to run, and exactly what must come back."""

    id: str
    args: list[str]
    code: int
    stderr: str
    setup: Callable[[Path], None] = lambda tmp: None
    env: dict[str, str] = field(default_factory=dict)
    engine: bool = False

    def param(self) -> object:
        marks = [pytest.mark.engine] if self.engine else []
        return pytest.param(self, id=self.id, marks=marks)


def many_steps(tmp: Path) -> None:
    write(tmp / "many.toml", 'title = "Many"\n' + '[[steps]]\nsay = "a"\n' * 10_000)


def ten_megabytes(tmp: Path) -> None:
    (tmp / "big.toml").write_bytes(b"# padding\n" * 1_000_000)


def tiny(tmp: Path) -> None:
    write(tmp / "tiny.toml", TINY)


def not_audio(tmp: Path) -> None:
    tiny(tmp)
    (tmp / "notes.wav").write_text("not audio at all, just words\n")


def previous_export(tmp: Path) -> None:
    tiny(tmp)
    done = run(["export", "tiny.toml", "-o", "out", "-q"], cwd=tmp)
    assert (done.returncode, done.stderr) == (0, "")


CASES = [
    # Routine files
    Case("missing file", ["plan", "nope.toml"], 2, "Error: nope.toml: no such file\n"),
    Case("a directory", ["plan", "folder/"], 2,
         "Error: folder: is a directory, not a routine file\n",
         setup=lambda tmp: (tmp / "folder").mkdir()),
    Case("a directory named .toml", ["check", "dir.toml"], 2,
         usage("check", "Invalid value for 'FILE': File 'dir.toml' is a directory."),
         setup=lambda tmp: (tmp / "dir.toml").mkdir()),
    Case("not UTF-8", ["plan", "latin1.toml"], 2,
         "Error: latin1.toml: not UTF-8 text (byte 11); a routine is a UTF-8 TOML file\n",
         setup=lambda tmp: (tmp / "latin1.toml").write_bytes(b'title = "Ca\xf1ada"\n')),
    Case("binary", ["plan", "binary.toml"], 2,
         "Error: binary.toml: not UTF-8 text (byte 18); a routine is a UTF-8 TOML file\n",
         setup=lambda tmp: (tmp / "binary.toml").write_bytes(
             b"\x7fELF\x02\x01\x01" + b"\x00" * 11 + b"\xff\xfe\x00\x01" * 64)),
    Case("NUL bytes in valid UTF-8", ["plan", "nul.toml"], 2,
         "Error: nul.toml:1: invalid TOML: Invalid statement\n",
         setup=lambda tmp: (tmp / "nul.toml").write_bytes(b"\x00\x00\x00\x00")),
    Case("ten megabytes", ["plan", "big.toml"], 2,
         "Error: big.toml: file is 10,000,000 bytes; a routine file may be at most"
         " 1,000,000 bytes\n", setup=ten_megabytes),
    Case("ten thousand steps", ["plan", "many.toml"], 2,
         "Error: many.toml: steps[2001]: too many steps; a routine may have at most 2,000\n",
         setup=many_steps),
    Case("broken TOML", ["plan", "broken.toml"], 2,
         "Error: broken.toml:3: invalid TOML: Expected '=' after a key in a key/value pair\n",
         setup=lambda tmp: write(tmp / "broken.toml", 'title = "t"\n[[steps]]\nsay "a"\n')),
    Case("negative hold", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].hold_s: expected a number from 0 to 600, got -1\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine('say = "a"\nhold_s = -1'))),
    Case("zero inhale", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].breathe.inhale_s: expected a number from 0.5 to 60, got 0\n",
         setup=lambda tmp: write(tmp / "r.toml",
                                 say_routine("breathe = { count = 2, inhale_s = 0 }"))),
    Case("NaN hold", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].hold_s: expected a number from 0 to 600, got nan\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine('say = "a"\nhold_s = nan'))),
    Case("infinite exhale", ["plan", "r.toml"], 2,
         "Error: r.toml: breath.exhale_s: expected a number from 0.5 to 60, got inf\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine(
             'say = "a"', header='title = "t"\n[breath]\nexhale_s = inf\n'))),
    Case("huge hold", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].hold_s: expected a number from 0 to 600, got 1e+308\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine('say = "a"\nhold_s = 1e308'))),
    Case("huge whole number", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].hold_s: expected a number from 0 to 600,"
         " got a 31-digit number\n",
         setup=lambda tmp: write(tmp / "r.toml",
                                 say_routine('say = "a"\nhold_s = ' + "9" * 31))),
    Case("huge minutes", ["plan", "r.toml"], 2,
         "Error: r.toml: minutes: expected a number from 1 to 180, got 1000000000.0\n",
         setup=lambda tmp: write(tmp / "r.toml",
                                 say_routine('say = "a"', 'title = "t"\nminutes = 1e9\n'))),
    Case("negative breath count", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].breathe.count: expected a whole number from 1 to 100,"
         " got -3\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine("breathe = { count = -3 }"))),
    Case("zero repeat", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].repeat.times: expected a whole number from 1 to 500, got 0\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine(
             '[steps.repeat]\ntimes = 0\n[[steps.repeat.steps]]\nsay = "a"'))),
    Case("unknown top-level key", ["plan", "r.toml"], 2,
         "Error: r.toml: colour: unknown key; expected one of breath, breath_to, caution, cues,"
         " id, lang, minutes, pause_s, pronounce, steps, summary, title\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine('say = "a"',
                                                             'title = "t"\ncolour = "red"\n'))),
    Case("unknown step key", ["plan", "r.toml"], 2,
         "Error: r.toml: steps[1].hodl_s: unknown key; expected one of hold_s, say, title\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine('say = "a"\nhodl_s = 3'))),
    Case("unknown routine id", ["plan", "nope-routine"], 2,
         "Error: unknown routine 'nope-routine'; built-in routines: box-breathing,"
         " four-seven-eight, psoas-release, resonance\n"),
    # Options
    Case("rate too low", ["plan", "--rate", "79"], 2,
         usage("plan", "Invalid value for '--rate' / '-r': 79 is not in the range 80<=x<=400.")),
    Case("rate too high", ["export", "-o", "out", "--rate", "401"], 2,
         usage("export",
               "Invalid value for '--rate' / '-r': 401 is not in the range 80<=x<=400.")),
    Case("rate not a number", ["plan", "-r", "fast"], 2,
         usage("plan", "Invalid value for '--rate' / '-r': 'fast' is not a valid integer range.")),
    Case("minutes zero", ["plan", "--minutes", "0"], 2,
         usage("plan", "Invalid value for '--minutes' / '-m': 0.0 is not in the range"
                       " 1.0<=x<=180.0.")),
    Case("minutes negative", ["plan", "-m", "-5"], 2,
         usage("plan", "Invalid value for '--minutes' / '-m': -5.0 is not in the range"
                       " 1.0<=x<=180.0.")),
    Case("minutes huge", ["export", "-o", "out", "-m", "1e9"], 2,
         usage("export", "Invalid value for '--minutes' / '-m': 1000000000.0 is not in the"
                         " range 1.0<=x<=180.0.")),
    Case("minutes NaN", ["plan", "--minutes", "nan"], 2,
         usage("plan", "Invalid value for '--minutes' / '-m': nan is not in the range"
                       " 1.0<=x<=180.0.")),
    Case("minutes NaN from the environment", ["plan"], 2,
         "Error: VOICE_COACH_MINUTES: expected a number from 1 to 180, got nan\n",
         env={"VOICE_COACH_MINUTES": "nan"}),
    Case("volume NaN", ["export", "tiny.toml", "-o", "out", "--volume", "nan"], 2,
         usage("export", "Invalid value for '--volume': nan is not in the range 0.0<=x<=1.0."),
         setup=tiny),
    Case("chime volume NaN", ["export", "tiny.toml", "-o", "out", "--chime-volume", "nan"], 2,
         usage("export",
               "Invalid value for '--chime-volume': nan is not in the range 0.0<=x<=2.0."),
         setup=tiny),
    Case("breath one number", ["plan", "--breath", "4"], 2,
         usage("plan", "Invalid value for '--breath' / '-b': '4' is not IN:OUT or"
                       " IN:HOLD:OUT:HOLD (seconds)")),
    Case("unknown voice", ["export", "tiny.toml", "-o", "out", "--voice", "xx-nope"], 2,
         "Error: unknown voice 'xx-nope'; run 'voice-coach voices' to list them\n",
         setup=tiny, engine=True),
    Case("an option the command does not have", ["plan", "--cue", "inhale=bell.wav"], 2,
         usage("plan", "No such option '--cue'. Did you mean '--voice'?")),
    Case("cue role unknown on export", ["export", "-o", "out", "--cue", "nose=bell.wav"], 2,
         usage("export", "Invalid value for '--cue': 'nose=bell.wav': expected ROLE=WAV with"
                         " ROLE one of start, inhale, exhale, hold, spot, end")),
    Case("cue file missing", ["export", "-o", "out", "--cue", "inhale=/nope.wav"], 2,
         usage("export",
               "Invalid value for '--cue': 'inhale=/nope.wav': no such file: /nope.wav")),
    Case("cue file missing in a routine", ["plan", "r.toml"], 2,
         "Error: r.toml: cues.inhale: no such file: /nope.wav\n",
         setup=lambda tmp: write(tmp / "r.toml", say_routine(
             'say = "a"', 'title = "t"\n[cues]\ninhale = "/nope.wav"\n'))),
    Case("cue that is not audio", ["export", "tiny.toml", "-o", "out",
                                   "--cue", "inhale=notes.wav"], 2,
         "Error: notes.wav: not WAV or AIFF audio (starts with b'not '); expected WAV or AIFF"
         " audio (PCM or float)\n", setup=not_audio),
    Case("cue that is not audio, in a routine", ["plan", "r.toml"], 2,
         "Error: notes.wav: not WAV or AIFF audio (starts with b'not '); expected WAV or AIFF"
         " audio (PCM or float)\n",
         setup=lambda tmp: (not_audio(tmp), write(tmp / "r.toml", say_routine(
             'say = "a"', 'title = "t"\n[cues]\ninhale = "notes.wav"\n')))),
    # Output
    Case("output exists", ["export", "tiny.toml", "-o", "out", "-q"], 1,
         "Error: out/narration/001-rest.wav already exists (and 5 more); use --force to"
         " replace\n", setup=previous_export, engine=True),
    Case("output is a file", ["export", "tiny.toml", "-o", "out.wav"], 2,
         usage("export", "Invalid value for '--output' / '-o': Directory 'out.wav' is a file."),
         setup=lambda tmp: (tiny(tmp), (tmp / "out.wav").write_bytes(b"RIFF"))),
    # Environment and settings
    Case("VOICE_COACH_RATE not a number", ["export", "-o", "out"], 2,
         "Error: VOICE_COACH_RATE: expected a whole number from 80 to 400, got 'fast'\n",
         env={"VOICE_COACH_RATE": "fast"}),
    Case("VOICE_COACH_RATE out of range", ["plan"], 2,
         "Error: VOICE_COACH_RATE: expected a whole number from 80 to 400, got 1000\n",
         env={"VOICE_COACH_RATE": "1000"}),
    Case("VOICE_COACH_BREATH malformed", ["plan"], 2,
         "Error: VOICE_COACH_BREATH: '4-6' is not IN:OUT or IN:HOLD:OUT:HOLD (seconds)\n",
         env={"VOICE_COACH_BREATH": "4-6"}),
    Case("VOICE_COACH_HISTORY not a yes or no", ["play", "tiny.toml"], 2,
         "Error: VOICE_COACH_HISTORY: expected true or false, got 'banana'\n",
         setup=tiny, env={"VOICE_COACH_HISTORY": "banana"}),
    Case("VOICE_COACH_CAUTION not a yes or no", ["play", "tiny.toml"], 2,
         "Error: VOICE_COACH_CAUTION: expected true or false, got 'banana'\n",
         setup=tiny, env={"VOICE_COACH_CAUTION": "banana"}),
    Case("VOICE_COACH_ROUTINE unknown", ["plan"], 2,
         "Error: unknown routine 'nope'; built-in routines: box-breathing,"
         " four-seven-eight, psoas-release, resonance\n", env={"VOICE_COACH_ROUTINE": "nope"}),
    Case("an unknown command", ["pley"], 2,
         "Error: No such command 'pley'. Did you mean 'play'? (see 'voice-coach -h')\n"),
    Case("a routine name that is not one", ["new", "Neck Release"], 2,
         "Error: 'Neck Release' is not a routine name: use lowercase letters, digits and '-'"
         " (for example neck-release)\n"),
    Case("voices for a language that has none", ["voices", "--lang", "xx"], 2,
         "Error: no voice for language 'xx'; languages: " + ESPEAK_LANGUAGES + "\n",
         engine=True),
    Case("settings file not TOML", ["plan"], 2,
         "Error: settings.toml:2: invalid TOML: Invalid value\n",
         setup=lambda tmp: write(tmp / "settings.toml", "minutes = 10\nrate = \n"),
         env={"VOICE_COACH_CONFIG": "settings.toml"}),
    Case("settings file with a bad value", ["export", "-o", "out"], 2,
         "Error: settings.toml: rate: expected a whole number from 80 to 400, got 'fast'\n",
         setup=lambda tmp: write(tmp / "settings.toml", 'rate = "fast"\n'),
         env={"VOICE_COACH_CONFIG": "settings.toml"}),
    Case("settings file with an unknown key", ["plan"], 2,
         "Error: settings.toml: colour: unknown setting; known: ambient, ambient_volume, breath, breath_to, caution,"
         " chime_volume, device, engine, history, lang, media_keys, minutes, rate, routine, tail, voice,"
         " volume\n",
         setup=lambda tmp: write(tmp / "settings.toml", "colour = 1\n"),
         env={"VOICE_COACH_CONFIG": "settings.toml"}),
]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_bad_input_is_one_exact_line_and_an_exit_code(case: Case, tmp_path: Path) -> None:
    case.setup(tmp_path)
    before = snapshot(tmp_path)
    result = run(case.args, cwd=tmp_path, env=case.env)
    assert "Traceback" not in result.stderr
    assert (result.returncode, result.stderr) == (case.code, case.stderr)
    assert result.stdout == ""
    assert snapshot(tmp_path) == before, "a failed command changed the folder"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder``: size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


# --- Faults that need root ------------------------------------------------------------


@needs_root
def test_a_routine_root_cannot_read(tmp_path: Path) -> None:
    """Without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH even root meets a file's mode."""
    routine = write(tmp_path / "locked.toml", TINY)
    routine.chmod(0)
    without_override = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    result = run(["plan", "locked.toml"], cwd=tmp_path, prefix=without_override)
    assert (result.returncode, result.stderr, result.stdout) == (
        2, "Error: locked.toml: permission denied\n", "")


@needs_root
@needs_private_mounts
@pytest.mark.parametrize("exists", [False, True], ids=["new folder", "empty folder"])
def test_an_output_folder_on_a_read_only_mount(tmp_path: Path, exists: bool) -> None:
    write(tmp_path / "tiny.toml", TINY)
    mount = tmp_path / "readonly"
    (mount / "out").mkdir(parents=True) if exists else mount.mkdir()
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift'
              ' && exec "$@"')
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               str(mount)]
    result = run(["export", "tiny.toml", "-o", "readonly/out", "-q"], cwd=tmp_path,
                 prefix=command)
    assert (result.returncode, result.stderr, result.stdout) == (
        1, "Error: cannot create readonly/out/narration: Read-only file system\n", "")
    assert [p.name for p in mount.rglob("*")] == (["out"] if exists else [])


def espeak_library() -> Path:
    """The file ``libespeak-ng.so.1`` resolves to, as the dynamic loader finds it."""
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True)
    for line in found.stdout.splitlines():
        name, _, where = line.strip().partition(" => ")
        if name.startswith(ESPEAK_LIBRARY + " ") and where:
            return Path(where).resolve()
    pytest.fail(f"{ESPEAK_LIBRARY} is not installed; run scripts/setup.sh")


@needs_root
@needs_private_mounts
@pytest.mark.engine
@pytest.mark.parametrize("command", [["export", "tiny.toml", "-o", "out", "-q"],
                                     ["voices"]], ids=" ".join)
def test_no_espeak_ng_library(tmp_path: Path, command: list[str]) -> None:
    """The library replaced by an empty file in a private mount namespace: dlopen fails."""
    write(tmp_path / "tiny.toml", TINY)
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            str(empty), str(espeak_library())]
    result = run(command, cwd=tmp_path, prefix=hide)
    assert (result.returncode, result.stderr, result.stdout) == (
        1, "Error: speech engine not found: install espeak-ng (on Debian/Ubuntu:"
           " sudo apt-get install espeak-ng)\n", "")
    assert not (tmp_path / "out").exists()


NO_DEVICE = ("Error: no sound device could be opened (ALSA: No such file or directory);"
             " 'voice-coach export' writes the session to WAV without one\n")


@pytest.mark.engine
def test_play_without_a_sound_device(tmp_path: Path) -> None:
    write(tmp_path / "tiny.toml", TINY)
    (tmp_path / "asound.conf").write_text(NO_DEVICE_ALSA_CONFIG)
    result = run(["play", "tiny.toml"], cwd=tmp_path,
                 env={"ALSA_CONFIG_PATH": str(tmp_path / "asound.conf")})
    assert (result.returncode, result.stderr, result.stdout) == (1, NO_DEVICE, "")


@pytest.mark.engine
def test_a_play_that_never_made_a_sound_is_not_in_the_history(tmp_path: Path) -> None:
    write(tmp_path / "tiny.toml", TINY)
    (tmp_path / "asound.conf").write_text(NO_DEVICE_ALSA_CONFIG)
    failed = run(["play", "tiny.toml", "-q"], cwd=tmp_path,
                 env={"ALSA_CONFIG_PATH": str(tmp_path / "asound.conf")})
    assert (failed.returncode, failed.stderr) == (1, NO_DEVICE)
    history = run(["history"], cwd=tmp_path)
    assert (history.returncode, history.stdout) == (0, "No sessions recorded yet.\n")


# --- Cue files in other formats convert --------------------------------------------------


def wav_bytes(frames: np.ndarray, rate: int, width: int) -> bytes:
    """A WAV file: ``frames`` is (n,) or (n, channels) of already-encoded sample values."""
    import io

    buffer = io.BytesIO()
    channels = 1 if frames.ndim == 1 else frames.shape[1]
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames.astype("<i2" if width == 2 else "u1").tobytes())
    return buffer.getvalue()


def sine(seconds: float, rate: int, hz: float = 440.0, level: float = 0.4) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return level * np.sin(2 * math.pi * hz * t)


def eight_bit() -> tuple[bytes, np.ndarray]:
    codes = np.clip(np.rint(sine(0.3, SAMPLE_RATE) * 127) + 128, 0, 255).astype(np.uint8)
    return wav_bytes(codes, SAMPLE_RATE, 1), (codes.astype(np.int16) - 128) * 256


def stereo() -> tuple[bytes, np.ndarray]:
    left = np.rint(sine(0.3, SAMPLE_RATE, 440) * 32767).astype(np.int32)
    right = np.rint(sine(0.3, SAMPLE_RATE, 660, 0.2) * 32767).astype(np.int32)
    both = np.stack([left, right], axis=1)
    return wav_bytes(both, SAMPLE_RATE, 2), np.rint((left + right) / 2).astype(np.int16)


def high_rate() -> tuple[bytes, np.ndarray]:
    data = wav_bytes(np.rint(sine(0.3, 96_000) * 32767), 96_000, 2)
    return data, np.rint(sine(0.3, SAMPLE_RATE) * 32767).astype(np.int16)


@pytest.mark.engine
@pytest.mark.parametrize("make", [eight_bit, stereo, high_rate],
                         ids=["8-bit", "stereo", "96 kHz"])
@pytest.mark.parametrize("given", ["option", "routine"])
def test_a_cue_in_another_format_is_converted_into_the_session(
        tmp_path: Path, make: Callable[[], tuple[bytes, np.ndarray]], given: str) -> None:
    data, expected = make()
    (tmp_path / "bell.wav").write_bytes(data)
    if given == "option":
        write(tmp_path / "tiny.toml", TINY)
        args = ["export", "tiny.toml", "--cue", "inhale=bell.wav", "-o", "out"]
    else:
        write(tmp_path / "tiny.toml", TINY.replace('title = "Tiny"\n',
                                                   'title = "Tiny"\n[cues]\ninhale = "bell.wav"\n'))
        args = ["export", "tiny.toml", "-o", "out"]
    result = run(args, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    inhales = [e for e in timeline["events"] if e.get("cue") == "inhale"]
    assert len(inhales) == 1
    start, end = inhales[0]["start_sample"], inhales[0]["end_sample"]
    session = read_wav(tmp_path / "out" / "session.wav")
    placed = session[start:end]
    converted = decode_audio(data, "bell.wav")
    assert len(placed) == len(expected) == len(converted)
    assert np.array_equal(placed, converted)
    if make is high_rate:  # resampled: within a small error of the same tone at 22050 Hz
        middle = slice(200, -200)
        assert np.max(np.abs(placed[middle].astype(int) - expected[middle])) < 0.002 * 32768
    else:
        assert np.array_equal(placed, expected)


# --- Text is spoken, never interpreted --------------------------------------------------


HOSTILE_LINES = [
    "Breathe!!! ... ??? ;;; --- *** ((( ))) [[ ]] {{ }} \\\\ // %% && || ~~ ^^ ## @@ $$",
    "$(touch CANARY) and `touch CANARY` and ; touch CANARY && touch CANARY | touch CANARY",
    "'; touch CANARY; echo ' \\\" ; rm -rf CANARY_DIR > CANARY < /etc/passwd",
    '<speak><break time=\\"30s\\"/><audio src=\\"file:///etc/passwd\\"/>Relax</speak>',
    '<?xml version=\\"1.0\\"?><!DOCTYPE x [<!ENTITY e SYSTEM \\"file:///etc/passwd\\">]>&e;',
    "\\u0001 14S \\u0001 20A bell\\u0007 escape \\u001b[31m red \\u001b]0;title\\u0007"
    " tab\\t return\\r line\\u000b feed\\u000c del\\u007f end",
    "%s %n %x {{0}} {{n}} ${{HOME}} $HOME %PATH% \\\\x41 \\\\u0041",
]


@pytest.mark.engine
def test_text_is_spoken_never_interpreted(tmp_path: Path) -> None:
    steps = "".join(f'[[steps]]\nsay = "{line}"\nhold_s = 0\n' for line in HOSTILE_LINES)
    write(tmp_path / "hostile.toml", f'title = "Hostile $(touch CANARY)"\n{steps}')
    (tmp_path / "CANARY_DIR").mkdir()
    result = run(["export", "hostile.toml", "-o", "out"], cwd=tmp_path,
                 env={"HOME": str(tmp_path)})
    assert (result.returncode, result.stderr) == (0, "")
    everything = [p.name for p in tmp_path.rglob("*")]
    assert not [name for name in everything if name.startswith("CANARY") and name != "CANARY_DIR"]
    assert (tmp_path / "CANARY_DIR").is_dir()
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    spoken = [e["text"] for e in timeline["events"] if e["kind"] == "speech"]
    assert len(spoken) == len(HOSTILE_LINES) + 1  # and "Session complete."
    assert spoken[1].startswith("$(touch CANARY) and `touch CANARY`")
    assert spoken[3].startswith("<speak><break")
    assert not [text for text in spoken if any(ord(c) < 32 or ord(c) == 127 for c in text)]
    assert spoken[5] == ("14S 20A bell escape [31m red ]0;title tab return line feed del end")
    captions = (tmp_path / "out" / "session.vtt").read_text()
    assert "<speak>" not in captions and "&lt;speak&gt;&lt;break" in captions
    narration = sorted((tmp_path / "out" / "narration").iterdir())
    assert len(narration) == len(spoken)
    for path, event in zip(narration, [e for e in timeline["events"] if e["kind"] == "speech"],
                           strict=True):
        samples = read_wav(path)
        assert len(samples) == event["end_sample"] - event["start_sample"]
        assert np.abs(samples.astype(int)).max() > 1000, f"{path.name} is silent"
    # Thirty seconds of SSML break would show: every line is spoken words, not a pause.
    assert max(e["end_s"] - e["start_s"] for e in timeline["events"]
               if e["kind"] == "speech") < 25


# --- Help and version -------------------------------------------------------------------




def test_help_works_even_with_a_malformed_settings_file(tmp_path: Path) -> None:
    """Help is how a person finds out what is wrong; it must not depend on the settings."""
    write(tmp_path / "settings.toml", "rate = \n")
    refused = []
    for command in COMMANDS:
        result = run([*command, "--help"], cwd=tmp_path,
                     env={"VOICE_COACH_CONFIG": "settings.toml"})
        if result.returncode != 0 or not result.stdout.startswith("Usage: "):
            refused.append((" ".join(command), result.returncode, result.stderr))
    assert refused == []


@pytest.mark.parametrize("env", [{}, {"VOICE_COACH_CONFIG": "settings.toml"}],
                         ids=["plain", "malformed settings"])
def test_version(tmp_path: Path, env: dict[str, str]) -> None:
    write(tmp_path / "settings.toml", "rate = \n")
    result = run(["--version"], cwd=tmp_path, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"voice-coach, version {__version__}\n", "")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
@pytest.mark.parametrize("args", [["routines"], ["plan", "psoas-release", "--json"]],
                         ids=["a short list", "a long document"])
def test_output_to_a_full_disk_is_one_line(tmp_path: Path, args: list[str],
                                           unbuffered: bool) -> None:
    """Python itself would print "Exception ignored ... OSError" and exit 120. Buffered, a
    short output fails only at the final flush; unbuffered, in the command itself."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(VOICE_COACH), *args], cwd=tmp_path, stdout=full, env=env,
                                stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (
        1, "Error: cannot write the output (No space left on device)\n")


def test_a_reader_that_has_left_is_no_error_message(tmp_path: Path) -> None:
    """`voice-coach plan --json | head -c 0`: the pipe is closed before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([str(VOICE_COACH), "plan", "psoas-release", "--json"],
                                cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE,
                                text=True, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (1, "")
