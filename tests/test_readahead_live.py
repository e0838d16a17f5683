"""On a live cluster, a walk through the aio read-ahead (several reads in flight) finds exactly the
entries and problems of the thread read-ahead and of plain reads, on a healthy journal and on one with
a missing object, a truncated object, and an object removed between the listing and its read."""

from __future__ import annotations

import pytest

from journaltools.journal import Journal, JournalWalk
from journaltools.store.rados import RadosPool, RadosStore

from .test_journal_write_live import image_id, register_client

pytestmark = pytest.mark.ceph

CHUNK = 4096  # several chunks per 64 KiB object: reads in flight span objects and chunks
MODES = ("aio", "thread", "off")


@pytest.fixture(scope="module")
def journal_id(ceph_cluster):
    """rbd/ra: splay width 3, 64 KiB objects, ~1 MiB of 4 KiB writes (about 16 objects), nothing trimmed."""
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling",
             "--journal-splay-width", "3", "--journal-object-size", "64K", "rbd/ra")
    jid = image_id(ceph, "rbd/ra")
    register_client(ceph, "rbd", jid, "lagging-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "1M", "--io-pattern", "rand", "rbd/ra")
    return jid


def _walk(ceph, jid, mode, monkeypatch, before_iterating=None, all_entries=False):
    monkeypatch.setenv("JOURNALTOOLS_READ_AHEAD", mode)
    submitted = []
    submit = RadosPool.submit_read

    def counting(self, oid, offset, length):
        submitted.append((oid, offset))
        return submit(self, oid, offset, length)

    monkeypatch.setattr(RadosPool, "submit_read", counting)
    store = RadosStore(conf=ceph.conf)
    try:
        journal = Journal.open(store.pool("rbd"), jid)
        walk = JournalWalk(journal, all_entries=all_entries, read_chunk=CHUNK, read_ahead=mode != "off")
        if before_iterating is not None:
            before_iterating()  # after the walk found the objects (listed them), before it reads them
        entries = [(e.object_name, e.offset, e.size, e.tag_tid, e.entry_tid, e.commit_tid, bytes(e.payload))
                   for e in walk]
        assert (len(submitted) >= len({e[0] for e in entries})) if mode == "aio" else not submitted  # the aio path ran
        return entries, [p.to_json() for p in walk.problems]
    finally:
        store.close()


def _objects(ceph, jid):
    names = [n for n in ceph.rados("-p", "rbd", "ls").stdout.split() if n.startswith("journal_data.") and jid in n]
    return sorted(names, key=lambda n: int(n.rsplit(".", 1)[1]))


def _same_in_every_mode(ceph, jid, monkeypatch, **kw):
    views = {mode: _walk(ceph, jid, mode, monkeypatch, **kw) for mode in MODES}
    assert views["aio"] == views["thread"] == views["off"]
    return views["aio"]


def test_healthy_journal_reads_the_same_in_every_mode(ceph_cluster, journal_id, monkeypatch):
    entries, problems = _same_in_every_mode(ceph_cluster, journal_id, monkeypatch)
    assert len(entries) >= 256 and problems == []
    assert len({e[0] for e in entries}) >= 6  # several objects, several chunks each
    entries, _ = _same_in_every_mode(ceph_cluster, journal_id, monkeypatch, all_entries=True)
    assert len(entries) >= 256


def test_damaged_journal_reads_the_same_in_every_mode(ceph_cluster, journal_id, monkeypatch, tmp_path):
    ceph = ceph_cluster
    names = _objects(ceph, journal_id)
    saved = {n: ceph.rados_bytes("-p", "rbd", "get", n, "-") for n in names}
    missing, truncated, removed_late = names[1], names[3], names[-4]
    try:
        ceph.rados("-p", "rbd", "rm", missing)
        ceph.rados("-p", "rbd", "truncate", truncated, str(len(saved[truncated]) - 1000))
        views = {}
        for mode in MODES:
            source = tmp_path / "late"
            source.write_bytes(saved[removed_late])
            ceph.rados("-p", "rbd", "put", removed_late, str(source))
            views[mode] = _walk(ceph, journal_id, mode, monkeypatch,
                                before_iterating=lambda: ceph.rados("-p", "rbd", "rm", removed_late))
        assert views["aio"] == views["thread"] == views["off"]
        entries, problems = views["aio"]
        kinds = {(p["kind"], p["object"]) for p in problems}
        assert ("truncated_entry", truncated) in kinds
        torn = next(p for p in problems if p["kind"] == "truncated_entry")
        assert torn["offset"] is not None and 0 < torn["offset"] < len(saved[truncated])
        assert {missing, removed_late} <= {p["object"] for p in problems}  # each missing object is named
        assert not any(e[0] in (missing, removed_late) for e in entries)
    finally:
        for name, data in saved.items():
            source = tmp_path / "restore"
            source.write_bytes(data)
            ceph.rados("-p", "rbd", "put", name, str(source))


def test_the_limit_loops_read_every_byte_of_the_journal(ceph_cluster, journal_id):
    """benchmarks/measure.py's live limit: the aio loop (the limit row) and the serial one read the same bytes."""
    from pathlib import Path

    from benchmarks.measure import limit_rados

    names = _objects(ceph_cluster, journal_id)
    size = sum(len(ceph_cluster.rados_bytes("-p", "rbd", "get", n, "-")) for n in names)
    prefix = names[0].rsplit(".", 1)[0] + "."
    for strategy in ("aio", "serial"):
        seconds, total = limit_rados(Path(ceph_cluster.conf), "rbd", prefix, strategy)
        assert total == size and seconds > 0
