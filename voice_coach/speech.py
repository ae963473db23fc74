"""Speech: text in, verified session-format samples out, through any engine.

What the rest of the program needs from a text-to-speech engine is the small ``Engine``
interface below: render lines into checked clips of the session format, list voices, and
say who it is (its ``name`` and ``version``, part of every cache key). Each engine lives in
its own module under ``voice_coach.engines``, with its workarounds; this module holds what
is the same for all of them: the settings, voice lookup, and ``render_clips``, which takes
clips from the cache and renders only the misses.

Levels are not speech: an engine renders at its own full level and the mixer applies the
voice volume, so a volume change never renders (or caches) a line again. Why the engines
are driven the way they are is in ``docs/engines.md``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from voice_coach.cache import ClipCache
from voice_coach.config import DEFAULT_RATE_WPM, MAX_RATE_WPM, MIN_RATE_WPM
from voice_coach.errors import VoiceCoachError
from voice_coach.pcm import SAMPLE_RATE, Samples

CLIP_KEY_VERSION: Final = 2
"""Bump when what a clip key covers changes (version 1 also covered the volume)."""
CACHE_READERS: Final = 4
"""Threads reading cached clips (reading and checksumming release the GIL)."""


class SpeechError(VoiceCoachError):
    """Speech could not be rendered."""


class UnknownVoiceError(SpeechError):
    """The voice asked for is not one the engine has."""

    exit_code = 2


@dataclass(frozen=True)
class SpeechSettings:
    """How lines are spoken. ``voice`` is an engine voice id or a language; None: default."""

    rate_wpm: int = DEFAULT_RATE_WPM
    voice: str | None = None

    def __post_init__(self) -> None:
        rate = self.rate_wpm
        if isinstance(rate, bool) or not isinstance(rate, int) or not (
            MIN_RATE_WPM <= rate <= MAX_RATE_WPM
        ):
            raise SpeechError(
                f"rate must be a whole number from {MIN_RATE_WPM} to {MAX_RATE_WPM}"
                f" words per minute, got {rate!r}"
            )
        if self.voice is not None and not self.voice.strip():
            raise SpeechError("voice must not be empty; run 'voice-coach voices' to list them")


@dataclass(frozen=True)
class VoiceInfo:
    """One engine voice: ``id`` is what ``--voice`` takes (``gmw/en-us``)."""

    id: str
    name: str
    languages: tuple[str, ...]


@runtime_checkable
class EngineIdentity(Protocol):
    """What identifies the sound an engine makes; part of every cache key.

    ``version`` changes whenever the same text and settings could sound different: the
    engine's own version and the version of the way we drive it (its recipe).
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


class Engine(EngineIdentity, Protocol):
    """A text-to-speech engine producing verified session-format clips.

    ``render_many`` returns one clip per text, in order: mono 16-bit samples at
    ``pcm.SAMPLE_RATE``, at the engine's full level, each checked to be what the engine
    meant to produce; a blank text gives an empty clip. It raises ``SpeechError`` when a
    line cannot be rendered, ``UnknownVoiceError`` for a voice it does not have, and calls
    ``on_clip(index, clip)`` as soon as each clip is ready (others may still be rendering).
    One engine is used by one thread; ``close`` frees what it holds and may be repeated.
    """

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None
                    ) -> list[Samples]: ...

    def voices(self) -> list[VoiceInfo]: ...

    def close(self) -> None: ...


class EngineFactory(EngineIdentity, Protocol):
    """Opens an engine and knows its identity before opening it (see ``render_clips``)."""

    def __call__(self) -> Engine: ...


# --- Pure helpers ---------------------------------------------------------------------


def speakable_text(text: str) -> str:
    """The text as an engine gets it: control characters become spaces, spaces collapse.

    espeak reads ``\\x01`` as the start of an embedded command, so no control character may
    reach it. Markup is not interpreted (no SSML flag is ever passed): ``<speak>`` is spoken.
    """
    visible = "".join(" " if unicodedata.category(char) in ("Cc", "Cs") else char
                      for char in text)
    return " ".join(visible.split())


def preview(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters for an error line, with an ellipsis if cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def resolve_voice(engine: Engine, wanted: str) -> str:
    """The engine voice id for ``wanted``: a voice id or name, or a language (``en-us``, ``fr``).

    A language picks the voice named after it (``fr`` -> ``roa/fr``), else the first voice
    speaking it, else the first speaking a variant of it (``en`` -> ``en-gb``).
    """
    voices = engine.voices()
    want = wanted.strip().lower().replace("_", "-")
    rules: tuple[Callable[[VoiceInfo], bool], ...] = (
        lambda v: v.id.lower() == want or v.name.lower() == want,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == want,
        lambda v: want in (language.lower() for language in v.languages),
        lambda v: any(language.lower().startswith(want + "-") for language in v.languages),
    )
    for rule in rules:
        for voice in voices:
            if rule(voice):
                return voice.id
    raise UnknownVoiceError(f"unknown voice {wanted!r}; run 'voice-coach voices' to list them")


def clip_key(text: str, settings: SpeechSettings, engine: EngineIdentity) -> str:
    """The cache key of a clip: SHA-256 (hex) of everything that changes how ``text`` sounds."""
    identity = {
        "key_version": CLIP_KEY_VERSION,
        "sample_rate": SAMPLE_RATE,
        "engine": engine.name,
        "engine_version": engine.version,
        "text": text,
        "voice": settings.voice,
        "rate_wpm": settings.rate_wpm,
    }
    encoded = json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


# --- Clips from the cache or the engine ----------------------------------------------------


def render_clips(texts: Iterable[str], settings: SpeechSettings,
                 engine_factory: Callable[[], Engine], cache: ClipCache | None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Samples]:
    """Samples for every distinct text, from the cache or rendered (and then cached).

    The engine is opened only on the first cache miss and closed before returning, so a
    warm cache never loads it, provided the factory knows the engine's ``name`` and
    ``version`` (an ``EngineFactory``); any other factory is opened to learn them.
    ``progress(done, total)`` counts distinct texts.
    """
    wanted = list(dict.fromkeys(texts))
    total = len(wanted)
    clips: dict[str, Samples] = {}
    engine: Engine | None = None
    try:
        keys: dict[str, str] = {}
        if cache is not None:
            identity: EngineIdentity
            if isinstance(engine_factory, EngineIdentity):
                identity = engine_factory
            else:
                identity = engine = engine_factory()
            keys = {text: clip_key(text, settings, identity) for text in wanted}
        missing: list[str] = []
        for text, hit in zip(wanted, _cached(cache, [keys.get(text, "") for text in wanted]),
                             strict=True):
            if hit is None:
                missing.append(text)
            else:
                clips[text] = hit
                if progress is not None:
                    progress(len(clips), total)
        if not missing:
            return {text: clips[text] for text in wanted}
        if engine is None:
            engine = engine_factory()

        def store(position: int, samples: Samples) -> None:
            text = missing[position]
            clips[text] = samples
            if cache is not None:
                cache.put(keys[text], samples)
            if progress is not None:
                progress(len(clips), total)

        rendered = engine.render_many(missing, settings, on_clip=store)
        for position, samples in enumerate(rendered):
            if missing[position] not in clips:  # an engine that does not stream its clips
                store(position, samples)
    finally:
        if engine is not None:
            engine.close()
    return {text: clips[text] for text in wanted}


def _cached(cache: ClipCache | None, keys: list[str]) -> Iterator[Samples | None]:
    """Each key's clip from the cache, or None: read by a few threads (reading and
    checksumming release the GIL), yielded in order as they come."""
    if cache is None:
        yield from (None for _ in keys)
        return
    if len(keys) < 4:
        yield from map(cache.get, keys)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=CACHE_READERS) as pool:
        yield from pool.map(cache.get, keys)
