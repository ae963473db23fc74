"""The test suite on the other supported Pythons: all but its real-time runs, per version.

The whole suite runs on the current Python (3.11 in CI). Here 3.12 and 3.13, found as
tests/test_wheel.py finds them, each run it in a child pytest (the same conftest, its own
temporary folders, hypothesis's default profile) from a venv in .venvs/<version> that
scripts/setup.sh makes: voice-coach installed editable with its test extras (the wheel is
test_wheel's job). setup.sh remakes the venv only when pyproject.toml changes; pip's cache
is the developer's. Left out are the modules and tests in LEFT_OUT_*, each for its reason;
everything else -- new modules too -- runs, simpleaudio through ALSA and PulseAudio, the
espeak-ng helper and the player stress cycles included: about a minute per Python on two
cores, plus about 12 s to make a venv. A missing Python fails, as in test_wheel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_wheel import OTHER_VERSIONS, base_python, require_python

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"
VENVS = ROOT / ".venvs"
LEFT_OUT_MODULES = {
    "tests/test_other_pythons.py": "this module: it would start itself again",
    "tests/test_wheel.py": "already runs the wheel on every Python",
    "tests/test_bench.py": "a benchmark, not a check",
    "tests/test_play_e2e.py": "whole sessions through the sound server in real time: minutes",
    "tests/test_interrupts.py": "signals at every point of real exports: minutes",
}
LEFT_OUT_TESTS = {
    **{f"tests/test_routine_properties.py::{name}": "a 200-example property run"
       for name in ("test_any_text_loads_or_fails_with_one_line",
                    "test_any_toml_document_loads_or_fails_with_one_line",
                    "test_one_change_to_a_valid_routine_is_named_by_its_key_path")},
    "tests/test_soundserver_play.py::test_cues_keep_their_spacing_to_the_sample":
        "28 s of real-time play timing the sink; the other tests there play through it too",
}
MIN_PASSED = 602
"""608 tests in the subset (root-only faults and /dev/full skip elsewhere): a floor, so that
a subset that lost its tests fails. Lower it only when tests were removed on purpose."""
SETUP_TIMEOUT_S = 600
RUN_TIMEOUT_S = 600
PIP_CACHE_DIR = os.environ.get("PIP_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip")
"""pip's cache as the developer has it, read at import, before conftest hides XDG_CACHE_HOME."""


def child_env(**extra: str) -> dict[str, str]:
    """This test's environment (conftest's private XDG dirs) without what would steer another
    interpreter or pytest: PYTHON*, PYTEST_*, VIRTUAL_ENV."""
    kept = {name: value for name, value in os.environ.items()
            if not name.startswith(("PYTHON", "PYTEST_")) and name != "VIRTUAL_ENV"}
    return {**kept, "PIP_CACHE_DIR": PIP_CACHE_DIR, **extra}


def output_of(result: subprocess.CompletedProcess[str] | subprocess.TimeoutExpired) -> str:
    parts = (result.stdout, result.stderr)
    return "".join(p.decode(errors="replace") if isinstance(p, bytes) else p for p in parts if p)


def python_version(python: Path) -> str:
    found = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                           capture_output=True, text=True, timeout=30, check=True)
    return found.stdout.strip()


def venv_for(python: Path) -> Path:
    """.venvs/<full version> made or brought up to date by scripts/setup.sh."""
    venv = VENVS / python_version(python)
    try:
        result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True,
                                timeout=SETUP_TIMEOUT_S, cwd=ROOT, check=False,
                                env=child_env(PYTHON=str(python), VOICE_COACH_VENV=str(venv)))
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"scripts/setup.sh for {venv} took over {SETUP_TIMEOUT_S} s:\n{output_of(exc)}")
    assert result.returncode == 0, (
        f"scripts/setup.sh could not make {venv} (exit {result.returncode}); delete that folder"
        f" and run again if it is half made:\n{output_of(result)}")
    return venv


def counts(output: str) -> dict[str, int]:
    """pytest's last line, '600 passed, 6 skipped, 4 deselected in 51.2s', as numbers."""
    lines = [line for line in output.splitlines() if re.search(r" in [\d.]+s\b", line)]
    if not lines:
        return {}
    return {word.rstrip("s") if word.startswith("error") else word: int(n)
            for n, word in re.findall(r"(\d+) (\w+)", lines[-1])}


def run_suite(venv: Path, basetemp: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--hypothesis-profile=default", f"--basetemp={basetemp}",
               *(f"--ignore={module}" for module in LEFT_OUT_MODULES),
               *(f"--deselect={test}" for test in LEFT_OUT_TESTS), "tests"]
    env = child_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                cwd=ROOT, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the suite in {venv} took over {RUN_TIMEOUT_S} s; leave out the slowest"
                    f" (LEFT_OUT_TESTS):\n{output_of(exc)[-6000:]}")
    return result, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("version", OTHER_VERSIONS)
def test_the_suite_passes_on_other_pythons(version: str, tmp_path: Path,
                                           record_property: Callable[[str, object], None]) -> None:
    python = require_python(version)
    if python.resolve() == base_python().resolve():
        pytest.skip(f"Python {version} is the current interpreter: the whole suite runs on it")
    started = time.monotonic()
    venv = venv_for(python)
    setup_s = time.monotonic() - started
    assert python_version(venv / "bin" / "python") == python_version(python), (
        f"{venv} runs another Python than {python}; delete it and run again")

    result, run_s = run_suite(venv, tmp_path / "basetemp")
    found = counts(result.stdout)
    record_property("setup_seconds", round(setup_s, 1))
    record_property("run_seconds", round(run_s, 1))
    record_property("passed", found.get("passed", 0))
    print(f"Python {version}: setup {setup_s:.1f} s, suite {run_s:.1f} s: {found}",
          file=sys.stderr)

    tail = output_of(result)[-12000:]
    assert result.returncode == 0, (
        f"the suite on Python {version} ({venv}) exited {result.returncode}"
        f"{' (killed by a signal: a crash)' if result.returncode < 0 else ''}; run"
        f" '{venv}/bin/python -m pytest' with the failing ids to see more:\n{tail}")
    assert found.get("passed", 0) >= MIN_PASSED, (
        f"only {found.get('passed', 0)} tests passed on Python {version}, expected at least"
        f" {MIN_PASSED}: did tests stop being collected?\n{tail}")
    assert found.get("deselected", 0) == len(LEFT_OUT_TESTS), (
        f"{found.get('deselected', 0)} tests deselected, LEFT_OUT_TESTS names"
        f" {len(LEFT_OUT_TESTS)}: fix the ids that no longer exist\n{tail}")
