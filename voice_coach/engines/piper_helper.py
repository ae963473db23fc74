"""The Piper helper process: the model loaded once, lines rendered on request.

``piper_engine.PiperEngine`` starts this module (``helper.HelperProcess``) when a session
first needs a line and ends it once the session's lines are rendered, so onnxruntime, the
model and the arena that keeps the longest line's tensors (hundreds of MB, see
``docs/engines.md``) leave with it: the player's own memory stays flat. The helper runs
at a lower priority than the player, so playback never waits for rendering.

Protocol, JSON lines: the first answer is ``{"ready": true}`` (or what went wrong); a
request ``{"texts": [...], "config": {...}}`` is answered by one line per text as it
is rendered, ``{"index": i, "clip": base64 of 16-bit little-endian samples}`` or
``{"index": i, "error": "..."}``, then ``{"done": n}``.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from voice_coach.engines.piper_engine import (
    INSTALL,
    PiperMissingError,
    VoiceFileError,
    level_line,
    read_voice_file,
)
from voice_coach.pcm import SAMPLE_RATE, Samples
from voice_coach.speech import SpeechError, preview

if TYPE_CHECKING:
    from piper import PiperVoice, SynthesisConfig

NICENESS: Final = 5
"""Added to the helper's niceness: the player and its filler run first on a busy machine."""


def serve(model: str, threads: str) -> None:
    """Load ``model`` and render lines, ``threads`` at a time, until stdin closes."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever Piper prints goes to the log, never into the answers
    os.nice(NICENESS)
    try:
        voice = load_voice(Path(model))
    except SpeechError as error:
        channel.write(json.dumps({"ready": False, "error": str(error),
                                  "voice_file": isinstance(error, VoiceFileError)}) + "\n")
        return
    channel.write(json.dumps({"ready": True}) + "\n")
    from piper import SynthesisConfig

    with concurrent.futures.ThreadPoolExecutor(int(threads), "voice-coach-piper") as pool:
        for line in sys.stdin:
            request = json.loads(line)
            config = SynthesisConfig(**request["config"], normalize_audio=False)
            texts: list[str] = request["texts"]
            # Longest first: the last line to finish is then a short one, and no core
            # waits long at the end of a batch for the other's line.
            order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
            futures = {pool.submit(render, voice, texts[index], config): index
                       for index in order}
            for future in concurrent.futures.as_completed(futures):
                channel.write(json.dumps({"index": futures[future], **_answer(future)}) + "\n")
            channel.write(json.dumps({"done": len(futures)}) + "\n")


def _answer(future: concurrent.futures.Future[Samples]) -> dict[str, Any]:
    try:
        clip = future.result()
    except SpeechError as error:
        return {"error": str(error)}
    return {"clip": base64.b64encode(clip.astype("<i2").tobytes()).decode("ascii")}


def render(voice: PiperVoice, text: str, config: SynthesisConfig) -> Samples:
    """One line, leveled (``piper_engine.level_line``); SpeechError naming it if it fails."""
    if not text:
        return np.zeros(0, dtype=np.int16)
    try:
        chunks = list(voice.synthesize(text, syn_config=config))
    except Exception as exc:  # onnxruntime and the phonemiser raise many kinds
        raise SpeechError(f'could not render "{preview(text)}": {exc}') from None
    rates = {chunk.sample_rate for chunk in chunks}
    if rates - {SAMPLE_RATE}:
        raise SpeechError(f'could not render "{preview(text)}": the voice gave'
                          f" {sorted(rates)} Hz, not {SAMPLE_RATE} Hz")
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    audio = np.concatenate([np.asarray(chunk.audio_float_array, dtype=np.float32)
                            for chunk in chunks])
    if audio.size == 0 or not np.all(np.isfinite(audio)):
        raise SpeechError(f'could not render "{preview(text)}": the voice produced no'
                          " usable sound")
    return level_line(audio)


def load_voice(model: Path) -> PiperVoice:
    """The voice in memory, each line on one onnxruntime thread that does not spin.

    A model onnxruntime cannot read (truncated, not a model) is a VoiceFileError.
    """
    voice_file = read_voice_file(model)
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as exc:
        raise PiperMissingError(f"the piper engine cannot be loaded ({exc}): {INSTALL}"
                                ) from None

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its warnings would fill the log
    try:
        config = PiperConfig.from_dict(json.loads(voice_file.config.read_text("utf-8")))
        session = onnxruntime.InferenceSession(str(voice_file.model), sess_options=options,
                                               providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors are its own classes, per cause
        raise VoiceFileError(f"{voice_file.model}: not a voice model onnxruntime can load"
                             f" ({_onnx_reason(exc, voice_file.model)})") from None
    return PiperVoice(session=session, config=config)


def _onnx_reason(error: Exception, model: Path) -> str:
    """onnxruntime's complaint in a few words, without its codes or the path again."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if "Protobuf parsing failed" in text:
        return "truncated, or not an ONNX model"
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    return preview(text.replace(f"Load model from {model} failed:", "").strip(), 100)
