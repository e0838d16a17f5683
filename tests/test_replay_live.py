"""``journal replay`` against the real librbd and rbd (tests marked ``ceph``).

Images with journaling and a lagging journal client (nothing is trimmed) get writes,
discards (with librbd's default 64 KiB discard granularity and without), write-zeroes,
write-same and compare-and-write (through librbd's C API, tests/librbd_io.py), resizes
and snapshots S1 and S2.  Then replay must rebuild what ``rbd export`` gives:

* ``rbd export IMG@S1`` + ``replay --from-snapshot S1 --until <S2's SnapCreate time>``
  (or ``--to`` S2's SnapCreate) = ``rbd export IMG@S2``;
* replay onto a new file = ``rbd export IMG`` (the image was journaled from creation);
* ``--to-image`` onto a clone of S1 = ``rbd export IMG``;
* the same for seeded random workloads, live and on an acquired directory store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cluster import register_lagging_client

from .ceph_cluster import CephCluster

pytestmark = pytest.mark.ceph

MiB = 1 << 20
FEATURES = 1 | 4 | 64  # layering, exclusive-lock, journaling: journaled from creation


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(cluster: CephCluster, spec: str, dest: Path) -> Path:
    cluster.rbd("export", spec, dest)
    return dest


def _rados(cluster: CephCluster, **conf: str) -> Any:
    import rados

    handle = rados.Rados(conffile=cluster.conf, conf=conf)
    handle.connect(timeout=15)
    return handle


class Workload:
    """Drives one image through python3-rbd and librbd's C API; records S2's SnapCreate for the checks."""

    def __init__(self, cluster: CephCluster, name: str, size: int = 16 * MiB, order: int = 20) -> None:
        import rbd

        self.cluster = cluster
        self.name = name
        self.rados = _rados(cluster)
        self.ioctx = self.rados.open_ioctx("rbd")
        rbd.RBD().create(self.ioctx, name, size, order=order, old_format=False, features=FEATURES)
        with rbd.Image(self.ioctx, name) as image:
            self.image_id = image.id()
        register_lagging_client(Path(cluster.conf), "rbd", self.image_id)
        self.size = size
        self.order = order

    @contextlib.contextmanager
    def image(self, **conf: str) -> Iterator[Any]:
        """The image through python3-rbd; ``conf``: librbd options for this client (a connection of its own)."""
        import rbd

        if not conf:
            with rbd.Image(self.ioctx, self.name) as image:
                yield image
            return
        handle = _rados(self.cluster, **conf)
        try:
            with handle.open_ioctx("rbd") as ioctx, rbd.Image(ioctx, self.name) as image:
                yield image
        finally:
            handle.shutdown()

    def raw(self) -> Any:
        from .librbd_io import RawImage

        return RawImage(self.cluster.conf, "rbd", self.name)

    def close(self) -> None:
        self.ioctx.close()
        self.rados.shutdown()


def _fixed_workload(w: Workload) -> None:
    with w.image() as image:
        image.write(b"A" * 65536, 0)
        image.write(bytes(range(256)) * 64, 3 * MiB + 1000)
        image.discard(1 * MiB + 4096, 300_000)  # 64 KiB granularity: aligned inwards
        image.write_zeroes(2 * MiB, 8192)
        image.flush()
        image.create_snap("S1")
        image.write(b"B" * 4096, 4096)
        image.discard(0, 2 * MiB)  # whole objects (1 MiB objects)
    with w.raw() as raw:
        raw.write_same(5 * MiB, 64 * 1024, b"pattern!" * 64)
        written = (bytes(range(256)) * 64)[24 : 24 + 512]  # what 3 MiB + 1024 holds (librbd wants 512-byte sectors)
        assert raw.compare_and_write(3 * MiB + 1024, written, b"C" * 512)  # matches: written
        assert not raw.compare_and_write(3 * MiB + 1024, b"x" * 512, b"D" * 512)  # mismatch: not written
    with w.image(rbd_skip_partial_discard="false") as image:
        image.write(b"E" * 100_000, 6 * MiB - 50_000)
        image.discard(6 * MiB - 10_000, 20_000)  # granularity 0: exactly this range
        image.resize(24 * MiB)
        image.write(b"F" * 8192, 20 * MiB)
        image.create_snap("S2")
        image.write(b"G" * 8192, 20 * MiB + 4096)
        image.resize(12 * MiB)
        image.write(b"H" * 4096, 11 * MiB)


def _random_workload(w: Workload, seed: int) -> None:
    """A seeded mix of every IO kind, resizes and two snapshots; always ends with a resize."""
    rng = random.Random(seed)
    size = w.size
    snaps = iter(["S1", "S2"])
    steps = 40
    snap_at = sorted(rng.sample(range(5, steps - 5), 2))
    for step in range(steps):
        kind = rng.choice(["write", "write", "write", "discard", "discard0", "zeroes", "same", "caw", "resize"])
        offset = rng.randrange(0, max(size - 4096, 1))
        length = min(rng.choice([512, 4096, 65536, 300_000, 1_500_000]), size - offset)
        if kind in ("same", "caw"):
            with w.raw() as raw:
                if kind == "same":
                    pattern = bytes([rng.randrange(256)]) * 7 + b"\n"
                    raw.write_same(offset - offset % 512, length - length % 512 or 512, pattern * 64)
                else:
                    at = offset - offset % 512
                    with w.image() as image:
                        current = bytes(image.read(at, 512))
                    compare = current if rng.random() < 0.7 else b"\x01" * 512
                    raw.compare_and_write(at, compare, bytes([rng.randrange(256)]) * 512)
        else:
            conf = {"rbd_skip_partial_discard": "false"} if kind == "discard0" else {}
            with w.image(**conf) as image:
                if kind == "write":
                    image.write(rng.randbytes(length), offset)
                elif kind in ("discard", "discard0"):
                    image.discard(offset, length)
                elif kind == "zeroes":
                    image.write_zeroes(offset, length)
                else:
                    size = rng.choice([8, 12, 16, 20]) * MiB
                    image.resize(size)
                if step == steps - 1 or rng.random() < 0.1:
                    image.flush()
        if step in snap_at:
            with w.image() as image:
                image.create_snap(next(snaps))
    with w.image() as image:
        size = rng.choice([10, 14, 18]) * MiB
        image.resize(size)
        image.write(rng.randbytes(4096), size - 4096)


def _snap_create_entry(cluster: CephCluster, image: str, snap: str, store: list[str] | None = None) -> dict[str, Any]:
    """S2's SnapCreate entry as ``journal inspect --verbose --format json`` shows it (what an operator reads)."""
    code, out, err = cluster.journaltools(*(store or []), "journal", "inspect", "--image", image, "--pool", "rbd",
                                          "--verbose", "--format", "json")
    assert code == 0, err
    for entry in json.loads(out)["entries"]:
        event = entry["event"]
        if event["event_type"] == "SnapCreate" and event["snap_name"] == snap:
            return entry
    raise AssertionError(f"no SnapCreate of {snap} in the journal of {image}")


@contextlib.contextmanager
def _open_other(cluster: CephCluster, name: str) -> Iterator[Any]:
    import rbd

    handle = _rados(cluster)
    try:
        with handle.open_ioctx("rbd") as ioctx, rbd.Image(ioctx, name) as image:
            yield image
    finally:
        handle.shutdown()


def _offline(store: Path, *args: Any) -> tuple[int, str, str]:
    """Our CLI on a directory store, with no cluster in sight."""
    exe = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "journaltools"
    env = {k: v for k, v in os.environ.items() if k != "CEPH_CONF"}
    proc = subprocess.run([str(exe) if exe.exists() else "journaltools", "--store", str(store), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def _replay(cluster: CephCluster, *args: Any) -> dict[str, Any]:
    code, out, err = cluster.journaltools("journal", "replay", *args, "--format", "json")
    assert code == 0, (out, err)
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def fixed(ceph_cluster: CephCluster) -> Workload:
    w = Workload(ceph_cluster, "replay-fixed")
    _fixed_workload(w)
    yield w
    w.close()


def test_from_snapshot_until_s2_equals_export_of_s2(ceph_cluster: CephCluster, fixed: Workload, tmp_path: Path) -> None:
    base = _export(ceph_cluster, "rbd/replay-fixed@S1", tmp_path / "base.raw")
    s2 = _export(ceph_cluster, "rbd/replay-fixed@S2", tmp_path / "s2.raw")
    assert _digest(base) != _digest(s2)
    entry = _snap_create_entry(ceph_cluster, "replay-fixed", "S2")
    doc = _replay(ceph_cluster, "rbd/replay-fixed", base, "--from-snapshot", "S1", "--until", entry["event"]["timestamp"])
    assert doc["stopped"].startswith("--until")
    assert doc["stopped_at"]["entry_tid"] == entry["entry_tid"]
    assert _digest(base) == _digest(s2)
    kinds = doc["by_type"]
    for kind in ("AioWrite", "AioDiscard", "AioWriteSame", "AioCompareAndWrite", "Resize"):
        assert kinds[kind]["applied"] >= 1, kind
    assert doc["compare_mismatches"] == 1


def test_from_snapshot_to_position_equals_export_of_s2(ceph_cluster: CephCluster, fixed: Workload, tmp_path: Path) -> None:
    base = _export(ceph_cluster, "rbd/replay-fixed@S1", tmp_path / "base.raw")
    s2 = _export(ceph_cluster, "rbd/replay-fixed@S2", tmp_path / "s2.raw")
    entry = _snap_create_entry(ceph_cluster, "replay-fixed", "S2")
    doc = _replay(ceph_cluster, "rbd/replay-fixed", base, "--from-snapshot", "S1",
                  "--to", f"{entry['tag_tid']}:{entry['entry_tid']}")
    assert doc["last_replayed"]["entry_tid"] == entry["entry_tid"]
    assert _digest(base) == _digest(s2)


def test_new_file_equals_export_of_head(ceph_cluster: CephCluster, fixed: Workload, tmp_path: Path) -> None:
    head = _export(ceph_cluster, "rbd/replay-fixed", tmp_path / "head.raw")
    target = tmp_path / "rebuilt.raw"
    doc = _replay(ceph_cluster, "rbd/replay-fixed", target)
    assert doc["stopped"] == "end of the journal"
    assert target.stat().st_size == head.stat().st_size == 12 * MiB
    assert _digest(target) == _digest(head)


def test_new_file_to_a_snapshot_gets_the_size_of_that_moment(ceph_cluster: CephCluster, fixed: Workload,
                                                              tmp_path: Path) -> None:
    """A new file replayed to S1's SnapCreate (no Resize before it, resizes after): S1's recorded size."""
    s1 = _export(ceph_cluster, "rbd/replay-fixed@S1", tmp_path / "s1.raw")
    entry = _snap_create_entry(ceph_cluster, "replay-fixed", "S1")
    target = tmp_path / "new.raw"
    doc = _replay(ceph_cluster, "rbd/replay-fixed", target, "--to", f"{entry['tag_tid']}:{entry['entry_tid']}")
    assert any("snapshot 'S1'" in note for note in doc["notes"])
    assert _digest(target) == _digest(s1)


def test_until_before_s1_then_snapshot_copies_and_rollback(ceph_cluster: CephCluster, tmp_path: Path) -> None:
    """--snapshots-dir keeps S1 as a file; a SnapRollback to it is applied; the result equals the image."""
    w = Workload(ceph_cluster, "replay-rollback", size=4 * MiB)
    try:
        with w.image() as image:
            image.write(b"1" * 8192, 0)
            image.create_snap("S1")
            image.write(b"2" * 8192, 4096)
            image.resize(6 * MiB)
            image.write(b"3" * 4096, 5 * MiB)
        with w.image() as image:
            image.rollback_to_snap("S1")
            image.write(b"4" * 512, 1024)
        head = _export(ceph_cluster, "rbd/replay-rollback", tmp_path / "head.raw")
        target = tmp_path / "rebuilt.raw"
        snaps = tmp_path / "snaps"
        doc = _replay(ceph_cluster, "rbd/replay-rollback", target, "--snapshots-dir", snaps, "--strict")
        assert doc["by_type"]["SnapRollback"]["applied"] == 1
        assert (snaps / "S1.raw").exists()
        assert _digest(target) == _digest(head)
        # without the copies the rollback is reported, and --strict makes it an error
        code, out, err = ceph_cluster.journaltools("journal", "replay", "rbd/replay-rollback", tmp_path / "again.raw",
                                                   "--strict")
        assert code == 1
        assert "SnapRollback" in out and "--strict" in out
    finally:
        with w.image() as image:
            for snap in image.list_snaps():
                image.remove_snap(snap["name"])
        w.close()


def test_to_image_onto_a_clone_of_s1(ceph_cluster: CephCluster, fixed: Workload, tmp_path: Path) -> None:
    ceph_cluster.rbd("snap", "protect", "rbd/replay-fixed@S1")
    ceph_cluster.rbd("clone", "rbd/replay-fixed@S1", "rbd/replay-replica", "--image-feature", "layering,exclusive-lock")
    try:
        # refusals: the journal's own image, and nothing written
        code, _, err = ceph_cluster.journaltools("journal", "replay", "rbd/replay-fixed", "--to-image",
                                                 "rbd/replay-fixed", "--from-snapshot", "S1")
        assert code != 0 and "own image" in err
        # ... and an image in use (a client has it open: a watcher on its header)
        with fixed.image() as _held, _open_other(ceph_cluster, "replay-replica"):
            code, _, err = ceph_cluster.journaltools("journal", "replay", "rbd/replay-fixed", "--to-image",
                                                     "rbd/replay-replica", "--from-snapshot", "S1")
        assert code != 0 and "in use" in err
        doc = _replay(ceph_cluster, "rbd/replay-fixed", "--from-snapshot", "S1", "--to-image", "rbd/replay-replica")
        assert doc["complete"]
        head = _export(ceph_cluster, "rbd/replay-fixed", tmp_path / "head.raw")
        replica = _export(ceph_cluster, "rbd/replay-replica", tmp_path / "replica.raw")
        assert _digest(replica) == _digest(head)
        snaps = ceph_cluster.rbd("snap", "ls", "rbd/replay-replica", "--format", "json").stdout
        assert "S2" in {s["name"] for s in json.loads(snaps)}
    finally:
        ceph_cluster.rbd("snap", "purge", "rbd/replay-replica", check=False)
        ceph_cluster.rbd("rm", "rbd/replay-replica", check=False)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_workloads(ceph_cluster: CephCluster, seed: int, tmp_path: Path) -> None:
    name = f"replay-random-{seed}"
    w = Workload(ceph_cluster, name, size=16 * MiB, order=random.Random(seed).choice([20, 22]))
    try:
        _random_workload(w, seed)
    finally:
        w.close()
    head = _export(ceph_cluster, f"rbd/{name}", tmp_path / "head.raw")
    rebuilt = tmp_path / "rebuilt.raw"
    _replay(ceph_cluster, f"rbd/{name}", rebuilt)
    assert _digest(rebuilt) == _digest(head), f"seed {seed}: replay onto a new file differs from rbd export"
    base = _export(ceph_cluster, f"rbd/{name}@S1", tmp_path / "base.raw")
    s2 = _export(ceph_cluster, f"rbd/{name}@S2", tmp_path / "s2.raw")
    entry = _snap_create_entry(ceph_cluster, name, "S2")
    _replay(ceph_cluster, f"rbd/{name}", base, "--from-snapshot", "S1", "--to", f"{entry['tag_tid']}:{entry['entry_tid']}")
    assert _digest(base) == _digest(s2), f"seed {seed}: S1 + replay to S2's SnapCreate differs from rbd export @S2"
    # a live replica: a clone of S1 replayed through librbd
    ceph_cluster.rbd("snap", "protect", f"rbd/{name}@S1")
    ceph_cluster.rbd("clone", f"rbd/{name}@S1", f"rbd/{name}-replica", "--image-feature", "layering,exclusive-lock")
    try:
        _replay(ceph_cluster, f"rbd/{name}", "--from-snapshot", "S1", "--to-image", f"rbd/{name}-replica")
        replica = _export(ceph_cluster, f"rbd/{name}-replica", tmp_path / "replica.raw")
        assert _digest(replica) == _digest(head), f"seed {seed}: --to-image onto a clone of S1 differs from rbd export"
    finally:
        ceph_cluster.rbd("snap", "purge", f"rbd/{name}-replica", check=False)
        ceph_cluster.rbd("rm", f"rbd/{name}-replica", check=False)
    # offline, on an acquired directory: the same bytes
    store = tmp_path / "acquired"
    code, _, err = ceph_cluster.journaltools("acquire", store, "-p", "rbd", "--image", name)
    assert code == 0, err
    offline = tmp_path / "offline.raw"
    size = head.stat().st_size
    code, out, err = _offline(store, "journal", "replay", f"rbd/{w.image_id}", offline,
                                               "--object-size", str(1 << w.order), "--format", "json")
    assert code == 0, (out, err)
    assert json.loads(out)["image_size"] == size
    assert _digest(offline) == _digest(head), f"seed {seed}: offline replay differs"
    base = _export(ceph_cluster, f"rbd/{name}@S1", tmp_path / "base2.raw")
    code, out, err = _offline(store, "journal", "replay", f"rbd/{w.image_id}", base,
                                               "--from-snapshot", "S1", "--until", entry["event"]["timestamp"])
    assert code == 0, (out, err)
    assert _digest(base) == _digest(s2), f"seed {seed}: offline S1 + replay --until differs from rbd export @S2"


def test_damaged_entry_stops_and_says_where(ceph_cluster: CephCluster, fixed: Workload, tmp_path: Path) -> None:
    """An entry failing its crc is never applied; the default policy stops there and names the entry."""
    store = tmp_path / "acquired"
    code, _, err = ceph_cluster.journaltools("acquire", store, "-p", "rbd", "--image", "replay-fixed")
    assert code == 0, err
    objects = sorted(p for p in store.rglob("journal_data.*") if p.is_file() and p.stat().st_size > 100)
    victim = objects[0]
    data = bytearray(victim.read_bytes())
    length = struct.unpack_from("<I", data, 25)[0]
    data[29 + length // 2] ^= 0xFF  # inside the first entry's payload: its crc fails
    victim.write_bytes(bytes(data))
    target = tmp_path / "t.raw"
    code, out, err = _offline(store, "journal", "replay", f"rbd/{fixed.image_id}", target,
                                               "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert not doc["complete"]
    assert doc["problems"][0]["kind"] == "crc_mismatch"
    assert doc["stopped"].startswith("damaged journal")
    assert doc["problems"][0]["object"] == victim.name
    assert doc["last_replayed"] is None  # the damaged entry was the first: nothing before it, nothing after
