"""A throwaway single-node Ceph cluster for the benchmark, and the journal it measures.

The cluster is the usual sandbox recipe (mon + mgr + one memstore OSD, auth none,
loopback v1 address only) with a memstore large enough for the image data plus a
journal of more than a gigabyte.  The journal is made by the real ``rbd bench``
(4 KiB writes) on an image with journaling, after a lagging journal client was
registered through cls ``journal.client_register`` (src/cls/journal/cls_journal.cc),
so librbd never trims anything (src/journal/JournalTrimmer.cc trims only below the
minimum commit position of all clients).

Run with the system Python or the project venv (``--system-site-packages``): it
needs python3-rados only to register the client and to read the journal id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CONF_TEMPLATE = """\
[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{port}
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr2 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
osd crush initial weight = 1
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
run dir = {root}/run
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
pid file = {root}/$name.pid
mon data = {root}/mon
osd data = {root}/osd
mgr data = {root}/mgr
keyring = {root}/keyring
rbd default features = 125
"""


class ClusterError(RuntimeError):
    """A sandbox command failed."""


def _run(*argv: str, conf: Path | None = None, check: bool = True, timeout: float = 600,
         wrap: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (behind ``wrap``, a command prefix such as a chroot into a release root)."""
    env = dict(os.environ)
    if conf is not None:
        env["CEPH_CONF"] = str(conf)
    for _ in range(5):
        proc = subprocess.run([*wrap, *argv], env=env, capture_output=True, text=True, timeout=timeout)
        # Ceph 16's CLI now and then: "problem getting command descriptions from mon" (EPERM, a zero fsid
        # in its first request); asked again, the same command works
        if proc.returncode == 0 or "problem getting command descriptions" not in proc.stderr:
            break
        time.sleep(1)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


@dataclass
class Sandbox:
    """One running sandbox cluster rooted at ``root``."""

    root: Path
    port: int

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @classmethod
    def start(cls, root: Path, port: int, memstore_bytes: int, wrap: tuple[str, ...] = ()) -> Sandbox:
        """Start the daemons; ``wrap`` prefixes every Ceph command (the daemons of another release's root)."""
        if not 1024 < port < 65536:
            raise ClusterError(f"port {port} is out of range")
        if root.exists():
            cls(root, port).stop()
            shutil.rmtree(root)
        for sub in ("mon", "osd", "mgr", "run", "log"):
            (root / sub).mkdir(parents=True)
        box = cls(root, port)
        fsid = str(uuid.uuid4())
        box.conf.write_text(CONF_TEMPLATE.format(fsid=fsid, port=port, root=root, memstore_bytes=memstore_bytes))
        conf = str(box.conf)
        _run("monmaptool", "--create", "--fsid", fsid, "--add", "a", f"v1:127.0.0.1:{port}", str(root / "monmap"), wrap=wrap)
        _run("ceph-mon", "-c", conf, "--mkfs", "-i", "a", "--monmap", str(root / "monmap"), wrap=wrap)
        _run("ceph-mon", "-c", conf, "-i", "a", wrap=wrap)
        osd_uuid = str(uuid.uuid4())
        _run("ceph", "-c", conf, "osd", "new", osd_uuid, wrap=wrap)
        _run("ceph-osd", "-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, wrap=wrap)
        for attempt in range(3):
            # Ceph 16 sometimes sends the OSD's first mon command with an all-zero fsid ("wrong fsid",
            # exit 250) while the mon is still settling; starting the OSD again works
            started = _run("ceph-osd", "-c", conf, "-i", "0", check=attempt == 2, wrap=wrap)
            if started.returncode == 0:
                break
            time.sleep(0.5)
        _run("ceph-mgr", "-c", conf, "-i", "x", check=False, wrap=wrap)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "1 up" in _run("ceph", "-c", conf, "osd", "stat", check=False, wrap=wrap).stdout:
                return box
            time.sleep(0.2)
        box.stop()
        raise ClusterError(f"the OSD of the sandbox in {root} did not come up within 60 s")

    def stop(self) -> None:
        """Stop the daemons this sandbox started (by the pids in its pid files)."""
        for pid_file in self.root.glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError, PermissionError):
                continue

    def rbd(self, *args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        return _run("rbd", "-c", str(self.conf), *args, check=check, timeout=timeout)


@dataclass
class BenchJournal:
    """The journal under test: image ``pool/image`` with journal id ``journal_id``."""

    pool: str
    pool_id: int
    image: str
    journal_id: str
    splay_width: int


def register_lagging_client(conf: Path, pool: str, journal_id: str, client_id: str = "lagging-peer") -> None:
    """``journal.client_register`` of a client that never commits: nothing gets trimmed."""
    import rados  # python3-rados: the system Python, or the venv with system site packages

    def encoded(text: bytes) -> bytes:
        return struct.pack("<I", len(text)) + text

    cluster = rados.Rados(conffile=str(conf))
    cluster.connect()
    try:
        with cluster.open_ioctx(pool) as ioctx:
            ioctx.execute(f"journal.{journal_id}", "journal", "client_register", encoded(client_id.encode()) + encoded(b""))
    finally:
        cluster.shutdown()


def make_journal(box: Sandbox, *, io_total: int, image_size: int, splay_width: int = 4,
                 pool: str = "rbd", image: str = "bench", io_pattern: str = "seq") -> BenchJournal:
    """Create a journaled image, register a lagging client, then ``rbd bench`` 4 KiB writes
    (``io_pattern``: rbd bench's ``--io-pattern``, ``seq`` or ``rand``)."""
    conf = str(box.conf)
    _run("ceph", "-c", conf, "osd", "pool", "create", pool, "8")
    box.rbd("pool", "init", pool)
    box.rbd("create", f"{pool}/{image}", "--size", f"{image_size // (1 << 20)}M",
            "--image-feature", "layering,exclusive-lock")
    box.rbd("feature", "enable", f"{pool}/{image}", "journaling", "--journal-splay-width", str(splay_width))
    info = json.loads(box.rbd("info", f"{pool}/{image}", "--format", "json").stdout)
    journal_id = info["id"]
    register_lagging_client(box.conf, pool, journal_id)
    box.rbd("bench", f"{pool}/{image}", "--io-type", "write", "--io-size", "4K", "--io-threads", "16",
            "--io-total", str(io_total), "--io-pattern", io_pattern)
    stats = json.loads(_run("ceph", "-c", conf, "osd", "pool", "stats", pool, "--format", "json").stdout)
    pool_id = int(stats[0]["pool_id"])
    return BenchJournal(pool, pool_id, image, journal_id, splay_width)
