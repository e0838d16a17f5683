"""Replay semantics on the raw-file target against a simple byte-level model (hypothesis), and the edges.

The model is written independently of journaltools/journal/replay.py: a bytearray, one
byte at a time, with discard granularity as "a granule is zeroed when the discard
covers it whole" (librbd aligns each object's extent inwards, the same thing said the
other way round).  Journals are real: EventEntry payloads framed as libjournal frames
them, read back through the project's walk.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from journaltools.acquire import copy_objects
from journaltools.format import librbd_journal as lj
from journaltools.format.journal_entry import encode_entry
from journaltools.format.librbd_journal import make_event
from journaltools.journal import CorruptionPolicy, Journal
from journaltools.journal.replay import (
    FileTarget,
    NullTarget,
    ReplayError,
    ReplayOptions,
    discard_ranges,
    parse_position,
    parse_time_ns,
    replay,
)
from journaltools.store.directory import DirectoryStore
from journaltools.store.memory import MemoryPool, MemoryStore

from .cli_helpers import cli
from .journal_factory import write_header

OBJECT = 4096
T0 = 1_764_580_000


def journal_of(payloads: list[bytes], splay_width: int = 2) -> tuple[MemoryStore, MemoryPool]:
    """One tag, entries placed as libjournal places them (tid % splay width), order 16."""
    store = MemoryStore(fsid="00000000-0000-0000-0000-000000000000")
    pool = store.add_pool("rbd", 2)
    for tid, payload in enumerate(payloads):
        pool.append(f"journal_data.2.j1.{tid % splay_width}", encode_entry(0, tid, payload))
    write_header(pool, "j1", order=16, splay_width=splay_width)
    return store, pool


def event(kind: int, n: int, **fields: Any) -> bytes:
    return make_event(kind, timestamp=(T0 + n, 0), **fields)


class Model:
    """The image as bytes, and librbd's replay rules said simply."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.ops: dict[int, tuple[str, Any]] = {}
        self.snaps: dict[str, bytes] = {}
        self.pending: dict[int, bytes] = {}
        self.states: list[bytes] = []

    def clip(self, offset: int, length: int) -> int:
        return max(0, min(length, len(self.data) - offset))

    def write(self, offset: int, data: bytes) -> None:
        n = self.clip(offset, len(data))
        self.data[offset : offset + n] = data[:n]

    def discard(self, offset: int, length: int, granularity: int) -> None:
        n = self.clip(offset, length)
        end = offset + n
        for x in range(offset, end):
            if granularity == 0:
                self.data[x] = 0
                continue
            grain = min(granularity, OBJECT)
            obj = x - x % OBJECT
            if grain >= OBJECT and min(end, obj + OBJECT) == obj + OBJECT:
                self.data[x] = 0  # reaches the object's end: a tail truncation, no alignment
                continue
            granule = x - (x - obj) % grain
            if granule >= offset and granule + grain <= end and granule + grain <= obj + OBJECT:
                self.data[x] = 0

    def write_same(self, offset: int, length: int, pattern: bytes) -> None:
        n = self.clip(offset, length)
        for i in range(n):
            self.data[offset + i] = pattern[i % len(pattern)]

    def compare_and_write(self, offset: int, compare: bytes, data: bytes) -> None:
        n = self.clip(offset, len(data))
        if bytes(self.data[offset : offset + n]) == compare[:n]:
            self.data[offset : offset + n] = data[:n]

    def resize(self, size: int) -> None:
        del self.data[size:]
        self.data.extend(bytes(size - len(self.data)))


@st.composite
def scenarios(draw: Any) -> tuple[bytes, list[bytes], Model]:
    """(base image, entry payloads, the model after them); ``model.states[i]``: the image after entry i."""
    size = draw(st.integers(1, 6)) * 2048 + draw(st.sampled_from([0, 1, 511]))
    base = draw(st.binary(min_size=size, max_size=size))
    model = Model(base)
    model.states = []
    payloads: list[bytes] = []
    op_tid = 0
    for _ in range(draw(st.integers(1, 25))):  # entry i has the time T0 + i
        if len(model.states) < len(payloads):
            model.states.append(bytes(model.data))
        kind = draw(st.sampled_from(["write", "discard", "same", "caw", "caw_match", "flush", "resize", "snap",
                                     "rollback", "finish"]))
        limit = len(model.data) + 2048
        offset = draw(st.integers(0, limit))
        if kind == "write":
            data = draw(st.binary(min_size=1, max_size=3000))
            payloads.append(event(lj.AIO_WRITE, len(payloads), offset=offset, length=len(data), data=data))
            model.write(offset, data)
        elif kind == "discard":
            length = draw(st.integers(1, 3 * OBJECT))
            granularity = draw(st.sampled_from([0, 512, 1024, OBJECT, 2 * OBJECT, 0xFFFFFFFF]))
            payloads.append(event(lj.AIO_DISCARD, len(payloads), offset=offset, length=length,
                                  discard_granularity_bytes=granularity))
            model.discard(offset, length, granularity)
        elif kind == "same":
            pattern = draw(st.binary(min_size=1, max_size=16))
            length = len(pattern) * draw(st.integers(1, 300))
            payloads.append(event(lj.AIO_WRITESAME, len(payloads), offset=offset, length=length, data=pattern))
            model.write_same(offset, length, pattern)
        elif kind in ("caw", "caw_match"):
            length = draw(st.integers(1, 600))
            compare = (bytes(model.data[offset : offset + length]).ljust(length, b"\0") if kind == "caw_match"
                       else draw(st.binary(min_size=length, max_size=length)))
            data = draw(st.binary(min_size=length, max_size=length))
            payloads.append(event(lj.AIO_COMPARE_AND_WRITE, len(payloads), offset=offset, length=length, cmp_data=compare,
                                  write_data=data))
            model.compare_and_write(offset, compare, data)
        elif kind == "flush":
            payloads.append(event(lj.AIO_FLUSH, len(payloads)))
        elif kind == "resize":
            op_tid += 1
            new_size = draw(st.integers(0, 8)) * 1024 + draw(st.sampled_from([0, 3]))
            payloads.append(event(lj.RESIZE, len(payloads), op_tid=op_tid, size=new_size))
            model.ops[op_tid] = ("resize", new_size)
        elif kind == "snap":
            name = draw(st.sampled_from(["a", "b/c"]))
            if any(op == ("snap", name) for op in model.ops.values()):
                continue  # librbd refuses a second snapshot of a name being created
            op_tid += 1
            payloads.append(event(lj.SNAP_CREATE, len(payloads), op_tid=op_tid, snap_name=name))
            model.ops[op_tid] = ("snap", name)
            model.pending[op_tid] = bytes(model.data)  # taken at the event
        elif kind == "rollback":
            op_tid += 1
            name = draw(st.sampled_from(["a", "b/c"]))
            payloads.append(event(lj.SNAP_ROLLBACK, len(payloads), op_tid=op_tid, snap_name=name))
            model.ops[op_tid] = ("rollback", name)
        elif model.ops:  # an OpFinish of an op in flight: success or failure
            tid = draw(st.sampled_from(sorted(model.ops)))
            result = draw(st.sampled_from([0, 0, -errno.EINVAL]))
            payloads.append(event(lj.OP_FINISH, len(payloads), op_tid=tid, result=result))
            what, arg = model.ops.pop(tid)
            if what == "snap":
                copy = model.pending.pop(tid)
                if result == 0:
                    model.snaps[arg] = copy
            elif result == 0 and what == "resize":
                model.resize(arg)
            elif result == 0 and what == "rollback" and arg in model.snaps:
                model.data = bytearray(model.snaps[arg])
    if len(model.states) < len(payloads):
        model.states.append(bytes(model.data))
    return base, payloads, model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(), st.sampled_from([1, 2, 3]))
def test_file_target_matches_the_model(tmp_path_factory: Any, scenario: Any, splay_width: int) -> None:
    base, payloads, model = scenario
    work = tmp_path_factory.mktemp("replay")
    target_path = work / "image.raw"
    target_path.write_bytes(base)
    _, pool = journal_of(payloads, splay_width)
    target = FileTarget(target_path, snapshots_dir=work / "snaps")
    try:
        result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(object_size=OBJECT))
    finally:
        target.close()
    assert target_path.read_bytes() == bytes(model.data)
    assert result.complete
    assert result.entries == len(payloads)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(), st.data())
def test_a_replay_stopped_anywhere_is_the_image_at_that_entry(tmp_path_factory: Any, scenario: Any, data: Any) -> None:
    """--to the entry k, or --until its successor's time: the image right after entry k (ops in flight not applied)."""
    base, payloads, model = scenario
    assume(payloads)
    k = data.draw(st.integers(0, len(payloads) - 1))
    by_time = data.draw(st.booleans()) and k + 1 < len(payloads)
    work = tmp_path_factory.mktemp("replay")
    target_path = work / "image.raw"
    target_path.write_bytes(base)
    _, pool = journal_of(payloads)
    target = FileTarget(target_path, snapshots_dir=work / "snaps")
    stop = {"until_ns": (T0 + k + 1) * 10**9} if by_time else {"to_position": (0, k)}
    try:
        result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(object_size=OBJECT, **stop))
    finally:
        target.close()
    assert target_path.read_bytes() == model.states[k]
    assert result.last_replayed is not None and result.last_replayed.entry_tid == k
    assert not list((work / "snaps").glob(".pending.*"))  # snapshots in flight at the stop are dropped


@pytest.mark.parametrize(("offset", "length", "granularity", "expected"), [
    (4096, 200_000, 65536, [(65536, 131072)]),  # librbd 16.2 journals this already aligned; re-aligning keeps it
    (100, 50, 64, []),  # smaller than a granule
    (0, 10_000, 0, [(0, 10_000)]),
    (100, OBJECT - 100, 0xFFFFFFFF, [(100, OBJECT - 100)]),  # skip_partial_discard: reaches the object end
    (100, OBJECT - 200, 0xFFFFFFFF, []),  # ... does not: skipped
    (100, 3 * OBJECT, 0xFFFFFFFF, [(100, 3 * OBJECT - 100)]),  # the last partial object is skipped
])
def test_discard_ranges(offset: int, length: int, granularity: int, expected: list[tuple[int, int]]) -> None:
    object_size = 65536 * 64 if granularity == 65536 else OBJECT
    assert discard_ranges(offset, length, granularity, object_size) == expected


def test_old_discard_event_skip_partial(tmp_path: Path) -> None:
    """Struct v4 events carry skip_partial_discard only: Ceph reads it as a granularity of the object size."""
    payload = make_event(lj.AIO_DISCARD, version=4, offset=100, length=OBJECT + 50, skip_partial_discard=True,
                         discard_granularity_bytes=0)  # not encoded at v4
    target_path = tmp_path / "t.raw"
    target_path.write_bytes(b"\xff" * 3 * OBJECT)
    _, pool = journal_of([payload])
    target = FileTarget(target_path)
    replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(object_size=OBJECT))
    target.close()
    data = target_path.read_bytes()
    assert data[:100] == b"\xff" * 100 and data[100:OBJECT] == bytes(OBJECT - 100) and data[OBJECT:] == b"\xff" * 2 * OBJECT


def _writes(n: int) -> list[bytes]:
    return [event(lj.AIO_WRITE, i, offset=i * 16, length=16, data=bytes([i + 1]) * 16) for i in range(n)]


def _run(payloads: list[bytes], tmp_path: Path, size: int = 256, **options: Any) -> tuple[Any, bytes]:
    _, pool = journal_of(payloads)
    path = tmp_path / "t.raw"
    path.write_bytes(bytes(size))
    target = FileTarget(path)
    try:
        result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(object_size=OBJECT, **options))
    finally:
        target.close()
    return result, path.read_bytes()


def test_until_stops_before_the_first_event_at_or_after_the_time(tmp_path: Path) -> None:
    result, data = _run(_writes(6), tmp_path, until_ns=(T0 + 3) * 10**9)
    assert data[: 3 * 16] == b"".join(bytes([i + 1]) * 16 for i in range(3)) and data[48:] == bytes(256 - 48)
    assert result.stopped_at.entry_tid == 3 and result.last_replayed.entry_tid == 2


def test_to_applies_through_the_entry_and_from_starts_at_one(tmp_path: Path) -> None:
    result, data = _run(_writes(6), tmp_path, from_position=(0, 2), to_position=(0, 4))
    assert data[:32] == bytes(32) and data[32:80] == bytes([3]) * 16 + bytes([4]) * 16 + bytes([5]) * 16
    assert data[80:] == bytes(256 - 80)
    assert result.before_start == 2 and result.first_replayed.entry_tid == 2 and result.last_replayed.entry_tid == 4


def test_from_snapshot_starts_right_after_its_snap_create(tmp_path: Path) -> None:
    payloads = _writes(2) + [event(lj.SNAP_CREATE, 2, op_tid=1, snap_name="S1"), event(lj.AIO_WRITE, 3, offset=0,
                             length=4, data=b"late"), event(lj.OP_FINISH, 4, op_tid=1, result=0)]
    result, data = _run(payloads, tmp_path, from_snapshot="S1")
    assert data[:4] == b"late" and data[4:] == bytes(252)  # the writes before S1 are in the base, not replayed
    assert result.before_start == 3
    assert result.by_type["OpFinish"].applied == 0  # S1's finish: its op was before the start


def test_from_snapshot_is_the_snapshot_that_exists_now() -> None:
    """A name removed and created again, or given by a rename: the SnapCreate that made today's snapshot."""
    from journaltools.journal.replay import snapshot_create_ordinal

    def ops(n: int, kind: int, op_tid: int, result: int = 0, **fields: Any) -> list[bytes]:
        return [event(kind, n, op_tid=op_tid, **fields), event(lj.OP_FINISH, n, op_tid=op_tid, result=result)]

    recreated = (ops(0, lj.SNAP_CREATE, 1, snap_name="S") + ops(1, lj.SNAP_REMOVE, 2, snap_name="S")
                 + ops(2, lj.SNAP_CREATE, 3, snap_name="other") + ops(3, lj.SNAP_CREATE, 4, snap_name="S")
                 + ops(4, lj.SNAP_CREATE, 5, result=-errno.EEXIST, snap_name="S"))
    renamed = (ops(0, lj.SNAP_CREATE, 1, snap_name="S") + ops(1, lj.SNAP_CREATE, 2, snap_name="X")
               + ops(2, lj.SNAP_RENAME, 3, dest_snap_name="S2", src_snap_id=5, src_snap_name="X"))
    removed = ops(0, lj.SNAP_CREATE, 1, snap_name="S") + ops(1, lj.SNAP_REMOVE, 2, snap_name="S")
    for payloads, name, expected in ((recreated, "S", 2), (renamed, "S2", 1), (renamed, "X", None), (renamed, "S", 0),
                                     (removed, "S", None)):
        _, pool = journal_of(payloads)
        assert snapshot_create_ordinal(Journal.open(pool, "j1").walk(), name) == expected, (name, expected)
    _, pool = journal_of(recreated + [event(lj.AIO_WRITE, 9, offset=0, length=1, data=b"x")])
    target = NullTarget(16)
    result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(from_snapshot="S", from_snapshot_ordinal=2))
    assert result.before_start == 7 and result.by_type["AioWrite"].applied == 1


def test_missing_start_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    _, pool = journal_of(_writes(3))
    path = tmp_path / "t.raw"
    path.write_bytes(bytes(64))
    target = FileTarget(path)
    with pytest.raises(ReplayError, match="S9"):
        replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(from_snapshot="S9"))
    target.close()
    assert path.read_bytes() == bytes(64)


def test_ops_apply_only_on_success_and_duplicate_op_tids_are_refused(tmp_path: Path) -> None:
    payloads = [
        event(lj.RESIZE, 0, op_tid=1, size=64), event(lj.OP_FINISH, 1, op_tid=1, result=-errno.EBUSY),
        event(lj.RESIZE, 2, op_tid=2, size=128), event(lj.RESIZE, 3, op_tid=2, size=32),
        event(lj.OP_FINISH, 4, op_tid=2, result=0),
        event(lj.OP_FINISH, 5, op_tid=77, result=0),  # no op: "previously committed"
        event(lj.RESIZE, 6, op_tid=3, size=16),  # never finished: not applied
    ]
    result, data = _run(payloads, tmp_path)
    assert len(data) == 128
    assert result.failed_ops == 1
    reasons = [s.reason for s in result.not_applied]
    assert any("already in flight" in r for r in reasons) and any("no OpFinish" in r for r in reasons)


def test_strict_stops_at_an_event_that_cannot_be_applied(tmp_path: Path) -> None:
    payloads = _writes(1) + [event(lj.FLATTEN, 1, op_tid=1), event(lj.OP_FINISH, 2, op_tid=1, result=0)] + [
        event(lj.AIO_WRITE, 3, offset=100, length=1, data=b"x")]
    result, data = _run(payloads, tmp_path)
    assert result.complete and data[100:101] == b"x" and result.not_applied[0].event == "Flatten"
    result, data = _run(payloads, tmp_path, strict=True)
    assert not result.complete and "--strict" in result.stopped and data[100:101] == b"\0"


def test_a_crc_failure_is_never_applied(tmp_path: Path) -> None:
    payloads = _writes(4)
    _, pool = journal_of(payloads, splay_width=1)
    raw = bytearray(pool.read("journal_data.2.j1.0"))
    second = len(encode_entry(0, 0, payloads[0]))
    raw[second + 40] ^= 1  # inside entry 1's payload
    pool.write_full("journal_data.2.j1.0", bytes(raw))
    for mode, applied in (("stop", [0]), ("skip", [0, 2, 3])):
        path = tmp_path / f"{mode}.raw"
        path.write_bytes(bytes(64))
        target = FileTarget(path)
        result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions(policy=CorruptionPolicy(mode)))
        target.close()
        data = path.read_bytes()
        for i in range(4):
            assert data[i * 16 : i * 16 + 16] == (bytes([i + 1]) * 16 if i in applied else bytes(16)), (mode, i)
        assert not result.complete
        assert result.problems[0].kind == "crc_mismatch" and result.problems[0].offset == second


def test_dry_run_writes_nothing() -> None:
    _, pool = journal_of(_writes(3) + [event(lj.RESIZE, 3, op_tid=1, size=8), event(lj.OP_FINISH, 4, op_tid=1, result=0)])
    target = NullTarget(64)
    result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions())
    assert result.applied == 5 and target.size == 8 and result.by_type["AioWrite"].bytes == 48


def test_new_file_without_a_size_takes_the_first_resize(tmp_path: Path) -> None:
    payloads = [event(lj.AIO_WRITE, 0, offset=10_000, length=3, data=b"abc"), event(lj.RESIZE, 1, op_tid=1, size=5000),
                event(lj.OP_FINISH, 2, op_tid=1, result=0), event(lj.AIO_WRITE, 3, offset=6000, length=3, data=b"zzz")]
    _, pool = journal_of(payloads)
    path = tmp_path / "new.raw"
    target = FileTarget(path)
    result = replay(Journal.open(pool, "j1").walk(), target, ReplayOptions())
    target.close()
    assert path.stat().st_size == 5000 and result.clipped == 1  # the write past the new size is a no-op


@pytest.mark.parametrize(("text", "ns"), [
    ("2026-12-01T09:15:08.812174+0000", 1796116508812174000),
    ("2026-12-01T09:15:08.812174567+00:00", 1796116508812174567),
    ("2026-12-01T09:15:08Z", 1796116508000000000),
    ("2026-12-01T10:15:08.5+01:00", 1796116508500000000),
    ("1796116508.812174567", 1796116508812174567),
])
def test_parse_time_ns_is_exact(text: str, ns: int) -> None:
    assert parse_time_ns(text) == ns


def test_bad_times_and_positions_are_one_line_errors() -> None:
    from journaltools.errors import SpecError

    with pytest.raises(SpecError, match="invalid time"):
        parse_time_ns("yesterday")
    with pytest.raises(SpecError, match="TAG:TID"):
        parse_position("12")


def _store_dir(tmp_path: Path, payloads: list[bytes]) -> Path:
    _, pool = journal_of(payloads)
    root = tmp_path / "store"
    root.mkdir()
    copy_objects(pool, ["journal.j1", "journal_data.2.j1.0", "journal_data.2.j1.1"], DirectoryStore(root))
    return root


def test_cli_offline(tmp_path: Path, capsys: Any) -> None:
    root = _store_dir(tmp_path, _writes(4) + [event(lj.RESIZE, 4, op_tid=1, size=100), event(lj.OP_FINISH, 5, op_tid=1,
                                                                                         result=0)])
    target = tmp_path / "out.raw"
    code, out, err = cli(capsys, "--store", root, "journal", "replay", "rbd/j1", target, "--format", "json")
    assert code == 0 and err == "", err  # no progress in a pipe
    doc = json.loads(out)
    assert doc["applied"] == 6 and doc["image_size"] == 100 and doc["by_type"]["AioWrite"]["bytes"] == 64
    assert target.read_bytes() == b"".join(bytes([i + 1]) * 16 for i in range(4)) + bytes(36)
    code, out, err = cli(capsys, "--store", root, "journal", "replay", "rbd/j1", tmp_path / "x.raw", "--to", "0:1")
    assert code == 0 and "last replayed: tag 0 entry tid 1" in out and "--to position reached" in out
    code, out, err = cli(capsys, "--store", root, "journal", "replay", "rbd/j1", tmp_path / "y.raw", "--to", "5:1")
    assert code == 1 and "was not found" in out
    code, out, err = cli(capsys, "--store", root, "journal", "replay", "rbd/j1", tmp_path / "z.raw",
                         "--from-snapshot", "nope")
    assert code == errno.ENOENT and "nope" in err and not (tmp_path / "z.raw").exists()
    code, out, err = cli(capsys, "--store", root, "journal", "replay", "rbd/j1", "--dry-run")
    assert code == 0 and "would apply" in out
    code, out, err = cli(capsys, "--store", root, "journal", "replay", "rbd/j1", "--to-image", "rbd/x")
    assert code != 0 and "live cluster" in err
