"""Offline emulation of cls_rbd's mirroring methods (src/cls/rbd/cls_rbd.cc, ``mirror_*``)."""

from __future__ import annotations

import errno as E

from ...errors import BusyError, ExistsError, JournalToolsError, NotFoundError, StaleError
from ...format import lookup
from ...format.cls_rbd import DIRECTION_TX, IMAGE_DISABLING, MIRROR_MODE_DISABLED
from ...format.primitives import CephString, decode, encode, u32
from ...mirror_changes import IMAGE_ID_ARGS, IMAGE_SET_ARGS, MODE_ARGS, PEER_ARGS, UUID_ARGS
from ...store.base import Pool
from . import method


def _omap(pool: Pool, oid: str) -> dict[str, bytes]:
    try:
        return pool.omap(oid)
    except NotFoundError:
        return {}


def _mode(values: dict[str, bytes]) -> int:
    return int(decode(u32, values["mirror_mode"])) if "mirror_mode" in values else MIRROR_MODE_DISABLED


def _invalid(message: str) -> JournalToolsError:
    return JournalToolsError(message, errno=E.EINVAL)


@method("rbd", "mirror_uuid_set")
def mirror_uuid_set(pool: Pool, oid: str, data: bytes) -> bytes:
    value = decode(UUID_ARGS, data).uuid
    if not value:
        raise _invalid("cannot set an empty mirror uuid")
    if _mode(_omap(pool, oid)) != MIRROR_MODE_DISABLED:
        raise _invalid("cannot set the mirror uuid while mirroring is enabled")
    pool.omap_set(oid, {"mirror_uuid": value.encode()})
    return b""


@method("rbd", "mirror_mode_set")
def mirror_mode_set(pool: Pool, oid: str, data: bytes) -> bytes:
    mode = decode(MODE_ARGS, data).mode
    if mode > 3:  # 3: Tentacle's init-only
        raise _invalid(f"invalid mirror mode {mode}")
    values = _omap(pool, oid)
    if mode != MIRROR_MODE_DISABLED:
        if not values.get("mirror_uuid"):
            raise _invalid("the mirror uuid must be set before enabling mirroring")
        pool.omap_set(oid, {"mirror_mode": encode(u32, mode)})
        return b""
    if any(k.startswith("mirror_peer_") for k in values):
        raise BusyError("mirroring peers still registered")
    pool.omap_remove(oid, ["mirror_mode", "mirror_uuid", "remote_namespace"])  # Tentacle drops the remote one too
    return b""


@method("rbd", "mirror_remote_namespace_set")
def mirror_remote_namespace_set(pool: Pool, oid: str, data: bytes) -> bytes:
    """Tentacle's cls_rbd: the remote namespace, set while mirroring is disabled (librbd checks the rest)."""
    value = decode(UUID_ARGS, data).uuid  # the same single-string argument
    if _mode(_omap(pool, oid)) != MIRROR_MODE_DISABLED:
        raise _invalid("cannot set the remote namespace while mirroring is enabled")
    pool.omap_set(oid, {"remote_namespace": encode(CephString(), value)})
    return b""


@method("rbd", "mirror_peer_add")
def mirror_peer_add(pool: Pool, oid: str, data: bytes) -> bytes:
    peer = decode(PEER_ARGS, data).peer
    values = _omap(pool, oid)
    if _mode(values) == MIRROR_MODE_DISABLED:
        raise _invalid("mirroring must be enabled on the pool")
    direction = peer.mirror_peer_direction if peer.mirror_peer_direction is not None else 2
    if not peer.uuid or not peer.site_name or (direction != DIRECTION_TX and not peer.client_name):
        raise _invalid("mirror peer is not valid")
    if direction == DIRECTION_TX:
        raise _invalid("tx-only peers are only created by rbd-mirror")
    if peer.uuid == values.get("mirror_uuid", b"").decode():
        raise _invalid("peer uuid matches the pool's mirror uuid")
    record = lookup("cls::rbd::MirrorPeer")
    for key, raw in values.items():
        if not key.startswith("mirror_peer_"):
            continue
        other = record.decode(raw)
        if other.uuid == peer.uuid:
            raise StaleError(f"peer {peer.uuid} already exists")
        if other.site_name == peer.site_name or (peer.mirror_uuid and other.mirror_uuid == peer.mirror_uuid):
            raise ExistsError(f"a peer for site {peer.site_name} already exists")
    pool.omap_set(oid, {f"mirror_peer_{peer.uuid}": record.encode(peer)})
    return b""


@method("rbd", "mirror_peer_remove")
def mirror_peer_remove(pool: Pool, oid: str, data: bytes) -> bytes:
    pool.omap_remove(oid, [f"mirror_peer_{decode(CephString(), data)}"])
    return b""


@method("rbd", "mirror_image_set")
def mirror_image_set(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(IMAGE_SET_ARGS, data)
    record = lookup("cls::rbd::MirrorImage")
    values = _omap(pool, oid)
    key = f"image_{a.image_id}"
    gid = a.image.global_image_id
    if key in values:
        if record.decode(values[key]).global_image_id != gid:
            raise _invalid("the global image id of a mirrored image cannot change")
    else:
        if f"global_{gid}" in values:
            raise ExistsError(f"global image id {gid} is already in use")
        if a.image.state == IMAGE_DISABLING:
            raise _invalid("cannot create a mirror image record in the disabling state")
    pool.omap_set(oid, {key: record.encode(a.image), f"global_{gid}": encode(CephString(), a.image_id)})
    return b""


@method("rbd", "mirror_image_remove")
def mirror_image_remove(pool: Pool, oid: str, data: bytes) -> bytes:
    image_id = decode(IMAGE_ID_ARGS, data).image_id
    values = _omap(pool, oid)
    key = f"image_{image_id}"
    if key not in values:
        raise NotFoundError(f"image {image_id} is not mirrored")
    image = lookup("cls::rbd::MirrorImage").decode(values[key])
    if image.state != IMAGE_DISABLING:
        raise BusyError("mirroring must be disabling before the record is removed")
    gid = image.global_image_id
    doomed = [key, f"global_{gid}", f"status_global_{gid}"]
    doomed += [k for k in values if k.startswith(f"remote_status_global_{gid}_")]
    pool.omap_remove(oid, doomed)
    return b""


