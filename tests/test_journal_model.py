"""The journal model and walk against real fixtures (rbd's entry sets) and damaged copies."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journaltools.errors import NotFoundError
from journaltools.format.journal_entry import encode_entry
from journaltools.format.primitives import encode, u8
from journaltools.journal import Journal
from journaltools.store import DirectoryStore

from .journal_factory import FIXTURES, load_fixture_store, make_journal, write_event

# (store, journal id, golden export written by `rbd journal export`)
GOLDEN_EXPORTS = [
    ("all_events", "108bbb69e2b9", "all_events/journal-export.rbd"),
    ("small_objects", "10abe81d9984", "small_objects/journal-export.rbd"),
    ("site-a", "10556543e48c", "site-a/journal-export-img2.rbd"),
    ("site-b", "1037b5716a50", "site-b/journal-export-img2.rbd"),
]


def kinds(problems):
    return sorted({p.kind for p in problems})


@pytest.mark.parametrize(("store", "journal_id", "golden"), GOLDEN_EXPORTS)
def test_default_walk_replays_exactly_what_rbd_exports(store, journal_id, golden):
    journal = Journal.open(DirectoryStore(FIXTURES / "stores" / store).pool("rbd"), journal_id)
    walk = journal.walk()
    ours = [(e.tag_tid, e.commit_tid, base64.b64encode(e.payload).decode()) for e in walk]
    lines = (FIXTURES / "golden" / golden).read_text().splitlines()
    assert lines[0] == f"# journal_id: {journal_id}"
    records = [json.loads(line.split(" ", 1)[1]) for line in lines[1:] if line]
    assert ours == [(r["tag_id"], r["commit_tid"], r["entry"]) for r in records]
    assert walk.problems == []


@pytest.mark.parametrize(("store", "journal_id", "count"), [
    ("all_events", "108bbb69e2b9", 32), ("small_objects", "10abe81d9984", 45), ("site-a", "10556543e48c", 69),
])
def test_all_entries_walks_every_entry_present(store, journal_id, count):
    journal = Journal.open(DirectoryStore(FIXTURES / "stores" / store).pool("rbd"), journal_id)
    walk = journal.walk(all_entries=True)
    entries = list(walk)
    assert len(entries) == count
    assert walk.problems == []
    for e in entries:  # libjournal's placement rule holds for every real entry
        assert e.entry_tid % journal.splay_width == e.object_number % journal.splay_width


def test_header_geometry_and_naming():
    journal = Journal.open(DirectoryStore(FIXTURES / "stores" / "small_objects").pool("rbd"), "10abe81d9984")
    assert (journal.order, journal.splay_width, journal.minimum_set, journal.active_set) == (12, 2, 6, 10)
    assert journal.object_prefix == "journal_data.2.10abe81d9984."
    assert journal.existing_objects() == list(range(12, 22))
    assert [c.id for c in journal.header.clients] == ["", "late-peer"]


def test_missing_journal_is_not_found():
    pool = DirectoryStore(FIXTURES / "stores" / "all_events").pool("rbd")
    with pytest.raises(NotFoundError, match="journal nope does not exist"):
        Journal.open(pool, "nope")


def _object(pool, name):
    return bytearray(pool.read(name))


def test_crc_mismatch_is_reported_and_later_entries_survive():
    store, pool = make_journal([6])
    name = "journal_data.2.j1.0"
    data = _object(pool, name)
    data[40] ^= 0x01  # inside the payload of the first entry of object 0
    pool.write_full(name, bytes(data))
    walk = Journal.open(pool, "j1").walk(all_entries=True)
    tids = [e.entry_tid for e in walk]
    crc = [p for p in walk.problems if p.kind == "crc_mismatch"]
    assert len(crc) == 1
    assert (crc[0].object, crc[0].offset, crc[0].tag_tid, crc[0].entry_tid) == (name, 0, 0, 0)
    assert tids == [1, 2, 3, 4, 5]


def test_truncated_tail_is_reported_with_offset():
    store, pool = make_journal([6])
    name = "journal_data.2.j1.1"
    data = pool.read(name)
    frame = len(encode_entry(0, 1, write_event(1)))
    pool.write_full(name, data[: 2 * frame + 10])
    walk = Journal.open(pool, "j1").walk(all_entries=True)
    assert [e.entry_tid for e in walk] == [0, 1, 2, 3, 4]
    trunc = [p for p in walk.problems if p.kind == "truncated_entry"]
    assert [(p.object, p.offset) for p in trunc] == [(name, 2 * frame)]


def test_garbage_between_entries_resynchronises():
    store, pool = make_journal([6])
    name = "journal_data.2.j1.0"
    data = pool.read(name)
    frame = len(encode_entry(0, 0, write_event(0)))
    pool.write_full(name, data[:frame] + b"\xde\xad\xbe\xef" * 3 + data[frame:])
    walk = Journal.open(pool, "j1").walk(all_entries=True)
    assert [e.entry_tid for e in walk] == [0, 1, 2, 3, 4, 5]
    bad = [p for p in walk.problems if p.kind == "bad_magic"]
    assert [(p.object, p.offset) for p in bad] == [(name, frame)]


def test_zero_padding_between_entries_is_tolerated():
    store, pool = make_journal([4])
    name = "journal_data.2.j1.0"
    data = pool.read(name)
    frame = len(encode_entry(0, 0, write_event(0)))
    pad = 8 - frame % 8
    pool.write_full(name, data[:frame] + b"\x00" * pad + data[frame:] + b"\x00" * 3)
    walk = Journal.open(pool, "j1").walk(all_entries=True)
    assert [e.entry_tid for e in walk] == [0, 1, 2, 3]
    assert walk.problems == []


def test_deleted_object_gives_tid_gap_and_missing_object():
    store, pool = make_journal([12], entries_per_set=4)
    pool.remove("journal_data.2.j1.1")  # set 0, offset 1: entries 1 and 3
    walk = Journal.open(pool, "j1").walk()
    list(walk)
    assert "tid_gap" in kinds(walk.problems)
    missing = [p for p in walk.problems if p.kind == "missing_object"]
    assert [p.object for p in missing] == ["journal_data.2.j1.1"]


def test_object_above_active_set_and_misplaced_entry():
    store, pool = make_journal([4])
    pool.append("journal_data.2.j1.7", encode_entry(0, 7, b"late"))
    pool.append("journal_data.2.j1.0", encode_entry(0, 5, b"wrong offset"))
    walk = Journal.open(pool, "j1").walk(all_entries=True)
    list(walk)
    outside = [p for p in walk.problems if p.kind == "object_outside_sets"]
    assert [p.object for p in outside] == ["journal_data.2.j1.7"]
    misplaced = [p for p in walk.problems if p.kind == "misplaced_entry"]
    assert [(p.object, p.entry_tid) for p in misplaced] == [("journal_data.2.j1.0", 5)]


def test_damaged_header_values_are_problems_not_crashes():
    store, pool = make_journal([2], clients={"": [], "peer": [(0, 0, 0)]})
    pool.omap_set("journal.j1", {
        "splay_width": b"\x02\x00",
        "client_peer": b"\x01\x01\xff\x00\x00\x00garbage",
        "tag_0000000000000000": b"\x01",
        "tag_zz": encode(u8, 1),
        "bogus": b"",
    })
    journal = Journal.open(pool, "j1")
    assert journal.header.splay_width is None
    assert {"malformed_header", "malformed_client", "malformed_tag", "unknown_header_key"} <= set(kinds(journal.header.problems))
    for p in journal.header.problems:
        assert p.object == "journal.j1"
    list(journal.walk(all_entries=True))  # still walks with a fallback geometry


def test_commit_positions_are_checked():
    store, pool = make_journal([4], clients={"": [(1, 0, 3), (0, 0, 2)], "ahead": [(1, 0, 9)], "gone": [(1, 0, 7)]})
    walk = Journal.open(pool, "j1").walk()
    list(walk)
    # one problem per fault: a position past the newest entry names no entry, as a detail of client_ahead
    assert {(p.kind, p.entry_tid) for p in walk.problems} == {("client_ahead", 9), ("client_ahead", 7)}
    assert all("commit position names missing entry" in p.follow_on[0] for p in walk.problems)
    store, pool = make_journal([4], clients={"": [(1, 0, 3), (0, 0, 2)], "gone": [(1, 0, 2)]})
    walk = Journal.open(pool, "j1").walk(all_entries=True)  # (the replay would start at that bogus position)
    list(walk)
    assert [(p.kind, p.object, p.entry_tid) for p in walk.problems] == [("dangling_commit_position", "journal_data.2.j1.1", 2)]


def test_tag_switch_follows_librbd_epochs():
    store, pool = make_journal([3, 5], clients={"": []})
    entries = list(Journal.open(pool, "j1").walk())
    assert [(e.tag_tid, e.entry_tid) for e in entries] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]
    assert [e.commit_tid for e in entries] == list(range(1, 9))


def test_replay_starts_after_the_minimum_commit_position():
    store, pool = make_journal([8], clients={"": [(1, 0, 5), (0, 0, 4)], "peer": [(1, 0, 3), (0, 0, 2)]})
    entries = list(Journal.open(pool, "j1").walk())
    assert [e.entry_tid for e in entries] == [4, 5, 6, 7]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_damage_never_raises(data):
    store = load_fixture_store("small_objects")
    pool = store.pool("rbd")
    names = list(pool.list_objects("journal_data."))
    name = data.draw(st.sampled_from(names))
    blob = bytearray(pool.read(name))
    action = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    if action == "flip" and blob:
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    elif action == "insert":
        i = data.draw(st.integers(0, len(blob)))
        blob[i:i] = data.draw(st.binary(min_size=1, max_size=40))
    if action == "delete":
        pool.remove(name)
    else:
        pool.write_full(name, bytes(blob))
    journal = Journal.open(pool, "10abe81d9984")
    for all_entries in (False, True):
        walk = journal.walk(all_entries=all_entries)
        for entry in walk:
            assert entry.object_name in names
        for p in walk.problems:
            assert p.kind and p.detail
    if action == "flip":
        walk = journal.walk(all_entries=True)
        list(walk)
        assert walk.problems, "a flipped bit in a data object must be reported"
