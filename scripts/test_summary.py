"""The closing lines of scripts/test.sh: one line per part of the run, then the whole.

    python scripts/test_summary.py RESULTS PYTEST_STATUS NOX_STATUS

RESULTS holds pytest-3.11*.xml (the whole suite on .venv's Python, in one or more runs;
PYTEST_STATUS is the first non-zero exit of them), the nox sessions' JUnit XML
(tests-3.12.xml, ...) and nox's report (nox.json). The last line is the whole run as
'N passed, N failed, N skipped' alone on a line: pytest's tests on every Python, plus one
per wheel check. Exits 1 if any part failed (or left no result), 0 otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ADD_A_PYTHON = ("not installed; to add it: pyenv install {v}, or put python{v} on PATH;"
                " CI requires it")


@dataclass(frozen=True)
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.passed + other.passed, self.failed + other.failed,
                     self.skipped + other.skipped)

    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def junit_tally(path: Path) -> Tally | None:
    """A JUnit XML file's counts, or None if pytest wrote none (it did not get to run)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = Tally()
    for suite in suites:
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        total += Tally(tests - failed - skipped, failed, skipped)
    return total


def name_of(session: dict[str, object]) -> str:
    """The session as nox lists it, 'tests-3.12': its first signature ('name' is 'tests')."""
    signatures = session.get("signatures")
    if isinstance(signatures, list) and signatures:
        return str(signatures[0])
    return str(session.get("name", "?"))


def main(results: Path, pytest_status: int, nox_status: int) -> int:
    lines: list[str] = []
    total = Tally()
    ok = True

    parts = [junit_tally(path) for path in sorted(results.glob("pytest-3.11*.xml"))]
    base = sum((part for part in parts if part is not None), Tally()) if parts else None
    if base is None:
        lines.append(f"Python 3.11, the whole suite: FAILED (pytest exited {pytest_status}"
                     " without a result)")
        total += Tally(failed=1)
        ok = False
    else:
        verdict = "ok" if pytest_status == 0 else f"FAILED (pytest exited {pytest_status})"
        lines.append(f"Python 3.11, the whole suite: {base.line()}: {verdict}")
        total += base
        ok = ok and pytest_status == 0

    try:
        sessions = json.loads((results / "nox.json").read_text(encoding="utf-8"))["sessions"]
    except (OSError, ValueError, KeyError):
        sessions = []
        lines.append(f"nox: FAILED (exited {nox_status} without a report)")
        total += Tally(failed=1)
        ok = False
    for session in sessions:
        name, result = name_of(session), str(session.get("result"))
        version = name.rpartition("-")[2]
        missing = "not found" in str(session.get("reason") or "")
        what = (f"Python {version}, the suite less its real-time and espeak-ng runs"
                if name.startswith("tests")
                else "lint: ruff and strict mypy" if name == "lint"
                else f"Python {version}, the wheel installed and run")
        if result == "skipped" and missing:
            lines.append(f"not tested: {what} ({ADD_A_PYTHON.format(v=version)})")
            total += Tally(skipped=1)
            continue
        if result != "success":
            ok = False
            if missing:
                lines.append(f"FAILED: {what}: Python {version} is "
                             f"{ADD_A_PYTHON.format(v=version)}")
                total += Tally(failed=1)
                continue
        if name.startswith("tests"):
            found = junit_tally(results / f"{name}.xml")
            if found is None:
                lines.append(f"{what}: FAILED before its tests ran ({result})")
                total += Tally(failed=1)
                continue
            verdict = "ok" if result == "success" else "FAILED"
            lines.append(f"{what}: {found.line()}: {verdict}")
            total += found
        else:
            lines.append(f"{what}: {'ok' if result == 'success' else 'FAILED'}")
            total += Tally(passed=1) if result == "success" else Tally(failed=1)
    if nox_status != 0 and ok:
        lines.append(f"nox: FAILED (exited {nox_status})")
        total += Tally(failed=1)
        ok = False

    print("\n".join(["", "=" * 28 + " voice-coach: the whole run " + "=" * 28, *lines, ""]))
    print(total.line())
    return 0 if ok and total.failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(f"usage: {os.path.basename(sys.argv[0])} RESULTS PYTEST_STATUS NOX_STATUS",
              file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
