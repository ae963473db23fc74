"""FLAC, MP3 and Ogg Opus exports, read back as real players read them: ffmpeg decodes and
measures, ffprobe and mutagen read the chapters and tags."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from support.meter import chapters as probed_chapters
from support.meter import decode, ebur128, probe, tags
from tests.test_export import ROUTINE, make_mixer
from voice_coach.cues import load_cue
from voice_coach.encoders import OPUS_RATE
from voice_coach.export import ExportError, chapters, export_session, narration_name
from voice_coach.formats import FORMATS, FormatError, Tags
from voice_coach.loudness import TARGET_LUFS
from voice_coach.mix import Clips, Levels, Mixer
from voice_coach.plan import PlanSettings, plan
from voice_coach.routine import CUE_ROLES

TAGS = Tags(title="Test routine", comment="A routine for the tests.")
MP3_FRAME = 576
"""Samples in one MPEG-2 layer III frame (22,050 Hz): the most an encoder pads."""
OPUS_FRAME = 960
"""Samples in one 20 ms Opus frame at 48 kHz."""
AAC_FRAME = 1024
"""Samples in one AAC-LC frame."""
LOSSY = ("mp3", "opus", "m4a")


def speechy(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Syllables of low-passed noise at about 4 per second, peaking near full scale:
    what the meters and encoders see of espeak-ng's speech, without the engine."""
    n = round(seconds * 22050)
    envelope = np.clip(np.sin(np.arange(n) / 22050 * 2 * np.pi * 2.1), 0, None) ** 2
    voiced = np.convolve(rng.standard_normal(n + 5), np.ones(6) / 6, mode="valid")[:n]
    x = np.clip(voiced * envelope * 0.3, -1, 1)
    return np.rint(x * 32767).astype(np.int16)


def calibrated_mixer() -> Mixer:
    """The test routine with speech-like clips and the built-in chimes, leveled as a
    session is."""
    rng = np.random.default_rng(15)
    texts = make_mixer().timeline.speech_texts()
    speech = {text: speechy(1.0 + 0.5 * len(text.split()), rng) for text in texts}
    cues = {role: load_cue(role) for role in CUE_ROLES}
    timeline = plan(ROUTINE, PlanSettings(), lambda t: len(speech[t]), lambda r: len(cues[r]))
    return Mixer(timeline, Clips(speech, cues), Levels(target_lufs=TARGET_LUFS))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, Mixer]]:
    """The same session exported once in every format."""
    found = {}
    for name in FORMATS:
        out = tmp_path_factory.mktemp(name)
        mixer = calibrated_mixer()
        export_session(mixer, out, audio_format=FORMATS[name], tags=TAGS)
        found[name] = (out, mixer)
    return found


@pytest.mark.parametrize("name", ["flac", "mp3", "opus", "m4a"])
def test_the_session_decodes_to_the_planned_length_and_loudness(exported, name):
    out, mixer = exported[name]
    timeline = mixer.timeline
    path = out / f"session{FORMATS[name].suffix}"
    whole = mixer.render()
    wav = ebur128(exported["wav"][0] / "session.wav")
    reading = ebur128(path)
    if name == "flac":
        assert np.array_equal(decode(path), whole)  # lossless, to the sample
    elif name == "mp3":  # gapless: the LAME header's delay and padding cut it exactly
        decoded = decode(path)
        assert len(decoded) == timeline.duration
        assert np.corrcoef(decoded, whole)[0, 1] > 0.99  # and in place, not shifted
        assert probe(path)["streams"][0]["sample_rate"] == "22050"
    elif name == "m4a":
        decoded = decode(path)
        assert abs(len(decoded) - timeline.duration) <= AAC_FRAME, len(decoded)
        assert probe(path)["streams"][0]["sample_rate"] == "22050"
    else:
        decoded = decode(path)  # Opus decodes at 48 kHz whatever went in
        expected = round(timeline.duration * OPUS_RATE / timeline.sample_rate)
        assert abs(len(decoded) - expected) <= OPUS_FRAME, (len(decoded), expected)
    assert probe(path)["streams"][0]["channels"] == 1
    assert abs(reading.integrated_lufs - wav.integrated_lufs) <= 0.6, (reading, wav)
    assert abs(reading.integrated_lufs - TARGET_LUFS) <= 1.0
    assert reading.true_peak_dbtp <= -1.0, reading


def test_wav_holds_the_mix_at_the_target(exported):
    out, _ = exported["wav"]
    reading = ebur128(out / "session.wav")
    assert abs(reading.integrated_lufs - TARGET_LUFS) <= 1.0
    assert reading.true_peak_dbtp <= -1.0


def test_bit_rates_keep_speech_clean(exported):
    """MP3 at a constant 96 kbps; Opus at 48 kbps nominal, constrained variable; AAC at
    64 kbps nominal (its short clips carry ~5 % of MP4 headers): measured over the narration, which is speech throughout (the
    session's pauses cost Opus and AAC next to nothing)."""
    mp3 = probe(exported["mp3"][0] / "session.mp3")
    assert 95_000 <= int(mp3["format"]["bit_rate"]) <= 98_000
    for name, (low, high) in {"opus": (40_000, 64_000), "m4a": (32_000, 72_000)}.items():
        narration = sorted((exported[name][0] / "narration").iterdir())
        bits = sum(8 * path.stat().st_size for path in narration)
        seconds = sum(float(probe(path)["format"]["duration"]) for path in narration)
        assert low <= bits / seconds <= high, (name, bits / seconds)


@pytest.mark.parametrize("name", ["flac", "mp3", "opus", "m4a"])
def test_one_chapter_per_step_as_ffprobe_reads_it(exported, name):
    out, mixer = exported[name]
    expected = [(c.start_ms, c.end_ms, c.title) for c in chapters(mixer.timeline)]
    assert [c[2] for c in expected] == list(mixer.timeline.step_labels)
    found = probed_chapters(out / f"session{FORMATS[name].suffix}")
    assert [(start, title) for start, _, title in found] == [(s, t) for s, _, t in expected]
    # Vorbis comments have no end: players end a chapter where the next begins, the last
    # where the file ends (for Opus ffprobe counts the 6.5 ms of encoder pre-skip in it).
    assert [end for _, end, _ in found[:-1]] == [end for _, end, _ in expected[:-1]]
    assert 0 <= found[-1][1] - expected[-1][1] <= (7 if name == "opus" else 1)


@pytest.mark.parametrize("name", ["flac", "mp3", "opus", "m4a"])
def test_tags_say_the_routine_and_voice_coach(exported, name):
    out, _ = exported[name]
    found = tags(out / f"session{FORMATS[name].suffix}")
    assert (found["title"], found["artist"], found["comment"]) == (
        "Test routine", "voice-coach", "A routine for the tests.")


def test_mp3_chapters_are_id3_chap_frames_under_an_ordered_ctoc(exported):
    from mutagen.id3 import ID3, CTOCFlags

    out, mixer = exported["mp3"]
    id3 = ID3(out / "session.mp3")
    (toc,) = id3.getall("CTOC")
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    frames = {frame.element_id: frame for frame in id3.getall("CHAP")}
    assert list(toc.child_element_ids) == sorted(frames)
    expected = chapters(mixer.timeline)
    assert [(frames[i].start_time, frames[i].end_time, frames[i].sub_frames["TIT2"].text[0])
            for i in toc.child_element_ids] == [(c.start_ms, c.end_ms, c.title) for c in expected]


@pytest.mark.parametrize("name", ["flac", "opus"])
def test_opus_and_flac_chapters_are_numbered_vorbis_comments(exported, name):
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus

    out, mixer = exported[name]
    path = out / f"session{FORMATS[name].suffix}"
    comments = (FLAC if name == "flac" else OggOpus)(path).tags
    for number, chapter in enumerate(chapters(mixer.timeline), start=1):
        seconds, millis = divmod(chapter.start_ms, 1000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        assert comments[f"CHAPTER{number:03d}"] == [
            f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"]
        assert comments[f"CHAPTER{number:03d}NAME"] == [chapter.title]
    assert f"CHAPTER{len(mixer.timeline.step_labels) + 1:03d}" not in comments


def test_json_chapters_match_the_timeline_to_the_millisecond(exported):
    out, mixer = exported["wav"]
    timeline = mixer.timeline
    document = json.loads((out / "session.chapters.json").read_text(encoding="utf-8"))
    assert (document["version"], document["title"], document["author"]) == (
        "1.2.0", "Test routine", "voice-coach")
    starts = timeline.step_starts()
    ends = [*starts[1:], timeline.duration]
    assert [(round(c["startTime"] * 1000), round(c["endTime"] * 1000), c["title"])
            for c in document["chapters"]] == [
        (round(s * 1000 / 22050), round(e * 1000 / 22050), label)
        for s, e, label in zip(starts, ends, timeline.step_labels, strict=True)]


@pytest.mark.parametrize("name", ["flac", "mp3", "opus", "m4a"])
def test_narration_follows_the_format(exported, name):
    out, mixer = exported[name]
    suffix = FORMATS[name].suffix
    spoken = [e for e in mixer.timeline.events if e.kind == "speech"]
    names = sorted(p.name for p in (out / "narration").iterdir())
    assert names == [narration_name(i, e.text, suffix) for i, e in enumerate(spoken, start=1)]
    for file_name, event in zip(names, spoken, strict=True):
        decoded = decode(out / "narration" / file_name)
        clip = mixer.clip_for(event)
        if name == "flac":
            assert np.array_equal(decoded, clip)
        elif name == "mp3":
            assert len(decoded) == len(clip)
        elif name == "m4a":
            assert abs(len(decoded) - len(clip)) <= AAC_FRAME
        else:
            assert abs(len(decoded) - round(len(clip) * OPUS_RATE / 22050)) <= OPUS_FRAME
        assert tags(out / "narration" / file_name)["title"] == event.text
    assert not list(out.glob(".*"))  # no temporaries left


def test_another_format_replaces_the_previous_export_only_with_force(tmp_path):
    mixer = calibrated_mixer()
    export_session(mixer, tmp_path, tags=TAGS)
    with pytest.raises(ExportError, match=r"already exists \(and \d+ more\); use --force"):
        export_session(mixer, tmp_path, audio_format=FORMATS["flac"], tags=TAGS)
    assert (tmp_path / "session.wav").exists()
    export_session(mixer, tmp_path, audio_format=FORMATS["flac"], tags=TAGS, force=True)
    assert not (tmp_path / "session.wav").exists()
    assert sorted(p.suffix for p in (tmp_path / "narration").iterdir()) == [".flac"] * len(
        list((tmp_path / "narration").iterdir()))
    assert (tmp_path / "session.flac").exists()


def test_mp3_has_the_lame_header_gapless_players_read(exported):
    """mutagen, a reader independent of ffmpeg, finds the Info frame and its LAME header:
    constant bit rate, LAME's 576 samples of delay, and the padding that ends the file at
    the session's last sample."""
    from mutagen.mp3 import MP3, BitrateMode

    out, mixer = exported["mp3"]
    info = MP3(out / "session.mp3").info
    assert (info.bitrate_mode, info.encoder_info, info.sample_rate, info.channels) == (
        BitrateMode.CBR, "LAME 3.100.0+", 22050, 1)
    frames = -(-(mixer.timeline.duration + 576) // MP3_FRAME)  # LAME fills its last frame
    assert abs(info.length - mixer.timeline.duration / 22050) < 0.001, info.length
    assert frames * MP3_FRAME - 576 - mixer.timeline.duration < 2 * MP3_FRAME


def test_m4a_is_mono_aac_lc_with_chapters_apple_and_mutagen_read(exported):
    """Both chapter lists Apple's apps and others read: the QuickTime chapter track (a text
    track the audio refers to) and Nero's ``chpl`` box, which mutagen reads; tags as
    iTunes atoms."""
    from mutagen.mp4 import MP4

    out, mixer = exported["m4a"]
    path = out / "session.m4a"
    streams = probe(path)["streams"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert [(s["codec_name"], s["profile"], s["channels"]) for s in audio] == [("aac", "LC", 1)]
    assert [s["codec_tag_string"] for s in streams if s["codec_type"] != "audio"] == ["text"]
    assert b"chpl" in path.read_bytes()
    mp4 = MP4(path)
    expected = chapters(mixer.timeline)
    assert [(round(c.start * 1000), c.title) for c in mp4.chapters] == [
        (c.start_ms, c.title) for c in expected]
    assert (mp4.tags["\xa9nam"], mp4.tags["\xa9ART"], mp4.tags["\xa9cmt"]) == (
        ["Test routine"], ["voice-coach"], ["A routine for the tests."])


@pytest.mark.parametrize("name", LOSSY)
def test_a_lossy_export_is_the_same_bytes_every_time(tmp_path, name):
    """The Ogg serial and the muxers' version strings are fixed (FFmpeg's bitexact)."""
    paths = []
    for run in ("a", "b"):
        export_session(calibrated_mixer(), tmp_path / run, audio_format=FORMATS[name], tags=TAGS)
        paths.append(tmp_path / run / f"session{FORMATS[name].suffix}")
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.parametrize(("module", "name", "label", "shown"), [
    ("av", "opus", "Ogg Opus", "PyAV"), ("av", "m4a", "M4A", "PyAV"),
    ("lameenc", "mp3", "MP3", "lameenc")])
def test_an_encoder_library_that_cannot_load_is_one_line_with_the_fix(
        tmp_path, monkeypatch, module, name, label, shown):
    import sys

    from voice_coach.cli import cli

    monkeypatch.setitem(sys.modules, module, None)  # what Python does when the import fails
    result = CliRunner().invoke(cli, ["export", "--format", name, "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot write {label}: cannot load {shown} (import of {module} halted; None"
        " in sys.modules); reinstall it (the wheel bundles the encoder): pip install"
        f" --force-reinstall {module}\n")
    assert not (tmp_path / "o").exists()  # refused before anything was rendered or made


def test_a_pyav_without_the_encoder_names_it(monkeypatch):
    import av

    from voice_coach import encoders

    monkeypatch.setitem(encoders.ENCODINGS, "m4a",
                        dataclasses.replace(encoders.ENCODINGS["m4a"], codec="libfdk_aac"))
    with pytest.raises(FormatError) as raised:
        FORMATS["m4a"].check()
    assert str(raised.value) == (
        f"cannot write M4A: PyAV {av.__version__} has no libfdk_aac encoder; reinstall it"
        " (the wheel bundles the encoder): pip install --force-reinstall av")


def test_the_session_encoded_beside_stops_when_the_narration_fails(tmp_path, monkeypatch):
    """An error encoding a clip stops the session at its next chunk and the clips not
    begun, and the folder keeps nothing of the export."""
    from voice_coach import export

    mixer = calibrated_mixer()
    rendered = []
    real_render = Mixer.render

    def counting_render(self, start=0, stop=None):
        rendered.append(start)
        return real_render(self, start, stop)

    def no_room(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Mixer, "render", counting_render)
    monkeypatch.setattr(export, "_clip_writer", lambda **kwargs: no_room)
    with pytest.raises(ExportError, match="disk full"):
        export_session(mixer, tmp_path / "o", audio_format=FORMATS["mp3"], tags=TAGS)
    assert len(rendered) < -(-mixer.timeline.duration // (export.CHUNK_S * 22050))
    assert sorted(p.name for p in (tmp_path / "o").rglob("*")) == ["narration"]


def test_an_unknown_format_is_a_usage_error(tmp_path):
    from voice_coach.cli import cli

    result = CliRunner().invoke(cli, ["export", "--format", "aac", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert ("Invalid value for '--format': 'aac' is not one of 'wav', 'flac', 'mp3', 'opus',"
            " 'm4a'."
            in result.output)
