"""Installed as users install it: scripts/wheel_smoke.sh for each supported Python.

The current interpreter (the venv's base Python) always; 3.12 and 3.13 from pyenv's
versions folder, or ``python3.12`` / ``python3.13`` on PATH. A missing interpreter fails
the test, because an untested Python is a gap, unless VOICE_COACH_SKIP_OTHER_PYTHONS=1.
Each run reuses pip's cache (PIP_CACHE_DIR or pip's default): about 10 s warm; a cold
cache downloads the dependencies and compiles simpleaudio-patched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "wheel_smoke.sh"
OTHER_VERSIONS = ("3.12", "3.13")
SKIP_OTHERS = "VOICE_COACH_SKIP_OTHER_PYTHONS"
SKIPPING_OTHERS = os.environ.get(SKIP_OTHERS) == "1"
"""Read at import: conftest removes every VOICE_COACH_* variable before a test runs."""
TIMEOUT_S = 900


def base_python() -> Path:
    """The interpreter this venv was made from: what a user would install the wheel with."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).exists():
        return Path(base)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Path(sys.base_prefix) / "bin" / f"python{version}"


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            return Path(found.stdout.strip())
    return Path.home() / ".pyenv"


def find_python(version: str) -> Path | None:
    """The newest pyenv ``version.*``, else a real ``pythonX.Y`` on PATH (not a pyenv shim)."""
    folder = pyenv_root() / "versions"
    pattern = re.compile(rf"{re.escape(version)}\.(\d+)")
    candidates = sorted(
        ((int(m.group(1)), entry / "bin" / "python") for entry in folder.glob(f"{version}.*")
         if (m := pattern.fullmatch(entry.name))),
        reverse=True,
    )
    for _, python in candidates:
        if python.exists():
            return python
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:
        return Path(on_path)
    return None


def require_python(version: str) -> Path:
    """Python ``version`` (see find_python); a missing one fails the test, or skips it with
    VOICE_COACH_SKIP_OTHER_PYTHONS=1."""
    python = find_python(version)
    if python is None:
        message = (f"no Python {version}: looked for {pyenv_root()}/versions/{version}.*/bin/python"
                   f" and python{version} on PATH. Install it (pyenv install {version}) or set"
                   f" {SKIP_OTHERS}=1 to test only the current Python.")
        if SKIPPING_OTHERS:
            pytest.skip(message)
        pytest.fail(message)
    return python


def smoke(python: Path, record_property: Callable[[str, object], None]) -> None:
    started = time.monotonic()
    try:
        result = subprocess.run(["bash", str(SCRIPT), str(python)], capture_output=True,
                                text=True, timeout=TIMEOUT_S, cwd=ROOT, check=False)
    except subprocess.TimeoutExpired as exc:
        output = "".join(part.decode() if isinstance(part, bytes) else part
                         for part in (exc.stdout, exc.stderr) if part)
        pytest.fail(f"wheel_smoke.sh {python} took over {TIMEOUT_S} s:\n{output}")
    seconds = time.monotonic() - started
    record_property("seconds", round(seconds, 1))
    print(result.stdout)
    print(f"wheel_smoke.sh {python}: {seconds:.1f} s", file=sys.stderr)
    assert result.returncode == 0, (
        f"wheel_smoke.sh {python} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    assert re.search(r"wheel_smoke: OK with Python \d", result.stdout), result.stdout


@pytest.mark.slow
def test_wheel_installs_and_runs_on_the_current_python(
        record_property: Callable[[str, object], None]) -> None:
    smoke(base_python(), record_property)


@pytest.mark.slow
@pytest.mark.parametrize("version", OTHER_VERSIONS)
def test_wheel_installs_and_runs_on_other_pythons(
        version: str, record_property: Callable[[str, object], None]) -> None:
    python = require_python(version)
    if python.resolve() == base_python().resolve():
        pytest.skip(f"Python {version} is the current interpreter, tested above")
    smoke(python, record_property)
