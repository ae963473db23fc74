#!/usr/bin/env bash
# Set up everything voice-coach needs on Debian/Ubuntu: system packages (only those
# missing), a virtual environment in .venv, and the project with its test extras.
# Idempotent; a second run with nothing changed takes about a second.
#
#   scripts/setup.sh            # engine, ALSA headers, sound-server tools, .venv
#   PYTHON=python3.12 scripts/setup.sh   # choose the interpreter for .venv
#   scripts/setup.sh --desktop-entry     # also install the desktop file for this user
#                                        # (scripts/install-desktop-entry.sh)
set -euo pipefail

desktop_entry=false
for argument in "$@"; do
    case "$argument" in
        --desktop-entry) desktop_entry=true ;;
        *) printf 'setup: unknown option %s\n' "$argument" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
venv=${VOICE_COACH_VENV:-$root/.venv}

say() { printf 'setup: %s\n' "$*" >&2; }

# espeak-ng is the speech engine (pyttsx3 loads libespeak-ng1); gcc, the Python headers
# and libasound2-dev build simpleaudio; pulseaudio and friends carry the real-sound tests;
# sox is what we use to look at rendered audio; ffmpeg is the reference loudness meter
# and decoder the export tests hold the files against. dbus-daemon gives the media-key
# tests a private session bus; playerctl is the MPRIS2 client they steer a play with,
# gdbus (libglib2.0-bin) introspects it and dbus-monitor (dbus-bin) watches its signals.
# groff-base formats the man page tests/test_docs.py reads (docs/voice-coach.1).
packages=(espeak-ng libespeak-ng1 gcc libasound2-dev libasound2-plugins alsa-utils
          pulseaudio pulseaudio-utils pipewire pipewire-bin wireplumber pipewire-pulse sox
          ffmpeg dbus-daemon dbus-bin playerctl libglib2.0-bin groff-base)

# Debian splits venv, pip and the headers out of python3 (minbase has no python3 at all);
# pip is what scripts/wheel_smoke.sh builds the wheel with.
if ! command -v "$python" >/dev/null; then packages+=(python3); fi
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then packages+=(python3-venv); fi
if ! "$python" -m pip --version >/dev/null 2>&1; then packages+=(python3-pip); fi
if ! "$python" -c 'import os, sysconfig; p = sysconfig.get_paths()["include"]; raise SystemExit(not os.path.exists(os.path.join(p, "Python.h")))' >/dev/null 2>&1; then
    packages+=(python3-dev)
fi

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            say "missing system packages and no sudo to install them: as root, run" \
                "'apt-get install ${missing[*]}', then run $0 again"
            exit 1
        fi
        sudo="sudo"
    fi
    say "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$venv/.voice-coach-stamp"
want=$( { "$python" --version; cat "$root/pyproject.toml" "$root/setup.py" "$root/voice_coach/_devicetap.c"; } | sha256sum | cut -d' ' -f1)
finish() {
    if $desktop_entry; then
        PYTHON="$venv/bin/python" "$root/scripts/install-desktop-entry.sh" >&2
    fi
    exit 0
}
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    finish
fi
if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi
say "installing voice-coach and its test tools into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[test,dev,neural]"
echo "$want" > "$stamp"
finish
