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
A write command holds, for its whole run, the ``flock`` of one lock file per journal
or image (``<pool>/[namespaces/<ns>/]locks/.lock.<oid>``, :meth:`DirectoryPool.command_lock`).

The store never steps outside its directory: every pool name, namespace and object
name is checked to be a name (:func:`check_name`), no write follows a symbolic link
(files are opened with ``O_NOFOLLOW``, directories on the way are checked), and a
FIFO, device, socket or directory where an object file belongs is an error, found
before anything is read or written (:meth:`DirectoryPool.check_layout`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import mmap
import os
import stat as st
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import BusyError, ExistsError, NotFoundError, SpecError, StoreError
from .base import OfflinePool, Store

if TYPE_CHECKING:
    from pathlib import Path

# pathlib and orjson (writes only) are imported where used: a live command that only writes a file (atomic_file)
# does not pay for them (pathlib imports urllib.parse and ipaddress) at start-up

_NAME_MAX = 255  # bytes of one file name (ext4, xfs)


def check_name(name: str, what: str) -> str:
    """``name`` if it can be one path component (a pool or namespace directory), else SpecError.

    Refused: empty, ``.``/``..``, a ``/``, NUL or other control character, more than 255 bytes.
    """
    if (not name or name in (".", "..") or "/" in name or any(ord(c) < 32 or ord(c) == 127 for c in name)
            or len(name.encode("utf-8", "surrogateescape")) > _NAME_MAX):
        raise SpecError(f"invalid {what} name {name!r}: not a name (no '/', '.', '..', control characters, "
                        f"at most {_NAME_MAX} bytes)")
    return name


def check_oid(oid: str) -> str:
    """``oid`` if the directory store can hold an object of that name (any name but empty or with NUL)."""
    if not oid or "\0" in oid:
        raise SpecError(f"invalid object name {oid!r}")
    if len(_fname(oid).encode("utf-8", "surrogateescape")) + 5 > _NAME_MAX:  # + ".json"
        raise SpecError(f"object name {oid[:40]!r}... is longer than a directory store can hold")
    return oid


def _fname(oid: str) -> str:
    name = oid.replace("%", "%25").replace("/", "%2F")
    return "%2E" + name[1:] if name.startswith(".") else name


def _kind(mode: int) -> str:
    if st.S_ISLNK(mode):
        return "a symbolic link"
    if st.S_ISDIR(mode):
        return "a directory"
    if st.S_ISFIFO(mode):
        return "a FIFO"
    if st.S_ISSOCK(mode):
        return "a socket"
    if st.S_ISCHR(mode) or st.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """Open ``path`` without following a symlink and without blocking on a FIFO; a regular file only."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last component is a symlink
            raise StoreError(f"refusing {path}: it is a symbolic link, not a file of the store") from None
        if isinstance(exc, FileNotFoundError):
            raise
        raise StoreError(f"cannot open {path}: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not st.S_ISREG(info.st_mode):
        os.close(fd)
        raise StoreError(f"refusing {path}: it is {_kind(info.st_mode)}, not a file of the store")
    os.set_blocking(fd, True)
    return fd


def _real_dir(path: Path, stop: Path) -> None:
    """Create ``path`` (below ``stop``) as real directories; a symlink or file on the way is an error."""
    parts = path.relative_to(stop).parts
    current = stop
    for part in parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(current)
            info = os.lstat(current)
        if not st.S_ISDIR(info.st_mode):
            raise StoreError(f"refusing {current}: it is {_kind(info.st_mode)}, where the store keeps a directory")


def _oid(fname: str) -> str:
    return fname.replace("%2E", ".", 1 if fname.startswith("%2E") else 0).replace("%2F", "/").replace("%25", "%")


def _create_temporary(directory: str | os.PathLike[str], prefix: str) -> tuple[int, str]:
    """A new file ``prefix`` + 12 random hex digits in ``directory``, mode 0600, opened for writing (as
    ``tempfile.mkstemp``, whose import of shutil, random, bz2 and lzma would cost every export start-up)."""
    for _ in range(100):
        name = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name in {directory}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], buffering: int = -1, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only when the block completes: written to a
    temporary name in the same directory, fsynced, renamed over ``path``, directory fsynced.
    An error (or a crash) leaves ``path`` as it was.  (os.path, not pathlib: an export's start-up.)"""
    path = os.fspath(path)
    path = path.rstrip("/") or path
    parent = os.path.dirname(path) or "."
    os.makedirs(parent, exist_ok=True)
    fd, tmp = _create_temporary(parent, ".tmp-" + os.path.basename(path)[:40] + ".")
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
    fsync_dir(parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as fh:
        fh.write(data)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_file(path: Path, offset: int = 0, length: int | None = None) -> bytes:
    """Bytes of a regular file of the store (FileNotFoundError when absent)."""
    fd = _open_regular(path, os.O_RDONLY)
    try:
        with os.fdopen(fd, "rb") as fh:
            fh.seek(offset)
            return fh.read() if length is None else fh.read(length)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc


def _loads(raw: bytes) -> Any:
    """A small JSON file of the store (pool metadata, an omap), parsed with the standard library's json:
    importing orjson (it imports dataclasses, datetime, uuid, ...) costs 10-15 ms here, more than every
    read of a walk's start; writes keep orjson.  ValueError when ``raw`` is not JSON in UTF-8."""
    import json

    return json.loads(raw)


def _load_b64_map(path: Path) -> dict[str, bytes]:
    try:
        raw = _read_file(path)
    except FileNotFoundError:
        return {}
    try:
        doc = _loads(raw)
    except ValueError as exc:
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
    import orjson

    doc = {k: base64.b64encode(values[k]).decode("ascii") for k in sorted(values)}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


class DirectoryPool(OfflinePool):
    store: DirectoryStore

    def __init__(self, store: DirectoryStore, name: str, pool_id: int, namespace: str = "") -> None:
        self.store = store
        self.name = check_name(name, "pool")
        self.pool_id = pool_id
        self.namespace = check_name(namespace, "namespace") if namespace else ""
        self.pool_dir = store.root / name
        self.root = self.pool_dir / "namespaces" / namespace if namespace else self.pool_dir

    # paths
    def _obj(self, oid: str) -> Path:
        return self.root / "objects" / _fname(check_oid(oid))

    def _omap(self, oid: str) -> Path:
        return self.root / "omap" / (_fname(check_oid(oid)) + ".json")

    def _xattr(self, oid: str) -> Path:
        return self.root / "xattr" / (_fname(check_oid(oid)) + ".json")

    def _dir(self, kind: str) -> Path:
        """``objects``/``omap``/``xattr`` of this pool, created as real directories for a write."""
        path = self.root / kind
        _real_dir(path, self.store.root)
        return path

    def _missing(self, oid: str) -> NotFoundError:
        return NotFoundError(f"object {oid} does not exist in pool {self.describe()} ({self.store.root})")

    def _present(self, path: Path) -> bool:
        """Whether a file of the store is there; anything but a regular file is an error."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot stat {path}: {exc.strerror}") from exc
        if not st.S_ISREG(info.st_mode):
            raise StoreError(f"refusing {path}: it is {_kind(info.st_mode)}, not a file of the store")
        return True

    def exists(self, oid: str) -> bool:
        return self._present(self._obj(oid)) or self._present(self._omap(oid))

    def _ensure(self, oid: str) -> None:
        if not self.exists(oid):
            self._write(self._obj(oid), b"")

    def _write(self, path: Path, data: bytes) -> None:
        _real_dir(path.parent, self.store.root)
        atomic_write(path, data)

    def check_layout(self) -> None:
        """Every entry of this pool's ``objects``/``omap``/``xattr`` directories is a regular file.

        Write commands call this (through the write guard) before changing anything, so a FIFO,
        device, directory or symlink among the objects stops them before the first write or removal.
        """
        for kind in ("objects", "omap", "xattr"):
            path = self.root / kind
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if not st.S_ISDIR(info.st_mode):
                raise StoreError(f"refusing {path}: it is {_kind(info.st_mode)}, where the store keeps a directory")
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.name.startswith(".tmp-"):
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        mode = entry.stat(follow_symlinks=False).st_mode
                        raise StoreError(f"refusing to write pool {self.describe()}: {entry.path} is {_kind(mode)}, "
                                         f"not a file of the store")

    # data
    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._obj(oid)
        try:
            return _read_file(path, offset, length)
        except FileNotFoundError:
            return self._data_of_absent_file(oid)

    def _data_of_absent_file(self, oid: str) -> bytes:
        """What reading ``oid`` gives when its data file is not there: nothing, when the object exists with
        only an omap; else :class:`NotFoundError`."""
        if self._present(self._omap(oid)):
            return b""
        raise self._missing(oid) from None

    def read_chunks(self, oid: str, chunk_size: int) -> Iterator[bytes]:
        """:meth:`read`'s chunks from one open of the file (a ``pread`` per chunk: the read-ahead's reader
        thread takes the GIL once per chunk, not for an open, a stat and a close each time)."""
        path = self._obj(oid)
        try:
            fd = _open_regular(path, os.O_RDONLY)
        except FileNotFoundError:
            yield self._data_of_absent_file(oid)
            return
        try:
            offset = 0
            while True:
                try:
                    data = os.pread(fd, chunk_size, offset)
                    while 0 < len(data) < chunk_size:  # a regular file reads short only at its end
                        more = os.pread(fd, chunk_size - len(data), offset + len(data))
                        if not more:
                            break
                        data += more
                except OSError as exc:
                    raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
                yield data
                if len(data) < chunk_size:
                    return
                offset += chunk_size
        finally:
            os.close(fd)

    def map_object(self, oid: str) -> bytes | mmap.mmap | None:
        """The object's file mapped read-only (``b""`` when it is empty; what :meth:`read` gives when it is
        absent; None when the file cannot be mapped: read it).  Safe against the store's own writers: they
        replace a file by renaming a new one over it or append to it, never truncate it in place, so the
        mapped pages stay valid (a mapping is a snapshot of the file's length when it was made)."""
        path = self._obj(oid)
        try:
            fd = _open_regular(path, os.O_RDONLY)
        except FileNotFoundError:
            return self._data_of_absent_file(oid)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return b""
            return mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        except OSError:
            return None  # a file system that cannot map it (or no address space left): the caller reads it
        finally:
            os.close(fd)

    def prefetch(self, oids: Iterable[str]) -> None:
        """Start the kernel reading the files of ``oids`` into the page cache (``POSIX_FADV_WILLNEED``), so a
        mapped scan of a journal that is not cached yet does not wait on each page in turn."""
        for oid in oids:
            try:
                fd = _open_regular(self._obj(oid), os.O_RDONLY)
            except (OSError, StoreError):
                continue  # only a hint: the read reports what is wrong
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    def stat(self, oid: str) -> int:
        path = self._obj(oid)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if self._present(self._omap(oid)):
                return 0
            raise self._missing(oid) from None
        if not st.S_ISREG(info.st_mode):
            raise StoreError(f"refusing {path}: it is {_kind(info.st_mode)}, not a file of the store")
        return info.st_size

    def create(self, oid: str, exclusive: bool = False) -> None:
        if self.exists(oid):
            if exclusive:
                raise ExistsError(f"object {oid} already exists in pool {self.describe()}")
            return
        self._write(self._obj(oid), b"")

    def append(self, oid: str, data: bytes) -> None:
        path = self._obj(oid)
        _real_dir(path.parent, self.store.root)
        created = not self._present(path)
        fd = _open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)

    def write_full(self, oid: str, data: bytes) -> None:
        path = self._obj(oid)
        self._present(path)  # a FIFO or directory there is an error, not replaced
        self._write(path, data)

    def remove(self, oid: str) -> None:
        paths = (self._obj(oid), self._omap(oid), self._xattr(oid))
        present = [p for p in paths if self._present(p)]  # every file checked before the first removal
        if not any(p in present for p in paths[:2]):
            raise self._missing(oid)
        for path in present:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        fsync_dir(self.root / "objects") if (self.root / "objects").is_dir() else None

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
            self._write(self._omap(oid), _dump_b64_map(omap))

    def omap_remove(self, oid: str, keys: Iterable[str]) -> None:
        with self.locked():
            if not self.exists(oid):
                raise self._missing(oid)
            omap = _load_b64_map(self._omap(oid))
            for key in keys:
                omap.pop(key, None)
            self._write(self._omap(oid), _dump_b64_map(omap))

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
            self._write(self._xattr(oid), _dump_b64_map(attrs))

    def replace_object(self, oid: str, data: bytes, omap: Mapping[str, bytes], xattrs: Mapping[str, bytes]) -> None:
        """Make ``oid`` exactly this: bytes, omap and xattrs (keys not given are removed), each file atomic."""
        with self.locked():
            self._present(self._obj(oid))
            self._write(self._obj(oid), data)
            for path, values in ((self._omap(oid), omap), (self._xattr(oid), xattrs)):
                if values:
                    self._write(path, _dump_b64_map(values))
                elif self._present(path):
                    path.unlink()

    def _lock_fd(self, path: Path) -> int:
        _real_dir(path.parent, self.store.root)
        return _open_regular(path, os.O_RDWR | os.O_CREAT)

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
        fd = self._lock_fd(self.pool_dir / ".lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.store._lock_depth[self.name] = 1
            try:
                yield
            finally:
                self.store._lock_depth[self.name] = 0
        finally:
            os.close(fd)

    def command_lock_path(self, oid: str) -> Path:
        return self.root / "locks" / (".lock." + _fname(check_oid(oid)))

    @contextlib.contextmanager
    def command_lock(self, oid: str, holder: str) -> Iterator[None]:
        """``flock`` (non-blocking) of ``locks/.lock.<oid>`` for the whole command; the holder is written in it.

        The kernel drops the lock when its process ends, however it ends: nothing stale is left.
        """
        path = self.command_lock_path(oid)
        key = str(path)
        if self.store._command_locks.get(key):
            self.store._command_locks[key] += 1
            try:
                yield
            finally:
                self.store._command_locks[key] -= 1
            return
        fd = self._lock_fd(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
                raise BusyError(f"{oid} in pool {self.describe()} is locked by {who}; try again when it has "
                                f"finished") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode() + b"\n", 0)
            self.store._command_locks[key] = 1
            try:
                yield
            finally:
                self.store._command_locks.pop(key, None)
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)


class DirectoryStore(Store):
    """Pools as directories below ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from pathlib import Path

        self.root = Path(root)
        if not self.root.is_dir():
            raise NotFoundError(f"store directory {self.root} does not exist")
        self._metas: dict[str, dict[str, Any]] | None = None
        self._lock_depth: dict[str, int] = {}
        self._command_locks: dict[str, int] = {}

    def _meta(self) -> dict[str, dict[str, Any]]:
        if self._metas is None:
            metas: dict[str, dict[str, Any]] = {}
            for child in sorted(self.root.iterdir()):
                meta_path = child / "meta.json"
                if not (child.is_dir() and meta_path.is_file()):
                    continue
                try:
                    meta = _loads(meta_path.read_bytes())
                except (ValueError, OSError) as exc:
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
        check_name(name, "pool")
        if namespace:
            check_name(namespace, "namespace")
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
        pool_dir = self.root / check_name(name, "pool")
        _real_dir(pool_dir, self.root)
        meta: dict[str, Any] = {"pool": name, "pool_id": pool_id, "fsid": fsid}
        if ceph_version:
            meta["ceph_version"] = ceph_version
        import orjson

        atomic_write(pool_dir / "meta.json", orjson.dumps(meta) + b"\n")
        self._metas = None
        return self.pool(name)

    def describe(self) -> str:
        return f"directory store {self.root}"
