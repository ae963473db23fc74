"""A bed from the person's own sound file: decoded, resampled and looped without a seam.

The edge (files and a temporary file) and a pure part. ``load_file_bed`` reads any file
soundfile reads (WAV, FLAC, Ogg, MP3) a chunk at a time, mixes it to mono, resamples it
with soxr's streaming resampler to the session's rate, measures its loudness (BS.1770's
K-weighted mean square) and keeps it as float32 in an unlinked temporary file: a
10-minute file at 44.1 kHz stereo is never whole in memory, only the range being mixed.

Looping: the file plays once, then again and again with each pass starting
``CROSSFADE_S`` before the previous one ends, the two joined by an equal-power crossfade
(sine and cosine gains whose squares add to 1: uncorrelated sound keeps its power through
the seam). Sample ``n`` of the bed is a function of ``n`` alone, so any range is the
whole's.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from voice_coach import meter
from voice_coach.ambient import AmbientError
from voice_coach.files import not_a_file

Floats = npt.NDArray[np.float64]

CROSSFADE_S: Final = 4.0
"""Length of the equal-power crossfade at each seam of a looped file."""
MIN_FILE_S: Final = 2 * CROSSFADE_S
MAX_FILE_BYTES: Final = 2 * 1024**3
"""A bed file may be at most 2 GiB (an hour of 48 kHz stereo 24-bit WAV is 1 GB)."""
READ_FRAMES: Final = 1 << 16
_ITEM: Final = 4  # float32


@dataclass(frozen=True, eq=False)
class FileBed:
    """A decoded, resampled bed file: ``length`` samples at the session's rate, float32 in
    the open unlinked file ``descriptor``, and its loudness ``lufs``."""

    path: Path
    length: int
    crossfade: int
    lufs: float
    descriptor: int = field(repr=False)

    def raw(self, start: int, stop: int) -> Floats:
        """Samples ``start`` to ``stop`` of the loop (full scale 1.0, as the file holds),
        read a pass at a time: only the range asked for is ever read."""
        period = self.length - self.crossfade
        pieces = []
        edges = sorted({start, stop, *range((start // period + 1) * period, stop, period)})
        for lo, hi in itertools.pairwise(edges):
            pieces.append(self._one_pass(lo, hi, period))
        return np.concatenate(pieces) if pieces else np.zeros(0)

    def _one_pass(self, start: int, stop: int, period: int) -> Floats:
        """Samples ``start`` to ``stop``, all within one pass of the loop."""
        first = start % period
        out = self._read(first, first + stop - start)
        if start >= period and first < self.crossfade:  # the seam with the pass before
            seam = min(self.crossfade, first + stop - start) - first
            q = np.arange(first, first + seam, dtype=np.float64)
            angle = (q + 0.5) / self.crossfade * (math.pi / 2)
            ending = self._read(first + period, first + period + seam)
            out[:seam] = out[:seam] * np.sin(angle) + ending * np.cos(angle)
        return out

    def _read(self, lo: int, hi: int) -> Floats:
        data = os.pread(self.descriptor, (hi - lo) * _ITEM, lo * _ITEM)
        held: Floats = np.frombuffer(data, dtype=np.float32).astype(np.float64)
        return held

    def close(self) -> None:
        os.close(self.descriptor)


def open_bed_file(path: Path) -> int:
    """A descriptor of ``path`` opened for reading, checked as every user file is: a
    regular file (a pipe cannot hang it), at most ``MAX_FILE_BYTES``."""
    name = str(path)
    try:
        other = not_a_file(os.stat(path).st_mode)
        if other is not None:
            raise AmbientError(f"{name}: is {other}, not a sound file")
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise AmbientError(f"{name}: no such file") from None
    except PermissionError:
        raise AmbientError(f"{name}: permission denied") from None
    except OSError as exc:
        raise AmbientError(f"{name}: cannot read ({exc.strerror or exc})") from None
    info = os.fstat(descriptor)
    problem = None if stat.S_ISREG(info.st_mode) else not_a_file(info.st_mode)
    if problem is None and info.st_size > MAX_FILE_BYTES:
        problem = f"file is {info.st_size:,} bytes; a bed file may be at most {MAX_FILE_BYTES:,}"
    if problem is not None:
        os.close(descriptor)
        raise AmbientError(f"{name}: {problem}")
    return descriptor


def load_file_bed(path: Path, sample_rate: int) -> FileBed:
    """Decode, resample and measure ``path`` (see the module); ``AmbientError`` for a
    file that cannot be used."""
    import soundfile
    import soxr

    descriptor = open_bed_file(path)
    power, length = 0.0, 0
    with (os.fdopen(descriptor, "rb") as raw,
          tempfile.TemporaryFile(prefix="voice-coach-bed-") as store):
        try:
            sound = soundfile.SoundFile(raw)
        except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            reason = getattr(exc, "error_string", None) or str(exc)
            raise AmbientError(f"{path}: not a sound file soundfile can read ({reason})"
                               ) from None
        with sound:
            stream = soxr.ResampleStream(sound.samplerate, sample_rate, 1, dtype="float32",
                                         quality="HQ")
            # The downmix as a product with equal weights: 30 times faster than mean(axis=1)
            # on interleaved frames (3.5 against 0.12 ms a block), the same for stereo.
            downmix = np.full(sound.channels, 1 / sound.channels, dtype=np.float32)
            while True:
                try:
                    frames = sound.read(READ_FRAMES, dtype="float32", always_2d=True)
                except (soundfile.LibsndfileError, RuntimeError) as exc:
                    raise AmbientError(f"{path}: cannot be decoded ({exc})") from None
                last = len(frames) < READ_FRAMES
                mono = np.ascontiguousarray(frames @ downmix)
                out = stream.resample_chunk(mono, last=last)
                if len(out):
                    weighted = meter.k_weighted(out.astype(np.float64), sample_rate)
                    power += float(np.sum(weighted ** 2))
                    store.write(out.astype(np.float32).tobytes())
                    length += len(out)
                if last:
                    break
        if length < MIN_FILE_S * sample_rate or power <= 0:
            raise AmbientError(f"{path}: a bed file must hold at least {MIN_FILE_S:g} s of"
                               " sound")
        store.flush()
        kept = os.dup(store.fileno())
    lufs = -0.691 + 10 * math.log10(power / length)
    return FileBed(path, length, round(CROSSFADE_S * sample_rate), lufs, kept)
