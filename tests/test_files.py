"""Reading a file a person names: only a regular file, never more than its limit, one line
for everything else; real directories, named pipes, sockets and devices."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from voice_coach.errors import VoiceCoachError
from voice_coach.files import SizeLimit, read_user_file

LIMIT = SizeLimit(1_000, "a test file may be at most 1,000 bytes")


class FileError(VoiceCoachError):
    """A file of this test is refused."""


def read(path: Path, limit: SizeLimit = LIMIT) -> bytes:
    return read_user_file(path, FileError, kind="a test file", limit=limit)


def refused(path: Path, limit: SizeLimit = LIMIT) -> str:
    with pytest.raises(FileError) as caught:
        read(path, limit)
    return str(caught.value)


# --- What is not a regular file -----------------------------------------------------


def test_a_directory(tmp_path: Path) -> None:
    assert refused(tmp_path) == f"{tmp_path}: is a directory, not a test file"


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert refused(pipe) == f"{pipe}: is a named pipe, not a test file"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused_even_through_a_symlink(tmp_path: Path, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    link = tmp_path / "link"
    link.symlink_to(device)
    assert refused(Path(device)) == f"{device}: is a device, not a test file"
    assert refused(link) == f"{link}: is a device, not a test file"


def test_a_socket(tmp_path: Path) -> None:
    path = tmp_path / "socket"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert refused(path) == f"{path}: is a socket, not a test file"


def test_a_file_replaced_by_a_pipe_after_the_first_look(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race between looking and opening, which cannot be timed for real."""
    path = tmp_path / "swapped"
    path.write_bytes(b"x")
    opened = os.open

    def swap_then_open(name: str | Path, flags: int, *args: int) -> int:
        if Path(name) == path:
            path.unlink()
            os.mkfifo(path)
        return opened(name, flags, *args)

    monkeypatch.setattr(os, "open", swap_then_open)
    assert refused(path) == f"{path}: is a named pipe, not a test file"


def test_a_missing_file_is_left_to_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "none")


def test_a_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert refused(loop) == f"{loop}: cannot read (Too many levels of symbolic links)"


# --- Size ---------------------------------------------------------------------------


def test_the_size_limit_is_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"#" * 1_000)
    assert read(path) == b"#" * 1_000
    path.write_bytes(b"#" * 1_001)
    assert refused(path) == f"{path}: file is 1,001 bytes; a test file may be at most 1,000 bytes"


def test_a_file_that_grows_while_read_is_cut_at_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size seen first is not trusted: no more than the limit is read (a file that
    grows between the look and the read, faked by a stale size)."""
    path = tmp_path / "growing"
    path.write_bytes(b"#" * 5_000)
    real_fstat = os.fstat

    def stale_fstat(descriptor: int) -> os.stat_result:
        found = list(real_fstat(descriptor))
        found[6] = 10  # st_size
        return os.stat_result(found)

    monkeypatch.setattr(os, "fstat", stale_fstat)
    assert refused(path) == (f"{path}: file is more than 1,000 bytes;"
                             " a test file may be at most 1,000 bytes")
