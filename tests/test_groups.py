"""Consistency groups: site-a goldens offline, changes offline, and both directions against the real rbd."""

from __future__ import annotations

import json

import pytest

from .cli_helpers import cli, golden, store_copy
from .journal_factory import FIXTURES


def store(path):
    return ["--store", str(path)]


SITE_A = FIXTURES / "stores" / "site-a"


@pytest.mark.parametrize(("args", "gold"), [
    (["group", "list", "rbd"], "group-list.json"),
    (["group", "image", "list", "rbd/cg1"], "group-image-list-cg1.json"),
    (["group", "snap", "list", "rbd/cg1"], "group-snap-list-cg1.json"),
])
def test_reads_match_rbd(capsys, args, gold):
    code, out, err = cli(capsys, *store(SITE_A), *args, "--format", "json")
    assert (code, out) == (0, golden(f"site-a/{gold}")), err


def test_changes_offline(capsys, tmp_path):
    s = store(store_copy(tmp_path, "site-a"))
    assert cli(capsys, *s, "group", "create", "rbd/cg3")[0] == 0
    assert cli(capsys, *s, "group", "create", "rbd/cg3")[0] == 17
    assert cli(capsys, *s, "consistency-group", "attach", "rbd/cg3", "rbd/img1")[0] == 0
    assert cli(capsys, *s, "group", "image", "add", "rbd/cg3", "rbd/g1a")[0] == 17  # already in cg1
    assert cli(capsys, *s, "group", "rename", "rbd/cg3", "rbd/cg4")[0] == 0
    doc = json.loads(cli(capsys, *s, "group", "info", "rbd/cg4", "--format", "json")[1])
    assert [(i["image"], i["state_name"]) for i in doc["images"]] == [("img1", "attached")]
    assert json.loads(cli(capsys, *s, "group", "list", "--format", "json")[1]) == ["cg1", "cg2-renamed", "cg4"]
    # as rbd: removing a group with images unlinks them (the images stay, free to join another group)
    code, out, err = cli(capsys, *s, "group", "remove", "rbd/cg4")
    assert code == 0, err
    assert json.loads(cli(capsys, *s, "group", "list", "--format", "json")[1]) == ["cg1", "cg2-renamed"]
    assert cli(capsys, *s, "group", "create", "rbd/cg5")[0] == 0
    assert cli(capsys, *s, "group", "image", "add", "rbd/cg5", "rbd/img1")[0] == 0
    assert cli(capsys, *s, "group", "rm", "rbd/cg5")[0] == 0
    assert cli(capsys, *s, "group", "rm", "rbd/nosuch")[0] == 0  # rbd: removing a missing group succeeds


@pytest.mark.ceph
def test_both_directions_against_rbd(ceph_cluster, capsys):
    ceph = ceph_cluster
    for image in ("ga", "gb"):
        ceph.rbd("create", "--size", "4M", f"rbd/{image}")
    code, out, err = ceph.journaltools("group", "create", "rbd/ours")
    assert code == 0, err
    assert ceph.journaltools("group", "image", "add", "rbd/ours", "rbd/ga")[0] == 0
    assert "ours" in json.loads(ceph.rbd("group", "list", "--format", "json").stdout)
    assert json.loads(ceph.rbd("group", "image", "list", "rbd/ours", "--format", "json").stdout) == [
        {"image": "ga", "pool": "rbd", "namespace": "", "state": 0}]
    ceph.rbd("group", "create", "rbd/theirs")
    ceph.rbd("group", "image", "add", "rbd/theirs", "rbd/gb")
    ceph.rbd("group", "snap", "create", "rbd/theirs@s1")
    code, out, err = ceph.journaltools("group", "info", "rbd/theirs", "--verbose", "--format", "json")
    doc = json.loads(out)
    assert [i["image"] for i in doc["images"]] == ["gb"] and [s["name"] for s in doc["snapshots"]] == ["s1"]
    assert ceph.journaltools("group", "rename", "rbd/ours", "rbd/ours2")[0] == 0
    assert ceph.journaltools("group", "image", "remove", "rbd/ours2", "rbd/ga")[0] == 0
    assert ceph.journaltools("group", "remove", "rbd/ours2")[0] == 0
    assert json.loads(ceph.rbd("group", "list", "--format", "json").stdout) == ["theirs"]
    ceph.rbd("rm", "rbd/ga")  # rbd agrees the image left the group
