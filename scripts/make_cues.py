"""Synthesise the built-in cue sounds into ``audio_cues/*.wav``, deterministically.

    .venv/bin/python scripts/make_cues.py            # (re)write audio_cues/*.wav
    .venv/bin/python scripts/make_cues.py --check    # exit 1 if the files on disk differ

Every cue is mono int16 at 22050 Hz, made from sines only (no noise, no randomness), so
two runs give byte-identical files. They are heard by someone lying down with eyes
closed, so each differs from the others by pitch, timbre and shape:

======  ======  =========  ==========================================================
cue     length  peak dBFS  sound
======  ======  =========  ==========================================================
start   1.20 s  -7.7       warm bell on G4 (392 Hz), stretched partials, hum an octave down
inhale  0.66 s  -14.7      soft flute-like tone rising a fifth, A4 to E5, legato glide
exhale  0.66 s  -14.7      the mirror: E5 falling to A4
hold    0.30 s  -5.6       one soft, low wooden tap, G3 (196 Hz), marimba-like partials
spot    0.80 s  -9.1       two strikes of a small bright chime, A5 (880 Hz), 0.2 s apart
end     3.00 s  -4.3       lower singing-bowl bell, D3 (147 Hz), beating partials, long decay
======  ======  =========  ==========================================================

Shape: every cue opens with a raised-cosine attack of at least 5 ms and closes with a
raised-cosine release to exactly zero, so its first and last samples are 0; DC is
removed; every partial is below 5 kHz (Nyquist is 11025 Hz), none is clipped.

Levels: every cue is normalised to an *active RMS* of -20 dBFS and a peak of at most
-3 dBFS (0 dBFS = 32768). The active part is the samples whose envelope, a centred
10 ms (221-sample) moving RMS, is within 30 dB of its maximum. The mixer balances cues
against speech by RMS, so all six must sit at the same level. Flat RMS is not loudness:
A-weighted, the low ``hold`` and ``end`` come out about 6 dB softer than ``spot``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from voice_coach.pcm import SAMPLE_RATE, Samples, encode_wav, to_int16

Floats = npt.NDArray[np.float64]

ROOT: Final = Path(__file__).resolve().parent.parent
CUE_DIR: Final = ROOT / "audio_cues"

TARGET_RMS_DBFS: Final = -20.0
PEAK_LIMIT_DBFS: Final = -3.0
ACTIVE_RANGE_DB: Final = 30.0
ENVELOPE_WINDOW: Final = 221
"""10 ms at 22050 Hz, odd so that it is centred."""

# Pitches (Hz, equal temperament from A4 = 440).
D3, G3, G4, A4, E5, A5 = 146.83, 196.00, 392.00, 440.00, 659.26, 880.00


# --- Building blocks ------------------------------------------------------------------


def samples_for(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def times(length: int) -> Floats:
    return np.arange(length, dtype=np.float64) / SAMPLE_RATE


def fade_in(signal: Floats, attack_s: float) -> Floats:
    """Raised-cosine attack starting from exactly 0."""
    attack = samples_for(attack_s)
    gain = np.ones(len(signal))
    gain[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    return signal * gain


def shape(signal: Floats, attack_s: float, release_s: float) -> Floats:
    """Raised-cosine attack from 0 and release to exactly 0 at the last sample."""
    release = samples_for(release_s)
    gain = np.ones(len(signal))
    gain[-release:] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, release + 1) / release)
    gain[-1] = 0.0
    return fade_in(signal, attack_s) * gain


def remove_dc(signal: Floats) -> Floats:
    """Subtract the mean as a Hann-shaped bump, which keeps both ends at zero."""
    bump = np.hanning(len(signal))
    result: Floats = signal - bump * (signal.sum() / bump.sum())
    return result


def bell(t: Floats, fundamental_hz: float,
         partials: Sequence[tuple[float, float, float]]) -> Floats:
    """Struck partials: (ratio to fundamental, amplitude, decay time constant in s)."""
    out = np.zeros(len(t))
    for ratio, amplitude, decay_s in partials:
        phase = 2.0 * np.pi * ((ratio * 0.618034) % 1.0)
        out += (amplitude * np.exp(-t / decay_s)
                * np.sin(2.0 * np.pi * fundamental_hz * ratio * t + phase))
    return out


def glide(length: int, from_hz: float, to_hz: float) -> Floats:
    """Frequency that holds, moves legato (raised cosine in log-frequency), then holds."""
    position = np.arange(length) / (length - 1)
    move = np.clip((position - 0.30) / 0.35, 0.0, 1.0)
    smooth = 0.5 - 0.5 * np.cos(np.pi * move)
    result: Floats = from_hz * (to_hz / from_hz) ** smooth
    return result


def soft_tone(frequency_hz: Floats) -> Floats:
    """Flute-like: a sine with a little second and third harmonic."""
    phase = 2.0 * np.pi * np.cumsum(frequency_hz) / SAMPLE_RATE
    return np.sin(phase) + 0.22 * np.sin(2.0 * phase + 0.4) + 0.06 * np.sin(3.0 * phase + 1.1)


# --- The cues -------------------------------------------------------------------------


def start() -> Floats:
    t = times(samples_for(1.2))
    ring = bell(t, G4, [(0.5, 0.35, 1.1), (1.0, 1.0, 0.75), (2.01, 0.45, 0.45),
                        (3.03, 0.22, 0.30), (4.16, 0.12, 0.18), (5.43, 0.06, 0.12)])
    return shape(ring, attack_s=0.008, release_s=0.35)


def breath(from_hz: float, to_hz: float) -> Floats:
    length = samples_for(0.66)
    swell = 0.85 + 0.15 * np.sin(np.pi * np.arange(length) / length)
    return shape(soft_tone(glide(length, from_hz, to_hz)) * swell,
                 attack_s=0.045, release_s=0.16)


def inhale() -> Floats:
    return breath(A4, E5)


def exhale() -> Floats:
    return breath(E5, A4)


def hold() -> Floats:
    t = times(samples_for(0.3))
    tap = bell(t, G3, [(1.0, 1.0, 0.10), (3.93, 0.9, 0.04), (9.2, 0.25, 0.012)])
    return shape(tap, attack_s=0.006, release_s=0.12)


def spot() -> Floats:
    length, strike_at = samples_for(0.8), samples_for(0.2)
    chime = [(1.0, 1.0, 0.28), (2.756, 0.35, 0.10), (5.404, 0.12, 0.04)]
    strikes = bell(times(length), A5, chime)
    strikes[strike_at:] += fade_in(bell(times(length - strike_at), A5, chime), 0.006)
    return shape(strikes, attack_s=0.006, release_s=0.2)


def end() -> Floats:
    t = times(samples_for(3.0))
    bowl = np.zeros(len(t))
    for ratio, amplitude, decay_s, beat_hz in [(1.0, 1.0, 2.2, 0.7), (2.76, 1.1, 1.6, 1.3),
                                               (5.15, 0.5, 0.9, 2.1), (8.2, 0.15, 0.45, 2.9)]:
        pair = [(ratio - beat_hz / (2 * D3), amplitude / 2, decay_s),
                (ratio + beat_hz / (2 * D3), amplitude / 2, decay_s)]
        bowl += bell(t, D3, pair)
    return shape(bowl, attack_s=0.012, release_s=0.8)


CUES: Final[dict[str, Callable[[], Floats]]] = {
    "start": start, "inhale": inhale, "exhale": exhale, "hold": hold, "spot": spot, "end": end,
}


# --- Levels ---------------------------------------------------------------------------


def envelope(signal: Floats) -> Floats:
    """Centred 10 ms moving RMS."""
    window = np.ones(ENVELOPE_WINDOW) / ENVELOPE_WINDOW
    result: Floats = np.sqrt(np.convolve(signal**2, window, mode="same"))
    return result


def active_rms(signal: Floats) -> float:
    """RMS over the samples whose envelope is within ``ACTIVE_RANGE_DB`` of its peak."""
    env = envelope(signal)
    active = env >= env.max() * 10 ** (-ACTIVE_RANGE_DB / 20)
    return float(np.sqrt(np.mean(signal[active] ** 2)))


def finish(name: str, signal: Floats) -> Samples:
    """DC-free, at -20 dBFS active RMS, checked against the peak limit."""
    clean = remove_dc(signal)
    level = clean * (10 ** (TARGET_RMS_DBFS / 20) / active_rms(clean))
    peak_dbfs = 20 * np.log10(np.abs(level).max())
    if peak_dbfs > PEAK_LIMIT_DBFS:
        raise SystemExit(f"{name}: peak {peak_dbfs:.1f} dBFS at -20 dBFS RMS; redesign it")
    return to_int16(level)


def synthesise() -> dict[str, bytes]:
    """File name -> WAV bytes for every cue."""
    return {f"{name}.wav": encode_wav(finish(name, make())) for name, make in CUES.items()}


# --- Command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="compare with the files on disk instead of writing them")
    parser.add_argument("--out", type=Path, default=CUE_DIR, help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    wanted = synthesise()
    if args.check:
        stale = 0
        for name, data in wanted.items():
            path = args.out / name
            problem = ("missing" if not path.is_file() else
                       "differs from what make_cues.py generates" if path.read_bytes() != data
                       else None)
            if problem:
                print(f"{path}: {problem}", file=sys.stderr)
                stale += 1
        if stale:
            print("run: python scripts/make_cues.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in wanted.items():
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
