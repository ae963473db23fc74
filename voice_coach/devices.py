"""Sound outputs: which stack plays here, what a person can choose, and how to reach it.

simpleaudio always opens ALSA's ``default`` device and takes no device argument, so a
chosen output is reached through what ALSA and the sound servers already read from the
environment of the playing process:

- a sound server's sink (PulseAudio, or PipeWire through pipewire-pulse): ``PULSE_SINK``
  for ALSA's pulse plugin, and ``PIPEWIRE_NODE`` for pipewire-alsa's plugin;
- a bare ALSA PCM or card: an ALSA configuration that includes the one in force and makes
  ``default`` a ``plug`` onto that PCM, named by ``ALSA_CONFIG_PATH``.

Finding the outputs asks the tools a desktop already has (``pactl``, else ``pw-dump``, else
``aplay -L``); parsing their answers is pure. A server moves a stream whose sink went away
to its default sink and plays on, which is not what a person who chose the speaker across
the room asked for, so ``problem`` says when a route's sink or server is gone and the
player stops the session.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeAlias

from voice_coach.errors import VoiceCoachError

Stack: TypeAlias = Literal["PipeWire", "PulseAudio", "ALSA"]
Runner: TypeAlias = Callable[[Sequence[str]], "str | None"]
"""Runs a command; its stdout, or None when it is missing, fails or takes too long."""

ANSWER_TIMEOUT_S: Final = 1.5
"""How long a sound server may take to answer before it counts as stopped."""
MAX_ANSWER_BYTES: Final = 16 * 1024 * 1024
"""pw-dump on a busy desktop prints about 1 MB: a longer answer is a tool gone wrong."""
ALSA_SYSTEM_CONFIG: Final = "/usr/share/alsa/alsa.conf"
ALSA_DEFAULT: Final = "default"
_NOT_OUTPUTS: Final = frozenset({
    "null", "lavrate", "samplerate", "speexrate", "speex", "upmix", "vdownmix", "jack", "oss",
    "pulse", "pipewire", "a52", "usbstream", "sysdefault",
})
"""ALSA PCMs that ``aplay -L`` lists but that are converters or routes, not speakers."""


class DeviceError(VoiceCoachError):
    """The sound output asked for does not exist here."""

    exit_code = 2


class ToolAnswerError(DeviceError):
    """A sound tool answered with something other than what it prints: the machine's fault."""

    exit_code = 1


@dataclass(frozen=True)
class Output:
    """One place sound can go: a server's sink or an ALSA PCM, by the name to choose it."""

    name: str
    description: str
    default: bool = False


@dataclass(frozen=True)
class SoundStack:
    """What plays sound here: the stack, its server's version ("" for ALSA), its outputs."""

    stack: Stack
    version: str
    outputs: tuple[Output, ...]

    @property
    def default(self) -> Output | None:
        return next((output for output in self.outputs if output.default), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(output.name for output in self.outputs)


@dataclass(frozen=True)
class Route:
    """How the playing process reaches one output: what to add to its environment.

    ``alsa_config`` is the text of an ALSA configuration to write and name with
    ``ALSA_CONFIG_PATH`` (bare ALSA only). ``sink`` is the server sink that must stay
    present while playing, None for the server's default.
    """

    stack: Stack
    output: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    alsa_config: str | None = None

    @property
    def server(self) -> bool:
        return self.stack != "ALSA"


DEFAULT_ROUTE: Final = Route("ALSA")
"""ALSA's default device, as simpleaudio opens it, watched for nothing."""


# --- Parsing what the tools say (pure) --------------------------------------------------


def parse_pactl_info(text: str) -> tuple[Stack, str, str | None]:
    """``pactl info`` (LC_ALL=C): the stack, its version and the default sink's name.

    PipeWire answers the pulse protocol as ``PulseAudio (on PipeWire 0.3.65)``.
    """
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    default = fields.get("Default Sink", "").strip()
    chosen = default if default and not default.startswith("@") else None
    pipewire = re.search(r"on PipeWire (\S+?)\)?$", fields.get("Server Name", "").strip())
    if pipewire:
        return "PipeWire", pipewire[1], chosen
    return "PulseAudio", fields.get("Server Version", "").strip(), chosen


def parse_pactl_sinks(text: str, default: str | None) -> tuple[Output, ...]:
    """``pactl --format=json list sinks``: every sink, by name, with its description.

    Raises ToolAnswerError for anything else (see ``_answer``).
    """
    with _answer("pactl --format=json list sinks"):
        sinks = json.loads(text)
        return tuple(_output(sink["name"], sink.get("description"), sink["name"] == default)
                     for sink in _listed(sinks))


def parse_pw_dump(text: str) -> tuple[str, tuple[Output, ...]]:
    """``pw-dump``: PipeWire's version, its audio sinks, the one ``default`` metadata names.

    Raises ToolAnswerError for anything else (see ``_answer``).
    """
    with _answer("pw-dump"):
        objects = _listed(json.loads(text))
        return _pw_version(objects), _pw_sinks(objects, _pw_default(objects))


def _pw_version(objects: list[Mapping[str, object]]) -> str:
    return next((str(_table(item.get("info")).get("version", "")) for item in objects
                 if item.get("type") == "PipeWire:Interface:Core"), "")


def _pw_default(objects: list[Mapping[str, object]]) -> str | None:
    default = None
    for item in objects:
        if (item.get("type") == "PipeWire:Interface:Metadata"
                and _table(item.get("props")).get("metadata.name") == "default"):
            for entry in _listed(item.get("metadata") or []):
                if entry.get("key") == "default.audio.sink":
                    value = entry.get("value")
                    default = _table(value).get("name") if isinstance(value, dict) else None
    return default if isinstance(default, str) else None


def _pw_sinks(objects: list[Mapping[str, object]], default: str | None) -> tuple[Output, ...]:
    outputs = []
    for item in objects:
        props = _table(_table(item.get("info")).get("props"))
        if props.get("media.class") == "Audio/Sink" and props.get("node.name"):
            name = props["node.name"]
            outputs.append(_output(name, props.get("node.description"), name == default))
    return tuple(outputs)


@contextlib.contextmanager
def _answer(command: str) -> Iterator[None]:
    """Parsing ``command``'s answer: JSON that is not there, not of the shape the tool
    prints, nested past the parser or with numbers past Python's limit becomes one
    ToolAnswerError naming the command."""
    try:
        yield
    except json.JSONDecodeError as exc:
        raise ToolAnswerError(f"{command} gave an answer that is not JSON ({exc})") from None
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
        raise ToolAnswerError(f"{command} gave an answer voice-coach cannot read"
                              " (not the JSON it prints)") from None


def _listed(value: object) -> list[Mapping[str, object]]:
    """A JSON array of objects, as the tools print their lists."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TypeError("expected a list of objects")
    return value


def _table(value: object) -> Mapping[str, object]:
    """A JSON object, or an empty one for a missing (null, empty) one."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _output(name: object, description: object, default: bool) -> Output:
    if not isinstance(name, str) or not isinstance(description, str | None):
        raise TypeError("expected a name and a description")
    return Output(name, description or name, default)


def parse_aplay_list(text: str) -> tuple[Output, ...]:
    """``aplay -L``: ALSA's PCMs (cards included) a person could mean, ``default`` first.

    ``default`` is always there, listed or not: simpleaudio opens it.
    """
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            entries.append((line.strip(), []))
        elif line.strip() and entries:
            entries[-1][1].append(line.strip())
    described = {name: ", ".join(lines) or name for name, lines in entries}
    outputs = [Output(ALSA_DEFAULT, described.get(ALSA_DEFAULT, "ALSA's default device"), True)]
    outputs += [Output(name, described[name]) for name, _ in entries
                if name != ALSA_DEFAULT and name.split(":")[0] not in _NOT_OUTPUTS]
    return tuple(outputs)


def route(found: SoundStack, name: str | None,
          alsa_config_path: str = ALSA_SYSTEM_CONFIG) -> Route:
    """How to play on output ``name`` (None: the default) of ``found``; DeviceError if none.

    ``alsa_config_path`` is the configuration ALSA would read otherwise; a bare ALSA
    route includes it, so every PCM it defines stays reachable.
    """
    if name is None:
        return Route(found.stack)
    if name not in found.names:
        listed = ", ".join(found.names) or "none"
        raise DeviceError(f"no sound output named {name!r}; the outputs here are: {listed}"
                          f" (see 'voice-coach devices')")
    if found.stack == "ALSA":
        if name == ALSA_DEFAULT:
            return Route("ALSA")
        config = (f"<{alsa_config_path}>\n"
                  f"pcm.!default {{ type plug; slave.pcm {json.dumps(name)} }}\n")
        return Route("ALSA", name, alsa_config=config)
    return Route(found.stack, name, {"PULSE_SINK": name, "PIPEWIRE_NODE": name})


def watch_problem(sinks: tuple[str, ...] | None, chosen: str | None) -> str | None:
    """Why a session on sink ``chosen`` (None: the default) cannot go on, given the sinks
    the server has now (None: the server did not answer)."""
    if sinks is None:
        return "the sound server stopped; the session stopped"
    if chosen is not None and chosen not in sinks:
        return f"the sound output {chosen!r} went away; the session stopped"
    return None


# --- Asking the machine (the shell) -----------------------------------------------------


def run_tool(command: Sequence[str]) -> str | None:
    """Run a listing tool with C messages; its stdout, or None if it cannot answer.

    The tool runs in a session of its own: a Ctrl-C at the terminal is for voice-coach,
    and a tool it killed would read as a sound server that stopped. An answer that takes
    longer than ``ANSWER_TIMEOUT_S`` or is longer than ``MAX_ANSWER_BYTES`` is no answer;
    bytes that are not UTF-8 are replaced, not refused.
    """
    if shutil.which(command[0]) is None:
        return None
    try:
        with subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"},
                              start_new_session=True) as process:
            answer = _read_answer(process, time.monotonic() + ANSWER_TIMEOUT_S)
    except OSError:
        return None
    if answer is None:
        return None
    text = answer.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it


def _read_answer(process: subprocess.Popen[bytes], deadline: float) -> bytes | None:
    """What ``process`` prints before ``deadline``, if it ends well within the bounds."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    answer = bytearray()
    try:
        while len(answer) <= MAX_ANSWER_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
                return None
            chunk = os.read(descriptor, 1 << 16)
            if not chunk:
                code = process.wait(max(0.0, deadline - time.monotonic()))
                return bytes(answer) if code == 0 else None
            answer += chunk
        return None
    except subprocess.TimeoutExpired:
        return None
    finally:
        if process.poll() is None:
            process.kill()


def _runtime_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")


def pulse_listening(env: Mapping[str, str] = os.environ) -> bool:
    """Whether a pulse-protocol server may answer: asking none would make pactl start one."""
    if env.get("PULSE_SERVER"):
        return True
    folders = [Path(env["PULSE_RUNTIME_PATH"])] if env.get("PULSE_RUNTIME_PATH") else []
    folders += [_runtime_dir(env) / "pulse", Path("/var/run/pulse")]
    return any((folder / "native").exists() for folder in folders)


def pipewire_listening(env: Mapping[str, str] = os.environ) -> bool:
    """Whether a PipeWire daemon's socket is there to ask."""
    if env.get("PIPEWIRE_REMOTE"):
        return True
    runtime = Path(env["PIPEWIRE_RUNTIME_DIR"]) if env.get("PIPEWIRE_RUNTIME_DIR") else None
    return (runtime or _runtime_dir(env)).joinpath("pipewire-0").exists()


def server_stack(run: Runner = run_tool,
                 env: Mapping[str, str] = os.environ) -> SoundStack | None:
    """The sound server's sinks, through pactl or else pw-dump; None if none answers.

    Raises ToolAnswerError when one answers with what it does not print.
    """
    if pulse_listening(env):
        info = run(["pactl", "info"])
        if info is not None:
            stack, version, default = parse_pactl_info(info)
            sinks = run(["pactl", "--format=json", "list", "sinks"])
            if sinks is not None:
                return SoundStack(stack, version, parse_pactl_sinks(sinks, default))
    if pipewire_listening(env):
        dump = run(["pw-dump"])
        if dump is not None:
            return SoundStack("PipeWire", *parse_pw_dump(dump))
    return None


def sink_names(run: Runner = run_tool,
               env: Mapping[str, str] = os.environ) -> tuple[str, ...] | None:
    """The names of the server's sinks, asked as cheaply as it allows; None: no answer
    it could read. Never raises: the player's watchdog asks it while a session plays."""
    if pulse_listening(env):
        short = run(["pactl", "list", "short", "sinks"])
        if short is not None:
            return tuple(line.split("\t")[1] for line in short.splitlines() if "\t" in line)
    if pipewire_listening(env):
        dump = run(["pw-dump"])
        if dump is not None:
            with contextlib.suppress(ToolAnswerError):
                return tuple(output.name for output in parse_pw_dump(dump)[1])
    return None


def discover(run: Runner = run_tool, env: Mapping[str, str] = os.environ) -> SoundStack:
    """The sound server's sinks when one answers, else ALSA's PCMs."""
    found = server_stack(run, env)
    if found is not None:
        return found
    return SoundStack("ALSA", "", parse_aplay_list(run(["aplay", "-L"]) or ""))


def alsa_config_in_force(env: Mapping[str, str] = os.environ) -> str:
    """The configuration file ALSA reads first: ``ALSA_CONFIG_PATH`` or the system's."""
    return (env.get("ALSA_CONFIG_PATH") or ALSA_SYSTEM_CONFIG).split(":")[0]


def choose(name: str | None, run: Runner = run_tool,
           env: Mapping[str, str] = os.environ) -> Route:
    """The route to output ``name`` on this machine (None: the default); DeviceError if none.

    The default needs no listing, only to know whether a server will answer (one
    ``pactl info``), so a session on it starts without waiting for a listing of the outputs.
    """
    if name is None:
        if pulse_listening(env):
            info = run(["pactl", "info"])
            if info is not None:
                return Route(parse_pactl_info(info)[0])
        return Route("PipeWire") if pipewire_listening(env) else DEFAULT_ROUTE
    return route(discover(run, env), name, alsa_config_in_force(env))


def apply(chosen: Route, env: dict[str, str] | None = None) -> None:
    """Put ``chosen`` into the environment ALSA and the servers read when a device opens.

    Call before this process first opens an ALSA device: ALSA reads its configuration once.
    """
    target = os.environ if env is None else env
    target.update(chosen.env)
    if chosen.alsa_config is not None:
        descriptor, path = tempfile.mkstemp(prefix="voice-coach-alsa-", suffix=".conf")
        with os.fdopen(descriptor, "w") as config:
            config.write(chosen.alsa_config)
        target["ALSA_CONFIG_PATH"] = path
        atexit.register(_remove, path)  # ALSA may read it again at every open until then


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def describe(found: SoundStack) -> str:
    """The stack and its default output, in one line (doctor)."""
    if found.stack == "ALSA":
        what = "bare ALSA (no sound server answered)"
    else:
        what = f"{found.stack} {found.version}".strip()
    default = found.default
    shown = f"{default.name} ({default.description})" if default else "none"
    return f"{what}; default output: {shown}"


def as_json(found: SoundStack) -> dict[str, object]:
    return {"stack": found.stack, "version": found.version,
            "outputs": [{"name": o.name, "description": o.description, "default": o.default}
                        for o in found.outputs]}


def lines(found: SoundStack) -> Iterable[str]:
    """What ``voice-coach devices`` prints: one output a line, ``*`` marking the default."""
    yield describe(found)
    width = max((len(output.name) for output in found.outputs), default=0)
    for output in found.outputs:
        mark = "*" if output.default else " "
        yield f"{mark} {output.name:<{width}}  {output.description}"
