"""pytest fixtures for real sound and a real full disk: ``pytest_plugins =
["support.fixtures"]`` in a test module.

- ``alsa_file`` (per test): ALSA's default device writes into a raw file in ``tmp_path``.
- ``sound_server`` (per session): a private PulseAudio with a null sink, for recording what
  is played in real time. One that cannot start fails the test, with its reason.
- ``pipewire_server`` (per session): the same, with PipeWire, WirePlumber and pipewire-pulse.
- ``tiny_disk`` (per test): a real 4 MiB file system (tmpfs) in ``tmp_path``, for a full disk.
- ``session_bus`` (per test): a private D-Bus daemon (``support.bus``), ended after the test.

PYTEST_DONT_REWRITE: this module asserts nothing, and test modules import ``support``
before pytest could rewrite it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bus import BusError, PrivateBus
from support.soundserver import AlsaFile, PipeWireServer, SoundServer, SoundServerError


@pytest.fixture
def alsa_file(tmp_path: Path) -> AlsaFile:
    return AlsaFile.in_folder(tmp_path)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system: writes past it fail with ENOSPC. Mounting it needs root and
    a place that allows mounts; elsewhere the tests that use it skip, saying why."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 4 MiB tmpfs (a real full disk)")
    mount = tmp_path / "tiny"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 4 MiB tmpfs here: {mounted.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[PrivateBus]:
    try:
        bus = PrivateBus(tmp_path / "session-bus")
    except BusError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield bus
    finally:
        bus.close()


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
