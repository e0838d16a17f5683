"""Live clusters through python3-rados (the system package; see the README for the venv).

Object-class methods run in the OSDs (``Ioctx.execute``), so a live cluster
enforces Ceph's own invariants; their negative errnos become our error classes.
"""

from __future__ import annotations

import contextlib
import errno as E
import os
import threading
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
#: asynchronous calls in flight at a time (stat_many, omap_many)
AIO_WINDOW = 256
_EXEC_OUT = 64 << 20
#: the RADOS advisory lock journaltools' write commands hold (on the image header or journal header)
COMMAND_LOCK_NAME = "journaltools"
#: seconds the lock lives without renewal: a command killed with -9 leaves it for at most this long
COMMAND_LOCK_LEASE = 30
_LOCK_FLAG_MAY_RENEW = 1  # cls_lock LOCK_FLAG_MAY_RENEW
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


def _serial() -> bool:
    """$JOURNALTOOLS_SERIAL_STATS=1: bulk stats and omap reads one after the other (benchmarks compare)."""
    return os.environ.get("JOURNALTOOLS_SERIAL_STATS") == "1"


class RadosPool(Pool):
    store: RadosStore

    def __init__(self, store: RadosStore, name: str, pool_id: int, namespace: str, ioctx: Any) -> None:
        self.store = store
        self.name = name
        self.pool_id = pool_id
        self.namespace = namespace
        self.ioctx = ioctx
        self._object_count: int | None = None

    def _fail(self, exc: Exception | int, oid: str, what: str) -> JournalToolsError:
        """Our error for a failed call on ``oid`` (a rados exception, or a negative errno an aio call returned)."""
        code = abs(exc) if isinstance(exc, int) else getattr(exc, "errno", None) or E.EIO
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

    def submit_read(self, oid: str, offset: int, length: int) -> PendingRead:
        """Start ``read(oid, offset, length)`` (librados aio); its :meth:`PendingRead.result` waits for it."""
        pending = PendingRead(self, oid)
        try:
            pending.completion = self.ioctx.aio_read(oid, length, offset, pending.done)
        except _rados().Error as exc:
            pending.error = self._fail(exc, oid, "read of")
        return pending

    def submit_stat(self, oid: str) -> PendingStat:
        """Start ``stat(oid)`` (librados aio); :meth:`PendingStat.size` waits for it (None: it failed)."""
        pending = PendingStat()
        try:
            pending.completion = self.ioctx.aio_stat(oid, pending.done)
        except _rados().Error:
            pending.completion = None
        return pending

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

    def list_all_namespaces(self) -> Iterator[tuple[str, str]]:
        rados = _rados()
        ioctx = self.store.cluster.open_ioctx(self.name)  # a context of its own: namespace ALL for the listing only
        try:
            ioctx.set_namespace(rados.LIBRADOS_ALL_NSPACES)
            found = [(o.nspace or "", o.key) for o in ioctx.list_objects()]
        except rados.Error as exc:
            raise error_for(getattr(exc, "errno", E.EIO), f"listing pool {self.name} failed") from exc
        finally:
            ioctx.close()
        return iter(found)

    def _in_parallel(self, oids: Iterable[str], start: Any) -> None:
        """Run ``start(oid)`` (which issues one aio call and returns its completion) for every oid,
        :data:`AIO_WINDOW` in flight at a time."""
        window: list[Any] = []
        for oid in oids:
            window.append(start(oid))
            if len(window) >= AIO_WINDOW:
                for completion in window:
                    completion.wait_for_complete_and_cb()
                window.clear()
        for completion in window:
            completion.wait_for_complete_and_cb()

    def stat_many(self, oids: Iterable[str]) -> dict[str, int | None]:
        if _serial():
            return super().stat_many(oids)
        rados = _rados()
        sizes: dict[str, int | None] = {}

        def start(oid: str) -> Any:
            def done(completion: Any, size: int | None, mtime: Any) -> None:
                sizes[oid] = None if size is None else int(size)

            return self.ioctx.aio_stat(oid, done)

        try:
            self._in_parallel(oids, start)
        except rados.Error as exc:
            raise error_for(getattr(exc, "errno", E.EIO), f"stat of objects in pool {self.describe()} failed") from exc
        return sizes

    def omap_many(self, oids: Iterable[str]) -> dict[str, dict[str, bytes] | None]:
        if _serial():
            return super().omap_many(oids)
        rados = _rados()
        maps: dict[str, dict[str, bytes] | None] = {}
        full: list[str] = []

        def start(oid: str) -> Any:
            op = rados.ReadOpCtx()
            op.create()  # what `with ReadOpCtx()` does on entry; released in the callback
            it, _ = self.ioctx.get_omap_vals(op, "", "", _OMAP_PAGE)

            def done(completion: Any) -> None:
                try:
                    if completion.get_return_value() < 0:
                        maps[oid] = None
                        return
                    page = {(k if isinstance(k, str) else k.decode()): bytes(v) for k, v in it}
                    maps[oid] = page
                    if len(page) >= _OMAP_PAGE:
                        full.append(oid)  # more than a page: read it whole below
                finally:
                    op.release()

            return self.ioctx.operate_aio_read_op(op, oid, done)

        try:
            self._in_parallel(oids, start)
        except rados.Error as exc:
            raise error_for(getattr(exc, "errno", E.EIO), f"omap read of objects in pool {self.describe()} failed") from exc
        for oid in full:
            try:
                maps[oid] = self.omap(oid)
            except NotFoundError:
                maps[oid] = None
        return maps

    def omap_items(self, oid: str, prefix: str = "", start_after: str = "") -> Iterator[tuple[str, bytes]]:
        rados = _rados()
        items: list[tuple[str, bytes]] = []
        after = start_after
        try:  # no stat first: the read op itself fails with ENOENT for a missing object (one round trip, not two)
            while True:
                with rados.ReadOpCtx() as op:
                    it, _ = self.ioctx.get_omap_vals(op, after, prefix, _OMAP_PAGE)
                    self.ioctx.operate_read_op(op, oid)
                    # python-rados gives None for an empty value (rados_omap_get_next's NULL buffer)
                    page = [(k if isinstance(k, str) else k.decode(), bytes(v) if v is not None else b"")
                            for k, v in it]
                items.extend(page)
                if len(page) < _OMAP_PAGE:
                    break
                after = page[-1][0]
        except rados.Error as exc:
            raise self._fail(exc, oid, "omap read of") from exc
        return iter(items)

    def omap_get(self, oid: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The values of ``keys`` (those that exist) in one read op: not the whole omap (rbd_directory may be large)."""
        rados = _rados()
        wanted = tuple(dict.fromkeys(keys))
        if not wanted:
            return {}
        try:
            with rados.ReadOpCtx() as op:
                it, _ = self.ioctx.get_omap_vals_by_keys(op, wanted)
                self.ioctx.operate_read_op(op, oid)
                return {(k if isinstance(k, str) else k.decode()): bytes(v) if v is not None else b"" for k, v in it}
        except rados.Error as exc:
            raise self._fail(exc, oid, "omap read of") from exc

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

    @property
    def knows_watchers(self) -> bool:  # type: ignore[override]
        """An image header's watchers come from python3-rbd (python3-rados cannot list watchers)."""
        try:
            import rbd  # noqa: F401
        except ImportError:
            return False
        return True

    def watchers(self, oid: str) -> list[dict[str, object]]:
        """Watchers of an image header (``rbd_header.<id>``), as ``rbd status`` lists them; [] for other objects."""
        if not oid.startswith("rbd_header.") or not self.knows_watchers:
            return []
        import rbd

        try:
            with rbd.Image(self.ioctx, image_id=oid[len("rbd_header."):], read_only=True) as image:
                return [{"address": w["addr"], "client": w["id"], "cookie": w["cookie"]} for w in image.watchers_list()]
        except rbd.Error as exc:
            code = getattr(exc, "errno", None) or E.EIO
            raise error_for(code, f"listing the watchers of {oid} in pool {self.describe()}") from exc

    # -- command-long locks and the image's users -------------------------------------
    @contextlib.contextmanager
    def command_lock(self, oid: str, holder: str) -> Iterator[None]:
        """cls_lock exclusive lock ``journaltools`` on ``oid`` for the whole command, renewed in the background.

        The lease (:data:`COMMAND_LOCK_LEASE`) is renewed every third of it while the command runs,
        so a killed command's lock expires by itself.  An object that does not exist is not locked
        (cls_lock would create it).
        """
        key = (self.name, self.namespace, oid)
        depth = self.store._command_locks.get(key, 0)
        if depth:
            self.store._command_locks[key] = depth + 1
            try:
                yield
            finally:
                self.store._command_locks[key] -= 1
            return
        if not self.exists(oid):
            yield
            return
        import uuid  # here: a read command's start-up does not pay for it (uuid imports platform)

        rados = _rados()
        cookie = uuid.uuid4().hex
        try:
            self.ioctx.lock_exclusive(oid, COMMAND_LOCK_NAME, cookie, holder[:200], COMMAND_LOCK_LEASE, 0)
        except rados.Error as exc:
            code = getattr(exc, "errno", None) or E.EIO
            if code in (E.EBUSY, E.EEXIST):
                who = "; ".join(self.lock_holders(oid, COMMAND_LOCK_NAME)) or "another client"
                raise BusyError(f"{oid} in pool {self.describe()} is locked by {who}; try again when it has "
                                f"finished (a killed command's lock expires within {COMMAND_LOCK_LEASE} s)") from None
            raise self._fail(exc, oid, "lock of") from exc
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(COMMAND_LOCK_LEASE / 3):
                with contextlib.suppress(rados.Error):
                    self.ioctx.lock_exclusive(oid, COMMAND_LOCK_NAME, cookie, holder[:200], COMMAND_LOCK_LEASE,
                                              _LOCK_FLAG_MAY_RENEW)

        renewer = threading.Thread(target=renew, name=f"lock-renew-{oid}", daemon=True)
        renewer.start()
        self.store._command_locks[key] = 1
        try:
            yield
        finally:
            self.store._command_locks.pop(key, None)
            stop.set()
            renewer.join()
            with contextlib.suppress(rados.Error):
                self.ioctx.unlock(oid, COMMAND_LOCK_NAME, cookie)

    def lock_info(self, oid: str, name: str) -> Any:
        """cls ``lock.get_info`` of lock ``name`` on ``oid`` (decoded), or None when there is none."""
        from ..format.cls_lock import GetInfoOp, GetInfoReply
        from ..format.primitives import decode, encode

        try:
            out = self.execute(oid, "lock", "get_info", encode(GetInfoOp, {"name": name}))
        except (NotFoundError, JournalToolsError):
            return None
        try:
            return decode(GetInfoReply, out, type_name="cls_lock_get_info_reply", allow_trailing=True)
        except JournalToolsError:
            return None

    def lock_holders(self, oid: str, name: str) -> list[str]:
        """``client.4123 at 10.0.0.1:0/1234 (cookie ..., "description")`` for each holder of lock ``name``."""
        from ..format.cls_lock import entity_text

        info = self.lock_info(oid, name)
        holders = []
        for item in (info or {}).get("lockers", []):
            desc = item["info"]["description"]
            holders.append(f"{entity_text(item['id']['locker'])} at {item['info']['addr']} "
                           f"(cookie {item['id']['cookie']!r}{', ' + desc if desc else ''})")
        return holders

    def image_users(self, image_id: str) -> list[dict[str, str]] | None:
        """Watchers of ``rbd_header.<id>`` and holders of its ``rbd_lock`` (the exclusive lock), through python3-rbd."""
        from ..format.cls_lock import entity_text

        header = f"rbd_header.{image_id}"
        users: list[dict[str, str]] = []
        info = self.lock_info(header, "rbd_lock")
        for item in (info or {}).get("lockers", []):
            users.append({"client": entity_text(item["id"]["locker"]), "address": item["info"]["addr"],
                          "cookie": item["id"]["cookie"],
                          "what": "exclusive lock" if str(item["id"]["cookie"]).startswith("auto ") else "lock"})
        try:
            watchers = self.watchers(header)
        except JournalToolsError:  # not an image librbd can open: its lock holders are all we know
            watchers = []
        for w in watchers:
            users.append({"client": f"client.{w['client']}", "address": str(w["address"]), "cookie": str(w["cookie"]),
                          "what": "watcher"})
        return users

    def notify(self, oid: str, payload: bytes = b"", timeout_ms: int = 5000) -> None:
        try:
            self.ioctx.notify(oid, payload.decode("latin-1"), timeout_ms)
        except _rados().Error as exc:
            raise self._fail(exc, oid, "notify of") from exc


class PendingRead:
    """One asynchronous chunk read of :meth:`RadosPool.submit_read`: the bytes, or the error
    :meth:`RadosPool.read` would raise for the same read (the same text: a walk reports the same problem)."""

    __slots__ = ("completion", "data", "error", "oid", "pool")

    def __init__(self, pool: RadosPool, oid: str) -> None:
        self.pool = pool
        self.oid = oid
        self.completion: Any = None
        self.data: bytes | None = None
        self.error: JournalToolsError | None = None

    def done(self, completion: Any, data: bytes | None) -> None:  # librados' finisher thread, with the GIL
        self.data = data

    def finished(self) -> bool:
        return self.completion is None or bool(self.completion.is_complete())

    def result(self) -> bytes:
        if self.completion is not None:
            self.completion.wait_for_complete_and_cb()  # releases the GIL while it waits
            code = self.completion.get_return_value()
            self.completion = None
            if code < 0:
                self.error = self.pool._fail(code, self.oid, "read of")
        if self.error is not None:
            raise self.error
        return self.data or b""


class PendingStat:
    """One asynchronous stat of :meth:`RadosPool.submit_stat`."""

    __slots__ = ("completion", "value")

    def __init__(self) -> None:
        self.completion: Any = None
        self.value: int | None = None

    def done(self, completion: Any, size: int | None, mtime: Any) -> None:
        self.value = None if size is None else int(size)

    def finished(self) -> bool:
        return self.completion is None or bool(self.completion.is_complete())

    def size(self) -> int | None:
        if self.completion is not None:
            self.completion.wait_for_complete_and_cb()
            if self.completion.get_return_value() < 0:
                self.value = None
            self.completion = None
        return self.value


ZERO_FSID = "00000000-0000-0000-0000-000000000000"


def cluster_fsid(cluster: Any, timeout: float = 15, poll_for: float = 2.0) -> str | None:
    """The fsid of a connected cluster, or None when it cannot be learnt: never the zero uuid.

    librados takes the fsid from the first monmap, which may arrive only just after ``connect()``
    returns; until then ``get_fsid()`` gives zeros (about 1 connect in 8 on a sandbox, for a
    millisecond or so).  Poll it for up to ``poll_for`` seconds, then ask a monitor (``ceph fsid``).
    """
    import time

    deadline = time.monotonic() + poll_for
    delay = 0.001
    while True:
        try:
            fsid = str(cluster.get_fsid())
        except Exception:  # noqa: BLE001 - any failure here only means "not known yet"
            fsid = ZERO_FSID
        if fsid and fsid != ZERO_FSID:
            return fsid
        if time.monotonic() >= deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    import json  # only now: start-up does not pay for it when the monmap has come

    try:
        ret, out, _ = cluster.mon_command(json.dumps({"prefix": "fsid", "format": "json"}), b"", timeout=int(timeout))
        fsid = str(json.loads(out)["fsid"]) if ret == 0 else ""
    except Exception:  # noqa: BLE001 - a monitor that does not answer leaves the fsid unknown
        return None
    return fsid if fsid and fsid != ZERO_FSID else None


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
        self._command_locks: dict[tuple[str, str, str], int] = {}
        self.fsid = cluster_fsid(self.cluster, timeout)
        self.where = where

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
        return f"cluster {self.fsid or '(fsid unknown)'} ({self.where})"
