"""scripts/test_summary.py: the closing lines of scripts/test.sh, by which CI judges a run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "scripts" / "test_summary.py"
HEADER = "=" * 28 + " voice-coach: the whole run " + "=" * 28
ADD_312 = ("not installed; to add it: pyenv install 3.12, or put python3.12 on PATH;"
           " CI requires it")


def junit(path: Path, tests: int, failures: int = 0, errors: int = 0, skipped: int = 0) -> None:
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"'
        f' errors="{errors}" failures="{failures}" skipped="{skipped}" tests="{tests}"'
        f' time="1.0"/></testsuites>', encoding="utf-8")


def nox_report(path: Path, *sessions: tuple[str, str, str | None]) -> None:
    path.write_text(json.dumps({"result": 1, "sessions": [
        {"args": {}, "name": name.partition("-")[0], "result": result, "reason": reason,
         "signatures": [name], "duration": 1.0} for name, result, reason in sessions]}),
        encoding="utf-8")


def summary(results: Path, pytest_status: int, nox_status: int) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, str(SUMMARY), str(results), str(pytest_status),
                           str(nox_status)], capture_output=True, text=True, check=False)
    assert done.stderr == ""
    return done.returncode, done.stdout.splitlines()


def test_a_missing_python_is_not_tested_and_the_run_passes(tmp_path: Path) -> None:
    junit(tmp_path / "pytest-3.11.xml", tests=640, skipped=9)
    junit(tmp_path / "pytest-3.11-timed.xml", tests=30)
    junit(tmp_path / "tests-3.13.xml", tests=608, skipped=2)
    nox_report(tmp_path / "nox.json",
               ("tests-3.12", "skipped", "Python interpreter 3.12 not found"),
               ("tests-3.13", "success", None),
               ("wheel-3.11", "success", None),
               ("wheel-3.12", "skipped", "Python interpreter 3.12 not found"),
               ("wheel-3.13", "success", None))
    assert summary(tmp_path, 0, 0) == (0, [
        "", HEADER,
        "Python 3.11, the whole suite: 661 passed, 0 failed, 9 skipped: ok",
        f"not tested: Python 3.12, the suite less its real-time and espeak-ng runs ({ADD_312})",
        "Python 3.13, the suite less its real-time and espeak-ng runs: 606 passed, 0 failed, 2 skipped: ok",
        "Python 3.11, the wheel installed and run: ok",
        f"not tested: Python 3.12, the wheel installed and run ({ADD_312})",
        "Python 3.13, the wheel installed and run: ok",
        "",
        "1269 passed, 0 failed, 13 skipped",
    ])


def test_under_ci_a_missing_python_fails_the_run(tmp_path: Path) -> None:
    junit(tmp_path / "pytest-3.11.xml", tests=3)
    nox_report(tmp_path / "nox.json",
               ("tests-3.12", "failed", "Python interpreter 3.12 not found"))
    assert summary(tmp_path, 0, 1) == (1, [
        "", HEADER,
        "Python 3.11, the whole suite: 3 passed, 0 failed, 0 skipped: ok",
        f"FAILED: Python 3.12, the suite less its real-time and espeak-ng runs: Python 3.12 is {ADD_312}",
        "",
        "3 passed, 1 failed, 0 skipped",
    ])


def test_failures_anywhere_fail_the_run_and_are_counted(tmp_path: Path) -> None:
    junit(tmp_path / "pytest-3.11.xml", tests=10, failures=1, errors=1)
    junit(tmp_path / "tests-3.12.xml", tests=5, failures=2)
    nox_report(tmp_path / "nox.json",
               ("tests-3.12", "failed", "Command python -m pytest failed with exit code 1"),
               ("tests-3.13", "aborted", "only 3 tests passed on Python 3.13, expected at least 1040"),
               ("wheel-3.11", "aborted", "wheel_smoke.sh failed on Python 3.11"))
    assert summary(tmp_path, 1, 1) == (1, [
        "", HEADER,
        "Python 3.11, the whole suite: 8 passed, 2 failed, 0 skipped: FAILED (pytest exited 1)",
        "Python 3.12, the suite less its real-time and espeak-ng runs: 3 passed, 2 failed, 0 skipped: FAILED",
        "Python 3.13, the suite less its real-time and espeak-ng runs: FAILED before its tests ran (aborted)",
        "Python 3.11, the wheel installed and run: FAILED",
        "",
        "11 passed, 6 failed, 0 skipped",
    ])


def test_no_results_at_all_is_a_failure_not_a_pass(tmp_path: Path) -> None:
    assert summary(tmp_path, 2, 1) == (1, [
        "", HEADER,
        "Python 3.11, the whole suite: FAILED (pytest exited 2 without a result)",
        "nox: FAILED (exited 1 without a report)",
        "",
        "0 passed, 2 failed, 0 skipped",
    ])


def test_lint_is_one_line_and_fails_the_run_when_it_fails(tmp_path: Path) -> None:
    junit(tmp_path / "pytest-3.11.xml", tests=10)
    nox_report(tmp_path / "nox.json", ("lint", "failed", None), ("wheel-3.11", "success", None))
    assert summary(tmp_path, 0, 1) == (1, [
        "", HEADER,
        "Python 3.11, the whole suite: 10 passed, 0 failed, 0 skipped: ok",
        "lint: ruff and strict mypy: FAILED",
        "Python 3.11, the wheel installed and run: ok",
        "",
        "11 passed, 1 failed, 0 skipped",
    ])
