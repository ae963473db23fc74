"""Speech: the real espeak-ng through pyttsx3, and fakes for the faults we cannot cause."""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
import sys
import threading
import wave
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from voice_coach.cache import ClipCache
from voice_coach.engines.pyttsx3_backend import (
    ForkingBackend,
    SynthJob,
    SynthReport,
)
from voice_coach.engines.pyttsx3_engine import CHECK_EVERY, Pyttsx3Engine, open_engine
from voice_coach.mix import Clips, Levels, Mixer, apply_gain
from voice_coach.pcm import SAMPLE_RATE, Samples, decode_audio
from voice_coach.speech import (
    SpeechError,
    SpeechSettings,
    VoiceInfo,
    render_clips,
    resolve_voice,
    speakable_text,
)
from voice_coach.timeline import Event, Timeline

LINES = (
    "Breathe in.",
    "Let your shoulders drop and soften. Notice the weight of your arms. Good.",
    "5 slow breaths, then rest; 10 seconds — or more, if you like?",
    "Now slowly roll your head to the left, and hold it there for a moment, feeling the"
    " stretch along the right side of your neck. Then come back to the centre.",
)


def espeak_reference(text: str, rate_wpm: int, voice: str | None, tmp_path: Path) -> Samples:
    """What the espeak-ng command line writes for the same text, rate and voice."""
    path = tmp_path / f"ref-{hashlib.sha256(f'{text}|{rate_wpm}|{voice}'.encode()).hexdigest()}.wav"
    voice_args = ["-v", voice] if voice else []
    subprocess.run(["espeak-ng", "-s", str(rate_wpm), *voice_args, "-w", str(path), text],
                   check=True, capture_output=True)
    return decode_audio(path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def engine() -> Iterator[Pyttsx3Engine]:
    with open_engine() as opened:
        yield opened


# --- Pure parts -------------------------------------------------------------------------


def test_speakable_text_removes_control_characters_and_keeps_markup() -> None:
    assert speakable_text("Relax\x01 50S\tnow\n") == "Relax 50S now"
    assert speakable_text("a\x00b\x1bc\x7fd\ud800e") == "a b c d e"
    hostile = "<speak>Hi</speak> $(rm -rf /); ls"
    assert speakable_text(hostile) == hostile
    assert speakable_text(" \x01 \n") == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_wpm": 79}, "rate must be a whole number from 80 to 400 words per minute, got 79"),
        ({"rate_wpm": 401}, "rate must be a whole number from 80 to 400 words per minute, got 401"),
        ({"rate_wpm": 140.0}, "rate must be a whole number from 80 to 400 words per minute,"
                              " got 140.0"),
        ({"voice": " "}, "voice must not be empty; run 'voice-coach voices' to list them"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpeechError) as caught:
        SpeechSettings(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_settings_default_to_a_calm_pace() -> None:
    assert SpeechSettings() == SpeechSettings(rate_wpm=140, voice=None)


class VoiceList:
    """Just enough of an engine for ``resolve_voice``."""

    name = "voices"
    version = "1"

    def __init__(self, voices: list[VoiceInfo]) -> None:
        self._voices = voices

    def voices(self) -> list[VoiceInfo]:
        return self._voices

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: object = None) -> list[Samples]:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


VOICES = [
    VoiceInfo("gmw/en-029", "English (Caribbean)", ("en-029",)),
    VoiceInfo("gmw/en", "English (Great Britain)", ("en-gb",)),
    VoiceInfo("gmw/en-us", "English (America)", ("en-us",)),
    VoiceInfo("roa/fr-be", "French (Belgium)", ("fr-be",)),
    VoiceInfo("roa/fr", "French (France)", ("fr-fr",)),
    VoiceInfo("sit/cmn", "Chinese (Mandarin)", ("cmn",)),
]


@pytest.mark.parametrize(
    ("wanted", "voice_id"),
    [
        ("gmw/en-us", "gmw/en-us"),
        ("GMW/EN-US", "gmw/en-us"),
        ("English (America)", "gmw/en-us"),
        ("en-us", "gmw/en-us"),
        ("en_US", "gmw/en-us"),
        ("en", "gmw/en"),
        ("fr", "roa/fr"),
        ("en-gb", "gmw/en"),
        ("fr-fr", "roa/fr"),
        ("cmn", "sit/cmn"),
    ],
)
def test_resolve_voice_by_id_name_or_language(wanted: str, voice_id: str) -> None:
    assert resolve_voice(VoiceList(VOICES), wanted) == voice_id


def test_resolve_voice_rejects_unknown_voices() -> None:
    with pytest.raises(SpeechError) as caught:
        resolve_voice(VoiceList(VOICES), "xx")
    assert str(caught.value) == "unknown voice 'xx'; run 'voice-coach voices' to list them"


# --- Verification, with a fake backend that misbehaves on purpose ------------------------


def fake_speech(text: str, rate_wpm: int) -> Samples:
    """A deterministic stand-in for speech: a sawtooth lasting words at ``rate_wpm``."""
    count = round(len(text.split()) * 60 / rate_wpm * SAMPLE_RATE)
    return ((np.arange(count) % 200 - 100) * 100).astype(np.int16)


def write_wav(path: Path, samples: Samples) -> None:
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(SAMPLE_RATE)
        file.writeframes(samples.astype("<i2").tobytes())


class FakeBackend:
    """Writes real WAV files like the engine does; its faults are chosen by the test.

    ``ignore_in_band``: how many calls ignore the in-band rate command, as an espeak without
    embedded commands would: renders without the rate property then come out at pyttsx3's
    default of 200 wpm. ``truncate_jobs``: which jobs (numbered from 0 over all calls) are
    written shorter than the samples reported. ``silent_jobs``: which come out with no
    sample at all, as a fresh espeak now and then does (an empty WAV, 0 delivered).
    """

    def __init__(self, *, ignore_in_band: int = 0, truncate_jobs: frozenset[int] = frozenset(),
                 silent_jobs: frozenset[int] = frozenset()) -> None:
        self.ignore_in_band = ignore_in_band
        self.truncate_jobs = truncate_jobs
        self.silent_jobs = silent_jobs
        self.jobs: list[SynthJob] = []

    def run(self, jobs: Sequence[SynthJob]) -> Iterator[tuple[int, SynthReport]]:
        """Reports come last job first, so takes arrive before the check they wait for."""
        ignoring = self.ignore_in_band > 0
        self.ignore_in_band -= ignoring
        reports = []
        for job in jobs:
            number = len(self.jobs)
            self.jobs.append(job)
            rate = job.rate_wpm if job.rate_property or not ignoring else 200
            samples = fake_speech(job.text, rate)
            if number in self.silent_jobs:
                samples = samples[:0]
            written = samples[: samples.size // 2] if number in self.truncate_jobs else samples
            write_wav(job.path, written)
            digest = zlib.crc32(samples.astype("<i2").tobytes())
            reports.append(SynthReport(error=None, delivered=samples.size, crc32=digest))
        yield from reversed(list(enumerate(reports)))

    def voices(self) -> list[VoiceInfo]:
        return VOICES

    def close(self) -> None:
        pass


def test_each_line_is_rendered_once_and_each_call_checks_its_first_line() -> None:
    backend = FakeBackend()
    texts = ["One two.", "Three four five.", "Six."]
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(texts, SpeechSettings(rate_wpm=200))
    assert [clip.tolist() for clip in clips] == [fake_speech(text, 200).tolist() for text in texts]
    assert [(job.text, job.rate_property, job.rate_wpm) for job in backend.jobs] == [
        ("One two.", True, 200), ("One two.", False, 200), ("Three four five.", False, 200),
        ("Six.", False, 200)]


def many_lines() -> list[str]:
    """Two full check groups and a short third one."""
    return [f"Line number {n} of many." for n in range(2 * CHECK_EVERY + 6)]


def test_every_group_of_lines_has_a_check_and_each_clip_is_handed_over_once_verified() -> None:
    backend = FakeBackend()
    texts = many_lines()
    handed: list[tuple[int, int]] = []
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(texts, SpeechSettings(rate_wpm=150),
                                   on_clip=lambda index, clip: handed.append((index, clip.size)))
    checks = [job.text for job in backend.jobs if job.rate_property]
    assert checks == [texts[0], texts[CHECK_EVERY], texts[2 * CHECK_EVERY]]
    assert len(backend.jobs) == len(texts) + 3
    assert sorted(handed) == [(n, clip.size) for n, clip in enumerate(clips)]
    assert [clip.tolist() for clip in clips] == [fake_speech(t, 150).tolist() for t in texts]


def test_a_group_with_a_failed_check_is_redone_and_the_others_kept() -> None:
    """The second group's check comes back short: only that group is rendered again."""
    backend = FakeBackend(truncate_jobs=frozenset({CHECK_EVERY + 1}))
    texts = many_lines()
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(texts, SpeechSettings(rate_wpm=150))
    assert [clip.tolist() for clip in clips] == [fake_speech(t, 150).tolist() for t in texts]
    again = [job.text for job in backend.jobs[len(texts) + 3:]]
    assert again == [texts[CHECK_EVERY], *texts[CHECK_EVERY:2 * CHECK_EVERY]]


def test_an_ignored_in_band_rate_is_caught_and_every_line_rendered_again() -> None:
    backend = FakeBackend(ignore_in_band=1)
    texts = ["Breathe in slowly.", "And out."]
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(texts, SpeechSettings(rate_wpm=140))
    assert [clip.tolist() for clip in clips] == [fake_speech(text, 140).tolist() for text in texts]
    assert [(job.text, job.rate_property) for job in backend.jobs] == [
        ("Breathe in slowly.", True), ("Breathe in slowly.", False), ("And out.", False)] * 2


def test_an_in_band_rate_ignored_twice_is_an_error() -> None:
    with Pyttsx3Engine(FakeBackend(ignore_in_band=2), version="fake") as engine, \
            pytest.raises(SpeechError) as caught:
        engine.render("Breathe in slowly.", SpeechSettings(rate_wpm=140))
    assert str(caught.value) == (
        'could not render "Breathe in slowly.": two renders at 140 wpm differ'
        " (28350 and 19845 samples), so the engine did not apply the rate (tried twice)"
    )


def test_a_truncated_check_is_caught_and_every_line_rendered_again() -> None:
    backend = FakeBackend(truncate_jobs=frozenset({0}))
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(["Breathe out.", "Rest."], SpeechSettings(rate_wpm=120))
    assert [clip.tolist() for clip in clips] == [
        fake_speech("Breathe out.", 120).tolist(), fake_speech("Rest.", 120).tolist()]
    assert len(backend.jobs) == 6


def test_a_file_truncated_twice_is_an_error() -> None:
    with Pyttsx3Engine(FakeBackend(truncate_jobs=frozenset(range(4))), version="fake") as engine, \
            pytest.raises(SpeechError) as caught:
        engine.render("Breathe out.", SpeechSettings(rate_wpm=120))
    assert str(caught.value) == (
        'could not render "Breathe out.": the file holds 11025 samples, not the 22050'
        " the engine produced (tried twice)"
    )


def test_a_silent_take_is_rendered_again_until_it_speaks() -> None:
    """Three silent takes in a row (a fault two renders could not outlast) and the line
    still comes out, on the fourth."""
    backend = FakeBackend(silent_jobs=frozenset({1, 3, 5}))
    with Pyttsx3Engine(backend, version="fake") as engine:
        clip = engine.render("Breathe out.", SpeechSettings(rate_wpm=120))
    assert clip.tolist() == fake_speech("Breathe out.", 120).tolist()
    assert len(backend.jobs) == 8


def test_a_line_that_never_speaks_is_an_error_after_six_renders() -> None:
    with Pyttsx3Engine(FakeBackend(silent_jobs=frozenset(range(100))), version="fake") as engine, \
            pytest.raises(SpeechError) as caught:
        engine.render("Breathe out.", SpeechSettings(rate_wpm=120))
    assert str(caught.value) == (
        'could not render "Breathe out.": the engine rendered nothing (tried 6 times)')


def test_only_lines_whose_take_failed_are_rendered_again() -> None:
    backend = FakeBackend(truncate_jobs=frozenset({2}))
    texts = ["One two.", "Three four five.", "One two."]
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(texts, SpeechSettings(rate_wpm=200))
    assert [clip.tolist() for clip in clips] == [fake_speech(text, 200).tolist() for text in texts]
    assert [(job.text, job.rate_property) for job in backend.jobs] == [
        ("One two.", True), ("One two.", False), ("Three four five.", False), ("One two.", False),
        ("Three four five.", True), ("Three four five.", False)]


def test_blank_lines_are_silent_without_the_engine() -> None:
    backend = FakeBackend()
    with Pyttsx3Engine(backend, version="fake") as engine:
        clips = engine.render_many(["\x01 \n", ""], SpeechSettings())
    assert [clip.size for clip in clips] == [0, 0]
    assert backend.jobs == []


def test_the_engine_stays_on_its_thread() -> None:
    errors: list[BaseException] = []
    with Pyttsx3Engine(FakeBackend(), version="fake") as engine:
        def use() -> None:
            try:
                engine.render("Hello.", SpeechSettings())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    assert [str(error) for error in errors] == [
        "a Pyttsx3Engine must be used only by the thread that opened it"]


def test_a_closed_engine_refuses_work() -> None:
    engine = Pyttsx3Engine(FakeBackend(), version="fake")
    engine.close()
    engine.close()
    with pytest.raises(RuntimeError) as caught:
        engine.render("Hello.", SpeechSettings())
    assert str(caught.value) == "this Pyttsx3Engine is closed"


def test_pyttsx3_without_espeak_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the library load the way it fails without libespeak-ng1 installed."""
    import pyttsx3
    import pyttsx3.drivers

    def no_library(name: str) -> ctypes.CDLL:
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(ctypes.cdll, "LoadLibrary", no_library)
    for module in ("_espeak", "espeak"):
        monkeypatch.delitem(sys.modules, f"pyttsx3.drivers.{module}", raising=False)
        monkeypatch.delattr(pyttsx3.drivers, module, raising=False)
    with pytest.raises(RuntimeError) as raised:
        pyttsx3.init("espeak")
    assert str(raised.value) == (
        "This means you probably do not have eSpeak or eSpeak-ng installed!")


OPEN_ENGINE = """
from voice_coach.errors import VoiceCoachError
from voice_coach.engines.pyttsx3_engine import open_engine
try:
    open_engine().close()
except VoiceCoachError as error:
    print(error)
"""


def test_a_broken_espeak_library_is_a_speech_error(tmp_path: Path) -> None:
    """The helper process loads what the dynamic loader finds first: here a file that is not
    a library at all. (tests/test_cli_errors.py hides the real one with a bind mount.)"""
    import os

    (tmp_path / "libespeak-ng.so.1").write_text("not a library\n")
    result = subprocess.run([sys.executable, "-c", OPEN_ENGINE], capture_output=True, text=True,
                            env={**os.environ, "LD_LIBRARY_PATH": str(tmp_path)}, check=True)
    assert result.stdout == ("speech engine not found: install espeak-ng"
                             " (on Debian/Ubuntu: sudo apt-get install espeak-ng)\n")


# --- The real engine ----------------------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("voice", [None, "gmw/en-us", "roa/fr"])
@pytest.mark.parametrize("rate_wpm", [80, 140, 400])
def test_clips_equal_the_espeak_command_line(engine: Pyttsx3Engine, tmp_path: Path,
                                             voice: str | None, rate_wpm: int) -> None:
    settings = SpeechSettings(rate_wpm=rate_wpm, voice=voice)
    clips = engine.render_many(LINES, settings)
    for text, clip in zip(LINES, clips, strict=True):
        reference = espeak_reference(text, rate_wpm, voice, tmp_path)
        assert clip.size == reference.size
        assert np.array_equal(clip, reference)


@pytest.mark.engine
def test_slow_speech_is_longer(engine: Pyttsx3Engine) -> None:
    text = LINES[1]
    slow = engine.render(text, SpeechSettings(rate_wpm=120))
    fast = engine.render(text, SpeechSettings(rate_wpm=240))
    assert slow.size >= 1.5 * fast.size


@pytest.mark.engine
def test_alternating_rates_in_one_engine_equal_fresh_renders(engine: Pyttsx3Engine,
                                                             tmp_path: Path) -> None:
    """The lost-rate bug: a rate changed per line was sometimes never applied."""
    sequence = [(text, rate) for text in LINES[:2] for rate in (120, 240, 120)]
    for text, rate in sequence:
        clip = engine.render(text, SpeechSettings(rate_wpm=rate))
        assert np.array_equal(clip, espeak_reference(text, rate, None, tmp_path)), (text, rate)


RENDER_IN_SUBPROCESS = """
import sys
from voice_coach.engines.pyttsx3_engine import open_engine
from voice_coach.speech import SpeechSettings
with open_engine() as engine:
    for text in sys.argv[1:]:
        sys.stdout.buffer.write(engine.render(text, SpeechSettings(rate_wpm=130)).tobytes())
"""


@pytest.mark.engine
def test_cold_renders_are_identical_across_engines_and_processes() -> None:
    settings = SpeechSettings(rate_wpm=130)
    with open_engine() as first:
        one = [first.render(text, settings) for text in LINES]
    with open_engine() as second:
        two = second.render_many(list(reversed(LINES)), settings)[::-1]
    result = subprocess.run([sys.executable, "-c", RENDER_IN_SUBPROCESS, *LINES],
                            capture_output=True, check=True)
    three = result.stdout
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert three == b"".join(clip.tobytes() for clip in one)
    assert result.stderr == b""


@pytest.mark.engine
def test_nothing_is_printed(capfd: pytest.CaptureFixture[str]) -> None:
    with open_engine() as engine:
        engine.voices()
        engine.render_many(LINES, SpeechSettings())
    out, err = capfd.readouterr()
    assert "Audio saved" not in out + err
    assert (out, err) == ("", "")


@pytest.mark.engine
def test_hostile_text_is_spoken_and_never_run(engine: Pyttsx3Engine, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "alive").write_text("yes")
    touched = tmp_path / "touched"
    line = (f"Relax\x0150S now <speak>ok</speak> $(rm -rf {canary}) ; ls `touch {touched}`"
            f" && touch {touched} | touch {touched}")
    clip = engine.render(line, SpeechSettings())
    assert np.array_equal(clip, espeak_reference(speakable_text(line), 140, None, tmp_path))
    assert (canary / "alive").read_text() == "yes"
    assert not touched.exists()
    # Markup is spoken, not obeyed: the tags make the line longer.
    tagged = engine.render("<speak>Hello</speak>", SpeechSettings())
    plain = engine.render("Hello", SpeechSettings())
    assert tagged.size > plain.size


@pytest.mark.engine
def test_voices_by_language_and_unknown_voices(engine: Pyttsx3Engine, tmp_path: Path) -> None:
    voices = {voice.id: voice for voice in engine.voices()}
    assert voices["gmw/en-us"] == VoiceInfo("gmw/en-us", "English (America)", ("en-us",))
    assert resolve_voice(engine, "fr") == "roa/fr"
    assert resolve_voice(engine, "en-us") == "gmw/en-us"
    assert resolve_voice(engine, "en") == "gmw/en"
    clip = engine.render("Bonjour, respirez.", SpeechSettings(voice="fr"))
    assert np.array_equal(clip, espeak_reference("Bonjour, respirez.", 140, "roa/fr", tmp_path))
    with pytest.raises(SpeechError) as caught:
        engine.render("Hello.", SpeechSettings(voice="xx"))
    assert str(caught.value) == "unknown voice 'xx'; run 'voice-coach voices' to list them"


@pytest.mark.engine
def test_the_mixer_scales_the_engine_output_by_the_voice_volume(engine: Pyttsx3Engine,
                                                               tmp_path: Path) -> None:
    """The engine renders at full level; the person's volume is the mixer's voice gain."""
    text = "Breathe out."
    rendered = engine.render(text, SpeechSettings())
    reference = espeak_reference(text, 140, None, tmp_path)
    assert np.array_equal(rendered, reference)
    event = Event(0, rendered.size, "speech", 0, text=text)
    timeline = Timeline(routine_id="t", sample_rate=SAMPLE_RATE, events=(event,),
                        step_labels=("a",))
    clip = Mixer(timeline, Clips({text: rendered}, {}), Levels(voice=0.25)).render()
    assert np.array_equal(clip, apply_gain(reference, 0.25))
    assert np.array_equal(clip, np.rint(reference * 0.25).astype(np.int16))
    assert int(np.abs(clip).max()) < int(np.abs(reference).max())


@pytest.mark.engine
def test_render_clips_renders_once_then_reads_the_cache(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    opened: list[Pyttsx3Engine] = []

    class CountingFactory:
        name = open_engine.name
        version = open_engine.version

        def __call__(self) -> Pyttsx3Engine:
            opened.append(open_engine())
            return opened[-1]

    texts = [*LINES, LINES[0]]
    cold = render_clips(texts, SpeechSettings(), CountingFactory(), cache)
    warm = render_clips(texts, SpeechSettings(), CountingFactory(), cache)
    assert len(opened) == 1
    assert list(cold) == list(warm) == list(LINES)
    assert all(np.array_equal(cold[text], warm[text]) for text in LINES)
    assert np.array_equal(cold[LINES[0]], espeak_reference(LINES[0], 140, None, tmp_path))


@pytest.mark.engine
def test_a_helper_that_dies_is_started_again(tmp_path: Path) -> None:
    import os
    import signal

    backend = ForkingBackend(tmp_path)
    with Pyttsx3Engine(backend, version="test") as engine:
        before = engine.render(LINES[0], SpeechSettings())
        os.kill(backend._helper.pid, signal.SIGKILL)
        after = engine.render(LINES[0], SpeechSettings())
    assert np.array_equal(before, after)


@pytest.mark.engine
def test_a_stuck_engine_is_killed_and_reported(tmp_path: Path) -> None:
    backend = ForkingBackend(tmp_path, job_timeout_s=0.001)
    with Pyttsx3Engine(backend, version="test") as engine, pytest.raises(SpeechError) as caught:
        engine.render("Breathe in.", SpeechSettings())
    assert str(caught.value) == (
        'could not render "Breathe in.": the engine did not finish in 0.001 s (tried twice)')


@pytest.mark.engine
def test_the_check_catches_real_takes_spoken_at_another_rate(tmp_path: Path) -> None:
    """The real engine renders the takes at 175 wpm, as if the in-band rate were ignored."""
    import dataclasses
    import re

    real = ForkingBackend(tmp_path)

    class WrongRate:
        def run(self, jobs: Sequence[SynthJob]) -> Iterator[tuple[int, SynthReport]]:
            return real.run([job if job.rate_property else dataclasses.replace(job, rate_wpm=175)
                             for job in jobs])

        def voices(self) -> list[VoiceInfo]:
            return real.voices()

        def close(self) -> None:
            real.close()

    with Pyttsx3Engine(WrongRate(), version="test") as engine, \
            pytest.raises(SpeechError) as caught:
        engine.render_many(LINES[:2], SpeechSettings(rate_wpm=140))
    sizes = re.fullmatch(r'could not render "Breathe in\.": two renders at 140 wpm differ'
                         r" \((\d+) and (\d+) samples\), so the engine did not apply the rate"
                         r" \(tried twice\)", str(caught.value))
    assert sizes is not None, str(caught.value)
    check_samples, take_samples = map(int, sizes.groups())
    assert take_samples < check_samples * 0.9


WARM_SESSION = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from voice_coach.cache import ClipCache
from voice_coach.engines.pyttsx3_engine import open_engine
from voice_coach.speech import SpeechSettings, render_clips

def no_engine():
    raise AssertionError("the engine was opened")

class Factory:
    name = open_engine.name
    version = open_engine.version
    __call__ = staticmethod(no_engine)

clips = render_clips(sys.argv[2:], SpeechSettings(), Factory(), ClipCache(Path(sys.argv[1])))
elapsed = time.perf_counter() - started
assert "pyttsx3" not in sys.modules, "pyttsx3 was imported"
print(len(clips), sum(clip.size for clip in clips.values()), f"{elapsed:.3f}")
"""


@pytest.mark.engine
def test_a_warm_cache_never_loads_pyttsx3(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    clips = render_clips(LINES, SpeechSettings(), open_engine, cache)
    result = subprocess.run([sys.executable, "-c", WARM_SESSION, str(tmp_path / "clips"), *LINES],
                            capture_output=True, text=True, check=True)
    count, samples, _elapsed_s = result.stdout.split()
    assert (int(count), int(samples)) == (len(LINES), sum(clip.size for clip in clips.values()))


def test_the_helper_process_imports_neither_numpy_nor_the_rest_of_voice_coach() -> None:
    """What keeps the helper quick to start and cheap to fork (about 50 ms against 110)."""
    probe = ("import sys; import voice_coach.engines.pyttsx3_helper as h; h.import_espeak();"
             " import pyttsx3.drivers.espeak, pyttsx3.engine;"
             " print(sorted(m for m in sys.modules if m == 'numpy' or m.startswith('voice_coach')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout == ("['voice_coach', 'voice_coach.engines',"
                             " 'voice_coach.engines.pyttsx3_helper']\n")


IDENTITY_PROBE = """
import json, sys
from voice_coach.engines.pyttsx3_engine import engine_identity
identity = engine_identity()
maps = open("/proc/self/maps").read()
print(json.dumps({"identity": identity, "loaded": "libespeak-ng" in maps,
                  "modules": sorted(m for m in ("pyttsx3", "importlib.metadata")
                                    if m in sys.modules)}))
"""


def identity_of(tmp_path: Path, library_path: str = "") -> dict[str, object]:
    import json
    import os

    env = {**os.environ, "LD_LIBRARY_PATH": library_path}
    result = subprocess.run([sys.executable, "-c", IDENTITY_PROBE], capture_output=True,
                            text=True, check=True, env=env, cwd=tmp_path)
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_the_cache_identity_is_read_without_loading_espeak_or_metadata(tmp_path: Path) -> None:
    import importlib.metadata

    from voice_coach.engines.pyttsx3_engine import RECIPE_VERSION

    probe = identity_of(tmp_path)
    assert probe["loaded"] is False
    assert probe["modules"] == []
    identity = str(probe["identity"])
    assert identity.startswith(f"pyttsx3 {importlib.metadata.version('pyttsx3')}; /")
    assert identity.endswith(f"; recipe {RECIPE_VERSION}")
    assert "libespeak-ng.so.1" in identity


def test_replacing_the_espeak_library_changes_the_cache_identity(tmp_path: Path) -> None:
    """A libespeak-ng.so.1 first on the loader's path is part of the identity, and a new one
    there (an upgrade) gives another identity, so old clips are not served."""
    import os

    folder = tmp_path / "lib"
    folder.mkdir()
    library = folder / "libespeak-ng.so.1"
    library.write_bytes(b"version one")
    first = str(identity_of(tmp_path, str(folder))["identity"])
    assert f"{library} 11 " in first
    library.write_bytes(b"version two, longer")
    os.utime(library, ns=(1, 1))
    second = str(identity_of(tmp_path, str(folder))["identity"])
    assert f"{library} 19 1; " in second
    assert first != second
    assert str(identity_of(tmp_path)["identity"]) not in (first, second)


@pytest.mark.engine
def test_asking_for_voices_keeps_the_helper_running(tmp_path: Path) -> None:
    """A request read only in part ends the helper (it may be mid-way); voices() must read
    its answer to the end, or every render after it pays for a new helper."""
    with Pyttsx3Engine(ForkingBackend(tmp_path), version="test") as engine:
        backend = engine._backend
        assert isinstance(backend, ForkingBackend)
        started = backend._helper.pid
        engine.render(LINES[0], SpeechSettings(voice="en-us"))
        assert backend._helper.alive()
        assert backend._helper.pid == started


def test_the_notes_module_docstrings_point_to_are_in_the_project() -> None:
    """Why the engine code looks as it does is in the project's own docs, not elsewhere."""
    import re

    root = Path(__file__).resolve().parents[1]
    named = {(path.relative_to(root), name)
             for path in sorted((root / "voice_coach").rglob("*.py"))
             for name in re.findall(r"[\w./-]+\.md\b", path.read_text(encoding="utf-8"))}
    assert (Path("voice_coach/speech.py"), "docs/engines.md") in named
    assert (Path("voice_coach/engines/pyttsx3_engine.py"), "docs/engines.md") in named
    assert [(str(path), name) for path, name in named if not (root / name).is_file()] == []
