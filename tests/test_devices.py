"""Sound outputs: what ``devices`` lists, and ``play --device`` playing there, for real.

The parsers get literal text as the tools print it. The rest runs the installed command
against a private PulseAudio and a private PipeWire (``support.soundserver``), each given a
second null sink, recording both sinks; and against bare ALSA, whose outputs are PCMs an
ALSA configuration defines, each writing into a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from support.processes import end_process
from support.soundserver import PipeWireServer, SoundServer, run_python
from tests.test_play_e2e import (
    ONE_BREATH,
    SHORT,
    VOICE_COACH,
    child_env,
    history_entries,
    voice_coach,
)
from voice_coach import devices
from voice_coach.devices import DeviceError, Output, Route, SoundStack
from voice_coach.player import LOST_WITHIN_S

pytestmark = [pytest.mark.one_python, pytest.mark.waiting]

pytest_plugins = ["support.fixtures"]

SECOND: Final = "vc-second"
DEVICE_LOST: Final = f"Error: the sound output '{SECOND}' went away; the session stopped\n"
SERVER_LOST: Final = "Error: the sound server stopped; the session stopped\n"
LOUD: Final = 5000


# --- Parsing what the tools print ------------------------------------------------------


PACTL_INFO: Final = """\
Server String: /run/user/1000/pulse/native
Library Protocol Version: 35
Server Protocol Version: 35
Is Local: yes
Server Name: PulseAudio (on PipeWire 0.3.65)
Server Version: 15.0.0
Default Sink: alsa_output.pci-0000_00_1f.3.analog-stereo
Default Source: alsa_input.pci-0000_00_1f.3.analog-stereo
"""
PACTL_SINKS: Final = json.dumps([
    {"index": 55, "state": "SUSPENDED", "name": "alsa_output.pci-0000_00_1f.3.analog-stereo",
     "description": "Built-in Audio Analog Stereo", "driver": "PipeWire"},
    {"index": 81, "state": "RUNNING", "name": "bluez_output.00_11_22_33_44_55.1",
     "description": "JBL Flip 5", "driver": "PipeWire"},
])


def test_pactl_info_gives_the_server_and_its_default_sink() -> None:
    assert devices.parse_pactl_info(PACTL_INFO) == (
        "PipeWire", "0.3.65", "alsa_output.pci-0000_00_1f.3.analog-stereo")
    assert devices.parse_pactl_info("Server Name: pulseaudio\nServer Version: 16.1\n"
                                    "Default Sink: @DEFAULT_SINK@\n") == ("PulseAudio", "16.1", None)


def test_pactl_sinks_are_outputs_with_the_default_marked() -> None:
    assert devices.parse_pactl_sinks(PACTL_SINKS, "bluez_output.00_11_22_33_44_55.1") == (
        Output("alsa_output.pci-0000_00_1f.3.analog-stereo", "Built-in Audio Analog Stereo"),
        Output("bluez_output.00_11_22_33_44_55.1", "JBL Flip 5", default=True),
    )


def test_pw_dump_gives_the_audio_sinks_and_the_default_metadata() -> None:
    dump = json.dumps([
        {"id": 0, "type": "PipeWire:Interface:Core", "info": {"version": "0.3.65", "props": {}}},
        {"id": 31, "type": "PipeWire:Interface:Node", "info": {"props": {
            "media.class": "Audio/Sink", "node.name": "speaker", "node.description": "Speaker"}}},
        {"id": 32, "type": "PipeWire:Interface:Node", "info": {"props": {
            "media.class": "Audio/Source", "node.name": "mic", "node.description": "Mic"}}},
        {"id": 33, "type": "PipeWire:Interface:Node", "info": {"props": {
            "media.class": "Audio/Sink", "node.name": "hdmi"}}},
        {"id": 40, "type": "PipeWire:Interface:Metadata", "props": {"metadata.name": "default"},
         "metadata": [{"subject": 0, "key": "default.audio.sink", "type": "Spa:String:JSON",
                       "value": {"name": "hdmi"}}]},
    ])
    assert devices.parse_pw_dump(dump) == ("0.3.65", (Output("speaker", "Speaker"),
                                                      Output("hdmi", "hdmi", default=True)))


def test_aplay_list_gives_pcms_and_cards_default_first_without_converters() -> None:
    listing = ("null\n    Discard all samples (playback) or generate zero samples (capture)\n"
               "samplerate\n    Rate Converter Plugin Using Samplerate Library\n"
               "hw:CARD=PCH,DEV=0\n    HDA Intel PCH, ALC3246 Analog\n    Direct hardware device"
               " without any conversions\n"
               "sysdefault:CARD=PCH\n    HDA Intel PCH, ALC3246 Analog\n"
               "speaker_b\n    Speaker B\n")
    assert devices.parse_aplay_list(listing) == (
        Output("default", "ALSA's default device", default=True),
        Output("hw:CARD=PCH,DEV=0", "HDA Intel PCH, ALC3246 Analog, Direct hardware device"
                                    " without any conversions"),
        Output("speaker_b", "Speaker B"),
    )


SERVER: Final = SoundStack("PipeWire", "0.3.65",
                           (Output("speaker", "Speaker", True), Output("jbl", "JBL Flip 5")))
ALSA: Final = SoundStack("ALSA", "", (Output("default", "ALSA's default device", True),
                                      Output("hw:CARD=PCH,DEV=0", "HDA Intel PCH")))


def test_a_server_sink_is_reached_through_the_pulse_and_pipewire_plugins() -> None:
    assert devices.route(SERVER, "jbl") == Route(
        "PipeWire", "jbl", {"PULSE_SINK": "jbl", "PIPEWIRE_NODE": "jbl"})
    assert devices.route(SERVER, None) == Route("PipeWire")


def test_an_alsa_pcm_is_reached_through_a_config_that_includes_the_one_in_force() -> None:
    chosen = devices.route(ALSA, "hw:CARD=PCH,DEV=0", "/home/me/asound.conf")
    assert chosen == Route("ALSA", "hw:CARD=PCH,DEV=0", alsa_config=(
        '</home/me/asound.conf>\npcm.!default { type plug; slave.pcm "hw:CARD=PCH,DEV=0" }\n'))
    assert devices.route(ALSA, "default") == Route("ALSA")


def test_an_unknown_output_names_the_ones_that_exist() -> None:
    with pytest.raises(DeviceError) as raised:
        devices.route(SERVER, "bluetooth")
    assert str(raised.value) == ("no sound output named 'bluetooth'; the outputs here are:"
                                 " speaker, jbl (see 'voice-coach devices')")
    assert raised.value.exit_code == 2


def test_a_session_stops_when_its_sink_or_server_is_gone_not_when_the_default_moves() -> None:
    assert devices.watch_problem(("speaker", "jbl"), "jbl") is None
    assert devices.watch_problem(("speaker",), None) is None
    assert devices.watch_problem(("speaker",), "jbl") == (
        "the sound output 'jbl' went away; the session stopped")
    assert devices.watch_problem(None, None) == "the sound server stopped; the session stopped"


def test_the_listing_marks_the_default_and_says_the_stack() -> None:
    assert list(devices.lines(SERVER)) == [
        "PipeWire 0.3.65; default output: speaker (Speaker)",
        "* speaker  Speaker",
        "  jbl      JBL Flip 5",
    ]
    assert devices.describe(ALSA) == ("bare ALSA (no sound server answered); default output:"
                                      " default (ALSA's default device)")


def test_no_server_is_asked_where_none_listens(tmp_path: Path) -> None:
    """pactl with no server to talk to may start PulseAudio: it must not even be run."""
    asked: list[list[str]] = []

    def nothing_answers(command: list[str]) -> str | None:
        asked.append(command)
        return None

    nowhere = {"XDG_RUNTIME_DIR": str(tmp_path)}
    assert devices.choose(None, nothing_answers, nowhere) == devices.DEFAULT_ROUTE
    assert devices.sink_names(nothing_answers, nowhere) is None
    assert asked == []
    with pytest.raises(DeviceError, match=r"^no sound output named 'x'; the outputs here"
                                          r" are: default \(see"):
        devices.choose("x", nothing_answers, nowhere)
    assert asked == [["aplay", "-L"]]


def test_the_default_route_asks_the_server_only_whether_it_answers(tmp_path: Path) -> None:
    asked: list[list[str]] = []

    def pipewire_answers(command: list[str]) -> str | None:
        asked.append(command)
        return PACTL_INFO

    listening = {"PULSE_SERVER": "unix:/somewhere", "XDG_RUNTIME_DIR": str(tmp_path)}
    assert devices.choose(None, pipewire_answers, listening) == Route("PipeWire")
    assert asked == [["pactl", "info"]]


def test_a_listing_tool_runs_out_of_reach_of_the_terminals_ctrl_c() -> None:
    # Ctrl-C signals the terminal's whole foreground group: a pactl in it would die and
    # read as a sound server that stopped, where the person asked to stop.
    answer = devices.run_tool([sys.executable, "-c",
                               "import os; print(os.getsid(0), os.getpgrp())"])

    assert answer is not None
    session_id, group_id = (int(field) for field in answer.split())
    assert session_id == group_id != os.getsid(0)
    assert group_id != os.getpgrp()


# --- Real servers ------------------------------------------------------------------------


@pytest.fixture(params=["PulseAudio", "PipeWire"])
def server(request: pytest.FixtureRequest) -> Iterator[SoundServer]:
    """Each sound server, with a second sink ``vc-second`` for the test's duration."""
    name = "sound_server" if request.param == "PulseAudio" else "pipewire_server"
    found: SoundServer = request.getfixturevalue(name)
    module = found.add_sink(SECOND, "Second speaker")
    try:
        yield found
    finally:
        if SECOND in found.pactl("list", "short", "sinks").stdout:
            found.remove_sink(module)


@pytest.mark.sound
def test_devices_lists_the_sinks_with_the_default_marked(server: SoundServer) -> None:
    listed = voice_coach("devices", "--json", env=server.env)
    shown = voice_coach("devices", env=server.env)

    assert (listed.returncode, listed.stderr) == (0, "")
    found = json.loads(listed.stdout)
    assert found["stack"] == server.label
    assert found["outputs"] == [
        {"name": "vc", "description": found["outputs"][0]["description"], "default": True},
        {"name": SECOND, "description": "Second speaker", "default": False},
    ]
    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout.splitlines()[1:] == [
        f"* vc         {found['outputs'][0]['description']}",
        f"  {SECOND}  Second speaker",
    ]
    assert shown.stdout.startswith(f"{server.label} {found['version']}; default output: vc (")
    assert found["version"][0].isdigit()


@pytest.mark.sound
def test_play_on_a_chosen_sink_leaves_the_default_silent(server: SoundServer) -> None:
    with server.recording() as default, server.recording(sink=SECOND) as second:
        child = voice_coach("play", ONE_BREATH, "--no-caution", "--quiet", "--device", SECOND,
                            env=server.env, timeout=90)

    assert (child.returncode, child.stdout, child.stderr) == (0, "", "")
    loudest = np.abs(second.samples.astype(np.int32)).max()
    print(f"{server.label}: second sink peak {loudest}, default sink peak"
          f" {np.abs(default.samples.astype(np.int32)).max()}")
    assert loudest > LOUD
    assert not default.samples.any()
    assert [e["outcome"] for e in history_entries()] == ["completed"]


@pytest.mark.sound
def test_an_unknown_device_is_one_line_listing_what_exists(server: SoundServer) -> None:
    child = voice_coach("play", SHORT, "--device", "bluetooth", env=server.env)

    assert (child.returncode, child.stdout) == (2, "")
    assert child.stderr == ("Error: no sound output named 'bluetooth'; the outputs here are:"
                            f" vc, {SECOND} (see 'voice-coach devices')\n")
    assert history_entries() == []


def sounding(recording_path: Path) -> bool:
    """Whether a recording in progress has anything loud in it yet."""
    samples = np.fromfile(recording_path, dtype="<i2")
    return bool(len(samples)) and int(np.abs(samples.astype(np.int32)).max()) > LOUD


def play_until_heard(server: SoundServer, recording_path: Path, *args: str,
                     env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``play ARGS`` through ``server``; return once the recording hears it."""
    child = subprocess.Popen([str(VOICE_COACH), "play", SHORT, "--no-caution", "--quiet", *args],
                             env=child_env({**server.env, **(env or {})}),
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not sounding(recording_path):
        if child.poll() is not None or time.monotonic() > deadline:
            end_process(child)
            pytest.fail(f"play was not heard: {child.communicate()}", pytrace=False)
        time.sleep(0.05)
    return child


def ended_within(child: subprocess.Popen[str], since: float) -> tuple[float, str, str]:
    try:
        stdout, stderr = child.communicate(timeout=30)
    finally:
        end_process(child)
    return time.monotonic() - since, stdout, stderr


@pytest.mark.sound
def test_the_device_setting_chooses_the_sink_too(server: SoundServer) -> None:
    with server.recording() as default, server.recording(sink=SECOND) as second:
        child = play_until_heard(server, second.path, env={"VOICE_COACH_DEVICE": SECOND})
        time.sleep(1.0)
        child.terminate()
        _, stdout, stderr = ended_within(child, time.monotonic())

    assert (child.returncode, stdout, stderr) == (130, "", "Error: interrupted\n")
    assert not default.samples.any()


@pytest.mark.sound
def test_a_chosen_sink_that_goes_away_stops_the_session(server: SoundServer) -> None:
    module = int(next(line.split("\t")[0] for line in
                      server.pactl("list", "short", "modules").stdout.splitlines()
                      if f"sink_name={SECOND}" in line))
    with server.recording(sink=SECOND) as second:
        child = play_until_heard(server, second.path, "--device", SECOND)
        time.sleep(1.0)
        server.remove_sink(module)
        took, stdout, stderr = ended_within(child, time.monotonic())

    print(f"{server.label}: stopped {took:.2f} s after the sink went away")
    assert (child.returncode, stdout, stderr) == (1, "", DEVICE_LOST)
    assert took <= LOST_WITHIN_S <= 3.0
    assert [e["outcome"] for e in history_entries()] == ["stopped"]


@pytest.mark.sound
@pytest.mark.parametrize("kind", [SoundServer, PipeWireServer], ids=["PulseAudio", "PipeWire"])
def test_a_sound_server_that_dies_stops_the_session(tmp_path: Path,
                                                    kind: type[SoundServer]) -> None:
    server = kind(tmp_path / "server")
    server.root.mkdir()
    try:
        server.start()
        with server.recording() as heard:
            child = play_until_heard(server, heard.path)
            time.sleep(1.0)
            server.crash()
            took, stdout, stderr = ended_within(child, time.monotonic())
    finally:
        server.close()

    print(f"{server.label}: stopped {took:.2f} s after the server died")
    assert (child.returncode, stdout, stderr) == (1, "", SERVER_LOST)
    assert took <= LOST_WITHIN_S <= 3.0
    assert [e["outcome"] for e in history_entries()] == ["stopped"]


# --- Bare ALSA ----------------------------------------------------------------------------


def alsa_with_two_outputs(folder: Path) -> dict[str, str]:
    """No server answers; ALSA has two PCMs, ``speaker_a`` (the default) and ``speaker_b``."""
    config = folder / "asound.conf"
    pcms = "".join(
        f'pcm.speaker_{x} {{ type file; slave.pcm {{ type null }}; file "{folder}/{x}.raw";'
        f' format "raw" hint {{ show on; description "Speaker {x.upper()}" }} }}\n'
        for x in "ab")
    config.write_text(pcms + 'pcm.!default { type plug; slave.pcm "speaker_a" }\n')
    (folder / "run").mkdir()
    return {"ALSA_CONFIG_PATH": str(config), "PULSE_SERVER": f"unix:{folder}/no-server",
            "XDG_RUNTIME_DIR": str(folder / "run")}


@pytest.mark.sound
def test_without_a_server_devices_lists_alsa_pcms(tmp_path: Path) -> None:
    listed = voice_coach("devices", "--json", env=alsa_with_two_outputs(tmp_path))

    assert (listed.returncode, listed.stderr) == (0, "")
    assert json.loads(listed.stdout) == {"stack": "ALSA", "version": "", "outputs": [
        {"name": "default", "description": "ALSA's default device", "default": True},
        {"name": "speaker_a", "description": "Speaker A", "default": False},
        {"name": "speaker_b", "description": "Speaker B", "default": False},
    ]}


@pytest.mark.sound
def test_without_a_server_play_device_plays_on_that_pcm(tmp_path: Path) -> None:
    env = alsa_with_two_outputs(tmp_path)
    child = run_python("""\
        import time
        import numpy as np
        from voice_coach import devices
        from voice_coach.player import SimpleaudioDevice
        device = SimpleaudioDevice(route=devices.choose("speaker_b"))
        device.start(np.arange(1, 22051, dtype=np.int16), 0)
        while device.is_playing():
            time.sleep(0.01)
        device.close()
        """, env)

    assert (child.returncode, child.stdout, child.stderr) == (0, "", "")
    played = np.fromfile(tmp_path / "b.raw", dtype="<i2")
    assert np.array_equal(played, np.arange(1, 22051, dtype=np.int16))
    assert not (tmp_path / "a.raw").exists()


@pytest.mark.sound
def test_without_a_server_an_unknown_device_lists_the_pcms(tmp_path: Path) -> None:
    child = voice_coach("play", SHORT, "--device", "hdmi", env=alsa_with_two_outputs(tmp_path))

    assert (child.returncode, child.stdout) == (2, "")
    assert child.stderr == ("Error: no sound output named 'hdmi'; the outputs here are:"
                            " default, speaker_a, speaker_b (see 'voice-coach devices')\n")
