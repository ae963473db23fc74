"""A play paused and resumed through a private sound server, recorded at its sink and
followed through the session: what the sound-server tests of a pause check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from support.audio import locate, runs
from support.soundserver import SoundServer, run_python
from voice_coach.pcm import Samples

_PLAY = """\
import json, time
import numpy as np
from voice_coach.playback import Playback
from voice_coach.player import SimpleaudioDevice
def wait_s(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.002)
device = SimpleaudioDevice()
playback = Playback(device)
playback.play(np.load({session!r}))
wait_s({pause_after_s})
playback.pause()
paused_at = playback.position()
dropped = device.progress().dropped
wait_s({paused_s})
playback.resume()
while not playback.finished():
    time.sleep(0.01)
playback.finish()
device.close()
print(json.dumps({{"paused_at": paused_at, "dropped": dropped}}))
"""


@dataclass(frozen=True)
class PausedPlay:
    """Where a paused and resumed play was heard, in samples of the session: from ``first``
    to ``stopped``, then, ``silent`` samples later, from ``resumed`` to ``ended``.
    ``paused_at`` is the position Playback kept, ``dropped`` what the device said it
    discarded at the pause."""

    paused_at: int
    dropped: int
    first: int
    stopped: int
    resumed: int
    ended: int
    silent: int


def pause_and_resume(server: SoundServer, session: Samples, folder: Path,
                     pause_after_s: float = 1.0, paused_s: float = 0.5) -> PausedPlay:
    """Play ``session`` with Playback on a SimpleaudioDevice in a child process, pause it
    after ``pause_after_s``, resume ``paused_s`` later and play to the end, while ``server``
    records its sink. Asserts that the child succeeded, that two runs of sound were heard
    and that each is the session's samples exactly, from wherever it starts."""
    np.save(folder / "session.npy", session)
    with server.recording() as recording:
        child = run_python(_PLAY.format(session=str(folder / "session.npy"),
                                        pause_after_s=pause_after_s, paused_s=paused_s),
                           server.env)
    assert (child.returncode, child.stderr) == (0, ""), child.stderr
    said = json.loads(child.stdout)
    heard = recording.samples
    pieces = runs(heard, min_length=64)
    assert len(pieces) == 2, pieces
    (start1, end1), (start2, end2) = pieces
    first = locate(heard[start1 : start1 + 64], session)
    resumed = locate(heard[start2 : start2 + 64], session)
    assert first is not None and resumed is not None
    assert np.array_equal(heard[start1:end1], session[first : first + end1 - start1])
    assert np.array_equal(heard[start2:end2], session[resumed : resumed + end2 - start2])
    return PausedPlay(paused_at=said["paused_at"], dropped=said["dropped"], first=first,
                      stopped=first + end1 - start1, resumed=resumed,
                      ended=resumed + end2 - start2, silent=start2 - end1)
