"""Export files: our JSON document and ``rbd journal export``'s format; writers and readers.

Writers stream: the JSON document is written piece by piece (header, clients,
tags, then one entry at a time), so memory does not grow with the journal.

rbd's format (src/tools/rbd/action/Journal.cc, JournalExporter/JournalImporter):
a ``# journal_id: <id>`` line, then per entry ``<N> <compact JSON>\\n`` where N is
the byte length of the JSON and the JSON has ``tag_id``, ``commit_tid``, ``type``
and ``entry`` (base64 of the raw EventEntry bytes).

Our JSON document (``schemas/journal-export.schema.json``) carries the cluster
fsid, pool, namespace, image and journal ids, geometry, sets, clients and tags
(raw and decoded), and every entry with its object, byte offset, tag, entry and
commit tid and its decoded event; the event JSON re-encodes to the exact entry
bytes (:mod:`journaltools.format.jsonify`), so import is byte-exact.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
import sys
from _json import encode_basestring as _encode_str  # a C module without dependencies (json's string escaping)
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from . import __version__
from .errors import ExistsError, FormatError, JournalToolsError, SpecError
from .format import BytesLike
from .format.event_fastpath import FastEvent, fast_event, fast_event_type
from .journal import ERROR, Journal, JournalEntry, JournalWalk, Problem
from .journal.problems import CorruptionPolicy
from .records import FrozenRecord, Record
from .store.directory import atomic_file

EXPORT_FORMAT = "journaltools-journal-export"
EXPORT_VERSION = 1
if TYPE_CHECKING:
    from pathlib import Path

    SCHEMA_PATH: Path
# pathlib, orjson and pybase64 are imported where used: start-up of a live export (pathlib imports
# urllib.parse and ipaddress, orjson json, uuid and platform); the records are written on
# journaltools/records.py, not dataclasses (which imports inspect, ast and dis)


@cache
def _schema_path() -> Path:
    """The packaged schema of our JSON document (the module's ``SCHEMA_PATH``)."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "schemas" / "journal-export.schema.json"


def __getattr__(name: str) -> Any:
    if name == "SCHEMA_PATH":
        return _schema_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
_OUTPUT_BUFFER = 1 << 20  # export records are ~1.4x the entry size: a small buffer would flush every record


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- events ----------------------------------------------------------------------------
@cache
def _event_record() -> Any:
    from .format import lookup

    return lookup("librbd::journal::EventEntry")


class DecodedEvent(Record):
    """What filters and writers need of one entry's payload.

    Events on the compiled fast path (:mod:`journaltools.format.event_fastpath`: IO events in
    librbd's own shape, nearly every entry) are never decoded through construct: ``value`` is
    decoded on first use only, and ``to_json`` is built from the fast path's fields.
    """

    __slots__ = ("_value", "fast", "payload", "timestamp", "type_id", "type_name")
    _fields = ("type_id", "type_name", "timestamp", "payload", "fast", "_value")
    type_id: int  # as rbd export writes it: -1 for types the decoder does not know
    type_name: str
    timestamp: float | None
    payload: BytesLike
    fast: FastEvent | None
    _value: Any

    def __init__(self, type_id: int, type_name: str, timestamp: float | None, payload: BytesLike,
                 fast: FastEvent | None = None, _value: Any = None) -> None:
        self.type_id = type_id
        self.type_name = type_name
        self.timestamp = timestamp
        self.payload = payload
        self.fast = fast
        self._value = _value

    @property
    def value(self) -> Any:
        if self._value is None:
            self._value = _event_record().decode(self.payload)
        return self._value

    def to_json(self) -> Any:
        if self.fast is not None:
            return self.fast.to_json(self.payload)
        return _event_record().to_json(self.value)


def decode_event(payload: BytesLike) -> DecodedEvent:
    """Decode an EventEntry payload (raises FormatError)."""
    fast = fast_event(payload)
    if fast is not None:
        return DecodedEvent(fast.type_id, fast.type_name, fast.timestamp, payload, fast)
    from .format import ceph_dump  # the declarations (construct): only for events off the fast path

    value = _event_record().decode(payload)
    return DecodedEvent(ceph_dump.export_type(value), ceph_dump.event_name(value), ceph_dump.event_timestamp(value),
                        payload, None, value)


# -- policy and filters ----------------------------------------------------------------
def _parse_time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise SpecError(f"invalid time {text!r}: not a finite number of epoch seconds")
        return value
    try:
        parsed = datetime.fromisoformat(text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else ""))
    except ValueError:
        raise SpecError(f"invalid time {text!r}: use ISO 8601 (2026-11-25T01:30:25+00:00) or epoch seconds") from None
    if parsed.tzinfo is None:  # a time without a zone means UTC (not the local zone of whoever runs the command)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso_utc(seconds: float | None) -> str | None:
    """An event time as ISO 8601 in UTC with microseconds (``2026-11-25T01:30:25.519007Z``)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _event_type_filter(text: str) -> str:
    """An ``--event-type`` value: an event name librbd knows (any case) or a type number; else SpecError."""
    from .format.librbd_journal import EVENT_TYPE_NAMES

    names = {n.lower() for n in EVENT_TYPE_NAMES.values()}
    value = text.strip().lower()
    if value in names or (value.lstrip("-").isascii() and value.lstrip("-").isdigit() and int(value) >= -1):
        return str(int(value)) if value.lstrip("-").isdigit() else value
    raise SpecError(f"unknown event type {text!r}: use a type number or one of "
                    f"{', '.join(sorted(EVENT_TYPE_NAMES.values()))}")


class EntryFilter(FrozenRecord):
    """Filters that are ANDed: tags, entry tid range, event types, timestamp range."""

    __slots__ = ("event_types", "from_tid", "since", "tags", "to_tid", "until")
    _fields = ("tags", "from_tid", "to_tid", "event_types", "since", "until")
    tags: frozenset[int]
    from_tid: int | None
    to_tid: int | None
    event_types: frozenset[str]
    since: float | None
    until: float | None

    def __init__(self, tags: frozenset[int] = frozenset(), from_tid: int | None = None, to_tid: int | None = None,
                 event_types: frozenset[str] = frozenset(), since: float | None = None,
                 until: float | None = None) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "tags", tags)
        setattr_(self, "from_tid", from_tid)
        setattr_(self, "to_tid", to_tid)
        setattr_(self, "event_types", event_types)
        setattr_(self, "since", since)
        setattr_(self, "until", until)

    @classmethod
    def build(cls, tags: tuple[int, ...] = (), from_tid: int | None = None, to_tid: int | None = None,
              event_types: tuple[str, ...] = (), since: str | None = None, until: str | None = None) -> EntryFilter:
        if from_tid is not None and to_tid is not None and from_tid > to_tid:
            raise SpecError(f"reversed entry tid range: --from-tid {from_tid} is above --to-tid {to_tid}")
        start, end = _parse_time(since), _parse_time(until)
        if start is not None and end is not None and start >= end:
            raise SpecError(f"reversed or empty time range: --since {since} is not before --until {until}")
        return cls(frozenset(tags), from_tid, to_tid, frozenset(_event_type_filter(t) for t in event_types), start, end)

    @property
    def needs_event(self) -> bool:
        return bool(self.event_types) or self.since is not None or self.until is not None

    @property
    def active(self) -> bool:
        return bool(self.tags) or self.from_tid is not None or self.to_tid is not None or self.needs_event

    def match(self, entry: JournalEntry, event: DecodedEvent | None) -> bool:
        if self.tags and entry.tag_tid not in self.tags:
            return False
        if self.from_tid is not None and entry.entry_tid < self.from_tid:
            return False
        if self.to_tid is not None and entry.entry_tid > self.to_tid:
            return False
        if event is not None:
            if self.event_types and event.type_name.lower() not in self.event_types and str(event.type_id) not in self.event_types:
                return False
            if self.since is not None and (event.timestamp is None or event.timestamp < self.since):
                return False
            if self.until is not None and (event.timestamp is None or event.timestamp >= self.until):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {"tags": sorted(self.tags), "from_tid": self.from_tid, "to_tid": self.to_tid,
                "event_types": sorted(self.event_types), "since": self.since, "until": self.until}


class ExportResult(Record):
    """``errors``/``problems``: entry data damaged or lost; ``notes``: other findings (metadata, placement)."""

    _fields = ("written", "undecodable", "errors", "problems", "notes", "stopped_at")

    def __init__(self, written: int = 0, undecodable: int = 0, errors: int = 0, problems: list[Problem] | None = None,
                 notes: list[Problem] | None = None, stopped_at: Problem | None = None) -> None:
        self.written = written
        self.undecodable = undecodable  # entries read whose payload is not an EventEntry (left out)
        self.errors = errors
        self.problems: list[Problem] = [] if problems is None else problems
        self.notes: list[Problem] = [] if notes is None else notes
        self.stopped_at = stopped_at

    @property
    def processed(self) -> int:
        """What rbd's ``N entries processed`` counts: entries written plus undecodable ones skipped."""
        return self.written + self.undecodable


# -- output files ---------------------------------------------------------------------
@contextlib.contextmanager
def open_output(path: str, force: bool = False) -> Iterator[IO[bytes]]:
    """``-`` = stdout; a file is written to a temporary name and renamed when complete."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    import os.path  # not pathlib (urllib.parse, ipaddress): start-up

    target = path.rstrip("/") or path
    if os.path.exists(target) and not force:
        raise ExistsError(f"export file {path} already exists (use --force to overwrite)")
    parent = os.path.dirname(target) or "."
    if not os.path.isdir(parent):
        raise SpecError(f"cannot write {path}: directory {parent} does not exist")
    with atomic_file(target, buffering=_OUTPUT_BUFFER, mode=0o644) as fh:
        yield fh


# -- the native records (journaltools/_native_json.c) -------------------------------------------
#: export_run(entries, problems, seen) -> (entries written, the entry that needs Python or None at the end)
NativeRun = Callable[[Iterator[JournalEntry], list[Problem], int], tuple[int, JournalEntry | None]]


def _plain_json(value: Any, out: list[str]) -> bool:
    """Append ``value``'s compact JSON to ``out`` as orjson writes it, when it is made only of dicts with str keys,
    lists, str, int in orjson's 64-bit range, bool and None (exactly those types); False for anything else."""
    kind = type(value)
    if kind is str:
        out.append(_encode_str(value))
    elif kind is int:
        if not -(1 << 63) <= value < (1 << 64):
            return False
        out.append(str(value))
    elif value is None or kind is bool:
        out.append("null" if value is None else "true" if value else "false")
    elif kind is list:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            if not _plain_json(item, out):
                return False
        out.append("]")
    elif kind is dict:
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if type(key) is not str:
                return False
            out.append("," + _encode_str(key) + ":" if i else _encode_str(key) + ":")
            if not _plain_json(item, out):
                return False
        out.append("}")
    else:
        return False  # floats (orjson's shortest form is not repr's), tuples, subclasses: orjson
    return True


def json_bytes(value: Any) -> bytes:
    """``orjson.dumps(value)``: the JSON document's head and summary.  Written here (the C ``_json`` module's
    string escaping is orjson's, tests/test_export.py) when ``value`` is plain data, so an export of an empty
    journal does not import orjson (which imports json, uuid, platform and dataclasses); orjson otherwise."""
    out: list[str] = []
    if _plain_json(value, out):
        try:
            return "".join(out).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: orjson's error
    import orjson

    return orjson.dumps(value)


@cache
def native_records() -> ModuleType | None:
    """The C formatter of fast-path events' records (:func:`entry_record` + orjson, and
    :meth:`RbdExportWriter.write_type`), set up; None on the pure-Python path
    (:func:`journaltools.native.json_core`)."""
    from .format.event_fastpath import EVENT_TYPE_NAMES, EVENT_VERSION, LAYOUTS
    from .journal import JournalEntry
    from .native import json_core

    core = json_core()
    if core is None:
        return None
    layouts: list[tuple[bytes, list[bytes], str, bytes | None] | None] = [None] * (max(LAYOUTS) + 1)
    for type_id, layout in LAYOUTS.items():
        envelope, tail = 5, len(layout.head.format) - (1 if layout.blob else 0)  # "<BBII" ... ("I" of the blob)
        formats = layout.head.format[envelope:tail]
        if len(formats) != len(layout.fields):  # a field of more than one format character: left to Python
            continue
        layouts[type_id] = (json_bytes(EVENT_TYPE_NAMES[type_id]), [json_bytes(f) + b":" for f in layout.fields],
                            formats, None if layout.blob is None else json_bytes(layout.blob) + b":")
    core.set_layouts(layouts, EVENT_VERSION, json_bytes)  # the C core's encoder of object names (cached per name)
    core.set_entry_type(JournalEntry)
    return core


class ExportWriter:
    #: the writer needs only the event's type (:meth:`write_type`), not the decoded event
    type_only = False
    fh: IO[bytes]  # where the records go

    def native_run(self) -> NativeRun | None:
        """A C loop writing this writer's records of fast-path entries (``export_run``), or None."""
        return None

    def _native_loop(self, prefix: bytes = b"", suffix: bytes = b"", rbd: bool = False) -> NativeRun | None:
        """``export_run`` writing to this writer's file: each record after ``prefix`` (the first one after
        :meth:`_first_prefix`), followed by ``suffix``; ``rbd``: rbd's export format. None without the C core."""
        core = native_records()
        if core is None:
            return None
        write = self.fh.write

        def run(entries: Iterator[JournalEntry], problems: list[Problem], seen: int) -> tuple[int, JournalEntry | None]:
            written, entry = core.export_run(entries, problems, seen, write, self._first_prefix(prefix), prefix,
                                             suffix, rbd)
            if written:
                self._wrote_records()
            return written, entry

        return run

    def _first_prefix(self, prefix: bytes) -> bytes:
        return prefix

    def _wrote_records(self) -> None:
        """Told after the C loop wrote records (the JSON document's separators)."""

    def write(self, entry: JournalEntry, event: DecodedEvent) -> None:
        raise NotImplementedError

    def write_type(self, entry: JournalEntry, type_id: int) -> None:
        """:meth:`write` of an event of type ``type_id`` (for ``type_only`` writers)."""
        raise NotImplementedError

    def finish(self, result: ExportResult) -> None:
        """Close the document."""


class RbdExportWriter(ExportWriter):
    """Exactly the bytes ``rbd journal export`` writes."""

    def __init__(self, fh: IO[bytes], journal: Journal) -> None:
        self.fh = fh
        fh.write(f"# journal_id: {journal.journal_id}\n".encode())

    type_only = True

    def write(self, entry: JournalEntry, event: DecodedEvent) -> None:
        self.write_type(entry, event.type_id)

    def write_type(self, entry: JournalEntry, type_id: int) -> None:
        # what orjson.dumps of {"tag_id", "commit_tid", "type", "entry"} gives: integers, and a base64
        # string (nothing in its alphabet needs escaping), formatted without building the dict
        import pybase64

        record = b'{"tag_id":%d,"commit_tid":%d,"type":%d,"entry":"%s"}' % (
            entry.tag_tid, entry.commit_tid, type_id, pybase64.b64encode(entry.payload))
        self.fh.write(b"%d %s\n" % (len(record), record))

    def native_run(self) -> NativeRun | None:
        return self._native_loop(rbd=True)


def _decoded_or_none(type_name: str, data: bytes) -> Any:
    from .format.header_fastpath import fast_client_data_json, fast_tag_data_json

    fast = {"librbd::journal::ClientData": fast_client_data_json,
            "librbd::journal::TagData": fast_tag_data_json}.get(type_name, lambda _: None)(data)
    if fast is not None:  # the common shapes without construct (start-up): what the declarations give
        return fast
    from .format import lookup

    try:
        record = lookup(type_name)
        return record.to_json(record.decode(data))
    except (JournalToolsError, FormatError):
        return None


def journal_document_head(journal: Journal, image_name: str | None, all_entries: bool,
                          entry_filter: EntryFilter | None = None) -> dict[str, Any]:
    header = journal.header
    store = journal.header_pool.store
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "tool": f"journaltools {__version__}",
        "journal": {
            "journal_id": journal.journal_id,
            "fsid": store.fsid,
            "pool": journal.header_pool.name,
            "pool_id": journal.header_pool.pool_id,
            "namespace": journal.header_pool.namespace,
            "image_name": image_name,
            "image_id": journal.journal_id,
            "header_oid": journal.header_oid,
            "object_oid_prefix": journal.object_prefix,
            "data_pool": journal.data_pool.name,
            "order": header.order,
            "splay_width": header.splay_width,
            "object_pool_id": header.pool_id,
            "minimum_set": header.minimum_set,
            "active_set": header.active_set,
            "next_tag_tid": header.next_tag_tid,
            "next_tag_class": header.next_tag_class,
        },
        "selection": {"all_entries": all_entries, "filter": (entry_filter or EntryFilter()).to_json()},
        "clients": [
            {"id": c.id, "state": c.state, "commit_position": [p.to_json() for p in c.commit_position],
             "data": b64(c.data), "client_data": _decoded_or_none("librbd::journal::ClientData", c.data) if c.data else None}
            for c in header.clients
        ],
        "tags": [
            {"tid": t.tid, "tag_class": t.tag_class, "data": b64(t.data),
             "tag_data": _decoded_or_none("librbd::journal::TagData", t.data) if t.data else None}
            for t in header.tags
        ],
    }


def entry_record(entry: JournalEntry, event: DecodedEvent) -> dict[str, Any]:
    """One entry as the JSON document and jsonl carry it (``time``: the timestamp as ISO 8601 UTC)."""
    return {
        "object": entry.object_name,
        "offset": entry.offset,
        "tag_tid": entry.tag_tid,
        "entry_tid": entry.entry_tid,
        "commit_tid": entry.commit_tid,
        "event_type": event.type_name,
        "type": event.type_id,
        "timestamp": event.timestamp,
        "time": iso_utc(event.timestamp),
        "event": event.to_json(),
    }


class JsonlExportWriter(ExportWriter):
    """One entry a line (:func:`entry_record`), nothing else: ``journal export --format jsonl``."""

    def __init__(self, fh: IO[bytes], flush: bool = False) -> None:
        self.fh = fh
        self.flush = flush

    def write(self, entry: JournalEntry, event: DecodedEvent) -> None:
        import orjson

        self.fh.write(orjson.dumps(entry_record(entry, event)) + b"\n")

    def native_run(self) -> NativeRun | None:
        return self._native_loop(suffix=b"\n")

    def sync(self) -> None:
        """Flush what was written (``--follow`` after each poll)."""
        self.fh.flush()


class JsonExportWriter(ExportWriter):
    """Our JSON document, written incrementally."""

    def __init__(self, fh: IO[bytes], journal: Journal, *, image_name: str | None = None, all_entries: bool = False,
                 entry_filter: EntryFilter | None = None, policy: CorruptionPolicy | None = None) -> None:
        self.fh = fh
        head = journal_document_head(journal, image_name, all_entries, entry_filter)
        head["selection"]["on_error"] = (policy or CorruptionPolicy()).mode
        text = json_bytes(head)
        fh.write(text[:-1] + b',"entries":[')
        self.first = True

    def write(self, entry: JournalEntry, event: DecodedEvent) -> None:
        import orjson

        item = orjson.dumps(entry_record(entry, event))
        self.fh.write(item if self.first else b"\n," + item)
        self.first = False

    def native_run(self) -> NativeRun | None:
        return self._native_loop(prefix=b"\n,")

    def _first_prefix(self, prefix: bytes) -> bytes:
        return b"" if self.first else prefix

    def _wrote_records(self) -> None:
        self.first = False

    def finish(self, result: ExportResult) -> None:
        summary = json_bytes({"entries": result.written, "errors": result.errors,
                                "problems": [p.to_json() for p in result.problems + result.notes],
                                "complete": result.stopped_at is None})
        self.fh.write(b'],"summary":' + summary + b"}\n")


def walk_entries(walk: JournalWalk, writer: ExportWriter, entry_filter: EntryFilter,
                 policy: CorruptionPolicy) -> ExportResult:
    """Feed the walk's entries to ``writer`` under one corruption policy for every format."""
    result = ExportResult()
    seen = 0
    problems = walk.problems
    # a writer that needs only the event type gets it from the fast path's check, without decoding
    # (fast_event_type accepts exactly the payloads fast_event decodes: tests/test_event_fastpath.py)
    type_of = fast_event_type if writer.type_only and not entry_filter.active else None
    # a writer with native records takes the runs of entries that need no Python (no new problems,
    # a fast-path event) in C; the entry that stops a run comes back here.  The C loop is set up after
    # the first entry (which Python writes): an empty journal's export does not import orjson for it
    native: NativeRun | None = None
    want_native = not entry_filter.active
    entries = iter(walk)
    while True:
        if native is not None:
            written, entry = native(entries, problems, seen)
            result.written += written
            if entry is None:
                break
        elif (entry := next(entries, None)) is None:
            break
        elif want_native:
            native, want_native = writer.native_run(), False
        if len(problems) != seen:  # new findings came with this entry
            fresh = problems[seen:]
            seen = len(problems)
            errors = _tally(result, fresh)
            if errors and policy.mode == "stop":
                result.stopped_at = errors[0]
                return result
        if type_of is not None and (type_id := type_of(entry.payload)) is not None:
            writer.write_type(entry, type_id)
            result.written += 1
            continue
        try:
            event = decode_event(entry.payload)
        except FormatError:
            result.undecodable += 1  # reported by the walk as undecodable_event; skipped under --on-error skip
            continue
        if entry_filter.active and not entry_filter.match(entry, event):
            continue
        writer.write(entry, event)
        result.written += 1
    _tally(result, walk.problems[seen:])
    return result


def _tally(result: ExportResult, problems: list[Problem]) -> list[Problem]:
    errors = [p for p in problems if p.damages_data]
    result.problems.extend(errors)
    result.errors += len(errors)
    result.notes.extend(p for p in problems if p.severity == ERROR and not p.damages_data)
    return errors


# -- readers (for import) ---------------------------------------------------------------------
U64_MAX = (1 << 64) - 1
#: rbd's largest journal object (--journal-object-size 64M): no entry can be larger
MAX_OBJECT_SIZE = 64 << 20
_RECORD_OVERHEAD = 256  # {"tag_id":<20 digits>,"commit_tid":<20 digits>,"type":<11>,"entry":""} with room to spare
_READ_CHUNK = 1 << 20


class ImportRecord(FrozenRecord):
    """One entry to import: where it came from and the raw EventEntry bytes.

    ``declared_type``/``declared_name``: the event type the record states beside the entry
    (rbd's ``type``, our ``type`` and ``event_type``), checked against the entry itself.
    """

    __slots__ = ("commit_tid", "declared_name", "declared_type", "entry_tid", "number", "payload", "tag_tid")
    _fields = ("number", "tag_tid", "commit_tid", "entry_tid", "payload", "declared_type", "declared_name")
    number: int  # 1-based record number
    tag_tid: int
    commit_tid: int | None
    entry_tid: int | None
    payload: bytes
    declared_type: int | None
    declared_name: str | None

    def __init__(self, number: int, tag_tid: int, commit_tid: int | None, entry_tid: int | None, payload: bytes,
                 declared_type: int | None = None, declared_name: str | None = None) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "number", number)
        setattr_(self, "tag_tid", tag_tid)
        setattr_(self, "commit_tid", commit_tid)
        setattr_(self, "entry_tid", entry_tid)
        setattr_(self, "payload", payload)
        setattr_(self, "declared_type", declared_type)
        setattr_(self, "declared_name", declared_name)


def max_record_size(max_payload: int | None) -> int:
    """The largest ``<size>`` an rbd-format record can have for an entry payload of ``max_payload`` bytes."""
    payload = MAX_OBJECT_SIZE if max_payload is None else max_payload
    return 4 * ((payload + 2) // 3) + _RECORD_OVERHEAD


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """``size`` bytes (fewer at the end of the stream), read in bounded chunks into one buffer."""
    buf = bytearray()
    while len(buf) < size:
        chunk = stream.read(min(_READ_CHUNK, size - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


#: the shape rbd (and RbdExportWriter) give every record: read a large one without holding its text
_RBD_RECORD_HEAD = re.compile(rb'\{"tag_id":(\d{1,20}),"commit_tid":(\d{1,20}),"type":(-?\d{1,11}),"entry":"')


def _stream_record(stream: IO[bytes], size: int, n: int) -> tuple[bytes, ImportRecord | None]:
    """Read a large record of rbd's shape, decoding its base64 entry chunk by chunk.

    Memory is the entry's bytes plus one chunk, not the record's text and its copies.  Returns
    (b"", record), or (the bytes read, None) when the record has another shape (the caller
    then reads the rest and parses it whole).
    """
    head = _read_exactly(stream, min(size, 128))
    match = _RBD_RECORD_HEAD.match(head)
    if match is None or size - match.end() < 2:
        return head, None
    fields = {"tag_id": int(match.group(1)), "commit_tid": int(match.group(2)), "type": int(match.group(3))}
    for name in fields:
        _u64_field(fields, name, n, required=True, signed_ok=name == "type")
    to_read = size - len(head) - 2  # the rest of the base64 text, then '"}'
    pending = bytearray(head[match.end():])
    payload = bytearray()
    try:
        while True:
            if to_read > 0:
                chunk = stream.read(min(_READ_CHUNK, to_read))
                if not chunk:
                    raise FormatError(f"error reading import data: truncated at record {n}")
                pending += chunk
                to_read -= len(chunk)
            usable = len(pending) if to_read == 0 else len(pending) - len(pending) % 4
            payload += base64.b64decode(bytes(pending[:usable]), validate=True)
            del pending[:usable]
            if to_read == 0:
                break
    except (ValueError, binascii.Error) as exc:
        raise FormatError(f"error json decoding import data (entry {n}): field entry is not valid base64 ({exc})") from exc
    tail = _read_exactly(stream, 2)
    if tail != b'"}':
        raise FormatError(f"error parsing input (entry {n}): expected '\"}}' after the entry, found {tail!r}")
    return b"", ImportRecord(n, fields["tag_id"], fields["commit_tid"], None, bytes(payload), fields["type"])


def _u64_field(doc: dict[str, Any], name: str, n: int, required: bool, signed_ok: bool = False) -> int | None:
    if name not in doc:
        if required:
            raise FormatError(f"error json decoding import data (entry {n}): field {name} is missing")
        return None
    value = doc[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"error json decoding import data (entry {n}): field {name}: {value!r} is not an integer")
    low = -1 if signed_ok else 0
    if not low <= value <= U64_MAX:
        raise FormatError(f"error json decoding import data (entry {n}): field {name}: {value} is out of range "
                          f"(an unsigned 64-bit integer)")
    return value


def read_rbd_export(stream: IO[bytes], max_payload: int | None = None) -> Iterator[ImportRecord]:
    """Parse rbd's export format with rbd's rules (JournalImporter::read_entry), stricter on values.

    A record's ``<size>`` is checked against the largest entry the target journal can hold
    (``max_payload``, else rbd's largest object) before any of it is read; fields must be
    integers in range and ``entry`` valid base64.
    """
    import orjson

    limit = max_record_size(max_payload)
    n = 0
    offset = 0

    def read1() -> bytes:
        nonlocal offset
        ch = stream.read(1)
        offset += len(ch)
        return ch

    while True:
        ch = read1()
        while ch == b"\n" or ch == b"#":
            if ch == b"#":
                while ch not in (b"\n", b""):
                    ch = read1()
            ch = read1()
        if ch == b"":
            return
        if not ch.isdigit():
            raise FormatError(f"import data invalid format (digit expected) at record {n + 1} (byte {offset - 1}: "
                              f"{ch!r}; neither rbd's export format nor a journaltools JSON export)")
        digits = ch
        while (ch := read1()).isdigit():
            digits += ch
            if len(digits) > 79:
                raise FormatError(f"import data invalid format (size too long) at record {n + 1}")
        if ch != b" ":
            raise FormatError(f"import data invalid format (space expected) at record {n + 1}")
        size = int(digits)
        if size == 0:
            raise FormatError(f"import data invalid format (zero entry size) at record {n + 1}")
        n += 1
        if size > limit:
            raise FormatError(f"record {n}: size {size} bytes is larger than any entry of this journal can be "
                              f"(at most {limit} bytes for entries up to {max_payload or MAX_OBJECT_SIZE} bytes); "
                              f"nothing read past its size field")
        if size > _READ_CHUNK:
            head, streamed = _stream_record(stream, size, n)
            if streamed is not None:
                offset += size
                yield streamed
                continue
            text = head + _read_exactly(stream, size - len(head))
        else:
            text = _read_exactly(stream, size)
        offset += len(text)
        if len(text) != size:
            raise FormatError(f"error reading import data: truncated at record {n} ({len(text)} of {size} bytes)")
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise FormatError(f"error parsing input (entry {n}): {exc}") from exc
        del text
        if not isinstance(doc, dict):
            raise FormatError(f"error parsing input (entry {n}): not a JSON object")
        tag = _u64_field(doc, "tag_id", n, required=False)  # rbd's decoder defaults missing fields to 0
        commit = _u64_field(doc, "commit_tid", n, required=False)
        declared = _u64_field(doc, "type", n, required=False, signed_ok=True)
        entry = doc.get("entry", "")
        if not isinstance(entry, str):
            raise FormatError(f"error json decoding import data (entry {n}): field entry is "
                              f"{'missing' if entry is None else 'not a string'}")
        try:
            payload = base64.b64decode(entry.encode("ascii"), validate=True)
        except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
            raise FormatError(f"error json decoding import data (entry {n}): field entry is not valid base64 "
                              f"({exc})") from exc
        yield ImportRecord(n, int(tag or 0), commit or 0, None, payload, declared)


def load_schema() -> dict[str, Any]:
    import orjson

    return orjson.loads(_schema_path().read_bytes())  # type: ignore[no-any-return]


def validate_document(doc: Any) -> None:
    """Validate an export document against the schema; the error names the JSON path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise FormatError(f"export document invalid at {where}: {error.message}")


def tag_records(head: dict[str, Any]) -> dict[int, bytes]:
    """Tag tid -> raw tag data of an export's ``tags`` (base64 checked, naming the JSON path)."""
    out: dict[int, bytes] = {}
    for i, tag in enumerate(head.get("tags", [])):
        try:
            out[int(tag["tid"])] = base64.b64decode(str(tag["data"]).encode("ascii"), validate=True)
        except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
            raise FormatError(f"export document invalid at $.tags[{i}].data: not valid base64 ({exc})") from exc
    return out


def _strict_integers(doc: dict[str, Any]) -> None:
    """JSON numbers the schema accepts as integers but are not (``1e19``): refused, naming the path."""
    for i, tag in enumerate(doc.get("tags", [])):
        if isinstance(tag, dict) and isinstance(tag.get("tid"), float):
            raise FormatError(f"export document invalid at $.tags[{i}].tid: {tag['tid']!r} is not an integer")
    for i, item in enumerate(doc.get("entries", [])):
        if not isinstance(item, dict):
            continue
        for name in ("tag_tid", "entry_tid", "commit_tid", "type", "offset"):
            if isinstance(item.get(name), float):
                raise FormatError(f"export document invalid at $.entries[{i}].{name}: {item[name]!r} is not an integer")


def read_json_export(stream: IO[bytes], max_payload: int | None = None) -> tuple[dict[str, Any], Iterator[ImportRecord]]:
    """Parse and validate our JSON export; returns its head and the entries (payloads re-encoded)."""
    import orjson

    try:
        doc = orjson.loads(stream.read())
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"export file is not valid JSON: {exc}") from exc
    validate_document(doc)
    _strict_integers(doc)
    tag_records(doc)
    record = _event_record()

    def entries() -> Iterator[ImportRecord]:
        for i, item in enumerate(doc["entries"], start=1):
            try:
                payload = record.encode(record.from_json(item["event"]))
            except FormatError as exc:
                where = f" at {exc.path.replace('(building) -> ', '')}" if exc.path else ""
                raise FormatError(f"entry {i} ($.entries[{i - 1}].event{where}): {exc}") from exc
            yield ImportRecord(i, item["tag_tid"], item["commit_tid"], item["entry_tid"], payload,
                               item.get("type"), item.get("event_type"))

    head = {k: v for k, v in doc.items() if k != "entries"}
    return head, entries()


# -- what an import may hold --------------------------------------------------------------
def check_import_record(record: ImportRecord, max_payload: int | None = None) -> str:
    """Refuse (FormatError naming the record and field) an entry librbd could not replay as written.

    Checked: the payload decodes as an EventEntry of an event type librbd knows; the type the
    record states beside it matches; data lengths agree with the lengths the event states;
    the entry fits the journal.  Returns the event type name.
    """
    from .format import ceph_dump
    from .format.librbd_journal import AIO_COMPARE_AND_WRITE, AIO_WRITE, AIO_WRITESAME, EVENT_TYPE_NAMES

    where = f"entry {record.number} (tag_tid={record.tag_tid}, commit_tid={record.commit_tid})"
    if max_payload is not None and len(record.payload) > max_payload:
        raise FormatError(f"{where}: entry of {len(record.payload)} bytes is larger than the journal's maximum "
                          f"{max_payload} (object size less the entry header)")
    try:
        value = _event_record().decode(record.payload)
    except FormatError as exc:
        raise FormatError(f"corrupted {where}: {exc}") from exc
    event_type = value["event"]["event_type"]
    if event_type not in EVENT_TYPE_NAMES:
        raise FormatError(f"{where}: field event_type: {event_type} is not an event type librbd knows "
                          f"(known: 0-{max(EVENT_TYPE_NAMES)}); librbd could not replay it")
    name = ceph_dump.event_name(value)
    if record.declared_type is not None and record.declared_type != event_type:
        raise FormatError(f"{where}: field type says {record.declared_type} but the entry holds a {name} "
                          f"event ({event_type})")
    if record.declared_name is not None and record.declared_name.lower() != name.lower():
        raise FormatError(f"{where}: field event_type says {record.declared_name!r} but the entry holds a "
                          f"{name} event")
    payload = value["event"]["payload"]
    if event_type == AIO_WRITE and payload["length"] != len(payload["data"]):
        raise FormatError(f"{where}: AioWrite field length is {payload['length']} but its data holds "
                          f"{len(payload['data'])} bytes")
    if event_type == AIO_WRITESAME and (not payload["data"] or payload["length"] % len(payload["data"])):
        raise FormatError(f"{where}: AioWriteSame field length {payload['length']} is not a multiple of its "
                          f"{len(payload['data'])}-byte data")
    if event_type == AIO_COMPARE_AND_WRITE and not (
            payload["length"] == len(payload["cmp_data"]) == len(payload["write_data"])):
        raise FormatError(f"{where}: AioCompareAndWrite field length {payload['length']} differs from its "
                          f"cmp_data ({len(payload['cmp_data'])} bytes) or write_data "
                          f"({len(payload['write_data'])} bytes)")
    return name
