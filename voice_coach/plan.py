"""The planner: routine + settings + spoken lengths -> a timeline, to the sample.

Pure: the lengths of speech and cues come in as functions, so a test can hand in
literal numbers and the real session hands in the lengths of rendered clips. The
timeline is a gapless sequence of events (speech, cue, silence) that never overlap;
the mixer places each at its start sample and the player and exporter walk it.

A session with a filling repeat ends exactly on its target sample (``_Builder.stretch``);
a routine without one has the length its steps add up to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from voice_coach.pcm import SAMPLE_RATE
from voice_coach.routine import (
    Breathe,
    CueRole,
    Pace,
    Repeat,
    Routine,
    Say,
    Step,
    fill_placeholders,
)
from voice_coach.timefmt import minutes_seconds

EventKind: TypeAlias = Literal["speech", "cue", "silence"]
SpeechLength: TypeAlias = Callable[[str], int]
"""Samples a spoken line lasts."""
CueLength: TypeAlias = Callable[[CueRole], int]
"""Samples a cue lasts; 0 for a cue that is switched off."""

LEAD_IN_S: Final = 0.5
"""Silence before the first chime: devices and sound servers swallow the first ~75 ms."""
TAIL_S: Final = 1.5
"""Silence after the last word, so the end is never cut by the device closing."""
PROMPT_GAP_S: Final = 0.25
"""Breath between a breath chime and a prompt spoken over the same phase."""
SESSION_COMPLETE: Final = "Session complete."


@dataclass(frozen=True)
class PlanSettings:
    """What the person chose for this session; None means the routine's own value."""

    minutes: float | None = None
    pace: Pace | None = None
    caution: bool = True
    sample_rate: int = SAMPLE_RATE


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


def estimated_speech_length(rate_wpm: float, sample_rate: int = SAMPLE_RATE) -> SpeechLength:
    """Spoken length from word count and rate, for plans made before any speech exists.

    Calibrated on espeak-ng: a line lasts about its words at ``rate_wpm`` plus the
    engine's ~0.35 s closing pause.
    """

    def length(text: str) -> int:
        words = max(1, len(text.split()))
        return round((words * 60.0 / rate_wpm + 0.35) * sample_rate)

    return length


def plan(routine: Routine, settings: PlanSettings, speech_length: SpeechLength,
         cue_length: CueLength) -> Timeline:
    """Lay the routine out in time. See the module docstring for the contract."""
    builder = _Builder(routine, settings, speech_length, cue_length)
    return builder.build()


# --- Building -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    kind: EventKind
    samples: int
    text: str | None = None
    cue: CueRole | None = None
    pause: bool = False
    """A pause after a spoken line: it may grow so the session fills its target."""


@dataclass
class _Block:
    """One step: what the display shows, and what it plays."""

    label: str
    items: list[_Item] = field(default_factory=list)
    source: str | None = None

    @property
    def samples(self) -> int:
        return sum(item.samples for item in self.items)


class _Builder:
    def __init__(self, routine: Routine, settings: PlanSettings, speech_length: SpeechLength,
                 cue_length: CueLength) -> None:
        self.routine = routine
        self.settings = settings
        self.rate = settings.sample_rate
        self.speech_length = speech_length
        self.cue_length = cue_length
        self.notes: list[str] = []
        self.paces = self.spoken_paces()

    def pace_of(self, step: Breathe) -> Pace:
        """The pace a breathe step is played at: --breath, else its own, else the routine's."""
        return self.settings.pace or step.pace or self.routine.pace

    def spoken_paces(self) -> dict[int, Pace]:
        """The pace each ``say`` names (by ``id``): that of the next ``breathe`` step in the
        routine, or the routine's (or --breath's) when none follows; the caution's is the
        first one's. A repeat counts once, its steps in order."""
        order = [inner for step in self.routine.steps
                 for inner in (step.steps if isinstance(step, Repeat) else (step,))]
        pace = self.settings.pace or self.routine.pace
        paces: dict[int, Pace] = {}
        for step in reversed(order):
            if isinstance(step, Breathe):
                pace = self.pace_of(step)
            paces[id(step)] = pace
        paces[id(self.routine)] = pace
        return paces

    def samples(self, seconds: float) -> int:
        return round(seconds * self.rate)

    def build(self) -> Timeline:
        opening = _Block("Starting", [_Item("silence", self.samples(LEAD_IN_S))])
        self.add_cue(opening, "start")
        before: list[_Block] = [opening]
        if self.settings.caution and self.routine.caution:
            text = fill_placeholders(self.routine.caution, None, self.paces[id(self.routine)])
            caution = _Block(text, source="caution")
            self.add_speech(caution, text, self.routine.pause_s)
            before.append(caution)
        after: list[_Block] = []
        fill: Repeat | None = None
        fill_source = ""
        for entry, step in enumerate(self.routine.steps, start=1):
            target = after if fill is not None else before
            source = f"steps[{entry}]"
            if isinstance(step, Repeat):
                if step.times is None:
                    fill, fill_source = step, source
                    continue
                target.extend(self.repetition(step, step.count_from + done, source, done + 1)
                              for done in range(step.times))
            else:
                block = self.block(step, None)
                block.source = source
                target.append(block)
        closing = _Block(SESSION_COMPLETE)
        self.add_cue(closing, "end")
        self.add_speech(closing, SESSION_COMPLETE, 0.0, pause=False)
        closing.items.append(_Item("silence", self.samples(TAIL_S)))
        after.append(closing)

        if fill is None:
            if self.settings.minutes is not None:
                self.notes.append(
                    f"{self.routine.id} has a fixed length; --minutes does not change it")
            return self.layout([*before, *after])
        middle = self.fill(fill, fill_source, before, after)
        blocks = [*before, *middle, *after]
        self.stretch(blocks, middle)
        return self.layout(blocks)

    def target(self) -> int:
        return self.samples((self.settings.minutes or self.routine.minutes) * 60.0)

    def fill(self, repeat: Repeat, source: str, before: list[_Block],
             after: list[_Block]) -> list[_Block]:
        """Repetitions until one more would pass the target; always at least one."""
        minutes = self.settings.minutes or self.routine.minutes
        target = self.target()
        used = sum(b.samples for b in before) + sum(b.samples for b in after)
        blocks: list[_Block] = []
        while True:
            done = len(blocks)
            block = self.repetition(repeat, repeat.count_from + done, source, done + 1)
            if blocks and used + block.samples > target:
                break
            blocks.append(block)
            used += block.samples
        if used > target:
            self.notes.append(
                f"the shortest {self.routine.id} session lasts {minutes_seconds(used / self.rate)},"
                f" longer than the {minutes:g}-minute target; it plays that long"
            )
        return blocks

    def stretch(self, blocks: list[_Block], repetitions: list[_Block]) -> None:
        """Lengthen the pauses so the session ends exactly on its target sample.

        Whole repetitions leave up to one repetition short of the target. The shortfall
        is shared by the pauses after spoken lines in proportion to their length (the
        routine's rhythm keeps its shape, and a pause written as 0 stays 0), to the
        sample by largest remainder. Breath phases, speech and chimes never change. A
        routine with no pause at all gets a silence after each repetition instead.
        """
        slack = self.target() - sum(block.samples for block in blocks)
        if slack <= 0:
            return
        places = [(block, index) for block in blocks
                  for index, item in enumerate(block.items) if item.pause]
        weights = [block.items[index].samples for block, index in places]
        if not sum(weights):
            for block in repetitions:
                block.items.append(_Item("silence", 0, pause=True))
            places = [(block, len(block.items) - 1) for block in repetitions]
            weights = [1] * len(places)
        for (block, index), extra in zip(places, _shares(slack, weights), strict=True):
            item = block.items[index]
            block.items[index] = _Item("silence", item.samples + extra, pause=True)

    def repetition(self, repeat: Repeat, number: int, source: str, nth_time: int) -> _Block:
        """Repetition ``nth_time`` (1, 2, ...) of the repeat at ``source``; ``{n}`` is
        ``number``."""
        parts = [self.block(step, number) for step in repeat.steps]
        label = next((p.label for p in parts if p.items and p.items[0].kind == "speech"),
                     parts[0].label)
        block = _Block(label, source=f"{source}, repetition {nth_time}")
        if repeat.cue is not None:
            self.add_cue(block, repeat.cue)
        for part in parts:
            block.items.extend(part.items)
        return block

    def block(self, step: Step, number: int | None) -> _Block:
        if isinstance(step, Say):
            text = fill_placeholders(step.text, number, self.paces[id(step)])
            block = _Block(text)
            self.add_speech(block, text, step.hold_s)
            return block
        assert isinstance(step, Breathe)
        return self.breathe(step, number)

    def breathe(self, step: Breathe, number: int | None) -> _Block:
        pace = self.pace_of(step)
        noun = "breath" if step.count == 1 else "breaths"
        phases = [f"in {pace.inhale_s:g} s", f"hold {pace.hold_in_s:g} s",
                  f"out {pace.exhale_s:g} s", f"hold {pace.hold_out_s:g} s"]
        lasts = (1.0, pace.hold_in_s, 1.0, pace.hold_out_s)
        shown = [phase for phase, seconds in zip(phases, lasts, strict=True) if seconds]
        block = _Block(f"{step.count} {noun}: {', '.join(shown)}")
        inhale_prompt, exhale_prompt = (fill_placeholders(prompt, number, pace) if prompt else None
                                        for prompt in (step.inhale_prompt, step.exhale_prompt))
        for breath in range(step.count):
            prompted = breath < step.prompt_breaths
            self.add_phase(block, "inhale", pace.inhale_s, inhale_prompt if prompted else None)
            self.add_phase(block, "hold", pace.hold_in_s, None)
            self.add_phase(block, "exhale", pace.exhale_s, exhale_prompt if prompted else None)
            self.add_phase(block, "hold", pace.hold_out_s, None)
        return block

    def add_phase(self, block: _Block, role: CueRole, seconds: float, prompt: str | None) -> None:
        """A breath phase: its cue at the start, an optional prompt, silence to the end.

        A prompt that does not fit grows the phase rather than overlapping the next cue.
        """
        if seconds <= 0:
            return
        phase = self.samples(seconds)
        cue = self.add_cue(block, role)
        used = cue
        if prompt is not None:
            gap = self.samples(PROMPT_GAP_S) if cue else 0
            if gap:
                block.items.append(_Item("silence", gap))
            spoken = self.speech_length(prompt)
            block.items.append(_Item("speech", spoken, text=prompt))
            used += gap + spoken
        if used > phase:
            self.notes.append(
                f"{role} grew from {seconds:g} s to {used / self.rate:.2f} s to fit"
                + (f" {prompt!r}" if prompt else f" the {role} cue")
            )
        block.items.append(_Item("silence", max(0, phase - used)))

    def add_cue(self, block: _Block, role: CueRole) -> int:
        length = self.cue_length(role)
        if length > 0:
            block.items.append(_Item("cue", length, cue=role))
        return length

    def add_speech(self, block: _Block, text: str, hold_s: float, pause: bool = True) -> None:
        block.items.append(_Item("speech", self.speech_length(text), text=text))
        block.items.append(_Item("silence", self.samples(hold_s), pause=pause))

    def layout(self, blocks: list[_Block]) -> Timeline:
        events: list[Event] = []
        cursor = 0
        for index, block in enumerate(blocks):
            for item in block.items:
                if item.samples <= 0:
                    continue
                events.append(Event(cursor, cursor + item.samples, item.kind, index,
                                    item.text, item.cue))
                cursor += item.samples
        return Timeline(
            routine_id=self.routine.id,
            sample_rate=self.rate,
            events=tuple(_merge_silences(events)),
            step_labels=tuple(block.label for block in blocks),
            notes=tuple(dict.fromkeys(self.notes)),
            step_sources=tuple(block.source for block in blocks),
        )


def _shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights``, whole numbers summing to ``total``."""
    whole = sum(weights)
    exact = [total * weight for weight in weights]
    shares = [part // whole for part in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] % whole), i))
    for index in by_remainder[: total - sum(shares)]:
        shares[index] += 1
    return shares


def _merge_silences(events: list[Event]) -> Iterator[Event]:
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
