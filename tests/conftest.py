"""Every test runs with its own cache, settings, data and routines folders.

Nothing a test does reaches the user's real ~/.cache, ~/.config or history, and no
VOICE_COACH_* variable or locale from the developer's shell leaks into a test, nor the
shell's D-Bus addresses: a test that wants a bus starts a private one (``support.bus``).
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def private_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    for name in [n for n in os.environ if n.startswith("VOICE_COACH_")]:
        monkeypatch.delenv(name)
    for name in ("LC_ALL", "LC_MESSAGES"):  # the session language follows the locale
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    for name in ("DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    return home
