#!/usr/bin/env bash
# Set everything up, then start the default session (extra arguments go to `voice-coach play`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/.venv/bin/voice-coach" play "$@"
