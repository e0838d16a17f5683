"""Journals written by the real rbd/librbd, read by journaltools over RADOS and over an acquired directory:
the same output as `rbd journal ...` (other geometries, a separate journal pool)."""

from __future__ import annotations

import json

import pytest

from .cli_helpers import cli
from .test_journal_write_live import image_id, register_client

pytestmark = pytest.mark.ceph


@pytest.fixture(scope="module")
def odd_journal(ceph_cluster):
    """splay width 3, 8 KiB objects, data in pool `jpool`, a lagging client, several object sets and a snapshot."""
    ceph = ceph_cluster
    ceph.new_pool("jpool")
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", "rbd/odd")
    ceph.rbd("feature", "enable", "rbd/odd", "journaling", "--journal-splay-width", "3", "--journal-object-size", "8K",
             "--journal-pool", "jpool")
    jid = image_id(ceph, "rbd/odd")
    register_client(ceph, "rbd", jid, "lagging-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "200K", "--io-pattern", "rand", "rbd/odd")
    ceph.rbd("snap", "create", "rbd/odd@s1")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "512", "--io-total", "16K", "rbd/odd")
    return jid


@pytest.mark.parametrize("command", [["info"], ["info", "--format", "json"], ["status", "--no-lag"],
                                     ["status", "--format", "json", "--no-lag"], ["inspect", "--verbose"]])
def test_live_reads_equal_rbd(ceph_cluster, odd_journal, command):
    ceph = ceph_cluster
    rbd_args = [a for a in command[1:] if a != "--no-lag"]  # --no-lag: print only what rbd prints
    theirs = ceph.rbd("journal", command[0], "--image", "odd", *rbd_args).stdout
    code, ours, err = ceph.journaltools("journal", command[0], "--image", "odd", *command[1:])
    assert (code, err) == (0, "")
    assert ours == theirs
    if command[0] == "info":
        assert "jpool" in ours


def test_live_export_and_acquired_directory_equal_rbd(ceph_cluster, odd_journal, tmp_path, capsys):
    ceph = ceph_cluster
    theirs = tmp_path / "theirs.rbd"
    ceph.rbd("journal", "export", "--image", "odd", "--path", str(theirs))
    code, ours, err = ceph.journaltools("journal", "export", "--image", "odd", "--path", "-", "--format", "rbd")
    assert code == 0, err
    assert ours == theirs.read_text()
    assert len(ours.splitlines()) > 50
    store = tmp_path / "acquired"
    code, out, err = ceph.journaltools("acquire", "--pool", "rbd", "--image", "odd", str(store))
    assert code == 0, err
    assert {p.name for p in store.iterdir()} == {"rbd", "jpool"}
    code, again, err = ceph.journaltools("acquire", "--pool", "rbd", "--image", "odd", str(store))
    assert code == 0 and "0 objects copied" in err  # resumed: nothing left to copy
    code, offline, err = cli(capsys, "--store", str(store), "journal", "export", f"rbd/{odd_journal}", "-", "--format", "rbd")
    assert code == 0, err
    assert offline == theirs.read_text()
    inspect = ceph.rbd("journal", "inspect", "--image", "odd", "--verbose").stdout
    code, offline_inspect, err = cli(capsys, "--store", str(store), "journal", "inspect", "--verbose", f"rbd/{odd_journal}")
    assert offline_inspect == inspect
    code, doc, err = cli(capsys, "--store", str(store), "journal", "export", f"rbd/{odd_journal}", "-")
    meta = json.loads(doc)["journal"]
    assert meta["fsid"] == ceph.fsid and meta["data_pool"] == "jpool" and meta["splay_width"] == 3 and meta["order"] == 13


@pytest.mark.parametrize("command", [["inspect", "--verbose"], ["export", "--path", "-", "--format", "rbd"]])
def test_without_listing_the_pool_reads_equal_rbd(ceph_cluster, odd_journal, tmp_path, command):
    """JOURNALTOOLS_LISTING_LIMIT=-1: every pool counts as too big to list, objects are found by name."""
    ceph = ceph_cluster
    if command[0] == "export":
        ceph.rbd("journal", "export", "--image", "odd", "--path", str(tmp_path / "theirs"))
        theirs = (tmp_path / "theirs").read_text()
    else:
        theirs = ceph.rbd("journal", *command, "--image", "odd").stdout
    code, ours, err = ceph.journaltools("journal", *command, "--image", "odd", env={"JOURNALTOOLS_LISTING_LIMIT": "-1"})
    assert (code, err) == (0, "")
    assert ours == theirs


def test_the_listing_limit_decides_between_listing_and_probing(ceph_cluster, odd_journal, monkeypatch):
    from journaltools.journal import Journal
    from journaltools.store.rados import RadosStore

    store = RadosStore(conf=ceph_cluster.conf)
    try:
        for limit, listed in (("-1", False), ("1000000", True)):
            monkeypatch.setenv("JOURNALTOOLS_LISTING_LIMIT", limit)
            journal = Journal.open(store.pool("rbd"), odd_journal)
            journal.data_pool._object_count = None  # read the count again
            found = journal.find_data_objects()
            assert found.listed is listed, journal.header.problems
            assert set(journal.existing_objects()) <= set(found.numbers)
    finally:
        store.close()
