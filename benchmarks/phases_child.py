"""One ``voice-coach export`` run in-process through the real command, its phases timed.

    python -m benchmarks.phases_child SPAWN_MONOTONIC ROUTINE OUT_DIR MINUTES_OR_EMPTY

Prints one JSON object: clock readings after start-up and after the imports, the
command's time, and the seconds and calls of each library function it wraps. The imports
happen inside ``main`` on purpose, after the first clock reading, so that they are timed.
A function that is no longer there is listed under ``missing`` (the parent fails on it).
"""

from __future__ import annotations

import sys
import time
from typing import Any


def main(argv: list[str]) -> None:
    t_main = time.monotonic()
    import click  # noqa: F401
    import numpy  # noqa: F401

    import voice_coach.cli.app as cli

    t_cli = time.monotonic()
    import functools
    import json
    from collections import defaultdict
    from collections.abc import Callable

    from voice_coach import assemble, cache, config, export, mix, session
    from voice_coach.cli import leave
    from voice_coach.engines import pyttsx3_engine

    t_imports = time.monotonic()
    seconds: defaultdict[str, float] = defaultdict(float)
    calls: defaultdict[str, int] = defaultdict(int)
    missing: list[str] = []

    def timed(owner: Any, name: str, key: str) -> None:
        original: Callable[..., Any] | None = getattr(owner, name, None)
        if original is None:
            missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return
        wrapped = original

        @functools.wraps(wrapped)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return wrapped(*args, **kwargs)
            finally:
                seconds[key] += time.perf_counter() - start
                calls[key] += 1

        setattr(owner, name, wrapper)

    timed(config, "load_config", "load settings")
    timed(assemble, "build", "synthesis")
    timed(export, "export_session", "export_session")
    timed(session, "load_cues", "cues")
    timed(session, "plan", "plan")
    timed(cache.ClipCache, "get", "cache get (summed over the reader threads)")
    timed(cache.ClipCache, "put", "cache put (inside engine render)")
    timed(pyttsx3_engine.Pyttsx3Engine, "__init__", "engine start (helper process)")
    timed(pyttsx3_engine.Pyttsx3Engine, "render_many", "engine render (a fork per line, streamed)")
    timed(pyttsx3_engine.Pyttsx3Engine, "close", "engine close")
    timed(mix.Mixer, "render", "mix")
    timed(export.Flusher, "wait", "fsync wait")

    args = ["export", argv[2], "-o", argv[3], "-q"]
    if argv[4]:
        args += ["--minutes", argv[4]]
    start = time.monotonic()
    cli.cli.main(args, prog_name="voice-coach", standalone_mode=False)
    command_s = time.monotonic() - start
    print(json.dumps({"t_main": t_main, "t_cli": t_cli, "t_imports": t_imports,
                      "command_s": command_s, "seconds": seconds, "calls": calls,
                      "missing": missing, "t_end": time.monotonic()}))
    leave(0)  # as the console script ends


if __name__ == "__main__":
    main(sys.argv)
