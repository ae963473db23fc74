"""pcm: WAV/AIFF bytes of every supported kind in, session-format samples out."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from support.audio import write_wav
from voice_coach.pcm import (
    SAMPLE_RATE,
    AudioFormatError,
    decode_audio,
    encode_wav,
    wav_header,
)

EXPECTED = "expected WAV or AIFF audio (PCM or float)"
EXTENSIBLE_TAIL = bytes.fromhex("000000001000800000aa00389b71")


# --- Building files byte by byte ------------------------------------------------------


def chunk(chunk_id: bytes, body: bytes, order: str = "<") -> bytes:
    pad = b"\x00" if len(body) % 2 else b""
    return chunk_id + struct.pack(f"{order}I", len(body)) + body + pad


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(tag: int, channels: int, rate: int, bits: int, *, block_align: int | None = None,
        extra: bytes | None = None) -> bytes:
    align = channels * ((bits + 7) // 8) if block_align is None else block_align
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if extra is not None:
        body += struct.pack("<H", len(extra)) + extra
    return chunk(b"fmt ", body)


def extensible(subformat: int, channels: int, rate: int, bits: int) -> bytes:
    extra = struct.pack("<HI", bits, 0) + struct.pack("<H", subformat) + EXTENSIBLE_TAIL
    return fmt(0xFFFE, channels, rate, bits, extra=extra)


def extended(rate: int) -> bytes:
    """An integer as an 80-bit IEEE extended float, as AIFF stores its sample rate."""
    exponent = rate.bit_length() - 1
    return struct.pack(">HQ", 16383 + exponent, rate << (63 - exponent))


def aiff(channels: int, frames: int, bits: int, rate: int, sound: bytes,
         compression: bytes | None = None) -> bytes:
    comm = struct.pack(">hIh", channels, frames, bits) + extended(rate)
    kind = b"AIFF"
    if compression is not None:
        kind = b"AIFC"
        comm += compression + b"\x00\x00"  # an empty Pascal string, padded to even
    body = (kind + chunk(b"COMM", comm, ">")
            + chunk(b"SSND", struct.pack(">II", 0, 0) + sound, ">"))
    return b"FORM" + struct.pack(">I", len(body)) + body


def stdlib_wav(path: Path, frames: bytes, channels: int, width: int, rate: int) -> bytes:
    return write_wav(path, frames, channels, width, rate).read_bytes()


def int16s(*values: int) -> npt.NDArray[np.int16]:
    return np.array(values, dtype=np.int16)


def le_int16(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


# --- Round trips and the header -------------------------------------------------------


def test_encode_then_decode_gives_the_same_samples(tmp_path: Path) -> None:
    samples = np.concatenate([int16s(-32768, -1, 0, 1, 32767),
                              np.arange(-32768, 32768, 7, dtype=np.int16)])
    path = tmp_path / "round.wav"
    path.write_bytes(encode_wav(samples))
    decoded = decode_audio(path.read_bytes(), str(path))
    assert decoded.dtype == np.int16
    assert np.array_equal(decoded, samples)


@given(hnp.arrays(np.int16, st.integers(1, 2000)))
def test_round_trip_any_samples(samples: npt.NDArray[np.int16]) -> None:
    assert np.array_equal(decode_audio(encode_wav(samples), "x"), samples)


def test_encode_wav_matches_the_stdlib_writer_byte_for_byte(tmp_path: Path) -> None:
    samples = int16s(0, 1000, -1000, 32767, -32768)
    expected = stdlib_wav(tmp_path / "std.wav", samples.astype("<i2").tobytes(), 1, 2,
                          SAMPLE_RATE)
    assert encode_wav(samples) == expected
    assert len(wav_header(5)) == 44
    assert expected[:44] == wav_header(5)


def test_wav_header_lets_a_streaming_writer_build_the_same_file(tmp_path: Path) -> None:
    chunks = [np.full(300, value, dtype=np.int16) for value in (5, -5, 7)]
    path = tmp_path / "stream.wav"
    with path.open("wb") as out:
        out.write(wav_header(900, 44100))
        for part in chunks:
            out.write(part.astype("<i2").tobytes())
    assert path.read_bytes() == encode_wav(np.concatenate(chunks), 44100)
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                reader.getnframes()) == (1, 2, 44100, 900)


def test_wav_header_and_encode_wav_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="cannot hold -1 frames"):
        wav_header(-1)
    with pytest.raises(ValueError, match="expected a 1-D int16 array, got 1-D float64"):
        encode_wav(np.zeros(3))  # type: ignore[arg-type]


# --- WAV encodings --------------------------------------------------------------------


def test_8_bit_unsigned_wav(tmp_path: Path) -> None:
    data = stdlib_wav(tmp_path / "u8.wav", bytes([0, 1, 64, 128, 192, 255]), 1, 1, SAMPLE_RATE)
    assert decode_audio(data, "u8").tolist() == [-32768, -32512, -16384, 0, 16384, 32512]


def test_24_bit_wav(tmp_path: Path) -> None:
    values = [-8388608, -256, 0, 256, 300, 8388352, 8388607]
    raw = b"".join(v.to_bytes(3, "little", signed=True) for v in values)
    data = stdlib_wav(tmp_path / "s24.wav", raw, 1, 3, SAMPLE_RATE)
    assert decode_audio(data, "s24").tolist() == [-32768, -1, 0, 1, 1, 32767, 32767]


def test_32_bit_integer_wav(tmp_path: Path) -> None:
    values = [-(2**31), -65536, 0, 65536, 1000 * 65536, 2**31 - 1]
    raw = np.array(values, dtype="<i4").tobytes()
    data = stdlib_wav(tmp_path / "s32.wav", raw, 1, 4, SAMPLE_RATE)
    assert decode_audio(data, "s32").tolist() == [-32768, -1, 0, 1, 1000, 32767]


@pytest.mark.parametrize("width", [4, 8])
def test_ieee_float_wav_clips_beyond_full_scale(width: int) -> None:
    values = [0.0, 0.5, -0.5, 0.25, 1.0, -1.0, 1.5, -2.0]
    raw = np.array(values, dtype=f"<f{width}").tobytes()
    data = riff(fmt(3, 1, SAMPLE_RATE, 8 * width, extra=b""),
                chunk(b"fact", struct.pack("<I", len(values))), chunk(b"data", raw))
    assert decode_audio(data, "float").tolist() == [0, 16384, -16384, 8192, 32767, -32768,
                                                    32767, -32768]


def test_extensible_float_and_24_bit() -> None:
    floats = np.array([0.5, -0.25], dtype="<f4").tobytes()
    data = riff(extensible(3, 1, SAMPLE_RATE, 32), chunk(b"data", floats))
    assert decode_audio(data, "ext-float").tolist() == [16384, -8192]
    raw = b"".join(v.to_bytes(3, "little", signed=True) for v in (512, -512))
    data = riff(extensible(1, 1, SAMPLE_RATE, 24), chunk(b"data", raw))
    assert decode_audio(data, "ext-24").tolist() == [2, -2]


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left, right = [100, 200, -300, 32767], [300, 0, -303, 32767]
    interleaved = le_int16(*[v for pair in zip(left, right, strict=True) for v in pair])
    data = stdlib_wav(tmp_path / "stereo.wav", interleaved, 2, 2, SAMPLE_RATE)
    assert decode_audio(data, "stereo").tolist() == [200, 100, -302, 32767]


def test_four_channel_extensible_is_averaged() -> None:
    frames = le_int16(400, 800, -400, 0, 1, 1, 1, 1)
    data = riff(extensible(1, 4, SAMPLE_RATE, 16), chunk(b"data", frames))
    assert decode_audio(data, "quad").tolist() == [200, 1]


def test_unknown_chunks_and_odd_padding_are_skipped() -> None:
    data = riff(chunk(b"JUNK", b"abc"), fmt(1, 1, SAMPLE_RATE, 16),
                chunk(b"LIST", b"INFOxyzzy"), chunk(b"data", le_int16(7, -7)),
                chunk(b"id3 ", b"tag"))
    assert decode_audio(data, "chunky").tolist() == [7, -7]


# --- AIFF -----------------------------------------------------------------------------


def test_aiff_16_bit_big_endian_stereo() -> None:
    sound = np.array([1000, 3000, -2, -4, 32767, 32767], dtype=">i2").tobytes()
    assert decode_audio(aiff(2, 3, 16, SAMPLE_RATE, sound), "a.aiff").tolist() == [
        2000, -3, 32767]


def test_aiff_8_bit_is_signed() -> None:
    sound = np.array([-128, -64, 0, 64, 127], dtype=np.int8).tobytes()
    assert decode_audio(aiff(1, 5, 8, SAMPLE_RATE, sound), "a8.aiff").tolist() == [
        -32768, -16384, 0, 16384, 32512]


def test_aiff_24_bit() -> None:
    sound = b"".join(v.to_bytes(3, "big", signed=True) for v in (256, -256, -8388608))
    assert decode_audio(aiff(1, 3, 24, SAMPLE_RATE, sound), "a24.aiff").tolist() == [
        1, -1, -32768]


@pytest.mark.parametrize(("compression", "order"), [(b"NONE", ">"), (b"twos", ">"),
                                                    (b"sowt", "<")])
def test_aiff_c_pcm_in_either_byte_order(compression: bytes, order: str) -> None:
    sound = np.array([1, -2, 300, -32768], dtype=f"{order}i2").tobytes()
    data = aiff(1, 4, 16, SAMPLE_RATE, sound, compression)
    assert decode_audio(data, "c.aifc").tolist() == [1, -2, 300, -32768]


def test_aiff_c_float() -> None:
    sound = np.array([0.5, -0.125], dtype=">f4").tobytes()
    assert decode_audio(aiff(1, 2, 32, SAMPLE_RATE, sound, b"fl32"), "f.aifc").tolist() == [
        16384, -4096]


def test_aiff_at_44100_hz_is_resampled() -> None:
    ramp = np.zeros(4410, dtype=">i2").tobytes()
    assert len(decode_audio(aiff(1, 4410, 16, 44100, ramp, b"sowt"), "r.aifc")) == 2205


# --- Resampling -----------------------------------------------------------------------


def sine_wav(tmp_path: Path, rate: int, frames: int, frequency_hz: float,
             amplitude: float = 0.5) -> bytes:
    t = np.arange(frames) / rate
    values = np.rint(amplitude * 32767 * np.sin(2 * np.pi * frequency_hz * t)).astype("<i2")
    return stdlib_wav(tmp_path / f"sine-{rate}.wav", values.tobytes(), 1, 2, rate)


def middle_rms(samples: npt.NDArray[np.int16]) -> float:
    middle = samples[500:-500].astype(np.float64) / 32767
    return float(np.sqrt(np.mean(middle**2)))


@pytest.mark.parametrize(("rate", "frames", "expected_frames"),
                         [(44100, 44101, 22050), (48000, 48013, 22056), (96000, 96000, 22050),
                          (8000, 8000, 22050)])
def test_resampled_length_and_1_khz_kept(tmp_path: Path, rate: int, frames: int,
                                         expected_frames: int) -> None:
    assert round(frames * 22050 / rate) == expected_frames
    out = decode_audio(sine_wav(tmp_path, rate, frames, 1000.0), "sine")
    assert len(out) == expected_frames
    spectrum = np.abs(np.fft.rfft(out[:22050].astype(np.float64)))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over one second
    gain_db = 20 * np.log10(middle_rms(out) / (0.5 / np.sqrt(2)))
    assert abs(gain_db) <= 0.5


@pytest.mark.parametrize("rate", [44100, 48000])
def test_tone_above_the_new_nyquist_is_removed(tmp_path: Path, rate: int) -> None:
    out = decode_audio(sine_wav(tmp_path, rate, rate, 15000.0), "hiss")
    assert len(out) == 22050
    gain_db = 20 * np.log10(max(middle_rms(out), 1e-12) / (0.5 / np.sqrt(2)))
    assert gain_db <= -40.0


def test_silence_at_another_rate_stays_silent(tmp_path: Path) -> None:
    data = stdlib_wav(tmp_path / "quiet.wav", bytes(2 * 4800), 1, 2, 48000)
    assert decode_audio(data, "quiet").tolist() == [0] * 2205


# --- Errors ---------------------------------------------------------------------------


def pcm16(rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    return fmt(1, channels, rate, 16)


ERRORS = [
    ("empty", b"", f"x.wav: empty (0 bytes); {EXPECTED}"),
    ("text", b"hello world\n", f"x.wav: not WAV or AIFF audio (starts with b'hell'); {EXPECTED}"),
    ("flac", b"fLaC\x00\x00\x00\x22", f"x.wav: FLAC data; {EXPECTED}"),
    ("riff-stub", b"RIFF\x10\x00", "x.wav: truncated WAV header (6 bytes); expected at least 44"),
    ("avi", b"RIFF\x04\x00\x00\x00AVI ", "x.wav: RIFF file of type b'AVI '; expected b'WAVE'"),
    ("no-fmt", riff(), "x.wav: truncated WAV header (no 'fmt ' chunk in 12 bytes);"
                       " expected a 'fmt ' chunk before the data"),
    ("cut-fmt", riff(pcm16())[:30],
     "x.wav: truncated WAV header ('fmt ' chunk of 10 bytes); expected at least 16"),
    ("short-fmt", riff(chunk(b"fmt ", b"\x01\x00\x01\x00")),
     "x.wav: truncated WAV header ('fmt ' chunk of 4 bytes); expected at least 16"),
    ("adpcm", riff(fmt(2, 1, SAMPLE_RATE, 4, block_align=256), chunk(b"data", bytes(256))),
     "x.wav: compressed WAV (format 0x0002, Microsoft ADPCM);"
     " expected uncompressed PCM or IEEE float"),
    ("mu-law", riff(fmt(7, 1, 8000, 8), chunk(b"data", bytes(8))),
     "x.wav: compressed WAV (format 0x0007, mu-law); expected uncompressed PCM or IEEE float"),
    ("mp3-extensible", riff(extensible(0x55, 2, 44100, 16), chunk(b"data", bytes(8))),
     "x.wav: compressed WAVE_FORMAT_EXTENSIBLE (format 0x0055, MP3);"
     " expected uncompressed PCM or IEEE float"),
    ("zero-channels", riff(fmt(1, 0, SAMPLE_RATE, 16, block_align=0), chunk(b"data", b"")),
     "x.wav: 0 channels; expected at least 1"),
    ("zero-rate", riff(pcm16(rate=0), chunk(b"data", le_int16(1))),
     "x.wav: sample rate 0 Hz; expected 1,000 to 768,000 Hz"),
    ("absurd-rate", riff(pcm16(rate=4_000_000_000 // 2), chunk(b"data", le_int16(1))),
     "x.wav: sample rate 2000000000 Hz; expected 1,000 to 768,000 Hz"),
    ("half-float", riff(fmt(3, 1, SAMPLE_RATE, 16), chunk(b"data", bytes(4))),
     "x.wav: 16-bit float WAV; expected 32 or 64-bit float"),
    ("64-bit-int", riff(fmt(1, 1, SAMPLE_RATE, 64), chunk(b"data", bytes(16))),
     "x.wav: 64-bit WAV PCM; expected 8, 16, 24 or 32-bit"),
    ("bad-align", riff(fmt(1, 2, SAMPLE_RATE, 16, block_align=3), chunk(b"data", bytes(12))),
     "x.wav: inconsistent WAV header (block align 3 for 2 channel(s) of 16 bits); expected 4"),
    ("no-data", riff(pcm16()), "x.wav: no 'data' chunk; expected audio after the header"),
    ("zero-frames", riff(pcm16(), chunk(b"data", b"")),
     "x.wav: no audio (0 frames); expected at least 1 frame"),
    ("cut-data", riff(pcm16(), chunk(b"data", bytes(100)))[:44 + 40],
     "x.wav: truncated WAV data ('data' chunk declares 100 bytes, 40 present);"
     " expected a complete file"),
    ("aiff-ulaw", aiff(1, 2, 16, 8000, bytes(2), b"ulaw"),
     "x.wav: compressed AIFF-C (b'ulaw'); expected 'NONE', 'twos', 'sowt', 'fl32' or 'fl64'"),
    ("aiff-no-comm", b"FORM\x04\x00\x00\x00AIFF",
     "x.wav: truncated AIFF header (no 'COMM' chunk in 12 bytes); expected a 'COMM' chunk"),
    ("aiff-zero-frames", aiff(1, 0, 16, SAMPLE_RATE, b""),
     "x.wav: no audio (0 frames); expected at least 1 frame"),
    ("aiff-cut", aiff(2, 100, 16, SAMPLE_RATE, bytes(40)),
     "x.wav: truncated AIFF data (100 frames need 400 bytes, 40 present);"
     " expected a complete file"),
    ("aiff-rate-past-a-double", aiff(1, 1, 16, 1, bytes(2)).replace(
        extended(1), struct.pack(">HQ", 0x4FFF, 1 << 63)),
     "x.wav: sample rate inf Hz; expected 1,000 to 768,000 Hz"),
    ("aiff-negative-rate-past-a-double", aiff(1, 1, 16, 1, bytes(2)).replace(
        extended(1), struct.pack(">HQ", 0xCFFF, 1 << 63)),
     "x.wav: sample rate -inf Hz; expected 1,000 to 768,000 Hz"),
]


@pytest.mark.parametrize(("data", "message"), [(d, m) for _, d, m in ERRORS],
                         ids=[name for name, _, _ in ERRORS])
def test_errors_name_the_source_and_say_what_is_expected(data: bytes, message: str) -> None:
    with pytest.raises(AudioFormatError) as caught:
        decode_audio(data, "x.wav")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_stdlib_empty_wav_has_zero_frames(tmp_path: Path) -> None:
    data = stdlib_wav(tmp_path / "none.wav", b"", 1, 2, SAMPLE_RATE)
    with pytest.raises(AudioFormatError, match=r"^none: no audio \(0 frames\)"):
        decode_audio(data, "none")
