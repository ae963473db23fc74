#!/usr/bin/env bash
# Set everything up, then run what CI runs, and say what was tested:
#   1. at once, on the two cores:
#      - pytest, twice: the suite on .venv's Python (3.11) less the tests that time
#        themselves against the machine (TIMED below), split into the tests that mostly
#        wait (WAITING) and the rest
#      - nox (noxfile.py): the suite less its real-time and espeak-ng runs on Python 3.12
#        and 3.13, and the wheel installed and run on 3.11, 3.12 and 3.13 (its output
#        follows pytest's)
#   2. alone, so that nothing else changes the load while they run: pytest on 3.11, TIMED
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

# A pytest -k expression, run alone: whole sessions played through the sound server and
# timed against it, and the interrupt sweep, whose signal times come from the length of
# an export measured just before (a load that changes mid-sweep makes it miss). Phase 1
# runs its complement, so every test runs once whatever the names.
TIMED="test_play_e2e or test_soundserver_play or test_pipewire"
TIMED+=" or test_an_interrupted_export_leaves_the_old_or_the_new_export_whole"
TIMED+=" or test_cue_spacing_is_exact_with_a_client_polling_position"
# Phase 1's tests that mostly wait (the quick benchmark, the device and Piper plays): a
# pytest of their own beside the one that computes, so that the two cores stay busy.
WAITING="test_bench or test_piper or test_devices or test_device_clock or test_media_keys"
WAITING+=" or test_a_stopped_session_resumes"

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
"$python" -m pytest --junitxml="$results/pytest-3.11-waiting.xml" -m "not long" \
    -k "not ($TIMED) and ($WAITING)" --durations=12 >"$results/waiting.log" 2>&1 </dev/null &
waiting_pid=$!
echo "nox, and pytest on the tests that mostly wait: at the same time (their output follows)"
"$python" -m pytest --junitxml="$results/pytest-3.11.xml" -m "not long" \
    -k "not ($TIMED) and not ($WAITING)" --durations=12
pytest_status=$?
wait "$waiting_pid"
waiting_status=$?
waiting_pid=""
if [ "$pytest_status" -eq 0 ]; then pytest_status=$waiting_status; fi
wait "$nox_pid"
nox_status=$?
nox_pid=""
echo
echo "pytest on the tests that mostly wait ($WAITING)"
cat "$results/waiting.log"
echo
echo "nox (noxfile.py): the other Pythons and the wheel"
cat "$results/nox.log"
echo
echo "the timed tests on Python 3.11, alone"
"$python" -m pytest --junitxml="$results/pytest-3.11-timed.xml" -m "not long" -k "$TIMED" \
    --durations=12
timed_status=$?
if [ "$pytest_status" -eq 0 ]; then pytest_status=$timed_status; fi
echo
echo "the whole run took $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
"$python" scripts/test_summary.py "$results" "$pytest_status" "$nox_status"
status=$?
set -e
exit "$status"
