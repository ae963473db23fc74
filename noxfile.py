"""The suite on the other supported Pythons, and the wheel on all of them, as nox sessions.

scripts/test.sh runs the whole suite on Python 3.11 with pytest, then these sessions:

- ``tests-3.12``, ``tests-3.13``: the suite less its real-time and espeak-ng runs
  (LEFT_OUT_*), in a venv with voice-coach installed editable and its test extras. About
  2 minutes each beside the 3.11 runs.
- ``wheel-3.11``, ``wheel-3.12``, ``wheel-3.13``: scripts/wheel_smoke.sh, which builds the
  wheel, installs it into a fresh venv and runs it as a user would.

Interpreters are found as ``pythonX.Y`` on PATH, else as the newest of pyenv's
``versions/X.Y.*`` (pyenv need not have it active); nox never downloads one. A missing
one skips its sessions, except under ``CI=true`` where scripts/test.sh makes it an error.
Each pytest run writes JUnit XML into $VOICE_COACH_TEST_RESULTS (when set), from which
scripts/test.sh adds up the run. Arguments after ``--`` go to pytest in place of ``tests``
(then the MIN_PASSED floor does not apply).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
OTHER_PYTHONS = ["3.12", "3.13"]
ALL_PYTHONS = ["3.11", *OTHER_PYTHONS]
LEFT_OUT_MODULES = {
    "tests/test_bench.py": "a benchmark, not a check",
    "tests/test_play_e2e.py": "whole sessions through the sound server in real time: minutes",
    "tests/test_interrupts.py": "signals at every point of real exports: minutes",
    "tests/test_pipewire.py": "whole sessions through a private PipeWire in real time",
    "tests/test_devices.py": "plays through two private sound servers in real time (1.5 min)",
    "tests/test_device_clock.py": "whole sessions into paced test devices in real time (2.5 min)",
    "tests/test_media_keys.py": "plays steered over a private session bus in real time (1 min)",
    "tests/test_piper.py": "the neural engine, onnxruntime, renders alike on every Python:"
                           " 3.11 runs its 2.5 minutes",
    "tests/test_piper_pronounce.py": "the neural engine, as test_piper.py",
}
LEFT_OUT_MARKERS = {
    "engine": "renders with espeak-ng through pyttsx3's helper process, the same C engine on"
              " every Python: the wheel sessions export a session with it on each",
}
LEFT_OUT_TESTS = {
    **{f"tests/test_routine_properties.py::{name}": "a 200-example property run"
       for name in ("test_any_text_loads_or_fails_with_one_line",
                    "test_any_toml_document_loads_or_fails_with_one_line",
                    "test_one_change_to_a_valid_routine_is_named_by_its_key_path")},
    "tests/test_soundserver_play.py::test_cues_keep_their_spacing_to_the_sample":
        "14 s of real-time play timing the sink; the other tests there play through it too",
}
MIN_PASSED = 725
"""731 tests in the subset (root-only faults and /dev/full skip elsewhere): a floor, so that
a subset that lost its tests fails. Lower it only when tests were removed on purpose."""


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            return Path(found.stdout.strip())
    return Path.home() / ".pyenv"


def put_pyenv_pythons_on_path(versions: list[str]) -> None:
    """For each version without a real ``pythonX.Y`` on PATH (a pyenv shim of an inactive
    version is not one), put the newest pyenv ``versions/X.Y.*/bin`` first on PATH, where
    nox looks."""
    for version in versions:
        on_path = shutil.which(f"python{version}")
        if on_path and "/shims/" not in on_path:
            continue
        pattern = re.compile(rf"{re.escape(version)}\.(\d+)")
        found = sorted(
            ((int(m.group(1)), entry / "bin") for entry in (pyenv_root() / "versions").glob(
                f"{version}.*") if (m := pattern.fullmatch(entry.name))
             and (entry / "bin" / "python").exists()),
            reverse=True)
        if found:
            os.environ["PATH"] = f"{found[0][1]}{os.pathsep}{os.environ.get('PATH', '')}"


put_pyenv_pythons_on_path(ALL_PYTHONS)
nox.options.sessions = ["lint", "tests", "wheel"]
nox.options.reuse_venv = "yes"
nox.options.download_python = "never"
nox.options.envdir = str(ROOT / ".nox")


def junit_path(session: nox.Session) -> Path:
    """Where this session's pytest writes JUnit XML: scripts/test.sh's folder, if it gave one."""
    folder = os.environ.get("VOICE_COACH_TEST_RESULTS") or session.create_tmp()
    return Path(folder) / f"{session.name}.xml"


def passed_in(junit: Path) -> int:
    suites = ET.parse(junit).getroot().iter("testsuite")
    return sum(int(s.get("tests", 0)) - int(s.get("failures", 0)) - int(s.get("errors", 0))
               - int(s.get("skipped", 0)) for s in suites)


def missing_left_outs() -> list[str]:
    """The LEFT_OUT_* entries that no longer name a module or a test function: pytest would
    ignore them silently, and the subset would grow by surprise."""
    gone = [module for module in LEFT_OUT_MODULES if not (ROOT / module).is_file()]
    for test in LEFT_OUT_TESTS:
        module, _, name = test.partition("::")
        path = ROOT / module
        if not path.is_file() or not re.search(rf"^def {re.escape(name)}\(",
                                               path.read_text(encoding="utf-8"), re.M):
            gone.append(test)
    return gone


@nox.session(python=OTHER_PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite less its real-time runs on another Python; fails below MIN_PASSED."""
    if gone := missing_left_outs():
        session.error(f"LEFT_OUT_* in noxfile.py names what no longer exists: {', '.join(gone)}")
    session.install("-e", ".[test,neural]")  # the suite tests the real Piper engine too
    junit = junit_path(session)
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-profile=default",
        f"--basetemp={Path(session.create_tmp()) / 'basetemp'}", f"--junitxml={junit}",
        "-m", " and ".join(f"not {marker}" for marker in LEFT_OUT_MARKERS),
        *(f"--ignore={module}" for module in LEFT_OUT_MODULES),
        *(f"--deselect={test}" for test in LEFT_OUT_TESTS), *(session.posargs or ["tests"]))
    passed = passed_in(junit)
    if not session.posargs and passed < MIN_PASSED:
        session.error(f"only {passed} tests passed on Python {session.python}, expected at"
                      f" least {MIN_PASSED}: did tests stop being collected?")


@nox.session(python=ALL_PYTHONS)
def wheel(session: nox.Session) -> None:
    """scripts/wheel_smoke.sh with this Python: the wheel installed and run as a user would."""
    output = session.run("bash", str(ROOT / "scripts" / "wheel_smoke.sh"), f"{session.bin}/python",
                         external=True, silent=True, success_codes=[0, 1, 2])
    assert isinstance(output, str)
    print(output, end="", flush=True)
    if not re.search(r"wheel_smoke: OK with Python \d", output):
        session.error(f"wheel_smoke.sh failed on Python {session.python}")


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff and strict mypy over the library, support/, benchmarks/ and the suite's scripts,
    with the tools .venv has (scripts/setup.sh installs them)."""
    tools = ROOT / ".venv" / "bin"
    session.run(str(tools / "ruff"), "check", str(ROOT), external=True)
    session.run(str(tools / "mypy"), external=True)
