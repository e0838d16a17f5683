"""Offline emulation of the ``journal`` object class, with cls_journal.cc's checks and errnos.

Source: src/cls/journal/cls_journal.cc.  State is the header object's omap, keyed
and encoded exactly as the real class keeps it, so a directory store holds what
a cluster would.
"""

from __future__ import annotations

import errno as E
from typing import Any

from ...errors import ExistsError, JournalToolsError, NotFoundError, StaleError
from ...format.cls_journal import (
    CLIENT_KEY_PREFIX,
    CLIENT_STATE_CONNECTED,
    CLIENT_STATE_DISCONNECTED,
    TAG_CLASS_NEW,
    TAG_KEY_PREFIX,
    Client,
    Tag,
    client_key,
    tag_key,
)
from ...format.primitives import decode, encode, i64, u8, u64
from ...store.base import Pool
from .. import journal as args
from . import method

_U64_MAX = (1 << 64) - 1


def _fail(code: int, message: str) -> JournalToolsError:
    return JournalToolsError(message, errno=code)


def _omap(pool: Pool, oid: str) -> dict[str, bytes]:
    try:
        return pool.omap(oid)
    except NotFoundError:
        raise NotFoundError(f"{oid}: no such object") from None


def _read(omap: dict[str, bytes], key: str, con: Any) -> Any:
    if key not in omap:
        raise NotFoundError(f"journal header key {key!r} is missing")
    return decode(con, omap[key], type_name=key)


def _client_bytes(client: Any) -> bytes:
    return encode(Client, client, type_name="Client")


@method("journal", "create")
def create(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.CREATE_ARGS, data)
    try:
        existing = pool.omap_get(oid, ["order"])
    except NotFoundError:
        existing = {}
    if existing:
        raise ExistsError(f"journal header {oid} already exists")
    pool.omap_set(oid, {
        "order": encode(u8, a.order),
        "splay_width": encode(u8, a.splay_width),
        "pool_id": encode(i64, a.pool_id),
        "minimum_set": encode(u64, 0),
        "active_set": encode(u64, 0),
        "next_tag_tid": encode(u64, 0),
        "next_tag_class": encode(u64, 0),
    })
    return b""


def _getter(name: str, con: Any) -> None:
    @method("journal", f"get_{name}")
    def get(pool: Pool, oid: str, data: bytes) -> bytes:
        return encode(con, _read(_omap(pool, oid), name, con))


for _name, _con in (("order", u8), ("splay_width", u8), ("pool_id", i64), ("minimum_set", u64),
                    ("active_set", u64), ("next_tag_tid", u64)):
    _getter(_name, _con)


def _move_set(pool: Pool, oid: str, data: bytes, key: str) -> bytes:
    """cls ``set_minimum_set`` / ``set_active_set``: EINVAL past the other bound, no-op when equal,
    ESTALE when going backwards."""
    wanted = decode(u64, data)
    omap = _omap(pool, oid)
    minimum, active = _read(omap, "minimum_set", u64), _read(omap, "active_set", u64)
    if key == "minimum_set" and wanted > active:
        raise _fail(E.EINVAL, f"minimum set {wanted} is above the active set {active}")
    if key == "active_set" and wanted < minimum:
        raise _fail(E.EINVAL, f"active set {wanted} is below the minimum set {minimum}")
    current = minimum if key == "minimum_set" else active
    if wanted == current:
        return b""
    if wanted < current:
        raise StaleError(f"{key.replace('_', ' ')} {wanted} is below the current {key.replace('_', ' ')} {current}")
    pool.omap_set(oid, {key: encode(u64, wanted)})
    return b""


@method("journal", "set_minimum_set")
def set_minimum_set(pool: Pool, oid: str, data: bytes) -> bytes:
    return _move_set(pool, oid, data, "minimum_set")


@method("journal", "set_active_set")
def set_active_set(pool: Pool, oid: str, data: bytes) -> bytes:
    return _move_set(pool, oid, data, "active_set")


def _clients(omap: dict[str, bytes]) -> list[Any]:
    return [decode(Client, v, type_name=k) for k, v in sorted(omap.items()) if k.startswith(CLIENT_KEY_PREFIX)]


def _get_client(omap: dict[str, bytes], client_id: str) -> Any:
    raw = omap.get(client_key(client_id))
    if raw is None:
        raise NotFoundError(f"journal client {client_id!r} is not registered")
    return decode(Client, raw, type_name="Client")


@method("journal", "get_client")
def get_client(pool: Pool, oid: str, data: bytes) -> bytes:
    return _client_bytes(_get_client(_omap(pool, oid), decode(args.ID_ARGS, data).id))


def _min_commit_position(omap: dict[str, bytes]) -> list[Any]:
    """cls ``find_min_commit_position``: disconnected clients skipped; empty if another has committed nothing."""
    best = None
    for client in _clients(omap):
        if client.state == CLIENT_STATE_DISCONNECTED:
            continue
        positions = client.commit_position.object_positions
        if not positions:
            return []
        first = positions[0]
        if best is None or (first.tag_tid, first.entry_tid) < (best[0].tag_tid, best[0].entry_tid):
            best = positions
    return list(best or [])


@method("journal", "client_register")
def client_register(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.ID_DATA_ARGS, data)
    omap = _omap(pool, oid)
    _read(omap, "order", u8)  # the journal must exist
    if client_key(a.id) in omap:
        raise ExistsError(f"journal client {a.id!r} is already registered")
    client = {"id": a.id, "data": a.data, "state": CLIENT_STATE_CONNECTED,
              "commit_position": {"object_positions": _min_commit_position(omap)}}
    pool.omap_set(oid, {client_key(a.id): _client_bytes(client)})
    return b""


@method("journal", "client_update_data")
def client_update_data(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.ID_DATA_ARGS, data)
    client = _get_client(_omap(pool, oid), a.id)
    client.data = a.data
    pool.omap_set(oid, {client_key(a.id): _client_bytes(client)})
    return b""


@method("journal", "client_update_state")
def client_update_state(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.ID_STATE_ARGS, data)
    client = _get_client(_omap(pool, oid), a.id)
    client.state = a.state
    pool.omap_set(oid, {client_key(a.id): _client_bytes(client)})
    return b""


@method("journal", "client_unregister")
def client_unregister(pool: Pool, oid: str, data: bytes) -> bytes:
    client_id = decode(args.ID_ARGS, data).id
    omap = _omap(pool, oid)
    _get_client(omap, client_id)
    pool.omap_remove(oid, [client_key(client_id)])
    _expire_tags(pool, oid, skip_client=client_id)
    return b""


@method("journal", "client_commit")
def client_commit(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.COMMIT_ARGS, data)
    omap = _omap(pool, oid)
    width = _read(omap, "splay_width", u8)
    if len(a.commit_position.object_positions) > width:
        raise _fail(E.EINVAL, f"{len(a.commit_position.object_positions)} commit positions for splay width {width}")
    client = _get_client(omap, a.id)
    new = encode(args.ObjectSetPosition, a.commit_position)
    if encode(args.ObjectSetPosition, client.commit_position) != new:
        client.commit_position = a.commit_position
        pool.omap_set(oid, {client_key(a.id): _client_bytes(client)})
    return b""


@method("journal", "client_list")
def client_list(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.CLIENT_LIST_ARGS, data)
    omap = _omap(pool, oid)
    after = client_key(a.start_after) if a.start_after else ""
    keys = [k for k in sorted(omap) if k.startswith(CLIENT_KEY_PREFIX) and k > after][: a.max_return]
    return encode(args.CLIENTS, [decode(Client, omap[k], type_name=k) for k in keys])


@method("journal", "get_tag")
def get_tag(pool: Pool, oid: str, data: bytes) -> bytes:
    tid = decode(u64, data)
    raw = _omap(pool, oid).get(tag_key(tid))
    if raw is None:
        raise NotFoundError(f"tag {tid} does not exist")
    return raw


def _tags(omap: dict[str, bytes]) -> list[Any]:
    return [decode(Tag, v, type_name=k) for k, v in sorted(omap.items()) if k.startswith(TAG_KEY_PREFIX)]


def _expire_tags(pool: Pool, oid: str, skip_client: str | None = None) -> None:
    """cls ``expire_tags``: per class, drop tags older than the newest one at or below the minimum committed tag."""
    omap = _omap(pool, oid)
    minimum = _U64_MAX
    for client in _clients(omap):
        if client.id == skip_client or client.state == CLIENT_STATE_DISCONNECTED:
            continue
        positions = client.commit_position.object_positions
        if not positions:
            return
        minimum = min(minimum, *(p.tag_tid for p in positions))
    if minimum == _U64_MAX:
        return
    tags = _tags(omap)
    newest_below: dict[int, int] = {}
    for tag in tags:
        newest_below[tag.tag_class] = tag.tid
        if tag.tid >= minimum:
            break
    doomed = []
    for tag in tags:
        if tag.tid >= minimum:
            break
        if tag.tid < newest_below.get(tag.tag_class, 0):
            doomed.append(tag_key(tag.tid))
    if doomed:
        pool.omap_remove(oid, doomed)


@method("journal", "tag_create")
def tag_create(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.TAG_CREATE_ARGS, data)
    omap = _omap(pool, oid)
    if tag_key(a.tid) in omap:
        raise ExistsError(f"tag {a.tid} already exists")
    next_tid = _read(omap, "next_tag_tid", u64)
    if a.tid != next_tid:
        raise StaleError(f"tag tid {a.tid} is not the next tag tid {next_tid}")
    next_class = _read(omap, "next_tag_class", u64)
    updates: dict[str, bytes] = {}
    tag_class = a.tag_class
    if tag_class == TAG_CLASS_NEW:
        tag_class = next_class
        updates["next_tag_class"] = encode(u64, next_class + 1)
    elif tag_class >= next_class:
        raise _fail(E.EINVAL, f"tag class {tag_class} was never allocated (next {next_class})")
    _expire_tags(pool, oid)
    updates["next_tag_tid"] = encode(u64, a.tid + 1)
    updates[tag_key(a.tid)] = encode(Tag, {"tid": a.tid, "tag_class": tag_class, "data": a.data})
    pool.omap_set(oid, updates)
    return b""


@method("journal", "tag_list")
def tag_list(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(args.TAG_LIST_ARGS, data)
    omap = _omap(pool, oid)
    client = _get_client(omap, a.client_id)
    positions = client.commit_position.object_positions
    tags = _tags(omap)
    minimum_by_class: dict[int, int] = {}
    if positions:
        minimum = min(p.tag_tid for p in positions)
        for tag in tags:
            minimum_by_class[tag.tag_class] = tag.tid
            if tag.tid >= minimum:
                break
    out = []
    for tag in tags:
        if a.start_after and tag.tid <= a.start_after:
            continue
        if a.tag_class is not None and tag.tag_class != a.tag_class:
            continue
        if positions and tag.tid < minimum_by_class.get(tag.tag_class, 0):
            continue
        out.append(tag)
        if len(out) >= a.max_return:
            break
    return encode(args.TAGS, out)


@method("journal", "guard_append")
def guard_append(pool: Pool, oid: str, data: bytes) -> bytes:
    soft_max = decode(u64, data)
    try:
        size = pool.stat(oid)
    except NotFoundError:
        return b""
    if size >= soft_max:
        raise _fail(E.EOVERFLOW, f"{oid} is {size} bytes, at or above its soft maximum {soft_max}")
    return b""
