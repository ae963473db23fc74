"""Looking at audio: WAV files through the standard library, and finding sound in a recording.

The WAV helpers use ``wave``, not ``voice_coach.pcm``, so what the project writes is read
back by an independent reader.
"""

from __future__ import annotations

import itertools
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voice_coach.pcm import SAMPLE_RATE, Samples

WAV_HEADER_BYTES = 44
"""The size of the plain RIFF header ``voice_coach`` writes before the samples."""

Scores = npt.NDArray[np.float64]


def read_wav(path: Path) -> Samples:
    """The samples of a session-format WAV (mono, 16-bit, 22050 Hz) that is whole: its
    header agrees with its size. Anything else raises AssertionError, naming the file."""
    with wave.open(str(path)) as reader:
        found = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
        if found != (1, 2, SAMPLE_RATE):
            raise AssertionError(f"{path}: (channels, width, rate) {found}, not"
                                 f" (1, 2, {SAMPLE_RATE})")
        frames = reader.getnframes()
        samples = np.frombuffer(reader.readframes(frames), "<i2").astype(np.int16)
    if len(samples) != frames:
        raise AssertionError(f"{path}: header says {frames} frames, holds {len(samples)}")
    if path.stat().st_size != WAV_HEADER_BYTES + 2 * frames:
        raise AssertionError(f"{path}: size does not match its header")
    return samples


def wav_seconds(path: Path) -> float:
    """The length of any WAV file, by its header."""
    with wave.open(str(path), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def write_wav(path: Path, frames: bytes | Samples, channels: int = 1, width: int = 2,
              rate: int = SAMPLE_RATE) -> Path:
    """Write ``frames`` (encoded bytes, or int16 samples) as a WAV file; returns ``path``."""
    data = frames if isinstance(frames, bytes) else frames.astype("<i2").tobytes()
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(data)
    return path


def active_rms_db(samples: Samples) -> float:
    """RMS (dBFS) over the parts within 30 dB of the loudest 20 ms window."""
    x = samples.astype(np.float64) / 32768
    window = 441
    power = np.convolve(x ** 2, np.ones(window) / window, mode="same")
    active = power > power.max() * 10 ** (-30 / 10)
    return float(10 * np.log10(np.mean(x[active] ** 2)))


def noise(seconds: float, seed: int) -> Samples:
    """Loud noise without a zero sample, so silence in a recording means nothing played."""
    rng = np.random.default_rng(seed)
    loud = np.clip(rng.normal(0, 6000, round(seconds * SAMPLE_RATE)), -32000, 32000)
    samples = loud.astype(np.int16)
    samples[samples == 0] = 1
    return samples


def match_scores(segment: Samples, template: Samples) -> Scores:
    """Normalised cross-correlation of ``template`` at every offset in ``segment``: 1.0
    where the same samples (at any gain) are found. Empty when ``segment`` is shorter.

    A window quieter than one step of a sample counts as that quiet, so silence scores 0
    rather than rounding noise divided by nothing.
    """
    n = len(template)
    if len(segment) < n or not n:
        return np.zeros(0)
    x = segment.astype(np.float64)
    t = template.astype(np.float64)
    size = 1 << (len(x) + n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    window = np.maximum(energy[n:] - energy[:-n], 1.0)
    scores: Scores = corr[: len(x) - n + 1] / np.sqrt(window * max(float(t @ t), 1.0))
    return scores


def best_match(recording: Samples, segment: Samples, around: int,
               radius: int) -> tuple[int, float]:
    """Where ``segment`` best matches ``recording`` within ``radius`` of ``around``, and how
    well (``match_scores``); ``(around, 0.0)`` when the window is too short."""
    lo = max(0, around - radius)
    hi = min(len(recording), around + radius + len(segment))
    scores = match_scores(recording[lo:hi], segment)
    if not len(scores):
        return around, 0.0
    best = int(np.argmax(scores))
    return lo + best, float(scores[best])


def onsets(samples: Samples, threshold: int, min_gap: int) -> list[int]:
    """Where the sound first reaches ``threshold`` after ``min_gap`` samples below it."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= threshold)
    if not len(loud):
        return []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(loud) > min_gap) + 1])
    return [int(i) for i in loud[starts]]


def runs(samples: Samples, min_length: int = 1) -> list[tuple[int, int]]:
    """``(start, end)`` of every stretch of non-zero samples at least ``min_length`` long."""
    edges = np.diff(np.concatenate([[0], (samples != 0).astype(np.int8), [0]]))
    pairs = zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    return [(int(s), int(e)) for s, e in pairs if e - s >= min_length]


def locate(window: Samples, source: Samples) -> int | None:
    """The offset in ``source`` where ``window`` appears exactly, if it does (first match)."""
    size = len(window)
    if not size or size > len(source):
        return None
    for start in np.flatnonzero(source[: len(source) - size + 1] == window[0]):
        if np.array_equal(source[start : start + size], window):
            return int(start)
    return None


@dataclass(frozen=True)
class Found:
    """Where one exported event (a cue or a spoken line) was found in a recording."""

    event: dict[str, Any]
    at: int
    score: float


@dataclass(frozen=True)
class SessionHeard:
    """An exported session found in a recording of it being played, event by event.

    ``origin`` is where the session's sample 0 lies in the recording; ``start_score`` how
    well the start chime matched. Each event is searched for within a quarter second of
    where the plan puts it, so a missing or shifted one shows as a low score or an error.
    """

    origin: int
    start_score: float
    found: tuple[Found, ...]

    def missing(self, at_least: float = 0.99) -> list[tuple[str, str, float]]:
        """The events not heard as exported: kind, cue or text, and best correlation."""
        return [(f.event["kind"], f.event.get("cue") or f.event.get("text") or "",
                 round(f.score, 3)) for f in self.found if f.score < at_least]

    def cue_spacing_errors(self) -> npt.NDArray[np.int64]:
        """For each pair of successive cues, heard spacing minus planned spacing, in samples."""
        cues = [(f.event["start_sample"], f.at) for f in self.found if f.event["kind"] == "cue"]
        return np.array([(b_at - a_at) - (b_planned - a_planned)
                         for (a_planned, a_at), (b_planned, b_at) in itertools.pairwise(cues)],
                        dtype=np.int64)

    @property
    def cues(self) -> int:
        return sum(f.event["kind"] == "cue" for f in self.found)

    def summary(self) -> str:
        errors = np.abs(self.cue_spacing_errors())
        last = self.found[-1]
        drift = (last.at - self.origin) - last.event["start_sample"]
        ms = SAMPLE_RATE / 1000
        return (f"{self.cues} cues, {len(errors)} spacings; spacing error, ms: median"
                f" {np.median(errors) / ms:.3f}, max {errors.max() / ms:.3f};"
                f" drift over the session {drift / ms:.3f} ms;"
                f" lowest correlation {min(f.score for f in self.found):.4f}")


def find_session(heard: Samples, session: Samples, timeline: dict[str, Any]) -> SessionHeard:
    """Find every cue and spoken line of an exported ``session`` (its ``timeline.json``
    loaded) in ``heard``, anchored on the start chime within the first 15 s."""
    events = [e for e in timeline["events"] if e["kind"] in ("cue", "speech")]
    first = events[0]
    start_cue = session[first["start_sample"] : first["end_sample"]]
    origin, start_score = best_match(heard, start_cue, around=0, radius=15 * SAMPLE_RATE)
    origin -= first["start_sample"]
    found = []
    for event in events:
        at, score = best_match(heard, session[event["start_sample"] : event["end_sample"]],
                               around=origin + event["start_sample"], radius=SAMPLE_RATE // 4)
        found.append(Found(event, at, score))
    return SessionHeard(origin, start_score, tuple(found))


@dataclass(frozen=True)
class SilencePutIn:
    """How ``played`` is ``expected`` with silence put in: ``(sample of expected, samples
    of silence)`` for each insertion, the silent samples past the end, and what else
    differs (None when nothing: every sample of ``expected`` is there once, in order)."""

    insertions: list[tuple[int, int]]
    after_end: int
    problem: str | None


def silence_put_in(played: Samples, expected: Samples, most: int = 64) -> SilencePutIn:
    """Compare ``played`` (a device's take, a sound server's recording aligned on the
    session's start) with ``expected`` (the export) where silence may have been put in
    between two sounds: a hold of the player, an underrun of a starved sound server."""
    insertions: list[tuple[int, int]] = []
    at_played = at_expected = 0
    while True:
        span = min(len(played) - at_played, len(expected) - at_expected)
        differ = np.flatnonzero(played[at_played:at_played + span]
                                != expected[at_expected:at_expected + span])
        if not len(differ):
            break
        at_played, at_expected = at_played + int(differ[0]), at_expected + int(differ[0])
        if played[at_played] != 0:
            return SilencePutIn(insertions, 0,
                                f"a sound differs at {at_expected / SAMPLE_RATE:.3f} s")
        if len(insertions) == most:
            return SilencePutIn(insertions, 0, f"silence put in more than {most} times")
        sound = np.flatnonzero(played[at_played:])
        inserted = int(sound[0]) if len(sound) else len(played) - at_played
        insertions.append((at_expected, inserted))  # expected[at_expected] is a sound
        at_played += inserted
    after_end = len(played) - at_played - (len(expected) - at_expected)
    if after_end < 0:
        return SilencePutIn(insertions, after_end, "the end is missing")
    if played[len(played) - after_end:].any():
        return SilencePutIn(insertions, after_end, "sound after the end")
    return SilencePutIn(insertions, after_end, None)
