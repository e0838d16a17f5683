"""The construct-free header records (format/header_fastpath.py) agree with the declarations.

Every input the fast path accepts decodes to what the construct declaration decodes;
the shapes it refuses (other versions, tails, wrong lengths) are ones the declaration
decodes differently or refuses, and the journal model then uses the declaration.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from journaltools.errors import FormatError
from journaltools.format.cls_journal import HEADER_KEYS, Client, Tag
from journaltools.format.cls_journal_keys import HEADER_KEY_SIZES
from journaltools.format.header_fastpath import fast_client, fast_string, fast_tag, fast_u64
from journaltools.format.primitives import CephString, decode, encode, u64
from journaltools.journal.model import parse_header

u64s = st.integers(0, 2**64 - 1)
positions = st.lists(st.fixed_dictionaries({"object_number": u64s, "tag_tid": u64s, "entry_tid": u64s}), max_size=5)
clients = st.fixed_dictionaries({
    "id": st.text(max_size=20), "data": st.binary(max_size=40),
    "commit_position": st.fixed_dictionaries({"object_positions": positions}), "state": st.integers(0, 255)})
tags = st.fixed_dictionaries({"tid": u64s, "tag_class": u64s, "data": st.binary(max_size=60)})


def _declared(con, raw):
    try:
        return decode(con, raw)
    except FormatError:
        return None


def _client_tuple(rec):
    return (rec.id, bytes(rec.data),
            [(p.object_number, p.tag_tid, p.entry_tid) for p in rec.commit_position.object_positions], rec.state)


def _mutations(raw: bytes):
    """Truncations, an extra byte, and every single-byte change of the envelope heads."""
    yield raw[:-1]
    yield raw + b"\x00"
    yield raw[: len(raw) // 2]
    for at in range(min(len(raw), 16)):
        for value in (0, 2, 0xFF):
            yield raw[:at] + bytes([value]) + raw[at + 1 :]


@settings(max_examples=200, deadline=None)
@given(clients)
def test_clients_as_declared(value):
    raw = encode(Client, value)
    assert fast_client(raw) == _client_tuple(decode(Client, raw))
    for bad in _mutations(raw):
        fast = fast_client(bad)
        if fast is not None:  # accepted: exactly what the declaration gives
            rec = _declared(Client, bad)
            assert rec is not None and not rec._tail and fast == _client_tuple(rec)


@settings(max_examples=200, deadline=None)
@given(tags)
def test_tags_as_declared(value):
    raw = encode(Tag, value)
    rec = decode(Tag, raw)
    assert fast_tag(raw) == (rec.tid, rec.tag_class, bytes(rec.data))
    for bad in _mutations(raw):
        fast = fast_tag(bad)
        if fast is not None:
            rec = _declared(Tag, bad)
            assert rec is not None and not rec._tail and fast == (rec.tid, rec.tag_class, bytes(rec.data))


def test_newer_versions_and_tails_go_to_the_declaration():
    client = encode(Client, {"id": "x", "data": b"", "commit_position": {"object_positions": []}, "state": 0})
    with_tail = bytes([2, 1]) + (int.from_bytes(client[2:6], "little") + 1).to_bytes(4, "little") + client[6:] + b"\x07"
    assert fast_client(client) is not None and fast_client(with_tail) is None
    assert decode(Client, with_tail)._tail == b"\x07"
    tag = encode(Tag, {"tid": 1, "tag_class": 0, "data": b"ab"})
    assert fast_tag(tag) == (1, 0, b"ab")
    assert fast_tag(bytes([2]) + tag[1:]) is None


@given(st.text(max_size=30))
def test_strings_and_u64_as_declared(text):
    raw = encode(CephString(), text)
    assert fast_string(raw) == decode(CephString(), raw)
    assert fast_string(raw + b"x") is None and fast_string(raw[:-1] if text else b"\x00") is None
    assert fast_u64(encode(u64, len(text))) == len(text) and fast_u64(b"\x01") is None


def test_header_key_sizes_match_the_declarations():
    assert {k: size for k, (_, size) in HEADER_KEYS.items()} == {k: size for k, (size, _) in HEADER_KEY_SIZES.items()}
    for key, (con, size) in HEADER_KEYS.items():
        raw = b"\xfe" * (size - 1) + b"\xff"
        assert int.from_bytes(raw, "little", signed=HEADER_KEY_SIZES[key][1]) == decode(con, raw)


def test_the_model_decodes_odd_records_with_the_declaration():
    """A client with a tail (a newer version) still opens, its record container keeps the tail."""
    client = encode(Client, {"id": "", "data": b"d", "commit_position": {"object_positions": []}, "state": 0})
    newer = bytes([2, 1]) + (int.from_bytes(client[2:6], "little") + 2).to_bytes(4, "little") + client[6:] + b"\x01\x02"
    omap = {k: b"\x00" * size for k, (_, size) in HEADER_KEYS.items()} | {"order": b"\x18", "splay_width": b"\x04",
                                                                       "client_": newer, "next_tag_tid": encode(u64, 1),
                                                                       "next_tag_class": encode(u64, 1)}
    omap["tag_0000000000000000"] = encode(Tag, {"tid": 0, "tag_class": 0, "data": b""})
    header = parse_header(omap, "journal.x")
    assert [p.kind for p in header.problems] == []
    (c,) = header.clients
    assert (c.id, c.data, c.state) == ("", b"d", 0) and c.record._tail == b"\x01\x02"
    assert header.tags[0].record.tid == 0
    omap["client_"] = b"\x01\x01"
    header = parse_header(omap, "journal.x")
    assert header.clients[0].record is None and [p.kind for p in header.problems] == ["malformed_client"]


def _as_declared(type_name, raw):
    from journaltools.format import lookup

    record = lookup(type_name)
    try:
        return record.to_json(record.decode(raw))
    except FormatError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 255), st.binary(max_size=24))
def test_image_client_data_json_as_declared(tag_class, resync, noise):
    from journaltools.format.header_fastpath import fast_client_data_json

    raw = bytes([2, 1]) + (13).to_bytes(4, "little") + (0).to_bytes(4, "little") + tag_class.to_bytes(8, "little") + \
        bytes([resync])
    assert fast_client_data_json(raw) == _as_declared("librbd::journal::ClientData", raw)
    for bad in (noise, raw[:-1], raw + b"\x00", bytes([1]) + raw[1:], raw[:6] + b"\x01" + raw[7:]):
        fast = fast_client_data_json(bad)
        assert fast is None or fast == _as_declared("librbd::journal::ClientData", bad)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=10).map(lambda t: t.encode()), st.binary(max_size=10)), st.binary(max_size=8),
       st.integers(0, 255), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.binary(max_size=3))
def test_tag_data_json_as_declared(own, previous, valid, tag_tid, entry_tid, extra):
    from journaltools.format.header_fastpath import fast_tag_data_json

    raw = (len(own).to_bytes(4, "little") + own + len(previous).to_bytes(4, "little") + previous + bytes([valid])
           + tag_tid.to_bytes(8, "little") + entry_tid.to_bytes(8, "little"))
    for candidate in (raw, raw + extra, raw[: len(raw) - len(extra)]):
        fast = fast_tag_data_json(candidate)
        declared = _as_declared("librbd::journal::TagData", candidate)
        if fast is not None:
            assert fast == declared
    try:
        own.decode("utf-8")
        previous.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert fast_tag_data_json(raw) == _as_declared("librbd::journal::TagData", raw)
