"""The native core (journaltools/_native.c) and its pure-Python reference give identical results.

Every test here runs both paths on the same input, whatever ``JOURNALTOOLS_PURE_PYTHON``
says for the rest of the suite: the scanner's tight loop (``ok_run`` next to
``scan._ok_run_python``), the crc32c (hardware and table, next to the crc32c package),
whole scans of every fixture object and of damaged ones, walks of damaged journals
(entries and problems) and the bytes of every export format.  The extension must be
built: an install without it runs, on the pure-Python path, but is not what is tested.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journaltools import _native  # type: ignore[attr-defined]  # not built is a failure, not a skip
from journaltools.format import event_fastpath
from journaltools.format.crc import ceph_crc32c
from journaltools.format.journal_entry import encode_entry
from journaltools.journal import Journal, Problem
from journaltools.journal import scan as scan_module
from journaltools.journal import walk as walk_module
from journaltools.journal.scan import Frame, scan_chunked, scan_object
from journaltools.journal.walk import JournalEntry, JournalWalk

from .cli_helpers import cli
from .corruption import damaged_journals
from .journal_factory import FIXTURES, make_journal, write_event
from .test_event_fastpath import compiled_events

STORES = sorted(p.name for p in (FIXTURES / "stores").iterdir() if p.is_dir())
PATHS = {"native": _native.ok_run, "python": scan_module._ok_run_python}
RUNS = {"native": _native.replay_run, "python": walk_module._replay_run_python}
EVENT_TYPES = {"native": _native.event_type, "python": event_fastpath.fast_event_type_python}
ORDERS = {"native": _native.order_run, "python": walk_module._order_run_python}


@contextlib.contextmanager
def path(name: str) -> Iterator[None]:
    """Scan, replay and check events with the native core or with the pure-Python reference."""
    _native.set_frame_type(Frame)
    _native.set_entry_type(JournalEntry)
    _native.set_event_shapes(event_fastpath._SHAPES, event_fastpath.EVENT_VERSION, event_fastpath._META_HEAD)
    saved = scan_module._ok_run, walk_module._replay_run, walk_module._order_run, event_fastpath.fast_event_type
    scan_module._ok_run = PATHS[name]
    walk_module._replay_run = RUNS[name]
    walk_module._order_run = ORDERS[name]
    event_fastpath.fast_event_type = EVENT_TYPES[name]
    try:
        yield
    finally:
        scan_module._ok_run, walk_module._replay_run, walk_module._order_run, event_fastpath.fast_event_type = saved


def both(run):
    """``run()`` on each path; asserts the results are equal and returns one."""
    results = {}
    for name in PATHS:
        with path(name):
            results[name] = run()
    assert results["native"] == results["python"]
    return results["python"]


def _item(item: Frame | Problem) -> tuple:
    if isinstance(item, Problem):
        return ("problem", *item.to_json().values(), tuple(item.follow_on))
    return ("frame", item.offset, item.size, item.tag_tid, item.entry_tid, bytes(item.payload), item.problems)


def _reader(data: bytes):
    def read_at(offset: int, length: int | None) -> bytes:
        return data[offset:] if length is None else data[offset : offset + length]

    return read_at


def _chunked(data: bytes, chunk: int, max_entry: int = scan_module.MAX_ENTRY) -> tuple[list[tuple], list[tuple], int]:
    frames, rest, size = scan_chunked(_reader(data), "obj", chunk, max_entry)
    return [_item(i) for i in frames], [_item(i) for i in rest], size


def _fixture_objects() -> Iterator[tuple[str, bytes]]:
    for store in STORES:
        for obj in sorted((FIXTURES / "stores" / store).glob("*/objects/journal_data.*")):
            yield f"{store}/{obj.name}", obj.read_bytes()


def test_the_native_core_is_built_and_chosen():
    """Unless JOURNALTOOLS_PURE_PYTHON is set, scan.py uses the C loop (a fresh process decides)."""
    probe = ("from journaltools.journal import scan, walk; from journaltools.format import event_fastpath as e; "
             "print(scan.NATIVE, scan._ok_run is scan._ok_run_python, e.fast_event_type is e.fast_event_type_python, "
             "walk._replay_run is walk._replay_run_python, walk._order_run is walk._order_run_python)")
    env = {k: v for k, v in os.environ.items() if k != "JOURNALTOOLS_PURE_PYTHON"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False", "False", "False"]
    for value, native in (("1", False), ("yes", False), ("0", True), ("", True)):
        out = subprocess.run([sys.executable, "-c", probe], env={**env, "JOURNALTOOLS_PURE_PYTHON": value},
                             capture_output=True, text=True, check=True).stdout
        assert out.split() == [str(native), *[str(not native)] * 4], value


def _event_types_agree(payload: bytes) -> int | None:
    _native.set_event_shapes(event_fastpath._SHAPES, event_fastpath.EVENT_VERSION, event_fastpath._META_HEAD)
    expected = event_fastpath.fast_event_type_python(payload)
    assert _native.event_type(payload) == expected
    assert _native.event_type(memoryview(b"x" + payload)[1:]) == expected
    return expected


@settings(max_examples=400, deadline=None)
@given(payload=compiled_events(), data=st.data())
def test_event_type_equals_the_python_check(payload, data):
    """On every compiled event librbd writes, and on damaged ones (each byte of the envelope, the blob
    length and the metadata head matters)."""
    assert _event_types_agree(payload) is not None
    blob = bytearray(payload)
    action = data.draw(st.sampled_from(["flip", "truncate", "extend", "set", "type"]))
    if action == "flip":
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        del blob[data.draw(st.integers(0, len(blob) - 1)):]
    elif action == "extend":
        blob += data.draw(st.binary(min_size=1, max_size=8))
    elif action == "set":
        blob[data.draw(st.integers(0, min(len(blob) - 1, 40)))] = data.draw(st.integers(0, 255))
    else:
        blob[6:10] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    _event_types_agree(bytes(blob))


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=64))
def test_event_type_of_any_bytes_equals_the_python_check(payload):
    _event_types_agree(payload)


def test_event_type_of_every_fixture_entry():
    taken = 0
    for _, data in _fixture_objects():
        for item in scan_object(data, "obj"):
            if isinstance(item, Frame):
                taken += _event_types_agree(bytes(item.payload)) is not None
    assert taken


def test_set_frame_type_refuses_a_class_without_slots():
    class Plain:
        pass

    with pytest.raises((TypeError, AttributeError)):
        _native.set_frame_type(Plain)
    _native.set_frame_type(Frame)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=2000), seed=st.integers(0, 0xFFFFFFFF), start=st.integers(0, 7))
def test_crc32c_hardware_and_table_agree_with_the_crc32c_package(data, seed, start):
    view = memoryview(data)[start:]  # unaligned starts: the loops' head and tail bytes
    expected = ceph_crc32c(view, seed)
    try:
        assert _native.ceph_crc32c(view, seed) == expected
        _native.set_hardware_crc(False)
        assert _native.ceph_crc32c(view, seed) == expected
    finally:
        _native.set_hardware_crc(True)


@pytest.mark.parametrize("size", [383, 384, 385, 767, 768, 4141, 24575, 24576, 24577, 49152 + 383, 100_003])
def test_crc32c_of_the_interleaved_block_sizes(size):
    """The hardware crc runs three blocks at once (3 x 128 and 3 x 8192 bytes) and joins them: lengths around
    those sizes, from every alignment, agree with the crc32c package (and the table)."""
    data = bytes((i * 131 + 7) % 251 for i in range(size + 8))
    for start in range(8):
        view = memoryview(data)[start : start + size]
        for seed in (0, 0xFFFFFFFF, 0x12345678):
            expected = ceph_crc32c(view, seed)
            assert _native.ceph_crc32c(view, seed) == expected
            _native.set_hardware_crc(False)
            try:
                assert _native.ceph_crc32c(view, seed) == expected
            finally:
                _native.set_hardware_crc(True)


def test_crc32c_of_every_fixture_object():
    for _, data in _fixture_objects():
        expected = ceph_crc32c(data)
        assert _native.ceph_crc32c(data) == expected
        _native.set_hardware_crc(False)
        try:
            assert _native.ceph_crc32c(data) == expected
        finally:
            _native.set_hardware_crc(True)


def _other_version(tag_tid: int, entry_tid: int, data: bytes, version: int) -> bytes:
    """A frame with another version byte and a crc that matches it."""
    body = bytearray(encode_entry(tag_tid, entry_tid, data)[:-4])
    body[8] = version
    return bytes(body) + ceph_crc32c(body).to_bytes(4, "little")


pieces = st.one_of(
    st.builds(_other_version, st.integers(0, 3), st.integers(0, 50), st.binary(max_size=40),
              st.sampled_from([0, 2, 255])),
    st.builds(encode_entry, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.binary(max_size=300)),
    st.builds(encode_entry, st.integers(0, 3), st.integers(0, 50), st.binary(max_size=40)),
    st.binary(min_size=1, max_size=20),  # garbage
    st.integers(1, 9).map(lambda n: b"\x00" * n),  # padding
)


def _damaged(parts: list[bytes], cut: int, flips: list[int]) -> bytes:
    data = bytearray(b"".join(parts))
    if cut:
        del data[max(0, len(data) - cut):]
    for flip in flips:
        if flip < len(data):
            data[flip] ^= 1 << (flip % 8)
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(pieces, max_size=12), cut=st.integers(0, 40), flips=st.lists(st.integers(0, 4000), max_size=3),
       off=st.integers(0, 60), trim=st.integers(0, 60), base=st.integers(0, 1 << 40))
def test_ok_run_equals_the_python_loop(parts, cut, flips, off, trim, base):
    data = _damaged(parts, cut, flips)
    end = max(0, len(data) - trim)
    view = memoryview(data)
    runs = {}
    for name, ok_run in PATHS.items():
        frames: list[Frame] = []
        stop = ok_run(view, off, end, base, frames)
        runs[name] = stop, [_item(f) for f in frames]
    assert runs["native"] == runs["python"]


@settings(max_examples=60, deadline=None)
@given(count=st.integers(600, 2600), size=st.integers(0, 90), flips=st.lists(st.integers(0, 1 << 18), max_size=2),
       off=st.sampled_from([0, 1, 83]), trim=st.integers(0, 200), base=st.integers(0, 1 << 40))
def test_ok_run_of_a_long_run_without_the_gil_equals_the_python_loop(count, size, flips, off, trim, base):
    """From 64 KiB on, ok_run into a Frames checks frames without the GIL, 1,024 records at a time: runs of
    more than one batch, damaged anywhere, cut anywhere, give the Python loop's frames and stop."""
    data = _damaged([b"".join(encode_entry(1, i, bytes([i % 251]) * size) for i in range(count))], 0, flips)
    end = max(0, len(data) - trim)
    compact: object = _native.Frames()
    reference: list[Frame] = []
    view = memoryview(data)
    assert _native.ok_run(view, off, end, base, compact) == scan_module._ok_run_python(view, off, end, base, reference)
    assert [_item(f) for f in compact] == [_item(f) for f in reference]  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.sampled_from([0, 100, 958, 990, 991, 992, 999, 1100, 4096, 8000]), min_size=1, max_size=40),
       flips=st.lists(st.floats(0, 1, exclude_max=True), max_size=3), cut=st.integers(0, 5000),
       off=st.sampled_from([0, 3]), base=st.integers(0, 1 << 40))
def test_ok_run_of_frames_checked_three_at_once_equals_the_python_loop(sizes, flips, cut, off, base):
    """Frames of 1 KiB and more, three in a row, are crc'd at once (_native.c's crc_update3): whatever their
    sizes (frames of 991 and 992 payload bytes straddle the 1,024-byte line), damaged (a bit flipped at a
    share of the bytes) or cut anywhere, a Frames holds the Python loop's frames and stops where it stops."""
    parts = [encode_entry(1, i, bytes([i % 251, 7]) * (n // 2) + b"x" * (n % 2)) for i, n in enumerate(sizes)]
    length = sum(map(len, parts))
    data = _damaged(parts, cut, [int(f * length) for f in flips])
    compact: object = _native.Frames()
    reference: list[Frame] = []
    view = memoryview(data)
    assert _native.ok_run(view, off, len(data), base, compact) == scan_module._ok_run_python(view, off, len(data), base,
                                                                                            reference)
    assert [_item(f) for f in compact] == [_item(f) for f in reference]  # type: ignore[attr-defined]


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_a_healthy_journal_is_counted_and_walked_in_runs(monkeypatch, chunk):
    """With the native core, count() (payloads checked as they were read, then let go) and iteration take
    the entries of a healthy journal through replay_run's runs, not one by one in Python: a dropped
    payload stands for a checked event there too."""
    store, _ = make_journal([3000], splay_width=4, order=16, payload=bytes(write_event(0)))
    taken: list[int] = []

    def counting(*args):  # noqa: ANN002
        splay, count = _native.replay_run(*args)
        taken.append(count)
        return splay, count

    monkeypatch.setattr(walk_module, "_replay_run", counting)
    with path("native"):
        walk_module._replay_run = counting
        journal = Journal.open(store.pool("rbd"), "j1")
        assert JournalWalk(journal, read_chunk=chunk).count() == 3000
        assert sum(taken) >= 2990 and len(taken) < 100
        taken.clear()
        assert sum(1 for _ in JournalWalk(journal, read_chunk=chunk)) == 3000
        assert sum(taken) >= 2990 and len(taken) < 100


def test_ok_run_runs_beside_another_thread():
    """Two threads scanning at once (each releases the GIL while it checks) get what one alone gets."""
    import threading

    data = b"".join(encode_entry(2, i, bytes(range(200))) for i in range(3000))
    alone: list[Frame] = []
    scan_module._ok_run_python(memoryview(data), 0, len(data), 0, alone)
    expected = [_item(f) for f in alone]
    results: list[list[tuple]] = []

    def scan() -> None:
        for _ in range(5):
            frames = _native.Frames()
            assert _native.ok_run(memoryview(data), 0, len(data), 0, frames) == len(data)
            results.append([_item(f) for f in frames])

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10 and all(r == expected for r in results)


def test_dropped_payloads_are_those_checked_as_read():
    """Frames.drop_payloads() lets go of the payloads of the records ok_run found to be IO events in librbd's
    shape (their Frames then have payload None), keeps every other payload and the Frames already made, and
    the Frames no longer holds a chunk that no record needs."""
    _native.set_event_shapes(event_fastpath._SHAPES, event_fastpath.EVENT_VERSION, event_fastpath._META_HEAD)
    events = b"".join(encode_entry(1, i, bytes(write_event(i))) for i in range(40))
    mixed = b"".join(encode_entry(1, 40 + i, bytes(write_event(i)) if i % 3 else b"not an event") for i in range(30))
    chunks = [memoryview(bytes(events)), memoryview(bytes(mixed))]
    frames = _native.Frames()
    for k, chunk in enumerate(chunks):
        assert _native.ok_run(chunk, 0, len(chunk), k << 20, frames) == len(chunk)
    listed: list[Frame] = []
    for k, chunk in enumerate(chunks):
        scan_module._ok_run_python(chunk, 0, len(chunk), k << 20, listed)
    made = frames[45]  # a Frame made before the drop keeps its payload
    held = [sys.getrefcount(c) for c in chunks]
    assert frames.drop_payloads() == 40 + 20 - 1
    assert sys.getrefcount(chunks[0]) == held[0] - 1  # no record of the first chunk needs it
    assert sys.getrefcount(chunks[1]) == held[1]
    assert made is frames[45] and made.payload is not None
    for i, (kept, ref) in enumerate(zip(frames, listed, strict=True)):
        assert (kept.offset, kept.size, kept.tag_tid, kept.entry_tid) == (ref.offset, ref.size, ref.tag_tid, ref.entry_tid)
        checked = event_fastpath.fast_event_type_python(ref.payload) is not None
        if i == 45 or not checked:
            assert bytes(kept.payload) == bytes(ref.payload)
        else:
            assert kept.payload is None
    assert [(f.offset, f.payload is None) for f in frames[10:50]] == [(f.offset, f.payload is None) for f in list(frames)[10:50]]
    assert frames.drop_payloads() == 0


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(pieces, max_size=12), cut=st.integers(0, 40), flips=st.lists(st.integers(0, 4000), max_size=3),
       chunk=st.sampled_from([29, 33, 40, 64, 100, 333, 4096]), max_entry=st.sampled_from([33, 200, 1 << 26]))
def test_scans_of_damaged_objects_are_identical(parts, cut, flips, chunk, max_entry):
    data = _damaged(parts, cut, flips)
    both(lambda: _chunked(data, chunk, max_entry))
    both(lambda: [_item(i) for i in scan_object(data, "obj", max_entry=max_entry)])


def test_scans_of_every_fixture_object_are_identical():
    for _, data in _fixture_objects():
        for chunk in (64, 1000, 1 << 20):
            frames, rest, size = both(lambda data=data, chunk=chunk: _chunked(data, chunk))
            assert size == len(data)
        assert both(lambda data=data: [_item(i) for i in scan_object(data, "obj")])


def _walk_view(journal: Journal, all_entries: bool, chunk: int) -> tuple[list[tuple], list[dict]]:
    walk = JournalWalk(journal, all_entries=all_entries, read_chunk=chunk)
    entries = [(e.object_name, e.offset, e.size, e.tag_tid, e.entry_tid, e.commit_tid, bytes(e.payload)) for e in walk]
    return entries, [p.to_json() for p in walk.problems]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage=damaged_journals(), all_entries=st.booleans(), chunk=st.sampled_from([50, 700, 1 << 20]))
def test_walks_of_damaged_journals_are_identical(damage, all_entries, chunk):
    def walk():
        try:
            journal = Journal.open(damage.store.pool("rbd"), damage.journal_id)
        except Exception as exc:  # noqa: BLE001 - a header the damage made unreadable: the same on both paths
            return repr(exc)
        return _walk_view(journal, all_entries, chunk)

    def count():  # what inspect walks: with the native core, frames checked as they were read keep no payload
        try:
            journal = Journal.open(damage.store.pool("rbd"), damage.journal_id)
        except Exception as exc:  # noqa: BLE001 - as above
            return repr(exc)
        walk = JournalWalk(journal, all_entries=all_entries, read_chunk=chunk)
        return walk.count(), [p.to_json() for p in walk.problems]

    both(walk)
    both(count)


def _journal_ids(store: str) -> list[str]:
    return sorted(p.name[len("journal."):] for p in (FIXTURES / "stores" / store).glob("*/objects/journal.*"))


@pytest.mark.parametrize("store", STORES)
def test_inspect_and_exports_of_every_fixture_journal_are_byte_identical(store, tmp_path, capsys):
    root = FIXTURES / "stores" / store
    pool = next(p.name for p in root.iterdir() if p.is_dir())
    checked = 0
    for jid in _journal_ids(store):
        for args in (("inspect", "--verbose"), ("inspect", "--verbose", "--format", "json"),
                     ("export", "--format", "rbd"), ("export", "--format", "json"), ("export", "--format", "jsonl")):
            def run(args=args, jid=jid) -> tuple[int, str, str, bytes]:
                out = tmp_path / "out"
                out.unlink(missing_ok=True)
                extra = (str(out),) if args[0] == "export" else ()
                code, stdout, stderr = cli(capsys, "--store", str(root), "journal", *args, f"{pool}/{jid}", *extra)
                return code, stdout, stderr, out.read_bytes() if out.exists() else b""

            result = both(run)
            checked += bool(result[1] or result[3])
    assert checked


def test_a_frame_across_two_chunks_is_framed_from_its_own_bytes():
    """A frame that straddles a chunk boundary is copied on its own: the window does not join the next chunk
    (a 1 MiB copy per boundary before), so its payload views only the frame's bytes."""
    frames = [encode_entry(1, tid, bytes([tid]) * 300) for tid in range(40)]
    data = b"".join(frames)
    chunk = 1000
    for name in PATHS:
        with path(name):
            healthy, rest, size = scan_chunked(_reader(data), "obj", chunk)
        assert rest == [] and size == len(data) and [f.entry_tid for f in healthy] == list(range(40))
        for frame in healthy:
            straddles = frame.offset // chunk != (frame.offset + frame.size - 1) // chunk
            assert isinstance(frame.payload, memoryview)
            first = frame.offset // chunk * chunk
            assert len(frame.payload.obj) == (frame.size if straddles else min(chunk, len(data) - first)), name


# -- the replay's run of in-sequence entries (walk._replay_run) -------------------------------------------
class _Stream:
    """What replay_run reads and moves of a walk._OffsetStream: its current segment and index."""

    __slots__ = ("frames", "index", "number")

    def __init__(self, frames: list[Frame], index: int, number: int) -> None:
        self.frames, self.index, self.number = frames, index, number


def _entry(e: JournalEntry) -> tuple:
    return (e.object_number, e.object_name, e.offset, e.size, e.tag_tid, e.entry_tid, e.commit_tid, bytes(e.payload))


frame_specs = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 12), st.sampled_from(["event", "other", "problem"])),
                       max_size=8)


def _assert_replay_runs_agree(data, width: int, build, views: bool = False) -> None:
    """Draw one replay_run call's arguments; the native and the Python run over ``build(path)``'s
    streams stop at the same place, leave the streams at the same frames and build the same entries."""
    splay = data.draw(st.integers(0, width - 1))
    active, want = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 12))
    commit_tid, limit = data.draw(st.integers(0, 1000)), data.draw(st.integers(0, 40))
    check_events, build_entries = data.draw(st.booleans()), data.draw(st.booleans())
    indexes = data.draw(st.lists(st.integers(0, 8), min_size=width, max_size=width))
    results = {}
    for name, run in RUNS.items():
        with path(name):
            streams = build(name)
            for stream, index in zip(streams, indexes, strict=True):
                stream.index = min(index, len(stream.frames))
            numbers = [s.number for s in streams] if build_entries else None
            names = [f"obj.{n}" for n in numbers] if numbers is not None else None
            out: list[JournalEntry] | None = [] if build_entries else None
            stop = run(streams, splay, active, want, commit_tid, check_events, numbers, names, out, limit)
            results[name] = stop, [s.index for s in streams], [_entry(e) for e in out] if out is not None else None
            if out and views:
                assert all(isinstance(e.payload, memoryview) for e in out)
    assert results["native"] == results["python"]


@settings(max_examples=400, deadline=None)
@given(specs=st.lists(frame_specs, min_size=1, max_size=4), data=st.data())
def test_replay_run_equals_the_python_reference(specs, data):
    """On streams of frames of any tag and tid, with attached problems and payloads in and out of the fast
    path's shapes, from any stream, index, tag, tid and limit: the same entries, stop and stream indexes."""
    def build() -> list[_Stream]:
        streams = []
        for k, spec in enumerate(specs):
            frames = []
            for i, (tag, tid, kind) in enumerate(spec):
                payload = memoryview(write_event(tid) if kind != "other" else b"not an event")
                frames.append(Frame(100 * i, len(payload) + 33, tag, tid, payload,
                                    [Problem("bad_magic", "x", "obj")] if kind == "problem" else None))
            streams.append(_Stream(frames, 0, 10 + k))
        return streams

    _assert_replay_runs_agree(data, len(specs), lambda name: build())


@settings(max_examples=400, deadline=None)
@given(tids=st.lists(st.tuples(st.sampled_from([0, 1, 2, 2**64 - 1]), st.integers(0, 40) | st.just(2**64 - 1)),
                     max_size=30),
       width=st.integers(1, 5), data=st.data())
def test_order_run_equals_the_python_reference(tids, width, data):
    """Where an object's healthy run stops being in tid order per tag, each tag's last tid, the misplaced."""
    offset = data.draw(st.integers(0, width - 1))
    frames = [Frame(i, 33, tag, tid, b"") for i, (tag, tid) in enumerate(tids)]
    assert _native.order_run(frames, width, offset) == walk_module._order_run_python(frames, width, offset)


def test_replay_run_refuses_bad_arguments():
    with path("native"):
        stream = _Stream([], 0, 0)
        with pytest.raises(TypeError):
            _native.replay_run([stream], 0, 0, 0, 0, True, None, None, None)  # one argument short
        with pytest.raises(ValueError):
            _native.replay_run([stream], 1, 0, 0, 0, True, None, None, None, 10)  # splay past the streams
        with pytest.raises(TypeError):
            _native.replay_run([stream], 0, 0, 0, 0, True, [0], None, [], 10)  # entries without names


@st.composite
def long_journals(draw):
    """Journals of make_journal long enough for several segments and runs: tags, object sets, commit
    positions, payloads outside the fast path, one damaged object."""
    width = draw(st.integers(1, 4))
    tags = draw(st.lists(st.integers(0, 700), min_size=1, max_size=3))
    per_set = draw(st.sampled_from([None, 50, 300]))
    store, pool = make_journal(tags, splay_width=width, order=20, entries_per_set=per_set)
    names = sorted(pool.list_objects("journal_data."))
    if names and draw(st.booleans()):
        target = draw(st.sampled_from(names))
        blob = bytearray(pool.read(target))
        if blob:
            at = draw(st.integers(0, len(blob) - 1))
            blob[at] ^= 1 << draw(st.integers(0, 7))
            pool.write_full(target, bytes(blob))
    if names and draw(st.booleans()):  # an entry that is not an IO event: the full decoder's finding
        target = draw(st.sampled_from(names))
        blob = bytearray(pool.read(target))
        tid = int(target.rsplit(".", 1)[1]) % width
        pool.write_full(target, bytes(blob) + encode_entry(len(tags) - 1, tid + 10_000 * width, b"not an event"))
    return store


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(store=long_journals(), segment=st.sampled_from([3, 64, 1024]), run_limit=st.sampled_from([1, 7, 4096]),
       build=st.booleans())
def test_walks_of_long_journals_are_identical(store, segment, run_limit, build):
    """Walks (entries, or the count inspect takes) and problems of long journals, on both paths, with
    segments and runs of any length (the runs stop at segment ends, limits, tag changes, damage)."""
    def walk():
        journal = Journal.open(store.pool("rbd"), "j1")
        w = JournalWalk(journal, read_chunk=4096)
        entries = [_entry(e) for e in w] if build else w.count()
        return entries, w.entry_count, [p.to_json() for p in w.problems]

    saved = walk_module.SEGMENT, walk_module.RUN_LIMIT
    walk_module.SEGMENT, walk_module.RUN_LIMIT = segment, run_limit
    try:
        both(walk)
    finally:
        walk_module.SEGMENT, walk_module.RUN_LIMIT = saved


def test_native_frames_and_entries_are_not_visited_by_the_cyclic_collector():
    """ok_run's frames and replay_run's entries are untracked (they cannot be in a cycle); their payload
    views stay tracked (memoryview's dealloc needs it); all survive collections and being freed."""
    import gc

    with path("native"):
        store, _ = make_journal([300], splay_width=2, order=20)
        walk = JournalWalk(Journal.open(store.pool("rbd"), "j1"))
        entries = list(walk)
        frames: list[Frame] = []
        data = encode_entry(0, 0, b"x" * 40)
        _native.ok_run(memoryview(data), 0, len(data), 0, frames)
    assert len(entries) == 300 and sum(not gc.is_tracked(e) for e in entries) >= 290  # all but the first, built in C
    assert not gc.is_tracked(frames[0]) and gc.is_tracked(frames[0].payload)
    frames[0].problems = [Problem("bad_magic", "x", "obj")]
    gc.collect()
    assert bytes(entries[-1].payload) == bytes(write_event(299)) and frames[0].problems[0].kind == "bad_magic"
    del entries, frames
    gc.collect()


@pytest.mark.parametrize("name", PATHS)
def test_a_walk_collects_less_often_and_puts_the_threshold_back(name):
    import gc

    before = gc.get_threshold()
    with path(name):
        store, _ = make_journal([50], splay_width=2, order=20)
        walk = iter(JournalWalk(Journal.open(store.pool("rbd"), "j1")))
        next(walk)
        assert gc.get_threshold()[0] == walk_module.WALK_GC_THRESHOLD
        walk.close()  # an abandoned walk too
        assert gc.get_threshold() == before
        assert JournalWalk(Journal.open(store.pool("rbd"), "j1")).count() == 50
        assert gc.get_threshold() == before


# -- Frames: ok_run's compact runs (frames as offsets into the chunks, a Frame made on first use) ----------
def _frames_of(data: bytes, cuts: list[int], base: int = 0) -> tuple[object, list[Frame]]:
    """ok_run over ``data`` cut in pieces (one view each, as the scanner's chunks), into a Frames and, by the
    Python loop, into a list."""
    compact, reference = _native.Frames(), []
    bounds = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        piece = memoryview(data[lo:hi])
        off = 0
        while off < len(piece):
            stop = _native.ok_run(piece, off, len(piece), base + lo, compact)
            assert scan_module._ok_run_python(piece, off, len(piece), base + lo, reference) == stop
            if stop == off:
                break
            off = stop
    return compact, reference


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(pieces, max_size=12), cuts=st.lists(st.integers(0, 4000), max_size=3),
       base=st.integers(0, 1 << 40), data=st.data())
def test_frames_hold_what_the_python_loop_lists(parts, cuts, base, data):
    """A Frames filled by ok_run holds the Python loop's frames: items, negative indexes, slices (of any
    step), iteration; a Frame made once is the same object after (what is set on it stays), in slices
    taken later too; append and extend keep Frame objects as they are."""
    compact, reference = _frames_of(b"".join(parts), cuts, base)
    assert len(compact) == len(reference) and bool(compact) == bool(reference)
    assert [_item(f) for f in compact] == [_item(f) for f in reference]
    if not reference:
        with pytest.raises(IndexError):
            compact[0]
        return
    i = data.draw(st.integers(-len(reference), len(reference) - 1))
    assert _item(compact[i]) == _item(reference[i]) and compact[i] is compact[i]
    compact[i].problems = [Problem("bad_magic", "x", "obj")]
    lo, hi, step = data.draw(st.integers(-20, 20)), data.draw(st.integers(-20, 20)), data.draw(st.sampled_from([1, 1, 2, -1]))
    sliced = compact[lo:hi:step]
    assert [_item(f) for f in sliced] == [_item(f) for f in compact][lo:hi:step]
    assert all(a is b for a, b in zip(sliced, list(compact)[lo:hi:step], strict=True))
    more = _native.Frames()
    more.extend(sliced)
    more.append(reference[0])
    more.extend([reference[-1]])
    assert [_item(f) for f in more] == [_item(f) for f in sliced] + [_item(reference[0]), _item(reference[-1])]
    assert more[len(sliced)] is reference[0]
    with pytest.raises(TypeError):
        more.append("not a frame")
    with pytest.raises(IndexError):
        compact[len(reference)]


@settings(max_examples=300, deadline=None)
@given(tids=st.lists(st.tuples(st.sampled_from([0, 1, 2, 2**64 - 1]), st.integers(0, 40) | st.just(2**64 - 1)),
                     max_size=30),
       width=st.integers(1, 5), data=st.data())
def test_order_run_of_frames_equals_the_python_reference(tids, width, data):
    offset = data.draw(st.integers(0, width - 1))
    compact, reference = _frames_of(b"".join(encode_entry(tag, tid, b"p") for tag, tid in tids),
                                    data.draw(st.lists(st.integers(0, 40 * len(tids)), max_size=2)))
    assert _native.order_run(compact, width, offset) == walk_module._order_run_python(reference, width, offset)


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(frame_specs, min_size=1, max_size=4), data=st.data())
def test_replay_run_over_frames_equals_the_python_reference(specs, data):
    """replay_run over streams of Frames (records with and without a Frame made, problems attached to some)
    gives the Python reference's entries, stop and stream indexes over the same frames in lists."""
    made = data.draw(st.lists(st.booleans(), min_size=sum(map(len, specs)), max_size=sum(map(len, specs))))

    def build(compact: bool) -> list[_Stream]:
        streams, n = [], 0
        for k, spec in enumerate(specs):
            raw = b"".join(encode_entry(tag, tid, bytes(write_event(tid)) if kind != "other" else b"not an event")
                           for tag, tid, kind in spec)
            frames, listed = _frames_of(raw, [])
            chosen = frames if compact else listed
            for i, (_, _, kind) in enumerate(spec):
                if kind == "problem":
                    chosen[i].problems = [Problem("bad_magic", "x", "obj")]
                elif made[n + i]:
                    chosen[i]  # noqa: B018 - a Frame made for this record
            n += len(spec)
            streams.append(_Stream(chosen, 0, 10 + k))
        return streams

    reshaped = data.draw(st.booleans())  # event shapes set again after the scan: the records' types are found anew

    def build_for(name: str) -> list:
        streams = build(compact=name == "native")
        if reshaped:
            _native.set_event_shapes(event_fastpath._SHAPES, event_fastpath.EVENT_VERSION, event_fastpath._META_HEAD)
        return streams

    _assert_replay_runs_agree(data, len(specs), build_for, views=True)


def test_a_walk_keeps_an_objects_frames_as_records():
    """With the native core, the walk's healthy objects come as a Frames: no Frame object per entry."""
    with path("native"):
        store, _ = make_journal([300], splay_width=2, order=20)
        walk = JournalWalk(Journal.open(store.pool("rbd"), "j1"))
        frames = walk._frames(0)
        assert type(frames) is _native.Frames and len(frames) == 150
        assert walk.count() == 300
