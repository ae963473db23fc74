"""The clip cache: real files in tmp_path, real concurrent processes, a fake engine."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import stat
import struct
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from support.fakes import FakeEngine, FakeFactory
from voice_coach.cache import FORMAT_VERSION, ClipCache, Entry, digest
from voice_coach.pcm import Samples
from voice_coach.speech import SpeechSettings, clip_key, render_clips


def clip_for(text: str, rate_wpm: int) -> Samples:
    return np.array([len(text), rate_wpm, -32768, 32767, *map(ord, text)], dtype=np.int16)


def spoken(text: str, settings: SpeechSettings) -> Samples:
    """The fake engine's clip: the text and the rate, readable back."""
    return clip_for(text, settings.rate_wpm)


def fake_factory() -> FakeFactory:
    return FakeFactory(spoken)


SETTINGS = SpeechSettings()
KEY = clip_key("Breathe in.", SETTINGS, fake_factory())


def test_key_covers_everything_that_changes_the_sound() -> None:
    class Other:
        name = "other"
        version = "1.0"

    class Newer:
        name = "fake"
        version = "1.1"

    engine = fake_factory()
    variants = [
        clip_key("Breathe in.", SpeechSettings(), engine),
        clip_key("Breathe in!", SpeechSettings(), engine),
        clip_key("Breathe in.", SpeechSettings(rate_wpm=141), engine),
        clip_key("Breathe in.", SpeechSettings(voice="en"), engine),
        clip_key("Breathe in.", SpeechSettings(), Other()),
        clip_key("Breathe in.", SpeechSettings(), Newer()),
    ]
    assert len(set(variants)) == len(variants)
    assert clip_key("Breathe in.", SpeechSettings(), fake_factory()) == variants[0] == KEY
    # Pinned: a key that changes by accident would silently re-render every cache.
    assert KEY == "bcbcaed9319fae25911596f2a64f6c6c1e2e3b069c053cc1aef0b20ede2a859c"


def test_put_then_get(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    samples = clip_for("Breathe in.", 140)
    assert cache.get(KEY) is None
    cache.put(KEY, samples)
    got = cache.get(KEY)
    assert got is not None
    assert got.dtype == np.int16
    assert got.tolist() == samples.tolist()
    assert [path.name for path in (tmp_path / "clips").iterdir()] == [f"{KEY}.clip"]


def test_an_empty_clip_round_trips(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    cache.put(KEY, np.zeros(0, dtype=np.int16))
    got = cache.get(KEY)
    assert got is not None
    assert got.size == 0


def truncate_by_one(data: bytes) -> bytes:
    return data[:-1]


def header_only(data: bytes) -> bytes:
    return data[:10]


def flip_last_sample(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def flip_magic(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x20]) + data[1:]


def extend(data: bytes) -> bytes:
    return data + b"\0\0"


def empty(data: bytes) -> bytes:
    return b""


def older_version(data: bytes) -> bytes:
    """An entry as an earlier layout would label it: its checksum (of key and samples)
    still matches, so only the version says it is foreign."""
    return data[:8] + struct.pack("<I", FORMAT_VERSION - 1) + data[12:]


def test_an_entry_is_known_from_its_header_alone(tmp_path: Path) -> None:
    """``entry`` reads the header: the sample count and the checksum that names those
    samples (what a warm session keys leveled lines by), and nothing of a file that is
    not a whole entry."""
    cache = ClipCache(tmp_path)
    clip = np.arange(-500, 500, dtype=np.int16)
    cache.put(KEY, clip)
    assert cache.entry(KEY) == Entry(1000, digest(KEY, clip))
    assert digest(KEY, clip) != digest(KEY, clip[::-1].copy())
    other = clip_key("Breathe out.", SETTINGS, fake_factory())
    assert cache.entry(other) is None
    path = cache.path(KEY)
    path.write_bytes(path.read_bytes()[:-2])  # one sample short
    assert cache.entry(KEY) is None
    cache.path(other).write_bytes(b"VCCLIP")  # not even a header
    assert cache.entry(other) is None


@pytest.mark.parametrize("damage", [truncate_by_one, header_only, flip_last_sample, flip_magic,
                                    extend, empty, older_version])
def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path: Path,
                                                  damage: Callable[[bytes], bytes]) -> None:
    cache = ClipCache(tmp_path)
    cache.put(KEY, clip_for("Breathe in.", 140))
    path = cache.path(KEY)
    path.write_bytes(damage(path.read_bytes()))
    assert cache.get(KEY) is None
    assert not path.exists()


def empty_folder(path: Path) -> None:
    path.mkdir()


def full_folder(path: Path) -> None:
    path.mkdir()
    (path / "inside").mkdir()
    (path / "inside" / "file").write_bytes(b"x")


def fifo(path: Path) -> None:
    os.mkfifo(path)


def get_within(cache: ClipCache, key: str, timeout_s: float) -> tuple[bool, Samples | None]:
    """(returned in time, what ``get`` returned); a reader stuck on a FIFO is let go (by
    opening it for writing) so that a failing test ends."""
    got: list[Samples | None] = []
    reader = threading.Thread(target=lambda: got.append(cache.get(key)), daemon=True)
    reader.start()
    reader.join(timeout_s)
    in_time = not reader.is_alive()
    if not in_time:
        os.close(os.open(cache.path(key), os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
    return in_time, got[0]


@pytest.mark.parametrize("occupy", [empty_folder, full_folder, fifo])
def test_something_else_in_place_of_an_entry_is_a_miss_and_is_replaced(
        tmp_path: Path, occupy: Callable[[Path], None]) -> None:
    """A folder or a FIFO where the entry belongs: the read neither fails nor waits for a
    writer, the thing is removed, and the next put stores the clip (a put could not
    rename a file over a folder: it would switch the cache off)."""
    warnings: list[str] = []
    cache = ClipCache(tmp_path, warn=warnings.append)
    occupy(cache.path(KEY))
    assert get_within(cache, KEY, timeout_s=5) == (True, None)
    assert not cache.path(KEY).exists()
    cache.put(KEY, clip_for("Breathe in.", 140))
    got = cache.get(KEY)
    assert got is not None and got.tolist() == clip_for("Breathe in.", 140).tolist()
    assert (cache.enabled, warnings) == (True, [])


def test_an_unreadable_entry_is_replaced_by_a_readable_one(tmp_path: Path) -> None:
    """A put writes a readable entry whatever the mode of the one it replaces: kept, an
    unreadable entry would be rendered again on every run, and a long session, which
    reads its lines back from the cache, would stop."""
    cache = ClipCache(tmp_path)
    cache.put(KEY, clip_for("Breathe in.", 140))
    cache.path(KEY).chmod(0)
    cache.put(KEY, clip_for("Breathe in.", 140))
    assert stat.S_IMODE(cache.path(KEY).stat().st_mode) == 0o600


@pytest.mark.parametrize("key", ["../escape", "", KEY.upper(), KEY[:-1], KEY + "0", "x" * 64])
def test_a_key_that_is_not_a_digest_is_refused(tmp_path: Path, key: str) -> None:
    """The store takes keys, not paths: nothing can be written outside its folder."""
    cache = ClipCache(tmp_path / "clips")
    for use in (lambda: cache.get(key), lambda: cache.put(key, clip_for("One.", 140))):
        with pytest.raises(ValueError) as caught:
            use()
        assert str(caught.value) == f"not a clip key: {key!r}"
    assert list(tmp_path.iterdir()) == [tmp_path / "clips"]
    assert list((tmp_path / "clips").iterdir()) == []


def test_an_entry_under_the_wrong_key_is_a_miss(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    other = clip_key("Breathe out.", SETTINGS, fake_factory())
    cache.put(KEY, clip_for("Breathe in.", 140))
    shutil.copy(cache.path(KEY), cache.path(other))
    assert cache.get(other) is None
    assert cache.get(KEY) is not None


def test_a_warm_cache_opens_no_engine(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    texts = ["One.", "Two.", "One.", "Three."]
    cold_factory, warm_factory = fake_factory(), fake_factory()
    progress: list[tuple[int, int]] = []
    cold = render_clips(texts, SETTINGS, cold_factory, cache)
    warm = render_clips(texts, SETTINGS, warm_factory, cache,
                        progress=lambda done, total: progress.append((done, total)))
    assert (cold_factory.opened, cold_factory.rendered) == (1, ["One.", "Two.", "Three."])
    assert (warm_factory.opened, warm_factory.rendered) == (0, [])
    assert list(warm) == ["One.", "Two.", "Three."]
    assert all(warm[text].tolist() == clip_for(text, 140).tolist() for text in warm)
    assert all(warm[text].tolist() == cold[text].tolist() for text in warm)
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_a_factory_that_does_not_know_its_engine_opens_it_to_ask(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    render_clips(["One."], SETTINGS, fake_factory(), cache)
    rendered: list[str] = []
    opened: list[FakeEngine] = []

    def plain_factory() -> FakeEngine:
        opened.append(FakeEngine(spoken, rendered))
        return opened[-1]

    clips = render_clips(["One."], SETTINGS, plain_factory, cache)
    assert (len(opened), rendered) == (1, [])
    assert clips["One."].tolist() == clip_for("One.", 140).tolist()


class BatchOnlyEngine(FakeEngine):
    """Hands its clips back only at the end (``on_clip`` is a courtesy, not a duty)."""

    def render_many(self, texts: Sequence[str], settings: SpeechSettings, *,
                    on_clip: Callable[[int, Samples], None] | None = None) -> list[Samples]:
        return super().render_many(texts, settings)


def test_an_engine_that_hands_clips_back_at_the_end_fills_the_cache(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    rendered: list[str] = []
    progress: list[tuple[int, int]] = []
    clips = render_clips(["One.", "Two."], SETTINGS, lambda: BatchOnlyEngine(spoken, rendered), cache,
                         progress=lambda done, total: progress.append((done, total)))
    assert rendered == ["One.", "Two."]
    assert {text: clip.tolist() for text, clip in clips.items()} == {
        text: clip_for(text, 140).tolist() for text in ("One.", "Two.")}
    assert progress == [(1, 2), (2, 2)]
    warm = fake_factory()
    render_clips(["One.", "Two."], SETTINGS, warm, cache)
    assert (warm.opened, warm.rendered) == (0, [])


def test_new_settings_miss_the_cache(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    render_clips(["One."], SETTINGS, fake_factory(), cache)
    factory = fake_factory()
    clips = render_clips(["One."], SpeechSettings(rate_wpm=200), factory, cache)
    assert (factory.opened, factory.rendered) == (1, ["One."])
    assert clips["One."].tolist() == clip_for("One.", 200).tolist()


def test_damaged_entries_are_rendered_again(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    texts = ["One.", "Two.", "Three."]
    render_clips(texts, SETTINGS, fake_factory(), cache)
    path = cache.path(clip_key("Two.", SETTINGS, fake_factory()))
    data = path.read_bytes()
    path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    factory = fake_factory()
    progress: list[tuple[int, int]] = []
    clips = render_clips(texts, SETTINGS, factory, cache,
                         progress=lambda done, total: progress.append((done, total)))
    assert (factory.opened, factory.rendered) == (1, ["Two."])
    assert clips["Two."].tolist() == clip_for("Two.", 140).tolist()
    assert progress == [(1, 3), (2, 3), (3, 3)]
    again = fake_factory()
    render_clips(texts, SETTINGS, again, cache)
    assert again.opened == 0


def test_a_directory_that_cannot_be_created_means_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    warnings: list[str] = []
    cache = ClipCache(blocker / "clips", warn=warnings.append)
    assert warnings == [f"speech cache off: cannot create {blocker / 'clips'} (Not a directory);"
                        " speech will be rendered every time"]
    assert not cache.enabled
    cache.put(KEY, clip_for("One.", 140))
    assert cache.get(KEY) is None
    factory = fake_factory()
    render_clips(["One."], SETTINGS, factory, cache)
    render_clips(["One."], SETTINGS, factory, cache)
    assert (factory.opened, factory.rendered) == (2, ["One.", "One."])
    assert len(warnings) == 1


def test_a_directory_that_cannot_be_written_means_no_cache(tmp_path: Path) -> None:
    directory = tmp_path / "clips"
    warnings: list[str] = []
    cache = ClipCache(directory, warn=warnings.append)
    assert cache.enabled
    directory.rmdir()
    directory.write_text("replaced by a file")
    cache.put(KEY, clip_for("One.", 140))
    cache.put(KEY, clip_for("One.", 140))
    assert not cache.enabled
    assert warnings == [f"speech cache off: cannot write to {directory} (Not a directory);"
                        " speech will be rendered every time"]
    assert cache.get(KEY) is None


WRITER_KEYS = 12
WRITER_ROUNDS = 150


def version_of(key_index: int, writer: int) -> Samples:
    """Two writers store different (but each valid) clips under the same keys."""
    generator = np.random.default_rng(100 * key_index + writer)
    return generator.integers(-32768, 32768, size=3000 + 997 * writer + key_index, dtype=np.int16)


def writer_key(key_index: int) -> str:
    return clip_key(f"line {key_index}", SETTINGS, fake_factory())


def fill_cache(directory: str, writer: int) -> None:
    cache = ClipCache(Path(directory))
    clips = [version_of(index, writer) for index in range(WRITER_KEYS)]
    for _ in range(WRITER_ROUNDS):
        for index, clip in enumerate(clips):
            cache.put(writer_key(index), clip)


def test_concurrent_writers_never_produce_a_bad_read(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=fill_cache, args=(str(tmp_path), writer))
               for writer in (0, 1)]
    for process in writers:
        process.start()
    cache = ClipCache(tmp_path)
    valid = {index: ({version_of(index, 0).tobytes(), version_of(index, 1).tobytes()})
             for index in range(WRITER_KEYS)}
    bad, hits, misses = 0, 0, 0
    deadline = time.monotonic() + 120
    while any(process.is_alive() for process in writers) and time.monotonic() < deadline:
        for index in range(WRITER_KEYS):
            got = cache.get(writer_key(index))
            if got is None:
                misses += 1
            elif got.tobytes() in valid[index]:
                hits += 1
            else:
                bad += 1
    for process in writers:
        process.join(timeout=60)
    assert [process.exitcode for process in writers] == [0, 0]
    assert bad == 0
    assert hits > 0
    for index in range(WRITER_KEYS):
        final = cache.get(writer_key(index))
        assert final is not None
        assert final.tobytes() in valid[index]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"{writer_key(index)}.clip" for index in range(WRITER_KEYS))
