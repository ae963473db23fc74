"""The planner: routine + settings + spoken lengths -> a timeline (``timeline``), to the
sample.

Pure: the lengths of speech and cues come in as functions, so a test can hand in
literal numbers and the real session hands in the lengths of rendered clips. Each line
is filled once (``spoken``), as the voice says it, with the pace of the breath it leads to.

A session with a filling repeat plays it as many times as fit and ends exactly on its
target sample (``fill``; ``_Builder.stretch``); a routine without one has the length its
steps add up to.

A breath ramp (``--breath-to``, a routine's ``[breath_to]``) moves every breath at the
session's pace from the start pace to the end pace in equal steps, each phase a whole
number of samples (``ramp_phase``); breathe steps with a pace of their own keep it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from voice_coach.errors import VoiceCoachError
from voice_coach.fill import fill_count, shares
from voice_coach.language import PLAN_WORDS
from voice_coach.pace import Pace, PhaseSamples, pace_samples, ramp_pace, ramp_problem
from voice_coach.pcm import SAMPLE_RATE
from voice_coach.routine_model import Breathe, CueRole, Repeat, Routine, Say, Step
from voice_coach.spoken import fill_placeholders
from voice_coach.timefmt import minutes_seconds
from voice_coach.timeline import (
    Event,
    EventKind,
    Timeline,
    breaths_label,
    merge_silences,
    resumed,
    short_title,
    to_dict,
)

__all__ = [  # the timeline's model is re-exported for the commands, session and export
    "CueLength", "Event", "PlanSettings", "RampError", "SpeechLength", "Timeline",
    "estimated_speech_length", "plan", "resumed", "to_dict",
]

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
SESSION_COMPLETE: Final = PLAN_WORDS["en"].session_complete


class RampError(VoiceCoachError):
    """A breath ramp that cannot be breathed, or has no breaths to change: bad input."""

    exit_code = 2


@dataclass(frozen=True)
class PlanSettings:
    """What the person chose for this session; None means the routine's own value.

    ``pace_to`` is the pace at the end of a breath ramp (``--breath-to``).
    """

    minutes: float | None = None
    pace: Pace | None = None
    caution: bool = True
    sample_rate: int = SAMPLE_RATE
    pace_to: Pace | None = None


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


@dataclass
class _Pass:
    """One laying-out of the session, the filling repeat played a given number of times:
    the ramped breaths it holds and has laid out so far, and the notes it makes."""

    breaths: int
    breath: int = 0
    notes: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, routine: Routine, settings: PlanSettings, speech_length: SpeechLength,
                 cue_length: CueLength) -> None:
        self.routine = routine
        self.settings = settings
        self.rate = settings.sample_rate
        self.speech_length = speech_length
        self.cue_length = cue_length
        self.lang = routine.lang
        self.words = PLAN_WORDS[routine.lang]
        self.notes: list[str] = []
        self.next_breathe = self.breathe_after()
        self.start = settings.pace or routine.pace
        self.start_samples = pace_samples(self.start, self.rate)
        end = settings.pace_to or routine.pace_to
        self.end_samples: PhaseSamples | None = None
        if end is not None:
            problem = ramp_problem(self.start, end)
            if problem is not None:
                raise RampError(f"breath_to: {problem}")
            self.end_samples = pace_samples(end, self.rate)
            if not any(self.ramped(step) for step in self.breathe_steps()):
                raise RampError(f"breath_to: {routine.id} has no breaths at its own pace to"
                                " ramp (every breathe step sets its pace, or there are none)")

    def breathe_steps(self) -> list[Breathe]:
        return [inner for step in self.routine.steps
                for inner in (step.steps if isinstance(step, Repeat) else (step,))
                if isinstance(inner, Breathe)]

    def ramped(self, step: Breathe) -> bool:
        """Whether ``step`` breathes at the session pace, which a ramp moves."""
        return self.settings.pace is not None or step.pace is None

    def pace_of(self, step: Breathe) -> Pace:
        """The pace a breathe step is played at: --breath, else its own, else the routine's."""
        return self.settings.pace or step.pace or self.routine.pace

    def breathe_after(self) -> dict[int, Breathe | None]:
        """The breathe step whose pace each ``say`` names (by ``id``): the next one in the
        routine, or None (the session pace) when none follows; the caution's is the
        first one's. A repeat counts once, its steps in order."""
        order = [inner for step in self.routine.steps
                 for inner in (step.steps if isinstance(step, Repeat) else (step,))]
        following: Breathe | None = None
        after: dict[int, Breathe | None] = {}
        for step in reversed(order):
            if isinstance(step, Breathe):
                following = step
            after[id(step)] = following
        after[id(self.routine)] = following
        return after

    def spoken_pace(self, run: _Pass, key: int) -> Pace:
        """The pace a ``say`` (or the caution) names: that of the breath it leads to."""
        step = self.next_breathe[key]
        if step is None or self.ramped(step):
            return self.pace_from(self.samples_now(run))
        return self.pace_of(step)

    def samples_now(self, run: _Pass) -> PhaseSamples:
        """The phases of the next ramped breath (the session pace without a ramp)."""
        if self.end_samples is None:
            return self.start_samples
        return ramp_pace(self.start_samples, self.end_samples,
                         min(run.breath, max(0, run.breaths - 1)), run.breaths)

    def pace_from(self, phases: PhaseSamples) -> Pace:
        if self.end_samples is None and phases == self.start_samples:
            return self.start
        return Pace(*(round(samples / self.rate, 3) for samples in phases))

    def samples(self, seconds: float) -> int:
        return round(seconds * self.rate)

    def build(self) -> Timeline:
        fill = next((step for step in self.routine.steps
                     if isinstance(step, Repeat) and step.times is None), None)
        if fill is None:
            if self.settings.minutes is not None:
                self.notes.append(
                    f"{self.routine.id} has a fixed length; --minutes does not change it")
            blocks, _, notes = self.sequence(0)
            self.notes.extend(notes)
            return self.layout(blocks)
        times = self.fill_times(fill)
        blocks, middle, notes = self.sequence(times)
        self.notes.extend(notes)
        self.stretch(blocks, middle)
        return self.layout(blocks)

    def target(self) -> int:
        return self.samples((self.settings.minutes or self.routine.minutes) * 60.0)

    def length(self, times: int) -> int:
        """Samples of the session, unstretched, with ``times`` repetitions of the fill."""
        blocks, _, _ = self.sequence(times)
        return sum(block.samples for block in blocks)

    def fill_times(self, repeat: Repeat) -> int:
        """Repetitions of the filling repeat: as many as fit the target (``fill_count``),
        with a note when even one is too long."""
        target = self.target()
        length = functools.cache(self.length)
        shortest = length(1)
        if shortest > target:
            minutes = self.settings.minutes or self.routine.minutes
            self.notes.append(
                f"the shortest {self.routine.id} session lasts"
                f" {minutes_seconds(shortest / self.rate)},"
                f" longer than the {minutes:g}-minute target; it plays that long"
            )
        run = _Pass(breaths=0)  # without a ramp: each repetition alone, no breath counted
        steady = None if self.end_samples is not None else (
            lambda nth: self.repetition(run, repeat, repeat.count_from + nth - 1, "",
                                        nth).samples)
        times = fill_count(target, length, steady)
        self.notes.extend(run.notes)
        return times

    def sequence(self, times: int) -> tuple[list[_Block], list[_Block], list[str]]:
        """Every block of the session in order, the filling repeat played ``times`` times;
        the blocks of those repetitions; the notes of this pass."""
        run = _Pass(breaths=self.count_breaths(times))
        opening = _Block(self.words.starting, [_Item("silence", self.samples(LEAD_IN_S))])
        self.add_cue(opening, "start")
        blocks: list[_Block] = [opening]
        if self.settings.caution and self.routine.caution:
            text = fill_placeholders(self.routine.caution, None,
                                     self.spoken_pace(run, id(self.routine)), self.lang)
            caution = _Block(self.words.caution, source="caution")
            self.add_speech(caution, text, self.routine.pause_s)
            blocks.append(caution)
        middle: list[_Block] = []
        for entry, step in enumerate(self.routine.steps, start=1):
            source = f"steps[{entry}]"
            if isinstance(step, Repeat):
                count = times if step.times is None else step.times
                repetitions = [self.repetition(run, step, step.count_from + done, source,
                                               done + 1) for done in range(count)]
                blocks.extend(repetitions)
                if step.times is None:
                    middle = repetitions
            else:
                block = self.block(run, step, None)
                block.source = source
                blocks.append(block)
        closing = _Block(short_title(self.words.session_complete))
        self.add_cue(closing, "end")
        self.add_speech(closing, self.words.session_complete, 0.0, pause=False)
        closing.items.append(_Item("silence", self.samples(TAIL_S)))
        blocks.append(closing)
        return blocks, middle, run.notes

    def count_breaths(self, times: int) -> int:
        """Ramped breaths in a session whose filling repeat plays ``times`` times."""
        total = 0
        for step in self.routine.steps:
            if isinstance(step, Repeat):
                each = sum(inner.count for inner in step.steps
                           if isinstance(inner, Breathe) and self.ramped(inner))
                total += each * (times if step.times is None else step.times)
            elif isinstance(step, Breathe) and self.ramped(step):
                total += step.count
        return total

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
        for (block, index), extra in zip(places, shares(slack, weights), strict=True):
            item = block.items[index]
            block.items[index] = _Item("silence", item.samples + extra, pause=True)

    def repetition(self, run: _Pass, repeat: Repeat, number: int, source: str,
                   nth_time: int) -> _Block:
        """Repetition ``nth_time`` (1, 2, ...) of the repeat at ``source``; ``{n}`` is
        ``number``."""
        parts = [self.block(run, step, number) for step in repeat.steps]
        label = (self.title(repeat.title, number) if repeat.title is not None else
                 next((p.label for p in parts if p.items and p.items[0].kind == "speech"),
                      parts[0].label))
        block = _Block(label, source=f"{source}, {self.words.repetition} {nth_time}")
        if repeat.cue is not None:
            self.add_cue(block, repeat.cue)
        for part in parts:
            block.items.extend(part.items)
        return block

    def block(self, run: _Pass, step: Step, number: int | None) -> _Block:
        if isinstance(step, Say):
            text = fill_placeholders(step.text, number, self.spoken_pace(run, id(step)),
                                     self.lang)
            block = _Block(short_title(text) if step.title is None
                           else self.title(step.title, number))
            self.add_speech(block, text, step.hold_s)
            return block
        assert isinstance(step, Breathe)
        return self.breathe(run, step, number)

    def title(self, title: str, number: int | None) -> str:
        """A routine's title for a step, placeholders filled, its first letter a capital
        (``{nth} spot`` is ``Second spot``)."""
        filled = fill_placeholders(title, number, self.start, self.lang)
        return filled[:1].upper() + filled[1:]

    def breathe(self, run: _Pass, step: Breathe, number: int | None) -> _Block:
        ramped = self.ramped(step) and self.end_samples is not None
        if ramped:
            breaths = [self.samples_now(run)]
            for _ in range(step.count - 1):
                run.breath += 1
                breaths.append(self.samples_now(run))
            run.breath += 1
        else:
            breaths = [pace_samples(self.pace_of(step), self.rate)] * step.count
        block = _Block(breaths_label(step.count, breaths[0], breaths[-1], self.rate, self.words)
                       if step.title is None else self.title(step.title, number))
        pace = self.pace_from(breaths[0])
        inhale_prompt, exhale_prompt = (fill_placeholders(prompt, number, pace, self.lang)
                                        if prompt else None
                                        for prompt in (step.inhale_prompt, step.exhale_prompt))
        for breath, (inhale, hold_in, exhale, hold_out) in enumerate(breaths):
            prompted = breath < step.prompt_breaths
            self.add_phase(run, block, "inhale", inhale, inhale_prompt if prompted else None)
            self.add_phase(run, block, "hold", hold_in, None)
            self.add_phase(run, block, "exhale", exhale, exhale_prompt if prompted else None)
            self.add_phase(run, block, "hold", hold_out, None)
        return block

    def add_phase(self, run: _Pass, block: _Block, role: CueRole, phase: int,
                  prompt: str | None) -> None:
        """A breath phase of ``phase`` samples: its cue at the start, an optional prompt,
        silence to the end.

        A prompt that does not fit grows the phase rather than overlapping the next cue.
        """
        if phase <= 0:
            return
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
            run.notes.append(
                f"{role} grew from {phase / self.rate:g} s to {used / self.rate:.2f} s to fit"
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
            events=tuple(merge_silences(events)),
            step_labels=tuple(block.label for block in blocks),
            notes=tuple(dict.fromkeys(self.notes)),
            step_sources=tuple(block.source for block in blocks),
            lang=self.lang,
        )


