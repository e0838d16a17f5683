"""Write side against the real Ceph: what journaltools writes, rbd and librbd read (and the reverse)."""

from __future__ import annotations

import json
import struct

import pytest

from .cli_helpers import cli

pytestmark = pytest.mark.ceph


def image_id(ceph, spec):
    return json.loads(ceph.rbd("info", spec, "--format", "json").stdout)["id"]


def omap_values(ceph, pool, oid):
    """{key: value bytes} of an object's omap, through python3-rados."""
    cluster = ceph.connect()
    try:
        with cluster.open_ioctx(pool) as ioctx:
            import rados

            with rados.ReadOpCtx() as op:
                it, _ = ioctx.get_omap_vals(op, "", "", 1000)
                ioctx.operate_read_op(op, oid)
                return {k: bytes(v) for k, v in it}
    finally:
        cluster.shutdown()


def register_client(ceph, pool, journal_id, client_id):
    cluster = ceph.connect()
    try:
        with cluster.open_ioctx(pool) as ioctx:
            def s(b):
                return struct.pack("<I", len(b)) + b

            ioctx.execute(f"journal.{journal_id}", "journal", "client_register", s(client_id.encode()) + s(b""))
    finally:
        cluster.shutdown()


def test_feature_enable_writes_what_librbd_writes(ceph_cluster):
    ceph = ceph_cluster
    for name in ("fe-rbd", "fe-ours"):
        ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock", f"rbd/{name}")
    ceph.rbd("feature", "enable", "rbd/fe-rbd", "journaling", "--journal-splay-width", "3", "--journal-object-size", "8K")
    code, out, err = ceph.journaltools("feature", "enable", "rbd/fe-ours", "journaling", "--journal-splay-width", "3",
                                       "--journal-object-size", "8K")
    assert code == 0, err
    theirs = omap_values(ceph, "rbd", f"journal.{image_id(ceph, 'rbd/fe-rbd')}")
    ours = omap_values(ceph, "rbd", f"journal.{image_id(ceph, 'rbd/fe-ours')}")
    assert ours == theirs
    info = json.loads(ceph.rbd("info", "rbd/fe-ours", "--format", "json").stdout)
    assert "journaling" in info["features"]
    # rbd reads our journal as its own
    assert ceph.rbd("journal", "info", "--image", "fe-ours").stdout.splitlines()[3:] == \
        ceph.rbd("journal", "info", "--image", "fe-rbd").stdout.splitlines()[3:]
    # and librbd writes through it
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "64K", "rbd/fe-ours")
    code, out, err = ceph.journaltools("feature", "disable", "rbd/fe-ours", "journaling")
    assert code == 0, err
    assert "journaling" not in json.loads(ceph.rbd("info", "rbd/fe-ours", "--format", "json").stdout)["features"]
    assert ceph.rados("-p", "rbd", "stat", f"journal.{image_id(ceph, 'rbd/fe-ours')}", check=False).returncode != 0
    code, out, err = ceph.journaltools("feature", "enable", "rbd/fe-nolock-missing", "journaling")
    assert code != 0 and "Traceback" not in err


def test_feature_enable_refuses_without_exclusive_lock(ceph_cluster):
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering", "rbd/nolock")
    code, out, err = ceph.journaltools("feature", "enable", "rbd/nolock", "journaling")
    assert code != 0 and "exclusive-lock" in err


def test_rbd_export_import_round_trip_is_byte_identical(ceph_cluster, tmp_path):
    """The issue's "done when": rbd export -> journaltools import -> rbd export gives the same records."""
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/src")
    src_id = image_id(ceph, "rbd/src")
    register_client(ceph, "rbd", src_id, "lagging-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "256K", "--io-pattern", "rand", "rbd/src")
    ceph.rbd("snap", "create", "rbd/src@s1")
    first = tmp_path / "src.rbd"
    ceph.rbd("journal", "export", "--image", "src", "--path", str(first))

    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", "rbd/dst")
    assert ceph.journaltools("feature", "enable", "rbd/dst", "journaling")[0] == 0
    dst_id = image_id(ceph, "rbd/dst")
    register_client(ceph, "rbd", dst_id, "lagging-peer")
    code, out, err = ceph.journaltools("journal", "import", str(first), "--image", "dst")
    assert code == 0, err
    second = tmp_path / "dst.rbd"
    ceph.rbd("journal", "export", "--image", "dst", "--path", str(second))
    a, b = first.read_text().splitlines(), second.read_text().splitlines()
    assert a[0] == f"# journal_id: {src_id}" and b[0] == f"# journal_id: {dst_id}"
    assert len(a) > 60 and a[1:] == b[1:]
    # our own reading agrees with rbd's on the live journal
    code, out, err = ceph.journaltools("journal", "export", "--image", "dst", "--path", "-", "--format", "rbd")
    assert out.splitlines()[1:] == b[1:]
    inspect = ceph.rbd("journal", "inspect", "--image", "dst").stdout
    assert "0 errors" in inspect
    # librbd opens the image and replays the imported entries
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "16K", "rbd/dst")
    assert "journaling" in json.loads(ceph.rbd("info", "rbd/dst", "--format", "json").stdout)["features"]


def test_reset_and_client_disconnect_match_rbd(ceph_cluster, tmp_path, capsys):
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/rs")
    ceph.rbd("feature", "disable", "rbd/rs", "journaling")
    ceph.rbd("feature", "enable", "rbd/rs", "journaling", "--journal-splay-width", "2", "--journal-object-size", "64K")
    jid = image_id(ceph, "rbd/rs")
    register_client(ceph, "rbd", jid, "peer1")
    register_client(ceph, "rbd", jid, "peer2")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "64K", "rbd/rs")
    code, out, err = ceph.journaltools("journal", "client", "disconnect", "--image", "rs", "--client-id", "peer1")
    assert (code, out) == (0, "client peer1 disconnected\n"), err
    assert "id=peer1, commit_position" in ceph.rbd("journal", "status", "--image", "rs").stdout
    assert "state=disconnected" in ceph.rbd("journal", "status", "--image", "rs").stdout
    # as rbd: no confirmation needed; a backup is written first and stderr says how to restore it
    code, out, err = ceph.journaltools("journal", "reset", "--image", "rs", "--keep-clients", "--backup",
                                       str(tmp_path / "first"))
    assert code == 0 and "backup of journal" in err and "journal import" in err, err
    backup = tmp_path / "first"  # the old entries; a second reset (the flag is still accepted) backs up nothing new
    code, out, err = ceph.journaltools("journal", "reset", "--image", "rs", "--keep-clients", "--backup",
                                       str(tmp_path / "second"), "--yes-i-really-mean-it")
    assert code == 0, err
    info = ceph.rbd("journal", "info", "--image", "rs").stdout
    assert "order: 16 (64 KiB objects)" in info and "splay_width: 2" in info
    status = ceph.rbd("journal", "status", "--image", "rs").stdout
    assert "id=peer2" in status and "positions=[]" in status
    assert ceph.rbd("journal", "inspect", "--image", "rs").stdout.endswith("0 entries inspected, 0 errors\n")
    # the backup holds the old entries, readable offline
    code, out, err = cli(capsys, "--store", str(backup), "journal", "inspect", "--all", f"rbd/{jid}")
    assert code == 0, out + err
    count = int(out.split("Summary:\n  ", 1)[1].split(" ", 1)[0])
    assert count >= 16 and out.endswith(" entries inspected, 0 errors\n")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "16K", "rbd/rs")
