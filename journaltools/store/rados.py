"""Live clusters through python3-rados (the system package; see the README for the venv).

Object-class methods run in the OSDs (``Ioctx.execute``), so a live cluster
enforces Ceph's own invariants; their negative errnos become our error classes.
"""

from __future__ import annotations

import errno as E
import functools
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import (
    BusyError,
    ExistsError,
    JournalToolsError,
    NotFoundError,
    StaleError,
    StoreError,
)
from .base import Pool, Store

_READ_CHUNK = 64 << 20
#: pools with more objects than this are not listed to find a journal's objects (see Pool.listing_is_cheap);
#: listing runs at a few ten thousand objects per second.  $JOURNALTOOLS_LISTING_LIMIT overrides it (-1: never list).
LISTING_LIMIT = 20_000
_OMAP_PAGE = 1024
_EXEC_OUT = 64 << 20
_ERRORS: dict[int, type[JournalToolsError]] = {
    E.ENOENT: NotFoundError,
    E.EEXIST: ExistsError,
    E.ESTALE: StaleError,
    E.EBUSY: BusyError,
}


def _rados() -> Any:
    try:
        import rados
    except ImportError as exc:
        raise StoreError(
            "python3-rados is not importable: install Ceph's python3-rados and use a Python made from "
            "/usr/bin/python3 (the README's venv has --system-site-packages)"
        ) from exc
    return rados


def error_for(code: int, message: str) -> JournalToolsError:
    code = abs(code)
    cls = _ERRORS.get(code)
    text = f"{message}: ({code}) {E.errorcode.get(code, 'error')} - {_strerror(code)}"
    return cls(text) if cls else JournalToolsError(text, errno=code)


def _strerror(code: int) -> str:
    import os

    return os.strerror(code)


def _listing_limit() -> int:
    try:
        return int(os.environ.get("JOURNALTOOLS_LISTING_LIMIT", LISTING_LIMIT))
    except ValueError:
        return LISTING_LIMIT


@functools.cache
def _rados_tool() -> str | None:
    import shutil

    return shutil.which("rados")


class RadosPool(Pool):
    def watchers(self, oid: str) -> list[dict[str, object]]:
        """Watchers of ``oid`` as ``rados listwatchers`` reports them (python3-rados has no call for it)."""
        import re
        import subprocess

        tool = _rados_tool()
        if tool is None:
            return []  # knows_watchers is False then
        cmd = [tool, *getattr(self.store, "cli_args", []), "-p", self.name, "--namespace", self.namespace, "listwatchers", oid]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            if "No such file" in proc.stderr:
                raise NotFoundError(f"object {oid} does not exist in pool {self.describe()}")
            raise StoreError(f"rados listwatchers {oid}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
        found = []
        for line in proc.stdout.splitlines():
            match = re.match(r"watcher=(\S+) client\.(\d+) cookie=(\d+)", line.strip())
            if match:
                found.append({"address": match.group(1), "client": int(match.group(2)), "cookie": int(match.group(3))})
        return found

    def __init__(self, store: RadosStore, name: str, pool_id: int, namespace: str, ioctx: Any) -> None:
        self.store = store
        self.name = name
        self.pool_id = pool_id
        self.namespace = namespace
        self.ioctx = ioctx
        self._object_count: int | None = None
        self.knows_watchers = _rados_tool() is not None  # watchers come from the rados tool (ceph-common)

    def _fail(self, exc: Exception, oid: str, what: str) -> JournalToolsError:
        code = getattr(exc, "errno", None) or E.EIO
        if code == E.ENOENT:
            return NotFoundError(f"object {oid} does not exist in pool {self.describe()}")
        return error_for(code, f"{what} {oid} in pool {self.describe()} failed")

    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        try:
            if length is None:
                length = max(self.stat(oid) - offset, 0)
            parts = []
            while length > 0:
                chunk = self.ioctx.read(oid, min(length, _READ_CHUNK), offset)
                if not chunk:
                    break
                parts.append(chunk)
                offset += len(chunk)
                length -= len(chunk)
            return b"".join(parts)
        except _rados().Error as exc:
            raise self._fail(exc, oid, "read of") from exc

    def stat(self, oid: str) -> int:
        try:
            return int(self.ioctx.stat(oid)[0])
        except _rados().Error as exc:
            raise self._fail(exc, oid, "stat of") from exc

    def create(self, oid: str, exclusive: bool = False) -> None:
        rados = _rados()
        try:
            with rados.WriteOpCtx() as op:
                op.new(rados.LIBRADOS_CREATE_EXCLUSIVE if exclusive else rados.LIBRADOS_CREATE_IDEMPOTENT)
                self.ioctx.operate_write_op(op, oid)
        except rados.Error as exc:
            raise self._fail(exc, oid, "create of") from exc

    def append(self, oid: str, data: bytes) -> None:
        try:
            self.ioctx.append(oid, bytes(data))
        except _rados().Error as exc:
            raise self._fail(exc, oid, "append to") from exc

    def write_full(self, oid: str, data: bytes) -> None:
        try:
            self.ioctx.write_full(oid, bytes(data))
        except _rados().Error as exc:
            raise self._fail(exc, oid, "write of") from exc

    def remove(self, oid: str) -> None:
        try:
            self.ioctx.remove_object(oid)
        except _rados().Error as exc:
            raise self._fail(exc, oid, "removal of") from exc

    def listing_is_cheap(self) -> bool:
        if self._object_count is None:  # the pool's object count, from its statistics (all namespaces)
            try:
                self._object_count = int(self.ioctx.get_stats()["num_objects"])
            except (_rados().Error, KeyError, TypeError, ValueError):
                self._object_count = None
        return self._object_count is not None and self._object_count <= _listing_limit()

    def list_objects(self, prefix: str = "") -> Iterator[str]:
        try:
            names = sorted(o.key for o in self.ioctx.list_objects() if o.key.startswith(prefix))
        except _rados().Error as exc:
            raise error_for(getattr(exc, "errno", E.EIO), f"listing pool {self.describe()} failed") from exc
        return iter(names)

    def omap_items(self, oid: str, prefix: str = "", start_after: str = "") -> Iterator[tuple[str, bytes]]:
        rados = _rados()
        items: list[tuple[str, bytes]] = []
        after = start_after
        try:
            self.ioctx.stat(oid)
            while True:
                with rados.ReadOpCtx() as op:
                    it, _ = self.ioctx.get_omap_vals(op, after, prefix, _OMAP_PAGE)
                    self.ioctx.operate_read_op(op, oid)
                    page = [(k if isinstance(k, str) else k.decode(), bytes(v)) for k, v in it]
                items.extend(page)
                if len(page) < _OMAP_PAGE:
                    break
                after = page[-1][0]
        except rados.Error as exc:
            raise self._fail(exc, oid, "omap read of") from exc
        return iter(items)

    def omap_set(self, oid: str, values: Mapping[str, bytes]) -> None:
        rados = _rados()
        keys = tuple(values)
        try:
            with rados.WriteOpCtx() as op:
                self.ioctx.set_omap(op, keys, tuple(bytes(values[k]) for k in keys))
                self.ioctx.operate_write_op(op, oid)
        except rados.Error as exc:
            raise self._fail(exc, oid, "omap write of") from exc

    def omap_remove(self, oid: str, keys: Iterable[str]) -> None:
        rados = _rados()
        try:
            self.ioctx.stat(oid)
            with rados.WriteOpCtx() as op:
                self.ioctx.remove_omap_keys(op, tuple(keys))
                self.ioctx.operate_write_op(op, oid)
        except rados.Error as exc:
            raise self._fail(exc, oid, "omap removal in") from exc

    def xattrs(self, oid: str) -> dict[str, bytes]:
        try:
            return {k: bytes(v) for k, v in self.ioctx.get_xattrs(oid)}
        except _rados().Error as exc:
            raise self._fail(exc, oid, "xattr read of") from exc

    def xattr_set(self, oid: str, name: str, value: bytes) -> None:
        try:
            self.ioctx.set_xattr(oid, name, bytes(value))
        except _rados().Error as exc:
            raise self._fail(exc, oid, "xattr write of") from exc

    def execute(self, oid: str, cls: str, method: str, data: bytes = b"") -> bytes:
        rados = _rados()
        try:
            ret, out = self.ioctx.execute(oid, cls, method, bytes(data), _EXEC_OUT)
        except rados.Error as exc:
            code = getattr(exc, "errno", None) or E.EIO
            raise error_for(code, f"{cls}.{method} on {oid} in pool {self.describe()}") from exc
        if ret < 0:
            raise error_for(ret, f"{cls}.{method} on {oid} in pool {self.describe()}")
        return bytes(out or b"")

    def notify(self, oid: str, payload: bytes = b"", timeout_ms: int = 5000) -> None:
        try:
            self.ioctx.notify(oid, payload.decode("latin-1"), timeout_ms)
        except _rados().Error as exc:
            raise self._fail(exc, oid, "notify of") from exc


class RadosStore(Store):
    """A live cluster: ``-c/--conf``, ``--id``, ``--cluster`` as rbd takes them."""

    def __init__(self, conf: str | None = None, client_id: str | None = None, cluster: str | None = None,
                 timeout: int = 15, options: dict[str, str] | None = None) -> None:
        rados = _rados()
        extra = dict(options or {})
        kwargs: dict[str, Any] = {"conf": {"client_mount_timeout": str(timeout), "rados_mon_op_timeout": str(timeout),
                                           "rados_osd_op_timeout": str(timeout * 4)}}
        for key in ("mon_host", "keyring", "keyfile"):  # rbd's -m, -k, -K
            if extra.get(key):
                kwargs["conf"][key] = extra[key]
        if conf:
            kwargs["conffile"] = conf
        else:
            kwargs["conffile"] = ""  # librados default search ($CEPH_CONF, /etc/ceph/$cluster.conf, ...)
        if extra.get("name"):  # rbd's -n/--name client.<id>
            kwargs["name"] = extra["name"]
        elif client_id:
            kwargs["rados_id"] = client_id.removeprefix("client.")
        if cluster:
            kwargs["clustername"] = cluster
        where = kwargs["conffile"] or "$CEPH_CONF or /etc/ceph/ceph.conf"
        try:
            self.cluster = rados.Rados(**kwargs)
            self.cluster.connect(timeout=timeout)
        except rados.Error as exc:
            raise StoreError(f"cannot connect to the cluster ({where}): {exc}") from exc
        self._ioctxs: dict[tuple[str, str], Any] = {}
        self.fsid = self._cluster_fsid()
        self.where = where
        # the same connection options for the rados CLI (watchers: python3-rados cannot list them)
        self.cli_args = [a for k, v in (("-c", conf), ("--cluster", cluster), ("-n", extra.get("name")),
                                         ("--id", None if extra.get("name") else client_id),
                                         ("-m", extra.get("mon_host")), ("-k", extra.get("keyring")),
                                         ("-K", extra.get("keyfile"))) if v for a in (k, v)]

    def _cluster_fsid(self) -> str:
        """The cluster's fsid; right after connect librados sometimes still answers zeros (seen 3 in 20): wait."""
        import time

        zero = "00000000-0000-0000-0000-000000000000"
        for _ in range(50):
            fsid = str(self.cluster.get_fsid())
            if fsid != zero:
                return fsid
            time.sleep(0.02)
        return str(self.cluster.conf_get("fsid") or zero)

    def pool(self, name: str, namespace: str = "") -> RadosPool:
        rados = _rados()
        key = (name, namespace)
        if key not in self._ioctxs:
            try:
                ioctx = self.cluster.open_ioctx(name)
            except rados.ObjectNotFound:
                raise NotFoundError(f"pool {name!r} does not exist") from None
            except rados.Error as exc:
                raise StoreError(f"cannot open pool {name!r}: {exc}") from exc
            ioctx.set_namespace(namespace)
            self._ioctxs[key] = ioctx
        ioctx = self._ioctxs[key]
        return RadosPool(self, name, int(ioctx.get_pool_id()) if hasattr(ioctx, "get_pool_id")
                         else int(self.cluster.pool_lookup(name)), namespace, ioctx)

    def pool_names(self) -> list[str]:
        return sorted(self.cluster.list_pools())

    def pool_name(self, pool_id: int) -> str:
        name = self.cluster.pool_reverse_lookup(pool_id)
        if name is None:
            raise NotFoundError(f"pool id {pool_id} does not exist")
        return str(name)

    def close(self) -> None:
        for ioctx in self._ioctxs.values():
            ioctx.close()
        self._ioctxs.clear()
        self.cluster.shutdown()

    def describe(self) -> str:
        return f"cluster {self.fsid} ({self.where})"
