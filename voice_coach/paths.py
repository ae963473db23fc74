"""Every file and folder of the person's that voice-coach reads or writes, in one place.

The XDG folders come from platformdirs (``~/.config/voice-coach``, ``~/.local/share/
voice-coach``, ``~/.cache/voice-coach`` on Linux, each moved by its ``XDG_*_HOME``); the
settings file and the history can each be moved on their own with an environment
variable, which tests and shared machines use. Nothing is created here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import platformdirs

APP: Final = "voice-coach"
CONFIG_ENVVAR: Final = "VOICE_COACH_CONFIG"
HISTORY_ENVVAR: Final = "VOICE_COACH_HISTORY_FILE"
ROUTINES_ENVVAR: Final = "VOICE_COACH_ROUTINES_DIR"


def config_file(env: Mapping[str, str] = os.environ) -> Path:
    """The settings file: ``$VOICE_COACH_CONFIG``, else ``config.toml`` in the user's
    config folder."""
    return _chosen(env, CONFIG_ENVVAR) or Path(platformdirs.user_config_dir(APP)) / "config.toml"


def history_file(env: Mapping[str, str] = os.environ) -> Path:
    """The history: ``$VOICE_COACH_HISTORY_FILE``, else ``history.jsonl`` in the user's
    data folder."""
    return _chosen(env, HISTORY_ENVVAR) or Path(platformdirs.user_data_dir(APP)) / "history.jsonl"


def routines_folder(env: Mapping[str, str] = os.environ) -> Path:
    """The person's own routines, found by id and where ``new --user`` writes:
    ``$VOICE_COACH_ROUTINES_DIR``, else ``routines`` in the data folder."""
    return _chosen(env, ROUTINES_ENVVAR) or Path(platformdirs.user_data_dir(APP)) / "routines"


def voices_folder() -> Path:
    """Piper voices found by name (``voices`` in the data folder)."""
    return Path(platformdirs.user_data_dir(APP)) / "voices"


def clips_folder() -> Path:
    """The speech cache (``clips`` in the cache folder)."""
    return Path(platformdirs.user_cache_dir(APP)) / "clips"


def _chosen(env: Mapping[str, str], name: str) -> Path | None:
    """The path an environment variable names; None when unset or empty (as Click)."""
    chosen = env.get(name)
    return Path(chosen).expanduser() if chosen else None
