"""Appending like libjournal: placement, set advance on full objects, rollback; read back clean."""

from __future__ import annotations

import pytest

from journaltools.errors import FormatError
from journaltools.journal import Journal
from journaltools.journal.writer import JournalWriter

from .journal_factory import make_journal, write_event


def test_appends_follow_libjournal_placement_and_advance_sets():
    store, pool = make_journal([0], splay_width=3, order=12, clients={"": []})
    writer = JournalWriter(Journal.open(pool, "j1"))
    positions = [writer.append(0, write_event(i, 460)) for i in range(60)]
    assert [p.entry_tid for p in positions] == list(range(60))
    assert all(p.object_number % 3 == p.entry_tid % 3 for p in positions)
    journal = Journal.open(pool, "j1")
    assert journal.active_set > 0  # 4 KiB objects filled up
    for number in journal.existing_objects():
        assert pool.stat(journal.object_name(number)) <= 4096 + 533  # one append past the soft maximum at most
    walk = journal.walk()
    assert [(e.tag_tid, e.entry_tid) for e in walk] == [(0, i) for i in range(60)]
    assert walk.problems == []


def test_tids_continue_per_tag_and_new_tag_starts_at_zero():
    store, pool = make_journal([3], clients={"": []})
    writer = JournalWriter(Journal.open(pool, "j1"))
    assert writer.append(0, b"a").entry_tid == 3
    assert writer.append(1, b"b").entry_tid == 0


def test_rollback_restores_objects_and_active_set():
    store, pool = make_journal([4], order=12, clients={"": []})
    before = {o: pool.read(o) for o in pool.list_objects("journal_data.")}
    header_before = pool.omap("journal.j1")
    writer = JournalWriter(Journal.open(pool, "j1"))
    for _i in range(40):
        writer.append(0, write_event(_i, 400))
    writer.rollback()
    assert {o: pool.read(o) for o in pool.list_objects("journal_data.")} == before
    assert pool.omap("journal.j1")["active_set"] == header_before["active_set"]


def test_oversized_payload_is_refused():
    store, pool = make_journal([], order=12, clients={"": []})
    writer = JournalWriter(Journal.open(pool, "j1"))
    with pytest.raises(FormatError, match="exceeds"):
        writer.append(0, b"x" * 5000)
