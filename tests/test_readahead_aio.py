"""The aio read-ahead (several chunk reads in flight) returns exactly what the store returns, reads no
chunk past an object's end, keeps at most ``depth`` reads in flight, and raises each error where its
chunk is asked for; a walk through it equals a walk without read-ahead."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journaltools.errors import JournalToolsError, NotFoundError
from journaltools.journal import Journal
from journaltools.store.memory import MemoryStore
from journaltools.store.readahead import AioReadAhead, ReadAhead, open_read_ahead

from .test_readahead import _walk_view, damaged_fixture_pool

CHUNK = 16


class _Pending:
    """A read or stat completed by a timer thread after a random delay (out of issue order)."""

    def __init__(self, pool: AsyncPool, work) -> None:
        self.pool = pool
        self.event = threading.Event()
        self.value = None
        self.error: Exception | None = None

        def run() -> None:
            time.sleep(pool.rng.random() * pool.max_delay)
            try:
                self.value = work()
            except Exception as exc:  # noqa: BLE001 - delivered by result()
                self.error = exc
            with pool.lock:
                pool.outstanding -= 1
            self.event.set()

        with pool.lock:
            pool.outstanding += 1
            pool.most_outstanding = max(pool.most_outstanding, pool.outstanding)
        threading.Thread(target=run, daemon=True).start()

    def finished(self) -> bool:
        return self.event.is_set()

    def result(self) -> bytes:
        self.event.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]

    def size(self) -> int | None:
        self.event.wait()
        return None if self.error is not None else self.value


class AsyncPool:
    """A memory pool with asynchronous reads and stats; it records every read and can fail some."""

    def __init__(self, objects: dict[str, bytes], failing: dict[tuple[str, int], Exception] | None = None,
                 max_delay: float = 0.002, seed: int = 0) -> None:
        store = MemoryStore()
        self.pool = store.add_pool("p")
        for name, data in objects.items():
            self.pool.write_full(name, data)
        self.failing = failing or {}
        self.rng = random.Random(seed)
        self.max_delay = max_delay
        self.lock = threading.Lock()
        self.reads: list[tuple[str, int, int | None]] = []
        self.direct: list[tuple[str, int, int | None]] = []
        self.outstanding = 0
        self.most_outstanding = 0

    def _read(self, oid: str, offset: int, length: int | None) -> bytes:
        if (oid, offset) in self.failing:
            raise self.failing[(oid, offset)]
        return self.pool.read(oid, offset, length)

    def submit_read(self, oid: str, offset: int, length: int) -> _Pending:
        with self.lock:
            self.reads.append((oid, offset, length))
        return _Pending(self, lambda: self._read(oid, offset, length))

    def submit_stat(self, oid: str) -> _Pending:
        return _Pending(self, lambda: self.pool.stat(oid))

    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.lock:
            self.direct.append((oid, offset, length))
        return self._read(oid, offset, length)

    # what a walk needs of a pool besides reads
    def __getattr__(self, name: str):
        return getattr(self.pool, name)


OBJECTS = {f"o{i}": bytes(range(i, i + 40 + 7 * i)) for i in range(5)} | {"empty": b"", "exact": bytes(3 * CHUNK)}


def _chunks(data: bytes) -> list[int]:
    """The chunk offsets a scan asks for: up to the first short chunk (an empty one after an exact multiple)."""
    return list(range(0, len(data) + 1, CHUNK)) if len(data) % CHUNK == 0 else list(range(0, len(data), CHUNK))


@settings(max_examples=60, deadline=None)
@given(schedule=st.permutations(sorted(OBJECTS)), order=st.permutations(sorted(OBJECTS)),
       depth=st.integers(1, 6), extra=st.lists(st.sampled_from(sorted(OBJECTS)), max_size=3),
       seed=st.integers(0, 1000))
def test_reads_equal_the_store_in_any_order(schedule, order, depth, extra, seed):
    pool = AsyncPool(OBJECTS, seed=seed, max_delay=0.0005)
    with AioReadAhead(pool, CHUNK, depth) as reader:  # type: ignore[arg-type]
        reader.schedule(schedule[:3])
        reader.schedule(schedule[3:])
        for name in [*order, *extra]:
            data = OBJECTS[name]
            for offset in _chunks(data):
                assert reader.read(name, offset, CHUNK) == data[offset : offset + CHUNK]
                assert reader.in_flight <= depth + 1
            assert reader.read(name, 3, None) == data[3:]  # not a chunk read: straight to the store
    assert pool.most_outstanding <= depth + 1 + len(OBJECTS)  # reads in flight (and ones gone past) + the stats
    assert pool.outstanding == 0  # close() waited for every read still in flight


def test_in_schedule_order_every_chunk_is_read_once_and_none_past_the_end():
    pool = AsyncPool(OBJECTS)
    names = sorted(OBJECTS)
    with AioReadAhead(pool, CHUNK, depth=3) as reader:  # type: ignore[arg-type]
        reader.schedule(names)
        for name in names:
            for offset in _chunks(OBJECTS[name]):
                reader.read(name, offset, CHUNK)
    assert pool.reads == [(n, o, CHUNK) for n in names for o in _chunks(OBJECTS[n])]  # in order, nothing else
    assert pool.direct == []


def test_reads_in_flight_are_bounded_by_depth():
    objects = {f"big{i}": bytes(40 * CHUNK) for i in range(4)}
    pool = AsyncPool(objects, max_delay=0.003)
    with AioReadAhead(pool, CHUNK, depth=4) as reader:  # type: ignore[arg-type]
        reader.schedule(sorted(objects))
        time.sleep(0.02)  # every stat is back: only the depth bounds what is issued
        for name in sorted(objects):
            for offset in _chunks(objects[name]):
                reader.read(name, offset, CHUNK)
                assert reader.in_flight <= 4
                assert len(pool.reads) <= 4 + sorted(objects).index(name) * 41 + offset // CHUNK + 1
    assert pool.most_outstanding <= 4 + len(objects)


def test_an_error_is_raised_where_its_chunk_is_asked_for():
    failing = {("o3", CHUNK): JournalToolsError("read of o3 in pool p failed: (5) EIO - Input/output error")}
    objects = {k: v for k, v in OBJECTS.items() if k != "o1"}  # o1 does not exist
    pool = AsyncPool(objects, failing=failing)
    with AioReadAhead(pool, CHUNK, depth=8) as reader:  # type: ignore[arg-type]
        reader.schedule(["o0", "o1", "o2", "o3", "o4"])
        assert reader.read("o0", 0, CHUNK) == OBJECTS["o0"][:CHUNK]
        with pytest.raises(NotFoundError, match="o1"):
            reader.read("o1", 0, CHUNK)
        assert reader.read("o2", 0, CHUNK) == OBJECTS["o2"][:CHUNK]
        assert reader.read("o3", 0, CHUNK) == OBJECTS["o3"][:CHUNK]  # the chunk before the failing one is fine
        with pytest.raises(JournalToolsError, match="EIO"):
            reader.read("o3", CHUNK, CHUNK)
        assert reader.read("o4", 0, CHUNK) == OBJECTS["o4"][:CHUNK]
    assert ("o1", CHUNK, CHUNK) not in pool.reads  # a missing object gets one read: the one that fails


def test_an_object_that_grew_after_its_stat_is_read_on_from_the_store():
    pool = AsyncPool({"a": bytes(2 * CHUNK + 3)}, max_delay=0)
    with AioReadAhead(pool, CHUNK, depth=8) as reader:  # type: ignore[arg-type]
        reader.schedule(["a"])
        time.sleep(0.01)
        pool.pool.append("a", b"\1" * (2 * CHUNK))  # appended after the stat (a live journal)
        for offset in (0, CHUNK, 2 * CHUNK):
            assert reader.read("a", offset, CHUNK) in (bytes(CHUNK), bytes(3), bytes(3) + b"\1" * (CHUNK - 3))
        assert reader.read("a", 3 * CHUNK, CHUNK) == b"\1" * CHUNK  # past the stat's size: from the store
    assert pool.direct == [("a", 3 * CHUNK, CHUNK)]
    assert all(offset <= 2 * CHUNK + 3 for _, offset, _ in pool.reads)  # nothing issued past the stat's size


def test_open_read_ahead_picks_the_engine(monkeypatch):
    pool = AsyncPool(OBJECTS)
    plain = MemoryStore().add_pool("p")
    monkeypatch.delenv("JOURNALTOOLS_READ_AHEAD", raising=False)
    for target, mode, kind in ((pool, None, AioReadAhead), (plain, None, ReadAhead), (pool, "thread", ReadAhead)):
        if mode:
            monkeypatch.setenv("JOURNALTOOLS_READ_AHEAD", mode)
        reader = open_read_ahead(target, CHUNK)  # type: ignore[arg-type]
        assert type(reader) is kind
        assert reader is not None
        reader.close()
    monkeypatch.setenv("JOURNALTOOLS_READ_AHEAD", "off")
    assert open_read_ahead(pool, CHUNK) is None  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_walk_with_aio_read_ahead_equals_one_without(data, monkeypatch_module):
    pool = damaged_fixture_pool(data, ("truncate", "insert", "remove"))
    journal = Journal.open(pool, "10abe81d9984")
    asynchronous = Journal(journal.header_pool, journal.journal_id, journal.header,
                           AsyncPool({n: pool.read(n) for n in pool.list_objects("journal_data.")},
                                     seed=data.draw(st.integers(0, 99)), max_delay=0.0002))  # type: ignore[arg-type]
    all_entries = data.draw(st.booleans())
    stop_after = data.draw(st.none() | st.integers(1, 30))
    expected = _walk_view(journal, False, all_entries, stop_after)
    assert _walk_view(asynchronous, True, all_entries, stop_after) == expected
    assert asynchronous.data_pool.outstanding == 0  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOURNALTOOLS_READ_AHEAD", "aio")
        yield patch
