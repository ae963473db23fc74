"""Session audio format and conversions between it and what files and engines hold.

Everything inside voice-coach is mono signed 16-bit at ``SAMPLE_RATE``: espeak-ng's own
format, so speech never needs resampling on Linux. ``decode_audio`` accepts what TTS
engines and users actually hand in and converts it:

- WAV (RIFF/WAVE): PCM 8-bit unsigned, 16, 24 and 32-bit signed, 32/64-bit IEEE float,
  plain or ``WAVE_FORMAT_EXTENSIBLE``;
- AIFF and AIFF-C (``NONE``/``twos`` big-endian, ``sowt`` little-endian, ``fl32``/``fl64``):
  macOS's speech driver writes AIFF whatever the file is called.

The container is recognised by its content, never by a name. Channels are averaged to
mono; other rates are resampled with a Kaiser-windowed sinc (flat within 0.02 dB up to
~9 kHz, at least 80 dB down from 11 kHz when downsampling to 22050 Hz). Nothing here
touches the file system: bytes in, arrays out.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from voice_coach.errors import VoiceCoachError

SAMPLE_RATE = 22050
Samples = npt.NDArray[np.int16]
_Floats = npt.NDArray[np.float64]

MIN_RATE: Final = 1_000
MAX_RATE: Final = 768_000
WAV_HEADER_BYTES: Final = 44

_EXPECTED: Final = "expected WAV or AIFF audio (PCM or float)"
_EXTENSIBLE_GUID_TAIL: Final = bytes.fromhex("000000001000800000aa00389b71")
_WAV_CODECS: Final = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x00FF: "AAC",
}
_OTHER_CONTAINERS: Final = {
    b"fLaC": "FLAC",
    b"OggS": "Ogg",
    b"ID3": "MP3",
    b"RF64": "RF64 (64-bit WAV)",
    b"RIFX": "big-endian RIFX WAV",
    b"caff": "Core Audio (CAF)",
}

_ZEROS: Final = 32
"""Zero crossings of the resampling sinc on each side of its centre."""
_ROLLOFF: Final = 0.9
"""Cut-off as a fraction of the lower Nyquist frequency."""
_KAISER_BETA: Final = 8.6
_CHUNK: Final = 4096


class AudioFormatError(VoiceCoachError):
    """Audio data is not in a format voice-coach can read or convert."""


@dataclass(frozen=True)
class _Layout:
    """Where the samples are in a file and how they are stored."""

    kind: Literal["int", "uint", "float"]
    width_bytes: int
    byte_order: Literal["<", ">"]
    channels: int
    sample_rate: int
    frames: int
    offset: int


# --- Public entry points ------------------------------------------------------------


def decode_audio(data: bytes, source: str) -> Samples:
    """Decode WAV or AIFF bytes to session-format samples. ``source`` names the data in errors.

    Raises ``AudioFormatError`` (one line, starting ``source:``) for anything that is not
    uncompressed WAV/AIFF with at least one frame.
    """
    layout = _parse(data, source)
    if (layout.kind, layout.width_bytes, layout.byte_order, layout.channels,
            layout.sample_rate) == ("int", 2, "<", 1, SAMPLE_RATE):
        return np.frombuffer(data, dtype="<i2", count=layout.frames,
                             offset=layout.offset).astype(np.int16)
    mono = _to_float(data, layout).mean(axis=1)
    out_frames = round(layout.frames * SAMPLE_RATE / layout.sample_rate)
    if out_frames == 0:
        raise AudioFormatError(
            f"{source}: {layout.frames} frame(s) at {layout.sample_rate} Hz is shorter than"
            f" one sample at {SAMPLE_RATE} Hz; expected at least 1/{SAMPLE_RATE} s of audio"
        )
    return to_int16(resample(mono, layout.sample_rate, SAMPLE_RATE))


def decoded_length(data: bytes, source: str) -> int:
    """How many samples ``decode_audio(data, source)`` returns, read from the header alone:
    a file too long to use is refused before it costs the time to resample. Raises
    ``AudioFormatError`` as ``decode_audio`` does for a header it cannot read."""
    layout = _parse(data, source)
    if layout.sample_rate == SAMPLE_RATE:
        return layout.frames
    return round(layout.frames * SAMPLE_RATE / layout.sample_rate)


def wav_header(frames: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The canonical 44-byte header of a mono 16-bit PCM WAV holding ``frames`` samples."""
    data_bytes = 2 * frames
    if frames < 0 or data_bytes + 36 > 0xFFFF_FFFF:
        raise ValueError(f"a WAV file cannot hold {frames} frames")
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise ValueError(f"sample rate {sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE",
        b"fmt ", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16,
        b"data", data_bytes,
    )


def encode_wav(samples: Samples, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A complete mono 16-bit PCM WAV file holding ``samples``."""
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise ValueError(f"expected a 1-D int16 array, got {samples.ndim}-D {samples.dtype}")
    return wav_header(len(samples), sample_rate) + samples.astype("<i2").tobytes()


def to_int16(samples: _Floats) -> Samples:
    """Full scale floats (-1.0 to 1.0) to int16, rounded to nearest and clipped."""
    scaled = np.rint(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def resample(samples: _Floats, rate_in: int, rate_out: int) -> _Floats:
    """Band-limited resampling; the result has ``round(len * rate_out / rate_in)`` samples.

    Output sample ``n`` is the input interpolated at time ``n / rate_out``, low-passed at
    ``_ROLLOFF`` of the lower Nyquist frequency by a Kaiser-windowed sinc. The kernel rows
    are normalised so that DC passes unchanged at every phase.
    """
    if rate_in == rate_out:
        return samples.astype(np.float64)
    n_out = round(len(samples) * rate_out / rate_in)
    cutoff = 0.5 * _ROLLOFF * min(1.0, rate_out / rate_in)  # cycles per input sample
    half_width = _ZEROS / (2.0 * cutoff)  # input samples
    reach = math.ceil(half_width)
    taps = np.arange(-reach + 1, reach + 1, dtype=np.int64)
    padded = np.concatenate([np.zeros(reach), samples, np.zeros(reach + 1)])
    out = np.empty(n_out)
    for start in range(0, n_out, _CHUNK):
        n = np.arange(start, min(start + _CHUNK, n_out), dtype=np.int64)
        position = n * rate_in
        whole, remainder = np.divmod(position, rate_out)
        phases, row = np.unique(remainder, return_inverse=True)
        distance = (phases / rate_out)[:, None] - taps[None, :].astype(np.float64)
        kernel = _windowed_sinc(distance, cutoff, half_width)
        kernel /= kernel.sum(axis=1, keepdims=True)
        frames = padded[(whole + reach)[:, None] + taps[None, :]]
        out[start:start + len(n)] = np.einsum("ij,ij->i", frames, kernel[row])
    return out


# --- Parsing --------------------------------------------------------------------------


def _parse(data: bytes, source: str) -> _Layout:
    if not data:
        raise AudioFormatError(f"{source}: empty (0 bytes); {_EXPECTED}")
    magic = data[:4]
    if magic == b"RIFF":
        if len(data) < 12:
            raise AudioFormatError(
                f"{source}: truncated WAV header ({len(data)} bytes); expected at least 44"
            )
        if data[8:12] != b"WAVE":
            raise AudioFormatError(
                f"{source}: RIFF file of type {data[8:12]!r}; expected b'WAVE'"
            )
        return _parse_wav(data, source)
    if magic == b"FORM":
        if len(data) < 12:
            raise AudioFormatError(
                f"{source}: truncated AIFF header ({len(data)} bytes); expected at least 54"
            )
        if data[8:12] not in (b"AIFF", b"AIFC"):
            raise AudioFormatError(
                f"{source}: IFF file of type {data[8:12]!r}; expected b'AIFF' or b'AIFC'"
            )
        return _parse_aiff(data, source, compressed=data[8:12] == b"AIFC")
    for prefix, name in _OTHER_CONTAINERS.items():
        if data.startswith(prefix):
            raise AudioFormatError(f"{source}: {name} data; {_EXPECTED}")
    raise AudioFormatError(
        f"{source}: not WAV or AIFF audio (starts with {data[:4]!r}); {_EXPECTED}"
    )


def _chunks(data: bytes, order: Literal["<", ">"]) -> dict[bytes, tuple[int, int]]:
    """First occurrence of each chunk: id -> (offset of its body, declared size)."""
    found: dict[bytes, tuple[int, int]] = {}
    position = 12
    while position + 8 <= len(data):
        chunk_id = data[position:position + 4]
        (size,) = struct.unpack_from(f"{order}I", data, position + 4)
        found.setdefault(chunk_id, (position + 8, size))
        position += 8 + size + (size & 1)
    return found


def _parse_wav(data: bytes, source: str) -> _Layout:
    chunks = _chunks(data, "<")
    if b"fmt " not in chunks:
        raise AudioFormatError(
            f"{source}: truncated WAV header (no 'fmt ' chunk in {len(data)} bytes);"
            " expected a 'fmt ' chunk before the data"
        )
    body, size = chunks[b"fmt "]
    if size < 16 or body + size > len(data):
        present = min(size, len(data) - body)
        raise AudioFormatError(
            f"{source}: truncated WAV header ('fmt ' chunk of {present} bytes);"
            " expected at least 16"
        )
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", data, body)
    format_name = "WAV"
    if tag == 0xFFFE:
        format_name = "WAVE_FORMAT_EXTENSIBLE"
        if size < 40:
            raise AudioFormatError(
                f"{source}: truncated WAV header (WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of"
                f" {size} bytes); expected 40"
            )
        guid = data[body + 24:body + 40]
        if guid[2:] != _EXTENSIBLE_GUID_TAIL:
            raise AudioFormatError(
                f"{source}: WAVE_FORMAT_EXTENSIBLE with unknown subformat {guid.hex()};"
                f" {_EXPECTED}"
            )
        (tag,) = struct.unpack_from("<H", guid)
    if tag not in (1, 3):
        codec = _WAV_CODECS.get(tag, "unknown codec")
        raise AudioFormatError(
            f"{source}: compressed {format_name} (format 0x{tag:04X}, {codec});"
            " expected uncompressed PCM or IEEE float"
        )
    kind: Literal["int", "uint", "float"] = "float" if tag == 3 else "int"
    width = (bits + 7) // 8
    if kind == "int" and width == 1:
        kind = "uint"
    _check_encoding(source, kind, width, bits, format_name)
    _check_channels_rate(source, channels, rate)
    if block_align != channels * width:
        raise AudioFormatError(
            f"{source}: inconsistent WAV header (block align {block_align} for {channels}"
            f" channel(s) of {bits} bits); expected {channels * width}"
        )
    if b"data" not in chunks:
        raise AudioFormatError(f"{source}: no 'data' chunk; expected audio after the header")
    offset, data_bytes = chunks[b"data"]
    available = len(data) - offset
    if data_bytes > available:
        raise AudioFormatError(
            f"{source}: truncated WAV data ('data' chunk declares {data_bytes} bytes,"
            f" {available} present); expected a complete file"
        )
    frames = data_bytes // block_align
    _check_frames(source, frames)
    return _Layout(kind, width, "<", channels, rate, frames, offset)


_AIFC_ENCODINGS: Final[dict[bytes, tuple[Literal["int", "float"], Literal["<", ">"]]]] = {
    b"NONE": ("int", ">"),
    b"twos": ("int", ">"),
    b"sowt": ("int", "<"),
    b"fl32": ("float", ">"),
    b"FL32": ("float", ">"),
    b"fl64": ("float", ">"),
    b"FL64": ("float", ">"),
}


def _parse_aiff(data: bytes, source: str, *, compressed: bool) -> _Layout:
    format_name = "AIFF-C" if compressed else "AIFF"
    chunks = _chunks(data, ">")
    need = 22 if compressed else 18
    if b"COMM" not in chunks:
        raise AudioFormatError(
            f"{source}: truncated {format_name} header (no 'COMM' chunk in {len(data)} bytes);"
            " expected a 'COMM' chunk"
        )
    body, size = chunks[b"COMM"]
    if size < need or body + need > len(data):
        present = min(size, len(data) - body)
        raise AudioFormatError(
            f"{source}: truncated {format_name} header ('COMM' chunk of {present} bytes);"
            f" expected at least {need}"
        )
    channels, frames, bits = struct.unpack_from(">hIh", data, body)
    rate_value = _extended(data[body + 8:body + 18])
    kind: Literal["int", "uint", "float"] = "int"
    order: Literal["<", ">"] = ">"
    if compressed:
        code = data[body + 18:body + 22]
        if code not in _AIFC_ENCODINGS:
            raise AudioFormatError(
                f"{source}: compressed AIFF-C ({code!r});"
                " expected 'NONE', 'twos', 'sowt', 'fl32' or 'fl64'"
            )
        kind, order = _AIFC_ENCODINGS[code]
    width = (bits + 7) // 8 if bits > 0 else 0
    _check_encoding(source, kind, width, bits, format_name)
    if not math.isfinite(rate_value) or not MIN_RATE <= rate_value <= MAX_RATE:
        rate_text = f"{rate_value:g}" if math.isfinite(rate_value) else str(rate_value)
        raise AudioFormatError(
            f"{source}: sample rate {rate_text} Hz; expected {MIN_RATE:,} to {MAX_RATE:,} Hz"
        )
    rate = round(rate_value)
    _check_channels_rate(source, channels, rate)
    _check_frames(source, frames)
    if b"SSND" not in chunks:
        raise AudioFormatError(f"{source}: no 'SSND' chunk; expected audio after the header")
    body, size = chunks[b"SSND"]
    skip = struct.unpack_from(">I", data, body)[0] if body + 8 <= len(data) else 0
    offset = body + 8 + skip
    needed = frames * channels * width
    available = max(0, min(len(data), body + size) - offset)
    if needed > available:
        raise AudioFormatError(
            f"{source}: truncated {format_name} data ({frames} frames need {needed} bytes,"
            f" {available} present); expected a complete file"
        )
    return _Layout(kind, width, order, channels, rate, frames, offset)


def _extended(raw: bytes) -> float:
    """An 80-bit IEEE 754 extended float (AIFF sample rates)."""
    exponent_sign, mantissa = struct.unpack(">HQ", raw)
    exponent = exponent_sign & 0x7FFF
    if exponent == 0x7FFF:
        return math.nan
    try:
        value = math.ldexp(float(mantissa), exponent - 16383 - 63) if mantissa else 0.0
    except OverflowError:  # past a double's range: no sample rate at all
        value = math.inf
    return -value if exponent_sign & 0x8000 else value


def _check_encoding(source: str, kind: str, width: int, bits: int, format_name: str) -> None:
    if kind == "float" and width not in (4, 8):
        raise AudioFormatError(
            f"{source}: {bits}-bit float {format_name}; expected 32 or 64-bit float"
        )
    if kind != "float" and not 1 <= width <= 4:
        raise AudioFormatError(
            f"{source}: {bits}-bit {format_name} PCM; expected 8, 16, 24 or 32-bit"
        )


def _check_channels_rate(source: str, channels: int, rate: int) -> None:
    if channels < 1:
        raise AudioFormatError(f"{source}: {channels} channels; expected at least 1")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(
            f"{source}: sample rate {rate} Hz; expected {MIN_RATE:,} to {MAX_RATE:,} Hz"
        )


def _check_frames(source: str, frames: int) -> None:
    if frames == 0:
        raise AudioFormatError(f"{source}: no audio (0 frames); expected at least 1 frame")


# --- Conversion -----------------------------------------------------------------------


def _to_float(data: bytes, layout: _Layout) -> _Floats:
    """Samples as (frames, channels) floats, full scale -1.0 to 1.0."""
    count = layout.frames * layout.channels
    width, order = layout.width_bytes, layout.byte_order
    if layout.kind == "float":
        raw = np.frombuffer(data, dtype=f"{order}f{width}", count=count, offset=layout.offset)
        values = raw.astype(np.float64)
    elif layout.kind == "uint":
        raw = np.frombuffer(data, dtype=np.uint8, count=count, offset=layout.offset)
        values = (raw.astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        triples = np.frombuffer(data, dtype=np.uint8, count=3 * count,
                                offset=layout.offset).reshape(-1, 3)
        quads = np.zeros((count, 4), dtype=np.uint8)
        if order == "<":
            quads[:, 1:] = triples
        else:
            quads[:, :3] = triples
        values = (quads.view(f"{order}i4")[:, 0] >> 8).astype(np.float64) / 2.0**23
    else:
        raw = np.frombuffer(data, dtype=f"{order}i{width}", count=count, offset=layout.offset)
        values = raw.astype(np.float64) / 2.0 ** (8 * width - 1)
    return values.reshape(layout.frames, layout.channels)


def _windowed_sinc(distance: _Floats, cutoff: float, half_width: float) -> _Floats:
    """Low-pass kernel at ``cutoff`` cycles/sample, Kaiser-windowed to ``half_width``."""
    inside = np.clip(1.0 - (distance / half_width) ** 2, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(inside)) / np.i0(_KAISER_BETA)
    window[np.abs(distance) > half_width] = 0.0
    result: _Floats = 2.0 * cutoff * np.sinc(2.0 * cutoff * distance) * window
    return result
