"""Putting a session together: routine + options -> timeline with real clips.

This is the seam between the pure core (plan, mix) and the parts at the edges (the
speech engine, the clip cache, cue files); those come in as arguments so tests can
hand in fakes or the real thing.
"""

from __future__ import annotations

import contextlib
import functools
import math
import tempfile
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Protocol

from voice_coach import heap
from voice_coach.ambient import BedSpec, with_tail
from voice_coach.cache import ClipCache
from voice_coach.cues import load_cues
from voice_coach.errors import VoiceCoachError
from voice_coach.lines import Leveler, SharedEngine, SpokenLines
from voice_coach.loudness import TARGET_LUFS
from voice_coach.mix import Clips, LeveledCache, Levels, Mixer, leveled_key
from voice_coach.pcm import Samples
from voice_coach.plan import (
    PlanSettings,
    SpeechLength,
    Timeline,
    estimated_speech_length,
    plan,
    resumed,
)
from voice_coach.routine import BUILTIN_CUES, CueRole, CueSource, Repeat, Routine, speak_as
from voice_coach.speech import Engine, EngineIdentity, SpeechError, SpeechSettings, render_clips

MAX_PLAN_ROUNDS = 4
"""Re-plans with real lengths; a fill repeat may need new lines (a further {nth})."""
FIRST_BATCH: Final = 2
"""Lines rendered before the first is final: the first, and one more beside it on an
engine that renders two at once (Piper's second thread would wait otherwise)."""
RENDER_BATCH: Final = 8
"""Lines rendered (or read from the cache) at a time: only a batch is ever held at once."""
ESTIMATE_MARGIN: Final = 1.5
"""How much longer than estimated a line may turn out while a filled session keeps its
length: such a session's length is known before any speech is rendered."""
BOUND_MARGIN: Final = 3.0
"""How much longer than estimated the lines of a session whose length is not known before
they are rendered may turn out: its stream's buffer is as long as that (``Composer.capacity``;
its pages cost nothing until written). Measured: 0.55-1.95 times, Piper in French the most."""


class SessionError(VoiceCoachError):
    """The options for a session are out of range."""


@dataclass(frozen=True)
class SessionOptions:
    """Everything the person chose that changes what is heard.

    ``volume`` (0-1) and ``chime_volume`` (0-2, relative to the voice at full volume) are
    the mixer's levels: changing them renders nothing anew.
    """

    plan: PlanSettings = field(default_factory=PlanSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    volume: float = 1.0
    chime_volume: float = 1.0
    cue_overrides: Mapping[CueRole, CueSource] = field(default_factory=dict)
    ambient: BedSpec | None = None
    """The bed under the session (``voice_coach.ambient``); None: silence between clips."""
    from_step: int = 0
    """Resume at this step (an index of the whole session's steps): the opening, then it
    and the rest (``plan.resumed``); 0 plays the whole session."""

    @property
    def tail_s(self) -> float:
        """Seconds the bed plays on after the session's end (``--tail``)."""
        return self.ambient.tail_s if self.ambient is not None else 0.0

    def __post_init__(self) -> None:
        _check_level("volume", self.volume, 1)
        _check_level("chime volume", self.chime_volume, 2)

    @property
    def levels(self) -> Levels:
        return Levels(voice=self.volume, chime=self.chime_volume, target_lufs=TARGET_LUFS,
                      bed=self.ambient)


def _check_level(name: str, value: float, top: int) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= top):
        raise SessionError(f"{name} must be from 0 to {top}, got {value!r}")


@dataclass(frozen=True)
class Session:
    """A timeline and the clips it plays, ready to mix."""

    timeline: Timeline
    clips: Clips
    levels: Levels
    cache: LeveledCache | None = None

    def mixer(self) -> Mixer:
        return Mixer(self.timeline, self.clips, self.levels, self.cache)

    @classmethod
    def of(cls, score: Score) -> Session:
        mixer = score.mixer
        return cls(mixer.timeline, mixer.clips, mixer.levels, mixer.cache)


def cue_lengths(cues: Mapping[CueRole, Samples]) -> Callable[[CueRole], int]:
    return lambda role: len(cues[role])


def estimate_timeline(routine: Routine, options: SessionOptions) -> Timeline:
    """The plan from word counts alone: no engine, only the cue files."""
    cues = load_cues(routine, options.cue_overrides)
    return with_tail(plan(routine, options.plan,
                          estimated_speech_length(options.speech.rate_wpm,
                                                  options.plan.sample_rate),
                          cue_lengths(cues)), options.tail_s)


def build_session(routine: Routine, options: SessionOptions,
                  engine_factory: Callable[[], Engine], cache: ClipCache | None,
                  progress: Callable[[int, int], None] | None = None) -> Session:
    """Render every line the session speaks and plan it with their real lengths.

    Planning needs lengths and rendering needs the lines, so: plan from estimates, render
    what that plan speaks, plan again with real lengths, and render any line the new
    plan adds, until nothing new appears. The clips stay in the cache (a private one
    with ``cache`` None) and only a few are held in memory, so a long session's speech
    never is all at once.
    """
    composer = Composer(routine, options, engine_factory, cache, progress)
    return Session.of(composer.whole())


# --- Composing a session while it plays ------------------------------------------------


@dataclass(frozen=True)
class Score:
    """What is settled so far: the samples ``[0, final)`` of ``mixer`` never change again.

    ``complete``: every line is rendered and the plan is final (``final`` is its length).
    """

    mixer: Mixer
    final: int
    complete: bool


class Composer:
    """Renders a session's speech and says, as it goes, what is final.

    What never depends on a line not yet rendered: everything before the first spoken
    line (the lead-in and the start chime), then that line itself once rendered. Past it,
    two kinds of session:

    - A session that fills ``--minutes`` spreads slack over every pause, so a pause early
      in it depends on the length of every line: the rest becomes final all at once when
      the last line's length is known. ``scores()`` yields three stages.
    - A session laid out line after line (``in_order``: a routine without a filling
      repeat, or one whose shortest session is longer than its minutes even with silent
      lines) places each event after the ones before it, so everything before the first
      line not yet rendered is final. Its lines are rendered in order and ``scores()``
      yields a stage per batch.

    ``length`` is the session's length in samples when it is known before any speech is
    rendered (a session filling its minutes, even with lines ``ESTIMATE_MARGIN`` times
    longer than estimated), else None. ``capacity`` is that length, else the length with
    every line ``BOUND_MARGIN`` times longer than estimated: the session is never longer
    (a ``SpeechError`` says so if its lines were), and a stream that long can play it.
    """

    def __init__(self, routine: Routine, options: SessionOptions,
                 engine_factory: Callable[[], Engine], cache: ClipCache | None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.routine = routine
        self.options = options
        self._factory = engine_factory
        self._progress = progress
        self._cues = load_cues(routine, options.cue_overrides)
        self._own_cues = own_cue_files(routine, options)
        self._private: tempfile.TemporaryDirectory[str] | None = None  # for --no-cache
        if cache is None:
            self._private = tempfile.TemporaryDirectory(prefix="voice-coach-clips-")
            cache = ClipCache(Path(self._private.name))
        self._cache = cache
        self._estimate = estimated_speech_length(options.speech.rate_wpm,
                                                 options.plan.sample_rate)
        self._tail = round(options.tail_s * options.plan.sample_rate)
        known = self._known_length()
        self.in_order = known is None and self._laid_out_in_order()
        self.length = None if known is None else known + self._tail
        self.capacity = self.length if self.length is not None else self._plan(
            lambda text: math.ceil(self._estimate(text) * BOUND_MARGIN)).duration + self._tail
        engine = engine_factory.name if isinstance(engine_factory, EngineIdentity) else ""
        self._engine_name = engine.partition("-")[0]  # "pyttsx3-espeak": as in [pronounce]

    def _say(self, text: str) -> str:
        """What the engine is given for ``text``: the routine's ``[pronounce]`` applied
        (captions and the timeline keep ``text``)."""
        return speak_as(text, self.routine.pronounce, self._engine_name)

    def close(self) -> None:
        """Remove the private cache, if any. Idempotent."""
        if self._private is not None:
            self._private.cleanup()

    def _plan(self, length: SpeechLength) -> Timeline:
        return plan(self.routine, self.options.plan, length, cue_lengths(self._cues))

    def _fills(self) -> bool:
        return any(isinstance(step, Repeat) and step.times is None for step in self.routine.steps)

    def _target(self) -> int:
        minutes = self.options.plan.minutes or self.routine.minutes
        return round(minutes * 60.0 * self.options.plan.sample_rate)

    def _known_length(self) -> int | None:
        if not self._fills():
            return None
        longer = self._plan(lambda text: math.ceil(self._estimate(text) * ESTIMATE_MARGIN))
        return self._target() if longer.duration == self._target() else None

    def _laid_out_in_order(self) -> bool:
        """Whether each event's place depends only on the lines before it: nothing fills
        the minutes, or the session overruns them even with every line silent (then the
        filling repeat plays once and no pause is stretched, whatever the lines)."""
        return not self._fills() or self._plan(lambda text: 0).duration > self._target()

    def _mixer(self, timeline: Timeline, speech: Mapping[str, Samples]) -> Mixer:
        """The mixer of ``timeline`` as planned, with the tail, if any, after it."""
        timeline = with_tail(timeline, self.options.tail_s)
        sources = speech.source if isinstance(speech, SpokenLines) else None
        return Mixer(timeline, Clips(speech, self._cues, self._own_cues, sources),
                     self.options.levels, self._cache)

    def scores(self) -> Generator[Score, None, None]:
        """The opening, then the first line, then the rest (see the class); a resumed
        session (``from_step``) only once complete, since where its steps begin depends
        on every line before them.

        Raises ``SpeechError`` (and whatever the engine raises) when rendering fails or
        the session would be longer than ``capacity``.
        """
        if self.options.from_step <= 1:
            yield from self._whole_session()
            return
        with contextlib.closing(self._whole_session()) as whole:
            complete = next(score for score in whole if score.complete)
        view = resumed(complete.mixer.timeline, self.options.from_step)
        yield Score(replace(complete.mixer, timeline=view), view.duration, True)

    def _whole_session(self) -> Generator[Score, None, None]:
        heap.return_freed_blocks()
        shared = SharedEngine(self._factory)
        lines = SpokenLines(self._cache, self.options.speech, shared, keep=self._private,
                            say=self._say, engine_factory=self._factory)
        leveler = Leveler()  # given the mixer's leveling once there is a plan

        def length(text: str) -> int:
            return lines.length(text) if text in lines else self._estimate(text)

        try:
            timeline = self._plan(length)
            texts = timeline.speech_texts()
            if not texts:
                whole = self._mixer(timeline, lines)
                yield Score(whole, whole.timeline.duration, True)
                return
            first = next(e for e in timeline.events if e.kind == "speech")
            opening = self._mixer(timeline, lines)
            leveler.prepare = opening.prepare_speech
            yield Score(opening, first.start, False)
            render = functools.partial(self._render, lines=lines, engine_factory=shared,
                                       leveler=leveler)
            render(texts[:FIRST_BATCH], done=0, total=len(texts))
            timeline = self._plan(length)
            if self.in_order:
                timeline = yield from self._rest_in_order(timeline, length, lines, render)
            else:
                spoken = next(e for e in timeline.events if e.kind == "speech")
                yield Score(self._mixer(timeline, lines), spoken.end, False)
                timeline = self._rest_at_once(timeline, length, lines, render)
            target = None if self.length is None else self.length - self._tail
            if target is not None and timeline.duration != target:
                raise SpeechError(
                    f"the spoken lines came out much longer than expected, so the session"
                    f" no longer lasts {_minutes_text(target, timeline.sample_rate)};"
                    " use 'voice-coach export' or a longer --minutes")
            self._check_capacity(timeline.duration)
            shared.close()  # the engine's helper and its memory go before the mix
            leveler.wait()
            whole = self._mixer(timeline, lines)
            yield Score(whole, whole.timeline.duration, True)
        finally:
            shared.close()
            leveler.close()

    def _rest_at_once(self, timeline: Timeline, length: SpeechLength, lines: SpokenLines,
                      render: _Render) -> Timeline:
        """Render every line the plan still lacks; the plan with all their lengths."""
        for _ in range(MAX_PLAN_ROUNDS):
            missing = [text for text in timeline.speech_texts() if text not in lines]
            if not missing:
                return timeline
            # Nothing more is final until the last line is known, so the order is free:
            # longest first, so no batch ends waiting on one long line alone.
            render(sorted(missing, key=len, reverse=True), done=len(lines),
                   total=len(lines) + len(missing))
            timeline = self._plan(length)
        if any(text not in lines for text in timeline.speech_texts()):
            raise RuntimeError("the plan did not settle on a set of lines")  # pragma: no cover
        return timeline

    def _rest_in_order(self, timeline: Timeline, length: SpeechLength, lines: SpokenLines,
                       render: _Render) -> Generator[Score, None, Timeline]:
        """Render the lines the plan still lacks in the order they are spoken, a batch at a
        time, yielding what is final before each; the plan with all their lengths."""
        while True:
            missing = [text for text in timeline.speech_texts() if text not in lines]
            if not missing:
                return timeline
            final = next(e.start for e in timeline.events
                         if e.kind == "speech" and e.text not in lines)
            self._check_capacity(final)
            yield Score(self._mixer(timeline, lines), final, False)
            render(missing[:RENDER_BATCH], done=len(lines), total=len(lines) + len(missing))
            timeline = self._plan(length)

    def _check_capacity(self, samples: int) -> None:
        """A ``SpeechError`` when ``samples`` of the session would not fit its capacity."""
        if samples > self.capacity:
            raise SpeechError(
                f"the spoken lines came out over {BOUND_MARGIN:g} times longer than expected;"
                " 'voice-coach export' writes the session whatever its length")

    def whole(self) -> Score:
        """The complete score, every line rendered (the engine is closed on return)."""
        with contextlib.closing(self.scores()) as scores:
            for score in scores:
                if score.complete:
                    return score
        raise RuntimeError("the plan did not settle")  # pragma: no cover

    def _render(self, texts: Sequence[str], *, lines: SpokenLines,
                engine_factory: Callable[[], Engine], done: int, total: int,
                leveler: Leveler) -> None:
        """Render (or read) ``texts`` in order, a batch at a time, into ``lines``; each
        batch is leveled (``leveler``) while the next renders."""
        progress = self._progress

        def counted(batch_done: int, _: int) -> None:
            if progress is not None:
                progress(done + batch_done, total)

        known = self._leveled_in_cache(texts, lines)
        if known:
            done += known
            counted(0, total)
            texts = [text for text in texts if text not in lines]
        for begin in range(0, len(texts), RENDER_BATCH):
            batch = texts[begin:begin + RENDER_BATCH]
            said = [self._say(text) for text in batch]
            clips = render_clips(said, self.options.speech, engine_factory, self._cache,
                                 counted)
            for text, spoken in zip(batch, said, strict=True):
                lines.add(text, clips[spoken])
                leveler.submit(text, clips[spoken])
            done += len(batch)

    def _leveled_in_cache(self, texts: Sequence[str], lines: SpokenLines) -> int:
        """Add to ``lines`` each of ``texts`` whose line and leveled line the cache holds,
        from their headers alone; how many. The mix reads the leveled line when it needs
        it, and nothing reads the line itself: a warm session reads each line once."""
        levels = self.options.levels
        if levels.target_lufs is None or levels.voice > 1.0:
            return 0
        count = 0
        for text in dict.fromkeys(texts):
            entry = self._cache.entry(lines.cache_key(text))
            if entry is None:
                continue
            leveled = leveled_key(entry.digest, self.options.plan.sample_rate,
                                  levels.target_lufs, 0.0)
            if self._cache.entry(leveled) is not None:
                lines.add_known(text, entry)
                count += 1
        return count


class _Render(Protocol):
    """``Composer._render`` with the session's lines, engine and leveler given."""

    def __call__(self, texts: Sequence[str], *, done: int, total: int) -> None: ...


def _minutes_text(samples: int, sample_rate: int) -> str:
    return f"{samples / sample_rate / 60:g} minutes"


def own_cue_files(routine: Routine, options: SessionOptions) -> frozenset[CueRole]:
    """The cue roles the person gave a sound file for: those play as the file holds them."""
    chosen: dict[CueRole, CueSource] = dict(routine.cues)
    chosen.update(options.cue_overrides)
    return frozenset(role for role, source in chosen.items()
                     if source is not None and not (isinstance(source, str)
                                                    and source in BUILTIN_CUES))
