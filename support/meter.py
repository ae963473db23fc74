"""The reference meter and decoder: ffmpeg, as a person's player and a loudness meter see a file.

``ebur128`` runs ffmpeg's BS.1770 / EBU R128 filter with ``peak=true`` (true peak, 4x
oversampled) and reads its summary; ``decode`` gives the samples ffmpeg decodes from any
format (gapless: encoder delay and padding removed as the file declares them);
``chapters`` and ``tags`` read what ``ffprobe`` shows. Independent of ``voice_coach``,
so the project's own measurement is held against them.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voice_coach.meter import k_weighted

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"


@dataclass(frozen=True)
class Reading:
    """ffmpeg's ebur128 summary: integrated loudness (LUFS), loudness range (LU), true
    peak (dBTP)."""

    integrated_lufs: float
    range_lu: float
    true_peak_dbtp: float


def ebur128(path: Path, *, start_s: float | None = None,
            duration_s: float | None = None) -> Reading:
    """Measure ``path`` (any format ffmpeg reads), or a part of it."""
    where = []
    if start_s is not None:
        where += ["-ss", f"{start_s:.6f}"]
    if duration_s is not None:
        where += ["-t", f"{duration_s:.6f}"]
    done = subprocess.run([FFMPEG, "-nostats", "-hide_banner", "-nostdin", *where, "-i",
                           str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
                          capture_output=True, text=True, check=True, timeout=300)
    summary = done.stderr[done.stderr.rindex("Summary:"):]

    def value(label: str) -> float:
        found = re.search(rf"{label}:\s+(-?[\d.]+|-inf)", summary)
        if found is None:
            raise AssertionError(f"no {label} in ffmpeg's summary:\n{summary}")
        return float(found.group(1))

    return Reading(value("I"), value("LRA"), value("Peak"))


def decode(path: Path, sample_rate: int | None = None) -> npt.NDArray[np.int16]:
    """The mono 16-bit samples ffmpeg decodes from ``path``, at its own rate unless asked."""
    rate = ["-ar", str(sample_rate)] if sample_rate else []
    done = subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-ac", "1",
                           *rate, "-f", "s16le", "-"], capture_output=True, check=True,
                          timeout=300)
    return np.frombuffer(done.stdout, "<i2").astype(np.int16)


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's view: format, streams (with tags) and chapters, as JSON."""
    done = subprocess.run([FFPROBE, "-v", "error", "-show_format", "-show_streams",
                           "-show_chapters", "-of", "json", str(path)],
                          capture_output=True, text=True, check=True, timeout=60)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def chapters(path: Path) -> list[tuple[int, int, str]]:
    """Every chapter ffprobe finds: (start ms, end ms, title), in time order."""
    found = []
    for chapter in probe(path)["chapters"]:
        scale = 1000 * float(eval_fraction(chapter["time_base"]))
        found.append((round(chapter["start"] * scale), round(chapter["end"] * scale),
                      chapter.get("tags", {}).get("title", "")))
    return sorted(found)


def tags(path: Path) -> dict[str, str]:
    """The file's tags as ffprobe shows them (format and stream tags), keys lower-case."""
    found = probe(path)
    merged: dict[str, str] = {}
    for holder in [found.get("format", {}), *found.get("streams", [])]:
        for key, value in holder.get("tags", {}).items():
            merged[key.lower()] = value
    return merged


def eval_fraction(text: str) -> float:
    top, _, bottom = text.partition("/")
    return int(top) / int(bottom or 1)


SHORT_TERM_S = 3.0
"""BS.1770 / EBU R128 short-term loudness window."""


def loudest_short_term(x: npt.NDArray[np.float64], sample_rate: int) -> float:
    """The highest BS.1770 short-term loudness (3 s windows, every 0.5 s) of ``x``, on
    the project's K-weighting (``voice_coach.meter``)."""
    window, step = round(SHORT_TERM_S * sample_rate), round(sample_rate / 2)
    energy = np.concatenate([[0.0], np.cumsum(k_weighted(x, sample_rate) ** 2)])
    starts = np.arange(0, max(1, len(x) - window + 1), step)
    stops = np.minimum(starts + window, len(x))
    power = float(np.max((energy[stops] - energy[starts]) / (stops - starts)))
    return -0.691 + 10 * math.log10(power) if power > 0 else -math.inf
