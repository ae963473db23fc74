#!/usr/bin/env bash
# Set everything up, then run what CI runs, and say what was tested:
#   1. pytest: the whole suite on .venv's Python (3.11)
#   2. nox (noxfile.py): the suite less its real-time runs on Python 3.12 and 3.13, and the
#      wheel installed and run on 3.11, 3.12 and 3.13
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

results=$(mktemp -d "${TMPDIR:-/tmp}/voice-coach-tests.XXXXXX")
trap 'rm -rf "$results"' EXIT
export VOICE_COACH_TEST_RESULTS=$results
missing=--no-error-on-missing-interpreters
if [ "${CI:-}" = true ]; then missing=--error-on-missing-interpreters; fi

started=$SECONDS
set +e
"$python" -m pytest --junitxml="$results/pytest-3.11.xml"
pytest_status=$?
echo
echo "nox: the other Pythons and the wheel (noxfile.py)"
"$python" -m nox --non-interactive "$missing" --report "$results/nox.json"
nox_status=$?
echo "the whole run took $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
"$python" scripts/test_summary.py "$results" "$pytest_status" "$nox_status"
status=$?
set -e
exit "$status"
