"""Every file and folder of the person's, from one module, moved by the XDG variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_coach import paths


def test_each_place_follows_its_xdg_folder(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    for name in ("CONFIG", "DATA", "CACHE"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(tmp_path / name.lower()))
    assert (paths.config_file({}), paths.history_file({}), paths.routines_folder({}),
            paths.voices_folder(), paths.clips_folder()) == (
        tmp_path / "config" / "voice-coach" / "config.toml",
        tmp_path / "data" / "voice-coach" / "history.jsonl",
        tmp_path / "data" / "voice-coach" / "routines",
        tmp_path / "data" / "voice-coach" / "voices",
        tmp_path / "cache" / "voice-coach" / "clips")


def test_a_variable_moves_a_file_on_its_own_and_an_empty_one_does_not() -> None:
    env = {"VOICE_COACH_CONFIG": "~/vc.toml", "VOICE_COACH_HISTORY_FILE": "/x/h.jsonl",
           "VOICE_COACH_ROUTINES_DIR": "/r"}
    assert (paths.config_file(env), paths.history_file(env), paths.routines_folder(env)) == (
        Path.home() / "vc.toml", Path("/x/h.jsonl"), Path("/r"))
    empty = dict.fromkeys(env, "")
    assert (paths.config_file(empty), paths.history_file(empty),
            paths.routines_folder(empty)) == (
        paths.config_file({}), paths.history_file({}), paths.routines_folder({}))
