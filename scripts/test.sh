#!/usr/bin/env bash
# Set everything up, then run what CI runs, and say what was tested:
#   1. at once, on the two cores:
#      - pytest, twice: the suite on .venv's Python (3.11) less the tests that time
#        themselves against the machine (marked timed), split into the tests that mostly
#        wait (marked waiting) and the rest
#      - nox (noxfile.py): the suite less its one_python and espeak-ng runs on Python 3.12
#        and 3.13, and the wheel installed and run on 3.11, 3.12 and 3.13 (its output
#        follows pytest's)
#   2. alone, so that nothing else changes the load while they run: pytest on 3.11, timed
#   3. one line per part, then the whole run as 'N passed, N failed, N skipped', last.
#
#   scripts/test.sh              # everything (CI runs this)
#   scripts/test.sh ARGS...      # pytest on .venv's Python only, with ARGS: -m "not slow", ids
#
# A Python that is not installed is reported as "not tested" with how to add it, and the
# run still passes; with CI=true it fails the run. Exits non-zero if any part failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
python=$root/.venv/bin/python
if (($#)); then
    exec "$python" -m pytest "$@"
fi

# What runs where is said by each test's markers (pyproject.toml): `timed` tests (whole
# sessions played through the sound server and timed against it, the interrupt sweep) run
# alone in phase 2; phase 1 runs the rest, its `waiting` tests in a pytest of their own
# beside the one that computes, so that the two cores stay busy. Every test runs once.
PHASE_1="not long and not timed"
results=$(mktemp -d "${TMPDIR:-/tmp}/voice-coach-tests.XXXXXX")
nox_pid=""
cleanup() {
    if [ -n "$nox_pid" ]; then kill -TERM -- "-$nox_pid" 2>/dev/null || true; fi
    if [ -n "${waiting_pid:-}" ]; then kill -TERM "$waiting_pid" 2>/dev/null || true; fi
    rm -rf "$results"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export VOICE_COACH_TEST_RESULTS=$results
missing=--no-error-on-missing-interpreters
if [ "${CI:-}" = true ]; then missing=--error-on-missing-interpreters; fi

started=$SECONDS
set +e
# Its own process group, so that an interrupted run ends all of it.
setsid "$python" -m nox --non-interactive "$missing" --report "$results/nox.json" \
    >"$results/nox.log" 2>&1 </dev/null &
nox_pid=$!
waiting_pid=""
"$python" -m pytest --junitxml="$results/pytest-3.11-waiting.xml" -m "$PHASE_1 and waiting" \
    --durations=12 >"$results/waiting.log" 2>&1 </dev/null &
waiting_pid=$!
echo "nox, and pytest on the tests that mostly wait: at the same time (their output follows)"
"$python" -m pytest --junitxml="$results/pytest-3.11.xml" -m "$PHASE_1 and not waiting" \
    --durations=12
pytest_status=$?
wait "$waiting_pid"
waiting_status=$?
waiting_pid=""
if [ "$pytest_status" -eq 0 ]; then pytest_status=$waiting_status; fi
wait "$nox_pid"
nox_status=$?
nox_pid=""
echo
echo "pytest on the tests that mostly wait (marked waiting)"
cat "$results/waiting.log"
echo
echo "nox (noxfile.py): the other Pythons and the wheel"
cat "$results/nox.log"
echo
echo "the timed tests on Python 3.11, alone"
"$python" -m pytest --junitxml="$results/pytest-3.11-timed.xml" -m "not long and timed" \
    --durations=12
timed_status=$?
if [ "$pytest_status" -eq 0 ]; then pytest_status=$timed_status; fi
echo
echo "the whole run took $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
"$python" scripts/test_summary.py "$results" "$pytest_status" "$nox_status"
status=$?
set -e
exit "$status"
