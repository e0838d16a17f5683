"""An entry whose frame is intact but whose payload is not a decodable EventEntry, on a live cluster.

rbd counts it in ``inspect`` (``N entries inspected, 1 errors``, exit 22) and
``export --no-error`` leaves it out and counts it as processed; we must write the
same export bytes and count the same.  (``rbd journal export`` without
``--no-error`` hangs on such an entry in 16.2.15, so it is not run here.)
"""

from __future__ import annotations

import pytest

from journaltools.format.journal_entry import encode_entry
from journaltools.journal import Journal
from journaltools.store.directory import DirectoryStore

from .cli_helpers import cli
from .test_journal_write_live import image_id, register_client

pytestmark = pytest.mark.ceph


@pytest.fixture(scope="module")
def damaged_journal(ceph_cluster, tmp_path_factory):
    """Journal of rbd/undec with its 5th entry's EventEntry compat set to 9; returns (id, acquired store)."""
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling",
             "--journal-splay-width", "2", "--journal-object-size", "16K", "rbd/undec")
    jid = image_id(ceph, "rbd/undec")
    register_client(ceph, "rbd", jid, "lagging-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "512", "--io-total", "8K", "rbd/undec")
    before = tmp_path_factory.mktemp("before")
    code, _, err = ceph.journaltools("acquire", "--pool", "rbd", "--journal", jid, str(before))
    assert code == 0, err
    entry = list(Journal.open(DirectoryStore(before).pool("rbd"), jid).walk())[4]
    payload = bytes(entry.payload)
    bad = payload[:1] + bytes([9]) + payload[2:]
    cluster = ceph.connect()
    try:
        with cluster.open_ioctx("rbd") as ioctx:
            ioctx.write(entry.object_name, encode_entry(entry.tag_tid, entry.entry_tid, bad), entry.offset)
    finally:
        cluster.shutdown()
    store = tmp_path_factory.mktemp("after")
    code, _, err = ceph.journaltools("acquire", "--pool", "rbd", "--journal", jid, str(store))
    assert code == 0, err
    return jid, store


def test_inspect_counts_the_undecodable_entry_as_rbd(ceph_cluster, damaged_journal, capsys):
    jid, store = damaged_journal
    theirs = ceph_cluster.rbd("journal", "inspect", f"rbd/{jid}", check=False)
    assert theirs.returncode == 22 and theirs.stdout.endswith(" entries inspected, 1 errors\n")
    offline = cli(capsys, "--store", str(store), "journal", "inspect", f"rbd/{jid}")
    for code, ours, err in (offline, ceph_cluster.journaltools("journal", "inspect", f"rbd/{jid}")):
        assert code == 1, err
        assert ours.startswith(theirs.stdout)
        assert "undecodable_event" in ours and "tag" in ours


def test_export_no_error_writes_the_bytes_rbd_writes(ceph_cluster, damaged_journal, tmp_path, capsys):
    jid, store = damaged_journal
    theirs = tmp_path / "theirs.rbd"
    proc = ceph_cluster.rbd("journal", "export", f"rbd/{jid}", str(theirs), "--no-error", check=False)
    assert proc.returncode == 22
    ours = tmp_path / "ours.rbd"
    code, out, err = cli(capsys, "--store", str(store), "journal", "export", f"rbd/{jid}", str(ours),
                         "--format", "rbd", "--no-error")
    assert code == 1 and "undecodable_event" in err
    assert ours.read_bytes() == theirs.read_bytes()
    assert out == proc.stdout  # "N entries processed, 1 errors": the skipped entry is counted
    records = theirs.read_bytes().splitlines()[1:]
    assert len(records) == int(out.split()[0]) - 1
    assert all(int(r.split(b" ", 1)[0]) == len(r.split(b" ", 1)[1]) for r in records)
