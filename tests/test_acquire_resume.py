"""acquire's resume check must see an entry rewritten in place with a valid crc32c of its own."""

from __future__ import annotations

from journaltools.acquire import copy_journal
from journaltools.format.journal_entry import encode_entry
from journaltools.journal import Journal

from .journal_factory import make_journal, write_event


def test_resumed_copy_notices_an_entry_rewritten_with_its_own_valid_crc(tmp_path):
    store, pool = make_journal([4], splay_width=1)
    journal = Journal.open(pool, "j1")
    assert copy_journal(journal, tmp_path).copied == 2  # header + one data object
    entry = list(journal.walk())[2]
    other = write_event(99)
    assert len(other) == len(entry.payload) and other != entry.payload
    frame = encode_entry(entry.tag_tid, entry.entry_tid, other)
    data = bytearray(pool.read(entry.object_name))
    data[entry.offset:entry.offset + entry.size] = frame
    pool.write_full(entry.object_name, bytes(data))
    # a whole-object crc32c is blind to this change (CRC linearity); the copy must not be
    report = copy_journal(Journal.open(pool, "j1"), tmp_path)
    assert (report.copied, report.skipped) == (1, 1)
    assert (tmp_path / "rbd" / "objects" / entry.object_name).read_bytes() == bytes(data)
