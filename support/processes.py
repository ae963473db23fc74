"""Child processes: finding them, ending one for sure, and timing a command's first sound."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


def die_with_parent() -> None:
    """In a child, as ``preexec_fn``: get SIGTERM when the parent dies, even by SIGKILL
    (Linux), so that nothing a killed test or benchmark started runs on."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class NoSoundError(Exception):
    """A command ended, or ran out of time, before it played anything."""


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Each live process's pid and the fields of its ``/proc/PID/stat`` after the command
    name: state, parent, process group, session, ..."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = entry.joinpath("stat").read_text()
        except OSError:  # gone meanwhile
            continue
        yield int(entry.name), stat[stat.rindex(")") + 2:].split()


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent``, now (zombies included)."""
    return [pid for pid, fields in process_stats() if int(fields[1]) == parent]


def processes_in_session(session_id: int) -> list[int]:
    """Live processes whose session is ``session_id`` (a child started with a new session)."""
    return [pid for pid, fields in process_stats()
            if fields[0] != "Z" and int(fields[3]) == session_id]


def kill(pid: int) -> None:
    """SIGKILL ``pid``, and its whole process group when it leads one (a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def end_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM (voice-coach stops its sound and exits 130), then SIGKILL if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            kill(process.pid)
            process.wait()


def tail(text: str, lines: int = 3) -> str:
    """The last ``lines`` lines of ``text`` on one line, for a one-line report."""
    return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing on stderr)"


def size_of(path: Path) -> int:
    """The size of ``path`` in bytes; -1 while it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def first_sound_s(command: Sequence[str], env: Mapping[str, str], raw: Path,
                  timeout_s: float = 60.0) -> float:
    """Seconds from spawning ``command`` to the first byte its sound device writes to ``raw``.

    ``env`` must point ALSA at a file plugin writing ``raw`` (``AlsaFile``); ``raw`` is
    removed first. The command is stopped once it has sounded.
    """
    raw.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        child = subprocess.Popen(list(command), env=dict(env), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errors,
                                 start_new_session=True)
        try:
            while size_of(raw) <= 0:
                if child.poll() is not None:
                    errors.seek(0)
                    raise NoSoundError(
                        f"{Path(command[0]).name} exited with {child.returncode} before any"
                        f" sound: {tail(errors.read().decode(errors='replace'))}")
                if time.monotonic() - started > timeout_s:
                    raise NoSoundError(f"{Path(command[0]).name} wrote no sound within"
                                       f" {timeout_s:g} s")
                time.sleep(0.0005)
            return time.monotonic() - started
        finally:
            end_process(child)
