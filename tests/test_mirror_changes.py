"""Mirroring changes: offline on copies of the real pools, and against the real rbd on a live cluster."""

from __future__ import annotations

import json

import pytest

from journaltools.format.librbd_journal import decode_tag_data
from journaltools.journal import Journal
from journaltools.store import DirectoryStore

from .cli_helpers import cli, store_copy


def role(capsys, store, image="rbd/img2"):
    return json.loads(cli(capsys, "--store", str(store), "status", image, "--format", "json")[1])["mirroring"]


def test_failover_back_offline(capsys, tmp_path):
    """site-b is primary, site-a demoted: demote B, promote A (orderly), as librbd writes the tags."""
    a, b = store_copy(tmp_path, "site-a"), store_copy(tmp_path, "site-b")
    code, out, err = cli(capsys, "--store", str(a), "mirror", "image", "promote", "rbd/img2")
    assert (code, out) == (0, "Image promoted to primary\n"), err
    assert role(capsys, a)["role"] == "primary"
    journal = Journal.open(DirectoryStore(a).pool("rbd"), "10556543e48c")
    tag = journal.header.tags[-1]
    pred = decode_tag_data(tag.data).predecessor
    assert (pred.mirror_uuid, pred.commit_valid, pred.tag_tid, pred.entry_tid) == ("<orphan>", True, 13, 1)
    assert journal.header.client("").commit_position[0].tag_tid == tag.tid
    walk = journal.walk(all_entries=True)
    last = list(walk)[-1]
    assert (last.tag_tid, last.entry_tid) == (tag.tid, 0) and walk.problems == []
    code, out, err = cli(capsys, "--store", str(b), "mirror", "image", "demote", "rbd/img2")
    assert (code, out) == (0, "Image demoted to non-primary\n"), err
    doc = role(capsys, b)
    assert doc["role"] == "secondary (consistent)" and doc["owner_mirror_uuid"] == "<orphan>"
    assert cli(capsys, "--store", str(b), "mirror", "image", "demote", "rbd/img2")[0] == 22
    assert cli(capsys, "--store", str(b), "mirror", "image", "resync", "rbd/img2")[0] == 0
    assert role(capsys, b)["role"] == "secondary (inconsistent)"


def test_pool_and_peer_changes_offline(capsys, tmp_path):
    s = ["--store", str(store_copy(tmp_path, "site-a"))]
    assert cli(capsys, *s, "mirror", "pool", "enable", "rbd", "image")[1].startswith("rbd: mirroring is already configured")
    code, out, err = cli(capsys, *s, "mirror", "pool", "disable", "rbd")
    assert code == 16 and "mirror peers still registered" in err  # librbd checks the peers first (EBUSY)
    # one receiving peer per pool, as librbd allows: the store's rx-tx peer "remote" first goes
    code, _, err = cli(capsys, *s, "mirror", "pool", "peer", "add", "rbd", "client.mirror@site-c")
    assert (code, err) == (22, "journaltools: multiple RX peers are not currently supported\n")
    assert cli(capsys, *s, "mirror", "pool", "peer", "remove", "rbd", "a3f36efb-04dd-4c6e-a595-0ab530d579b3")[0] == 0
    code, uuid, err = cli(capsys, *s, "mirror", "pool", "peer", "add", "rbd", "client.mirror@site-c")
    assert code == 0, err
    info = json.loads(cli(capsys, *s, "mirror", "pool", "info", "rbd", "--format", "json")[1])
    assert {"uuid": uuid.strip(), "direction": "rx-tx", "site_name": "site-c", "mirror_uuid": "",
            "client_name": "client.mirror"} in info["peers"]
    assert cli(capsys, *s, "mirror", "pool", "peer", "add", "rbd", "site-c/other")[0] == 22
    assert cli(capsys, *s, "mirror", "pool", "peer", "add", "rbd", "site-c/rbd")[0] == 22  # same site again: as rbd
    assert cli(capsys, *s, "mirror", "pool", "peer", "remove", "rbd", uuid.strip())[0] == 0
    assert cli(capsys, *s, "mirror", "pool", "peer", "remove", "rbd", "not-a-uuid")[0] == 22
    assert cli(capsys, *s, "mirror", "image", "disable", "rbd/img2")[0] == 22  # not primary
    assert cli(capsys, *s, "feature", "disable", "rbd/img2", "mirroring")[0] == 22
    assert cli(capsys, *s, "mirror", "image", "disable", "--force", "rbd/img2")[0] == 0
    assert cli(capsys, *s, "mirror", "image", "status", "rbd/img2")[0] == 22
    assert cli(capsys, *s, "feature", "enable", "rbd/img2", "mirroring")[0] == 0
    assert cli(capsys, *s, "mirror", "image", "status", "rbd/img2")[0] == 0


@pytest.mark.ceph
def test_mirroring_changes_against_rbd(ceph_cluster):
    ceph = ceph_cluster
    ceph.new_pool("mirr")
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling", "mirr/m1")
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling", "mirr/m2")
    assert ceph.journaltools("mirror", "pool", "enable", "mirr", "image")[0] == 0
    assert json.loads(ceph.rbd("mirror", "pool", "info", "mirr", "--format", "json").stdout)["mode"] == "image"
    code, uuid, err = ceph.journaltools("mirror", "pool", "peer", "add", "mirr", "client.admin@remote")
    assert code == 0, err
    peers = json.loads(ceph.rbd("mirror", "pool", "info", "mirr", "--format", "json").stdout)["peers"]
    assert [(p["uuid"], p["site_name"], p["client_name"]) for p in peers] == [(uuid.strip(), "remote", "client.admin")]
    assert ceph.journaltools("mirror", "image", "enable", "mirr/m1")[1] == "Mirroring enabled\n"
    ceph.rbd("mirror", "image", "enable", "mirr/m2", "journal")
    info = json.loads(ceph.rbd("info", "mirr/m1", "--format", "json").stdout)["mirroring"]
    assert info["state"] == "enabled" and info["primary"] is True
    # demote/promote by journaltools on m1, by rbd on m2: same states and the same tag data
    assert ceph.journaltools("mirror", "image", "demote", "mirr/m1")[0] == 0
    ceph.rbd("mirror", "image", "demote", "mirr/m2")
    for image in ("m1", "m2"):
        assert json.loads(ceph.rbd("info", f"mirr/{image}", "--format", "json").stdout)["mirroring"]["primary"] is False
    ours = json.loads(ceph.journaltools("status", "mirr/m1", "--format", "json")[1])["mirroring"]
    theirs = json.loads(ceph.journaltools("status", "mirr/m2", "--format", "json")[1])["mirroring"]
    assert ours["role"] == theirs["role"] == "secondary (consistent)"
    # librbd opens the image first (one more local epoch); the demotion epoch itself is the same
    assert ours["tags"][-1]["mirror_uuid"] == theirs["tags"][-1]["mirror_uuid"] == "<orphan>"
    assert ceph.journaltools("mirror", "image", "promote", "mirr/m1")[0] == 0
    ceph.rbd("mirror", "image", "promote", "mirr/m2")
    ours = json.loads(ceph.journaltools("status", "mirr/m1", "--format", "json")[1])["mirroring"]
    theirs = json.loads(ceph.journaltools("status", "mirr/m2", "--format", "json")[1])["mirroring"]
    assert ours["role"] == theirs["role"] == "primary"
    for doc in (ours, theirs):  # orderly promotion links the single-entry demotion epoch
        assert doc["tags"][-1]["predecessor"] == {"mirror_uuid": "<orphan>", "commit_valid": True,
                                                  "tag_tid": doc["tags"][-2]["tid"], "entry_tid": 1}
    assert json.loads(ceph.rbd("info", "mirr/m1", "--format", "json").stdout)["mirroring"]["primary"] is True
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "16K", "mirr/m1")  # librbd writes on
    assert ceph.journaltools("mirror", "image", "disable", "mirr/m1")[0] == 0
    info = json.loads(ceph.rbd("info", "mirr/m1", "--format", "json").stdout)
    # as rbd 16.2's mirror image disable: mirroring gone, and the journaling feature with it
    assert "mirroring" not in info and "journaling" not in info["features"], info
    assert ceph.journaltools("mirror", "pool", "peer", "remove", "mirr", uuid.strip())[0] == 0
    ceph.rbd("mirror", "image", "disable", "mirr/m2")
    assert ceph.journaltools("mirror", "pool", "disable", "mirr")[0] == 0
    assert json.loads(ceph.rbd("mirror", "pool", "info", "mirr", "--format", "json").stdout)["mode"] == "disabled"
