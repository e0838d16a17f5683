"""The export records in C (journaltools/_native_json.c) are byte-identical to the Python path.

The Python path (``export.entry_record`` + orjson for JSON and jsonl, ``RbdExportWriter.write_type``
for rbd's format: what ``JOURNALTOOLS_PURE_PYTHON=1`` runs) is the reference: every test runs both on the same input, whatever the environment of the
suite says.  Pieces (base64, the timestamp float, the ISO time) against their Python
counterparts; single records of generated entries (any object name, huge and out-of-range
numbers, every compiled event type with any field value, damaged payloads, events of every
other type); whole exports of generated entry streams with problems between entries; every
fixture journal and damaged ones, through the CLI and the library.  The extension must be
built: without it the import below fails the suite.
"""

from __future__ import annotations

import base64
import io
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journaltools import (
    _native_json,  # type: ignore[attr-defined]  # not built is a failure, not a skip
    export,
)
from journaltools.export import (
    EntryFilter,
    ExportResult,
    JsonExportWriter,
    JsonlExportWriter,
    RbdExportWriter,
    decode_event,
    entry_record,
    iso_utc,
    native_records,
    walk_entries,
)
from journaltools.format.event_fastpath import LAYOUTS, fast_event
from journaltools.format.librbd_journal import EVENTS, make_event
from journaltools.journal import ERROR, Journal, JournalEntry, Problem
from journaltools.journal.problems import CorruptionPolicy
from journaltools.journal.walk import JournalWalk

from .cli_helpers import cli
from .corruption import damaged_journals
from .journal_factory import FIXTURES
from .test_event_fastpath import compiled_events

STORES = sorted(p.name for p in (FIXTURES / "stores").iterdir() if p.is_dir())
U64 = 2**64 - 1


@pytest.fixture(autouse=True)
def _c_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The C tables set up whatever JOURNALTOOLS_PURE_PYTHON says for the rest of the suite."""
    from journaltools import native

    native_records.cache_clear()
    monkeypatch.setattr(native, "json_core", lambda: _native_json)
    assert native_records() is _native_json
    yield
    native_records.cache_clear()


def python_record(entry: JournalEntry) -> bytes | None:
    try:
        return orjson.dumps(entry_record(entry, decode_event(entry.payload)))
    except Exception:  # noqa: BLE001 - an undecodable payload: not a record on either path
        return None


def native_record(entry: Any) -> bytes | None:
    return _native_json.entry_record(entry)  # type: ignore[no-any-return]


# -- the pieces ------------------------------------------------------------------------------------
def test_the_json_core_is_built_and_chosen():
    """Unless JOURNALTOOLS_PURE_PYTHON is set, the export writers have a C loop (a fresh process decides)."""
    probe = ("import io; from journaltools import export; w = export.JsonlExportWriter(io.BytesIO()); "
             "print(export.native_records() is not None, w.native_run() is not None)")
    env = {k: v for k, v in os.environ.items() if k != "JOURNALTOOLS_PURE_PYTHON"}
    for value, native in ((None, True), ("1", False), ("yes", False), ("0", True), ("", True)):
        run_env = env if value is None else {**env, "JOURNALTOOLS_PURE_PYTHON": value}
        out = subprocess.run([sys.executable, "-c", probe], env=run_env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == [str(native)] * 2, value


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=3000), start=st.integers(0, 15))
def test_base64_simd_and_table_equal_the_base64_module(data, start):
    view = memoryview(data)[start:]
    expected = base64.b64encode(view)
    for level in (0, 1, 2):  # the table, SSSE3, AVX2 (each where the CPU has it)
        assert _native_json.b64encode(view, level) == expected


def test_base64_of_every_length_and_byte():
    every = bytes(range(256)) * 20
    for n in range(0, 200):
        for level in (0, 1, 2):
            assert _native_json.b64encode(every[n : n * 7], level) == base64.b64encode(every[n : n * 7])


def test_this_machine_runs_a_simd_base64():
    """So that the SIMD code is what the tests above check (every x86-64 CPU of this decade has AVX2)."""
    assert _native_json.simd_base64() in (("avx2", "ssse3") if platform.machine() == "x86_64" else ("",))


@settings(max_examples=2000, deadline=None)
@given(value=st.one_of(st.floats(1.0, 2.0**53, exclude_max=True), st.integers(1, 2**53 - 1).map(float),
                       st.builds(lambda s, n: s + n / 1e9, st.integers(1, 2**32 - 1), st.integers(0, 2**32 - 1))))
def test_floats_are_written_as_orjson_writes_them(value):
    assert _native_json.float_json(value) == orjson.dumps(value)


def test_floats_outside_the_range_are_left_to_orjson():
    for value in (0.0, 0.5, 1e-9, -1.0, 2.0**53, 1e16, float("inf"), float("nan")):
        assert _native_json.float_json(value) is None


_SEC = st.one_of(st.integers(1, 2**32 - 1), st.integers(1, 100), st.integers(1764000000, 1800000000))
_NSEC = st.one_of(st.integers(0, 10**9 - 1), st.integers(0, 2**32 - 1), st.integers(0, 10**6).map(lambda n: n * 1000 + 500),
                  st.sampled_from([0, 1, 499, 500, 501, 999999499, 999999500, 999999501, 999999999, 10**9, 2**32 - 1]))


@settings(max_examples=3000, deadline=None)
@given(sec=_SEC, nsec=_NSEC)
def test_timestamp_and_time_equal_the_python_path(sec, nsec):
    """``timestamp`` (the float) and ``time`` (datetime's microsecond rounding, half to even) of every u32 pair."""
    timestamp = float(sec) + nsec / 1e9
    assert _native_json.timestamp_json(sec, nsec) == (orjson.dumps(timestamp), iso_utc(timestamp))


def test_timestamps_below_one_second_are_left_to_python():
    assert _native_json.timestamp_json(0, 0) is None
    assert _native_json.timestamp_json(0, 999_999_999) is None
    assert _native_json.timestamp_json(0, 10**9) is not None


# -- single records --------------------------------------------------------------------------------
names = st.one_of(st.just("journal_data.2.1011a4fb17cf.12"),
                  st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
u64s = st.one_of(st.integers(0, U64), st.integers(0, 1000), st.sampled_from([U64, 2**63, 2**32]))
odd_ints = st.one_of(u64s, st.integers(-(2**70), -1), st.integers(2**64, 2**70))


_TEXT_FIELDS = {"snap_name", "src_snap_name", "dest_snap_name", "key", "value", "image_name"}


def _uncompiled_event(draw: Any) -> bytes:
    """An event of a type without a compiled layout (strings, namespaces, two bufferlists): Python's."""
    type_id = draw(st.sampled_from(sorted(set(EVENTS) - set(LAYOUTS))))
    fields: dict[str, Any] = {}
    for sub in EVENTS[type_id].subcons:
        if sub.name in _TEXT_FIELDS:
            fields[sub.name] = draw(st.text(max_size=12))
        elif sub.name in ("op_tid", "src_snap_id", "offset"):
            fields[sub.name] = draw(u64s)
    if type_id == 19:  # AioCompareAndWrite
        data = draw(st.binary(max_size=40))
        fields.update(length=len(data), cmp_data=data, write_data=data[::-1])
    return make_event(type_id, timestamp=(draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))),
                      **fields)


@st.composite
def payloads(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["compiled", "compiled", "compiled", "damaged", "uncompiled", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=80))
    if kind == "uncompiled":
        return _uncompiled_event(draw)
    payload = bytearray(draw(compiled_events()))
    if kind == "damaged" and payload:
        action = draw(st.sampled_from(["flip", "truncate", "extend", "type"]))
        if action == "flip":
            payload[draw(st.integers(0, len(payload) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del payload[draw(st.integers(0, len(payload) - 1)):]
        elif action == "extend":
            payload += draw(st.binary(min_size=1, max_size=8))
        else:
            payload[6:10] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    return bytes(payload)


@st.composite
def entries(draw: Any, ints: Any = u64s) -> JournalEntry:
    payload = draw(payloads())
    if draw(st.booleans()):  # a view into a larger buffer, as the walk yields them
        payload = memoryview(b"\x00" * 3 + payload + b"\xff")[3:-1]
    return JournalEntry(draw(st.integers(0, 100)), draw(names), draw(ints), 0, draw(ints), draw(ints), draw(ints),
                        payload)


def python_rbd_record(entry: JournalEntry) -> bytes | None:
    from journaltools.format.event_fastpath import fast_event_type

    type_id = fast_event_type(entry.payload)
    if type_id is None:
        return None
    out = io.BytesIO()
    writer = RbdExportWriter.__new__(RbdExportWriter)
    writer.fh = out
    writer.write_type(entry, type_id)
    return out.getvalue()


def _rbd_records_agree(entry: Any) -> None:
    ours = _native_json.rbd_record(entry)
    if ours is not None:
        assert ours == python_rbd_record(entry)
    else:
        ints = (entry.tag_tid, entry.commit_tid)
        assert fast_event(entry.payload) is None or not all(0 <= i <= U64 for i in ints)


def _records_agree(entry: Any) -> bytes | None:
    _rbd_records_agree(entry)
    ours = native_record(entry)
    reference = python_record(entry)
    if ours is not None:
        assert ours == reference
        return ours
    # declined: only what the C side leaves to Python
    fast = fast_event(entry.payload)
    ints = (entry.offset, entry.tag_tid, entry.entry_tid, entry.commit_tid)
    assert (fast is None or fast.timestamp < 1 or not all(0 <= i <= U64 for i in ints)), (entry, reference)
    return None


@settings(max_examples=1500, deadline=None)
@given(entry=entries())
def test_records_of_generated_entries_equal_the_python_path(entry):
    _records_agree(entry)


@settings(max_examples=300, deadline=None)
@given(entry=entries(odd_ints))
def test_numbers_outside_u64_are_left_to_python(entry):
    _records_agree(entry)


@settings(max_examples=400, deadline=None)
@given(payload=compiled_events(), name=names, ints=st.lists(u64s, min_size=4, max_size=4))
def test_every_compiled_event_is_formatted_in_c(payload, name, ints):
    """Every compiled event with a timestamp from 1 s on is written by C (nothing silently left to Python)."""
    entry = JournalEntry(0, name, ints[0], 0, ints[1], ints[2], ints[3], payload)
    fast = fast_event(payload)
    assert fast is not None
    assert (_records_agree(entry) is not None) == (fast.timestamp >= 1)


def test_an_entry_of_another_class_is_read_by_attribute():
    class Other:
        def __init__(self, entry: JournalEntry) -> None:
            self.__dict__.update({k: getattr(entry, k) for k in JournalEntry.__slots__})

    entry = JournalEntry(0, "o", 1, 2, 3, 4, 5, make_event(1, timestamp=(1764034225, 5), offset=0, length=3,
                                                            data=b"abc"))
    assert native_record(Other(entry)) == native_record(entry) == python_record(entry)


# -- whole exports ------------------------------------------------------------------------------------
class ListWalk:
    """A walk over given entries; ``problems_before[i]`` are appended to ``problems`` before entry i."""

    def __init__(self, items: list[JournalEntry], problems_before: dict[int, list[Problem]]) -> None:
        self.items = items
        self.problems_before = problems_before
        self.problems: list[Problem] = []

    def __iter__(self) -> Iterator[JournalEntry]:
        for i, entry in enumerate(self.items):
            self.problems.extend(self.problems_before.get(i, []))
            yield entry


def _export(fmt: str, items: list[JournalEntry], problems_before: dict[int, list[Problem]], mode: str,
            native: bool) -> tuple[bytes, tuple[int, int, int, bool]]:
    out = io.BytesIO()
    saved = export.native_records
    if not native:
        export.native_records = lambda: None  # type: ignore[assignment]
    try:
        writer: Any = (JsonlExportWriter(out) if fmt == "jsonl" else _bare_rbd_writer(out) if fmt == "rbd"
                       else _bare_json_writer(out))
        result = walk_entries(ListWalk(items, problems_before), writer, EntryFilter(), CorruptionPolicy(mode))
        if fmt == "json":
            writer.finish(result)
    finally:
        export.native_records = saved
    return out.getvalue(), _summary(result)


def _summary(result: ExportResult) -> tuple[int, int, int, bool]:
    return result.written, result.undecodable, result.errors, result.stopped_at is None


def _bare_rbd_writer(out: io.BytesIO) -> RbdExportWriter:
    writer = RbdExportWriter.__new__(RbdExportWriter)  # the records, without the journal_id line
    writer.fh = out
    return writer


def _bare_json_writer(out: io.BytesIO) -> JsonExportWriter:
    writer = JsonExportWriter.__new__(JsonExportWriter)  # the entries and the summary, without a journal's head
    writer.fh = out
    writer.first = True
    return writer


def _problem(kind: str) -> Problem:
    return Problem(kind, "made up", "obj", 0, 1, 2, ERROR)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(items=st.lists(entries(), max_size=25), fmt=st.sampled_from(["json", "jsonl", "rbd"]),
       mode=st.sampled_from(["stop", "skip"]),
       problems=st.dictionaries(st.integers(0, 25), st.lists(st.sampled_from(["crc_mismatch", "tid_gap",
                                                                              "undecodable_event"]), max_size=2),
                                max_size=4))
def test_exports_of_generated_entry_streams_are_byte_identical(items, fmt, mode, problems):
    before = {i: [_problem(k) for k in kinds] for i, kinds in problems.items()}
    assert _export(fmt, items, before, mode, native=True) == _export(fmt, items, before, mode, native=False)


def test_an_export_of_several_megabytes_is_byte_identical():
    """Records across the C loop's 1 MiB flushes, with Python-formatted entries in between."""
    items = []
    for n in range(3000):
        if n % 97 == 5:
            payload = make_event(4, timestamp=(1764034225, n), op_tid=n, snap_name=f"s{n}")  # SnapCreate
        else:
            payload = make_event(1, timestamp=(1764034225 + n, n * 1000 + 500), offset=n * 4096, length=1000,
                                 data=bytes([n % 256]) * 1000)
        items.append(JournalEntry(n % 4, f"journal_data.2.j.{n % 4}", n * 1100, 0, 1, n, n + 1, payload))
    for fmt in ("json", "jsonl", "rbd"):
        native = _export(fmt, items, {1500: [_problem("tid_gap")]}, "skip", native=True)
        assert native == _export(fmt, items, {1500: [_problem("tid_gap")]}, "skip", native=False)
        assert len(native[0]) > 3 << 20 and native[1][0] == 3000


def test_an_interrupted_run_writes_the_records_before_the_interruption():
    """As the Python loop does (Ctrl-C during an export to stdout keeps what was written)."""
    items = [JournalEntry(0, "o", n, 0, 1, n, n + 1, make_event(1, timestamp=(1764034225, n), offset=n, length=2,
                                                              data=b"ab")) for n in range(3)]

    def interrupted() -> Iterator[JournalEntry]:
        yield from items
        raise KeyboardInterrupt

    out = io.BytesIO()
    with pytest.raises(KeyboardInterrupt):
        _native_json.export_run(interrupted(), [], 0, out.write, b"", b"", b"\n")
    assert out.getvalue() == b"".join(python_record(e) + b"\n" for e in items)  # type: ignore[operator]


def _journal_ids(store: str) -> list[str]:
    return sorted(p.name[len("journal."):] for p in (FIXTURES / "stores" / store).glob("*/objects/journal.*"))


@pytest.mark.parametrize("store", STORES)
def test_json_exports_of_every_fixture_journal_are_byte_identical(store, tmp_path, capsys, monkeypatch):
    root = FIXTURES / "stores" / store
    pool = next(p.name for p in root.iterdir() if p.is_dir())
    checked = 0
    for jid in _journal_ids(store):
        for args in (("--format", "json"), ("--format", "jsonl"), ("--format", "jsonl", "--all"), ("--format", "rbd"),
                     ("--format", "json", "--on-error", "skip"), ("--format", "jsonl", "--event-type", "AioWrite")):
            outputs = []
            for native in (True, False):
                monkeypatch.setattr(export, "native_records", native_records if native else lambda: None)
                out = tmp_path / "out"
                out.unlink(missing_ok=True)
                code, stdout, stderr = cli(capsys, "--store", str(root), "journal", "export", *args, f"{pool}/{jid}",
                                           str(out))
                outputs.append((code, stdout, stderr, out.read_bytes() if out.exists() else b""))
            assert outputs[0] == outputs[1], (store, jid, args)
            checked += len(outputs[0][3]) > 0
    assert checked


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage=damaged_journals(), fmt=st.sampled_from(["json", "jsonl", "rbd"]), mode=st.sampled_from(["stop", "skip"]),
       all_entries=st.booleans())
def test_exports_of_damaged_journals_are_byte_identical(damage, fmt, mode, all_entries):
    def run(native: bool) -> Any:
        try:
            journal = Journal.open(damage.store.pool("rbd"), damage.journal_id)
        except Exception as exc:  # noqa: BLE001 - a header the damage made unreadable
            return repr(exc)
        out = io.BytesIO()
        saved = export.native_records
        if not native:
            export.native_records = lambda: None  # type: ignore[assignment]
        try:
            writer: Any = (JsonlExportWriter(out) if fmt == "jsonl" else _bare_rbd_writer(out) if fmt == "rbd"
                           else _bare_json_writer(out))
            result = walk_entries(JournalWalk(journal, all_entries=all_entries), writer, EntryFilter(),
                                  CorruptionPolicy(mode))
        finally:
            export.native_records = saved
        return out.getvalue(), _summary(result), [p.to_json() for p in result.problems + result.notes]

    assert run(True) == run(False)


def test_export_verbose_writes_the_dumps_and_the_same_file(tmp_path, capsys):
    """``export --verbose`` (rbd's option) failed with an AttributeError on the writer's missing ``type_only``."""
    root = FIXTURES / "stores" / "all_events"
    for fmt in ("rbd", "json", "jsonl"):
        plain, verbose = tmp_path / f"plain.{fmt}", tmp_path / f"verbose.{fmt}"
        assert cli(capsys, "--store", str(root), "journal", "export", "--format", fmt, "rbd/108bbb69e2b9",
                   str(plain))[0] == 0
        code, stdout, stderr = cli(capsys, "--store", str(root), "journal", "export", "--verbose", "--format", fmt,
                                   "rbd/108bbb69e2b9", str(verbose))
        assert code == 0, stderr
        assert "AioWrite" in stdout and "32 entries processed" in stdout
        assert verbose.read_bytes() == plain.read_bytes()
