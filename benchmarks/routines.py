"""Routines generated for the benchmark: much narration (section 1), a short live one (4)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Final

_OPENERS = ("Now", "Gently", "For a moment", "Slowly", "Without hurrying", "Little by little",
            "As you rest", "Perhaps", "Once more", "In this quiet", "When you are ready")
_SUBJECTS = ("your breath", "the floor beneath you", "your shoulders", "the back of your neck",
             "your jaw", "the belly", "your hands", "each exhale", "the room around you",
             "your lower back", "the weight of your legs", "a slow wave of warmth",
             "the space behind your eyes", "your forehead")
_VERBS = ("settles", "softens", "grows quiet", "slowly lets go", "feels heavier",
          "rests easily", "becomes still", "moves gently", "finds its own pace",
          "opens a little", "sinks down", "loosens")
_TAILS = ("as you listen", "without any effort", "with every breath you take",
          "while the minutes pass", "and nothing needs to change", "in its own time",
          "like sand sinking in water", "as the sounds fade away", "and you simply notice it",
          "the way a tide goes out", "until it feels like enough")


def narration_lines(words: int, seed: int = 2024) -> list[str]:
    """Distinct lines of one to three varied sentences, ``words`` words or a few more."""
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[str] = set()
    count = 0
    while count < words:
        line = " ".join(f"{rng.choice(_OPENERS)}, {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)}"
                        f" {rng.choice(_TAILS)}." for _ in range(rng.randint(1, 3)))
        if line not in seen:
            seen.add(line)
            lines.append(line)
            count += len(line.split())
    return lines


def narration_routine(lines: Sequence[str], path: Path) -> None:
    """Write a routine speaking ``lines``, one step each, to ``path``."""
    parts = ['id = "bench-narration"', 'title = "Benchmark narration"',
             'summary = "Generated for the benchmarks: many spoken lines."',
             "minutes = 60", "pause_s = 0.5", ""]
    for line in lines:
        parts += ["[[steps]]", f"say = {json.dumps(line)}", "hold_s = 0.5", ""]
    path.write_text("\n".join(parts), encoding="utf-8")


def quick_routine(routine_id: str, title: str, summary: str, breaths: int,
                  last_hold_s: float | None = None) -> str:
    """A quick benchmark's routine: a line, ``breaths`` breaths (2 s in, 2.5 s out) and a
    line held ``last_hold_s`` more."""
    last_hold = "" if last_hold_s is None else f"hold_s = {last_hold_s}\n"
    return f"""\
id = "{routine_id}"
title = "{title}"
summary = "{summary}"
minutes = 1
pause_s = 0.3

[breath]
inhale_s = 2
exhale_s = 2.5

[[steps]]
say = "Lie down and let your breath slow."

[[steps]]
breathe = {{ count = {breaths} }}

[[steps]]
say = "Once more, in and out."
{last_hold}"""


QUICK_LIVE_ROUTINE: Final = quick_routine(
    "bench-live", "Benchmark live",
    "An 18-second session for the quick benchmark: four cues, three lines.", breaths=1)
QUICK_LOAD_ROUTINE: Final = quick_routine(
    "bench-load", "Benchmark under load",
    "A 24-second session for the quick benchmark, longer than the stream writes ahead.",
    breaths=2, last_hold_s=1.5)
