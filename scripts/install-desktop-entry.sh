#!/usr/bin/env bash
# Install voice-coach's desktop file (shipped in the package as voice_coach/voice-coach.desktop)
# into $XDG_DATA_HOME/applications (~/.local/share/applications by default). With it there,
# the media-key player says DesktopEntry "voice-coach", and the desktop's player controls
# show voice-coach by name and icon. Exec points at the voice-coach next to the Python used.
#
#   scripts/install-desktop-entry.sh            # from .venv (scripts/setup.sh made it)
#   PYTHON=~/.local/pipx/venvs/voice-coach/bin/python scripts/install-desktop-entry.sh
#   scripts/install-desktop-entry.sh --remove
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-${VOICE_COACH_VENV:-$root/.venv}/bin/python}
data_home=${XDG_DATA_HOME:-}
case "$data_home" in /*) ;; *) data_home=$HOME/.local/share ;; esac  # relative: ignored (XDG)
target=$data_home/applications
file=$target/voice-coach.desktop

if [ "${1:-}" = "--remove" ]; then
    rm -f "$file"
    printf 'removed %s\n' "$file"
    exit 0
fi
source=$("$python" -c 'from importlib.resources import files; print(files("voice_coach") / "voice-coach.desktop")')
command=$(dirname "$python")/voice-coach
mkdir -p "$target"
sed "s|^Exec=voice-coach |Exec=\"$command\" |" "$source" > "$file.tmp"
mv "$file.tmp" "$file"
if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$target" || true
fi
printf 'installed %s\n' "$file"
