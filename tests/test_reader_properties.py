"""Property tests of every reader of a file or a tool's answer: whatever it is given, a
valid result or the reader's own error class with a one-line message naming the input.

Nothing else may escape (no KeyError, RecursionError, MemoryError, UnicodeDecodeError...),
and nothing may hang: each example runs under an alarm (``within``). The inputs are a
valid file mutated (bytes flipped, inserted, deleted, repeated hundreds of times, cut
short, odd tokens such as a 5,000-digit number or 2,000 open brackets spliced in), random
bytes, and now and then a path that is no file at all: a directory, a named pipe, a
symlink to /dev/zero, nothing.

One property per reader: settings, routines with their translations, cue sounds, Piper
voice configs, the history, and the sound tools' answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Literal, TypeAlias

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.audio import write_wav
from tests.test_routine_properties import NUMBER_LITERALS, VALUES, comparable, render_document
from voice_coach import devices
from voice_coach.config import (
    HEADER,
    SETTINGS,
    ConfigError,
    ConfigFile,
    parse_value,
    read_config,
    render_config,
    set_value,
)
from voice_coach.cues import CueError, builtin_cue_dir, load_cue
from voice_coach.devices import DeviceError, SoundStack
from voice_coach.engines.piper_engine import VoiceFile, VoiceFileError, read_voice_file
from voice_coach.history import (
    MAX_LINE_BYTES,
    Entry,
    HistoryError,
    append,
    from_json,
    read,
    to_json,
)
from voice_coach.pcm import encode_wav
from voice_coach.routine import Routine, RoutineError, load_file

pytestmark = pytest.mark.slow

Kind: TypeAlias = Literal["file", "directory", "named pipe", "device", "missing"]

RUNS = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_S = 10


# --- The contract -------------------------------------------------------------------


class Hang(Exception):
    """A reader took longer than ``HANG_S``."""


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Raise Hang in the test when the body takes longer than ``seconds`` (a blocked open
    or read is interrupted too: the alarm's handler raises out of the system call)."""
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(error: Exception, *starts: str) -> str:
    """The message of ``error``: one line, starting with one of ``starts``."""
    message = str(error)
    assert "\n" not in message and "\r" not in message, repr(message)
    assert message.startswith(starts), (message[:200], starts)
    return message


def make(path: Path, data: bytes, kind: Kind) -> Path:
    """``data`` as the file ``path``, or something else of ``kind`` there."""
    if kind == "file":
        path.write_bytes(data)
    elif kind == "directory":
        path.mkdir()
    elif kind == "named pipe":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    return path


@contextlib.contextmanager
def placed(name: str, data: bytes, kind: Kind) -> Iterator[Path]:
    """``make`` in a fresh folder, for the length of a ``with``."""
    with tempfile.TemporaryDirectory() as folder:
        yield make(Path(folder) / name, data, kind)


KINDS = st.sampled_from(["file"] * 16 + ["directory", "named pipe", "device", "missing"])


# --- Mutations ----------------------------------------------------------------------


ODD_TOKENS = [b"9" * 5000, b"0x" + b"f" * 4000, b"[" * 2000, b"{" * 2000, b"{a = " * 300,
              b"1e999", b"-nan", b"NaN", b"\x00", b"\xff\xfe", b"\xc3", b"\r\n", b"\\u0000",
              b'"""', b"'''", b"[[", b"]]", b"=", b",", b'"', b"\n", b"\t", b"\xe2\x80\xa8",
              b"\xef\xbb\xbf", b"true", b"-1", b"1979-05-27T07:32:00Z",
              b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x01\x00"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], tokens: list[bytes] = ODD_TOKENS) -> bytes:
    """One of ``seeds`` with one to four changes."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        end = draw(st.integers(where, min(len(data), where + 24)))
        change = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "cut", "token"]))
        if change == "flip" and where < len(data):
            data[where] = draw(st.integers(0, 255))
        elif change == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif change == "delete":
            del data[where:end]
        elif change == "repeat":
            data[where:where] = data[where:end] * draw(st.integers(2, 400))
        elif change == "cut":
            del data[where:]
        else:
            data[where:where] = draw(st.sampled_from(tokens))
    return bytes(data)


def inputs(seeds: list[bytes], tokens: list[bytes] = ODD_TOKENS) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds, tokens), st.binary(max_size=300),
                     st.sampled_from(seeds), st.sampled_from(tokens))


# --- Settings -----------------------------------------------------------------------


SETTINGS_SEEDS = [
    (HEADER + 'breath = "4:6"\ncaution = false\nchime_volume = 0.5\nengine = "pyttsx3"\n'
     'history = true\nlang = "de"\nminutes = 10\nrate = 130\nroutine = "box-breathing"\n'
     'voice = "en-gb"\nvolume = 1.0\n').encode(),
    b'rate = "fast"\n"my key" = [1, {a = 2}]\nx = 1979-05-27\n[table]\ny = inf\n',
]
SETTINGS_DOCUMENTS = st.dictionaries(st.one_of(st.sampled_from(list(SETTINGS)), st.text(max_size=6)),
                                     VALUES, max_size=5).map(render_document)


TYPED = st.one_of(st.text(), NUMBER_LITERALS, st.integers(4200, 6000).map(lambda n: "9" * n),
                  st.sampled_from(["4:6", "4:7:8:0", "1e999:4", "nan", "-0", " 130 ", "yes"]))


@RUNS
@given(st.one_of(inputs(SETTINGS_SEEDS), SETTINGS_DOCUMENTS.map(str.encode)), KINDS,
       st.sampled_from(list(SETTINGS)), TYPED)
def test_settings_file(data: bytes, kind: Kind, key: str, typed: str) -> None:
    """A settings file is read or refused in one line; one that is read can be rewritten
    (``config set``) keeping every key and value it had. A value typed on the command
    line or in the environment is a value or one line too."""
    try:
        parse_value(key, typed)
    except ConfigError as error:
        one_line(error, f"{key}: ")
    with placed("config.toml", data, kind) as path, within(HANG_S):
        try:
            found = read_config(path)
        except ConfigError as error:
            one_line(error, str(path))
            return
        assert isinstance(found, ConfigFile)
        if kind == "missing":
            assert found == ConfigFile({})
            return
        assert all("\n" not in problem for problem in found.problems)
        written = dict(found.written or {})
        render_config(written)
        set_value(path, "rate", "130")
        again = read_config(path).written
        assert comparable(again) == comparable({**written, "rate": 130})


# --- Routines and their translations ------------------------------------------------


def builtin(name: str) -> bytes:
    return (resources.files("voice_coach") / "routines" / name).read_bytes()


ROUTINE_SEEDS = [builtin("box-breathing.toml"), builtin("resonance.toml")]
TRANSLATION_SEEDS = [builtin("box-breathing.de.toml"), builtin("resonance.de.toml")]


@RUNS
@given(st.sampled_from([0, 1]), st.sampled_from(["routine", "translation"]),
       st.one_of(inputs(ROUTINE_SEEDS), inputs(TRANSLATION_SEEDS)), KINDS)
def test_routine_with_its_translation(seed: int, which: str, data: bytes, kind: Kind) -> None:
    """A routine file and its German translation beside it, one of them mutated (or not a
    file): the routine in its language and in German, or one line naming a file (or the
    translation it does not have)."""
    with tempfile.TemporaryDirectory() as folder, within(HANG_S):
        base = Path(folder) / "mine.toml"
        german = Path(folder) / "mine.de.toml"
        make(base, *((data, kind) if which == "routine" else (ROUTINE_SEEDS[seed], "file")))
        make(german, *((data, kind) if which == "translation" else (TRANSLATION_SEEDS[seed],
                                                                    "file")))
        for lang in (None, "de"):
            try:
                loaded = load_file(base, lang)
            except RoutineError as error:
                message = one_line(error, "")
                assert message.startswith(folder) or (
                    lang == "de" and message.startswith(f"{loaded_id(base)} has no German")
                ), message
                continue
            assert isinstance(loaded, Routine)
            assert loaded.lang == lang if lang else loaded.lang in loaded.languages


def loaded_id(path: Path) -> str:
    """The id of the routine in ``path``, as loaded in its own language."""
    return load_file(path).id


# --- Cue sounds ---------------------------------------------------------------------


def cue_seeds() -> list[bytes]:
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        made = [write_wav(here / "u8.wav", bytes(range(256)) * 4, 1, 1, 8000),
                write_wav(here / "s24.wav", bytes(3 * 2 * 500), 2, 3, 48000),
                write_wav(here / "s32.wav", bytes(4 * 300), 1, 4, 96000)]
        seeds = [path.read_bytes() for path in made]
    aiff = (b"FORM" + (46).to_bytes(4, "big") + b"AIFF" + b"COMM" + (18).to_bytes(4, "big")
            + (1).to_bytes(2, "big") + (4).to_bytes(4, "big") + (16).to_bytes(2, "big")
            + bytes.fromhex("400dac44000000000000") + b"SSND" + (16).to_bytes(4, "big")
            + bytes(8) + bytes(8))
    return [*seeds, aiff, (builtin_cue_dir() / "spot.wav").read_bytes()[:4000],
            encode_wav(np.zeros(50, dtype=np.int16))]


CUE_SEEDS = cue_seeds()
CUE_TOKENS = [b"RIFF", b"WAVE", b"fmt ", b"data", b"FORM", b"AIFC", b"COMM", b"SSND", b"sowt",
              b"fl64", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xfe\xff", b"\x01\x00",
              b"\x03\x00", b"\x7f\xff\xff\xff\xff\xff\xff\xff\xff\xff", bytes(16)]


@RUNS
@given(inputs(CUE_SEEDS, CUE_TOKENS), KINDS)
def test_cue_sound(data: bytes, kind: Kind) -> None:
    """A cue file: at most 10 s of session-format samples, or one line naming it."""
    with placed("cue.wav", data, kind) as path, within(HANG_S):
        try:
            samples = load_cue(path)
        except CueError as error:
            one_line(error, str(path))
            return
        assert samples.dtype.name == "int16" and samples.ndim == 1
        assert len(samples) <= 10 * 22050


# --- Piper voice configs ------------------------------------------------------------


VOICE_SEEDS = [json.dumps({
    "audio": {"sample_rate": 22050, "quality": "medium"}, "espeak": {"voice": "en-us"},
    "language": {"code": "en_US"}, "inference": {"noise_scale": 0.667, "length_scale": 1,
                                                 "noise_w": 0.8},
    "phoneme_id_map": {"_": [0], "a": [14]}, "num_symbols": 256, "num_speakers": 1,
}, indent=2).encode()]
JSON_TOKENS = [b"[" * 3000, b"{" * 3000, b'{"a":' * 3000, b"9" * 5000, b"1e999", b"NaN",
               b"-Infinity", b"null", b"true", b'"\\ud800"', b'"\\u0000"', b"\xff", b",",
               b":", b'"', b"{}", b"[]", b'"en\\nUS"', b"22050.0", b"16000"]


@RUNS
@given(inputs(VOICE_SEEDS, JSON_TOKENS), KINDS,
       st.sampled_from(["file"] * 8 + ["directory", "named pipe", "device"]))
def test_piper_voice_config(data: bytes, kind: Kind, model_kind: Kind) -> None:
    """A voice's ``.onnx.json`` (and its ``.onnx``): a voice, or one line naming a file."""
    with tempfile.TemporaryDirectory() as folder, within(HANG_S):
        model = make(Path(folder) / "en_US-x-medium.onnx", b"model", model_kind)
        make(model.with_name(model.name + ".json"), data, kind)
        try:
            voice = read_voice_file(model)
        except VoiceFileError as error:
            one_line(error, str(model))
            return
        assert isinstance(voice, VoiceFile)
        assert "\n" not in f"{voice.name} {voice.language} {voice.quality} {voice.sample_rate}"


# --- The history --------------------------------------------------------------------


SOME_DAY = datetime(2025, 3, 1, 8, tzinfo=UTC)


def history_seed() -> bytes:
    lines = [to_json(Entry(SOME_DAY + timedelta(days=day), f"r{day}", 7.0, 60.0 * day,
                           "completed" if day % 2 else "stopped")) for day in range(5)]
    return ("\n".join(lines) + "\n").encode()


HISTORY_TOKENS = [*JSON_TOKENS, b"\n", b"\n\n", b"x" * (MAX_LINE_BYTES + 1),
                  b'"started_at": ', b'"2025-03-01T08:00:00"', b'"9999-12-31T23:59:59-23:59"',
                  b"-0"]


@RUNS
@given(inputs([history_seed()], HISTORY_TOKENS), KINDS)
def test_history(data: bytes, kind: Kind) -> None:
    """The history: every line that is an entry read, every other non-blank line counted as
    skipped, in order of time; or one line (a path that is not a file). A session can
    still be appended, as one more whole line."""
    with placed("history.jsonl", data, kind) as path, within(HANG_S):
        try:
            loaded = read(path)
        except HistoryError as error:
            one_line(error, str(path))
            return
        if kind == "missing":
            assert (loaded.entries, loaded.skipped) == ((), 0)
            return
        lines = [line for line in data.split(b"\n") if line.strip()]
        entries = [None if len(line) > MAX_LINE_BYTES else from_json(line) for line in lines]
        expected = [entry for entry in entries if entry is not None]
        assert list(loaded.entries) == sorted(expected, key=lambda e: e.started_at)
        assert loaded.skipped == len(lines) - len(expected)
        new = Entry(SOME_DAY, "new", 1.0, 1.0, "completed")
        append(path, new)
        assert read(path).entries.count(new) == loaded.entries.count(new) + 1


# --- The sound tools' answers -------------------------------------------------------


PW_DUMP = json.dumps([
    {"id": 0, "type": "PipeWire:Interface:Core", "info": {"version": "1.0.5"}},
    {"id": 40, "type": "PipeWire:Interface:Metadata", "props": {"metadata.name": "default"},
     "metadata": [{"subject": 0, "key": "default.audio.sink", "type": "Spa:String:JSON",
                   "value": {"name": "speaker"}}]},
    {"id": 55, "type": "PipeWire:Interface:Node",
     "info": {"props": {"media.class": "Audio/Sink", "node.name": "speaker",
                        "node.description": "Speaker"}}},
], indent=1).encode()
PACTL_SINKS = json.dumps([{"index": 55, "name": "speaker", "description": "Speaker"},
                          {"index": 81, "name": "jbl", "description": None}]).encode()
PACTL_INFO = (b"Server Name: PulseAudio (on PipeWire 1.0.5)\nServer Version: 15.0.0\n"
              b"Default Sink: speaker\n")
APLAY = b"null\n    Discard all samples\ndefault\n    Default ALSA Output\nhw:CARD=PCH,DEV=0\n"


@RUNS
@given(st.sampled_from(["pactl", "pw-dump"]), inputs([PACTL_INFO, APLAY]),
       inputs([PACTL_SINKS]), inputs([PW_DUMP], JSON_TOKENS), st.booleans())
def test_sound_tools_answers(server: str, info: bytes, sinks: bytes, dump: bytes,
                             silent: bool) -> None:
    """What pactl, pw-dump and aplay print, however wrong (decoded as ``run_tool`` does):
    a sound stack, or one DeviceError line with exit code 1; the watchdog's question is
    answered or "no answer", never an exception."""
    answers = {"info": info, "sinks": sinks, "pw-dump": dump, "aplay": info}

    def tool(command: list[str]) -> str | None:
        key = {"pactl info": "info", "pactl --format=json list sinks": "sinks",
               "pw-dump": "pw-dump", "aplay -L": "aplay",
               "pactl list short sinks": "info"}[" ".join(command)]
        if silent and key == "info":
            return None
        return answers[key].decode("utf-8", errors="replace")

    env = {"XDG_RUNTIME_DIR": "/nonexistent",
           **({"PULSE_SERVER": "x"} if server == "pactl" else {"PIPEWIRE_REMOTE": "x"})}
    with within(HANG_S):
        names = devices.sink_names(tool, env)
        assert names is None or all(isinstance(name, str) for name in names)
        try:
            found = devices.discover(tool, env)
        except DeviceError as error:
            assert error.exit_code == 1
            one_line(error, "pactl", "pw-dump")
            return
        assert isinstance(found, SoundStack)
        assert all(isinstance(o.name, str) and isinstance(o.description, str)
                   for o in found.outputs)
        list(devices.lines(found))
