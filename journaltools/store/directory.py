"""The embedded default: a directory laid out like a ``rados`` dump.

Layout (one directory per pool)::

    STORE/<pool>/meta.json            {"pool": name, "pool_id": id, "fsid": fsid or null[, "ceph_version": ...]}
    STORE/<pool>/objects/<oid>        object bytes
    STORE/<pool>/omap/<oid>.json      {omap key: base64 value}
    STORE/<pool>/xattr/<oid>.json     {xattr name: base64 value}
    STORE/<pool>/namespaces/<ns>/{objects,omap,xattr}/...   objects of RADOS namespace <ns>

Every replacing write goes to a temporary file in the same directory, is fsynced
and renamed over the old file (then the directory is fsynced), so a crash leaves
either the old or the new content.  Appends use ``O_APPEND`` + fsync: a crash can
only leave a torn tail, which journal readers treat as a partial entry.  Updates
that read and then write (object-class methods) hold an ``flock`` on the pool.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..errors import ExistsError, NotFoundError, StoreError
from .base import OfflinePool, Store


def _fname(oid: str) -> str:
    name = oid.replace("%", "%25").replace("/", "%2F")
    return "%2E" + name[1:] if name.startswith(".") else name


def _oid(fname: str) -> str:
    return fname.replace("%2E", ".", 1 if fname.startswith("%2E") else 0).replace("%2F", "/").replace("%25", "%")


@contextlib.contextmanager
def atomic_file(path: Path, buffering: int = -1, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only when the block completes: written to a
    temporary name in the same directory, fsynced, renamed over ``path``, directory fsynced.
    An error (or a crash) leaves ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-" + path.name[:40] + ".")
    try:
        with os.fdopen(fd, "wb", buffering=buffering) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as fh:
        fh.write(data)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_b64_map(path: Path) -> dict[str, bytes]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise StoreError(f"{path}: expected a JSON object of base64 values")
    out: dict[str, bytes] = {}
    for key, value in doc.items():
        if not isinstance(value, str):
            raise StoreError(f"{path}: value of key {key!r} is not a base64 string")
        try:
            out[key] = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise StoreError(f"{path}: value of key {key!r} is not valid base64 ({exc})") from exc
    return out


def _dump_b64_map(values: Mapping[str, bytes]) -> bytes:
    doc = {k: base64.b64encode(values[k]).decode("ascii") for k in sorted(values)}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


class DirectoryPool(OfflinePool):
    store: DirectoryStore

    def __init__(self, store: DirectoryStore, name: str, pool_id: int, namespace: str = "") -> None:
        self.store = store
        self.name = name
        self.pool_id = pool_id
        self.namespace = namespace
        self.pool_dir = store.root / name
        self.root = self.pool_dir / "namespaces" / namespace if namespace else self.pool_dir

    # paths
    def _obj(self, oid: str) -> Path:
        return self.root / "objects" / _fname(oid)

    def _omap(self, oid: str) -> Path:
        return self.root / "omap" / (_fname(oid) + ".json")

    def _xattr(self, oid: str) -> Path:
        return self.root / "xattr" / (_fname(oid) + ".json")

    def _missing(self, oid: str) -> NotFoundError:
        return NotFoundError(f"object {oid} does not exist in pool {self.describe()} ({self.store.root})")

    def exists(self, oid: str) -> bool:
        return self._obj(oid).exists() or self._omap(oid).exists()

    def _ensure(self, oid: str) -> None:
        if not self.exists(oid):
            atomic_write(self._obj(oid), b"")

    # data
    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._obj(oid)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read() if length is None else fh.read(length)
        except FileNotFoundError:
            if self._omap(oid).exists():
                return b""
            raise self._missing(oid) from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from exc

    def stat(self, oid: str) -> int:
        try:
            return self._obj(oid).stat().st_size
        except FileNotFoundError:
            if self._omap(oid).exists():
                return 0
            raise self._missing(oid) from None

    def create(self, oid: str, exclusive: bool = False) -> None:
        if self.exists(oid):
            if exclusive:
                raise ExistsError(f"object {oid} already exists in pool {self.describe()}")
            return
        atomic_write(self._obj(oid), b"")

    def append(self, oid: str, data: bytes) -> None:
        path = self._obj(oid)
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)

    def write_full(self, oid: str, data: bytes) -> None:
        atomic_write(self._obj(oid), data)

    def remove(self, oid: str) -> None:
        if not self.exists(oid):
            raise self._missing(oid)
        for path in (self._obj(oid), self._omap(oid), self._xattr(oid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        fsync_dir(self.root / "objects") if (self.root / "objects").exists() else None

    def list_objects(self, prefix: str = "") -> Iterator[str]:
        names: set[str] = set()
        objects = self.root / "objects"
        if objects.is_dir():
            names.update(_oid(p.name) for p in objects.iterdir() if not p.name.startswith(".tmp-"))
        omap = self.root / "omap"
        if omap.is_dir():
            names.update(_oid(p.name[:-5]) for p in omap.iterdir() if p.name.endswith(".json") and not p.name.startswith(".tmp-"))
        return iter(sorted(n for n in names if n.startswith(prefix)))

    def list_all_namespaces(self) -> Iterator[tuple[str, str]]:
        pools = [self.with_namespace("")]
        spaces = self.pool_dir / "namespaces"
        if spaces.is_dir():
            pools += [self.with_namespace(p.name) for p in sorted(spaces.iterdir()) if p.is_dir()]
        return ((pool.namespace, name) for pool in pools for name in pool.list_objects())

    # omap
    def omap_items(self, oid: str, prefix: str = "", start_after: str = "") -> Iterator[tuple[str, bytes]]:
        if not self.exists(oid):
            raise self._missing(oid)
        omap = _load_b64_map(self._omap(oid))
        return iter([(k, omap[k]) for k in sorted(omap) if k.startswith(prefix) and k > start_after])

    def omap_set(self, oid: str, values: Mapping[str, bytes]) -> None:
        with self.locked():
            self._ensure(oid)
            omap = _load_b64_map(self._omap(oid))
            omap.update({k: bytes(v) for k, v in values.items()})
            atomic_write(self._omap(oid), _dump_b64_map(omap))

    def omap_remove(self, oid: str, keys: Iterable[str]) -> None:
        with self.locked():
            if not self.exists(oid):
                raise self._missing(oid)
            omap = _load_b64_map(self._omap(oid))
            for key in keys:
                omap.pop(key, None)
            atomic_write(self._omap(oid), _dump_b64_map(omap))

    # xattrs
    def xattrs(self, oid: str) -> dict[str, bytes]:
        if not self.exists(oid):
            raise self._missing(oid)
        return _load_b64_map(self._xattr(oid))

    def xattr_set(self, oid: str, name: str, value: bytes) -> None:
        with self.locked():
            self._ensure(oid)
            attrs = _load_b64_map(self._xattr(oid))
            attrs[name] = bytes(value)
            atomic_write(self._xattr(oid), _dump_b64_map(attrs))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the pool's lock file (re-entrant within this process)."""
        depth = self.store._lock_depth.get(self.name, 0)
        if depth:
            self.store._lock_depth[self.name] = depth + 1
            try:
                yield
            finally:
                self.store._lock_depth[self.name] -= 1
            return
        self.pool_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.pool_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.store._lock_depth[self.name] = 1
            try:
                yield
            finally:
                self.store._lock_depth[self.name] = 0
        finally:
            os.close(fd)


class DirectoryStore(Store):
    """Pools as directories below ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotFoundError(f"store directory {self.root} does not exist")
        self._metas: dict[str, dict[str, Any]] | None = None
        self._lock_depth: dict[str, int] = {}

    def _meta(self) -> dict[str, dict[str, Any]]:
        if self._metas is None:
            metas: dict[str, dict[str, Any]] = {}
            for child in sorted(self.root.iterdir()):
                meta_path = child / "meta.json"
                if not (child.is_dir() and meta_path.is_file()):
                    continue
                try:
                    meta = orjson.loads(meta_path.read_bytes())
                except (orjson.JSONDecodeError, OSError) as exc:
                    raise StoreError(f"{meta_path}: unreadable pool metadata ({exc})") from exc
                if not isinstance(meta, dict) or not isinstance(meta.get("pool_id"), int):
                    raise StoreError(f"{meta_path}: expected {{\"pool\": name, \"pool_id\": integer, \"fsid\": ...}}")
                metas[child.name] = meta
            self._metas = metas
        return self._metas

    @property
    def fsid(self) -> str | None:  # type: ignore[override]
        for meta in self._meta().values():
            if isinstance(meta.get("fsid"), str):
                return str(meta["fsid"])
        return None

    @property
    def ceph_version(self) -> str | None:
        """``ceph version ...`` of the cluster the store was acquired from, when acquire recorded it."""
        for meta in self._meta().values():
            if isinstance(meta.get("ceph_version"), str):
                return str(meta["ceph_version"])
        return None

    def pool(self, name: str, namespace: str = "") -> DirectoryPool:
        meta = self._meta().get(name)
        if meta is None:
            raise NotFoundError(f"pool {name!r} does not exist in store {self.root}")
        return DirectoryPool(self, name, int(meta["pool_id"]), namespace)

    def pool_names(self) -> list[str]:
        return sorted(self._meta())

    def pool_name(self, pool_id: int) -> str:
        for name, meta in self._meta().items():
            if meta.get("pool_id") == pool_id:
                return name
        raise NotFoundError(f"pool id {pool_id} does not exist in store {self.root}")

    def create_pool(self, name: str, pool_id: int, fsid: str | None = None,
                    ceph_version: str | None = None) -> DirectoryPool:
        """Create a pool directory with its ``meta.json`` (for acquire, tests and fixtures)."""
        pool_dir = self.root / name
        pool_dir.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"pool": name, "pool_id": pool_id, "fsid": fsid}
        if ceph_version:
            meta["ceph_version"] = ceph_version
        atomic_write(pool_dir / "meta.json", orjson.dumps(meta) + b"\n")
        self._metas = None
        return self.pool(name)

    def describe(self) -> str:
        return f"directory store {self.root}"
