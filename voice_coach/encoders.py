"""Lossy encoders of an export: Ogg Opus and AAC in MP4 through PyAV, MP3 through lameenc.

PyAV's wheels bundle FFmpeg with libopus and FFmpeg's own AAC encoder, and expose each
encoder's settings, which libsndfile does not (it fixes Opus at complexity 10 and gives
no say over LAME). The LAME in PyAV's wheel is 3-4x slower than a distribution's build;
lameenc's is not, so MP3 is LAME through lameenc, framed here with the Info/LAME header
that tells decoders the encoder's delay and padding (gapless: the decoded file is the
session to the sample). The settings chosen for speech, and the measurements behind
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
FRAME_S: Final = 0.1
"""Seconds of audio resampled and handed to PyAV at a time. soxr and PyAV each hold a
piece whole (PyAV converts and queues it before the encoder cuts its own frames from
the queue), so a 10 s chunk passed at once cost 30 MB of copies at 48 kHz; 0.1 s pieces
cost under one, and the file is the same bytes."""


class EncoderError(Exception):
    """An encoder's library (``package``, its PyPI name) or the encoder cannot be loaded."""

    def __init__(self, message: str, package: str) -> None:
        super().__init__(message)
        self.package = package


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
    # Written by lameenc (``encode_mp3``); the names are what ffmpeg's command line takes.
    "mp3": Encoding("libmp3lame", "mp3", MP3_KBPS * 1000,
                    options={"compression_level": str(MP3_QUALITY)}),
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
    if encoding is ENCODINGS["mp3"]:
        _lameenc()
        return
    av = _av()
    try:
        av.codec.Codec(encoding.codec, "w")
    except Exception:  # PyAV raises its own UnknownCodecError, or ValueError
        raise EncoderError(f"PyAV {av.__version__} has no {encoding.codec} encoder",
                           "av") from None


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
        pieces = _pieces(chunks, round(FRAME_S * sample_rate))
        blocks: Iterator[npt.NDArray[np.int16] | npt.NDArray[np.float32]] = (
            pieces if rate == sample_rate else resampled(pieces, sample_rate, rate))
        pts = 0
        for block in blocks:
            if block.size == 0:
                continue
            frame = av.AudioFrame.from_ndarray(
                block.reshape(1, -1), format="s16" if block.dtype == np.int16 else "flt",
                layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += block.size
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _pieces(chunks: Iterator[Samples], size: int) -> Iterator[Samples]:
    """The samples of ``chunks`` in contiguous pieces of at most ``size``."""
    for chunk in chunks:
        for start in range(0, chunk.size, size):
            yield np.ascontiguousarray(chunk[start:start + size])


_MP3_BIT_RATES: Final = {  # kbps by the header's index: MPEG-1, MPEG-2/2.5 layer III
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MP3_RATES: Final = {1: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000),
                     25: (11_025, 12_000, 8_000)}
LAME_DELAY: Final = 576
"""Samples LAME puts before the first input sample (its ``ENCDELAY``)."""


@dataclass(frozen=True)
class Mp3Frame:
    """What an MPEG audio layer III frame header says."""

    version: Literal[1, 2, 25]
    sample_rate: int
    bit_rate_kbps: int
    size: int
    samples: int


def mp3_frame(header: bytes) -> Mp3Frame:
    """Decode a layer III frame header (4 bytes); ValueError if it is none."""
    word = int.from_bytes(header[:4], "big")
    version = {3: 1, 2: 2, 0: 25}.get((word >> 19) & 3)
    bit_index, rate_index = (word >> 12) & 15, (word >> 10) & 3
    if (word >> 21) != 0x7FF or version is None or (word >> 17) & 3 != 1 \
            or bit_index in (0, 15) or rate_index == 3:
        raise ValueError(f"not an MPEG layer III frame header: {header[:4].hex()}")
    kbps = _MP3_BIT_RATES[1 if version == 1 else 2][bit_index]
    rate = _MP3_RATES[version][rate_index]
    samples = 1152 if version == 1 else 576
    size = samples // 8 * kbps * 1000 // rate + ((word >> 9) & 1)
    return Mp3Frame(version, rate, kbps, size, samples)  # type: ignore[arg-type]


def encode_mp3(path: Path, chunks: Iterator[Samples], sample_rate: int) -> None:
    """``path`` holding LAME's frames of ``chunks``, behind an Info frame with its LAME
    header: frame count, byte count, encoder delay and padding (what gapless decoders,
    ffmpeg's among them, read to cut the file back to the input's samples)."""
    lameenc = _lameenc()
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(MP3_QUALITY)
    samples = 0
    with open(path, "w+b") as out:
        for chunk in chunks:
            samples += chunk.size
            out.write(encoder.encode(np.ascontiguousarray(chunk, dtype="<i2").tobytes()))
        out.write(encoder.flush())
        out.seek(0)
        audio = out.read()
        info = info_frame(audio, samples)
        out.seek(0)
        out.write(info)
        out.write(audio)


def info_frame(audio: bytes, samples: int) -> bytes:
    """The Info (Xing, for a constant bit rate) frame with a LAME header that goes before
    ``audio``, LAME's frames of ``samples`` input samples."""
    first = mp3_frame(audio)
    frames, offset = 0, 0
    while offset < len(audio):
        offset += mp3_frame(audio[offset:offset + 4]).size
        frames += 1
    header = int.from_bytes(audio[:4], "big") & ~(1 << 9) | (1 << 16)  # unpadded, no CRC
    frame = bytearray(mp3_frame(header.to_bytes(4, "big")).size)
    frame[:4] = header.to_bytes(4, "big")
    at = 4 + (17 if first.version == 1 else 9)  # after the (mono) side information
    padding = frames * first.samples - LAME_DELAY - samples
    tag = (b"Info" + (3).to_bytes(4, "big")  # fields present: frames, bytes
           + frames.to_bytes(4, "big") + (len(frame) + len(audio)).to_bytes(4, "big")
           + b"LAME3.100" + bytes([0x01])  # tag revision 0, constant bit rate
           + bytes(1 + 4 + 2 + 2 + 1) + bytes([min(first.bit_rate_kbps, 255)])
           + (LAME_DELAY << 12 | padding).to_bytes(3, "big")
           + bytes(1 + 1 + 2) + len(audio).to_bytes(4, "big") + bytes(2))
    frame[at:at + len(tag)] = tag
    crc_at = at + len(tag)
    frame[crc_at:crc_at + 2] = _crc16(bytes(frame[:crc_at])).to_bytes(2, "big")
    return bytes(frame)


def _crc16(data: bytes) -> int:
    """CRC-16/ARC, the LAME header's own checksum of the frame up to it."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def resampled(chunks: Iterator[Samples], rate_in: int,
              rate_out: int) -> Iterator[npt.NDArray[np.float32]]:
    """Float chunks at ``rate_out``: one soxr stream, so the cuts leave no trace."""
    import soxr

    stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality="VHQ")
    for chunk in chunks:
        yield stream.resample_chunk(chunk.astype(np.float32) / 32768.0)
    yield stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def _lameenc() -> ModuleType:
    """lameenc (LAME), imported when MP3 is first used."""
    try:
        import lameenc
    except ImportError as exc:
        raise EncoderError(f"cannot load lameenc ({exc})", "lameenc") from None
    module: ModuleType = lameenc
    return module


def _av() -> ModuleType:
    """PyAV, imported when a lossy format is first used (it loads FFmpeg: ~0.1 s)."""
    try:
        import av
    except ImportError as exc:
        raise EncoderError(f"cannot load PyAV ({exc})", "av") from None
    return av
