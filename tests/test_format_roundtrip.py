"""Round-trip properties for every registered record, fuzzing of every decoder, and real fixture values."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journaltools.errors import FormatError
from journaltools.format import all_types, lookup
from journaltools.format.cls_journal import HEADER_KEYS
from journaltools.format.primitives import encode

from .journal_factory import FIXTURES
from .strategies import values_of

TYPES = all_types()
IDS = [t.name for t in TYPES]


@pytest.mark.parametrize("record", TYPES, ids=IDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encode_decode_encode_is_identity(record, data):
    value = data.draw(values_of(record.construct))
    first = record.encode(value)
    decoded = record.decode(first)
    assert record.encode(decoded) == first
    assert record.encode(record.from_json(json.loads(json.dumps(record.to_json(decoded))))) == first


@pytest.mark.parametrize("record", TYPES, ids=IDS)
@settings(max_examples=150, deadline=None)
@given(blob=st.binary(max_size=200))
def test_random_bytes_raise_only_format_errors(record, blob):
    try:
        value = record.decode(blob)
    except FormatError:
        return
    again = record.encode(value)  # equal to blob except non-canonical bools, which Ceph normalises too
    assert record.encode(record.decode(again)) == again
    assert len(again) == len(blob)


@pytest.mark.parametrize("record", TYPES, ids=IDS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_truncated_and_flipped_encodings_never_crash(record, data):
    good = record.encode(data.draw(values_of(record.construct)))
    cut = good[: data.draw(st.integers(0, max(len(good) - 1, 0)))]
    for blob in (cut, bytes(b ^ 0xFF if i == 0 else b for i, b in enumerate(good))):
        with contextlib.suppress(FormatError):
            record.decode(blob)


def _fixture_headers():
    for omap_file in sorted(FIXTURES.glob("stores/*/*/omap/journal.*.json")):
        yield omap_file, {k: base64.b64decode(v) for k, v in json.loads(omap_file.read_text()).items()}


@pytest.mark.parametrize("omap_file", [f for f, _ in _fixture_headers()], ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_every_real_journal_header_value_round_trips(omap_file):
    omap = {k: base64.b64decode(v) for k, v in json.loads(omap_file.read_text()).items()}
    client, tag = lookup("cls::journal::Client"), lookup("cls::journal::Tag")
    client_data, tag_data = lookup("librbd::journal::ClientData"), lookup("librbd::journal::TagData")
    for key, raw in omap.items():
        if key in HEADER_KEYS:
            con, _ = HEADER_KEYS[key]
            assert encode(con, lookup_value(con, raw)) == raw
        elif key.startswith("client_"):
            value = client.decode(raw)
            assert client.encode(value) == raw
            if value.data:
                assert client_data.encode(client_data.decode(value.data)) == value.data
        elif key.startswith("tag_"):
            value = tag.decode(raw)
            assert tag.encode(value) == raw
            if value.data:
                assert tag_data.encode(tag_data.decode(value.data)) == value.data


def lookup_value(con, raw):
    from journaltools.format.primitives import decode

    return decode(con, raw)


def test_every_real_entry_and_event_round_trips():
    from journaltools.journal import Journal
    from journaltools.store import DirectoryStore

    entry_type, event_type = lookup("journal::Entry"), lookup("librbd::journal::EventEntry")
    seen = 0
    for store_dir in sorted((FIXTURES / "stores").iterdir()):
        pool = DirectoryStore(store_dir).pool("rbd")
        for header in pool.list_objects("journal."):
            journal = Journal.open(pool, header[len("journal."):])
            for number in journal.existing_objects():
                data = journal.read_object(number)
                offset = 0
                while offset < len(data):
                    length = int.from_bytes(data[offset + 25: offset + 29], "little")
                    frame = data[offset: offset + 33 + length]
                    value = entry_type.decode(frame)
                    assert entry_type.encode(value) == frame
                    assert event_type.encode(event_type.decode(value.data)) == value.data
                    offset += len(frame)
                    seen += 1
    assert seen > 1000
