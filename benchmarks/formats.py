"""Section 6: export formats and loudness (``export --format``, ffmpeg's ebur128 meter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from benchmarks.measure import Workspace, export, median, primed, progress
from benchmarks.report import About, Row, Section, row
from support.meter import ebur128

ABOUT: Final = About(7, "formats", "Export formats and loudness (export --format, ebur128)")
FORMATS: Final = ("wav", "flac", "mp3", "opus")
ROUTINES: Final = ("psoas-release", "box-breathing", "four-seven-eight")
GOAL_RATIO: Final = 3.0
"""An MP3 or Opus export may take at most this many times the WAV export's time."""


def measure(ws: Workspace, runs: int, quick: bool = False) -> Section:
    """Export times per format against WAV; loudness of each format and routine; limiting.

    ``quick`` (the smoke test): the short 4-7-8 routine, one run, no other routines.
    """
    section = ABOUT.section()
    main = "four-seven-eight" if quick else "psoas-release"
    others = () if quick else ROUTINES[1:]
    progress("7. formats: priming the cache")
    cache = primed(ws, main)
    walls: dict[str, list[float]] = {name: [] for name in FORMATS}
    outs: dict[str, Path] = {}
    for round_ in range(runs):
        for name in FORMATS:
            progress(f"7. formats: round {round_ + 1}/{runs}, {name}")
            finished, out = export(ws, main, cache, "--format", name)
            walls[name].append(finished.wall_s)
            outs[name] = out
    wav_s = median(walls["wav"])
    rows: list[Row] = []
    for name in FORMATS:
        goal = ("ratio", "<=", GOAL_RATIO) if name in ("mp3", "opus") else None
        rows.append(row(f"export {main} --format {name}, warm: wall",
                        median(walls[name]), "s", peer=wav_s, peer_label="wav", goal=goal))
    readings: dict[str, dict[str, float]] = {}
    for name in FORMATS:
        progress(f"7. formats: metering session.{name}")
        readings[f"{main}.{name}"] = _reading(outs[name] / f"session.{name}")
    for routine in others:
        progress(f"7. formats: metering {routine}")
        _, out = export(ws, routine, ws.fresh("cache"))
        readings[f"{routine}.wav"] = _reading(out / "session.wav")
    for key, reading in readings.items():
        rows.append(row(f"{key}: integrated loudness", reading["integrated_lufs"], "LUFS"))
        rows.append(row(f"{key}: true peak", reading["true_peak_dbtp"], "dBTP",
                        goal=("ours", "<=", -1.0)))
        rows.append(row(f"{key}: loudness range", reading["range_lu"], "LU"))
    progress("7. formats: gain reduction of the limiter")
    limiting = _limiting(main, cache)
    rows.append(row(f"{main}: clips the limiter touched", float(limiting["limited"]),
                    "clips"))
    rows.append(row(f"{main}: deepest gain reduction", limiting["deepest_db"], "dB"))
    section.rows = rows
    section.details = {"wall_s": walls, "loudness": readings, "limiting": limiting}
    return section


def _reading(path: Path) -> dict[str, float]:
    reading = ebur128(path)
    return {"integrated_lufs": reading.integrated_lufs, "range_lu": reading.range_lu,
            "true_peak_dbtp": reading.true_peak_dbtp}


def _limiting(routine: str, cache: Path) -> dict[str, Any]:
    """How hard the limiter works on a session, from the mixer itself."""
    from voice_coach.cache import ClipCache
    from voice_coach.engines.pyttsx3_engine import open_engine
    from voice_coach.routine import load_builtin
    from voice_coach.session import SessionOptions, build_session

    session = build_session(load_builtin(routine), SessionOptions(), open_engine,
                            ClipCache(cache / "voice-coach" / "clips"))
    leveled = session.mixer().leveled_clips()
    reductions = sorted((clip.reduction_db for clip in leveled), reverse=True)
    return {"clips": len(leveled), "limited": sum(r > 0.05 for r in reductions),
            "deepest_db": reductions[0] if reductions else 0.0,
            "reductions_db": [round(r, 2) for r in reductions]}
