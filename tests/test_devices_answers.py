"""What the sound tools answer, however wrong: one line and exit 1 (the machine's fault,
not the person's), never a traceback, a hang or an answer read without end.

The tools are real programs: small scripts put first on PATH in place of pactl and
pw-dump, which print what a broken or hostile tool could. No sound server is started.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from voice_coach import devices
from voice_coach.cli import cli
from voice_coach.devices import DeviceError, Output, ToolAnswerError
from voice_coach.doctor import check_sound_stack

pytestmark = pytest.mark.waiting

PACTL_INFO = "Server Name: PulseAudio (on PipeWire 1.0.5)\nDefault Sink: vc\n"


def fake_tool(folder: Path, name: str, script: str) -> None:
    """``name`` on PATH: a Python script (``sys`` imported) whose output is the answer."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys\n{script}\n")
    path.chmod(0o755)


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder first on PATH, and a pulse server said to listen (so pactl is asked)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULSE_SERVER", "unix:/nowhere")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return folder


def answer_error(parse: object, text: str) -> str:
    with pytest.raises(ToolAnswerError) as caught:
        parse(text)  # type: ignore[operator]
    assert isinstance(caught.value, DeviceError) and caught.value.exit_code == 1
    return str(caught.value)


# --- Parsing ------------------------------------------------------------------------


NOT_JSON = "gave an answer that is not JSON (Expecting value: line 1 column 1 (char 0))"
UNREADABLE = "gave an answer voice-coach cannot read (not the JSON it prints)"


@pytest.mark.parametrize(("text", "reason"), [
    ("", NOT_JSON),
    ("Failure: Connection refused", NOT_JSON),
    ('{"name": "vc"}', UNREADABLE),
    ('[{"description": "no name"}]', UNREADABLE),
    ('[{"name": 5}]', UNREADABLE),
    ('[{"name": "vc", "description": ["a"]}]', UNREADABLE),
    ("[1, 2]", UNREADABLE),
    ("[" * 100_000 + "]" * 100_000, UNREADABLE),
    ('[{"name": ' + "9" * 5000 + "}]", UNREADABLE),
], ids=["empty", "an error message", "an object", "no name", "a number for a name",
        "a list for a description", "numbers", "nested 100,000 deep", "5,000 digits"])
def test_pactl_sinks_that_are_not_sinks(text: str, reason: str) -> None:
    assert answer_error(lambda t: devices.parse_pactl_sinks(t, None), text) == (
        f"pactl --format=json list sinks {reason}")


@pytest.mark.parametrize(("text", "reason"), [
    ("{", "gave an answer that is not JSON (Expecting property name enclosed in double"
          " quotes: line 1 column 2 (char 1))"),
    ('{"type": "PipeWire:Interface:Core"}', UNREADABLE),
    ('[{"type": "PipeWire:Interface:Core", "info": "1.0"}]', UNREADABLE),
    ('[{"info": {"props": {"media.class": "Audio/Sink", "node.name": ["x"]}}}]', UNREADABLE),
    ('[{"type": "PipeWire:Interface:Metadata", "props": {"metadata.name": "default"},'
     ' "metadata": [1]}]', UNREADABLE),
    ("[" * 100_000 + "]" * 100_000, UNREADABLE),
])
def test_pw_dumps_that_are_not_objects(text: str, reason: str) -> None:
    assert answer_error(devices.parse_pw_dump, text) == f"pw-dump {reason}"


def test_what_the_tools_print_is_read_as_before() -> None:
    dump = ('[{"type": "PipeWire:Interface:Core", "info": {"version": "1.0.5"}},'
            ' {"info": null}, {"info": {"props": {"media.class": "Audio/Sink",'
            ' "node.name": "vc", "node.description": ""}}}]')
    assert devices.parse_pw_dump(dump) == ("1.0.5", (Output("vc", "vc"),))
    assert devices.parse_pactl_sinks('[{"name": "vc", "description": null}]', "vc") == (
        Output("vc", "vc", True),)


def test_the_watchdog_reads_an_unreadable_dump_as_no_answer() -> None:
    listening = {"PIPEWIRE_REMOTE": "pipewire-0"}
    assert devices.sink_names(lambda command: "[1]", listening) is None
    assert devices.sink_names(lambda command: "[]", listening) == ()


# --- The tools, for real ------------------------------------------------------------


def test_an_answer_that_is_not_utf8_is_read_with_replacements(tools: Path) -> None:
    fake_tool(tools, "pactl", 'sys.stdout.buffer.write(b"Server Name: caf\\xe9\\r\\nx\\r")')
    assert devices.run_tool(["pactl", "info"]) == "Server Name: caf\ufffd\nx\n"


def test_an_answer_without_end_is_no_answer(tools: Path) -> None:
    fake_tool(tools, "pw-dump", 'while True:\n    sys.stdout.buffer.write(b"[" * 65536)')
    started = time.monotonic()
    assert devices.run_tool(["pw-dump"]) is None
    assert time.monotonic() - started < devices.ANSWER_TIMEOUT_S + 1.0


def test_a_tool_that_never_answers_is_no_answer(tools: Path) -> None:
    fake_tool(tools, "pactl", "import time\ntime.sleep(60)")
    started = time.monotonic()
    assert devices.run_tool(["pactl", "info"]) is None
    assert time.monotonic() - started < devices.ANSWER_TIMEOUT_S + 1.0


def test_devices_with_a_broken_pactl_is_one_line_and_exit_1(tools: Path) -> None:
    fake_tool(tools, "pactl", f"""\
if sys.argv[1] == "info":
    print({PACTL_INFO!r}, end="")
else:
    sys.stdout.buffer.write(b"\\xff\\xfe garbage")""")
    result = CliRunner().invoke(cli, ["devices"], catch_exceptions=False)
    assert (result.exit_code, result.stderr, result.stdout) == (
        1, "Error: pactl --format=json list sinks gave an answer that is not JSON"
           " (Expecting value: line 1 column 1 (char 0))\n", "")
    assert check_sound_stack().detail == (
        "pactl --format=json list sinks gave an answer that is not JSON"
        " (Expecting value: line 1 column 1 (char 0))")
