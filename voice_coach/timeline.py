"""The timeline: a session laid out in samples, as the mixer, the player and the exporter
walk it.

A timeline is a gapless sequence of events (speech, cue, silence) from sample 0 that
never overlap, each in a step of the session; the planner (``plan``) builds one from a
routine. Here are what it holds and answers, the session picked up at a step
(``resumed``), the labels made from spoken lines (``short_title``) and the form
``plan --json`` and ``timeline.json`` show (``to_dict``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias

from voice_coach.language import PlanWords
from voice_coach.pace import PhaseSamples
from voice_coach.routine_model import CueRole

EventKind: TypeAlias = Literal["speech", "cue", "silence"]

RESUME_GAP_S: Final = 1.0
"""Silence between the opening chime and the step a resumed session picks up at."""
TITLE_CHARS: Final = 40
"""About how long a title made from a step's text is (a lock screen shows about this)."""
_SENTENCE_END: Final = re.compile(r"(?<=[.!?…])\s")
"""Where a sentence ends: its closing mark, then a space."""


@dataclass(frozen=True)
class Event:
    """One stretch of the session, ``start`` to ``end`` in samples."""

    start: int
    end: int
    kind: EventKind
    step: int
    text: str | None = None
    cue: CueRole | None = None


@dataclass(frozen=True)
class Timeline:
    """The whole session: gapless events from sample 0, the label of every step.

    A step of the timeline is what ``n`` skips and the screen counts: the opening, the
    caution, each ``[[steps]]`` entry, each repetition of a repeat, the closing. People
    read its index plus one (``step 1`` is the opening), in ``plan`` and on the screen
    alike; ``step_sources`` names the routine's ``[[steps]]`` entry each comes from
    (``steps[10], repetition 2``; None for the opening, caution and closing), counted from
    1 as routine errors count them.
    """

    routine_id: str
    sample_rate: int
    events: tuple[Event, ...]
    step_labels: tuple[str, ...]
    notes: tuple[str, ...] = ()
    step_sources: tuple[str | None, ...] = ()
    lang: str = "en"
    """The language of its lines and labels."""
    tail_start: int | None = None
    """Where a tail begins (``--tail``: the ambient bed playing on after the session's
    end, its own last step), or None."""

    def step_source(self, step: int) -> str | None:
        """Where step ``step`` (an index) comes from in the routine file, if anywhere."""
        return self.step_sources[step] if step < len(self.step_sources) else None

    @property
    def duration(self) -> int:
        """Length in samples."""
        return self.events[-1].end if self.events else 0

    @property
    def duration_s(self) -> float:
        return self.duration / self.sample_rate

    def step_starts(self) -> list[int]:
        """Start sample of every step, by step index."""
        starts = [self.duration] * len(self.step_labels)
        for event in reversed(self.events):
            starts[event.step] = event.start
        return starts

    def step_at(self, sample: int) -> int:
        """Index of the step playing at ``sample`` (the last one past the end)."""
        for event in self.events:
            if event.start <= sample < event.end:
                return event.step
        return len(self.step_labels) - 1

    def speech_texts(self) -> list[str]:
        """Every distinct spoken line, in order of first appearance."""
        return list(dict.fromkeys(e.text for e in self.events if e.kind == "speech" and e.text))


def resumed(timeline: Timeline, step: int) -> Timeline:
    """The session picked up at step ``step`` (an index): its opening (the lead-in and
    the start chime), ``RESUME_GAP_S`` of silence, then that step and every one after it,
    each sample as in ``timeline``. Step 0 or 1 is the whole session."""
    if step <= 1:
        return timeline
    step = min(step, len(timeline.step_labels) - 1)
    starts = timeline.step_starts()
    gap = round(RESUME_GAP_S * timeline.sample_rate)
    shift = starts[1] + gap - starts[step]  # where each kept step moves, in samples
    opening = [event for event in timeline.events if event.step == 0]
    events = [*opening[:-1], *merge_silences([opening[-1], Event(
        starts[1], starts[1] + gap, "silence", 0)])] + [
        replace(event, start=event.start + shift, end=event.end + shift,
                step=event.step - step + 1)
        for event in timeline.events if event.step >= step]
    kept = (0, *range(step, len(timeline.step_labels)))
    tail_start = None if timeline.tail_start is None else timeline.tail_start + shift
    return replace(timeline, events=tuple(events),
                   step_labels=tuple(timeline.step_labels[index] for index in kept),
                   step_sources=tuple(timeline.step_source(index) for index in kept),
                   tail_start=tail_start)


def merge_silences(events: list[Event]) -> Iterator[Event]:
    """Adjacent silences of one step become one event."""
    pending: Event | None = None
    for event in events:
        if pending is not None:
            if event.kind == "silence" and pending.kind == "silence" and event.step == pending.step:
                pending = Event(pending.start, event.end, "silence", pending.step)
                continue
            yield pending
        pending = event
    if pending is not None:
        yield pending


def to_dict(timeline: Timeline) -> dict[str, object]:
    """The timeline as ``plan --json`` and ``timeline.json`` show it: seconds, not samples."""
    rate = timeline.sample_rate
    events: list[dict[str, object]] = []
    for event in timeline.events:
        entry: dict[str, object] = {
            "start_s": round(event.start / rate, 6),
            "end_s": round(event.end / rate, 6),
            "start_sample": event.start,
            "end_sample": event.end,
            "kind": event.kind,
            "step": event.step,
        }
        if event.text is not None:
            entry["text"] = event.text
        if event.cue is not None:
            entry["cue"] = event.cue
        events.append(entry)
    starts = timeline.step_starts()
    return {
        "routine": timeline.routine_id,
        "duration_s": round(timeline.duration_s, 6),
        "duration_samples": timeline.duration,
        "sample_rate": rate,
        "steps": [{"step": index, "start_s": round(starts[index] / rate, 6), "label": label}
                  for index, label in enumerate(timeline.step_labels)],
        "events": events,
        "notes": list(timeline.notes),
    }


def short_title(text: str, most_chars: int = TITLE_CHARS) -> str:
    """A title made from a spoken line: its first sentence, cut at a word boundary to
    about ``most_chars`` (``…`` marks the cut), without its closing full stop."""
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0]
    if len(sentence) <= most_chars:
        one_stop = sentence.endswith(".") and not sentence.endswith("..")
        return sentence[:-1] if one_stop else sentence
    room = sentence[:most_chars + 1]
    cut = room.rsplit(" ", 1)[0] if " " in room else sentence[:most_chars]
    return cut.rstrip(" ,;:-\u2013\u2014") + "…"  # no stray comma or dash before the cut


def breaths_label(count: int, first: PhaseSamples, last: PhaseSamples, sample_rate: int,
                  words: PlanWords) -> str:
    """A breathe step's label from its first and last breath: ``3 breaths: in 4 s, out 6 s``,
    ``... out 6 → 8 s`` on a ramp; a phase absent from both is left out."""
    shown = []
    for name, start, end in zip(words.phases, first, last, strict=True):
        if start or end:
            span = _seconds(start, sample_rate) if start == end else (
                f"{_seconds(start, sample_rate)} → {_seconds(end, sample_rate)}")
            shown.append(f"{name} {span} s")
    noun = words.breath if count == 1 else words.breaths
    return f"{count} {noun}: {', '.join(shown)}"


def _seconds(samples: int, rate: int) -> str:
    """Samples as seconds for people: ``4``, ``4.125``, to the millisecond."""
    return f"{samples / rate:.3f}".rstrip("0").rstrip(".")
