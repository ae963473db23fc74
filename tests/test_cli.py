"""The command line through CliRunner: output, exit codes, and where each setting comes from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from support.soundserver import NO_DEVICE_ALSA_CONFIG, alsa_file_config
from voice_coach import paths
from voice_coach.cli import cli
from voice_coach.history import Entry, append
from voice_coach.routine import load_builtin

SEED_INSTRUCTIONS = [
    "use the bathroom", "Lie down on your back", "toward your belly button",
    "begin at the surface", "sink slowly deeper", "feel tension under your fingers",
    "first spot", "couple of deep breaths", "Each time you breathe out, sink a little deeper",
    "explore other spots between your belly button and your hip", "Find a second spot",
    "Breathe out, and sink a little deeper", "sit up slowly", "Notice your lower back",
    "minutes, hours, or even days", "why the muscle grew tight",
]


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def plan_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = invoke("plan", *args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_routines_lists_the_builtins():
    result = invoke("routines")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["box-breathing", "four-seven-eight",
                                                   "psoas-release", "resonance"]
    assert lines[0].startswith("box-breathing       5:00  Box breathing - ")
    # A fixed routine's true length, not the 2 minutes its file suggests:
    fixed = plan_json("four-seven-eight")["duration_s"]
    assert lines[1].startswith(f"four-seven-eight    1:{round(fixed) - 60:02d}  4-7-8 breathing - ")
    assert lines[2].startswith("psoas-release       7:00  Psoas release - ")


@pytest.mark.parametrize("minutes", [5, 10])
def test_plan_json_fills_the_minutes_and_keeps_every_instruction_in_order(minutes):
    document = plan_json("psoas-release", "--minutes", str(minutes))
    assert set(document) >= {"routine", "duration_s", "events"}
    assert document["routine"] == "psoas-release"
    starts = [e["start_s"] for e in document["events"] if e.get("cue") == "spot"]
    steps = {s["step"]: s["start_s"] for s in document["steps"]}
    spot_step = next(e["step"] for e in document["events"] if e.get("cue") == "spot")
    repetition_s = steps[spot_step + 1] - steps[spot_step]
    assert starts, "no spot repetitions"
    assert minutes * 60 - repetition_s < document["duration_s"] <= minutes * 60
    spoken = " ".join(e["text"] for e in document["events"] if e["kind"] == "speech")
    position = 0
    for instruction in SEED_INSTRUCTIONS:
        found = spoken.find(instruction, position)
        assert found >= 0, instruction
        position = found
    for event in document["events"]:
        assert event["kind"] in ("speech", "cue", "silence")
        assert {"start_s", "end_s", "kind", "step"} <= set(event)


def test_plan_for_people(tmp_path):
    result = invoke("plan", "four-seven-eight", "--no-caution")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "4-7-8 breathing (four-seven-eight): 1:50 with speech estimated at 140 words per minute"
    assert "   0:00.5  chime    start" in lines
    assert "step 4/9 (steps[3], repetition 1): 1 breath: in 4 s, hold 7 s, out 8 s" in lines
    assert lines[-1].strip().endswith("end")
    assert result.stderr == ""
    with_minutes = invoke("plan", "four-seven-eight", "--minutes", "5")
    assert with_minutes.stderr == ("note: four-seven-eight has a fixed length;"
                                   " --minutes does not change it\n")


def test_plan_notes_a_grown_slot_on_stderr(tmp_path):
    routine = tmp_path / "r.toml"
    routine.write_text('title = "R"\n[breath]\ninhale_s = 1\nexhale_s = 1\n'
                       '[[steps]]\nbreathe = { count = 1, exhale_prompt = "a long prompt that'
                       ' cannot fit into one second at all" }\n')
    result = invoke("plan", str(routine))
    assert result.exit_code == 0
    assert result.stderr.startswith("note: exhale grew from 1 s to ")


def test_breath_and_rate_options_shape_the_plan():
    default = plan_json("box-breathing")
    slow = plan_json("box-breathing", "--breath", "6:0:6:0")
    onsets = [e["start_sample"] for e in slow["events"] if e.get("cue") in ("inhale", "exhale")]
    assert onsets[1] - onsets[0] == 6 * 22050
    assert not any(e.get("cue") == "hold" for e in slow["events"])
    assert any(e.get("cue") == "hold" for e in default["events"])
    fast_speech = plan_json("box-breathing", "--rate", "300")
    first = next(e for e in fast_speech["events"] if e["kind"] == "speech")
    first_default = next(e for e in default["events"] if e["kind"] == "speech")
    assert first["end_s"] - first["start_s"] < first_default["end_s"] - first_default["start_s"]


def test_a_malformed_routine_file_is_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('title = "B"\n[[steps]]\nbreathe = { count = "two" }\n')
    result = invoke("plan", str(path))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {path}: steps[1].breathe.count: expected a whole number"
                             " from 1 to 100, got 'two'\n")


# --- Where a setting comes from: command line > environment > settings file > routine > default


def minutes_of(document: dict) -> float:
    return document["duration_s"] / 60


def first_onsets(document: dict) -> int:
    onsets = [e["start_sample"] for e in document["events"] if e.get("cue") in ("inhale", "exhale")]
    return onsets[1] - onsets[0]


def test_precedence_routine_over_default():
    # box-breathing says 5 minutes; the built-in default for a routine without one is 7
    assert load_builtin("box-breathing").minutes == 5
    assert 4 < minutes_of(plan_json("box-breathing")) <= 5


def test_precedence_settings_file_over_routine(tmp_path):
    assert invoke("config", "set", "minutes", "10").exit_code == 0
    assert invoke("config", "set", "breath", "5:5").exit_code == 0
    document = plan_json("box-breathing")
    assert 9 < minutes_of(document) <= 10
    assert first_onsets(document) == 5 * 22050


def test_precedence_environment_over_settings_file():
    invoke("config", "set", "minutes", "10")
    invoke("config", "set", "breath", "5:5")
    env = {"VOICE_COACH_MINUTES": "15", "VOICE_COACH_BREATH": "3:3"}
    document = plan_json("box-breathing", env=env)
    assert 14 < minutes_of(document) <= 15
    assert first_onsets(document) == 3 * 22050


def test_precedence_command_line_over_environment():
    invoke("config", "set", "minutes", "10")
    env = {"VOICE_COACH_MINUTES": "15", "VOICE_COACH_BREATH": "3:3"}
    document = plan_json("box-breathing", "--minutes", "20", "--breath", "7:7", env=env)
    assert 19 < minutes_of(document) <= 20
    assert first_onsets(document) == 7 * 22050


def test_precedence_of_the_default_routine_and_caution():
    assert plan_json()["routine"] == "psoas-release"
    invoke("config", "set", "routine", "box-breathing")
    assert plan_json()["routine"] == "box-breathing"
    assert plan_json(env={"VOICE_COACH_ROUTINE": "four-seven-eight"})["routine"] == "four-seven-eight"
    assert plan_json("psoas-release", env={"VOICE_COACH_ROUTINE": "four-seven-eight"})["routine"] \
        == "psoas-release"
    spoken = [e["text"] for e in plan_json("psoas-release")["events"] if e["kind"] == "speech"]
    assert spoken[0].startswith("A word of care")
    invoke("config", "set", "caution", "false")
    spoken = [e["text"] for e in plan_json("psoas-release")["events"] if e["kind"] == "speech"]
    assert spoken[0].startswith("One tip first")
    spoken = [e["text"] for e in plan_json("psoas-release", env={"VOICE_COACH_CAUTION": "yes"})
              ["events"] if e["kind"] == "speech"]
    assert spoken[0].startswith("A word of care")


def test_config_shows_each_value_and_its_source():
    invoke("config", "set", "rate", "130")
    result = invoke("config", env={"VOICE_COACH_VOLUME": "0.5"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "rate          130                config file" in lines
    assert "volume        0.5                VOICE_COACH_VOLUME" in lines
    assert "minutes       (the routine's)    default" in lines
    assert lines[-1].startswith("settings file: ")


def test_config_set_rejects_bad_values_and_unset_restores():
    result = invoke("config", "set", "rate", "fast")
    assert result.exit_code == 2
    assert result.stderr == "Error: rate: expected a whole number from 80 to 400, got 'fast'\n"
    assert invoke("config", "set", "rate", "130").stdout == "rate = 130\n"
    assert invoke("config", "unset", "rate").stdout == "rate unset\n"
    assert invoke("config", "unset", "rate").stdout == "rate was not set\n"


def test_a_malformed_settings_file_is_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("rate = \n")
    result = invoke("plan", env={"VOICE_COACH_CONFIG": str(path)})
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:1: invalid TOML: Invalid value\n"
    assert invoke("config", "path", env={"VOICE_COACH_CONFIG": str(path)}).stdout == f"{path}\n"


def test_config_shows_what_is_wrong_and_set_repairs_it(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('rate = "fast"\nvoice = "en-gb"\n')
    env = {"VOICE_COACH_CONFIG": str(path), "VOICE_COACH_HISTORY": "banana"}
    shown = invoke("config", env=env)
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert "rate          (invalid)          config file" in lines
    assert "voice         en-gb              config file" in lines
    assert "history       (invalid)          VOICE_COACH_HISTORY" in lines
    assert shown.stderr == (
        f"problem: {path}: rate: expected a whole number from 80 to 400, got 'fast'"
        " (repair: voice-coach config set rate VALUE, or unset rate)\n"
        "problem: VOICE_COACH_HISTORY: expected true or false, got 'banana'\n")
    assert invoke("plan", env={"VOICE_COACH_CONFIG": str(path)}).exit_code == 2
    assert invoke("config", "set", "rate", "120", env=env).stdout == "rate = 120\n"
    assert "rate          120                config file" in invoke("config", env=env).stdout
    assert invoke("plan", "--json", env={"VOICE_COACH_CONFIG": str(path)}).exit_code == 0


def test_config_shows_a_file_that_is_not_toml_and_still_runs(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("rate = \n")
    shown = invoke("config", env={"VOICE_COACH_CONFIG": str(path)})
    assert shown.exit_code == 0
    assert "rate          140                default" in shown.stdout.splitlines()
    assert shown.stderr == (f"problem: {path}:1: invalid TOML: Invalid value"
                            " (the file is ignored here; fix it in an editor)\n")


def test_config_set_routine_must_exist_and_a_path_is_kept_absolute(tmp_path, monkeypatch):
    result = invoke("config", "set", "routine", "nope")
    assert (result.exit_code, result.stderr) == (2, (
        "Error: unknown routine 'nope'; built-in routines: box-breathing, four-seven-eight,"
        " psoas-release, resonance\n"))
    monkeypatch.chdir(tmp_path)
    assert invoke("new", "evening").exit_code == 0
    assert invoke("config", "set", "routine", "evening.toml").stdout == (
        f"routine = {tmp_path / 'evening.toml'}\n")
    monkeypatch.chdir("/")
    assert plan_json()["routine"] == "evening"
    assert invoke("config", "set", "routine", "box-breathing").stdout == (
        "routine = box-breathing\n")


def test_check_uses_the_rate_in_effect(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('title = "R"\n[[steps]]\nsay = "One two three four five six."\n')
    assert " at 140 words per minute" in invoke("check", str(path)).stdout
    invoke("config", "set", "rate", "130")
    assert " at 130 words per minute" in invoke("check", str(path)).stdout
    assert " at 90 words per minute" in invoke(
        "check", str(path), env={"VOICE_COACH_RATE": "90"}).stdout
    assert " at 200 words per minute" in invoke(
        "check", str(path), "--rate", "200", env={"VOICE_COACH_RATE": "90"}).stdout


@pytest.mark.parametrize("command", ["plan", "play", "export", "check"])
def test_the_setting_options_are_the_settings_table(command):
    """Each option that is a setting comes from config.SETTINGS, with its names and range."""
    from voice_coach.config import SETTINGS

    params = {p.name: p for p in cli.commands[command].params}
    for key, spec in SETTINGS.items():
        if command not in spec.commands:
            assert key not in params or key == "routine"
            continue
        option = params[key]
        assert option.opts + option.secondary_opts == (
            spec.option.split("/")[:1] + ([spec.short] if spec.short else [])
            + spec.option.split("/")[1:])
        assert option.envvar is None and option.default is None
        assert spec.help in option.help
        if spec.kind in ("int", "float"):
            assert (option.type.min, option.type.max) == (spec.low, spec.high)


# --- Authoring


def test_new_then_check_then_plan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("new", "neck-release")
    assert result.exit_code == 0
    path = tmp_path / "neck-release.toml"
    assert result.stdout == f"Wrote {path}; check it with: voice-coach check {path}\n"
    checked = invoke("check", str(path))
    assert checked.exit_code == 0
    assert checked.stdout.startswith(f"{path}: ok - Neck release (neck-release), about 6:00 ")
    document = plan_json(str(path))
    assert document["routine"] == "neck-release"
    assert minutes_of(document) == 6  # the template's minutes, filled exactly
    again = invoke("new", "neck-release")
    assert again.exit_code == 1
    assert again.stderr == f"Error: {path} already exists; use --force to replace it\n"
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())


def test_a_user_routine_is_found_by_id(tmp_path):
    folder = tmp_path / "mine"
    env = {"VOICE_COACH_ROUTINES_DIR": str(folder)}
    assert invoke("new", "evening", "--user", env=env).exit_code == 0
    assert (folder / "evening.toml").is_file()
    assert "evening             6:00  Evening - " in invoke("routines", env=env).stdout
    assert plan_json("evening", env=env)["routine"] == "evening"
    result = invoke("plan", "morning", env=env)
    assert result.stderr == ("Error: unknown routine 'morning'; built-in routines: box-breathing,"
                             " four-seven-eight, psoas-release, resonance; yours: evening\n")


# --- History and doctor


def test_history_totals_and_streak():
    path = paths.history_file()
    now = datetime.now(UTC)
    for days_ago, played_s, outcome in ((2, 420.0, "completed"), (1, 300.0, "stopped"),
                                        (0, 600.0, "completed")):
        append(path, Entry(now - timedelta(days=days_ago), "psoas-release", 7.0, played_s, outcome))
    result = invoke("history")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[-1] == "3 sessions, 22 minutes in all; streak: 3 days"
    assert lines[0].endswith("psoas-release    7 min  completed")
    assert lines[1].endswith("psoas-release    5 min  stopped")


def test_history_when_empty():
    assert invoke("history").stdout == "No sessions recorded yet.\n"


def run_doctor(tmp_path: Path, alsa_config: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "asound.conf"
    config.write_text(alsa_config)
    env = {**os.environ, "ALSA_CONFIG_PATH": str(config)}
    return subprocess.run([sys.executable, "-m", "voice_coach", "doctor"], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.engine
def test_doctor_with_a_sound_device(tmp_path):
    result = run_doctor(tmp_path, alsa_file_config(tmp_path / "out.raw"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    python = "Python {}.{}".format(*sys.version_info[:2])
    assert lines[0] == f"ok    sound library: simpleaudio-patched 1.0.5 on {python}"
    assert lines[1].startswith("ok    speech engine: ")
    assert lines[2].startswith("ok    voices: ")
    assert lines[3] == ("ok    sound stack: bare ALSA (no sound server answered); default"
                        " output: default (ALSA's default device)")
    assert lines[4] == "ok    sound device: the default device played a silent test"
    assert sum(line.startswith("ok    media controls: ") for line in lines) == 1
    assert sum(line.startswith("ok    staying awake: ") for line in lines) == 1
    assert "ok    headset buttons: the default output is not a Bluetooth device" in lines
    assert lines[-1] == "Everything needed for a session works."
    assert result.stderr == ""


@pytest.mark.engine
def test_doctor_without_a_sound_device(tmp_path):
    result = run_doctor(tmp_path, NO_DEVICE_ALSA_CONFIG)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[4] == ("FAIL  sound device: no sound device could be opened (ALSA: No such file or"
                        " directory); 'voice-coach export' writes the session to WAV without one")
    assert lines[5].startswith("      fix: ")
    assert result.stderr == "Error: 1 of 14 checks failed\n"


# --- Conventions


def every_command(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[
        tuple[str, ...]]:
    """Every command and subcommand, found by walking the Click tree."""
    yield path
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))
        else:
            yield (*path, name)


COMMANDS = list(every_command())


def test_every_command_is_found():
    assert {" ".join(c) for c in COMMANDS} >= {
        "", "routines", "plan", "export", "play", "voices", "config", "config set",
        "config unset", "config path", "doctor", "history", "new", "check"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "voice-coach")
def test_every_command_has_help_with_an_example(command):
    result = invoke(*command, "-h")
    assert (result.exit_code, result.stderr) == (0, "")
    name = " ".join(("voice-coach", *command))
    assert result.stdout.startswith(f"Usage: {name} ")
    assert "Example" in result.stdout
    assert f"  {name}" in result.stdout.split("Example", 1)[1]


def test_long_help_is_the_same_help():
    assert invoke("play", "--help").stdout == invoke("play", "-h").stdout


def test_version():
    result = invoke("--version")
    assert result.stdout == "voice-coach, version 0.1.0\n"


def test_an_ambiguous_routine_name_is_a_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "box-breathing").mkdir()
    result = invoke("plan", "box-breathing", "--json")
    assert json.loads(result.stdout)["routine"] == "box-breathing"
    assert result.stderr == ("note: 'box-breathing' is the built-in routine, not the folder"
                             " here; for the folder, write ./box-breathing\n")
