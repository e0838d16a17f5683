"""journaltools as ``rbd``: failed operations report rbd's lines and exit codes (journaltools/rbd_messages.py).

The matrix of tests/rbd_failures.py (missing pool, image, journal, group, snapshot, client, peer;
no journaling; mirroring not enabled on the pool or image; a primary image ...) runs with the real
rbd of the cluster's release and with journaltools through a link named ``rbd``: the exit code,
the ``rbd:`` lines and the texts of librbd's error log lines must be equal.  Collected against
Pacific, Reef and Tentacle too by tests/test_releases_live.py.
"""

from __future__ import annotations

import pytest

from .rbd_failures import JOURNALTOOLS, compare, failure_matrix, prepare, runners


@pytest.mark.ceph
def test_failures_are_worded_as_rbds(ceph_cluster, tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rbd").symlink_to(JOURNALTOOLS)
    names = prepare(ceph_cluster, "rfail")
    lines = failure_matrix(names, tmp_path)
    ours, theirs = runners(ceph_cluster, tmp_path / "bin" / "rbd", tmp_path)
    differ = compare(lines, ours, theirs)
    shown = "\n".join(f"  {line}\n    rbd:  {b}\n    ours: {a}" for line, a, b in differ)
    assert not differ, f"{len(differ)} of {len(lines)} failures differ from rbd's:\n{shown}"


@pytest.mark.ceph
def test_client_disconnect_of_an_image_in_use_is_rbds(ceph_cluster, tmp_path):
    """rbd 16.2.15 disconnects a journal client while a writer has the image open (measured: ``rbd bench``
    running, ``client peer1 disconnected``, exit 0, the writer goes on); journaltools does the same, as
    ``rbd`` and under its own name (the change is one cls call; nothing for a guard to protect)."""
    import json
    import struct
    import subprocess
    import time

    ceph = ceph_cluster
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rbd").symlink_to(JOURNALTOOLS)
    ours, theirs = runners(ceph, tmp_path / "bin" / "rbd", tmp_path)
    ceph.rbd("create", "--size", "64M", "--image-feature", "exclusive-lock,journaling", "rbd/busydc")
    jid = json.loads(ceph.rbd("info", "rbd/busydc", "--format", "json").stdout)["id"]
    cluster = ceph.connect()
    try:
        ioctx = cluster.open_ioctx("rbd")
        for peer in (b"peer1", b"peer2", b"peer3"):
            ioctx.execute(f"journal.{jid}", "journal", "client_register",
                          struct.pack("<I", len(peer)) + peer + struct.pack("<I", 0))
        ioctx.close()
    finally:
        cluster.shutdown()
    writer = subprocess.Popen([*ceph.wrap, "rbd", "-c", ceph.conf, "bench", "--io-type", "write", "rbd/busydc",
                               "--io-size", "4096", "--io-threads", "1", "--io-total", "4G", "--io-pattern", "rand"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            if "watcher=" in ceph.rbd("status", "rbd/busydc").stdout:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("rbd bench did not open the image")
        line = ("journal", "client", "disconnect", "--image", "rbd/busydc", "--client-id")
        real = theirs(*line, "peer1")
        assert (real.returncode, real.stdout) == (0, b"client peer1 disconnected\n"), real.stderr
        as_rbd = ours(*line, "peer2")
        assert (as_rbd.returncode, as_rbd.stdout) == (0, b"client peer2 disconnected\n"), as_rbd.stderr
        code, out, err = ceph.journaltools(*line, "peer3")
        assert (code, out) == (0, "client peer3 disconnected\n"), err
        assert writer.poll() is None, "the writer stopped"
        status = ceph.rbd("journal", "status", "--image", "rbd/busydc").stdout
        assert all(f"[id={p}, " in status for p in ("peer1", "peer2", "peer3"))
        assert status.count("state=disconnected") == 3, status
    finally:
        writer.kill()
        writer.wait()


@pytest.mark.ceph
def test_mirror_image_enable_turns_journaling_on_as_rbd(ceph_cluster, tmp_path):
    """rbd 16.2.15's mirror image enable (journal mode) of an image without journaling enables journaling first,
    and exclusive-lock with it when that is off too; journaltools does the same (it failed before)."""
    import json

    ceph = ceph_cluster
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rbd").symlink_to(JOURNALTOOLS)
    ours, theirs = runners(ceph, tmp_path / "bin" / "rbd", tmp_path)
    pool = ceph.new_pool("enjpool")
    ceph.rbd("mirror", "pool", "enable", pool, "image")
    seen = {}
    for who, run in (("ours", ours), ("rbd", theirs)):
        for features in ("layering", "exclusive-lock"):
            image = f"{pool}/{who}-{features}"
            ceph.rbd("create", "--size", "8M", "--image-feature", features, image)
            proc = run("mirror", "image", "enable", image, "journal")
            assert (proc.returncode, proc.stdout) == (0, b"Mirroring enabled\n"), proc.stderr
            info = json.loads(ceph.rbd("info", image, "--format", "json").stdout)
            status = ceph.rbd("journal", "status", "--image", image).stdout
            mirror = json.loads(ceph.rbd("mirror", "image", "status", image, "--format", "json").stdout)
            seen[(who, features)] = (info["features"], info["mirroring"]["mode"], info["mirroring"]["primary"],
                                     status, mirror["state"])
    for features in ("layering", "exclusive-lock"):
        assert seen[("ours", features)] == seen[("rbd", features)], features
