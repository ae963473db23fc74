"""Export with literal clips: real files on disk, read back sample by sample."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from support.audio import read_wav
from voice_coach.export import ExportError, export_session, narration_name, webvtt
from voice_coach.mix import Clips, Mixer
from voice_coach.plan import PlanSettings, plan
from voice_coach.routine import CUE_ROLES, parse_routine

pytest_plugins = ["support.fixtures"]

ROUTINE = parse_routine(
    'id = "t"\ntitle = "T"\ncaution = "careful now"\n'
    '[[steps]]\nsay = "Lie down & rest <gently> --> now"\nhold_s = 2\n'
    '[[steps]]\nbreathe = { count = 2, exhale_prompt = "out" }\n'
    '[[steps]]\n[steps.repeat]\ntimes = 2\n[[steps.repeat.steps]]\nsay = "spot {n}"\n',
    source="t.toml")


def make_mixer(seconds_per_word: float = 0.4) -> Mixer:
    rng = np.random.default_rng(3)
    rate = 22050
    probe = plan(ROUTINE, PlanSettings(), lambda t: 1000, lambda r: 1000)
    speech = {t: rng.integers(-8000, 8000, int(rate * seconds_per_word * len(t.split())),
                              dtype=np.int16) for t in probe.speech_texts()}
    cues = {role: rng.integers(-8000, 8000, 2000 + 100 * i, dtype=np.int16)
            for i, role in enumerate(CUE_ROLES)}
    timeline = plan(ROUTINE, PlanSettings(), lambda t: len(speech[t]), lambda r: len(cues[r]))
    return Mixer(timeline, Clips(speech, cues))


def test_export_writes_every_file_exactly(tmp_path):
    mixer = make_mixer()
    out = tmp_path / "out"
    written = export_session(mixer, out)
    timeline = mixer.timeline
    spoken = [e for e in timeline.events if e.kind == "speech"]
    names = sorted(p.name for p in (out / "narration").iterdir())
    assert names == [narration_name(i, e.text) for i, e in enumerate(spoken, start=1)]
    assert names[:2] == ["001-careful-now.wav", "002-lie-down-rest-gently-now.wav"]
    assert len(written) == len(spoken) + 4  # session, captions, chapters, timeline
    for name, event in zip(names, spoken, strict=True):
        samples = read_wav(out / "narration" / name)  # mono, 16-bit, 22050 Hz, whole
        assert np.array_equal(samples, mixer.clips.speech[event.text])

    session = read_wav(out / "session.wav")
    assert len(session) == timeline.duration
    assert np.array_equal(session, mixer.render())
    for event in timeline.events:
        if event.kind == "cue":
            assert np.array_equal(session[event.start:event.end], mixer.clips.cues[event.cue])

    document = json.loads((out / "timeline.json").read_text())
    assert document["duration_samples"] == len(session)
    assert document["duration_s"] == round(len(session) / 22050, 6)
    assert document["sample_rate"] == 22050
    assert [e["start_sample"] for e in document["events"]] == [e.start for e in timeline.events]
    assert not list(out.glob(".*"))  # no temporaries left


def test_webvtt_is_exact_and_escaped():
    mixer = make_mixer()
    text = webvtt(mixer.timeline)
    lines = text.split("\n")
    assert lines[0] == "WEBVTT" and lines[1] == ""
    first = next(e for e in mixer.timeline.events if e.kind == "speech")
    assert lines[2] == "1"
    start, end = first.start / 22050, first.end / 22050
    assert lines[3] == f"00:00:{start:06.3f} --> 00:00:{end:06.3f}"
    assert "Lie down &amp; rest &lt;gently&gt; --&gt; now" in text
    assert "-->" not in text.replace(" --> ", "")
    cues = [line for line in lines if "-->" in line]
    assert len(cues) == sum(1 for e in mixer.timeline.events if e.kind == "speech")


def test_sox_and_wave_open_the_session(tmp_path):
    mixer = make_mixer()
    export_session(mixer, tmp_path)
    info = subprocess.run(["soxi", str(tmp_path / "session.wav")], capture_output=True,
                          text=True, check=True).stdout
    assert f"Duration       : {_sox_duration(mixer.timeline.duration)} = {mixer.timeline.duration} samples" in info
    assert "Sample Rate    : 22050" in info and "Channels       : 1" in info


def _sox_duration(samples: int) -> str:
    seconds = samples / 22050
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:05.2f}"


def test_existing_files_are_refused_then_replaced_with_force(tmp_path):
    mixer = make_mixer()
    export_session(mixer, tmp_path)
    before = (tmp_path / "session.wav").read_bytes()
    with pytest.raises(ExportError) as caught:
        export_session(make_mixer(0.5), tmp_path)
    count = len(list((tmp_path / "narration").iterdir())) + 4
    assert str(caught.value) == (f"{tmp_path / 'narration' / '001-careful-now.wav'} already exists"
                                 f" (and {count - 1} more); use --force to replace")
    assert (tmp_path / "session.wav").read_bytes() == before
    export_session(make_mixer(0.5), tmp_path, force=True)
    assert (tmp_path / "session.wav").read_bytes() != before


def test_force_removes_narration_left_from_a_longer_export(tmp_path):
    export_session(make_mixer(), tmp_path)
    extra = tmp_path / "narration" / "099-old-line.wav"
    extra.write_bytes(b"old")
    mine = tmp_path / "narration" / "notes.txt"
    mine.write_text("keep me")
    export_session(make_mixer(), tmp_path, force=True)
    assert not extra.exists()
    assert mine.read_text() == "keep me"


@pytest.mark.parametrize("name", ["narration/002-lie-down-rest-gently-now.wav", "session.vtt"])
def test_a_folder_where_a_file_goes_is_refused_before_anything_is_replaced(tmp_path, name):
    """Found only when the files are renamed into place, after some already were, it
    would leave a mixture of two exports."""
    export_session(make_mixer(), tmp_path)
    (tmp_path / name).unlink()
    (tmp_path / name).mkdir()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ExportError) as caught:
        export_session(make_mixer(0.5), tmp_path, force=True)
    assert str(caught.value) == f"{tmp_path / name}: exists and is not a file"
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.rglob(".*"))


def test_force_leaves_a_folder_named_like_an_old_file_alone(tmp_path):
    export_session(make_mixer(), tmp_path)
    for name in ("narration/099-old-line.wav", "session.flac"):
        (tmp_path / name).mkdir()
    export_session(make_mixer(0.5), tmp_path, force=True)
    assert (tmp_path / "narration/099-old-line.wav").is_dir()
    assert (tmp_path / "session.flac").is_dir()


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ExportError) as caught:
        export_session(make_mixer(), target)
    assert str(caught.value) == f"{target}: exists and is not a folder"


def test_unwritable_folder(tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits: a read-only bind of the folder refuses for real
        folder = tmp_path / "ro"
        folder.mkdir()
        subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], check=True)
        try:
            with pytest.raises(ExportError) as caught:
                export_session(make_mixer(), folder)
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        assert str(caught.value) == (f"cannot create {folder / 'narration'}:"
                                     " Read-only file system")
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
        with pytest.raises(ExportError) as caught:
            export_session(make_mixer(), folder)
        assert str(caught.value) == f"cannot create {folder / 'narration'}: Permission denied"


def test_disk_full_leaves_nothing_half_written(tiny_disk):
    mixer = make_mixer(6.0)
    assert mixer.timeline.duration * 2 > 4 * 1024 * 1024
    with pytest.raises(ExportError) as caught:
        export_session(mixer, tiny_disk)
    assert str(caught.value) == (f"disk full: no room in {tiny_disk} for the export;"
                                 " nothing was replaced")
    assert sorted(p.name for p in tiny_disk.rglob("*")) == ["narration"]


def test_disk_full_keeps_the_previous_export_whole(tiny_disk):
    small = make_mixer(0.1)
    assert small.timeline.duration * 2 < 1.5 * 1024 * 1024
    export_session(small, tiny_disk)
    before = {p: p.read_bytes() for p in tiny_disk.rglob("*") if p.is_file()}
    with pytest.raises(ExportError):
        export_session(make_mixer(6.0), tiny_disk, force=True)
    after = {p: p.read_bytes() for p in tiny_disk.rglob("*") if p.is_file()}
    assert after == before
