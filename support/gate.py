"""Run a command that waits, as it reads its settings, until a test opens a named pipe:
the test then knows the child is loaded and about to do its work, and can start several
at one moment or signal one on time.

    python -m support.gate PIPE voice-coach export ...          # the installed script
    python -m support.gate PIPE python -c CODE export ...       # code that runs the command

The wait is inside ``config.load_config``, where the command reads its settings, so a
signal sent once the pipe opens meets the command exactly where it would have met it when
tests handed it a settings file that was a named pipe (a settings file must now be a
regular file).
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def gated(pipe: Path, command: Sequence[str]) -> list[str]:
    """``command``, made to wait at ``pipe`` (made here) until it is opened for writing."""
    os.mkfifo(pipe)
    return [sys.executable, "-m", "support.gate", str(pipe), *command]


def env_for_gate(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the project importable, for ``python -m support.gate``."""
    paths = [str(PROJECT), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def main(argv: list[str]) -> None:
    from voice_coach import config

    pipe, *command = argv
    load_config = config.load_config

    def wait_then_load(path: Path) -> dict[str, object]:
        with open(pipe, "rb") as gate:
            gate.read()
        config.load_config = load_config
        return load_config(path)

    config.load_config = wait_then_load
    if command[1:2] == ["-c"]:
        sys.argv = ["-c", *command[3:]]
        exec(compile(command[2], "<gated>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = command
        runpy.run_path(command[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
