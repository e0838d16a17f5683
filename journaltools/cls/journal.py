"""Calls to the ``journal`` object class (src/cls/journal/cls_journal_client.cc), our encodings.

Each function encodes the method's input with the format layer, runs it through
``Pool.execute`` (the OSD's cls on a live cluster, :mod:`.emulation.journal`
offline) and decodes the output.
"""

from __future__ import annotations

from typing import Any

from construct import Struct

from ..format.cls_journal import TAG_CLASS_NEW, Client, ObjectSetPosition, Tag
from ..format.primitives import Bufferlist, CephList, CephString, Optional, decode, encode, i64, u8, u64
from ..store.base import Pool

CLASS = "journal"

CREATE_ARGS = Struct("order" / u8, "splay_width" / u8, "pool_id" / i64)
ID_ARGS = Struct("id" / CephString())
ID_DATA_ARGS = Struct("id" / CephString(), "data" / Bufferlist())
ID_STATE_ARGS = Struct("id" / CephString(), "state" / u8)
COMMIT_ARGS = Struct("id" / CephString(), "commit_position" / ObjectSetPosition)
CLIENT_LIST_ARGS = Struct("start_after" / CephString(), "max_return" / u64)
TAG_CREATE_ARGS = Struct("tid" / u64, "tag_class" / u64, "data" / Bufferlist())
TAG_LIST_ARGS = Struct("start_after" / u64, "max_return" / u64, "client_id" / CephString(), "tag_class" / Optional(u64))
CLIENTS = CephList(Client)
TAGS = CephList(Tag)
MAX_RETURN = 256


def header_oid(journal_id: str) -> str:
    return f"journal.{journal_id}"


def _call(pool: Pool, oid: str, method: str, con: Any = None, args: Any = None) -> bytes:
    data = encode(con, args, type_name=f"{CLASS}.{method} input") if con is not None else b""
    return pool.execute(oid, CLASS, method, data)


def create(pool: Pool, oid: str, order: int, splay_width: int, pool_id: int = -1) -> None:
    _call(pool, oid, "create", CREATE_ARGS, {"order": order, "splay_width": splay_width, "pool_id": pool_id})


def _get_u(pool: Pool, oid: str, method: str, con: Any) -> int:
    return int(decode(con, _call(pool, oid, method), type_name=f"{CLASS}.{method} output"))


def get_order(pool: Pool, oid: str) -> int:
    return _get_u(pool, oid, "get_order", u8)


def get_splay_width(pool: Pool, oid: str) -> int:
    return _get_u(pool, oid, "get_splay_width", u8)


def get_pool_id(pool: Pool, oid: str) -> int:
    return _get_u(pool, oid, "get_pool_id", i64)


def get_minimum_set(pool: Pool, oid: str) -> int:
    return _get_u(pool, oid, "get_minimum_set", u64)


def get_active_set(pool: Pool, oid: str) -> int:
    return _get_u(pool, oid, "get_active_set", u64)


def set_minimum_set(pool: Pool, oid: str, object_set: int) -> None:
    _call(pool, oid, "set_minimum_set", u64, object_set)


def set_active_set(pool: Pool, oid: str, object_set: int) -> None:
    _call(pool, oid, "set_active_set", u64, object_set)


def get_client(pool: Pool, oid: str, client_id: str) -> Any:
    return decode(Client, _call(pool, oid, "get_client", ID_ARGS, {"id": client_id}), type_name="Client")


def client_register(pool: Pool, oid: str, client_id: str, data: bytes = b"") -> None:
    _call(pool, oid, "client_register", ID_DATA_ARGS, {"id": client_id, "data": data})


def client_update_data(pool: Pool, oid: str, client_id: str, data: bytes) -> None:
    _call(pool, oid, "client_update_data", ID_DATA_ARGS, {"id": client_id, "data": data})


def client_update_state(pool: Pool, oid: str, client_id: str, state: int) -> None:
    _call(pool, oid, "client_update_state", ID_STATE_ARGS, {"id": client_id, "state": state})


def client_unregister(pool: Pool, oid: str, client_id: str) -> None:
    _call(pool, oid, "client_unregister", ID_ARGS, {"id": client_id})


def client_commit(pool: Pool, oid: str, client_id: str, positions: list[tuple[int, int, int]]) -> None:
    value = {"object_positions": [{"object_number": o, "tag_tid": t, "entry_tid": e} for o, t, e in positions]}
    _call(pool, oid, "client_commit", COMMIT_ARGS, {"id": client_id, "commit_position": value})


def client_list(pool: Pool, oid: str) -> list[Any]:
    clients: list[Any] = []
    after = ""
    while True:
        page = decode(CLIENTS, _call(pool, oid, "client_list", CLIENT_LIST_ARGS,
                                     {"start_after": after, "max_return": MAX_RETURN}), type_name="client list")
        clients.extend(page)
        if len(page) < MAX_RETURN:
            return clients
        after = page[-1].id


def get_next_tag_tid(pool: Pool, oid: str) -> int:
    return _get_u(pool, oid, "get_next_tag_tid", u64)


def get_tag(pool: Pool, oid: str, tid: int) -> Any:
    return decode(Tag, _call(pool, oid, "get_tag", u64, tid), type_name="Tag")


def tag_create(pool: Pool, oid: str, tid: int, tag_class: int, data: bytes) -> None:
    _call(pool, oid, "tag_create", TAG_CREATE_ARGS, {"tid": tid, "tag_class": tag_class, "data": data})


def allocate_tag(pool: Pool, oid: str, tag_class: int, data: bytes) -> Any:
    """Create a tag with the next free tid, as JournalMetadata's C_AllocateTag retries on ESTALE."""
    from ..errors import StaleError

    for _ in range(100):
        tid = get_next_tag_tid(pool, oid)
        try:
            tag_create(pool, oid, tid, tag_class, data)
        except StaleError:
            continue
        return get_tag(pool, oid, tid)
    raise StaleError(f"could not allocate a tag in {oid}: the next tag tid kept changing")


def tag_list(pool: Pool, oid: str, client_id: str, tag_class: int | None = None) -> list[Any]:
    tags: list[Any] = []
    after = 0
    while True:
        page = decode(TAGS, _call(pool, oid, "tag_list", TAG_LIST_ARGS, {
            "start_after": after, "max_return": MAX_RETURN, "client_id": client_id, "tag_class": tag_class}),
            type_name="tag list")
        tags.extend(page)
        if len(page) < MAX_RETURN:
            return tags
        after = page[-1].tid


def guard_append(pool: Pool, oid: str, soft_max_size: int) -> None:
    _call(pool, oid, "guard_append", u64, soft_max_size)


__all__ = [name for name in dir() if not name.startswith("_")] + ["TAG_CLASS_NEW"]
