"""Audio file formats of an export: one writer per format, behind one small interface.

A format writes session PCM (mono int16 chunks, in order) and the chapters and tags
that go with it; nothing else in the export knows one format from another. WAV is
written here byte by byte; FLAC through python-soundfile; MP3 through lameenc, Ogg Opus and
M4A (AAC-LC in MP4) through PyAV (``encoders``). Chapters and tags: ID3v2 CHAP and CTOC frames in
MP3, ``CHAPTERnnn`` / ``CHAPTERnnnNAME`` comments in Opus and FLAC (mutagen writes both,
as podcast players read them); in M4A the muxer writes a QuickTime chapter track and a
Nero ``chpl`` box (what Apple's apps and others read) and iTunes-style tags.

Opus is only defined at 8, 12, 16, 24 and 48 kHz: the session is resampled to 48 kHz
with soxr, streamed chunk by chunk so the result is the same however it is cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, get_args

import numpy as np

from voice_coach import encoders
from voice_coach.encoders import ENCODINGS, EncoderError, Marker
from voice_coach.errors import VoiceCoachError
from voice_coach.pcm import Samples, wav_header

FormatName: TypeAlias = Literal["wav", "flac", "mp3", "opus", "m4a"]
FORMAT_NAMES: Final[tuple[FormatName, ...]] = get_args(FormatName)
ARTIST: Final = "voice-coach"


class FormatError(VoiceCoachError):
    """An export format cannot be written with the libraries installed here."""


@dataclass(frozen=True)
class Chapter:
    """A step: where it begins and ends (milliseconds from the start) and its label."""

    start_ms: int
    end_ms: int
    title: str


@dataclass(frozen=True)
class Tags:
    """What a player shows: the routine's title, ``voice-coach``, the routine's summary."""

    title: str
    comment: str = ""
    artist: str = ARTIST


@dataclass(frozen=True)
class Format:
    """One export format: its name, its file suffix, and how it writes."""

    name: FormatName
    suffix: str
    label: str

    @property
    def encodes(self) -> bool:
        """A lossy format: encoding costs seconds of CPU, worth a core of its own."""
        return self.name in ENCODINGS

    def check(self) -> None:
        """Raise FormatError, with the fix, when this format cannot be written here."""
        if self.name == "wav":
            return
        if self.name == "flac":
            _soundfile()
            return
        try:
            encoders.check(ENCODINGS[self.name])
        except EncoderError as exc:
            raise FormatError(f"cannot write {self.label}: {exc}; reinstall it (the wheel"
                              " bundles the encoder): pip install --force-reinstall"
                              f" {exc.package}") from None

    def write(self, path: Path, chunks: Iterator[Samples], sample_rate: int,
              chapters: Sequence[Chapter] = (), tags: Tags | None = None) -> None:
        """``path`` holding the session from ``chunks``, with chapters and tags if any."""
        if self.name == "wav":
            write_wav(path, chunks, sample_rate)
            return
        if self.name == "flac":
            _write_flac(path, chunks, sample_rate)
        elif self.name == "m4a":  # the muxer writes MP4's chapters and tags itself
            encoders.encode(path, chunks, sample_rate, ENCODINGS["m4a"],
                            [Marker(c.start_ms, c.end_ms, c.title) for c in chapters],
                            mp4_metadata(tags) if tags is not None else None)
            return
        elif self.name == "mp3":
            encoders.encode_mp3(path, chunks, sample_rate)
        else:
            encoders.encode(path, chunks, sample_rate, ENCODINGS[self.name])
        if tags is not None or chapters:
            _TAGGERS[self.name](path, chapters, tags or Tags(title=""))


FORMATS: Final[dict[FormatName, Format]] = {
    "wav": Format("wav", ".wav", "WAV"),
    "flac": Format("flac", ".flac", "FLAC"),
    "mp3": Format("mp3", ".mp3", "MP3"),
    "opus": Format("opus", ".opus", "Ogg Opus"),
    "m4a": Format("m4a", ".m4a", "M4A"),
}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]  # type: ignore[index]
    except KeyError:
        raise FormatError(f"unknown format {name!r}; expected one of"
                          f" {', '.join(FORMAT_NAMES)}") from None


def write_wav(path: Path, chunks: Iterator[Samples], sample_rate: int) -> None:
    """A mono 16-bit WAV from chunks of samples (not yet on disk: see ``export.Flusher``).

    The header is written here rather than by ``wave``: a ``Wave_write`` interrupted
    before its ``__init__`` ran prints a traceback from ``__del__`` ("Exception ignored").
    """
    with open(path, "wb") as raw:
        raw.write(wav_header(0, sample_rate))
        frames = 0
        for chunk in chunks:
            raw.write(np.ascontiguousarray(chunk, dtype="<i2").data)
            frames += chunk.size
        raw.seek(0)
        raw.write(wav_header(frames, sample_rate))


def _soundfile() -> Any:
    """python-soundfile, imported when a compressed format is first used."""
    try:
        import soundfile as sf
    except OSError as exc:  # the wheel's libsndfile failed to load
        raise FormatError(f"cannot load libsndfile ({exc}); reinstall it: pip install"
                          " --force-reinstall soundfile") from None
    return sf


def _write_flac(path: Path, chunks: Iterator[Samples], sample_rate: int) -> None:
    sf = _soundfile()
    with sf.SoundFile(path, "w", sample_rate, 1, subtype="PCM_16", format="FLAC") as out:
        for chunk in chunks:
            out.write(chunk)


def mp4_metadata(tags: Tags) -> dict[str, str]:
    """FFmpeg's names for the MP4 tags it writes as ``©nam``, ``©ART`` and ``©cmt``."""
    found = {"title": tags.title, "artist": tags.artist}
    if tags.comment:
        found["comment"] = tags.comment
    return found


def _vorbis_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def vorbis_comments(chapters: Sequence[Chapter], tags: Tags) -> list[tuple[str, str]]:
    """Tags and ``CHAPTER001=00:00:00.000`` / ``CHAPTER001NAME=...``, numbered from 1."""
    fields = [("TITLE", tags.title), ("ARTIST", tags.artist)]
    if tags.comment:
        fields.append(("COMMENT", tags.comment))
    for number, chapter in enumerate(chapters, start=1):
        fields += [(f"CHAPTER{number:03d}", _vorbis_time(chapter.start_ms)),
                   (f"CHAPTER{number:03d}NAME", chapter.title)]
    return fields


def _tag_vorbis(kind: Literal["flac", "opus"], path: Path, chapters: Sequence[Chapter],
                tags: Tags) -> None:
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus

    audio: Any = FLAC(path) if kind == "flac" else OggOpus(path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in vorbis_comments(chapters, tags):
        audio.tags[key] = value
    audio.save()


def _tag_mp3(path: Path, chapters: Sequence[Chapter], tags: Tags) -> None:
    """ID3v2.3 (what most players read): title, artist, comment, and chapters as CHAP
    frames under one ordered top-level CTOC, each titled by a TIT2 sub-frame."""
    from mutagen.id3 import CHAP, COMM, CTOC, ID3, TIT2, TPE1, CTOCFlags

    id3 = ID3()
    id3.add(TIT2(encoding=3, text=[tags.title]))
    id3.add(TPE1(encoding=3, text=[tags.artist]))
    if tags.comment:
        id3.add(COMM(encoding=3, lang="eng", desc="", text=[tags.comment]))
    ids = [f"chp{number:03d}" for number in range(len(chapters))]  # sorted as numbered
    if chapters:
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                     child_element_ids=ids, sub_frames=[TIT2(encoding=3, text=["Steps"])]))
    for element_id, chapter in zip(ids, chapters, strict=True):
        id3.add(CHAP(element_id=element_id, start_time=chapter.start_ms,
                     end_time=chapter.end_ms,
                     start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                     sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    id3.save(path, v2_version=3)


_TAGGERS: Final = {
    "flac": lambda path, chapters, tags: _tag_vorbis("flac", path, chapters, tags),
    "opus": lambda path, chapters, tags: _tag_vorbis("opus", path, chapters, tags),
    "mp3": _tag_mp3,
}
