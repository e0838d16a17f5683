"""Micro-benchmarks of the journal hot path on fixture data (pytest-benchmark).

Disabled by default (``--benchmark-disable`` in pyproject addopts): then each runs
once as an ordinary test, checking its result, never its speed.  Time them with
``.venv/bin/pytest tests/test_benchmarks.py --benchmark-enable``.  The end-to-end
comparison with the real ``rbd`` is ``python -m benchmarks.run`` (docs/performance.md).
"""

from __future__ import annotations

import pytest

from journaltools.format.crc import ceph_crc32c
from journaltools.format.journal_entry import encode_entry
from journaltools.format.librbd_journal import AIO_WRITE, make_event
from journaltools.journal import Journal
from journaltools.journal.scan import scan_chunked, scan_object
from journaltools.store import MemoryStore

from .journal_factory import load_fixture_store, write_header

WRITE_4K = make_event(AIO_WRITE, timestamp=(1764034225, 0), offset=0, length=4096, data=bytes(range(256)) * 16)


@pytest.fixture(scope="module")
def big_object() -> bytes:
    """One journal object of 2,000 frames with 4 KiB payloads (what ``rbd bench`` 4K writes produce)."""
    return b"".join(encode_entry(1, tid * 4, WRITE_4K) for tid in range(2000))


@pytest.fixture(scope="module")
def bench_journal() -> Journal:
    """A journal of 4 objects x 500 entries of 4 KiB, splay width 4, one tag, nothing committed."""
    store = MemoryStore(fsid="00000000-0000-0000-0000-000000000000")
    pool = store.add_pool("rbd", 2)
    for tid in range(2000):
        pool.append(f"journal_data.2.bench.{tid % 4}", encode_entry(0, tid, WRITE_4K))
    write_header(pool, "bench", order=24, splay_width=4, clients={"": []})
    return Journal.open(pool, "bench")


def test_crc32c_of_one_object(benchmark, big_object):
    assert benchmark(ceph_crc32c, big_object) == ceph_crc32c(big_object)


def test_scan_whole_object(benchmark, big_object):
    frames = benchmark(lambda: list(scan_object(big_object, "obj")))
    assert len(frames) == 2000
    assert frames[-1].entry_tid == 1999 * 4


def test_scan_chunked_object(benchmark, big_object):
    def read_at(offset: int, length: int | None) -> bytes:
        return big_object[offset:] if length is None else big_object[offset : offset + length]

    healthy, rest, size = benchmark(scan_chunked, read_at, "obj", 1 << 20)
    assert (len(healthy), rest, size) == (2000, [], len(big_object))


def test_replay_walk(benchmark, bench_journal):
    def walk() -> int:
        walk = bench_journal.walk()
        count = sum(1 for _ in walk)
        assert walk.problems == []
        return count

    assert benchmark(walk) == 2000


def test_physical_walk(benchmark, bench_journal):
    assert benchmark(lambda: sum(len(e.payload) for e in bench_journal.walk(all_entries=True))) == 2000 * len(WRITE_4K)


def test_walk_of_a_real_journal(benchmark):
    journal = Journal.open(load_fixture_store("all_events").pool("rbd"), "108bbb69e2b9")
    assert benchmark(lambda: [e.commit_tid for e in journal.walk()]) == list(range(1, 33))


@pytest.fixture(scope="module")
def aio_write_event() -> bytes:
    from journaltools.format.librbd_journal import AIO_WRITE, make_event

    return make_event(AIO_WRITE, offset=1 << 20, length=4096, data=WRITE_4K, timestamp=(1_700_000_000, 5))


def test_event_fast_path(benchmark, aio_write_event):
    from journaltools.format.event_fastpath import fast_event

    event = benchmark(fast_event, aio_write_event)
    assert event is not None and event.type_name == "AioWrite"


def test_event_full_decoder(benchmark, aio_write_event):
    from journaltools.format import lookup
    from journaltools.format.event_fastpath import fast_event

    record = lookup("librbd::journal::EventEntry")
    value = benchmark(record.decode, aio_write_event)
    fast = fast_event(aio_write_event)
    assert fast is not None and record.to_json(value) == fast.to_json(aio_write_event)


def test_the_walk_row_times_no_imports_of_its_own():
    """benchmarks/measure.py's walk imports what the walk loads before its clock, as the limit loops import
    theirs: nothing of journaltools (nor pathlib or json) is imported while it is timed."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    store = root / "fixtures" / "stores" / "small_objects"
    journal_id = next((store / "rbd" / "objects").glob("journal.*")).name.split(".", 1)[1]
    out = subprocess.run([sys.executable, "-m", "benchmarks.measure", "walk", str(store), "rbd", journal_id],
                         capture_output=True, text=True, cwd=root, check=True)
    result = json.loads(out.stdout)
    assert result["bytes"] > 0
    assert [m for m in result["imported_inside"] if m.split(".")[0] in ("journaltools", "pathlib", "json")] == []


def test_the_directory_limit_loops_read_every_byte():
    """benchmarks/measure.py's directory limit, over each mapped file (the limit row), into the reused huge-page
    buffer and into a new bytes per read, crcs every byte of the journal's data objects."""
    from pathlib import Path

    from benchmarks.measure import limit_store

    store = Path(__file__).resolve().parent.parent / "fixtures" / "stores" / "small_objects"
    objects = sorted((store / "rbd" / "objects").glob("journal_data.*"))
    prefix = objects[0].name.rsplit(".", 1)[0] + "."
    size = sum(p.stat().st_size for p in objects if p.name.startswith(prefix))
    assert size > 0
    for strategy in ("map", "reused", "read"):
        seconds, total = limit_store(store, "rbd", prefix, strategy)
        assert total == size and seconds > 0


def test_the_floors_of_a_walk_are_measured():
    """benchmarks/floors.py measures a fixture journal's walks, count, limit and fresh memory (all positive)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    store = root / "fixtures" / "stores" / "small_objects"
    journal_id = next((store / "rbd" / "objects").glob("journal.*")).name.split(".", 1)[1]
    out = subprocess.run([sys.executable, "-m", "benchmarks.floors", str(store), "rbd", journal_id, "--rounds", "1"],
                         capture_output=True, text=True, cwd=root, check=True)
    result = json.loads(out.stdout)
    assert set(result) == {"first_walk", "warm_walk", "warm_count", "limit", "consume", "first_touch_64m_4k",
                           "first_touch_64m_huge"}
    assert all(v > 0 for v in result.values())
