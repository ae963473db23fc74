#!/usr/bin/env python3
"""Fuzz the routine loader: the properties of tests/test_routine_properties.py, many examples.

    scripts/fuzz_routines.py                     # 10,000 examples per property
    scripts/fuzz_routines.py --examples 50000 --seed 1
    scripts/fuzz_routines.py --first-failure     # stop at a failure and shrink it

Every example runs to the end: a broken contract (an exception other than RoutineError,
a message not starting with the source or longer than one line, a wrong or unnamed key
path) is counted under its cause, and the shortest input for each cause is printed. Exit
status 1 when anything failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PROFILE = "routine-fuzz"

try:
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis.strategies import SearchStrategy

    import voice_coach  # noqa: F401  (the loader under test must be importable)
except ImportError:  # run with an interpreter other than the project's venv
    if VENV_PYTHON.exists() and Path(sys.executable) != VENV_PYTHON:
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    sys.exit("fuzz_routines: voice_coach or hypothesis is not importable;"
             " run scripts/setup.sh, then .venv/bin/python scripts/fuzz_routines.py")


def load_properties() -> ModuleType:
    """The test module, imported by path so the strategies and checks are the same."""
    path = ROOT / "tests" / "test_routine_properties.py"
    spec = importlib.util.spec_from_file_location("test_routine_properties", path)
    if spec is None or spec.loader is None:
        sys.exit(f"fuzz_routines: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Failure:
    """One cause of failure: how often it happened and the shortest input that caused it."""

    count: int = 0
    message: str = ""
    example: str = ""


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, Failure] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def examples(self) -> int:
        return sum(self.outcomes.values())


def cause(exc: BaseException) -> str:
    """A short name for where a failure comes from, so repeats group together."""
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return f"{type(exc).__name__}: {kind}"
    frames = [(frame.f_code.co_filename, line)
              for frame, line in traceback.walk_tb(exc.__traceback__)]
    ours = [f for f in frames if "/voice_coach/" in f[0]] or frames[-1:]
    where = f" at {Path(ours[-1][0]).name}:{ours[-1][1]}" if ours else ""
    return f"{type(exc).__name__}{where}"


def describe(value: Any) -> str:
    text = getattr(value, "text", value)
    shown = repr(text)
    change = getattr(value, "change", None)
    if change:
        shown = f"{change}\n      {shown}"
    return shown


def run_property(name: str, strategy: SearchStrategy[Any], check: Callable[[Any], str],
                 profile: settings,
                 seed_value: int | None, first_failure: bool) -> Tally:
    tally = Tally()

    def record(value: Any) -> None:
        try:
            tally.outcomes[check(value)] += 1
        except Exception as exc:
            if first_failure:
                raise
            tally.outcomes["failed"] += 1
            failure = tally.failures.setdefault(cause(exc), Failure())
            failure.count += 1
            shown = describe(value)
            if not failure.example or len(shown) < len(failure.example):
                failure.example = shown
                failure.message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]

    test: Callable[[], None] = settings(profile)(given(strategy)(record))
    if seed_value is not None:
        test = seed(seed_value)(test)
    started = time.monotonic()
    test()
    tally.seconds = time.monotonic() - started
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=10_000,
                        help="examples per property (default: 10000)")
    parser.add_argument("--seed", type=int, help="hypothesis seed, for a repeatable run")
    parser.add_argument("--property", action="append", dest="properties", metavar="NAME",
                        help="run only this property (repeatable)")
    parser.add_argument("--first-failure", action="store_true",
                        help="stop at the first failure and let hypothesis shrink it")
    args = parser.parse_args(argv)

    props = load_properties()
    chosen = args.properties or list(props.PROPERTIES)
    unknown = [name for name in chosen if name not in props.PROPERTIES]
    if unknown:
        parser.error(f"unknown property {unknown[0]!r}; known: {', '.join(props.PROPERTIES)}")
    settings.register_profile(PROFILE, max_examples=args.examples, deadline=None,
                              database=None, suppress_health_check=list(HealthCheck),
                              print_blob=args.first_failure)
    profile = settings.get_profile(PROFILE)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    print(f"fuzzing parse_routine: {args.examples:,} examples per property,"
          f" Python {sys.version.split()[0]}")
    print(f"{'property':<22}{'examples':>10}{'loaded':>9}{'rejected':>10}{'failed':>8}"
          f"{'time':>9}")
    total = Tally()
    tallies: dict[str, Tally] = {}
    for name in chosen:
        strategy, check = props.PROPERTIES[name]
        tally = run_property(name, strategy, check, profile, args.seed, args.first_failure)
        tallies[name] = tally
        total.outcomes.update(tally.outcomes)
        total.seconds += tally.seconds
        print(f"{name:<22}{tally.examples:>10,}{tally.outcomes['loaded']:>9,}"
              f"{tally.outcomes['rejected']:>10,}{tally.outcomes['failed']:>8,}"
              f"{tally.seconds:>8.1f}s", flush=True)
    print(f"{'total':<22}{total.examples:>10,}{total.outcomes['loaded']:>9,}"
          f"{total.outcomes['rejected']:>10,}{total.outcomes['failed']:>8,}"
          f"{total.seconds:>8.1f}s")

    failed = False
    for name, tally in tallies.items():
        for where, failure in sorted(tally.failures.items(), key=lambda kv: -kv[1].count):
            failed = True
            print(f"\nFAILED {name}: {where} ({failure.count:,} examples)")
            print(f"    {failure.message}")
            print(f"    shortest input: {failure.example[:600]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
