"""The fast paths of the scanner and the walk give exactly what the careful paths give.

``scan_chunked`` (chunked reads, the tight loop over healthy frames) must yield the
same frames and problems as ``scan_object`` over the whole object, whatever the
chunk size and whatever the damage; the walk must not depend on the chunk size.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from journaltools.format.journal_entry import encode_entry
from journaltools.journal import Journal, Problem
from journaltools.journal.scan import Frame, scan_chunked, scan_object
from journaltools.journal.walk import JournalWalk
from journaltools.store import DirectoryStore

from .journal_factory import FIXTURES, load_fixture_store


def _item(item: Frame | Problem) -> tuple:
    if isinstance(item, Problem):
        return ("problem", *item.to_json().values())
    return ("frame", item.offset, item.size, item.tag_tid, item.entry_tid, item.payload)


def _reader(data: bytes):
    def read_at(offset: int, length: int | None) -> bytes:
        return data[offset:] if length is None else data[offset : offset + length]

    return read_at


def _chunked(data: bytes, chunk: int) -> tuple[list[tuple], int]:
    frames, rest, size = scan_chunked(_reader(data), "obj", chunk)
    return [_item(i) for i in [*frames, *rest]], size


pieces = st.one_of(
    st.builds(encode_entry, st.integers(0, 3), st.integers(0, 50), st.binary(max_size=300)),
    st.binary(min_size=1, max_size=20),  # garbage
    st.integers(1, 9).map(lambda n: b"\x00" * n),  # padding
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(pieces, max_size=12), cut=st.integers(0, 40), flip=st.integers(-1, 4000),
       chunk=st.sampled_from([29, 33, 40, 64, 100, 333, 4096]))
def test_chunked_scan_equals_whole_object_scan(parts, cut, flip, chunk):
    data = bytearray(b"".join(parts))
    if cut:
        del data[max(0, len(data) - cut):]
    if 0 <= flip < len(data):
        data[flip] ^= 0x10
    data = bytes(data)
    expected = [_item(i) for i in scan_object(data, "obj")]
    assert _chunked(data, chunk) == (expected, len(data))
    frames, rest, size = scan_chunked(_no_reads, "obj", chunk, whole=data)  # the object in one buffer
    assert ([_item(i) for i in [*frames, *rest]], size) == (expected, len(data))


def _no_reads(offset: int, length: int | None) -> bytes:
    raise AssertionError("a whole object is not read")


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(pieces, min_size=1, max_size=12), flip=st.integers(-1, 4000))
def test_a_scan_of_a_mapped_file_equals_the_whole_object_scan(tmp_path_factory, parts, flip):
    """scan_chunked over a file mapped read-only (what a directory store's walk scans) finds what
    scan_object finds in the same bytes (the mapping: find, slices and regex searches of an mmap)."""
    import mmap

    data = bytearray(b"".join(parts))
    if 0 <= flip < len(data):
        data[flip] ^= 0x10
    data = bytes(data)
    if not data:
        return
    path = tmp_path_factory.mktemp("mapped") / "obj"
    path.write_bytes(data)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        frames, rest, size = scan_chunked(_no_reads, "obj", 64, whole=mapped)
        got = [_item(i) for i in [*frames, *rest]]
        expected = [_item(i) for i in scan_object(data, "obj")]
        assert (got, size) == (expected, len(data))
        del frames, rest, got  # the payload views, before the mapping closes


def test_chunked_scan_of_a_healthy_object_reads_no_whole_copy():
    frames = [encode_entry(1, tid, bytes([tid]) * (100 + tid)) for tid in range(60)]
    data = b"".join(frames)
    calls: list[tuple[int, int | None]] = []

    def read_at(offset: int, length: int | None) -> bytes:
        calls.append((offset, length))
        return data[offset:] if length is None else data[offset : offset + length]

    healthy, rest, size = scan_chunked(read_at, "obj", 1000)
    assert [f.entry_tid for f in healthy] == list(range(60))
    assert rest == [] and size == len(data)
    assert all(length is not None for _, length in calls)  # never fell back to a whole read
    assert [f.payload for f in healthy] == [bytes([t]) * (100 + t) for t in range(60)]


def test_frame_larger_than_a_chunk_falls_back_to_whole_read():
    data = encode_entry(0, 0, b"a" * 5000) + encode_entry(0, 1, b"b")
    frames, rest, size = scan_chunked(_reader(data), "obj", 1024)
    assert [(f.entry_tid, len(f.payload)) for f in [*frames, *rest]] == [(0, 5000), (1, 1)]
    assert size == len(data)


def _walk_view(journal: Journal, all_entries: bool, chunk: int) -> tuple[list[tuple], list[dict]]:
    walk = JournalWalk(journal, all_entries=all_entries, read_chunk=chunk)
    entries = [(e.object_name, e.offset, e.size, e.tag_tid, e.entry_tid, e.commit_tid, e.payload) for e in walk]
    return entries, [p.to_json() for p in walk.problems]


def test_walk_does_not_depend_on_the_read_chunk():
    for store, journal_id in [("all_events", "108bbb69e2b9"), ("small_objects", "10abe81d9984")]:
        journal = Journal.open(DirectoryStore(FIXTURES / "stores" / store).pool("rbd"), journal_id)
        for all_entries in (False, True):
            reference = _walk_view(journal, all_entries, 1 << 22)
            assert reference[0]
            for chunk in (29, 50, 256, 1000):
                assert _walk_view(journal, all_entries, chunk) == reference


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_damaged_walk_does_not_depend_on_the_read_chunk(data):
    store = load_fixture_store("small_objects")
    pool = store.pool("rbd")
    name = data.draw(st.sampled_from(sorted(pool.list_objects("journal_data."))))
    blob = bytearray(pool.read(name))
    where = data.draw(st.integers(0, len(blob)))
    blob[where:where] = data.draw(st.binary(min_size=1, max_size=64))
    blob += pool.read(name)[: data.draw(st.integers(0, 200))]  # a (partial) duplicate run at the end
    pool.write_full(name, bytes(blob))
    journal = Journal.open(pool, "10abe81d9984")
    for all_entries in (False, True):
        assert _walk_view(journal, all_entries, data.draw(st.sampled_from([33, 64, 500]))) == \
            _walk_view(journal, all_entries, 1 << 22)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_walk_does_not_depend_on_the_segment_size(data):
    """Streams drop replayed segments of an object's frames; the size of a segment changes nothing."""
    from journaltools.journal import walk as walk_module

    fixture, jid = data.draw(st.sampled_from([("small_objects", "10abe81d9984"), ("all_events", "108bbb69e2b9")]))
    pool = load_fixture_store(fixture).pool("rbd")
    names = sorted(pool.list_objects("journal_data."))
    if data.draw(st.booleans()):  # damage one object
        name = data.draw(st.sampled_from(names))
        blob = bytearray(pool.read(name))
        at = data.draw(st.integers(0, len(blob)))
        blob[at:at] = data.draw(st.binary(min_size=1, max_size=40))
        pool.write_full(name, bytes(blob))
    journal = Journal.open(pool, jid)
    reference = _walk_view(journal, False, 1 << 20)
    saved = walk_module.SEGMENT
    try:
        walk_module.SEGMENT = data.draw(st.integers(1, 5))
        assert _walk_view(journal, False, 1 << 20) == reference
    finally:
        walk_module.SEGMENT = saved
