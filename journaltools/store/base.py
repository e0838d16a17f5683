"""The object store protocol: RADOS as journaltools needs it.

A :class:`Store` is a cluster (or a directory standing in for one): pools by name
and id, and the cluster fsid when known.  A :class:`Pool` is an I/O context on one
pool and RADOS namespace, with object bytes, omap, xattrs, object listing and
``execute`` for object-class methods.

Offline backends (directory, memory) derive from :class:`OfflinePool`, which runs
object-class methods through :mod:`journaltools.cls.emulation`, so the same
invariants hold with or without a cluster.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..errors import NotFoundError

if TYPE_CHECKING:
    import mmap


class Pool(abc.ABC):
    """One pool (and RADOS namespace) of a :class:`Store`."""

    name: str
    pool_id: int
    namespace: str
    store: Store

    # -- object data -------------------------------------------------------
    @abc.abstractmethod
    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of ``oid`` from ``offset`` (all of them when ``length`` is None).

        Raises :class:`NotFoundError` when the object does not exist.
        """

    def read_chunks(self, oid: str, chunk_size: int) -> Iterator[bytes]:
        """``read(oid, k * chunk_size, chunk_size)`` for k = 0, 1, ... up to the first short one (the
        object's end), as the read-ahead fetches an object; an error is raised where its read is."""
        offset = 0
        while True:
            data = self.read(oid, offset, chunk_size)
            yield data
            if len(data) < chunk_size:
                return
            offset += chunk_size

    def map_object(self, oid: str) -> bytes | mmap.mmap | None:
        """The whole of ``oid`` as a read-only buffer mapped from the store's own file, for a reader that
        scans an object in place (no copy, no fresh memory); None when this backend keeps no such file
        (the default).  Raises :class:`NotFoundError` as :meth:`read` does."""
        del oid
        return None

    def prefetch(self, oids: Iterable[str]) -> None:
        """Tell the store that ``oids`` will be read soon (a hint; the default does nothing)."""
        del oids

    @abc.abstractmethod
    def stat(self, oid: str) -> int:
        """Size of ``oid`` in bytes; :class:`NotFoundError` when absent."""

    def exists(self, oid: str) -> bool:
        try:
            self.stat(oid)
        except NotFoundError:
            return False
        return True

    @abc.abstractmethod
    def create(self, oid: str, exclusive: bool = False) -> None:
        """Create an empty object (``exclusive``: fail with ExistsError when present)."""

    @abc.abstractmethod
    def append(self, oid: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def write_full(self, oid: str, data: bytes) -> None:
        """Replace the whole content of ``oid`` atomically (omap and xattrs kept)."""

    @abc.abstractmethod
    def remove(self, oid: str) -> None:
        """Remove ``oid`` with its omap and xattrs; :class:`NotFoundError` when absent."""

    @abc.abstractmethod
    def list_objects(self, prefix: str = "") -> Iterator[str]:
        """Names of the objects in this pool/namespace starting with ``prefix`` (sorted)."""

    def list_all_namespaces(self) -> Iterator[tuple[str, str]]:
        """(namespace, name) of every object in every RADOS namespace of this pool (unsorted)."""
        return ((self.namespace, name) for name in self.list_objects())

    def stat_many(self, oids: Iterable[str]) -> dict[str, int | None]:
        """Sizes of many objects (None: absent); live pools send the stats in parallel."""
        sizes: dict[str, int | None] = {}
        for oid in oids:
            try:
                sizes[oid] = self.stat(oid)
            except NotFoundError:
                sizes[oid] = None
        return sizes

    def omap_many(self, oids: Iterable[str]) -> dict[str, dict[str, bytes] | None]:
        """Whole omaps of many objects (None: absent); live pools send the reads in parallel."""
        maps: dict[str, dict[str, bytes] | None] = {}
        for oid in oids:
            try:
                maps[oid] = self.omap(oid)
            except NotFoundError:
                maps[oid] = None
        return maps

    def listing_is_cheap(self) -> bool:
        """Whether :meth:`list_objects` is cheap enough to find a journal's objects.

        A live pool lists every object it holds (there is no server-side prefix filter), so a
        reader of one journal in a pool of millions of image objects probes object names instead.
        """
        return True

    # -- omap ----------------------------------------------------------------
    @abc.abstractmethod
    def omap_items(self, oid: str, prefix: str = "", start_after: str = "") -> Iterator[tuple[str, bytes]]:
        """Omap entries of ``oid`` in key order; :class:`NotFoundError` when the object is absent."""

    def omap_get(self, oid: str, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = set(keys)
        return {k: v for k, v in self.omap_items(oid) if k in wanted}

    def omap(self, oid: str) -> dict[str, bytes]:
        return dict(self.omap_items(oid))

    @abc.abstractmethod
    def omap_set(self, oid: str, values: Mapping[str, bytes]) -> None:
        """Set omap keys (creating the object when needed), atomically."""

    @abc.abstractmethod
    def omap_remove(self, oid: str, keys: Iterable[str]) -> None: ...

    # -- xattrs --------------------------------------------------------------
    @abc.abstractmethod
    def xattrs(self, oid: str) -> dict[str, bytes]: ...

    @abc.abstractmethod
    def xattr_set(self, oid: str, name: str, value: bytes) -> None: ...

    # -- object classes ------------------------------------------------------
    @abc.abstractmethod
    def execute(self, oid: str, cls: str, method: str, data: bytes = b"") -> bytes:
        """Run object-class method ``cls.method`` on ``oid`` with encoded input ``data``.

        Failures raise the :mod:`journaltools.errors` class matching the errno.
        """

    # -- watchers (best effort) ---------------------------------------------
    #: whether :meth:`watchers` can know the watchers (offline stores cannot)
    knows_watchers: bool = False

    def watchers(self, oid: str) -> list[dict[str, object]]:
        """Watchers of ``oid`` (address, client, cookie) where the backend can know them."""
        return []

    def notify(self, oid: str, payload: bytes = b"", timeout_ms: int = 5000) -> None:
        """Send a watch/notify to ``oid`` where the backend has watchers; no-op offline."""

    # -- command-long locks (see journaltools.write_guard) -------------------
    def command_lock(self, oid: str, holder: str) -> contextlib.AbstractContextManager[None]:
        """Hold journaltools' exclusive lock named after ``oid`` for a whole command.

        ``holder`` says who holds it (command, pid, host): another writer that finds the
        lock held is refused with a :class:`~journaltools.errors.BusyError` naming it.
        Re-entrant within one store object.  This default (the memory store) has no other
        process to exclude.
        """
        return contextlib.nullcontext()

    def image_users(self, image_id: str) -> list[dict[str, str]] | None:
        """Clients using image ``image_id`` (watchers of its header, holders of its exclusive lock).

        Each is ``{"client": "client.4123", "address": ..., "what": "watcher" | "exclusive lock"
        | "lock", "cookie": ...}``.  None when the backend cannot know (offline stores: no live
        client can use a directory).
        """
        return None

    def with_namespace(self, namespace: str) -> Pool:
        return self.store.pool(self.name, namespace)

    def describe(self) -> str:
        return f"{self.name}/{self.namespace}" if self.namespace else self.name


class Store(abc.ABC):
    """A set of pools: a live cluster or an offline stand-in for one."""

    #: the cluster fsid, when known
    fsid: str | None = None

    @abc.abstractmethod
    def pool(self, name: str, namespace: str = "") -> Pool:
        """The pool named ``name``; :class:`NotFoundError` when there is none."""

    @abc.abstractmethod
    def pool_names(self) -> list[str]: ...

    @abc.abstractmethod
    def pool_name(self, pool_id: int) -> str:
        """Name of pool ``pool_id``; :class:`NotFoundError` when unknown."""

    def pool_by_id(self, pool_id: int, namespace: str = "") -> Pool:
        return self.pool(self.pool_name(pool_id), namespace)

    def close(self) -> None:
        """Release connections (live clusters)."""

    def describe(self) -> str:
        return type(self).__name__

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OfflinePool(Pool):
    """A pool that runs object-class methods through the project's own emulation."""

    def execute(self, oid: str, cls: str, method: str, data: bytes = b"") -> bytes:
        from ..cls.emulation import run_method

        with self.locked():
            return run_method(self, oid, cls, method, data)

    def locked(self):  # type: ignore[no-untyped-def]
        """A context manager serialising read-modify-write updates of this pool."""
        import contextlib

        return contextlib.nullcontext()
