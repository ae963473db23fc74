"""The pyttsx3 helper process: forks one fresh pyttsx3 engine per line.

``pyttsx3_backend.ForkingBackend`` starts this module as its own process and talks to it in
JSON lines. It imports nothing but the standard library and pyttsx3 (not numpy, not the
rest of voice-coach), so it starts quickly and each fork copies a small process. It never
initialises espeak itself, because espeak starts a thread on initialisation and a thread
does not survive ``fork`` (a child forked after ``pyttsx3.init`` hangs in ``Synth``).
Why each line needs a fresh engine, and each step of the recipe a child follows, is in
``docs/engines.md``.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def import_espeak() -> Any:
    """pyttsx3's espeak binding; importing it loads libespeak-ng."""
    from pyttsx3.drivers import _espeak

    return _espeak


def serve_helper() -> None:
    """The helper process: JSON lines in on stdin, out on the original stdout.

    A request is a list of tasks; the answer is a line per task as its child finishes
    (``{"index": i, "result": ...}``), then ``{"done": n}``. Anything else printed goes to
    the log, so it can never corrupt the answers.
    """
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    try:
        import_espeak()
        # Imported once here rather than in every child (each would pay for it); importing
        # starts no thread and initialises no engine, so forking stays safe.
        import pyttsx3.drivers.espeak
        import pyttsx3.engine  # noqa: F401
    except Exception as exc:  # reported to the caller, who words it for the user
        cause = ("pyttsx3" if isinstance(exc, ImportError)
                 else "engine" if isinstance(exc, OSError) or "espeak" in str(exc).lower()
                 else "other")
        channel.write(json.dumps({"ready": False, "cause": cause, "error": str(exc)}) + "\n")
        return
    channel.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)

        def emit(index: int, result: dict[str, Any]) -> None:
            channel.write(json.dumps({"index": index, "result": result}) + "\n")

        _run_children(request["tasks"], int(request["parallel"]), float(request["timeout_s"]),
                      request["log"], emit)
        channel.write(json.dumps({"done": len(request["tasks"])}) + "\n")


@dataclass
class _Child:
    index: int
    pid: int
    fd: int
    deadline: float
    output: bytes = b""


def _run_children(tasks: list[dict[str, Any]], parallel: int, timeout_s: float, log: str,
                  emit: Callable[[int, dict[str, Any]], None]) -> None:
    """Fork one child per task, at most ``parallel`` at once; ``emit`` each task's result as
    its child finishes."""
    running: dict[int, _Child] = {}
    queue = list(range(len(tasks)))
    if threading.active_count() != 1:
        raise RuntimeError("the speech helper must stay single-threaded to fork safely")
    while queue or running:
        while queue and len(running) < parallel:
            index = queue.pop(0)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os.closerange(3, write_fd)
                os.closerange(write_fd + 1, 1 << 16)
                _child_main({**tasks[index], "timeout_s": timeout_s}, write_fd, log)
            os.close(write_fd)
            running[read_fd] = _Child(index, pid, read_fd, time.monotonic() + timeout_s)
        wait_s = max(0.0, min(child.deadline for child in running.values()) - time.monotonic())
        readable, _, _ = select.select(list(running), [], [], wait_s)
        for fd in readable:
            child = running[fd]
            chunk = os.read(fd, 65536)
            if chunk:
                child.output += chunk
                continue
            del running[fd]
            os.close(fd)
            _, status = os.waitpid(child.pid, 0)
            emit(child.index, _child_result(child.output, status))
        now = time.monotonic()
        for fd, child in list(running.items()):
            if now >= child.deadline:
                os.kill(child.pid, signal.SIGKILL)
                os.waitpid(child.pid, 0)
                os.close(fd)
                del running[fd]
                emit(child.index, {"error": f"the engine did not finish in {timeout_s:g} s"})


def _child_result(output: bytes, status: int) -> dict[str, Any]:
    try:
        result: dict[str, Any] = json.loads(output)
        return result
    except ValueError:
        if os.WIFSIGNALED(status):
            return {"error": f"the engine crashed (signal {os.WTERMSIG(status)})"}
        return {"error": f"the engine exited without a result (status {status})"}


def _child_main(task: dict[str, Any], result_fd: int, log: str) -> None:  # pragma: no cover
    """A forked child: one fresh pyttsx3 engine, one task, then exit without cleanup."""
    try:
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        if task["op"] == "voices":
            result = _voices_in_fresh_engine()
        else:
            result = _render_in_fresh_engine(task)
    except BaseException as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    data = json.dumps(result).encode()
    while data:
        data = data[os.write(result_fd, data):]
    os._exit(0)


def _wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.0005)


class _Capture:
    """Wraps the driver's synthesis callback: collects samples in linear time and hands the
    driver the complete buffer (including the final callback's samples) before it writes."""

    def __init__(self, driver: Any, espeak: Any) -> None:
        self.driver = driver
        self.espeak = espeak
        self.original = driver._onSynth
        self.chunks: list[bytes] = []
        self.terminated = False
        self.final_samples = 0
        self.error: str | None = None
        espeak.SetSynthCallback(self.on_synth)

    def on_synth(self, wav: Any, numsamples: int, events: Any) -> int:
        if not self.driver._speaking:
            return 0
        if numsamples > 0:
            self.chunks.append(ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short)))
        terminating = False
        index = 0
        while events[index].type != self.espeak.EVENT_LIST_TERMINATED:
            terminating = terminating or events[index].type == self.espeak.EVENT_MSG_TERMINATED
            index += 1
        if terminating:
            self.final_samples = numsamples
            self.chunks = [b"".join(self.chunks)]
            self.driver._data_buffer = self.chunks[0]
        try:
            self.original(wav, 0, events)
        except Exception as exc:  # a failed write would otherwise leave runAndWait spinning
            self.error = f"{type(exc).__name__}: {exc}"
            self.driver._speaking = False
            self.driver.endLoop()
        if terminating:
            self.terminated = True
        return 0

    @property
    def pcm(self) -> bytes:
        return b"".join(self.chunks)


def _render_in_fresh_engine(task: dict[str, Any]) -> dict[str, Any]:
    """The measured recipe, in a process whose espeak has said nothing yet."""
    import pyttsx3

    espeak = import_espeak()
    deadline = time.monotonic() + float(task["timeout_s"])

    def idle() -> None:
        _wait_until(lambda: not espeak.IsPlaying(), deadline, "espeak to go idle")

    _buffer_like_the_command_line(espeak)
    engine = pyttsx3.init("espeak")
    driver = engine.proxy._driver
    engine.runAndWait()  # the first loop after init returns before anything is rendered
    idle()
    capture = _Capture(driver, espeak)
    voice = task["voice"]
    if voice is not None:
        engine.setProperty("voice", voice)
        idle()
        current = engine.getProperty("voice")
        if str(current).lower() != voice.lower():
            return {"error": f"the engine did not switch to voice {voice!r}"}
    rate = int(task["rate"])
    if task["rate_property"]:
        engine.setProperty("rate", rate)
        idle()
    # The embedded speed command carries the rate with the text itself.
    engine.save_to_file(f"\x01{rate}S{task['text']}", task["path"])
    idle()
    engine.runAndWait()
    _wait_until(lambda: capture.terminated or capture.error is not None, deadline,
                "the end of synthesis")
    _wait_until(lambda: not driver._speaking and not espeak.IsPlaying(), deadline,
                "the engine to finish")
    if capture.error is not None:
        return {"error": f"the engine failed to write its file ({capture.error})"}
    pcm = capture.pcm
    return {"error": None, "delivered": len(pcm) // 2, "crc32": zlib.crc32(pcm),
            "final_samples": capture.final_samples}


def _buffer_like_the_command_line(espeak: Any) -> None:
    """Have pyttsx3 initialise espeak with the library's default buffers (60 ms, as the
    ``espeak-ng`` command line does) instead of its own 1000 ms.

    espeak's samples depend on its buffer size in rare cases (``docs/engines.md``); with the
    default every clip equals ``espeak-ng -w``.
    This child process exits after one line, so the patch dies with it.
    """
    initialize = espeak.Initialize
    espeak.Initialize = lambda output, _buffer_ms: initialize(output, 0)


def _voices_in_fresh_engine() -> dict[str, Any]:
    import pyttsx3

    engine = pyttsx3.init("espeak")
    voices = [{"id": voice.id, "name": voice.name, "languages": list(voice.languages)}
              for voice in engine.getProperty("voices")]
    return {"error": None, "voices": voices}
