"""Build small journals in a MemoryStore for unit tests, and copy fixture stores into memory."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from journaltools.format.cls_journal import Client, Tag, client_key, tag_key
from journaltools.format.journal_entry import encode_entry
from journaltools.format.librbd_journal import AIO_WRITE, make_event
from journaltools.format.primitives import encode, i64, u8, u64
from journaltools.store.memory import MemoryPool, MemoryStore

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture_store(name: str) -> MemoryStore:
    """A MemoryStore holding a copy of ``fixtures/stores/<name>`` (safe to damage)."""
    root = FIXTURES / "stores" / name
    store = MemoryStore()
    for pool_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = json.loads((pool_dir / "meta.json").read_text())
        store.fsid = meta.get("fsid")
        pool = store.add_pool(pool_dir.name, meta["pool_id"])
        for obj in sorted((pool_dir / "objects").iterdir()):
            pool.write_full(obj.name, obj.read_bytes())
        omap_dir = pool_dir / "omap"
        if omap_dir.is_dir():
            for f in sorted(omap_dir.iterdir()):
                values = {k: base64.b64decode(v) for k, v in json.loads(f.read_text()).items()}
                pool.omap_set(f.name[: -len(".json")], values)
    return store


def write_event(n: int, size: int = 16) -> bytes:
    """A real AioWrite EventEntry of ``size`` bytes at offset ``n * size``."""
    return make_event(AIO_WRITE, timestamp=(1764034225 + n, 0), offset=n * size, length=size, data=bytes([n % 256]) * size)


def write_header(pool: MemoryPool, journal_id: str, *, order: int = 12, splay_width: int = 2, pool_id: int = -1,
                 minimum_set: int = 0, active_set: int = 0, tags: int = 1,
                 clients: dict[str, list[tuple[int, int, int]]] | None = None) -> None:
    """Header omap of a journal with ``tags`` tags (class 0) and the given clients' commit positions."""
    values = {
        "order": encode(u8, order),
        "splay_width": encode(u8, splay_width),
        "pool_id": encode(i64, pool_id),
        "minimum_set": encode(u64, minimum_set),
        "active_set": encode(u64, active_set),
        "next_tag_tid": encode(u64, tags),
        "next_tag_class": encode(u64, 1),
    }
    for tid in range(tags):
        values[tag_key(tid)] = encode(Tag, {"tid": tid, "tag_class": 0, "data": b""})
    for cid, positions in (clients if clients is not None else {"": []}).items():
        values[client_key(cid)] = encode(Client, {
            "id": cid, "data": b"", "state": 0,
            "commit_position": {"object_positions": [
                {"object_number": o, "tag_tid": t, "entry_tid": e} for o, t, e in positions]},
        })
    pool.omap_set(f"journal.{journal_id}", values)


def make_journal(entries_per_tag: list[int], *, splay_width: int = 2, order: int = 12, journal_id: str = "j1",
                 payload: bytes | None = None, clients: dict[str, list[tuple[int, int, int]]] | None = None,
                 entries_per_set: int | None = None) -> tuple[MemoryStore, MemoryPool]:
    """A journal whose tag ``t`` has ``entries_per_tag[t]`` entries, placed as libjournal places them.

    Tag ``t`` starts at offset 0 of the active set; every ``entries_per_set`` entries the set advances.
    """
    store = MemoryStore(fsid="00000000-0000-0000-0000-000000000000")
    pool = store.add_pool("rbd", 2)
    object_set = 0
    in_set = 0
    for tag, count in enumerate(entries_per_tag):
        for tid in range(count):
            if entries_per_set is not None and in_set >= entries_per_set and tid % splay_width == 0:
                object_set += 1
                in_set = 0
            number = object_set * splay_width + tid % splay_width
            data = payload if payload is not None else write_event(tid)
            pool.append(f"journal_data.2.{journal_id}.{number}", encode_entry(tag, tid, data))
            in_set += 1
    write_header(pool, journal_id, order=order, splay_width=splay_width, active_set=object_set,
                 tags=len(entries_per_tag), clients=clients)
    return store, pool
