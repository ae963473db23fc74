"""``voice-coach doctor``: each thing a session needs, checked for real, one line each."""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from voice_coach import paths
from voice_coach.checks import Check
from voice_coach.engines import registry
from voice_coach.errors import VoiceCoachError

if TYPE_CHECKING:
    from voice_coach.devices import SoundStack


SAFE_SIMPLEAUDIO = ("simpleaudio-patched", "simpleaudio-312compat")


def check_simpleaudio(version: tuple[int, int] = sys.version_info[:2],
                      installed: Callable[[str], str] = importlib.metadata.version) -> Check:
    """The simpleaudio build is one that plays on this Python (1.0.4 segfaults on 3.12+)."""
    name = "sound library"
    python = f"Python {version[0]}.{version[1]}"
    for dist in SAFE_SIMPLEAUDIO:
        try:
            return Check(name, True, f"{dist} {installed(dist)} on {python}")
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        plain = installed("simpleaudio")
    except importlib.metadata.PackageNotFoundError:
        return Check(name, False, "simpleaudio is not installed",
                     "pip install simpleaudio-patched (needs gcc and libasound2-dev)")
    if version >= (3, 12):
        return Check(name, False, f"simpleaudio {plain} crashes on {python}",
                     "pip uninstall simpleaudio && pip install simpleaudio-patched")
    return Check(name, True, f"simpleaudio {plain} on {python}")


def check_sound_stack(found: SoundStack | None = None) -> Check:
    """Which stack plays here (PipeWire, PulseAudio, bare ALSA) and its default output."""
    from voice_coach import devices

    try:
        found = found if found is not None else devices.discover()
    except devices.DeviceError as error:
        return Check("sound stack", False, str(error), "restart the sound server (PipeWire"
                     " or PulseAudio), or log out and in again")
    if not found.outputs:
        return Check("sound stack", False, f"{devices.describe(found)}; no outputs found",
                     "on a desktop, start PipeWire or PulseAudio")
    return Check("sound stack", True, devices.describe(found))


def check_device() -> Check:
    """The default sound device opens and plays a short silence."""
    from voice_coach.player import probe_device

    problem = probe_device()
    if problem is None:
        return Check("sound device", True, "the default device played a silent test")
    return Check("sound device", False, problem,
                 "on a desktop, start PulseAudio or PipeWire; without a device,"
                 " 'voice-coach export' writes the session to WAV")


def check_media_controls(enabled: bool = True,
                         problem: Callable[[], str] | None = None) -> Check:
    """Whether media keys, headset buttons, the desktop's player controls and a phone
    can steer a session: an MPRIS2 player needs a session bus that answers (``problem``
    says why not, "" when it does). Optional: without them the terminal's keys still do."""
    name = "media controls"
    if not enabled:
        return Check(name, True, "off (setting media_keys is false)")
    if problem is None:
        from voice_coach.mpris import probe

        problem = probe
    why_not = problem()
    if why_not:
        return Check(name, True, f"not available: {why_not}; the terminal's keys still work")
    return Check(name, True, "the session bus answers: media keys, headset buttons and phones"
                 " can pause, skip and stop a session (MPRIS2)")


def check_staying_awake(problem: Callable[[], str] | None = None) -> Check:
    """Whether logind can be asked to keep the machine awake while a session plays
    (``problem`` says why not, "" when it can). Optional: a desktop set not to suspend
    needs no inhibitor."""
    name = "staying awake"
    if problem is None:
        from voice_coach.awake import probe

        problem = probe
    why_not = problem()
    if why_not:
        return Check(name, True, f"not available: {why_not}; a machine that suspends"
                     " mid-session ends it")
    return Check(name, True, "logind keeps the machine from sleeping or idling while a"
                 " session plays")


MPRIS_PROXY_START: Final = "systemctl --user enable --now mpris-proxy"
"""BlueZ's user service that forwards a headset's buttons to MPRIS2 players."""


def is_bluetooth(output: str) -> bool:
    """A Bluetooth sink, as PipeWire (``bluez_output.*``) and PulseAudio (``bluez_sink.*``)
    name it."""
    return output.startswith(("bluez_output.", "bluez_sink."))


def running(command: str, proc: Path = Path("/proc")) -> bool:
    """Whether a process named ``command`` (its ``comm``) runs here."""
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == command[:15]:
                    return True
    return False


def check_headset(found: SoundStack | None = None,
                  proxy_running: Callable[[], bool] = lambda: running("mpris-proxy")) -> Check:
    """Whether the default output is a Bluetooth headset, and if so whether mpris-proxy
    runs to forward its buttons to the session (the command that starts it if not)."""
    from voice_coach import devices

    name = "headset buttons"
    found = found if found is not None else devices.discover()
    default = found.default
    if default is None or not is_bluetooth(default.name):
        return Check(name, True, "the default output is not a Bluetooth device")
    if proxy_running():
        return Check(name, True, f"the default output is Bluetooth ({default.description});"
                     " mpris-proxy forwards its buttons")
    return Check(name, True, f"the default output is Bluetooth ({default.description}), but"
                 " mpris-proxy is not running, so its buttons do nothing; start it:"
                 f" {MPRIS_PROXY_START}")


def check_writable(name: str, folder: Path) -> Check:
    """A folder voice-coach writes to exists (or can be made) and takes a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(name, False, f"{folder}: {exc.strerror or exc}",
                     f"make {folder} writable, or point XDG dirs elsewhere")
    return Check(name, True, f"{folder} is writable")


def check_ambient(chosen: str = "none") -> Check:
    """The configured ambient bed (the setting ``ambient``): a built-in, none, or a sound
    file that loads as a session would load it."""
    from voice_coach import ambient
    from voice_coach.pcm import SAMPLE_RATE

    name = "ambient bed"
    if chosen.strip().lower() == ambient.NONE:
        return Check(name, True, "none")
    try:
        spec = ambient.parse_bed(chosen)
    except VoiceCoachError as error:
        return Check(name, False, str(error), "choose another with 'voice-coach config set"
                     " ambient FILE' (or brown, pink, waves), or 'config unset ambient'")
    if spec is None or spec.source is None:
        return Check(name, True, f"{chosen} (built in)")
    source = spec.source
    detail = (f"{source.path} reads, {source.length / SAMPLE_RATE:.0f} s at"
              f" {source.lufs:.1f} LUFS, looped at {ambient.BED_LUFS:g} LUFS")
    source.close()
    return Check(name, True, detail)


def run_all(cache_dir: Path, routines_dir: Path, engine: str = registry.DEFAULT,
            voice: str | None = None, media_keys: bool = True,
            ambient: str = "none") -> list[Check]:
    """Every check, in the order a session meets them, then the optional ones: media
    controls (``media_keys``: the setting), staying awake, a headset's buttons and the
    other engines (``engine`` is the one in use; the default engine's checks come early: a
    session needs it). ``ambient`` is the setting's bed."""
    from voice_coach import devices

    default = registry.engine(registry.DEFAULT)
    needed = default.checks(engine == default.name, voice)
    stack = devices.discover()
    return [
        check_simpleaudio(),
        *needed,
        check_sound_stack(stack),
        check_device(),
        check_writable("speech cache", cache_dir),
        check_writable("settings folder", paths.config_file().parent),
        check_writable("history folder", paths.history_file().parent),
        check_writable("routines folder", routines_dir),
        check_ambient(ambient),
        check_media_controls(media_keys),
        check_staying_awake(),
        check_headset(stack),
        *(check for kind in registry.ENGINES.values() if kind is not default
          for check in kind.checks(engine == kind.name, voice)),  # optional unless chosen
    ]
