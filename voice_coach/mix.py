"""The mixer: a timeline and its clips -> session PCM, any range of it, to the sample.

Pure. Each speech and cue event is laid at its start sample; silence is zeros. The same
function feeds ``play`` (the whole session at once) and ``export`` (in chunks, so a long
session never needs its whole length in memory twice).

Levels are applied here and only here: clips arrive as rendered (speech at the engine's
level, cues as their files hold them). With a loudness target (``Levels.target_lufs``,
what every session uses) each clip is first measured and calibrated to it, and its true
peaks limited, by ``loudness.level``: so voice and built-in chimes are balanced whatever
the engine or voice, and the session is at the target because every clip is. A cue from
the person's own file plays as the file holds it (``Clips.as_recorded``).
Then the person's gains scale each clip by one gain function, ``apply_gain``: the chime
gain is relative to the full voice and independent of the voice gain (a quieter voice
leaves the chimes as they are). A gain above 1 goes into the calibration instead, so
the limiter sees it; without a target, a gain that would push a clip past full scale
is lowered for that clip. Events never overlap, so no sum can clip or wrap.

Every clip is leveled on its own, once, the first time it is asked for: a range of the
session needs only the clips it holds, and is the same samples as that range of the
whole mix.

An ambient bed (``Levels.bed``, ``voice_coach.ambient``) is added under the clips last, in
floating point, and the sum rounded once: the bed is known at any sample, so a range with
a bed is still that range of the whole mix. Its level and peak ceiling are set so the sum
keeps the session's loudness and true-peak promises (docs/loudness.md); without a bed
the samples are exactly the clips'.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from voice_coach import ambient, heap, loudness
from voice_coach.pcm import Samples
from voice_coach.routine import CueRole
from voice_coach.timeline import Event, Timeline

FULL_SCALE = 32767
GAIN_CHUNK = 8192
"""Samples scaled at a time (``apply_gain``): their float64 products (64 kB) come from the
heap, reused, where a whole clip's would be a fresh mapping faulted in page by page."""
_LEVELING = threading.Lock()
"""One clip leveled at a time in the process (a line ahead of the mix, and the mix): a long
line's leveling holds megabytes, and two at once would double that peak."""
LEVELED_BYTES = 8 * 1024 * 1024
"""Speech kept leveled (the least recently used is dropped first, and the last one made is
always kept): a default session's 25 lines all stay, so an export reads each once; a long
session's speech is never all held. Cues, a handful used over and over, are all kept."""
BED_PIECE = 16384
"""Samples of bed mixed at a time: a chunk of export or play needs no full-length floats."""


@dataclass(frozen=True)
class Clips:
    """The audio the timeline refers to: speech by its text, cues by their role."""

    speech: Mapping[str, Samples]
    cues: Mapping[CueRole, Samples]
    as_recorded: frozenset[CueRole] = frozenset()
    """Cues from the person's own files: they play at the level the file holds (only the
    chime volume applies), never calibrated or limited."""
    sources: Callable[[str], str] | None = field(default=None, compare=False)
    """Names a spoken line's exact samples without them (the clip cache's checksum of its
    entry): the line's leveled clip is then found in the cache without reading the line.
    None: the samples are hashed."""


@dataclass(frozen=True)
class Levels:
    """How loud clips play: ``target_lufs`` calibrates every clip to that loudness (None:
    as rendered), then the linear gains apply. ``voice`` is the person's volume."""

    voice: float = 1.0
    chime: float = 1.0
    target_lufs: float | None = None
    bed: ambient.BedSpec | None = None
    """The ambient bed under the session and its volume; None: silence between clips."""


class LeveledCache(Protocol):
    """Where leveled clips are kept between runs (``cache.ClipCache``): leveling measures
    and limits every clip, a few milliseconds per 10 s of speech, so a session played or
    exported again takes them from here."""

    def get_leveled(self, key: str) -> loudness.Leveled | None: ...

    def put_leveled(self, key: str, leveled: loudness.Leveled) -> None: ...


@dataclass(frozen=True)
class Mixer:
    """A timeline ready to mix; build once, then ask for ranges. ``cache``, when given,
    keeps leveled clips across runs; the samples are the same either way."""

    timeline: Timeline
    clips: Clips
    levels: Levels = field(default_factory=Levels)
    cache: LeveledCache | None = field(default=None, compare=False)
    _held: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)
    """Guards the leveled clips kept (``_leveled``): an export asks for a session's
    ranges on one thread and its lines on another, and each line is fetched once."""

    @cached_property
    def _starts(self) -> list[int]:
        return [event.start for event in self.timeline.events]

    @cached_property
    def bed_span(self) -> ambient.BedSpan | None:
        """Where the bed plays (None without one): in over the opening, out under the
        closing step's end chime."""
        return None if self.levels.bed is None else ambient.session_span(self.timeline)

    @cached_property
    def _leveled(self) -> OrderedDict[tuple[str, str], loudness.Leveled]:
        """Clips as they play, each leveled once however often it is asked for."""
        return OrderedDict()

    def clip_for(self, event: Event) -> Samples | None:
        """The samples an event plays, leveled; None for silence."""
        leveled = self.leveled_for(event)
        return None if leveled is None else leveled.samples

    def leveled_for(self, event: Event) -> loudness.Leveled | None:
        """An event's clip as it plays, with the gain and limiting it took; None for silence."""
        if event.kind == "speech" and event.text is not None:
            text = event.text
            key, gain = ("speech", text), self.levels.voice
            fetch: Callable[[], Samples] = functools.partial(self.clips.speech.__getitem__, text)
            source = self._source(text)
        elif event.kind == "cue" and event.cue is not None:
            key, gain = ("cue", event.cue), self.levels.chime
            fetch, source = functools.partial(self.clips.cues.__getitem__, event.cue), None
        else:
            return None
        with self._held:
            leveled = self._leveled.get(key)
            if leveled is not None:
                self._leveled.move_to_end(key)
                return leveled
            calibrate = not (event.kind == "cue" and event.cue in self.clips.as_recorded)
            leveled = self._leveled[key] = self._level(fetch, source, gain, calibrate)
            speech = [k for k in self._leveled if k[0] == "speech"]
            held = sum(self._leveled[k].samples.nbytes for k in speech)
            for oldest in speech[:-1]:
                if held <= LEVELED_BYTES:
                    break
                held -= self._leveled.pop(oldest).samples.nbytes
            return leveled

    def leveled_clips(self) -> list[loudness.Leveled]:
        """Every clip the session plays, once each, as it plays (leveling any not yet)."""
        seen: dict[tuple[str, str], loudness.Leveled] = {}
        for event in self.timeline.events:
            leveled = self.leveled_for(event)
            if leveled is not None:
                seen[(event.kind, event.text or event.cue or "")] = leveled
        return list(seen.values())

    def _source(self, text: str) -> str | None:
        return self.clips.sources(text) if self.clips.sources is not None else None

    def _level(self, fetch: Callable[[], Samples], source: str | None, gain: float,
               calibrate: bool) -> loudness.Leveled:
        """The clip ``fetch`` gives, leveled and at ``gain``; from the cache when it has it
        (then the clip is fetched only when ``source`` is None, to name it)."""
        target = self.levels.target_lufs
        if target is None or not calibrate:
            gain_db = 20 * math.log10(gain) if gain > 0 else -math.inf
            return loudness.Leveled(apply_gain(fetch(), gain), gain_db, 0.0)
        extra_gain_db = 20 * math.log10(max(gain, 1.0))
        clip = None
        if source is None:
            clip = fetch()
            source = samples_source(clip)
        key = leveled_key(source, self.timeline.sample_rate, target, extra_gain_db)
        calibrated = self.cache.get_leveled(key) if self.cache is not None else None
        if calibrated is None:
            with _LEVELING:
                calibrated = self.cache.get_leveled(key) if self.cache is not None else None
                if calibrated is None:  # not leveled meanwhile by another thread
                    if clip is None:
                        clip = fetch()
                    with heap.reusing_big_blocks():
                        calibrated = loudness.level(clip, self.timeline.sample_rate, target,
                                                    extra_gain_db)
                    if self.cache is not None:
                        self.cache.put_leveled(key, calibrated)
        if gain >= 1.0:
            return calibrated
        gain_db = calibrated.gain_db + 20 * math.log10(gain) if gain > 0 else -math.inf
        return loudness.Leveled(apply_gain(calibrated.samples, gain), gain_db,
                                calibrated.reduction_db)

    def prepare_speech(self, text: str, clip: Samples) -> None:
        """Level a spoken line (``clip``, rendered for ``text``) into the cache before the
        mix asks for it (from any thread), so leveling overlaps rendering instead of
        following it."""
        if self.cache is not None:  # the voice's volume (at most 1) applies only in the mix
            self._level(lambda: clip, self._source(text), max(self.levels.voice, 1.0), True)

    def render(self, start: int = 0, stop: int | None = None) -> Samples:
        """Session samples ``start`` to ``stop`` (default: the end)."""
        end = self.timeline.duration if stop is None else min(stop, self.timeline.duration)
        out = np.zeros(max(0, end - start), dtype=np.int16)
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        for event in self.timeline.events[first:]:
            if event.start >= end:
                break
            if event.end <= start or event.kind == "silence":
                continue
            clip = self.clip_for(event)
            if clip is None:
                continue
            if len(clip) != event.end - event.start:
                raise ValueError(
                    f"clip for {event.kind} at sample {event.start} has {len(clip)} samples,"
                    f" the timeline says {event.end - event.start}"
                )
            lo, hi = max(start, event.start), min(end, event.end)
            out[lo - start:hi - start] = clip[lo - event.start:hi - event.start]
        return self._with_bed(out, start)

    def _with_bed(self, out: Samples, start: int) -> Samples:
        """``out`` (the clips at ``start``) with the bed added under them, rounded once."""
        span, bed = self.bed_span, self.levels.bed
        if span is None or bed is None or start >= span.end or not len(out):
            return out
        # a bed's blocks are FFTs of 256 KB arrays: each given a mapping of its own and
        # faulted in afresh, the bed spent twice as long in the kernel as computing
        with heap.reusing_big_blocks():
            for lo in range(0, min(len(out), span.end - start), BED_PIECE):
                hi = min(lo + BED_PIECE, len(out))  # a piece at a time: small temporaries
                under = ambient.bed_range(bed, span, self.timeline.sample_rate, start + lo,
                                          start + hi)
                under *= 32768.0
                under += out[lo:lo + len(under)]
                np.rint(under, out=under)
                np.clip(under, -FULL_SCALE, FULL_SCALE, out=under)
                out[lo:lo + len(under)] = under
        return out


def leveled_key(source: str, sample_rate: int, target_lufs: float,
                extra_gain_db: float) -> str:
    """The cache's key for a clip leveled so: SHA-256 of the recipe and ``source``, what
    names the clip's samples (``Clips.sources``, ``samples_source``)."""
    recipe = (f"leveled/{loudness.RECIPE_VERSION}/{sample_rate}/{target_lufs!r}"
              f"/{extra_gain_db!r}/{source}")
    return hashlib.sha256(recipe.encode()).hexdigest()


def samples_source(clip: Samples) -> str:
    """What names a clip that has no other name: SHA-256 (hex) of its samples."""
    return hashlib.sha256(np.ascontiguousarray(clip, dtype="<i2").data).hexdigest()


def mix(timeline: Timeline, clips: Clips, levels: Levels | None = None) -> Samples:
    """The whole session as one array."""
    return Mixer(timeline, clips, levels or Levels()).render()


def apply_gain(clip: Samples, gain: float) -> Samples:
    """``clip`` scaled linearly by ``gain``, rounded to the nearest integer (half to even).

    The product is a float64 (a float32 one is off by one in about 0.1 % of samples at
    gains such as 0.7). A gain that would take the clip's peak past full scale is lowered
    to just reach it.
    """
    if gain == 1.0 or len(clip) == 0:
        return clip
    peak = max(int(clip.max()), -int(clip.min()))
    safe_gain = min(gain, FULL_SCALE / peak) if peak else gain
    limited: Samples = np.empty(len(clip), dtype=np.int16)
    scaled = np.empty(min(len(clip), GAIN_CHUNK))
    for start in range(0, len(clip), GAIN_CHUNK):
        part = scaled[:len(clip) - start]
        np.multiply(clip[start:start + GAIN_CHUNK], safe_gain, out=part)
        np.rint(part, out=part)
        np.clip(part, -FULL_SCALE, FULL_SCALE, out=part)
        limited[start:start + len(part)] = part
    return limited
