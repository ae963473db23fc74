"""pytest fixtures for real sound: ``pytest_plugins = ["support.fixtures"]`` in a test module.

- ``alsa_file`` (per test): ALSA's default device writes into a raw file in ``tmp_path``.
- ``sound_server`` (per session): a private PulseAudio with a null sink, for recording what
  is played in real time. One that cannot start fails the test, with its reason.
- ``pipewire_server`` (per session): the same, with PipeWire, WirePlumber and pipewire-pulse.

PYTEST_DONT_REWRITE: this module asserts nothing, and test modules import ``support``
before pytest could rewrite it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.soundserver import AlsaFile, PipeWireServer, SoundServer, SoundServerError


@pytest.fixture
def alsa_file(tmp_path: Path) -> AlsaFile:
    return AlsaFile.in_folder(tmp_path)


@pytest.fixture(scope="session")
def sound_server() -> Iterator[SoundServer]:
    yield from _running(SoundServer, "vc-pulse-")


@pytest.fixture(scope="session")
def pipewire_server() -> Iterator[SoundServer]:
    yield from _running(PipeWireServer, "vc-pipewire-")


def _running(kind: type[SoundServer], prefix: str) -> Iterator[SoundServer]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    server = kind(root)
    try:
        try:
            server.start()
        except SoundServerError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)
