"""Lossy encoders of an export: MP3, Ogg Opus and AAC in MP4, through PyAV.

PyAV's wheels bundle FFmpeg with LAME, libopus and FFmpeg's own AAC encoder, and expose
each encoder's settings, which libsndfile does not (it fixes Opus at complexity 10 and
gives no say over LAME). The settings chosen for speech, and the measurements behind
them, are in docs/loudness.md ("Encoder settings").

The muxers write with FFmpeg's ``bitexact`` flag: no library version in the file and the
Ogg stream's serial number fixed, so the same session encodes to the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from voice_coach.pcm import Samples

MP3_KBPS: Final = 96
"""Constant bit rate: mono speech at 22,050 Hz is clean from about 64 kbps."""
OPUS_KBPS: Final = 48
"""Nominal (variable) bit rate: Opus speech is clean from about 32 kbps mono."""
AAC_KBPS: Final = 64
"""Nominal bit rate of AAC-LC, mono: FFmpeg's AAC encoder spends what speech needs."""
OPUS_RATE: Final = 48_000
"""Opus is only defined at 8, 12, 16, 24 and 48 kHz; the session goes in resampled."""
OPUS_COMPLEXITY: Final = 5
"""libopus effort, 0-10: 5 encodes 3x faster than 10, within 0.2 LU and 0.5 dB of peak."""
MP3_QUALITY: Final = 7
"""LAME's algorithm effort, 0 (slowest) - 9: at 96 kbps mono, 7 loses nothing measurable."""
AAC_CODER: Final = "fast"
"""FFmpeg's AAC coefficient search: ``fast`` is 3x faster than ``twoloop`` and closer."""


class EncoderError(Exception):
    """PyAV or one of its encoders cannot be loaded here."""


@dataclass(frozen=True)
class Encoding:
    """How one format is encoded: FFmpeg's encoder and muxer names, the rate it takes
    (None: the session's), the bit rate, and the encoder's own options."""

    codec: str
    container: str
    bit_rate: int
    sample_rate: int | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    container_options: Mapping[str, str] = field(default_factory=dict)


ENCODINGS: Final[dict[Literal["mp3", "opus", "m4a"], Encoding]] = {
    # No ID3 from the muxer: mutagen writes the tags and chapters (ID3v2.3) afterwards.
    "mp3": Encoding("libmp3lame", "mp3", MP3_KBPS * 1000,
                    options={"compression_level": str(MP3_QUALITY)},
                    container_options={"id3v2_version": "0"}),
    "opus": Encoding("libopus", "ogg", OPUS_KBPS * 1000, OPUS_RATE,
                     options={"compression_level": str(OPUS_COMPLEXITY),
                              # below complexity 7 free VBR spends ~85 kbps on speech
                              "vbr": "constrained"}),
    "m4a": Encoding("aac", "ipod", AAC_KBPS * 1000,
                    options={"aac_coder": AAC_CODER, "profile": "aac_low"}),
}


@dataclass(frozen=True)
class Marker:
    """A chapter as the container writes it: start and end in ms from the start, title."""

    start_ms: int
    end_ms: int
    title: str


def check(encoding: Encoding) -> None:
    """Raise EncoderError, saying what is missing, when ``encoding`` cannot be written."""
    av = _av()
    try:
        av.codec.Codec(encoding.codec, "w")
    except Exception:  # PyAV raises its own UnknownCodecError, or ValueError
        raise EncoderError(f"PyAV {av.__version__} has no {encoding.codec} encoder") from None


def encode(path: Path, chunks: Iterator[Samples], sample_rate: int, encoding: Encoding,
           markers: Sequence[Marker] = (), metadata: Mapping[str, str] | None = None) -> None:
    """Write ``path`` from mono int16 ``chunks`` at ``sample_rate``; ``markers`` and
    ``metadata`` go into the container's chapters and tags where it has them (MP4)."""
    av = _av()
    rate = encoding.sample_rate or sample_rate
    with av.open(str(path), "w", format=encoding.container,
                 container_options={"fflags": "+bitexact", **encoding.container_options}
                 ) as container:
        stream = container.add_stream(encoding.codec, rate=rate, options=dict(encoding.options))
        stream.codec_context.layout = "mono"
        stream.codec_context.bit_rate = encoding.bit_rate
        if metadata:
            container.metadata.update(metadata)
        if markers:
            container.set_chapters([
                {"id": number, "start": marker.start_ms, "end": marker.end_ms,
                 "time_base": Fraction(1, 1000), "metadata": {"title": marker.title}}
                for number, marker in enumerate(markers, start=1)])
        blocks: Iterator[npt.NDArray[np.int16] | npt.NDArray[np.float32]] = (
            chunks if rate == sample_rate else resampled(chunks, sample_rate, rate))
        pts = 0
        for block in blocks:
            if block.size == 0:
                continue
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block).reshape(1, -1),
                format="s16" if block.dtype == np.int16 else "flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += block.size
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def resampled(chunks: Iterator[Samples], rate_in: int,
              rate_out: int) -> Iterator[npt.NDArray[np.float32]]:
    """Float chunks at ``rate_out``: one soxr stream, so the cuts leave no trace."""
    import soxr

    stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality="VHQ")
    for chunk in chunks:
        yield stream.resample_chunk(chunk.astype(np.float32) / 32768.0)
    yield stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def _av() -> ModuleType:
    """PyAV, imported when a lossy format is first used (it loads FFmpeg: ~0.1 s)."""
    try:
        import av
    except ImportError as exc:
        raise EncoderError(f"cannot load PyAV ({exc})") from None
    return av
