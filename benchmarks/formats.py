"""Section 7: export formats and loudness (``export --format``, ffmpeg's ebur128 meter).

Each lossy export (session and narration) is held against its floor, measured in the same
run: the WAV export's time plus what the ``ffmpeg`` command line takes to encode the same
audio with the same encoder settings (``voice_coach.encoders.ENCODINGS``): the WAV
export's ``session.wav``, and its narration clips joined into one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np

from benchmarks.measure import Workspace, export, median, primed, progress, run_measured
from benchmarks.report import About, Row, Section, row
from support.meter import FFMPEG, ebur128

ABOUT: Final = About(7, "formats", "Export formats and loudness (export --format, ebur128)")
FORMATS: Final = ("wav", "flac", "mp3", "opus", "m4a")
LOSSY: Final = ("mp3", "opus", "m4a")
ROUTINES: Final = ("psoas-release", "box-breathing", "four-seven-eight")
GOAL_RATIO: Final = 1.2
"""An MP3 or Opus export may take at most this many times its floor (WAV export + ffmpeg)."""
RSS_GOAL_MB: Final = 80.0
"""Peak resident memory of a warm export, whatever its format (issue #24)."""


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
    cpus: dict[str, list[float]] = {name: [] for name in FORMATS}
    rss_mb: dict[str, list[float]] = {name: [] for name in FORMATS}
    ffmpeg_walls: dict[str, list[float]] = {name: [] for name in LOSSY}
    ffmpeg_cpus: dict[str, list[float]] = {name: [] for name in LOSSY}
    outs: dict[str, Path] = {}
    for round_ in range(runs):
        for name in FORMATS:  # each export, then ffmpeg on the same audio: the same load
            progress(f"7. formats: round {round_ + 1}/{runs}, {name}")
            finished, out = export(ws, main, cache, "--format", name, rss=True)
            walls[name].append(finished.wall_s)
            cpus[name].append(finished.user_s + finished.sys_s)
            if finished.maxrss_mb is not None:
                rss_mb[name].append(finished.maxrss_mb)
            outs[name] = out
            if name == "wav":
                narration = _joined_narration(ws, out)
            if name in LOSSY:
                wall_s, cpu_s = _ffmpeg_s(ws, name, [outs["wav"] / "session.wav", narration])
                ffmpeg_walls[name].append(wall_s)
                ffmpeg_cpus[name].append(cpu_s)
    rows = _export_rows(main, walls, cpus, ffmpeg_walls, ffmpeg_cpus, rss_mb)
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
    section.details = {"wall_s": walls, "ffmpeg_wall_s": ffmpeg_walls, "cpu_s": cpus,
                       "peak_rss_mb": rss_mb,
                       "ffmpeg_cpu_s": ffmpeg_cpus, "loudness": readings,
                       "limiting": limiting}
    return section


def _export_rows(main: str, walls: dict[str, list[float]], cpus: dict[str, list[float]],
                 ffmpeg_walls: dict[str, list[float]], ffmpeg_cpus: dict[str, list[float]],
                 rss_mb: dict[str, list[float]]) -> list[Row]:
    """Each format's export: wall and CPU against its floor, and peak RSS."""
    wav_s = median(walls["wav"])
    ffmpeg_s = {name: median(found) for name, found in ffmpeg_walls.items()}
    rows: list[Row] = []
    for name in FORMATS:
        if name in LOSSY:
            goal = ("ratio", "<=", GOAL_RATIO) if name in ("mp3", "opus") else None
            rows.append(row(f"export {main} --format {name}, warm: wall",
                            median(walls[name]), "s", peer=wav_s + ffmpeg_s[name],
                            peer_label="wav export + ffmpeg", goal=goal))
            rows.append(row(f"ffmpeg {name}: session.wav + narration as one file",
                            ffmpeg_s[name], "s"))
            rows.append(row(f"export --format {name}, warm: CPU (user + system)",
                            median(cpus[name]), "s",
                            peer=median(cpus["wav"]) + median(ffmpeg_cpus[name]),
                            peer_label="wav export + ffmpeg"))
        else:
            rows.append(row(f"export {main} --format {name}, warm: wall",
                            median(walls[name]), "s", peer=wav_s, peer_label="wav"))
    wav_mb = max(rss_mb["wav"]) if rss_mb["wav"] else None
    for name in FORMATS:
        if rss_mb[name]:
            rows.append(row(f"export {main} --format {name}, warm: peak RSS",
                            max(rss_mb[name]), "MB", peer=wav_mb, peer_label="wav",
                            goal=("ours", "<=", RSS_GOAL_MB)))
    return rows


def ffmpeg_arguments(name: str) -> list[str]:
    """The ffmpeg command line's options for the encoding ``name`` exports with."""
    from voice_coach.encoders import ENCODINGS

    encoding = ENCODINGS[name]  # type: ignore[index]
    arguments = ["-c:a", encoding.codec, "-b:a", str(encoding.bit_rate), "-ac", "1"]
    if encoding.sample_rate is not None:
        arguments += ["-ar", str(encoding.sample_rate)]
    for key, value in encoding.options.items():
        arguments += [f"-{key}", value]
    return [*arguments, "-f", encoding.container]


def _joined_narration(ws: Workspace, wav_export: Path) -> Path:
    """The WAV export's narration clips as one file, for ffmpeg to encode in one go."""
    from voice_coach.formats import write_wav

    clips = [np.fromfile(path, dtype="<i2", offset=44)
             for path in sorted((wav_export / "narration").iterdir())]
    joined = ws.fresh("narration") / "narration.wav"
    write_wav(joined, iter(clips), 22050)
    return joined


def _ffmpeg_s(ws: Workspace, name: str, sources: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds the ffmpeg command line takes to encode ``sources`` one after
    the other."""
    wall_s = cpu_s = 0.0
    for source in sources:
        finished = run_measured(
            [FFMPEG, "-v", "error", "-nostdin", "-y", "-i", str(source),
             *ffmpeg_arguments(name), str(source.with_suffix(f".ffmpeg.{name}"))],
            ws.env(ws.root / "nocache"))
        wall_s += finished.wall_s
        cpu_s += finished.user_s + finished.sys_s
    return wall_s, cpu_s


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
