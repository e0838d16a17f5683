"""Journals with a disconnected client (issue 12 item 1), written by the real librbd and read by the real rbd.

A client flagged disconnected (``journal client disconnect``) no longer counts: neither the trimmer
nor ``find_min_commit_position`` (the position a replaying client such as rbd's INSPECT/EXPORT
gets when it registers) looks at it.  journaltools once replayed from its empty commit position
and reported "34 entries inspected, 15 errors" (tid_reorder/tid_gap) on healthy journals where
rbd inspects them cleanly, and its export stopped with an error where rbd exports.
"""

from __future__ import annotations

import pytest

from .test_journal_write_live import image_id, register_client

pytestmark = pytest.mark.ceph

#: image -> (steps after "register peer, bench 1M, disconnect peer"): what the issue names, and one where
#: a connected client lags behind after the disconnect (so there are entries to replay)
VARIANTS = {
    "dc-trim": ["bench"],  # more writes: librbd trims past the disconnected client
    "dc-notrim": [],  # nothing written after the disconnect: nothing trimmed yet
    "dc-lagging": ["register", "bench"],  # a connected client registered after the disconnect lags 64K behind
}


@pytest.fixture(scope="module")
def disconnected(ceph_cluster):
    ceph = ceph_cluster
    for image, steps in VARIANTS.items():
        ceph.rbd("create", "--size", "64M", "--image-feature", "layering,exclusive-lock,journaling",
                 "--journal-object-size", "64K", f"rbd/{image}")
        jid = image_id(ceph, f"rbd/{image}")
        register_client(ceph, "rbd", jid, "peer")
        ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "1M", f"rbd/{image}")
        code, _out, err = ceph.journaltools("journal", "client", "disconnect", "--image", image, "--client-id", "peer")
        assert code == 0, err
        for step in steps:
            if step == "register":
                register_client(ceph, "rbd", jid, "peer2")
            else:
                ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "64K", f"rbd/{image}")
    return VARIANTS


@pytest.mark.parametrize("image", sorted(VARIANTS))
def test_inspect_with_a_disconnected_client_equals_rbd(ceph_cluster, disconnected, image):
    ceph = ceph_cluster
    assert "state=disconnected" in ceph.rbd("journal", "status", "--image", image).stdout
    for extra in ([], ["--verbose"]):
        theirs = ceph.rbd("journal", "inspect", "--image", image, *extra)
        code, ours, err = ceph.journaltools("journal", "inspect", "--image", image, *extra)
        assert (code, ours) == (theirs.returncode, theirs.stdout), err
    assert " 0 errors" in theirs.stdout
    if image == "dc-lagging":
        assert "  0 entries inspected" not in theirs.stdout  # peer2's 64K are there to replay


@pytest.mark.parametrize("image", sorted(VARIANTS))
def test_export_with_a_disconnected_client_equals_rbd(ceph_cluster, disconnected, image, tmp_path):
    ceph = ceph_cluster
    theirs = tmp_path / "theirs"
    said = ceph.rbd("journal", "export", "--image", image, "--path", str(theirs)).stdout
    ours = tmp_path / "ours"
    code, out, err = ceph.journaltools("journal", "export", "--image", image, "--path", str(ours), "--format", "rbd")
    assert (code, err) == (0, "")
    assert out == said  # "N entries processed, 0 errors"
    assert ours.read_bytes() == theirs.read_bytes()
    code, out, err = ceph.journaltools("journal", "export", "--image", image, "--path", "-")  # our JSON: no stop either
    assert code == 0, err
