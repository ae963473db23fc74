"""Real sound for child processes: ALSA's ``file`` plugin, a private PulseAudio or PipeWire.

ALSA reads its configuration once per process, so whatever plays through these plays in a
child process (``run_python``, or a command) whose environment points ALSA at the right
place.

- ``alsa_file_config``: everything the child plays lands, sample for sample, in a raw file.
  Faster than real time: it shows *what* was played, not *when*.
- ``SoundServer``: a private PulseAudio whose only sink is a null sink at the session format
  (mono s16le 22050 Hz, so nothing is resampled), kept running by a silent stream.
  ``recording()`` records what a sink plays, in real time; ``add_sink`` and
  ``remove_sink`` load and unload more null sinks (a second speaker, one switched off).
- ``PipeWireServer``: the same for PipeWire as desktops run it: ``pipewire`` with a null
  sink, WirePlumber to link streams to it, and ``pipewire-pulse``, which ALSA's pulse
  plugin and the pulse tools talk to. Its graph runs at 22050 Hz, so nothing is resampled.
  WirePlumber gets a configuration of its own, through ``XDG_CONFIG_HOME``: no hardware
  monitors, no Bluetooth, no flatpak portal, so it needs no D-Bus.

A missing ``pulseaudio`` or ``pipewire`` is a ``SoundServerError`` (the pytest fixture
makes it a failure, not a skip): ``scripts/setup.sh`` installs them. It does not install
``pipewire-alsa``: that package removes PulseAudio and makes every ALSA program on the
machine play through a PipeWire that may not be running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

import numpy as np

from support.processes import die_with_parent, end_process
from voice_coach.pcm import SAMPLE_RATE, Samples

PROJECT: Final = Path(__file__).resolve().parent.parent
SINK: Final = "vc"
STREAM_LATENCY_MS: Final = 10
"""Latency of the silent stream and the recorder; the sink runs at about this latency."""
SETTLED_LATENCY_US: Final = 20_000
START_TIMEOUT_S: Final = 15.0
TOOLS: Final = ("pulseaudio", "pactl", "pacat", "parecord")
INSTALL_HINT: Final = ("run scripts/setup.sh, or install the Debian packages pulseaudio,"
                       " pulseaudio-utils and libasound2-plugins")
PULSE_ALSA_CONFIG: Final = "pcm.!default { type pulse }\nctl.!default { type pulse }\n"
NO_DEVICE_ALSA_CONFIG: Final = "# nothing: the default device does not exist\n"


PIPEWIRE_TOOLS: Final = ("pipewire", "wireplumber", "pipewire-pulse", "pw-dump", "pactl",
                         "pacat", "parecord")
PIPEWIRE_INSTALL_HINT: Final = ("run scripts/setup.sh, or install the Debian packages pipewire,"
                                " pipewire-bin, wireplumber, pipewire-pulse, pulseaudio-utils"
                                " and libasound2-plugins (not pipewire-alsa)")
PIPEWIRE_QUANTUM: Final = 512
"""Samples per graph cycle: 23 ms at 22050 Hz, as PipeWire's default 1024 is at 48 kHz; and
fixed, since clients that ask for less latency (the recorder) would otherwise shrink it.
The player's 100 ms buffer must be refilled within about 100 ms less one cycle, so a
longer cycle makes a loaded machine underrun sooner."""


class SoundServerError(Exception):
    """The private sound server could not be started or cannot be played through."""


def alsa_file_config(raw: Path) -> str:
    """An ALSA configuration whose default device writes raw S16_LE mono 22050 Hz to ``raw``.

    ``plug`` with a fixed slave format makes ALSA convert anything else to the session
    format instead of passing it through, so the file always holds session samples.
    """
    return textwrap.dedent(f"""\
        pcm.!default {{
            type plug
            slave {{
                pcm {{ type file; slave.pcm {{ type null }}; file "{raw}"; format "raw" }}
                format S16_LE
                rate {SAMPLE_RATE}
                channels 1
            }}
        }}
        """)


@dataclass(frozen=True)
class AlsaFile:
    """A config that sends ALSA's default device into ``raw``."""

    config: Path
    raw: Path

    @classmethod
    def in_folder(cls, folder: Path) -> AlsaFile:
        """Write the config into ``folder``; the device will write ``played.raw`` there."""
        alsa_file = cls(folder / "asound-file.conf", folder / "played.raw")
        alsa_file.config.write_text(alsa_file_config(alsa_file.raw))
        return alsa_file

    @property
    def env(self) -> dict[str, str]:
        return {"ALSA_CONFIG_PATH": str(self.config)}

    def samples(self) -> Samples:
        return np.fromfile(self.raw, dtype="<i2").astype(np.int16)


def run_python(code: str, env: Mapping[str, str],
               timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one) with ``env`` added to the environment."""
    python_path = os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": python_path, **env},
        cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False,
    )


@dataclass
class Recording:
    """What the sink played while a ``recording()`` block ran; ``samples`` once it ended."""

    path: Path
    samples: Samples = field(default_factory=lambda: np.zeros(0, dtype=np.int16))


class SoundServer:
    """A private PulseAudio with one null sink, and a way to record what it plays."""

    label = "PulseAudio"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "native"
        self.log = root / f"{self.label.lower()}.log"
        self.alsa_config = root / "asound-pulse.conf"
        home = root / "home"
        run = root / "run"
        self._server_env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith("PULSE_") and k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS")},
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(run), "PULSE_RUNTIME_PATH": str(run / "pulse"),
            "PULSE_STATE_PATH": str(root / "state"), "LC_ALL": "C",
        }
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}", "ALSA_CONFIG_PATH": str(self.alsa_config),
            "HOME": str(home), "XDG_RUNTIME_DIR": str(run), "LC_ALL": "C",
        }
        """The environment a client (a child playing through ALSA, pactl, ...) needs."""
        self._processes: list[subprocess.Popen[bytes]] = []
        self._names: dict[int, str] = {}

    def start(self) -> None:
        """Start the server and wait until ALSA can play through it; else SoundServerError."""
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise SoundServerError(f"{', '.join(missing)} not found; {INSTALL_HINT}")
        for directory in ("home", "run", "state"):
            (self.root / directory).mkdir(mode=0o700)
        self.alsa_config.write_text(PULSE_ALSA_CONFIG)
        self._start_server()
        self._keep_alive_and_probe()

    def _start_server(self) -> None:
        sink = f"module-null-sink sink_name={SINK} rate={SAMPLE_RATE} channels=1 format=s16le"
        native = f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}"
        with self.log.open("wb") as log:
            self._spawn(["pulseaudio", "-n", "--daemonize=no", "--system=no", "--exit-idle-time=-1",
                         "--use-pid-file=no", "--realtime=no", "--high-priority=no",
                         "--disable-shm=yes", "--log-target=stderr",
                         f"--load={sink}", f"--load={native}"],
                        env=self._server_env, stdout=log, stderr=log)
        self._wait_until(self._answers, "did not answer")

    def _keep_alive_and_probe(self) -> None:
        with open("/dev/zero", "rb") as zeros:
            self._spawn(["pacat", "--playback", f"--device={SINK}", *self._stream_format(),
                         "--client-name=voice-coach-tests", "--stream-name=keep-alive"],
                        stdin=zeros)
        self._wait_until(self._settled, f"sink latency did not fall under {SETTLED_LATENCY_US} us")
        probe = run_python("from voice_coach.player import probe_device; print(probe_device())",
                           self.env, timeout=30)
        if probe.stdout != "None\n":
            raise SoundServerError(f"ALSA cannot play through the {self.label} test server:"
                                   f" {probe.stdout.strip()} {probe.stderr.strip()};"
                                   f" {INSTALL_HINT}")

    def close(self) -> None:
        for process in reversed(self._processes):
            end_process(process, timeout_s=5)
        self._processes.clear()

    def crash(self) -> None:
        """Kill every process of the server at once, as when the sound server dies."""
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        for process in self._processes:
            process.wait()

    def add_sink(self, name: str, description: str) -> int:
        """Load another null sink at the session format; its module's index, to remove it."""
        loaded = self.pactl("load-module", "module-null-sink", f"sink_name={name}",
                            f"rate={SAMPLE_RATE}", "channels=1", "format=s16le",
                            f"sink_properties='device.description=\"{description}\"'")
        if loaded.returncode != 0:
            raise SoundServerError(f"{self.label} test server: cannot add sink {name}:"
                                   f" {loaded.stderr.strip()}")
        return int(loaded.stdout)

    def remove_sink(self, module: int) -> None:
        """Unload a sink ``add_sink`` loaded, as when a Bluetooth speaker is switched off."""
        removed = self.pactl("unload-module", str(module))
        if removed.returncode != 0:
            raise SoundServerError(f"{self.label} test server: cannot remove module {module}:"
                                   f" {removed.stderr.strip()}")

    @contextlib.contextmanager
    def recording(self, tail_s: float = 0.3, sink: str = SINK) -> Iterator[Recording]:
        """Record ``sink``'s monitor for the duration of the block, plus ``tail_s``."""
        descriptor, name = tempfile.mkstemp(suffix=".raw", dir=self.root)
        os.close(descriptor)
        path = Path(name)
        recording = Recording(path)
        with path.open("wb") as out:
            recorder = self._spawn(["parecord", f"--device={sink}.monitor",
                                    *self._stream_format()], stdout=out)
        try:
            self._wait_until(lambda: path.stat().st_size >= SAMPLE_RATE // 5 * 2,
                             "recorder produced nothing", process=recorder)
            yield recording
            time.sleep(tail_s)
        finally:
            end_process(recorder, timeout_s=5)
            self._processes.remove(recorder)
        recording.samples = np.fromfile(path, dtype="<i2").astype(np.int16)
        path.unlink()

    def pactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env={**os.environ, **self.env}, capture_output=True,
                              text=True, timeout=10, check=False)

    def _stream_format(self) -> list[str]:
        return ["--raw", f"--rate={SAMPLE_RATE}", "--channels=1", "--format=s16le",
                f"--latency-msec={STREAM_LATENCY_MS}"]

    def _spawn(self, command: list[str], *, env: Mapping[str, str] | None = None,
               stdin: IO[bytes] | int | None = subprocess.DEVNULL,
               stdout: IO[bytes] | int | None = subprocess.DEVNULL,
               stderr: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
        log = self.log.open("ab") if stderr is None else None
        try:
            process = subprocess.Popen(
                command, env=env or {**os.environ, **self.env}, stdin=stdin, stdout=stdout,
                stderr=stderr or log, start_new_session=True, preexec_fn=die_with_parent)
        finally:
            if log is not None:
                log.close()
        self._processes.append(process)
        self._names[process.pid] = command[0]
        return process

    def _answers(self) -> bool:
        return self.socket.exists() and self.pactl("info").returncode == 0

    def _settled(self) -> bool:
        """The sink has played out the long buffer it starts with (its latency is low)."""
        readings: list[int] = []
        for _ in range(3):
            sinks = self.pactl("list", "sinks").stdout
            match = re.search(r"^\s*Latency: (\d+) usec", sinks, re.MULTILINE)
            readings.append(int(match[1]) if match else sys.maxsize)
            time.sleep(0.05)
        return max(readings) < SETTLED_LATENCY_US

    def _wait_until(self, ready: Callable[[], bool], failure: str, *,
                    process: subprocess.Popen[bytes] | None = None) -> None:
        watched = process or self._processes[0]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if watched.poll() is not None:
                raise SoundServerError(
                    f"{self.label} test server: {failure}; {self._names[watched.pid]} exited"
                    f" with {watched.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise SoundServerError(f"{self.label} test server: {failure} within"
                                       f" {START_TIMEOUT_S:g} s: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-8:]) or "(empty log)"


class PipeWireServer(SoundServer):
    """A private PipeWire (with WirePlumber and pipewire-pulse) and one null sink, ``vc``.

    Clients reach it as they reach PulseAudio: ALSA's pulse plugin and the pulse tools
    talk to pipewire-pulse. ``pw-dump`` and the other PipeWire tools find it through
    ``XDG_RUNTIME_DIR``.
    """

    label = "PipeWire"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.socket = root / "run" / "pulse" / "native"
        self.config = root / "pipewire.conf"
        self._server_env.update({"XDG_STATE_HOME": str(root / "state"),
                                 "PIPEWIRE_RUNTIME_DIR": str(root / "run")})
        self.env["PULSE_SERVER"] = f"unix:{self.socket}"

    def start(self) -> None:
        missing = [tool for tool in PIPEWIRE_TOOLS if shutil.which(tool) is None]
        if missing:
            raise SoundServerError(f"{', '.join(missing)} not found; {PIPEWIRE_INSTALL_HINT}")
        super().start()

    def _start_server(self) -> None:
        self.config.write_text(pipewire_config())
        wireplumber = self.root / "home" / ".config" / "wireplumber"
        for folder, text in WIREPLUMBER_OVERRIDES.items():
            (wireplumber / folder).mkdir(parents=True)
            (wireplumber / folder / "90-enable-all.lua").write_text(text)
        with self.log.open("wb") as log:
            self._spawn(["pipewire", "-c", str(self.config)], env=self._server_env,
                        stdout=log, stderr=log)
            self._wait_until(lambda: (self.root / "run" / "pipewire-0").exists(),
                             "pipewire made no socket")
            self._spawn(["wireplumber"], env=self._server_env, stdout=log, stderr=log)
            self._spawn(["pipewire-pulse"], env=self._server_env, stdout=log, stderr=log)
        self._wait_until(self._answers, "pipewire-pulse did not answer")
        self._wait_until(lambda: f"Default Sink: {SINK}\n" in self.pactl("info").stdout,
                         f"WirePlumber did not make {SINK} the default sink")

    def _settled(self) -> bool:
        """PipeWire's sink runs at the graph's quantum from the start."""
        return True


WIREPLUMBER_OVERRIDES: Final = {
    "main.lua.d": textwrap.dedent("""\
        load_module("metadata")
        default_access.properties["enable-flatpak-portal"] = false
        default_access.enable()
        device_defaults.enable()
        stream_defaults.enable()
        load_script("intended-roles.lua")
        """),
    "bluetooth.lua.d": "-- no Bluetooth in the test server\n",
}
"""WirePlumber's stock ``90-enable-all.lua`` files, less what needs hardware or D-Bus."""


def pipewire_config() -> str:
    """A PipeWire daemon whose graph runs at the session format with one null sink."""
    return textwrap.dedent(f"""\
        context.properties = {{
            core.daemon = true
            core.name = pipewire-0
            default.clock.rate = {SAMPLE_RATE}
            default.clock.allowed-rates = [ {SAMPLE_RATE} ]
            default.clock.quantum = {PIPEWIRE_QUANTUM}
            default.clock.min-quantum = {PIPEWIRE_QUANTUM}
            default.clock.max-quantum = {PIPEWIRE_QUANTUM}
        }}
        context.spa-libs = {{
            audio.convert.* = audioconvert/libspa-audioconvert
            support.*       = support/libspa-support
        }}
        context.modules = [
            {{ name = libpipewire-module-rt args = {{ nice.level = -11 rt.prio = 88 }}
               flags = [ ifexists nofail ] }}
            {{ name = libpipewire-module-protocol-native }}
            {{ name = libpipewire-module-metadata }}
            {{ name = libpipewire-module-spa-node-factory }}
            {{ name = libpipewire-module-client-node }}
            {{ name = libpipewire-module-access }}
            {{ name = libpipewire-module-adapter }}
            {{ name = libpipewire-module-link-factory }}
        ]
        context.objects = [
            {{ factory = spa-node-factory
               args = {{ factory.name = support.node.driver node.name = Dummy-Driver
                        node.group = pipewire.dummy priority.driver = 20000 }} }}
            {{ factory = adapter
               args = {{ factory.name = support.null-audio-sink node.name = {SINK}
                        node.description = "Voice coach test sink" media.class = Audio/Sink
                        audio.position = [ MONO ] audio.rate = {SAMPLE_RATE}
                        object.linger = true }} }}
        ]
        """)
