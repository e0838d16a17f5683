"""The write guard: one writer per journal for the whole command, and (live) no writes under a client in use.

Offline, the first command is a real ``journal import`` that holds the journal while it
waits on its source (a FIFO): every other writer started meanwhile must refuse, naming
it, and leave the journal as it was; when the first one finishes, the journal is intact.
Live, another client holds the image's exclusive lock (python3-rbd ``lock_acquire``):
``repair --apply`` refuses naming it, ``--force`` proceeds.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .journal_factory import FIXTURES

JID = "10abe81d9984"
EXPORT = FIXTURES / "golden" / "small_objects" / "journal-export.rbd"


def journaltools(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "journaltools", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "/locks/" not in f"/{p.relative_to(root)}" and not p.name.startswith(".lock")}


def fresh_store(tmp: Path) -> Path:
    store = tmp / "store"
    shutil.copytree(FIXTURES / "stores" / "small_objects", store)
    return store


SECOND = {
    "import": lambda store: ["--store", store, "journal", "import", EXPORT, f"rbd/{JID}", "--yes-i-really-mean-it"],
    "reset": lambda store: ["--store", store, "journal", "reset", f"rbd/{JID}", "--no-backup", "--yes-i-really-mean-it"],
    "repair": lambda store: ["--store", store, "journal", "repair", f"rbd/{JID}", "--apply", "--no-backup",
                             "--yes-i-really-mean-it"],
    "client-disconnect": lambda store: ["--store", store, "journal", "client", "disconnect", f"rbd/{JID}"],
}


@pytest.mark.parametrize("second", sorted(SECOND))
def test_a_second_writer_is_refused_while_an_import_holds_the_journal(tmp_path, second):
    store = fresh_store(tmp_path)
    fifo = tmp_path / "source.fifo"
    os.mkfifo(fifo)
    first = subprocess.Popen([sys.executable, "-m", "journaltools", "--store", str(store), "journal", "import",
                              str(fifo), f"rbd/{JID}", "--format", "rbd", "--yes-i-really-mean-it"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = store / "rbd" / "locks" / f".lock.journal.{JID}"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip()):  # the first import holds the journal
            assert time.monotonic() < deadline and first.poll() is None, "the first import did not take the lock"
            time.sleep(0.05)
        before = snapshot(store)
        refused = journaltools(*SECOND[second](store))
        assert refused.returncode == errno.EBUSY, refused.stderr
        assert f"locked by journaltools journal import (pid {first.pid}" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
        assert snapshot(store) == before  # nothing written by the refused command
    finally:
        with open(fifo, "wb") as fh:  # let the first import finish
            fh.write(EXPORT.read_bytes())
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "41 entries processed" in out
    inspect = journaltools("--store", store, "journal", "inspect", "--all", f"rbd/{JID}")
    assert inspect.returncode == 0, inspect.stdout
    # and the lock is free again: the next writer proceeds
    assert journaltools(*SECOND["import"](store)).returncode == 0


def test_import_race_leaves_one_copy_of_the_entries(tmp_path):
    """import ∥ import of one export, started together: however they interleave, the journal ends intact, once."""
    store = fresh_store(tmp_path)
    export = tmp_path / "export.json"
    assert journaltools("--store", store, "journal", "export", f"rbd/{JID}", export).returncode == 0
    assert journaltools(*SECOND["reset"](store)).returncode == 0
    args = [sys.executable, "-m", "journaltools", "--store", str(store), "journal", "import", str(export), f"rbd/{JID}"]
    for _ in range(3):
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        for code, err in results:
            assert code in (0, errno.EBUSY), err
        inspect = journaltools("--store", store, "journal", "inspect", "--all", f"rbd/{JID}")
        assert inspect.returncode == 0, inspect.stdout
        assert "41 entries inspected, 0 errors" in inspect.stdout  # never 82, never a corrupted mix


def test_lock_file_that_is_a_symlink_is_refused_and_nothing_is_created_where_it_points(tmp_path):
    store = fresh_store(tmp_path)
    target = tmp_path / "elsewhere"
    (store / "rbd" / "locks").mkdir()
    (store / "rbd" / "locks" / f".lock.journal.{JID}").symlink_to(target)
    result = journaltools(*SECOND["import"](store))
    assert result.returncode != 0 and "symbolic link" in result.stderr
    assert not target.exists()
    (store / "rbd" / ".lock").symlink_to(tmp_path / "pool-lock-target")
    (store / "rbd" / "locks" / f".lock.journal.{JID}").unlink()
    result = journaltools("--store", store, "journal", "client", "disconnect", f"rbd/{JID}")
    assert result.returncode != 0 and "symbolic link" in result.stderr
    assert not (tmp_path / "pool-lock-target").exists()


# -- live: another client has the image open ------------------------------------------------------
LOCK_HOLDER = """
import sys, time, rados, rbd
cluster = rados.Rados(conffile=sys.argv[1]); cluster.connect()
ioctx = cluster.open_ioctx("rbd")
image = rbd.Image(ioctx, sys.argv[2])
image.lock_acquire(rbd.RBD_LOCK_MODE_EXCLUSIVE)
print(cluster.get_instance_id(), flush=True)
sys.stdin.read()
image.close(); ioctx.close(); cluster.shutdown()
"""


@pytest.mark.ceph
def test_live_repair_apply_refuses_an_image_whose_exclusive_lock_another_client_holds(ceph_cluster):
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/guarded")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "64K", "rbd/guarded")
    holder = subprocess.Popen(["/usr/bin/python3", "-c", LOCK_HOLDER, ceph.conf, "guarded"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=ceph.env)
    try:
        client = f"client.{holder.stdout.readline().strip()}"
        assert client in ceph.rbd("lock", "ls", "rbd/guarded").stdout  # what rbd reports as the holder
        before = ceph.rbd("journal", "inspect", "--image", "guarded", "--verbose").stdout
        code, out, err = ceph.journaltools("journal", "repair", "--image", "guarded", "-p", "rbd", "--apply",
                                           "--no-backup", "--yes-i-really-mean-it")
        assert code == errno.EBUSY, err
        assert client in err and "exclusive lock" in err and "--force" in err
        assert len(err.strip().splitlines()) == 1
        for command in (("journal", "reset", "--image", "guarded", "-p", "rbd", "--no-backup", "--yes-i-really-mean-it"),
                        ("feature", "disable", "rbd/guarded", "journaling")):
            code, _, err = ceph.journaltools(*command)
            assert code == errno.EBUSY and client in err, (command, err)
        assert ceph.rbd("journal", "inspect", "--image", "guarded", "--verbose").stdout == before
        code, out, err = ceph.journaltools("journal", "repair", "--image", "guarded", "-p", "rbd", "--apply",
                                           "--no-backup", "--yes-i-really-mean-it", "--force")
        assert code in (0, 1) and "in use" not in err, err
    finally:
        holder.communicate("", timeout=60)


@pytest.mark.ceph
def test_live_second_journaltools_writer_is_refused_naming_the_first(ceph_cluster):
    """The live command lock (cls_lock 'journaltools' on the image header) as another process holds it."""
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/locked2")
    iid = ceph.rbd("info", "rbd/locked2", "--format", "json").stdout.split('"id":"')[1].split('"')[0]
    script = f"""
import sys, time
from journaltools.store.rados import RadosStore
from journaltools.write_guard import guard_image
store = RadosStore(conf={ceph.conf!r})
with guard_image(store.pool("rbd"), {iid!r}):
    print("held", flush=True)
    sys.stdin.read()
store.close()
"""
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=ceph.env)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = ceph.journaltools("journal", "client", "disconnect", "--image", "locked2", "-p", "rbd")
        assert code == errno.EBUSY, err
        assert f"rbd_header.{iid} in pool rbd is locked by client." in err and f"pid {holder.pid}" in err
    finally:
        holder.communicate("", timeout=60)
    # released: nobody holds it any more
    info = json.loads(ceph.rados("-p", "rbd", "lock", "info", f"rbd_header.{iid}", "journaltools").stdout)
    assert info["lockers"] == []


def test_in_use_names_every_client_once_and_ignores_rbd_mirror_only_where_asked():
    from journaltools.errors import BusyError
    from journaltools.store.memory import MemoryPool, MemoryStore
    from journaltools.write_guard import check_not_in_use, in_use_by

    class LivePool(MemoryPool):
        def image_users(self, image_id):
            return [{"client": "client.7", "address": "10.0.0.7:0/1", "cookie": "auto 1", "what": "exclusive lock"},
                    {"client": "client.7", "address": "10.0.0.7:0/1", "cookie": "1", "what": "watcher"},
                    {"client": "client.9", "address": "10.0.0.9:0/2", "cookie": "2", "what": "watcher"}]

    store = MemoryStore()
    store.add_pool("rbd")
    pool = LivePool(store, "rbd", 1)
    pool.omap_set("rbd_mirror_leader", {"instance_7": b""})  # client.7 is the pool's rbd-mirror daemon
    assert in_use_by(pool, "abc") == ["client.7 at 10.0.0.7:0/1 (exclusive lock and watcher)",
                                      "client.9 at 10.0.0.9:0/2 (watcher)"]
    assert in_use_by(pool, "abc", ignore_mirror_daemon=True) == ["client.9 at 10.0.0.9:0/2 (watcher)"]
    with pytest.raises(BusyError, match="client.7 at .* client.9 at .*use --force"):
        check_not_in_use(pool, "abc", force=False)
    check_not_in_use(pool, "abc", force=True)
