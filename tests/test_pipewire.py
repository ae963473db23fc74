"""PipeWire, as most Linux desktops now run it, for real: a private server in the suite.

``support.soundserver.PipeWireServer`` starts ``pipewire`` (a null sink at the session
format), WirePlumber and ``pipewire-pulse``; ALSA programs reach it through ALSA's pulse
plugin, as on a desktop that routes ALSA to PipeWire. The whole-session check is the one the
PulseAudio run uses (``tests.test_play_e2e.assert_heard_whole``), on the same 22-second
routine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from support.audio import noise
from support.pausing import pause_and_resume
from support.soundserver import SoundServer, run_python
from tests.test_play_e2e import SHORT, assert_heard_whole, export, voice_coach

pytest_plugins = ["support.fixtures"]
pytestmark = [pytest.mark.sound, pytest.mark.one_python, pytest.mark.timed]


def test_the_server_is_pipewire_and_alsa_plays_through_it(pipewire_server: SoundServer) -> None:
    info = pipewire_server.pactl("info").stdout

    assert "Server Name: PulseAudio (on PipeWire " in info
    assert "Default Sink: vc\n" in info


def test_a_whole_session_through_pipewire_has_every_cue_on_time(
        pipewire_server: SoundServer, tmp_path: Path) -> None:
    session, timeline = export(tmp_path / "export", SHORT, "--no-caution")

    with pipewire_server.recording() as recording:
        child = voice_coach("play", SHORT, "--no-caution", "--quiet", env=pipewire_server.env,
                            timeout=timeline["duration_s"] + 60)

    assert (child.returncode, child.stdout, child.stderr) == (0, "", "")
    assert_heard_whole(recording.samples, session, timeline, cues=8)


def test_devices_finds_pipewire_through_pw_dump_without_pactl(
        pipewire_server: SoundServer, tmp_path: Path) -> None:
    """A PipeWire desktop without the pulse tools: pw-dump alone names the sinks."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pactl").symlink_to("/bin/false")
    child = voice_coach("devices", "--json",
                        env={**pipewire_server.env, "PATH": f"{bin_dir}:/usr/bin:/bin"})

    assert (child.returncode, child.stderr) == (0, "")
    found = json.loads(child.stdout)
    assert (found["stack"], found["outputs"]) == ("PipeWire", [
        {"name": "vc", "description": "Voice coach test sink", "default": True}])
    assert found["version"][0].isdigit()


def test_doctor_names_the_stack_and_its_default_output(pipewire_server: SoundServer) -> None:
    child = run_python("""\
        from voice_coach.doctor import check_sound_stack
        check = check_sound_stack()
        print(check.ok, check.detail)
        """, pipewire_server.env)

    version = pipewire_server.pactl("info").stdout.split("on PipeWire ")[1].split(")")[0]
    assert (child.returncode, child.stderr) == (0, "")
    assert child.stdout == (f"True PipeWire {version}; default output: vc"
                            " (Voice coach test sink)\n")


def test_doctor_names_pulseaudio_too(sound_server: SoundServer) -> None:
    child = run_python("""\
        from voice_coach.doctor import check_sound_stack
        check = check_sound_stack()
        print(check.ok, check.detail)
        """, sound_server.env)

    version = sound_server.pactl("info").stdout.split("Server Version: ")[1].split("\n")[0]
    assert (child.returncode, child.stderr) == (0, "")
    assert child.stdout == f"True PulseAudio {version}; default output: vc (Null Output)\n"


def test_simpleaudio_through_pipewire_plays_the_samples_exactly(
        pipewire_server: SoundServer) -> None:
    """Sample for sample: the pulse plugin, pipewire-pulse and the float graph change nothing."""
    with pipewire_server.recording() as recording:
        child = run_python("""\
            import time
            import numpy as np
            from voice_coach.player import SimpleaudioDevice
            device = SimpleaudioDevice()
            device.start((np.arange(44_100) * 7 % 60_001 - 30_000).astype(np.int16), 0)
            while device.is_playing():
                time.sleep(0.01)
            device.close()
            """, pipewire_server.env)
    expected = (np.arange(44_100) * 7 % 60_001 - 30_000).astype(np.int16)

    assert (child.returncode, child.stderr) == (0, "")
    heard = recording.samples
    first = int(np.flatnonzero(heard)[0])
    lost = int(np.flatnonzero(expected == heard[first])[0])
    print(f"lost the first {lost} samples of the stream")
    assert lost < 0.1 * 22050
    assert np.array_equal(heard[first : first + len(expected) - lost], expected[lost:])


def test_a_pause_through_pipewire_drops_what_it_holds_and_resumes_where_the_sound_stopped(
        pipewire_server: SoundServer, tmp_path: Path) -> None:
    """The drop discards what pipewire-pulse holds; the resume starts where its delay figure
    says the sound stopped. It flushes at the end of a graph cycle (1,024 samples) and that
    figure runs ahead of it, so some of what was heard comes again: 10 ms at the median and
    30 ms at worst in 20 pauses (benchmark section 10); never anything skipped."""
    session = noise(3.0, seed=12)

    play = pause_and_resume(pipewire_server, session, tmp_path)

    print(f"stopped at {play.stopped}, {play.dropped / 22.05:.0f} ms dropped; resumed at"
          f" {play.resumed}: {(play.resumed - play.stopped) / 22.05:.1f} ms")
    assert play.dropped >= 0.1 * 22050
    assert -0.05 * 22050 <= play.resumed - play.stopped <= 0.003 * 22050
    assert play.ended == len(session)
