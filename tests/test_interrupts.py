"""Interrupting ``voice-coach export`` for real: signals, a full disk, two exports at once.

Every export here runs the installed console script as a child process. Each run replaces
a complete earlier export (made at another rate and length, so any mixture of the two
shows) with ``--force``. Whatever happens, the folder must afterwards hold exactly the
earlier export or exactly the new one, byte for byte as an uninterrupted run writes it,
with no ``.partial`` temporaries, no half-written cache entries, no speech helper left
running and nothing left in the temporary folder; the exit code is 130 with stderr
``Error: interrupted`` (or 0 when the export finished before the signal).

The time points of the sweep count from the moment the command is running: the settings
file is a FIFO, and the child opening it (inside the command, after its signal handlers
are installed) is the start. The start-up before that, and the moment right after the
work is done, are tested on their own, synchronised on what the child prints.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.audio import read_wav
from support.gate import env_for_gate, gated
from voice_coach.cache import ClipCache
from voice_coach.export import narration_name

pytestmark = pytest.mark.one_python

VOICE_COACH = Path(sys.executable).with_name("voice-coach")
MINUTES = "60"
OLD_ARGS = ["export", "--rate", "200", "--minutes", "10", "-q"]
NEW_ARGS = ["export", "--minutes", MINUTES, "-q", "--force"]
POINTS = {False: 32, True: 24}
"""Time points of the sweep with a warm and a cold cache, the signals in SWEPT taking turns:
every 26 ms of a warm export (0.8 s), every 0.3 s of a cold one (7 s, 94 lines rendered
and leveled, each a stage of its own)."""
SWEPT = ("SIGINT", "SIGTERM")
INTERRUPTED = "Error: interrupted\n"
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
GATE = "gate"
"""The named pipe a child waits at until the test lets it go (``support.gate``)."""



def default_signals() -> None:
    """In the child before exec: default dispositions, as from an interactive shell.

    A shell starts background jobs with SIGINT ignored and ``nohup`` ignores SIGHUP; an
    ignored signal stays ignored across exec, and Python keeps an inherited SIG_IGN for
    SIGINT, so a suite started that way would otherwise test nothing.
    """
    for signum in SIGNALS.values():
        signal.signal(signum, signal.SIG_DFL)


def popen(command: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(command, preexec_fn=default_signals, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"),
                                reason="needs root to mount a small tmpfs")

Tree = dict[str, str]
"""A folder's files: relative path -> SHA-256."""


def tree(folder: Path) -> Tree:
    return {str(p.relative_to(folder)): file_hash(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def file_hash(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_export(folder: Path) -> None:
    """Every file whole and consistent with timeline.json, sample for sample."""
    timeline = json.loads((folder / "timeline.json").read_text())
    session = read_wav(folder / "session.wav")
    assert len(session) == timeline["duration_samples"]
    spoken = [e for e in timeline["events"] if e["kind"] == "speech"]
    names = sorted(p.name for p in (folder / "narration").iterdir())
    assert names == [narration_name(i, e["text"]) for i, e in enumerate(spoken, start=1)]
    for name, event in zip(names, spoken, strict=True):
        clip = read_wav(folder / "narration" / name)
        assert len(clip) == event["end_sample"] - event["start_sample"], name
        assert np.array_equal(session[event["start_sample"]:event["end_sample"]], clip), name
    captions = (folder / "session.vtt").read_text()
    assert captions.startswith("WEBVTT\n") and captions.count(" --> ") == len(spoken)
    assert not list(folder.rglob("*.partial"))


def private_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICE_COACH_")}
    env.update(XDG_CACHE_HOME=str(root / "cache"), XDG_CONFIG_HOME=str(root / "config"),
               XDG_DATA_HOME=str(root / "data"))
    return env


def export(args: list[str], out: Path, env: dict[str, str]) -> None:
    done = subprocess.run([str(VOICE_COACH), *args, "-o", str(out)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


@dataclass(frozen=True)
class References:
    """The earlier export and an uninterrupted new one, verified, with a warm cache."""

    root: Path
    env: dict[str, str]
    old: Path
    new: Path
    old_tree: Tree
    new_tree: Tree


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> References:
    root = tmp_path_factory.mktemp("interrupts")
    env = private_env(root)
    old, new = root / "old", root / "new"
    export(OLD_ARGS, old, env)
    export(NEW_ARGS, new, env)
    for folder in (old, new):
        verify_export(folder)
    refs = References(root, env, old, new, tree(old), tree(new))
    assert refs.old_tree.keys() != refs.new_tree.keys()
    assert refs.old_tree["session.wav"] != refs.new_tree["session.wav"]
    return refs


# --- One interrupted run ----------------------------------------------------------------


@dataclass
class Trial:
    """What one interrupted export left behind."""

    signal: str
    cold: bool
    delay_s: float
    code: int | None = None
    stderr: str = ""
    state: str = ""
    leftovers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        answered = (self.code, self.stderr) in ((0, ""), (130, INTERRUPTED))
        consistent = self.state == "new" or (self.state == "old" and self.code == 130)
        return answered and consistent and not self.leftovers

    @property
    def outcome(self) -> str:
        code = {0: "finished", 130: "interrupted"}.get(self.code or 0, f"exit {self.code}")
        return f"{code}, folder {self.state}" + (" + leftovers" if self.leftovers else "")


def rendezvous(fifo: Path, child: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Wait until ``child`` opens its gate (``support.gate``), then let it go."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if child.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the export never reached its gate (exit {child.poll()})"
                                     ) from None
            time.sleep(0.0005)
            continue
        os.close(fd)
        return


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def leftovers(out: Path, work: Path, marker: str, cache: Path | None) -> list[str]:
    """Anything an interrupted export must not leave behind."""
    found = [f"temporary {p.relative_to(out)}" for p in out.rglob("*") if ".partial" in p.name]
    deadline = time.monotonic() + 5
    while (pids := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    found += [f"process {pid} still running" for pid in pids]
    found += [f"left in TMPDIR: {p.name}" for p in (work / "tmp").iterdir()]
    if cache is not None and cache.exists():
        clips = ClipCache(cache)
        for entry in cache.iterdir():
            if entry.name.startswith("."):
                found.append(f"cache temporary {entry.name}")
            elif clips.get(entry.stem) is None:
                found.append(f"damaged cache entry {entry.name}")
    return found


def state_of(out: Path, refs: References, untouched: dict[str, tuple[int, int, int]]) -> str:
    """"old" or "new" when the folder is exactly one of them, else "mixed"."""
    current: Tree = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(out))
        info = path.stat()
        if untouched.get(name) == (info.st_ino, info.st_size, info.st_mtime_ns):
            current[name] = refs.old_tree[name]
        else:
            current[name] = file_hash(path)
    if current == refs.old_tree:
        return "old"
    if current == refs.new_tree:
        return "new"
    return "mixed"


def start(refs: References, work: Path, cold: bool,
          extra_env: dict[str, str] | None = None,
          command: list[str] | None = None, extra_args: tuple[str, ...] = (),
          ) -> tuple[subprocess.Popen[bytes], Path, str, dict[str, tuple[int, int, int]]]:
    """A new export over a copy of the old one, stopped on its settings FIFO."""
    out = work / "out"
    shutil.copytree(refs.old, out)
    untouched = {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_size,
                                           p.stat().st_mtime_ns)
                 for p in out.rglob("*") if p.is_file()}
    (work / "tmp").mkdir()
    token = uuid.uuid4().hex
    env = env_for_gate({**refs.env, "TMPDIR": str(work / "tmp"), "VC_TRIAL": token,
                        **(extra_env or {})})
    marker = f"VC_TRIAL={token}"
    if cold:
        env["XDG_CACHE_HOME"] = str(work / "cache")
    child = popen(gated(work / GATE, [*(command or [str(VOICE_COACH)]), *NEW_ARGS, *extra_args,
                                       "-o", str(out)]), cwd=work, env=env)
    return child, out, marker, untouched


def cache_dir(work: Path, cold: bool) -> Path | None:
    return work / "cache" / "voice-coach" / "clips" if cold else None


def interrupt_at(refs: References, work: Path, name: str, delay_s: float, cold: bool) -> Trial:
    child, out, marker, untouched = start(refs, work, cold)
    trial = Trial(name, cold, delay_s)
    try:
        rendezvous(work / GATE, child)
        time.sleep(delay_s)
        child.send_signal(SIGNALS[name])
        _, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    trial.code, trial.stderr = child.returncode, stderr.decode(errors="replace")
    trial.state = state_of(out, refs, untouched)
    trial.leftovers = tuple(leftovers(out, work, marker, cache_dir(work, cold)))
    return trial


def full_duration(refs: References, work: Path, cold: bool) -> float:
    """Seconds from the rendezvous to the end of an export nobody interrupts."""
    child, out, _, _ = start(refs, work, cold)
    rendezvous(work / GATE, child)
    began = time.monotonic()
    _, stderr = child.communicate(timeout=300)
    took = time.monotonic() - began
    assert (child.returncode, stderr) == (0, b"")
    assert tree(out) == refs.new_tree, "an export is not reproducible"
    return took


# --- The sweep ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.engine
@pytest.mark.timed
@pytest.mark.parametrize("cold", [False, True], ids=["warm cache", "cold cache"])
def test_an_interrupted_export_leaves_the_old_or_the_new_export_whole(
        references: References, tmp_path: Path, cold: bool,
        capsys: pytest.CaptureFixture[str]) -> None:
    """SIGINT and SIGTERM take turns along the sweep: both end an export through the same
    path, and each meets every stage of it at half the cost of a sweep of its own."""
    runs = 2 if cold else 3
    duration = min(full_duration(references, tmp_path / f"full-{n}", cold) for n in range(runs))
    points = POINTS[cold]
    delays = [duration * i / (points - 1) for i in range(points)]
    trials = []
    for number, delay in enumerate(delays):
        work = tmp_path / f"trial-{number}"
        trials.append(interrupt_at(references, work, SWEPT[number % 2], delay, cold))
        shutil.rmtree(work)
    with capsys.disabled():
        for name in SWEPT:
            tally = Counter(t.outcome for t in trials if t.signal == name)
            print(f"\n{name}, {'cold' if cold else 'warm'} cache: {sum(tally.values())} points"
                  f" over {duration:.2f} s: {dict(tally)}")
    bad = [f"{t.signal} at {t.delay_s:.3f} s: exit {t.code}, folder {t.state}, stderr"
           f" {t.stderr[-300:]!r}, {list(t.leftovers)}" for t in trials if not t.ok]
    assert not bad, "\n".join(bad)
    assert sum(t.code == 130 for t in trials) > points // 2, (
        f"the sweep missed the export: {Counter(t.outcome for t in trials)} over"
        f" {duration:.2f} s")


@pytest.mark.engine
@pytest.mark.parametrize("audio_format", ["mp3", "opus", "m4a"])
def test_an_export_interrupted_while_encoding_leaves_the_previous_export_whole(
        references: References, tmp_path: Path, audio_format: str) -> None:
    """Ctrl-C while a compressed file is being encoded (its temporary exists, the encoder
    is busy): the WAV export before it stays whole, nothing half-written remains.
    (Uninterrupted exports in every format: test_export_formats.py.)"""
    work = tmp_path / "interrupted"
    child, out, marker, untouched = start(references, work, cold=False,
                                          extra_args=("--format", audio_format))
    rendezvous(work / GATE, child)
    def encoding() -> bool:
        return any(p.name.endswith(f".{audio_format}.partial")
                   for folder in (out, out / "narration") for p in folder.iterdir())

    deadline = time.monotonic() + 120
    while not encoding() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert encoding(), "nothing was being encoded"
    time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert (child.returncode, stderr.decode()) == (130, INTERRUPTED)
    assert state_of(out, references, untouched) == "old"
    assert leftovers(out, work, marker, None) == []


# --- Moments the sweep cannot hit reliably ------------------------------------------------

HOOK = textwrap.dedent("""\
    import os, signal, sys
    real_replace = os.replace
    after, signum = int(os.environ["VC_AFTER_COMMITS"]), int(os.environ["VC_SIGNAL"])
    commits = 0

    def replace(source, target, *args, **kwargs):
        global commits
        real_replace(source, target, *args, **kwargs)
        if os.fspath(source).endswith(".partial"):
            commits += 1
            if commits == after:
                os.kill(os.getpid(), signum)

    os.replace = replace
    sys.argv[0] = "voice-coach"
    from voice_coach.cli import main
    main()
    """)


@pytest.mark.engine
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("where", ["first", "middle", "last but one", "last"])
def test_a_signal_while_the_files_are_moved_into_place(
        references: References, tmp_path: Path, name: str, where: str) -> None:
    """The signal arrives right after the k-th file is renamed into place.

    The renames take a few milliseconds, too short to hit by timing, so the child (the
    real command, run by ``python -c``) signals itself from inside ``os.replace``.
    """
    files = len(references.new_tree)
    after = {"first": 1, "middle": files // 2, "last but one": files - 1, "last": files}[where]
    child, out, marker, untouched = start(
        references, tmp_path, cold=False,
        extra_env={"VC_AFTER_COMMITS": str(after), "VC_SIGNAL": str(int(SIGNALS[name]))},
        command=[sys.executable, "-c", HOOK])
    rendezvous(tmp_path / GATE, child)
    _, stderr = child.communicate(timeout=120)
    state = state_of(out, references, untouched)
    assert (child.returncode, stderr.decode(), state) in ((130, INTERRUPTED, "old"),
                                                          (130, INTERRUPTED, "new"))
    assert leftovers(out, tmp_path, marker, None) == []


CACHE_HOOK = textwrap.dedent("""\
    import builtins, os, signal, sys
    cache = os.environ["VC_CACHE_DIR"]
    after, signum = int(os.environ["VC_AFTER_OPENS"]), int(os.environ["VC_SIGNAL"])
    opened = 0

    def note(path, writing):
        global opened
        if writing and os.path.dirname(os.path.abspath(os.fsdecode(path))) == cache:
            opened += 1
            if opened == after:
                os.kill(os.getpid(), signum)

    real_os_open, real_open = os.open, builtins.open

    def os_open(path, flags, *args, **kwargs):
        fd = real_os_open(path, flags, *args, **kwargs)
        note(path, flags & (os.O_WRONLY | os.O_RDWR))
        return fd

    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, bytes, os.PathLike)):
            note(file, any(c in mode for c in "wxa+"))
        return handle

    os.open, builtins.open = os_open, open_
    sys.argv[0] = "voice-coach"
    from voice_coach.cli import main
    main()
    """)


@pytest.mark.engine
@pytest.mark.parametrize("after", [1, 7])
def test_a_signal_while_a_clip_is_stored_leaves_no_temporary_in_the_cache(
        references: References, tmp_path: Path, after: int) -> None:
    """The signal arrives right after a file is created in the cache folder (cold cache).

    As with the renames, the window is microseconds wide, so the child signals itself
    from inside ``open``, right after the file exists and before its caller holds it.
    """
    cache = cache_dir(tmp_path, cold=True)
    assert cache is not None
    child, out, marker, untouched = start(
        references, tmp_path, cold=True,
        extra_env={"VC_CACHE_DIR": str(cache), "VC_AFTER_OPENS": str(after),
                   "VC_SIGNAL": str(int(signal.SIGINT))},
        command=[sys.executable, "-c", CACHE_HOOK])
    rendezvous(tmp_path / GATE, child)
    _, stderr = child.communicate(timeout=120)
    state = state_of(out, references, untouched)
    assert (child.returncode, stderr.decode(), state) == (130, INTERRUPTED, "old")
    assert cache.is_dir()
    assert leftovers(out, tmp_path, marker, cache) == []


ENGINE_HOOK = textwrap.dedent("""\
    import os, signal, sys
    temporary = os.path.realpath(os.environ["TMPDIR"])
    signum = int(os.environ["VC_SIGNAL"])
    real_mkdir = os.mkdir

    def mkdir(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if os.path.dirname(os.path.realpath(os.fsdecode(path))) == temporary:
            os.kill(os.getpid(), signum)

    os.mkdir = mkdir
    sys.argv[0] = "voice-coach"
    from voice_coach.cli import main
    main()
    """)


@pytest.mark.engine
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_speech_engine_opens_leaves_nothing_in_tmpdir(
        references: References, tmp_path: Path, name: str) -> None:
    """The signal arrives right after the engine makes its working folder (cold cache).

    The sweep met this once: the window is a few bytecodes between creating the folder
    and arranging for its removal, so the child signals itself from inside ``os.mkdir``.
    """
    child, out, marker, untouched = start(
        references, tmp_path, cold=True, extra_env={"VC_SIGNAL": str(int(SIGNALS[name]))},
        command=[sys.executable, "-c", ENGINE_HOOK])
    rendezvous(tmp_path / GATE, child)
    _, stderr = child.communicate(timeout=120)
    state = state_of(out, references, untouched)
    assert (child.returncode, stderr.decode(), state) == (130, INTERRUPTED, "old")
    assert leftovers(out, tmp_path, marker, cache_dir(tmp_path, cold=True)) == []


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_the_program_starts(references: References, tmp_path: Path,
                                           name: str) -> None:
    """The signal arrives while ``voice_coach.cli`` is still being imported.

    The child reports each import as it completes (PYTHONPROFILEIMPORTTIME); the signal goes
    as soon as Click has been imported, tens of milliseconds before the command runs.
    """
    out = tmp_path / "out"
    shutil.copytree(references.old, out)
    env = {**references.env, "PYTHONPROFILEIMPORTTIME": "1"}
    child = popen([str(VOICE_COACH), *NEW_ARGS, "-o", str(out)], cwd=tmp_path, env=env,
                  text=True)
    assert child.stderr is not None
    lines = []
    sent = False
    for line in child.stderr:
        lines.append(line)
        if not sent and re.search(r"\|\s+click$", line.rstrip("\n")):
            child.send_signal(SIGNALS[name])
            sent = True
    child.wait(timeout=120)
    assert sent
    said = "".join(line for line in lines if not line.startswith("import time:"))
    assert (child.returncode, said) == (130, INTERRUPTED)
    assert tree(out) == references.old_tree


IMPORT_HOOK = textwrap.dedent("""\
    import os, signal, sys
    module, signum = os.environ["VC_IMPORT"], int(os.environ["VC_SIGNAL"])

    class SignalOnImport:
        def find_spec(self, name, path=None, target=None):
            if name == module:
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signum)
            return None

    sys.meta_path.insert(0, SignalOnImport())
    sys.argv[0] = "voice-coach"
    from voice_coach.cli import main
    main()
    """)


@pytest.mark.parametrize("module", ["numpy", "soxr"])
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_a_library_is_imported(references: References, tmp_path: Path,
                                              module: str, name: str) -> None:
    """The signal arrives as the import of numpy (loaded with the commands) or soxr (loaded
    by ``export`` itself) begins: the import completes, then the run ends in one line.

    Under load a signal landed inside such an import now and then, and an extension module
    cut off half-way through its initialisation crashed the interpreter (1 to 3 runs in
    300: soxr aborting in nanobind, a segfault, numpy's import failing). The child
    signals itself from an import hook, so the signal always lands inside the import.
    """
    out = tmp_path / "out"
    shutil.copytree(references.old, out)
    env = {**references.env, "VC_IMPORT": module, "VC_SIGNAL": str(int(SIGNALS[name]))}
    child = popen([sys.executable, "-c", IMPORT_HOOK, *NEW_ARGS, "-o", str(out)],
                  cwd=tmp_path, env=env)
    _, stderr = child.communicate(timeout=120)
    assert (child.returncode, stderr.decode()) == (130, INTERRUPTED)
    assert tree(out) == references.old_tree


@pytest.mark.engine
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_just_after_the_export_is_done(references: References, tmp_path: Path,
                                                name: str) -> None:
    """A few milliseconds after "Wrote ...", while the program shuts down (it takes ~25 ms):
    the exit code still says 0 or 130."""
    codes = []
    for attempt in range(5):
        out = tmp_path / f"out-{attempt}"
        args = [a for a in NEW_ARGS if a not in ("-q", "--force")]
        child = popen([str(VOICE_COACH), *args, "-o", str(out)], cwd=tmp_path,
                      env=references.env, text=True)
        assert child.stdout is not None
        first = child.stdout.readline()
        time.sleep(0.005)
        child.send_signal(SIGNALS[name])
        _, stderr = child.communicate(timeout=60)
        assert first.startswith("Wrote ")
        codes.append((child.returncode, stderr))
        assert tree(out) == references.new_tree
    assert set(codes) <= {(0, ""), (130, INTERRUPTED)}, Counter(codes)


# --- A full disk ------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                    str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


@needs_root
@pytest.mark.engine
def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(
        references: References, tmp_path: Path) -> None:
    env = references.env
    with small_disk(tmp_path / "small", "40m") as disk:
        export(OLD_ARGS, disk / "out", env)
        previous = tree(disk / "out")
        free = free_bytes(disk)
        for target, force in ((disk / "out", ["--force"]), (disk / "fresh", [])):
            args = [a for a in NEW_ARGS if a != "--force"] + force
            relative = target.relative_to(tmp_path)
            done = subprocess.run([str(VOICE_COACH), *args, "-o", str(relative)], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=300)
            assert (done.returncode, done.stderr, done.stdout) == (
                1, f"Error: disk full: no room in {relative} for the export; nothing was"
                   " replaced\n", "")
            assert not [p for p in disk.rglob("*") if ".partial" in p.name]
            assert free_bytes(disk) == free, "temporaries still take space"
        assert tree(disk / "out") == previous
        assert tree(disk / "fresh") == {}


# --- Two exports filling one cache ---------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("round_", range(3))
def test_two_cold_exports_at_once_both_succeed_with_the_same_files(
        tmp_path: Path, round_: int) -> None:
    env = private_env(tmp_path)
    args = [str(VOICE_COACH), "export", "psoas-release", "--minutes", "12", "-q"]
    children = [popen([*args, "-o", str(tmp_path / f"out-{n}")], env=env) for n in range(2)]
    results = [(child.communicate(timeout=300)[1], child.returncode) for child in children]
    assert results == [(b"", 0), (b"", 0)]
    first, second = (tree(tmp_path / f"out-{n}") for n in range(2))
    assert first == second
    verify_export(tmp_path / "out-0")
    clips = tmp_path / "cache" / "voice-coach" / "clips"
    entries = list(clips.iterdir())
    assert entries and not [e for e in entries if e.name.startswith(".tmp-")]
    assert all(ClipCache(clips).get(e.stem) is not None for e in entries)

