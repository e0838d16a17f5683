"""cls_lock records: who holds an advisory lock on an object (``lock.get_info``).

Source: src/cls/lock/cls_lock_ops.h, cls_lock_types.h, src/msg/msg_types.h (entity_addr_t).
Only what the write guard needs to name a lock's holder: the request (the lock
name) and the reply (lockers with their entity, cookie, expiration, address and
description, the lock type and tag).  Not registered for ``decode``: the corpus
holds no samples of these.
"""

from __future__ import annotations

from typing import Any

from construct import Construct, Struct
from construct.core import stream_read

from .primitives import CephMap, CephString, UTime, i64, u8, versioned

LOCK_TYPE_NAMES = {0: "none", 1: "exclusive", 2: "shared", 3: "exclusive-ephemeral"}
ENTITY_TYPE_NAMES = {1: "mon", 2: "mds", 4: "osd", 8: "client", 16: "mgr"}


class EntityAddr(Construct):  # type: ignore[misc]
    """``entity_addr_t``: a marker byte 1 + versioned (type, nonce, sockaddr), or the legacy 136 bytes.

    Decoded as the text Ceph prints (``127.0.0.1:0/1234``); decode only.
    """

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        marker = stream_read(stream, 1, path)[0]
        if marker == 0:  # legacy: the rest of a u32 0, nonce, sockaddr_storage (128 bytes)
            rest = stream_read(stream, 3 + 4 + 128, path)
            nonce = int.from_bytes(rest[3:7], "little")
            return _sockaddr_text(rest[7:], nonce, big_endian_family=True)
        head = stream_read(stream, 6, path)
        body = stream_read(stream, int.from_bytes(head[2:6], "little"), path)
        nonce = int.from_bytes(body[4:8], "little")
        length = int.from_bytes(body[8:12], "little")
        return _sockaddr_text(body[12:12 + length], nonce, big_endian_family=False)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        raise NotImplementedError("entity_addr_t is decoded only")


def _sockaddr_text(raw: bytes, nonce: int, big_endian_family: bool) -> str:
    if len(raw) < 8:
        return f"-/{nonce}"
    family = int.from_bytes(raw[:2], "big" if big_endian_family else "little")
    port = int.from_bytes(raw[2:4], "big")
    if family == 2:  # AF_INET
        return f"{'.'.join(str(b) for b in raw[4:8])}:{port}/{nonce}"
    if family == 10 and len(raw) >= 24:  # AF_INET6
        groups = [raw[8 + i:10 + i].hex() for i in range(0, 16, 2)]
        return f"[{':'.join(groups)}]:{port}/{nonce}"
    return f"-/{nonce}"


GetInfoOp = versioned(1, 1, "name" / CephString(), name="cls_lock_get_info_op")

LockerId = versioned(1, 1, "locker" / Struct("type" / u8, "num" / i64), "cookie" / CephString(), name="locker_id_t")
LockerInfo = versioned(1, 1, "expiration" / UTime, "addr" / EntityAddr(), "description" / CephString(),
                       name="locker_info_t")

GetInfoReply = versioned(
    1, 1,
    "lockers" / CephMap(LockerId, LockerInfo, "id", "info"),
    "lock_type" / u8,
    "tag" / CephString(),
    name="cls_lock_get_info_reply",
)


def entity_text(locker: Any) -> str:
    """``client.4123`` for a decoded ``entity_name_t``."""
    return f"{ENTITY_TYPE_NAMES.get(locker['type'], 'unknown')}.{locker['num']}"
