"""Seeded journal scenarios driven through the real librbd (python3-rbd, and librbd's C API for
write-same and compare-and-write) and the real ``rbd`` on a sandbox cluster, then every read
command of journaltools compared with rbd's, live and on an ``acquire``d directory.

A scenario is a pure function of its seed: :func:`generate` draws the journal geometry (splay
width 1-8, object size 64 KiB-16 MiB, journal objects in a separate pool or not, a namespace or
not, 0-3 extra journal clients) and a sequence of steps (writes, discards, write-zeroes,
write-same, compare-and-write, flushes, snapshot create/rename/protect/unprotect/remove, resize,
metadata set/remove, reopening the image (a new lock epoch), client disconnects by journaltools
and by rbd, commits and unregistrations of extra clients that let librbd trim, demote/promote by
rbd and by journaltools).  :func:`run` plays it on the cluster; :func:`compare` lists every
difference between rbd's output and ours.  ``describe()`` prints what reproduces a failure.
"""

from __future__ import annotations

import ctypes
import difflib
import json
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ceph_cluster import CephCluster

MiB = 1 << 20
KiB = 1 << 10
POOL = "scen"
JOURNAL_POOL = "scenj"
NAMESPACE = "ns"


# -- what a scenario is ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    splay_width: int
    order: int  # journal object size 2**order: 16 (64 KiB) .. 24 (16 MiB)
    journal_pool: bool
    namespace: bool
    clients: int  # extra journal clients peer-0.. registered before the first write
    image_size: int
    mirrored: bool  # image mirroring enabled (journal mode), needed by demote/promote
    peer_data: bool  # extra clients carry rbd-mirror's MirrorPeerClientMeta (else empty data, like a bare register)

    def describe(self) -> str:
        return (f"splay {self.splay_width}, objects 2^{self.order} ({(1 << self.order) // KiB} KiB), "
                f"journal pool {'separate' if self.journal_pool else 'same'}, "
                f"namespace {'yes' if self.namespace else 'no'}, {self.clients} extra clients, "
                f"{'mirror-peer' if self.peer_data else 'empty'} client data, image {self.image_size // MiB} MiB, "
                f"mirroring {'on' if self.mirrored else 'off'}")


@dataclass(frozen=True)
class Step:
    op: str
    args: tuple[tuple[str, Any], ...] = ()

    def arg(self, name: str) -> Any:
        return dict(self.args)[name]

    def __str__(self) -> str:
        return f"{self.op}({', '.join(f'{k}={v!r}' for k, v in self.args)})"


@dataclass
class Scenario:
    seed: int | None  # None: written by hand (a regression case), see ``name``
    geometry: Geometry
    steps: list[Step]
    name: str = ""

    @property
    def image(self) -> str:
        return self.name or f"s{self.seed}"

    def describe(self) -> str:
        if self.seed is None:
            lines = [f"scenario {self.name}: {self.geometry.describe()}", "steps:"]
        else:
            lines = [f"scenario seed {self.seed}: {self.geometry.describe()}",
                     f"reproduce: JOURNALTOOLS_SCENARIO_SEEDS={self.seed}-{self.seed} .venv/bin/pytest -m slow -p no:cacheprovider "
                     f"tests/test_scenarios.py -k many", "steps:"]
        lines += [f"  {i:3}. {step}" for i, step in enumerate(self.steps, 1)]
        return "\n".join(lines)


def _s(op: str, **args: Any) -> Step:
    return Step(op, tuple(args.items()))


# -- the generator ------------------------------------------------------------------------------------
@dataclass
class _State:
    size: int
    snaps: dict[str, bool] = field(default_factory=dict)  # name -> protected
    metadata: set[str] = field(default_factory=set)
    clients: dict[str, str] = field(default_factory=dict)  # id -> connected | disconnected
    demoted: bool = False
    written: int = 0
    names: int = 0


_WEIGHTS = {
    "write": 14, "writes": 5, "discard": 3, "write_zeroes": 2, "write_same": 2, "compare_and_write": 2,
    "flush": 3, "snap_create": 2, "snap_rename": 1, "snap_protect": 1, "snap_unprotect": 1, "snap_remove": 1,
    "resize": 1, "metadata_set": 2, "metadata_remove": 1, "reopen": 2, "client_disconnect": 2,
    "client_commit": 2, "client_unregister": 1, "demote": 1,
}
_WRITE_BUDGET = 3 * MiB  # of data per scenario: memstore holds the image data and the journal


def generate(seed: int, length: int | None = None) -> Scenario:
    """The scenario of ``seed``: geometry and steps drawn from ``random.Random(seed)`` only."""
    rng = random.Random(seed)
    clients = rng.choice([0, 0, 1, 1, 2, 3])
    geometry = Geometry(splay_width=rng.randint(1, 8), order=rng.choice([16, 16, 17, 18, 20, 22, 24]),
                        journal_pool=rng.random() < 0.4, namespace=rng.random() < 0.4, clients=clients,
                        image_size=rng.choice([16, 32, 64]) * MiB, mirrored=(mirrored := rng.random() < 0.35),
                        peer_data=mirrored or rng.random() < 0.5)
    state = _State(size=geometry.image_size, clients={f"peer-{i}": "connected" for i in range(clients)})
    steps: list[Step] = []
    for _ in range(length if length is not None else rng.randint(8, 36)):
        if state.demoted:
            steps.append(_s("promote", tool=rng.choice(["rbd", "journaltools"]), force=rng.random() < 0.5))
            state.demoted = False
            continue
        step = _draw(rng, state, geometry)
        if step is not None:
            steps.append(step)
    if state.demoted:
        steps.append(_s("promote", tool="rbd", force=False))
    return Scenario(seed, geometry, steps)


def _extent(rng: random.Random, state: _State, length: int) -> int:
    length = min(length, state.size)
    return rng.randrange(0, (state.size - length) // 512 + 1) * 512


def _draw(rng: random.Random, state: _State, geometry: Geometry) -> Step | None:
    ops = list(_WEIGHTS)
    op = rng.choices(ops, weights=[_WEIGHTS[o] for o in ops])[0]
    budget_left = state.written < _WRITE_BUDGET
    if op == "write" and budget_left:
        length = rng.choice([512, 4 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, rng.randint(1, 9000)])
        state.written += length
        return _s("write", offset=_extent(rng, state, length) + (rng.randrange(512) if length % 512 else 0),
                  length=length, byte=rng.randrange(256))
    if op == "writes" and budget_left:
        count, length = rng.randint(8, 96), rng.choice([512, 4 * KiB, 8 * KiB])
        state.written += count * length
        return _s("writes", offset=_extent(rng, state, count * length), count=count, length=length,
                  byte=rng.randrange(256))
    if op in ("discard", "write_zeroes"):
        length = rng.choice([512, 4 * KiB, 64 * KiB, 1 * MiB])
        return _s(op, offset=_extent(rng, state, length), length=length)
    if op == "write_same" and budget_left:
        pattern = rng.choice([512, 4 * KiB])
        length = pattern * rng.randint(1, 16)
        state.written += pattern
        return _s("write_same", offset=_extent(rng, state, length), length=length, pattern=pattern,
                  byte=rng.choice([0, rng.randrange(1, 256)]))
    if op == "compare_and_write" and budget_left:
        state.written += 512
        return _s("compare_and_write", offset=_extent(rng, state, 512), byte=rng.randrange(256),
                  matches=rng.random() < 0.7)
    if op == "flush":
        return _s("flush")
    if op == "snap_create":
        state.names += 1
        name = f"snap{state.names}"
        state.snaps[name] = False
        return _s("snap_create", name=name)
    if op == "snap_rename" and state.snaps:
        old = rng.choice(sorted(state.snaps))
        state.names += 1
        new = f"snap{state.names}"
        state.snaps[new] = state.snaps.pop(old)
        return _s("snap_rename", old=old, new=new)
    if op == "snap_protect" and any(not p for p in state.snaps.values()):
        name = rng.choice(sorted(n for n, p in state.snaps.items() if not p))
        state.snaps[name] = True
        return _s("snap_protect", name=name)
    if op == "snap_unprotect" and any(state.snaps.values()):
        name = rng.choice(sorted(n for n, p in state.snaps.items() if p))
        state.snaps[name] = False
        return _s("snap_unprotect", name=name)
    if op == "snap_remove" and any(not p for p in state.snaps.values()):
        name = rng.choice(sorted(n for n, p in state.snaps.items() if not p))
        del state.snaps[name]
        return _s("snap_remove", name=name)
    if op == "resize":
        state.size = max(4 * MiB, state.size + rng.choice([-8, -4, 4, 8, 16]) * MiB)
        return _s("resize", size=state.size)
    if op == "metadata_set":
        key = f"key{rng.randrange(4)}"
        state.metadata.add(key)
        return _s("metadata_set", key=key, value=f"v{rng.randrange(1000)}")
    if op == "metadata_remove" and state.metadata:
        key = rng.choice(sorted(state.metadata))
        state.metadata.discard(key)
        return _s("metadata_remove", key=key)
    if op == "reopen":
        return _s("reopen")
    connected = sorted(c for c, s in state.clients.items() if s == "connected")
    if op == "client_disconnect" and connected:
        client = rng.choice(connected)
        state.clients[client] = "disconnected"
        return _s("client_disconnect", client=client, tool=rng.choice(["rbd", "journaltools"]))
    if op == "client_commit" and state.clients:
        return _s("client_commit", client=rng.choice(sorted(state.clients)))
    if op == "client_unregister" and state.clients:
        client = rng.choice(sorted(state.clients))
        del state.clients[client]
        return _s("client_unregister", client=client)
    if op == "demote" and geometry.mirrored:
        state.demoted = True
        return _s("demote", tool=rng.choice(["rbd", "journaltools"]))
    return None


# -- running a scenario --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRef:
    pool: str
    namespace: str
    name: str
    journal_id: str

    @property
    def spec(self) -> str:
        return "/".join(p for p in (self.pool, self.namespace, self.name) if p)

    @property
    def journal_spec(self) -> str:
        return "/".join(p for p in (self.pool, self.namespace, self.journal_id) if p)

    @property
    def rbd_args(self) -> list[str]:
        return ["--pool", self.pool, *(["--namespace", self.namespace] if self.namespace else []), "--image", self.name]


def prepare_pools(cluster: CephCluster) -> None:
    """The scenario pools, namespace ``ns`` in both, image-mode mirroring on the image pool and its namespace."""
    for pool in (POOL, JOURNAL_POOL):
        cluster.new_pool(pool)
        if cluster.rbd("namespace", "ls", pool, "--format", "json").stdout.find(f'"{NAMESPACE}"') < 0:
            cluster.rbd("namespace", "create", f"{pool}/{NAMESPACE}")
    cluster.rbd("mirror", "pool", "enable", POOL, "image")
    cluster.rbd("mirror", "pool", "enable", f"{POOL}/{NAMESPACE}", "image")


def _peer_data(image_id: str) -> bytes:
    """The client data rbd-mirror registers for a peer that is replaying ``image_id``."""
    from journaltools.format.librbd_journal import MIRROR_PEER_CLIENT, MIRROR_PEER_REPLAYING, ClientData
    from journaltools.format.primitives import encode

    return encode(ClientData, {"client_meta_type": MIRROR_PEER_CLIENT, "client_meta": {
        "image_id": image_id, "state": MIRROR_PEER_REPLAYING, "sync_object_count": 0, "sync_points": [],
        "snap_seqs": []}}, type_name="ClientData")


class _CImage:
    """librbd's C API for the two calls python3-rbd does not wrap: write-same and compare-and-write."""

    _libs: tuple[Any, Any] | None = None

    def __init__(self, conf: str, pool: str, namespace: str, name: str) -> None:
        if _CImage._libs is None:
            _CImage._libs = (ctypes.CDLL("librados.so.2"), ctypes.CDLL("librbd.so.1"))
        self.rados: Any = _CImage._libs[0]
        self.rbd: Any = _CImage._libs[1]
        self.cluster, self.ioctx, self.image = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        self._check(self.rados.rados_create(ctypes.byref(self.cluster), None), "rados_create")
        self._check(self.rados.rados_conf_read_file(self.cluster, conf.encode()), "rados_conf_read_file")
        self._check(self.rados.rados_connect(self.cluster), "rados_connect")
        self._check(self.rados.rados_ioctx_create(self.cluster, pool.encode(), ctypes.byref(self.ioctx)), "ioctx")
        self.rados.rados_ioctx_set_namespace(self.ioctx, namespace.encode())
        self._check(self.rbd.rbd_open(self.ioctx, name.encode(), ctypes.byref(self.image), None), "rbd_open")

    @staticmethod
    def _check(ret: int, what: str) -> int:
        if ret < 0:
            raise OSError(-ret, f"{what} failed")
        return ret

    def write_same(self, offset: int, length: int, pattern: bytes) -> int:
        self.rbd.rbd_writesame.restype = ctypes.c_ssize_t
        return int(self.rbd.rbd_writesame(self.image, ctypes.c_uint64(offset), ctypes.c_size_t(length), pattern,
                                          ctypes.c_size_t(len(pattern)), 0))

    def compare_and_write(self, offset: int, compare: bytes, data: bytes) -> int:
        mismatch = ctypes.c_uint64(0)
        self.rbd.rbd_compare_and_write.restype = ctypes.c_ssize_t
        return int(self.rbd.rbd_compare_and_write(self.image, ctypes.c_uint64(offset), ctypes.c_size_t(len(data)),
                                                  compare, data, ctypes.byref(mismatch), 0))

    def close(self) -> None:
        self.rbd.rbd_close(self.image)
        self.rados.rados_ioctx_destroy(self.ioctx)
        self.rados.rados_shutdown(self.cluster)


class Runner:
    """Plays scenarios on ``cluster``; one python3-rados connection, images opened per session."""

    def __init__(self, cluster: CephCluster) -> None:
        import rados

        self.cluster = cluster
        self.conn = rados.Rados(conffile=cluster.conf)
        self.conn.connect(timeout=30)
        self._image: Any = None
        self._ioctx: Any = None
        self.log: list[str] = []  # what happened at steps that librbd refused (kept for the report)

    def close(self) -> None:
        self._close_image()
        self.conn.shutdown()

    def _ioctx_for(self, pool: str, namespace: str) -> Any:
        ioctx = self.conn.open_ioctx(pool)
        ioctx.set_namespace(namespace)
        return ioctx

    def _open(self, ref: ImageRef) -> Any:
        import rbd

        if self._image is None:
            self._ioctx = self._ioctx_for(ref.pool, ref.namespace)
            self._image = rbd.Image(self._ioctx, ref.name)
        return self._image

    def _close_image(self) -> None:
        if self._image is not None:
            self._image.close()
            self._ioctx.close()
            self._image = self._ioctx = None

    def create(self, scenario: Scenario) -> ImageRef:
        g = scenario.geometry
        namespace = NAMESPACE if g.namespace else ""
        spec = "/".join(p for p in (POOL, namespace, scenario.image) if p)
        args = ["create", "--size", f"{g.image_size // MiB}M", "--image-feature",
                "layering,exclusive-lock,journaling", "--journal-splay-width", g.splay_width,
                "--journal-object-size", f"{(1 << g.order) // KiB}K"]
        if g.journal_pool:
            args += ["--journal-pool", JOURNAL_POOL]
        self.cluster.rbd(*args, spec)
        image_id = json.loads(self.cluster.rbd("info", spec, "--format", "json").stdout)["id"]
        ref = ImageRef(POOL, namespace, scenario.image, image_id)
        if g.mirrored:
            self.cluster.rbd("mirror", "image", "enable", spec, "journal")
        for i in range(g.clients):
            self._cls(ref, "client_register", client=f"peer-{i}", data=_peer_data(image_id) if g.peer_data else b"")
        return ref

    def _cls(self, ref: ImageRef, method: str, client: str, data: bytes = b"",
             positions: tuple[tuple[int, int, int], ...] | None = None) -> None:
        from journaltools.cls import journal as cls_journal
        from journaltools.store.rados import RadosStore

        store = RadosStore(conf=self.cluster.conf)
        try:
            pool, oid = store.pool(ref.pool, ref.namespace), f"journal.{ref.journal_id}"
            if method == "client_register":
                cls_journal.client_register(pool, oid, client, data)
            elif method == "client_unregister":
                cls_journal.client_unregister(pool, oid, client)
            elif positions is not None:  # a position given by hand (regression cases)
                cls_journal.client_commit(pool, oid, client, list(positions))
            else:  # commit the image client's position: entries everyone has seen become trimmable
                image = cls_journal.get_client(pool, oid, "")
                cls_journal.client_commit(pool, oid, client, [(p.object_number, p.tag_tid, p.entry_tid)
                                                              for p in image.commit_position.object_positions])
        finally:
            store.close()

    def run(self, scenario: Scenario) -> ImageRef:
        ref = self.create(scenario)
        try:
            for step in scenario.steps:
                self.play(ref, step)
        finally:
            self._close_image()
        return ref

    def play(self, ref: ImageRef, step: Step) -> None:
        op, a = step.op, dict(step.args)
        if op == "write":
            self._open(ref).write(bytes([a["byte"]]) * a["length"], a["offset"])
        elif op == "writes":
            image = self._open(ref)
            for i in range(a["count"]):
                image.write(bytes([(a["byte"] + i) % 256]) * a["length"], a["offset"] + i * a["length"])
        elif op == "discard":
            self._open(ref).discard(a["offset"], a["length"])
        elif op == "write_zeroes":
            self._open(ref).write_zeroes(a["offset"], a["length"])
        elif op in ("write_same", "compare_and_write"):
            self._close_image()  # one lock owner at a time
            image = _CImage(self.cluster.conf, ref.pool, ref.namespace, ref.name)
            try:
                if op == "write_same":
                    ret = image.write_same(a["offset"], a["length"], bytes([a["byte"]]) * a["pattern"])
                else:
                    current = self._read(ref, a["offset"], 512)
                    compare = current if a["matches"] else bytes([(current[0] + 1) % 256]) + current[1:]
                    ret = image.compare_and_write(a["offset"], compare, bytes([a["byte"]]) * 512)
            finally:
                image.close()
            if ret < 0:
                self.log.append(f"{step}: librbd returned {ret}")
        elif op == "flush":
            self._open(ref).flush()
        elif op == "snap_create":
            self._open(ref).create_snap(a["name"])
        elif op == "snap_rename":
            self._open(ref).rename_snap(a["old"], a["new"])
        elif op == "snap_protect":
            self._open(ref).protect_snap(a["name"])
        elif op == "snap_unprotect":
            self._open(ref).unprotect_snap(a["name"])
        elif op == "snap_remove":
            self._open(ref).remove_snap(a["name"])
        elif op == "resize":
            self._open(ref).resize(a["size"], allow_shrink=True)
        elif op == "metadata_set":
            self._open(ref).metadata_set(a["key"], a["value"])
        elif op == "metadata_remove":
            self._open(ref).metadata_remove(a["key"])
        elif op == "reopen":
            self._close_image()
        elif op == "client_disconnect":
            if a["tool"] == "rbd":
                self.cluster.rbd("journal", "client", "disconnect", *ref.rbd_args, "--client-id", a["client"])
            else:
                # the workload holds the image open (as a running VM would): the write guard wants --force
                code, _, err = self.cluster.journaltools("journal", "client", "disconnect", *ref.rbd_args,
                                                         "--client-id", a["client"], "--force")
                assert code == 0, f"{step}: {err}"
        elif op == "client_commit":
            self._close_image()  # librbd flushes its commit position on close: what the client copies is then fixed
            self._cls(ref, op, a["client"], positions=a.get("positions"))
        elif op == "client_unregister":
            self._cls(ref, op, a["client"])
        elif op in ("demote", "promote"):
            self._close_image()
            extra = ["--force"] if a.get("force") else []
            if a["tool"] == "rbd":
                self.cluster.rbd("mirror", "image", op, *extra, ref.spec)
            else:
                code, _, err = self.cluster.journaltools("mirror", "image", op, *extra, ref.spec)
                assert code == 0, f"{step}: {err}"
        else:
            raise AssertionError(f"unknown step {step}")

    def _read(self, ref: ImageRef, offset: int, length: int) -> bytes:
        import rbd

        with self._ioctx_for(ref.pool, ref.namespace) as ioctx, rbd.Image(ioctx, ref.name, read_only=True) as image:
            return bytes(image.read(offset, length))

    def remove(self, ref: ImageRef) -> None:
        """Remove the image, its snapshots and journal (memstore keeps everything in memory)."""
        import rbd

        from journaltools.cls import journal as cls_journal
        from journaltools.store.rados import RadosStore

        self._close_image()
        store = RadosStore(conf=self.cluster.conf)
        try:  # librbd's mirror disable decodes every client's data: empty data stops it (EBADMSG)
            pool = store.pool(ref.pool, ref.namespace)
            for client in cls_journal.client_list(pool, f"journal.{ref.journal_id}"):
                if client.id:
                    cls_journal.client_unregister(pool, f"journal.{ref.journal_id}", client.id)
        finally:
            store.close()
        self.cluster.rbd("mirror", "image", "disable", "--force", ref.spec, check=False)
        with self._ioctx_for(ref.pool, ref.namespace) as ioctx:
            with rbd.Image(ioctx, ref.name) as image:
                for snap in list(image.list_snaps()):
                    if image.is_protected_snap(snap["name"]):
                        image.unprotect_snap(snap["name"])
                    image.remove_snap(snap["name"])
            for _ in range(20):
                try:
                    rbd.RBD().remove(ioctx, ref.name)
                    return
                except rbd.ImageBusy:  # a watch of a closed handle lingers a moment
                    time.sleep(0.5)
            rbd.RBD().remove(ioctx, ref.name)


# -- comparing every read command ----------------------------------------------------------------------
@dataclass
class Divergence:
    where: str  # live | acquired
    command: str
    theirs: tuple[int, str]
    ours: tuple[int, str]

    def __str__(self) -> str:
        head = f"[{self.where}] {self.command}: rbd exit {self.theirs[0]}, journaltools exit {self.ours[0]}"
        def lines(text: str) -> list[str]:  # export lines carry whole entries in base64
            return [line if len(line) <= 160 else f"{line[:150]}... ({len(line)} chars)" for line in text.splitlines()]

        diff = list(difflib.unified_diff(lines(self.theirs[1]), lines(self.ours[1]), "rbd", "journaltools",
                                         lineterm="", n=1))
        if len(diff) > 40:
            diff = diff[:40] + [f"... ({len(diff) - 40} more diff lines)"]
        return "\n".join([head, *("    " + line for line in diff)])


#: (name, rbd's arguments after `rbd journal`, ours after `journaltools journal`); the target is appended
READ_COMMANDS = [
    ("info", ["info"], ["info"]),
    ("info --format json", ["info", "--format", "json"], ["info", "--format", "json"]),
    ("status", ["status"], ["status", "--no-lag"]),
    ("status --format json", ["status", "--format", "json"], ["status", "--format", "json", "--no-lag"]),
    ("inspect", ["inspect"], ["inspect"]),
    ("inspect --verbose", ["inspect", "--verbose"], ["inspect", "--verbose"]),
]


def _ours(cluster: CephCluster, args: list[str], store: Path | None) -> tuple[int, str]:
    if store is None:
        code, out, _ = cluster.journaltools(*args)
        return code, out
    exe = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "journaltools"
    proc = subprocess.run([str(exe) if exe.exists() else "journaltools", "--store", str(store), *args],
                          capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout


def rbd_export_records(text: str) -> list[tuple[int, int, int, str]]:
    """(tag_id, commit_tid, type, entry) of each record of an ``rbd journal export`` file."""
    data = text.encode()
    records, i = [], data.index(b"\n") + 1 if data.startswith(b"#") else 0
    while i < len(data):
        space = data.index(b" ", i)
        length = int(data[i:space])
        record = json.loads(data[space + 1:space + 1 + length])
        records.append((record["tag_id"], record["commit_tid"], record["type"], record["entry"]))
        i = space + 1 + length + 1
    return records


def compare(cluster: CephCluster, ref: ImageRef, workdir: Path) -> list[Divergence]:
    """Every read command, rbd's vs ours, live and on a directory acquired from the cluster."""
    workdir.mkdir(parents=True, exist_ok=True)
    theirs: dict[str, tuple[int, str]] = {}
    for name, rbd_args, _ in READ_COMMANDS:
        proc = cluster.rbd("journal", *rbd_args, *ref.rbd_args, check=False)
        theirs[name] = (proc.returncode, proc.stdout)
    export_path = workdir / "rbd-export"
    export_path.unlink(missing_ok=True)  # rbd journal export refuses an existing file (EEXIST)
    proc = cluster.rbd("journal", "export", *ref.rbd_args, "--path", export_path, check=False)
    theirs["export --format rbd"] = (proc.returncode, export_path.read_text() if export_path.exists() else "")
    if proc.returncode == 0:
        entries = [(t, c, ty) for t, c, ty, _ in rbd_export_records(theirs["export --format rbd"][1])]
        theirs["export (json) entries"] = (0, "\n".join(map(str, entries)))
    divergences: list[Divergence] = []
    store = workdir / "acquired"
    if store.exists():
        shutil.rmtree(store)
    code, _, err = cluster.journaltools("acquire", *ref.rbd_args, str(store))
    if code != 0:
        divergences.append(Divergence("acquired", "acquire", (0, ""), (code, err)))
    for where, target, location in (("live", ref.rbd_args, None), ("acquired", [ref.journal_spec], store)):
        if location is not None and code != 0:
            break
        for name, _, our_args in READ_COMMANDS:
            ours = _ours(cluster, ["journal", *our_args, *target], location)
            if ours != theirs[name]:
                divergences.append(Divergence(where, name, theirs[name], ours))
        ours = _ours(cluster, ["journal", "export", *target, "--path", "-", "--format", "rbd"], location)
        if ours != theirs["export --format rbd"]:
            divergences.append(Divergence(where, "export --format rbd", theirs["export --format rbd"], ours))
        if "export (json) entries" in theirs:
            code_json, doc = _ours(cluster, ["journal", "export", *target, "--path", "-"], location)
            if code_json == 0:
                entries = [(e["tag_tid"], e["commit_tid"], e["type"]) for e in json.loads(doc)["entries"]]
                ours = (0, "\n".join(map(str, entries)))
            else:
                ours = (code_json, doc)
            if ours != theirs["export (json) entries"]:
                divergences.append(Divergence(where, "export (json) entries", theirs["export (json) entries"], ours))
    return divergences
