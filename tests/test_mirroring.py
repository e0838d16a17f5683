"""mirror pool info/status and mirror image status over copies of the real site-a/site-b pools, vs rbd's goldens."""

from __future__ import annotations

import json

import pytest

from .cli_helpers import cli, golden
from .journal_factory import FIXTURES


def store(name):
    return ["--store", str(FIXTURES / "stores" / name)]


@pytest.mark.parametrize("site", ["site-a", "site-b"])
def test_pool_info_matches_rbd(capsys, site):
    assert cli(capsys, *store(site), "mirror", "pool", "info", "rbd")[1] == golden(f"{site}/mirror-pool-info.txt")
    out = cli(capsys, *store(site), "mirror", "pool", "info", "rbd", "--format", "json")[1]
    assert out == golden(f"{site}/mirror-pool-info.json")


def test_pool_and_image_status_match_rbd_on_site_a(capsys):
    code, out, err = cli(capsys, *store("site-a"), "mirror", "pool", "status", "rbd", "--verbose")
    assert (code, out) == (0, golden("site-a/mirror-pool-status.txt")), err
    out = cli(capsys, *store("site-a"), "mirror", "pool", "status", "rbd", "--verbose", "--format", "json")[1]
    assert out == golden("site-a/mirror-pool-status.json")
    assert cli(capsys, *store("site-a"), "mirror", "image", "status", "rbd/img2")[1] == golden("site-a/mirror-image-status-img2.txt")
    out = cli(capsys, *store("site-a"), "mirror", "image", "status", "rbd/img2", "--format", "json")[1]
    assert out == golden("site-a/mirror-image-status-img2.json")


def test_site_b_differs_only_in_what_a_live_daemon_reports(capsys):
    out = cli(capsys, *store("site-b"), "mirror", "image", "status", "rbd/img2")[1]
    theirs = golden("site-b/mirror-image-status-img2.txt")
    assert out == theirs.replace("up+stopped", "down+stopped").replace("  service:     admin on vm\n", "")


def test_status_derives_role_and_epoch_from_the_journal(capsys):
    doc = json.loads(cli(capsys, *store("site-a"), "status", "rbd/img2", "--format", "json")[1])["mirroring"]
    assert (doc["role"], doc["epoch"], doc["owner_mirror_uuid"]) == ("secondary (consistent)", 13, "<orphan>")
    assert doc["global_id"] == "5219aace-75cb-4072-8452-3393b993dee2"
    assert doc["tags"][-1]["predecessor"] == {"mirror_uuid": "", "commit_valid": True, "tag_tid": 11, "entry_tid": 3}
    assert doc["peers"][0]["sync_state"] == "Replaying" and doc["peers"][0]["image_id"] == "1037b5716a50"
    doc = json.loads(cli(capsys, *store("site-b"), "status", "rbd/img2", "--format", "json")[1])["mirroring"]
    assert (doc["role"], doc["primary"], doc["epoch"]) == ("primary", True, 11)


def test_mirroring_not_enabled_is_one_line(capsys):
    code, out, err = cli(capsys, *store("site-a"), "mirror", "image", "status", "rbd/img1")
    assert code != 0 and "mirroring not enabled" in err and len(err.splitlines()) == 1
