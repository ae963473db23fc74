"""Session audio format and conversions between it and what files and engines hold.

Everything inside voice-coach is mono signed 16-bit at ``SAMPLE_RATE``: espeak-ng's own
format, so speech never needs resampling on Linux.
"""

from __future__ import annotations

import io
import wave

import numpy as np
import numpy.typing as npt

from voice_coach.errors import VoiceCoachError

SAMPLE_RATE = 22050
Samples = npt.NDArray[np.int16]


class AudioFormatError(VoiceCoachError):
    """Audio data is not in a format voice-coach can read or convert."""


def decode_audio(data: bytes, source: str) -> Samples:
    """Decode WAV bytes to session-format samples. ``source`` names the data in errors."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{source}: not a WAV file ({exc})") from None
    if (channels, width, rate) != (1, 2, SAMPLE_RATE):
        raise AudioFormatError(
            f"{source}: {channels} channel(s), {8 * width}-bit, {rate} Hz;"
            f" expected mono 16-bit {SAMPLE_RATE} Hz"
        )
    return np.frombuffer(frames, dtype="<i2").astype(np.int16)
