"""A session played on a sound output, from its first chime to its line in the history.

The command line resolves the settings (``assemble``), then asks here for the session to
resume (``to_resume``), gets it ready (``ready``) and plays it (``play``): the stream
renders speech as it plays, the keys, media keys and screen steer and show it, and a play
that started is recorded with where it stopped, so that ``play --resume`` can pick it up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voice_coach import assemble, paths
from voice_coach.assemble import Cues
from voice_coach.errors import VoiceCoachError
from voice_coach.plan import Timeline
from voice_coach.routine import Routine

if TYPE_CHECKING:
    from voice_coach.devices import Route
    from voice_coach.history import Entry, StoppedIn
    from voice_coach.session import Composer


@dataclass(frozen=True)
class Resumed:
    """The session ``play --resume`` picks up from the history."""

    entries: list[Entry]
    """Its plays so far, the first one first."""
    values: dict[str, Any]
    """Its settings, with this play's own device, history and media keys."""
    cues: Cues
    from_step: int
    """The step it stopped in, of the whole session."""


@dataclass(frozen=True)
class Ready:
    """A session ready to play: where, what, and its speech made ready line by line."""

    route: Route
    routine: Routine
    values: dict[str, Any]
    cues: Cues
    composer: Composer
    from_step: int = 0
    resumes: datetime | None = None
    """When the session this play resumes first started; None: a new session."""


def to_resume(routine: str | None, cues: Cues, given: Mapping[str, Any],
              values: Mapping[str, Any]) -> Resumed:
    """The last session stopped before its end, with its settings; a ``ResumeError``
    when there is none or when this play asks for anything else."""
    from voice_coach.history import read
    from voice_coach.history import to_resume as last_stopped
    from voice_coach.resume import NOTHING_TO_RESUME, THIS_PLAY, ResumeError, picked

    changes = [f"--{key.replace('_', '-')}" for key, value in given.items()
               if value is not None and key not in THIS_PLAY]
    if routine is not None or cues or changes:
        what = ", ".join(["a routine"] * (routine is not None) + ["--cue"] * bool(cues)
                         + changes)
        raise ResumeError(f"--resume plays the stopped session as it was; leave out {what}")
    session = last_stopped(read(paths.history_file()).entries)
    if session is None:
        raise ResumeError(NOTHING_TO_RESUME)
    stopped = session[-1].stopped_in
    assert stopped is not None  # to_resume picks only such sessions
    found = picked(stopped.settings, stopped.step)
    return Resumed(session, {**found.values, **{key: values[key] for key in THIS_PLAY}},
                   found.cues, found.from_step)


def ready(values: dict[str, Any], cues: Cues, no_cache: bool,
          warn: Callable[[str], None], resumed: Resumed | None = None) -> Ready:
    """The output chosen, the routine found and its speech engine started: what can go
    wrong before a sound is made goes wrong here."""
    from voice_coach import devices

    if resumed is not None:
        values, cues = resumed.values, resumed.cues
    from_step = 0 if resumed is None else resumed.from_step
    route = devices.choose(values["device"])
    loaded = assemble.find_routine(values["routine"], warn, values["lang"])
    options = replace(assemble.session_options(values, loaded, cues), from_step=from_step)
    composer = assemble.composer(loaded, options, values["engine"], no_cache)
    return Ready(route, loaded, values, cues, composer, from_step,
                 None if resumed is None else resumed.entries[0].started_at)


def play(session: Ready, quiet: bool, warn: Callable[[str], None]) -> None:
    """Play ``session`` to its end or until stopped, then record it in the history
    (unless the ``history`` setting is off); ``warn`` hears when that fails."""
    from voice_coach import controls, live
    from voice_coach.playback import Playback
    from voice_coach.player import SimpleaudioDevice
    from voice_coach.stream import SessionStream

    composer = session.composer
    stream = SessionStream(composer.capacity, composer.scores(),
                           sample_rate=composer.options.plan.sample_rate)
    device = SimpleaudioDevice(route=session.route)
    playback = Playback(device, sample_rate=stream.sample_rate)
    display = live.display_for(sys.stdout, quiet)
    started_at = datetime.now(UTC)
    outcome: live.Outcome = "quit"
    try:
        stream.start(playback.position)
        with (live.keys_for(sys.stdin, None if quiet else sys.stderr) as keys,
              controls.edges(keys, display, title=session.routine.title,
                             media_keys=session.values["media_keys"]) as (steering, shown)):
            outcome = live.run(stream, playback, steering, shown)
    except BaseException:
        display.abort()
        raise
    finally:
        started = playback.state != "idle"
        played_s = min(playback.position(), stream.end) / stream.sample_rate
        playback.stop()
        device.close()
        stream.close()
        composer.close()
        timeline = stream.timeline()
        if started and session.values["history"] and timeline is not None:
            in_tail = (timeline.tail_start is not None
                       and played_s * stream.sample_rate >= timeline.tail_start)
            record(timeline, started_at=started_at, played_s=played_s,
                   completed=outcome == "completed" or in_tail,
                   stopped_in=stopped_in(timeline, playback.heard(), session),
                   resumes=session.resumes, warn=None if quiet else warn)


def stopped_in(timeline: Timeline, heard: int, session: Ready) -> StoppedIn:
    """Where a stopped play can be resumed: its settings and the step of the whole
    session it stopped in (the session may itself be a resumed one)."""
    from voice_coach.history import StoppedIn
    from voice_coach.resume import kept, routine_ref, whole_step

    shown = timeline.step_at(min(heard, timeline.duration))
    skipped = max(0, session.from_step - 1)  # steps a resumed session leaves out
    loaded = session.routine
    played = {**session.values, "lang": loaded.lang}  # the language it spoke, whatever the locale
    return StoppedIn(kept(played, session.cues,
                          routine_ref(session.values["routine"], loaded.source)),
                     whole_step(shown, session.from_step),
                     len(timeline.step_labels) + skipped, timeline.step_labels[shown])


def record(timeline: Timeline, started_at: datetime, played_s: float, completed: bool,
           stopped_in: StoppedIn, resumes: datetime | None,
           warn: Callable[[str], None] | None) -> None:
    """Append the session to the history; a failure goes to ``warn``, never fatal."""
    from voice_coach.history import Entry, append

    entry = Entry(started_at=started_at, routine=timeline.routine_id,
                  planned_minutes=timeline.duration_s / 60, played_s=played_s,
                  outcome="completed" if completed else "stopped",
                  stopped_in=None if completed else stopped_in, resumes=resumes)
    try:
        append(paths.history_file(), entry)
    except VoiceCoachError as error:
        if warn is not None:
            warn(str(error))
