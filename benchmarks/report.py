"""Results: rows and sections, the table, and runs read back from ``--json``."""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import re
import subprocess
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Row:
    """One line of the table. ``ratio`` is ours / peer; ``met`` None when there is no goal."""

    measurement: str
    ours: float | None
    unit: str
    peer: float | None = None
    peer_label: str = ""
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None


@dataclass
class Section:
    """One measurement's rows and details, or the error that stopped it."""

    number: int
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class About:
    """A section's number, its key in ``--json`` and its title in the table."""

    number: int
    key: str
    title: str

    def section(self, error: str | None = None) -> Section:
        return Section(self.number, self.key, self.title, error=error)


def row(measurement: str, ours: float | None, unit: str, *, peer: float | None = None,
        peer_label: str = "", goal: tuple[str, str, float] | None = None) -> Row:
    """A row; ``goal`` is ``(what, op, limit)``: what is "ours" or "ratio", op "<=" or ">="."""
    ratio = ours / peer if ours is not None and peer else None
    text, met = "", None
    if goal is not None:
        what, op, limit = goal
        value = ours if what == "ours" else ratio
        shown = f"{limit:g}x" if what == "ratio" or unit == "x" else f"{limit:g} {unit}"
        text = f"{'≤' if op == '<=' else '≥'} {shown}" + (" of peer" if what == "ratio" else "")
        if value is not None:
            met = value <= limit if op == "<=" else value >= limit
    return Row(measurement, ours, unit, peer, peer_label, ratio, text, met)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                            check=False).stdout.strip()
    match = re.search(r"(\d+\.\d+[\w.-]*)", espeak)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "espeak_ng": match[1] if match else espeak or "missing",
        "numpy": np.__version__,
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- The table -------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "x":
        return f"{value:,.0f}x" if abs(value) >= 100 else f"{value:.2f}x"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.2f} {unit}"


def render_table(sections: Sequence[Section], info: Mapping[str, Any], quick: bool) -> str:
    lines = [f"voice-coach benchmark ({'quick' if quick else 'full'} run), {info['date']}",
             f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']};"
             f" espeak-ng {info['espeak_ng']}; numpy {info['numpy']}; kernel {info['kernel']}",
             f"load average: {info['load_average_at_start']} at start,"
             f" {info.get('load_average_at_end')} at end"]
    lines += [f"  {name}: {when}" for name, when in info.get("runs", {}).items()]
    lines += [f"bytecode: {info['bytecode']}"] if "bytecode" in info else []
    lines.append("")
    header = ("measurement", "ours", "peer / floor", "ratio", "goal", "")
    table: list[tuple[str, ...]] = []
    for section in sections:
        table.append((f"{section.number}. {section.title}",))
        if section.error:
            table.append((f"   not measured: {section.error}",))
        for r in section.rows:
            peer = f"{_fmt(r.peer, r.unit)} {r.peer_label}" if r.peer is not None else "—"
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "—"
            verdict = "—" if r.met is None else ("met" if r.met else "MISSED")
            table.append(("   " + r.measurement, _fmt(r.ours, r.unit), peer, ratio,
                          r.goal or "—", verdict))
    widths = [max(len(cells[i]) for cells in [header, *table] if len(cells) > 1)
              for i in range(len(header))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for cells in table:
        if len(cells) == 1:
            lines.append(cells[0])
        else:
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
                         .rstrip())
    met, missed = goals(sections)
    lines += ["", f"goals: {met} met, {missed} missed"]
    for section in sections:
        lines += ["", f"{section.number}. {section.title}: details"]
        lines += textwrap.indent(_details_text(section.details), "   ").splitlines()
    return "\n".join(lines)


def goals(sections: Sequence[Section]) -> tuple[int, int]:
    """How many goals were met and how many missed."""
    rows = [r for s in sections for r in s.rows]
    return sum(r.met is True for r in rows), sum(r.met is False for r in rows)


def _details_text(details: Mapping[str, Any], depth: int = 0) -> str:
    out = []
    for key, value in details.items():
        if isinstance(value, Mapping):
            out.append(f"{'  ' * depth}{key}:")
            out.append(_details_text(value, depth + 1))
        else:
            if isinstance(value, float):
                value = round(value, 4)
            elif isinstance(value, list) and value and isinstance(value[0], float):
                value = [round(v, 4) for v in value]
            text = json.dumps(value, ensure_ascii=False)
            if len(text) > 160:
                text = text[:157] + "..."
            out.append(f"{'  ' * depth}{key}: {text}")
    return "\n".join(out)


# --- JSON ------------------------------------------------------------------------------


def document(sections: Sequence[Section], info: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--json`` output: the machine, every section, and a summary."""
    met, missed = goals(sections)
    return {"machine": dict(info),
            "sections": [jsonable(asdict(section)) for section in sections],
            "summary": {"met": met, "missed": missed,
                        "not_measured": [s.number for s in sections if s.error]}}


def merged_runs(paths: Sequence[Path]) -> tuple[list[Section], dict[str, Any]]:
    """The sections of several ``--json`` runs, a later run's replacing an earlier one's
    section of the same number, and the machine of each run that contributed."""
    by_number: dict[int, Section] = {}
    machines: dict[int, dict[str, Any]] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not a --json run ({exc})") from None
        for section_data in data["sections"]:
            section = _section_from(section_data)
            by_number[section.number] = section
            machines[section.number] = data["machine"]
    if not by_number:
        raise ValueError("no sections in " + ", ".join(map(str, paths)))
    numbers = sorted(by_number)
    info = dict(machines[numbers[-1]])
    runs = {json.dumps(m, sort_keys=True) for m in machines.values()}
    if len(runs) > 1:
        info["runs"] = {f"section {n}": f"{machines[n]['date']}, load"
                        f" {machines[n]['load_average_at_start']}" for n in numbers}
    return [by_number[n] for n in numbers], info


def _section_from(data: Mapping[str, Any]) -> Section:
    return Section(data["number"], data["key"], data["title"],
                   [Row(**r) for r in data["rows"]], dict(data["details"]), data["error"])


def jsonable(value: Any) -> Any:
    """Plain JSON: no NaN or infinities (they become null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
