"""The read-ahead returns exactly what the store returns, whatever the schedule, and stops cleanly."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journaltools.errors import NotFoundError
from journaltools.journal import Journal, JournalWalk
from journaltools.store.memory import MemoryStore
from journaltools.store.readahead import ReadAhead

from .journal_factory import load_fixture_store

CHUNK = 16


class CountingPool:
    """A memory pool that counts reads (and can fail one object)."""

    def __init__(self, objects: dict[str, bytes], failing: str | None = None) -> None:
        store = MemoryStore()
        self.pool = store.add_pool("p")
        for name, data in objects.items():
            self.pool.write_full(name, data)
        self.failing = failing
        self.reads: list[tuple[str, int, int | None]] = []
        self.lock = threading.Lock()

    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.lock:
            self.reads.append((oid, offset, length))
        if oid == self.failing:
            raise NotFoundError(f"object {oid} does not exist")
        return self.pool.read(oid, offset, length)


OBJECTS = {f"o{i}": bytes(range(i, i + 40 + 7 * i)) for i in range(5)}


def _chunks(data: bytes) -> list[int]:
    offsets = list(range(0, len(data) + 1, CHUNK))
    return offsets if len(data) % CHUNK == 0 else offsets[: len(data) // CHUNK + 1]


@settings(max_examples=60, deadline=None)
@given(schedule=st.permutations(sorted(OBJECTS)), order=st.permutations(sorted(OBJECTS)),
       depth=st.integers(1, 4), extra=st.lists(st.sampled_from(sorted(OBJECTS)), max_size=3))
def test_reads_equal_the_store_in_any_order(schedule, order, depth, extra):
    pool = CountingPool(OBJECTS)
    with ReadAhead(pool, CHUNK, depth) as reader:  # type: ignore[arg-type]
        reader.schedule(schedule[:2])
        reader.schedule(schedule[2:])
        for name in [*order, *extra]:
            data = OBJECTS[name]
            for offset in _chunks(data):
                assert reader.read(name, offset, CHUNK) == data[offset : offset + CHUNK]
            assert reader.read(name, 3, None) == data[3:]  # not a chunk read: straight to the store


def test_in_schedule_order_every_chunk_is_read_once():
    pool = CountingPool(OBJECTS)
    with ReadAhead(pool, CHUNK) as reader:  # type: ignore[arg-type]
        reader.schedule(sorted(OBJECTS))
        for name in sorted(OBJECTS):
            for offset in _chunks(OBJECTS[name]):
                reader.read(name, offset, CHUNK)
    assert sorted(pool.reads) == sorted((n, o, CHUNK) for n in OBJECTS for o in _chunks(OBJECTS[n]))


def test_an_error_is_raised_where_its_chunk_is_asked_for():
    pool = CountingPool(OBJECTS, failing="o1")
    with ReadAhead(pool, CHUNK) as reader:  # type: ignore[arg-type]
        reader.schedule(["o0", "o1", "o2"])
        assert reader.read("o0", 0, CHUNK) == OBJECTS["o0"][:CHUNK]
        with pytest.raises(NotFoundError):
            reader.read("o1", 0, CHUNK)
        assert reader.read("o2", 0, CHUNK) == OBJECTS["o2"][:CHUNK]


def test_close_with_chunks_pending_stops_the_thread():
    pool = CountingPool({f"big{i}": bytes(10_000) for i in range(8)})
    reader = ReadAhead(pool, CHUNK, depth=2)  # type: ignore[arg-type]
    reader.schedule(f"big{i}" for i in range(8))
    reader.read("big0", 0, CHUNK)
    reader.close()
    assert not reader._thread.is_alive()
    assert len(pool.reads) < 8 * 10_000 // CHUNK  # it stopped, it did not read everything


def _walk_view(journal: Journal, read_ahead: bool, all_entries: bool, stop_after: int | None = None):
    walk = JournalWalk(journal, all_entries=all_entries, read_chunk=64, read_ahead=read_ahead)
    entries = []
    for entry in walk:
        entries.append((entry.object_name, entry.offset, entry.tag_tid, entry.entry_tid, bytes(entry.payload)))
        if stop_after is not None and len(entries) >= stop_after:
            break
    return entries, [p.to_json() for p in walk.problems]


def damaged_fixture_pool(data, actions: tuple[str, ...] = ("truncate", "insert")):
    """The small_objects fixture's pool with up to 3 data objects truncated, inserted into or removed."""
    pool = load_fixture_store("small_objects").pool("rbd")
    names = sorted(pool.list_objects("journal_data."))
    for name in data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        blob = bytearray(pool.read(name))
        action = data.draw(st.sampled_from(actions))
        if action == "remove":
            pool.remove(name)
            continue
        if action == "truncate":
            del blob[data.draw(st.integers(0, len(blob))):]  # shorter: the schedule guesses wrong
        else:
            at = data.draw(st.integers(0, len(blob)))
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=40))
        pool.write_full(name, bytes(blob))
    return pool


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_walk_with_read_ahead_equals_one_without(data):
    journal = Journal.open(damaged_fixture_pool(data), "10abe81d9984")
    all_entries = data.draw(st.booleans())
    stop_after = data.draw(st.none() | st.integers(1, 30))
    assert _walk_view(journal, True, all_entries, stop_after) == _walk_view(journal, False, all_entries, stop_after)
    assert threading.active_count() < 20  # walks stopped early do not leave reader threads behind


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 48, 100])
def test_a_directory_pool_reads_an_object_in_chunks_as_read_does(tmp_path, size):
    """DirectoryPool.read_chunks (one open, a pread per chunk: what the reader thread uses) gives the chunks
    read(name, k * chunk, chunk) gives, up to the first short one; a missing object raises NotFoundError
    where its first chunk is; an object with only an omap is empty; a symlink is refused."""
    from journaltools.errors import StoreError
    from journaltools.store.directory import DirectoryStore

    (tmp_path / "s").mkdir()
    pool = DirectoryStore(tmp_path / "s").create_pool("p", 1)
    pool.write_full("obj", bytes(range(size)))
    expected, offset = [], 0
    while True:
        expected.append(pool.read("obj", offset, CHUNK))
        if len(expected[-1]) < CHUNK:
            break
        offset += CHUNK
    assert list(pool.read_chunks("obj", CHUNK)) == expected
    with pytest.raises(NotFoundError):
        next(pool.read_chunks("missing", CHUNK))
    pool.omap_set("only-omap", {"k": b"v"})
    assert list(pool.read_chunks("only-omap", CHUNK)) == [b""]
    (pool.root / "objects" / "link").symlink_to(pool.root / "objects" / "obj")
    with pytest.raises(StoreError, match="symbolic link"):
        next(pool.read_chunks("link", CHUNK))


def test_object_chunks_read_as_the_store_does(tmp_path):
    """ObjectChunks (a walk's reads in its own thread): the chunks at 0, CHUNK, ... from one read_chunks,
    any other offset or length from read(), the same bytes either way; a missing object raises where read does."""
    from journaltools.store.directory import DirectoryStore
    from journaltools.store.readahead import ObjectChunks

    (tmp_path / "s").mkdir()
    pool = DirectoryStore(tmp_path / "s").create_pool("p", 1)
    data = bytes(range(200)) * 3
    pool.write_full("obj", data)
    reader = ObjectChunks(pool, "obj", CHUNK)
    asks = [(0, CHUNK), (CHUNK, CHUNK), (5, 7), (2 * CHUNK, CHUNK), (0, None), (3 * CHUNK, CHUNK), (10 * CHUNK, CHUNK)]
    assert [reader.read(o, n) for o, n in asks] == [pool.read("obj", o, n) for o, n in asks]
    tail = ObjectChunks(pool, "obj", CHUNK)
    got, offset = [], 0
    while True:
        got.append(tail.read(offset, CHUNK))
        if len(got[-1]) < CHUNK:
            break
        offset += CHUNK
    assert b"".join(got) == data and tail.read(offset + CHUNK, CHUNK) == b""
    with pytest.raises(NotFoundError):
        ObjectChunks(pool, "missing", CHUNK).read(0, CHUNK)


def test_huge_heap_refuses_bad_pads_and_advises_at_most_its_pad():
    from journaltools import _native  # type: ignore[attr-defined]

    with pytest.raises(ValueError):
        _native.huge_heap(-1)
    with pytest.raises(ValueError):
        _native.huge_heap(2 << 30)
    assert _native.huge_heap(0) == 0
    advised = _native.huge_heap(32 << 20)
    assert 0 <= advised <= 32 << 20 and advised % (2 << 20) == 0


@pytest.mark.parametrize("size", [0, 1, 16, 100])
def test_a_directory_pool_maps_an_object_as_read_gives_it(tmp_path, size):
    """DirectoryPool.map_object: the whole file read-only (empty: b""), what read() gives; a missing object
    raises NotFoundError as read does; one with only an omap is empty; a symlink is refused; prefetch is
    only a hint (a missing object is no error)."""
    from journaltools.errors import StoreError
    from journaltools.store.directory import DirectoryStore

    (tmp_path / "s").mkdir()
    pool = DirectoryStore(tmp_path / "s").create_pool("p", 1)
    pool.write_full("obj", bytes(range(size)))
    mapped = pool.map_object("obj")
    assert bytes(mapped) == pool.read("obj") and len(mapped) == size
    with pytest.raises(TypeError):
        memoryview(mapped)[0:1] = b"x"  # read-only
    pool.write_full("obj", b"new")  # replaced by a rename: the mapping keeps the old file
    assert bytes(mapped) == bytes(range(size))
    with pytest.raises(NotFoundError):
        pool.map_object("missing")
    pool.omap_set("only-omap", {"k": b"v"})
    assert pool.map_object("only-omap") == b""
    (pool.root / "objects" / "link").symlink_to(pool.root / "objects" / "obj")
    with pytest.raises(StoreError, match="symbolic link"):
        pool.map_object("link")
    pool.prefetch(["obj", "missing", "link"])
    assert MemoryStore().add_pool("m").map_object("obj") is None  # a backend without files maps nothing


def _directory_copy(data, root):
    """The small_objects fixture as a directory store under ``root``, damaged as damaged_fixture_pool does."""
    import shutil

    from journaltools.store.directory import DirectoryStore

    from .journal_factory import FIXTURES

    shutil.copytree(FIXTURES / "stores" / "small_objects", root, dirs_exist_ok=True)
    pool = DirectoryStore(root).pool("rbd")
    damaged = damaged_fixture_pool(data, ("truncate", "insert", "remove"))
    for name in sorted(pool.list_objects("journal_data.")):
        if not damaged.exists(name):
            pool.remove(name)
        elif (blob := damaged.read(name)) != pool.read(name):
            pool.write_full(name, blob)
    return pool


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_mapped_walk_of_a_directory_store_equals_a_read_one(data):
    """A walk of a directory store scans each object in its mapped file (the default); with no read-ahead it
    reads the object in chunks.  Entries, payloads and problems are the same, damaged or not, stopped early
    or not, all entries or replay order."""
    import tempfile

    from journaltools.store.readahead import maps_objects

    with tempfile.TemporaryDirectory() as root:
        pool = _directory_copy(data, root)
        assert maps_objects(pool)
        journal = Journal.open(pool, "10abe81d9984")
        all_entries = data.draw(st.booleans())
        stop_after = data.draw(st.none() | st.integers(1, 30))
        mapped = _walk_view(journal, True, all_entries, stop_after)
        assert mapped == _walk_view(journal, False, all_entries, stop_after)
        walk = JournalWalk(journal, read_chunk=64)
        assert walk.count() == JournalWalk(journal, read_chunk=64, read_ahead=False).count()


def test_maps_objects_follows_the_read_ahead_setting(tmp_path, monkeypatch):
    from journaltools.store.directory import DirectoryStore
    from journaltools.store.readahead import maps_objects

    (tmp_path / "s").mkdir()
    pool = DirectoryStore(tmp_path / "s").create_pool("p", 1)
    assert maps_objects(pool) and not maps_objects(MemoryStore().add_pool("m"))
    assert not maps_objects(object())  # type: ignore[arg-type]  # a pool-like object without map_object
    for name, value in (("JOURNALTOOLS_READ_AHEAD", "thread"), ("JOURNALTOOLS_READ_AHEAD", "off"),
                        ("JOURNALTOOLS_MAP_OBJECTS", "off")):
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            assert not maps_objects(pool)


_MAPPED_PEAK = """
import sys
from journaltools.journal import Journal
from journaltools.store import open_store
def peak():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
journal = Journal.open(open_store(store_dir=sys.argv[1]).pool("rbd"), "j1")
before = peak()
count = 0
for entry in journal.walk():
    count += 1
print(count, (peak() - before) // 1024)
"""


def test_a_mapped_walk_lets_replayed_pages_go(tmp_path):
    """A walk that maps its objects holds the pages of what it has replayed no longer than a walk that reads
    them holds their chunks: each segment's pages are dropped once replayed (and a whole object's after its
    scan when only counting).  Two sets of four 16 MiB objects: the peak grows by about one set (the four
    objects just scanned), not two (before, each mapping stayed whole until its object was done)."""
    import subprocess
    import sys

    from journaltools.store.directory import DirectoryStore

    from .journal_factory import make_journal, write_event

    _, source = make_journal([32768], splay_width=4, order=24, payload=write_event(0, 4000), entries_per_set=16384)
    pool = DirectoryStore(tmp_path).create_pool("rbd", 2)
    for name in source.list_objects():
        data = source.read(name)
        if data:
            pool.write_full(name, data)
        values = source.omap(name)
        if values:
            pool.omap_set(name, values)
    out = subprocess.run([sys.executable, "-c", _MAPPED_PEAK, str(tmp_path)], capture_output=True, text=True,
                         check=True, timeout=300)
    count, grown_mib = map(int, out.stdout.split())
    assert count == 32768
    assert grown_mib < 110, grown_mib  # measured 89 MiB (3 runs); 129 MiB before the pages were let go


def test_a_file_that_cannot_be_mapped_is_read(tmp_path, monkeypatch):
    """Where the file system cannot map a file, map_object gives None and the walk reads the object instead:
    the same entries and problems as a walk without read-ahead."""
    import shutil

    from journaltools.store import directory
    from journaltools.store.directory import DirectoryStore

    from .journal_factory import FIXTURES

    shutil.copytree(FIXTURES / "stores" / "small_objects", tmp_path / "s")
    journal = Journal.open(DirectoryStore(tmp_path / "s").pool("rbd"), "10abe81d9984")
    expected = _walk_view(journal, False, False)

    def cannot_map(*args, **kwargs):
        raise OSError(19, "No such device")

    monkeypatch.setattr(directory.mmap, "mmap", cannot_map)
    name = next(iter(journal.data_pool.list_objects("journal_data.")))
    assert journal.data_pool.map_object(name) is None
    assert _walk_view(journal, True, False) == expected and expected[0]


def test_a_mapped_walk_of_all_entries_holds_one_set_of_mappings(tmp_path):
    """A walk of all entries (object order, set by set) lets each set's mappings go once the set is yielded,
    and tells the store of one set ahead only."""
    import shutil

    from journaltools.store.directory import DirectoryStore

    from .journal_factory import FIXTURES

    shutil.copytree(FIXTURES / "stores" / "small_objects", tmp_path / "s")
    pool = DirectoryStore(tmp_path / "s").pool("rbd")
    journal = Journal.open(pool, "10abe81d9984")
    prefetched: list[list[str]] = []
    pool.prefetch = lambda oids: prefetched.append(list(oids))  # type: ignore[method-assign]
    walk = JournalWalk(journal, all_entries=True)
    held = []
    for _ in walk:
        held.append(len(walk._held_maps))
    width = journal.splay_width
    assert held and max(held) <= width and not walk._held_maps
    assert len(prefetched) > 1 and all(len(names) <= width for names in prefetched)
