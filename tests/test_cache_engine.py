"""The clip cache under ``voice-coach`` with the real espeak-ng engine: damage, many runs
at once, a full disk.

Every run is the installed console script in a child process with private XDG folders.
Whatever happened to the cache, an export must be byte for byte the one a clean cache
gives, and the cache must afterwards hold only whole entries that verify.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from support.audio import read_wav
from support.gate import env_for_gate, gated
from support.paced import PacedFile
from voice_coach.cache import FORMAT_VERSION, SUFFIX, ClipCache

pytestmark = pytest.mark.engine
pytest_plugins = ["support.fixtures"]

VOICE_COACH = Path(sys.executable).with_name("voice-coach")
DATA = Path(__file__).parent / "data"
SHORT = str(DATA / "short-breath.toml")
HELD_ONE_CLIP = textwrap.dedent("""\
    import sys
    from voice_coach import lines
    lines.HELD_CLIPS_BYTES = 0
    sys.argv[0] = "voice-coach"
    from voice_coach.cli import main
    main()
    """)
"""``voice-coach`` keeping one line in memory: the others are read back from the cache
when mixed, as a long session's are."""
NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
"""Root without the capabilities that let it read any file: a mode-000 file is unreadable."""

Tree = dict[str, bytes]


def tree(folder: Path) -> Tree:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def private_env(root: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_COACH_")}
    env.update(XDG_CACHE_HOME=str(cache), XDG_CONFIG_HOME=str(root / "config"),
               XDG_DATA_HOME=str(root / "data"))
    return env


def clips_of(cache: Path) -> Path:
    return cache / "voice-coach" / "clips"


def run(args: list[str], root: Path, cache: Path, *, prefix: tuple[str, ...] = (),
        command: tuple[str, ...] = (str(VOICE_COACH),)) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *command, *args], env=private_env(root, cache),
                          capture_output=True, text=True, timeout=120, check=False)


def export(args: list[str], out: Path, root: Path, cache: Path) -> Tree:
    done = run(["export", *args, "-q", "-o", str(out)], root, cache)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return tree(out)


def sound_entries(clips: Path) -> dict[str, bytes]:
    """Every entry, each a regular 0600 file that verifies; no temporary, nothing else."""
    cache = ClipCache(clips)
    found = {}
    for path in sorted(clips.iterdir()):
        info = path.lstat()
        assert path.suffix == SUFFIX and stat.S_ISREG(info.st_mode), path.name
        assert stat.S_IMODE(info.st_mode) == 0o600, path.name
        assert cache.get(path.stem) is not None, path.name
        found[path.name] = path.read_bytes()
    return found


# --- Damage -------------------------------------------------------------------------------


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def header_cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:20])


def zero_length(path: Path) -> None:
    path.write_bytes(b"")


def older_version(path: Path) -> None:
    """Labelled as an earlier layout; its checksum (of key and samples) still matches."""
    data = path.read_bytes()
    path.write_bytes(data[:8] + struct.pack("<I", FORMAT_VERSION - 1) + data[12:])


def altered_samples(path: Path) -> None:
    """Header and key intact, one sample's low bit flipped."""
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01
    path.write_bytes(bytes(data))


def folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_bytes(b"x")


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def unreadable(path: Path) -> None:
    path.chmod(0)


DAMAGE = [truncated, header_cut, zero_length, older_version, altered_samples, folder, fifo,
          unreadable]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tree, dict[str, bytes]]:
    """A cache filled by one export of the short routine, that export, and the entries."""
    root = tmp_path_factory.mktemp("clean")
    cache = root / "cache"
    done = run(["export", SHORT, "-q", "-o", str(root / "out")], root, cache,
               command=(sys.executable, "-c", HELD_ONE_CLIP))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return cache, tree(root / "out"), sound_entries(clips_of(cache))


@pytest.mark.parametrize("damage", DAMAGE)
def test_every_entry_damaged_is_rendered_again_and_the_export_is_the_same(
        clean: tuple[Path, Tree, dict[str, bytes]], tmp_path: Path,
        damage: Callable[[Path], None]) -> None:
    """Every entry, speech and leveled alike, damaged one way: the export is byte for byte
    the clean one, and each entry is replaced by the very file a clean cache holds."""
    clean_cache, clean_export, clean_entries = clean
    cache = tmp_path / "cache"
    shutil.copytree(clean_cache, cache)
    entries = sorted(clips_of(cache).iterdir())
    assert len(entries) == len(clean_entries) == 8  # 2 lines, as spoken and leveled; 4 chimes
    for entry in entries:
        damage(entry)
    prefix: tuple[str, ...] = ()
    if damage is unreadable:
        prefix = NO_DAC if os.geteuid() == 0 else ()
        denied = subprocess.run([*prefix, "head", "-c", "1", str(entries[0])],
                                capture_output=True, check=False)
        assert denied.returncode != 0, "the entry is still readable"
    done = run(["export", SHORT, "-q", "-o", str(tmp_path / "out")], tmp_path, cache,
               prefix=prefix, command=(sys.executable, "-c", HELD_ONE_CLIP))
    assert (done.returncode, done.stderr) == (0, "")
    assert tree(tmp_path / "out") == clean_export
    assert sound_entries(clips_of(cache)) == clean_entries


# --- Many runs sharing one cache ----------------------------------------------------------

EXPORTS = [
    ["box-breathing", "--minutes", "2"],
    ["box-breathing", "--minutes", "2", "--format", "flac"],
    ["box-breathing", "--minutes", "3", "--rate", "160", "--format", "mp3"],
    ["box-breathing", "--minutes", "3", "--volume", "0.5"],
]
"""Shared lines and chimes (the first two and the last use the same clips, leveled the
same), other lengths, another rate, three formats. Not Opus: its Ogg stream serial is
random, so no two Opus exports are the same bytes."""


def open_for_writing(fifo: Path, child: subprocess.Popen[str], deadline: float) -> int:
    """The write end of ``fifo`` once ``child`` is waiting to read it (it then waits on
    the read, for as long as the write end stays open)."""
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        if child.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{child.args} never reached its gate (exit {child.poll()})")
        time.sleep(0.001)


def test_four_exports_and_a_play_at_once_share_one_cache(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """Started at the same moment (each holds at its gate, ``support.gate``, until all are
    there), with a cold cache: all succeed, each export is byte for byte its export from
    a cache of its own, every entry verifies, and a fifth export from the shared cache is
    the same again."""
    cache = tmp_path / "cache"
    device = PacedFile.in_folder(tmp_path)  # takes the play in real time, as a card does
    commands = [["export", *args, "-q", "-o", str(tmp_path / f"out-{n}")]
                for n, args in enumerate(EXPORTS)]
    commands.append(["play", str(DATA / "one-breath.toml"), "-q", "--no-history"])
    children, fifos = [], []
    env = env_for_gate({**private_env(tmp_path, cache), **device.env})
    for number, args in enumerate(commands):
        fifos.append(tmp_path / f"gate-{number}")
        children.append(subprocess.Popen(gated(fifos[-1], [str(VOICE_COACH), *args]), env=env,
                                         text=True, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        deadline = time.monotonic() + 60
        writers = [open_for_writing(f, c, deadline) for f, c in zip(fifos, children, strict=True)]
        for writer in writers:
            os.close(writer)
        started = time.monotonic()
        results, ended_s = [], []
        for child in children:  # the exports first: the play lasts as long as its session
            results.append(child.communicate(timeout=120))
            ended_s.append(time.monotonic() - started)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [(c.returncode, err) for c, (_, err) in zip(children, results, strict=True)] == [
        (0, "")] * len(commands)
    played = device.played()
    entries = sound_entries(clips_of(cache))
    for number, args in enumerate(EXPORTS):
        alone = export(args, tmp_path / f"alone-{number}", tmp_path, tmp_path / f"cache-{number}")
        assert tree(tmp_path / f"out-{number}") == alone, args
    fifth = export(EXPORTS[0], tmp_path / "fifth", tmp_path, cache)
    assert fifth == tree(tmp_path / "alone-0")
    assert sound_entries(clips_of(cache)) == entries
    export([str(DATA / "one-breath.toml")], tmp_path / "one-breath", tmp_path, cache)
    expected = read_wav(tmp_path / "one-breath" / "session.wav")
    assert np.array_equal(played[:len(expected)], expected)  # the play, whole, beside them
    assert not played[len(expected):].any()
    with capsys.disabled():
        print(f"\n{len(EXPORTS)} exports and a play at once: the exports done in"
              f" {ended_s[len(EXPORTS) - 1]:.1f} s, the play in {ended_s[-1]:.1f} s;"
              f" {len(entries)} cache entries, all whole")


# --- A full disk --------------------------------------------------------------------------


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def fill(disk: Path, leave_bytes: int) -> int:
    """Fill ``disk`` but for ``leave_bytes``; the bytes left free."""
    with (disk / "filler").open("wb") as filler:
        filler.write(b"\0" * (free_bytes(disk) - leave_bytes))
    return free_bytes(disk)


LEFT_FREE = 16 * 1024
"""Less than any entry of the short routine takes in the cache (the smallest, a chime,
about 29 kB), so storing one fails part way."""


def test_a_full_disk_under_the_cache_and_the_export_is_one_line(
        tiny_disk: Path, tmp_path: Path) -> None:
    """The cache and an earlier export on one disk, full: the export at another rate stops
    with one line and exit 1; the earlier export, the cache's entries and the free space
    are as they were (no partial entry, no temporary)."""
    cache, out = tiny_disk / "cache", tiny_disk / "out"
    export([SHORT, "--rate", "200"], out, tmp_path, cache)
    previous, entries = tree(out), sound_entries(clips_of(cache))
    assert min(len(data) for data in entries.values()) > LEFT_FREE
    free = fill(tiny_disk, LEFT_FREE)
    done = run(["export", SHORT, "-q", "--force", "-o", str(out)], tmp_path, cache)
    assert (done.returncode, done.stderr, done.stdout) == (
        1, f"Error: disk full: no room in {out} for the export; nothing was replaced\n", "")
    assert tree(out) == previous
    assert sound_entries(clips_of(cache)) == entries
    assert free_bytes(tiny_disk) == free


def test_a_full_disk_under_the_cache_alone_still_gives_the_same_export(
        tiny_disk: Path, tmp_path: Path) -> None:
    """The cache switches itself off with one note and exit 0; the export elsewhere is the
    one a working cache gives, and the cache's disk holds no partial entry or temporary."""
    alone = export([SHORT], tmp_path / "alone", tmp_path, tmp_path / "own-cache")
    own = sound_entries(clips_of(tmp_path / "own-cache"))
    assert min(len(data) for data in own.values()) > LEFT_FREE
    cache = tiny_disk / "cache"
    clips_of(cache).mkdir(parents=True)
    free = fill(tiny_disk, LEFT_FREE)
    done = run(["export", SHORT, "-q", "-o", str(tmp_path / "out")], tmp_path, cache)
    assert (done.returncode, done.stderr, done.stdout) == (
        0, f"note: speech cache off: cannot write to {clips_of(cache)} (No space left on"
           " device); speech will be rendered every time\n", "")
    assert tree(tmp_path / "out") == alone
    assert sound_entries(clips_of(cache)) == {}
    assert free_bytes(tiny_disk) == free
