"""Export writers and readers (journaltools.export) on small hand-made journals and hand-written files."""

from __future__ import annotations

import base64
import io
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from journaltools.errors import ExistsError, FormatError, SpecError
from journaltools.export import (
    SCHEMA_PATH,
    CorruptionPolicy,
    EntryFilter,
    JsonExportWriter,
    RbdExportWriter,
    decode_event,
    load_schema,
    open_output,
    read_json_export,
    read_rbd_export,
    validate_document,
    walk_entries,
)
from journaltools.journal import Journal

from .journal_factory import make_journal, write_event

ROOT = Path(__file__).resolve().parent.parent


def small_journal(**kwargs):
    store, pool = make_journal([5, 3], **kwargs)  # tag 0: 5 entries, tag 1: 3 entries
    return Journal.open(pool, "j1")


def export_bytes(journal, writer_class, entry_filter=None, policy=None, **kwargs):
    fh = io.BytesIO()
    writer = writer_class(fh, journal, **kwargs)
    result = walk_entries(journal.walk(all_entries=True), writer, entry_filter or EntryFilter(), policy or CorruptionPolicy())
    writer.finish(result)
    return fh.getvalue(), result


# -- rbd's format ------------------------------------------------------------------------
def test_rbd_writer_frames_every_record_with_its_json_length():
    journal = small_journal()
    data, result = export_bytes(journal, RbdExportWriter)
    lines = data.split(b"\n")
    assert lines[0] == b"# journal_id: j1" and lines[-1] == b""
    assert result.written == 8 and result.errors == 0
    for line in lines[1:-1]:
        size, text = line.split(b" ", 1)
        assert int(size) == len(text)
        record = json.loads(text)
        assert list(record) == ["tag_id", "commit_tid", "type", "entry"]
        assert record["type"] == 1  # EVENT_TYPE_AIO_WRITE
        assert decode_event(base64.b64decode(record["entry"])).type_name == "AioWrite"
    assert [json.loads(line.split(b" ", 1)[1])["commit_tid"] for line in lines[1:-1]] == list(range(1, 9))


def test_rbd_export_of_fast_path_events_decodes_none_and_writes_the_same_bytes(monkeypatch):
    """rbd's format needs only the event type: events on the fast path are not decoded (the hot loop of
    an rbd-format export); the bytes are those of the decoding path (every fixture journal)."""
    from journaltools import export as export_module
    from journaltools.store import DirectoryStore

    from .journal_factory import FIXTURES

    for store, jid in (("all_events", "108bbb69e2b9"), ("small_objects", "10abe81d9984")):
        journal = Journal.open(DirectoryStore(FIXTURES / "stores" / store).pool("rbd"), jid)
        fast, _ = export_bytes(journal, RbdExportWriter)
        decoded: list[int] = []
        monkeypatch.setattr(export_module, "fast_event_type", lambda payload, d=decoded: d.append(1))  # never fast
        monkeypatch.setattr(export_module, "native_records", lambda: None)  # nor the C records (_native_json.c)
        slow, _ = export_bytes(journal, RbdExportWriter)
        monkeypatch.undo()
        assert fast == slow and decoded
        calls: list[int] = []
        real = export_module.decode_event
        monkeypatch.setattr(export_module, "decode_event", lambda payload, c=calls, r=real: c.append(1) or r(payload))
        again, result = export_bytes(journal, RbdExportWriter)
        monkeypatch.undo()
        assert again == fast and len(calls) < result.written  # only events off the fast path are decoded


def test_rbd_export_reads_back_record_for_record():
    journal = small_journal()
    data, _ = export_bytes(journal, RbdExportWriter)
    records = list(read_rbd_export(io.BytesIO(data)))
    entries = list(journal.walk(all_entries=True))
    assert [(r.number, r.tag_tid, r.commit_tid, r.payload) for r in records] == [
        (i, e.tag_tid, e.commit_tid, e.payload) for i, e in enumerate(entries, start=1)]


def test_rbd_reader_skips_comments_and_blank_lines_as_rbd_does():
    record = b'{"tag_id":3,"commit_tid":1,"type":0,"entry":"' + base64.b64encode(write_event(1)) + b'"}'
    text = b"# journal_id: x\n\n# another comment\n%d %s\n\n" % (len(record), record)
    (only,) = read_rbd_export(io.BytesIO(text))
    assert (only.number, only.tag_tid, only.payload) == (1, 3, write_event(1))


@pytest.mark.parametrize(("text", "message"), [
    (b"x1 {}\n", "digit expected"),
    (b"12{}\n", "space expected"),
    (b"0 \n", "zero entry size"),
    (b"10 {}\n", "truncated at record 1"),
    (b'2 {}\n4 {]]]\n', "error parsing input (entry 2)"),
    (b'22 {"entry":"not base64"}\n', "error json decoding import data (entry 1)"),
    (b"3 [1]\n", "not a JSON object"),
])
def test_rbd_reader_names_the_record_that_is_wrong(text, message):
    with pytest.raises(FormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_rbd_export(io.BytesIO(text)))


# -- our JSON document ------------------------------------------------------------------------
def test_json_document_is_valid_and_carries_header_clients_tags_entries():
    journal = small_journal()
    data, result = export_bytes(journal, JsonExportWriter, image_name="img")
    doc = json.loads(data)
    validate_document(doc)
    assert doc["journal"]["journal_id"] == "j1" and doc["journal"]["image_name"] == "img"
    assert doc["journal"]["fsid"] == "00000000-0000-0000-0000-000000000000"
    assert (doc["journal"]["order"], doc["journal"]["splay_width"], doc["journal"]["pool"]) == (12, 2, "rbd")
    assert [t["tid"] for t in doc["tags"]] == [0, 1]
    assert [c["id"] for c in doc["clients"]] == [""]
    entries = list(journal.walk(all_entries=True))
    assert [(e["object"], e["offset"], e["tag_tid"], e["entry_tid"], e["commit_tid"]) for e in doc["entries"]] == [
        (e.object_name, e.offset, e.tag_tid, e.entry_tid, e.commit_tid) for e in entries]
    assert doc["summary"] == {"entries": 8, "errors": 0, "problems": [], "complete": True}
    assert result.written == 8


def test_json_export_reads_back_to_the_exact_payloads():
    journal = small_journal()
    data, _ = export_bytes(journal, JsonExportWriter)
    head, records = read_json_export(io.BytesIO(data))
    assert head["journal"]["journal_id"] == "j1" and "entries" not in head
    assert [r.payload for r in records] == [e.payload for e in journal.walk(all_entries=True)]


def test_json_reader_names_the_json_path_of_a_bad_value():
    journal = small_journal()
    doc = json.loads(export_bytes(journal, JsonExportWriter)[0])
    doc["entries"][2]["tag_tid"] = "seven"
    with pytest.raises(FormatError, match=r"\$\.entries\[2\]\.tag_tid"):
        read_json_export(io.BytesIO(json.dumps(doc).encode()))
    with pytest.raises(FormatError, match="not valid JSON"):
        read_json_export(io.BytesIO(b'{"format": '))


def test_writer_streams_entries_without_building_the_document():
    """The head is on the stream before the first entry is written (nothing is held back)."""
    journal = small_journal()
    fh = io.BytesIO()
    JsonExportWriter(fh, journal)
    head = fh.getvalue()
    assert head.endswith(b'"entries":[') and b'"journal_id":"j1"' in head


# -- filters and policy -----------------------------------------------------------------------
def test_filters_are_anded():
    journal = small_journal()
    both = EntryFilter.build(tags=(0,), from_tid=2)
    data, result = export_bytes(journal, JsonExportWriter, entry_filter=both)
    assert [(e["tag_tid"], e["entry_tid"]) for e in json.loads(data)["entries"]] == [(0, 2), (0, 3), (0, 4)]
    none = EntryFilter.build(tags=(1,), event_types=("AioDiscard",))
    assert json.loads(export_bytes(journal, JsonExportWriter, entry_filter=none)[0])["entries"] == []
    by_number = EntryFilter.build(event_types=("1",), to_tid=0)
    assert len(json.loads(export_bytes(journal, JsonExportWriter, entry_filter=by_number)[0])["entries"]) == 2


def test_time_filters_use_the_event_timestamp():
    journal = small_journal()  # entry tid n has timestamp 1764034225 + n
    window = EntryFilter.build(since="1764034226", until="2025-11-25T01:30:28+00:00")
    data, _ = export_bytes(journal, RbdExportWriter, entry_filter=window)
    assert len(data.splitlines()) - 1 == 4  # tids 1 and 2 of both tags
    with pytest.raises(SpecError, match="invalid time"):
        EntryFilter.build(since="yesterday")


def test_unknown_policy_is_refused():
    with pytest.raises(SpecError):
        CorruptionPolicy("ignore")


def test_damaged_entry_stops_or_is_skipped_identically_in_both_formats():
    store, pool = make_journal([6], splay_width=1)
    name = "journal_data.2.j1.0"
    raw = bytearray(pool.read(name))
    raw[len(raw) // 2] ^= 0xFF  # inside the payload of the third or fourth entry
    pool.write_full(name, bytes(raw))
    journal = Journal.open(pool, "j1")
    for policy, complete in (("stop", False), ("skip", True)):
        rbd_data, rbd_result = export_bytes(journal, RbdExportWriter, policy=CorruptionPolicy(policy))
        json_data, json_result = export_bytes(journal, JsonExportWriter, policy=CorruptionPolicy(policy))
        doc = json.loads(json_data)
        assert rbd_result.errors == json_result.errors >= 1
        assert rbd_result.written == json_result.written == len(doc["entries"]) == len(rbd_data.splitlines()) - 1
        assert doc["summary"]["complete"] is complete
        assert [p.to_json() for p in rbd_result.problems] == [p.to_json() for p in json_result.problems]
        first = rbd_result.problems[0]
        assert first.object == name and first.offset is not None
    assert export_bytes(journal, RbdExportWriter, policy=CorruptionPolicy("stop"))[1].written < 6


# -- files -------------------------------------------------------------------------------------
def test_output_file_is_atomic_and_never_overwritten_silently(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), open_output(str(target)) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with open_output(str(target)) as fh:
        fh.write(b"one")
    with pytest.raises(ExistsError):
        open_output(str(target)).__enter__()
    with open_output(str(target), force=True) as fh:
        fh.write(b"two")
    assert target.read_bytes() == b"two"
    with pytest.raises(SpecError, match="does not exist"):
        open_output(str(tmp_path / "no" / "such.json")).__enter__()


def test_schema_has_one_source_reachable_as_package_data():
    packaged = resources.files("journaltools") / "schemas" / "journal-export.schema.json"
    assert packaged.is_file()
    assert (ROOT / "schemas" / "journal-export.schema.json").read_bytes() == packaged.read_bytes() == SCHEMA_PATH.read_bytes()
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=12))
def test_rbd_format_round_trips_any_records(records):
    fh = io.BytesIO(b"# journal_id: x\n")
    for tag, n in records:
        text = json.dumps({"tag_id": tag, "commit_tid": n, "type": 1, "entry": base64.b64encode(write_event(n)).decode()},
                          separators=(",", ":")).encode()
        fh.write(b"%d %s\n" % (len(text), text))
    fh.seek(0)
    assert [(r.tag_tid, r.commit_tid, r.payload) for r in read_rbd_export(fh)] == [
        (tag, n, write_event(n)) for tag, n in records]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(_JSON_VALUES)
def test_json_bytes_is_orjson(value: object) -> None:
    """The JSON document's head and summary without importing orjson: the same bytes, or orjson's error."""
    import orjson

    from journaltools.export import json_bytes

    try:
        expected = orjson.dumps(value)
    except orjson.JSONEncodeError:
        with pytest.raises(orjson.JSONEncodeError):
            json_bytes(value)
        return
    assert json_bytes(value) == expected


def test_json_bytes_escapes_as_orjson() -> None:
    import orjson

    from journaltools.export import json_bytes

    text = "".join(map(chr, range(0x100))) + "\u2028\u2029\ufeff\U0001f600"
    for value in (text, {text: [text, None, True, False, 0, -(1 << 63), (1 << 64) - 1]}):
        assert json_bytes(value) == orjson.dumps(value)
    with pytest.raises(orjson.JSONEncodeError):
        json_bytes("\ud800")  # a lone surrogate
