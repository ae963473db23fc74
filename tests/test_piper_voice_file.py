"""A Piper voice's files read like every other file a person names: one exact line for a
model or config that is not a file, too big, too deep, or holds what no voice holds.

Nothing here loads a model or needs the neural extra: ``read_voice_file`` reads only the
``.onnx.json`` (and looks at the ``.onnx``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from voice_coach.engines.piper_engine import VoiceFile, VoiceFileError, read_voice_file

CONFIG: dict[str, Any] = {
    "audio": {"sample_rate": 22050, "quality": "medium"},
    "language": {"code": "en_US"},
    "inference": {"noise_scale": 0.667, "noise_w": 0.8},
    "phoneme_id_map": {"a": [1]},
    "num_symbols": 10,
}


def voice(folder: Path, config: bytes | None = None, name: str = "en_US-test-medium") -> Path:
    """A voice's two files in ``folder``: a stand-in model and its config."""
    model = folder / f"{name}.onnx"
    model.write_bytes(b"not loaded here")
    model.with_name(model.name + ".json").write_bytes(
        json.dumps(CONFIG).encode() if config is None else config)
    return model


def refused(model: Path) -> str:
    with pytest.raises(VoiceFileError) as caught:
        read_voice_file(model)
    assert caught.value.exit_code == 2
    return str(caught.value)


def with_value(path: str, value: object) -> bytes:
    """``CONFIG`` with the value at ``path`` (``audio.quality``) replaced."""
    document = json.loads(json.dumps(CONFIG))
    *parents, key = path.split(".")
    table = document
    for parent in parents:
        table = table[parent]
    table[key] = value
    return json.dumps(document).encode()


def test_a_valid_voice(tmp_path: Path) -> None:
    model = voice(tmp_path)
    assert read_voice_file(model) == VoiceFile(
        "en_US-test-medium", model, model.with_name(model.name + ".json"), "en_US", "medium",
        22050, 0.667, 0.8)


# --- Not files ----------------------------------------------------------------------


def test_a_model_that_is_a_directory_or_a_pipe(tmp_path: Path) -> None:
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    assert refused(folder) == f"{folder}: is a directory, not a voice model"
    pipe = tmp_path / "pipe.onnx"
    os.mkfifo(pipe)
    assert refused(pipe) == f"{pipe}: is a named pipe, not a voice model"


def test_a_config_that_is_a_pipe_or_a_device(tmp_path: Path) -> None:
    model = voice(tmp_path)
    config = model.with_name(model.name + ".json")
    config.unlink()
    os.mkfifo(config)
    assert refused(model) == f"{config}: is a named pipe, not a voice config"
    config.unlink()
    config.symlink_to("/dev/zero")
    assert refused(model) == f"{config}: is a device, not a voice config"


# --- Size, nesting, numbers, encoding -----------------------------------------------


@pytest.mark.parametrize(("config", "reason"), [
    (b" " * 10_000_001, "file is 10,000,001 bytes; a voice config may be at most 10,000,000 bytes"),
    (b"[" * 100_000 + b"]" * 100_000, "not a Piper voice config (nested too deeply)"),
    (b'{"num_symbols": ' + b"9" * 5000 + b"}",
     "not a Piper voice config (a number has more than 4,300 digits)"),
    (b'{"audio": "caf\xe9"}', "not a Piper voice config ('utf-8' codec can't decode byte 0xe9"
                               " in position 14: invalid continuation byte)"),
    (b"", "not a Piper voice config (Expecting value: line 1 column 1 (char 0))"),
], ids=["10 MB", "deep", "5,000 digits", "Latin-1", "empty"])
def test_a_config_past_the_limits(tmp_path: Path, config: bytes, reason: str) -> None:
    model = voice(tmp_path, config)
    assert refused(model) == f"{model}.json: {reason}"


# --- Values no voice has ------------------------------------------------------------


@pytest.mark.parametrize(("path", "value", "reason"), [
    ("language.code", "en\nUS",
     "language: expected a code such as en_US or medium, got 'en\\nUS'"),
    ("language.code", ["en"], "language: expected a code such as en_US or medium, got a list"),
    ("audio.quality", "x" * 60, "quality: expected a code such as en_US or medium, got"
                                " 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"),
    ("audio.sample_rate", "22050", "audio.sample_rate: expected a number, got '22050'"),
    ("audio.sample_rate", True, "audio.sample_rate: expected a number, got true"),
    ("inference.noise_scale", float("nan"),
     "inference.noise_scale: expected a number from 0 to 10, got nan"),
    ("inference.noise_w", -1, "inference.noise_w: expected a number from 0 to 10, got -1"),
    ("inference.noise_w", 10**30, "inference.noise_w: expected a number from 0 to 10,"
                                  " got a 31-digit number"),
    ("inference", [], "unexpected layout"),
])
def test_a_value_no_voice_has(tmp_path: Path, path: str, value: object, reason: str) -> None:
    model = voice(tmp_path, with_value(path, value))
    assert refused(model) == f"{model}.json: not a Piper voice config ({reason})"

