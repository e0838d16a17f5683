"""In-memory object store, for tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..errors import ExistsError, NotFoundError
from .base import OfflinePool, Store


@dataclass
class _Object:
    data: bytearray = field(default_factory=bytearray)
    omap: dict[str, bytes] = field(default_factory=dict)
    xattrs: dict[str, bytes] = field(default_factory=dict)


class MemoryPool(OfflinePool):
    store: MemoryStore

    def __init__(self, store: MemoryStore, name: str, pool_id: int, namespace: str = "") -> None:
        self.store = store
        self.name = name
        self.pool_id = pool_id
        self.namespace = namespace

    @property
    def _objects(self) -> dict[str, _Object]:
        return self.store._data[self.name].setdefault(self.namespace, {})

    def _get(self, oid: str) -> _Object:
        try:
            return self._objects[oid]
        except KeyError:
            raise NotFoundError(f"object {oid} does not exist in pool {self.describe()}") from None

    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self._get(oid).data
        end = len(data) if length is None else offset + length
        return bytes(data[offset:end])

    def stat(self, oid: str) -> int:
        return len(self._get(oid).data)

    def create(self, oid: str, exclusive: bool = False) -> None:
        if oid in self._objects:
            if exclusive:
                raise ExistsError(f"object {oid} already exists in pool {self.describe()}")
            return
        self._objects[oid] = _Object()

    def append(self, oid: str, data: bytes) -> None:
        self._objects.setdefault(oid, _Object()).data.extend(data)

    def write_full(self, oid: str, data: bytes) -> None:
        self._objects.setdefault(oid, _Object()).data = bytearray(data)

    def remove(self, oid: str) -> None:
        self._get(oid)
        del self._objects[oid]

    def list_objects(self, prefix: str = "") -> Iterator[str]:
        return iter(sorted(o for o in self._objects if o.startswith(prefix)))

    def omap_items(self, oid: str, prefix: str = "", start_after: str = "") -> Iterator[tuple[str, bytes]]:
        omap = self._get(oid).omap
        keys = sorted(k for k in omap if k.startswith(prefix) and k > start_after)
        return iter([(k, omap[k]) for k in keys])

    def omap_set(self, oid: str, values: Mapping[str, bytes]) -> None:
        self._objects.setdefault(oid, _Object()).omap.update({k: bytes(v) for k, v in values.items()})

    def omap_remove(self, oid: str, keys: Iterable[str]) -> None:
        omap = self._get(oid).omap
        for key in keys:
            omap.pop(key, None)

    def xattrs(self, oid: str) -> dict[str, bytes]:
        return dict(self._get(oid).xattrs)

    def xattr_set(self, oid: str, name: str, value: bytes) -> None:
        self._get(oid).xattrs[name] = bytes(value)


class MemoryStore(Store):
    """Pools held in dictionaries; ``add_pool`` creates them."""

    def __init__(self, fsid: str | None = None) -> None:
        self.fsid = fsid
        self._data: dict[str, dict[str, dict[str, _Object]]] = {}
        self._ids: dict[str, int] = {}

    def add_pool(self, name: str, pool_id: int | None = None) -> MemoryPool:
        if pool_id is None:
            pool_id = max(self._ids.values(), default=0) + 1
        self._data.setdefault(name, {})
        self._ids[name] = pool_id
        return MemoryPool(self, name, pool_id)

    def pool(self, name: str, namespace: str = "") -> MemoryPool:
        if name not in self._data:
            raise NotFoundError(f"pool {name!r} does not exist")
        return MemoryPool(self, name, self._ids[name], namespace)

    def pool_names(self) -> list[str]:
        return sorted(self._data)

    def pool_name(self, pool_id: int) -> str:
        for name, pid in self._ids.items():
            if pid == pool_id:
                return name
        raise NotFoundError(f"pool id {pool_id} does not exist")

    def describe(self) -> str:
        return "memory store"
