"""One ``voice-coach play`` run in-process through the real command, its stream watched.

    python -m benchmarks.load_child REPORT_JSON PLAY_ARGS...

Runs ``voice-coach play PLAY_ARGS`` as the console script would and writes one JSON
object to ``REPORT_JSON``: the least written sound ahead of the device (the filler's
margin, ``SessionStream.written()`` high less ``Playback.position()``, sampled every
``SAMPLE_S`` while the session plays and not yet all written), the holds, and the
underruns ALSA reported. The product has no hook for either: ``live.run`` is wrapped to
get the stream and the playback, and ALSA's messages, which ``player`` routes to its
``_alsa_heard``, are counted as they arrive: simpleaudio's thread recovers from an xrun
with ``snd_pcm_recover``, which reports "underrun occurred" there (the handler is given
the format, ``%s occurred``, so the function's name is what is counted).
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from typing import Any, Final

SAMPLE_S: Final = 0.01
START_S: Final = 5.0
"""The first seconds of play, while the first lines render, are also told apart."""


class _CountingMessages(collections.deque[str]):
    """``player._alsa_heard``, counting what arrives: the player clears it at each start."""

    def __init__(self, maxlen: int | None) -> None:
        super().__init__(maxlen=maxlen)
        self.underruns = 0
        self.messages: list[str] = []

    def append(self, message: str) -> None:
        if "(snd_pcm_recover)" in message:  # its format: "%s occurred", underrun or overrun
            self.underruns += 1
        if len(self.messages) < 20:
            self.messages.append(message.strip())
        super().append(message)


class _Watch:
    """Samples the filler's margin in a thread while ``live.run`` plays."""

    def __init__(self) -> None:
        self.least_margin: int | None = None
        self.least_at_s: float | None = None
        self.least_after_start: int | None = None
        self.samples = 0
        self.holds = 0
        self.started_s: float | None = None
        self.sample_rate = 0
        self._done = threading.Event()

    def run(self, stream: Any, playback: Any) -> None:
        self.sample_rate = playback.sample_rate
        self.started_s = time.monotonic()
        while not self._done.wait(SAMPLE_S):
            if playback.state != "playing":
                continue
            _, high = stream.written()
            position = playback.position()
            if high >= stream.end:
                continue
            margin = high - position
            self.samples += 1
            if self.least_margin is None or margin < self.least_margin:
                self.least_margin = margin
                self.least_at_s = time.monotonic() - self.started_s
            if time.monotonic() - self.started_s >= START_S and (
                    self.least_after_start is None or margin < self.least_after_start):
                self.least_after_start = margin

    def stop(self) -> None:
        self._done.set()

    def report(self) -> dict[str, Any]:
        def ms(samples: int | None) -> float | None:
            return None if samples is None else 1000 * samples / self.sample_rate

        return {"filler_margin_least_ms": ms(self.least_margin),
                "filler_margin_least_at_s": self.least_at_s,
                "filler_margin_least_after_start_ms": ms(self.least_after_start),
                "margin_samples": self.samples, "holds": self.holds}


def main(argv: list[str]) -> None:
    from voice_coach import player  # first: it loads the device tap before simpleaudio

    messages = _CountingMessages(player._alsa_heard.maxlen)
    player._alsa_heard = messages
    import voice_coach.cli.app as cli
    from voice_coach import live
    from voice_coach.cli import leave

    watch = _Watch()
    original_run = live.run

    def watched_run(stream: Any, playback: Any, keys: Any, display: Any) -> Any:
        original_hold = stream.hold

        def hold() -> int:
            watch.holds += 1
            return int(original_hold())

        stream.hold = hold
        thread = threading.Thread(target=watch.run, args=(stream, playback), daemon=True)
        thread.start()
        try:
            return original_run(stream, playback, keys, display)
        finally:
            watch.stop()
            thread.join()

    live.run = watched_run
    code: object = 0
    try:
        cli.cli.main(["play", *argv[2:]], prog_name="voice-coach", standalone_mode=False)
    except Exception as exc:  # the parent reports it with the exit code
        code = f"{type(exc).__name__}: {exc}"
    with open(argv[1], "w", encoding="utf-8") as out:
        json.dump({**watch.report(), "underruns": messages.underruns,
                   "alsa_messages": messages.messages}, out)
    leave(code)


if __name__ == "__main__":
    main(sys.argv)
