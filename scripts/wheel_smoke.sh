#!/usr/bin/env bash
# Install voice-coach as a user does -- a wheel into a fresh venv -- and run it from
# outside the source tree.
#
#   scripts/wheel_smoke.sh PYTHON      # e.g. python3.12 or ~/.pyenv/versions/3.13.0/bin/python
#
# Builds a wheel with PYTHON's pip (setuptools in an isolated build environment, which
# compiles voice_coach/_devicetap.c), creates a
# venv with PYTHON in a temporary folder, installs the wheel (not editable; dependencies
# from PyPI, simpleaudio-patched compiled with gcc), then from an empty folder, with the
# user's voice-coach settings, cache and history out of the way, runs:
#   voice-coach --version / routines / plan psoas-release --minutes 5 --json /
#   export box-breathing --minutes 2
# and checks the installed package: imported from site-packages, its six cue WAVs there,
# its man page in the venv's share/man/man1,
# its built-in routines load, session.wav matches timeline.json to the sample.
#
# Prints the time of each stage. Exits 1 naming every stage that failed, with the end of
# its output (once installed, every check runs even if one fails); 2 when PYTHON is
# unusable. pip's cache (PIP_CACHE_DIR, or pip's default) is reused, so a second run
# skips downloads and the compile. The temporary folder is removed on exit;
# VOICE_COACH_SMOKE_KEEP=1 keeps it for a look.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
me=wheel_smoke

if [ $# -ne 1 ]; then
    echo "usage: $0 PYTHON" >&2
    exit 2
fi
python=$(command -v "$1" || true)
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "$me: $1 is not a Python 3.11 or newer interpreter" >&2
    exit 2
fi
pyversion=$("$python" -c 'import platform; print(platform.python_version())')

tmp=$(mktemp -d "${TMPDIR:-/tmp}/voice-coach-smoke.XXXXXX")
keep=${VOICE_COACH_SMOKE_KEEP:-}  # read before every VOICE_COACH_* is unset below
cleanup() {
    if [ "$keep" = 1 ]; then
        echo "$me: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
mkdir -p "$tmp/dist" "$tmp/work" "$tmp/xdg"
venv=$tmp/venv
log=$tmp/stage.log

# What the user's environment could change: none of it may reach the installed command.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(VOICE_COACH_|PYTHON)' || true)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

now_us() { echo "${EPOCHREALTIME/./}"; }
started=$(now_us)

# stage NAME COMMAND...: run COMMAND with its output in $log and time it; on failure show
# the output and add NAME to $failed. Called outside any 'if' or '||', so that set -e in
# the subshell stops a stage at its first failing command.
stage() {
    local name=$1 t0 t1 status
    shift
    t0=$(now_us)
    set +e
    (set -e; "$@") >"$log" 2>&1
    status=$?
    set -e
    t1=$(now_us)
    if [ "$status" -ne 0 ]; then
        printf '  %-44s FAILED\n' "$name"
        echo "$me: FAILED at '$name' (Python $pyversion); the end of its output:" >&2
        tail -n 40 "$log" | sed 's/^/    | /' >&2
        failed+=("$name")
        return 0
    fi
    printf '  %-44s %7.1f s\n' "$name" "$(( (t1 - t0) / 1000 ))e-3"
}
failed=()

# The installed command, run as a user would: from an empty folder, with private XDG dirs.
as_user() {
    (cd "$tmp/work" && env PATH="$venv/bin:$PATH" XDG_CACHE_HOME="$tmp/xdg/cache" \
        XDG_CONFIG_HOME="$tmp/xdg/config" XDG_DATA_HOME="$tmp/xdg/data" \
        XDG_STATE_HOME="$tmp/xdg/state" "$@")
}

build_wheel() {
    "$python" -m pip wheel --no-deps -w "$tmp/dist" "$root"
    ls "$tmp"/dist/voice_coach-*.whl
}

check_version() {
    local expected out
    expected=$(basename "$wheel" | cut -d- -f2)
    out=$(as_user voice-coach --version)
    echo "$out"
    [[ "$out" == *"$expected"* ]] || { echo "expected version $expected in: $out"; return 1; }
}

check_routines() {
    local out id
    out=$(as_user voice-coach routines)
    echo "$out"
    for id in "${routine_ids[@]}"; do
        grep -q "^$id " <<<"$out" || { echo "routine $id is not listed"; return 1; }
    done
}

check_plan() {
    as_user voice-coach plan psoas-release --minutes 5 --json >"$tmp/plan.json"
    as_user python - "$tmp/plan.json" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    plan = json.load(f)
assert plan["routine"] == "psoas-release", f"plan is for {plan['routine']!r}"
assert plan["events"], "plan has no events"
ends = [0] + [event["end_sample"] for event in plan["events"]]
starts = [event["start_sample"] for event in plan["events"]]
assert starts == ends[:-1], "events are not gapless from sample 0"
seconds = plan["duration_s"]
# --minutes 5 fills up to 5 minutes; one more repetition (under a minute) would pass it.
assert 240 <= seconds <= 300 or plan["notes"], f"--minutes 5 planned {seconds} s"
print(f"plan --json: {len(plan['events'])} events, {seconds:.1f} s")
EOF
}

check_export() {
    as_user voice-coach export box-breathing --minutes 2 -o "$tmp/out"
    as_user python - "$tmp/out" <<'EOF'
import json, sys, wave
from pathlib import Path
out = Path(sys.argv[1])
for name in ("session.wav", "timeline.json", "session.vtt"):
    assert (out / name).is_file(), f"export wrote no {name}"
assert list((out / "narration").glob("*.wav")), "export wrote no narration clips"
timeline = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
with wave.open(str(out / "session.wav"), "rb") as wav:
    frames, rate = wav.getnframes(), wav.getframerate()
    frame_bytes = wav.getsampwidth() * wav.getnchannels()
    data = wav.readframes(frames)
assert len(data) == frames * frame_bytes, (
    f"session.wav header says {frames} frames, the data holds {len(data) // frame_bytes}")
assert rate == timeline["sample_rate"], f"session.wav is {rate} Hz, timeline.json says {timeline['sample_rate']}"
assert frames == timeline["duration_samples"], (
    f"session.wav has {frames} frames, timeline.json says {timeline['duration_samples']}")
assert round(frames / rate, 6) == timeline["duration_s"], (
    f"session.wav lasts {frames / rate} s, timeline.json says {timeline['duration_s']} s")
print(f"session.wav: {frames} frames at {rate} Hz = {frames / rate:.3f} s, as timeline.json says")
EOF
}

check_package() {
    as_user python - "${routine_ids[@]}" <<'EOF'
import sys, sysconfig, wave
from pathlib import Path
import voice_coach
from voice_coach.cues import builtin_cue_dir
from voice_coach.routine import builtin_ids, load_builtin

site = Path(sysconfig.get_paths()["purelib"]).resolve()
package = Path(voice_coach.__file__).resolve().parent
assert package.parent == site, f"voice_coach imported from {package}, not from {site}"
cues = builtin_cue_dir().resolve()
assert site in cues.parents, f"builtin_cue_dir() is {cues}, outside {site}"
roles = ["start", "inhale", "exhale", "hold", "spot", "end"]
found = sorted(p.stem for p in cues.glob("*.wav"))
assert found == sorted(roles), f"{cues} holds {found}, expected {sorted(roles)}"
for role in roles:
    with wave.open(str(cues / f"{role}.wav"), "rb") as wav:
        assert wav.getnframes() > 0, f"{role}.wav is empty"
assert (package / "py.typed").is_file(), "py.typed is not installed"
desktop = (package / "voice-coach.desktop").read_text(encoding="utf-8")
assert "Exec=voice-coach play" in desktop.splitlines(), "voice-coach.desktop is not installed"
expected = sys.argv[1:]
assert builtin_ids() == expected, f"built-in routines {builtin_ids()}, expected {expected}"
for routine_id in expected:
    assert load_builtin(routine_id).id == routine_id
print(f"voice_coach in {package}; cues in {cues}; routines {', '.join(expected)} load")
EOF
    cmp "$root/docs/voice-coach.1" "$venv/share/man/man1/voice-coach.1"
    echo "man page in $venv/share/man/man1"
}

routine_ids=()
for file in "$root"/voice_coach/routines/*.toml; do
    stem=$(basename "$file" .toml)
    [[ "$stem" == *.* ]] || routine_ids+=("$stem")  # ID.LANG.toml is a translation of ID
done

echo "$me: Python $pyversion ($python)"
# Without a wheel in a venv nothing else can run; after that, every check runs and reports.
stage "build the wheel (pip wheel, setuptools)" build_wheel
((${#failed[@]} == 0)) || exit 1
wheel=$(ls "$tmp"/dist/voice_coach-*.whl)
stage "create a venv" "$python" -m venv "$venv"
((${#failed[@]} == 0)) || exit 1
stage "install the wheel and its dependencies" "$venv/bin/python" -m pip install "$wheel"
((${#failed[@]} == 0)) || exit 1
stage "the installed package: cues, routines" check_package
stage "voice-coach --version" check_version
stage "voice-coach routines" check_routines
stage "voice-coach plan psoas-release --json" check_plan
stage "voice-coach export box-breathing --minutes 2" check_export
finished=$(now_us)
seconds="$(( (finished - started) / 1000 ))e-3"
if ((${#failed[@]})); then
    printf '%s: FAILED with Python %s (%s of the checks): %s\n' "$me" "$pyversion" \
        "${#failed[@]}" "$(IFS=';'; echo "${failed[*]}" | sed 's/;/; /g')" >&2
    exit 1
fi
printf '%s: OK with Python %s in %.1f s\n' "$me" "$pyversion" "$seconds"
