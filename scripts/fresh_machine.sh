#!/usr/bin/env bash
# Run the README's test command on a freshly bootstrapped Debian 12, as a new developer or
# a new CI machine would: debootstrap --variant=minbase bookworm, then only git and
# ca-certificates, a clone of this repository's committed HEAD, and scripts/test.sh.
# Whatever this machine has installed by hand cannot help the run. Then the install page's
# path (docs/install.md), as a user who is not root: the Debian packages the page names
# (apt-get install, its exact list), a wheel built from the clone, `pipx install` of it,
# and `voice-coach export`, whose session.wav is checked (7:00 to the sample, not silent).
#
#   sudo scripts/fresh_machine.sh [DIR]     # DIR: the new root, /srv/voice-coach-fresh if not given
#
# Needs root (debootstrap, chroot, mounts); installs debootstrap if it is missing.
# Knobs, all read from the environment:
#   FRESH_MIRROR  Debian mirror; default: the first http(s) one in this machine's apt sources
#   FRESH_CA      a CA bundle for pip in the new root; default: the one this machine's pip
#                 uses (PIP_CERT, else pip's global.cert), if any. Needed where HTTPS goes
#                 through an intercepting proxy that Debian's ca-certificates do not trust.
#   FRESH_KEEP=1  keep DIR afterwards for a look (it is removed otherwise)
#   FRESH_ARGS    extra arguments for scripts/test.sh, e.g. FRESH_ARGS='-m "not slow"'
#   FRESH_STEPS   which steps run after the clone: "test pipx" (default), "test" or "pipx"
#                 ("pipx" alone checks the page's package list on a root with nothing else)
# The new root shares this machine's kernel and network; /proc, /sys and /dev are mounted
# into it for the run and unmounted on exit. Prints the time of each stage; exits with
# scripts/test.sh's status, or 1 if only the pipx path failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
me=fresh_machine
dir=${1:-/srv/voice-coach-fresh}

die() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }
say() { printf '%s: %s\n' "$me" "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts): run it with sudo or as root"
[ ! -e "$dir" ] || die "$dir exists: remove it first, or name another folder"

steps=${FRESH_STEPS:-test pipx}
for step in $steps; do
    case "$step" in test | pipx) ;; *) die "FRESH_STEPS: unknown step $step (test, pipx)" ;; esac
done

mirror=${FRESH_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
                 /etc/apt/sources.list.d/*.list 2>/dev/null \
             | grep -v '^\s*#' | grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n 1 | tr -d ' ' || true)
    mirror=${mirror:-http://deb.debian.org/debian}
fi

ca=${FRESH_CA:-${PIP_CERT:-}}
if [ -z "$ca" ] && command -v pip3 >/dev/null; then
    ca=$(pip3 config get global.cert 2>/dev/null || true)
fi
[ -z "$ca" ] || [ -f "$ca" ] || die "the CA bundle $ca is not a file (FRESH_CA)"

now_s() { date +%s; }
started=$(now_s)
stage_started=$started
stage() { # stage NAME: report the previous stage's time and start NAME
    local t
    t=$(now_s)
    say "$1 (+$((t - stage_started)) s)"
    stage_started=$t
}

mounted=()
cleanup() {
    local m i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        m=${mounted[i]}
        umount -R "$m" 2>/dev/null || umount -lR "$m" 2>/dev/null || say "could not unmount $m"
    done
    if [ "${FRESH_KEEP:-}" = 1 ]; then
        say "kept $dir"
    elif [ -d "$dir" ]; then
        if findmnt -rn -o TARGET | grep -q "^$dir/"; then
            say "left $dir in place: something is still mounted under it"
        else
            rm -rf "$dir"
        fi
    fi
}
trap cleanup EXIT

if ! command -v debootstrap >/dev/null; then
    stage "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

stage "debootstrap --variant=minbase bookworm $dir $mirror"
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 \
    || { tail -n 20 "$dir.debootstrap.log" >&2; die "debootstrap failed (log: $dir.debootstrap.log)"; }
rm -f "$dir.debootstrap.log"

mount -t proc proc "$dir/proc" && mounted+=("$dir/proc")
mount -t sysfs sysfs "$dir/sys" && mounted+=("$dir/sys")
mount --rbind /dev "$dir/dev" && mount --make-rslave "$dir/dev" && mounted+=("$dir/dev")
cp -L /etc/resolv.conf "$dir/etc/resolv.conf"

in_root() {
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${pip_cert:+PIP_CERT="$pip_cert"} ${CI:+CI="$CI"} "$@"
}

pip_cert=""
if [ -n "$ca" ]; then
    mkdir -p "$dir/etc/ssl"
    cp "$ca" "$dir/etc/ssl/pip-ca-bundle.pem"
    pip_cert=/etc/ssl/pip-ca-bundle.pem
    say "pip in the new root trusts $ca (as PIP_CERT)"
fi

stage "installing git and ca-certificates, nothing else"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    git ca-certificates >/dev/null

stage "cloning $(git -C "$root" rev-parse --short HEAD) into /root/voice-coach"
git clone -q --no-hardlinks "$root" "$dir/root/voice-coach"

status=0
if [[ " $steps " == *" test "* ]]; then
    stage "scripts/test.sh ${FRESH_ARGS:-}"
    set +e
    in_root bash -c "cd /root/voice-coach && scripts/test.sh ${FRESH_ARGS:-}"
    status=$?
    set -e
    stage "done: scripts/test.sh exited $status"
fi

if [[ " $steps " == *" pipx "* ]]; then
    # The install page's Debian command, as written there (its sudo dropped: we are root).
    packages=$(sed -n 's/^sudo apt-get install \(pipx .*\)$/\1/p' "$root/docs/install.md")
    [ -n "$packages" ] || die "docs/install.md has no 'sudo apt-get install pipx ...' line"
    stage "the install page's packages: apt-get install $packages"
    # shellcheck disable=SC2086  # a list of package names
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $packages >/dev/null
    in_root useradd --create-home --shell /bin/bash coach
    git clone -q --no-hardlinks "$root" "$dir/home/coach/voice-coach"
    in_root chown -R coach:coach /home/coach/voice-coach

    stage "as the user coach: a wheel, pipx install, voice-coach export"
    set +e
    chroot --userspec=coach:coach "$dir" /usr/bin/env -i HOME=/home/coach LANG=C.UTF-8 \
        PATH=/home/coach/.local/bin:/usr/local/bin:/usr/bin:/bin \
        ${pip_cert:+PIP_CERT="$pip_cert"} bash -euo pipefail -c '
        cd "$HOME"
        python3 -m venv /tmp/wheel-builder
        /tmp/wheel-builder/bin/pip wheel -q --no-deps -w dist ./voice-coach
        pipx install dist/voice_coach-*.whl
        command -v voice-coach
        voice-coach --version
        voice-coach export -o psoas
        python3 - <<"CHECK"
import array, json, pathlib, wave
out = pathlib.Path.home() / "psoas"
timeline = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
with wave.open(str(out / "session.wav")) as wav:
    frames, rate = wav.getnframes(), wav.getframerate()
    samples = array.array("h", wav.readframes(frames))
assert (rate, frames) == (22050, 7 * 60 * 22050) == (timeline["sample_rate"], timeline["duration_samples"]), (rate, frames)
peak = max(max(samples), -min(samples))
assert peak > 10000, f"session.wav peaks at {peak} of 32767: too quiet"
print(f"session.wav: {frames} frames at {rate} Hz (7:00), peak {peak} of 32767")
CHECK'
    pipx_status=$?
    set -e
    stage "done: the pipx path exited $pipx_status"
    if [ "$status" -eq 0 ] && [ "$pipx_status" -ne 0 ]; then status=1; fi
fi
say "whole run: $(( ($(now_s) - started) / 60 )) min $(( ($(now_s) - started) % 60 )) s"
exit "$status"
