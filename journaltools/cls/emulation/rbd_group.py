"""Offline emulation of cls_rbd's group methods (src/cls/rbd/cls_rbd.cc, ``group_dir_*``,
``group_image_*``, ``image_group_*``), with their checks and errnos."""

from __future__ import annotations

import errno as E

from ...errors import ExistsError, JournalToolsError, NotFoundError, StaleError
from ...format import lookup
from ...format.cls_rbd import GROUP_REF_KEY, group_image_key
from ...format.primitives import CephString, decode, encode, u8, u64
from ...groups import (
    DIR_ADD_ARGS,
    DIR_RENAME_ARGS,
    GROUP_IMAGE_REMOVE_ARGS,
    GROUP_IMAGE_SET_ARGS,
    GROUP_SNAP_REMOVE_ARGS,
    GROUP_SNAP_SET_ARGS,
    IMAGE_GROUP_ARGS,
)
from ...store.base import Pool
from . import method

OP_FEATURE_GROUP = 1 << 2
FEATURE_OPERATIONS = 1 << 8


def _dir(pool: Pool, oid: str) -> dict[str, bytes]:
    try:
        return pool.omap(oid)
    except NotFoundError:
        return {}


def _add(pool: Pool, oid: str, name: str, gid: str, check_id: bool = True) -> None:
    if not name or not gid.isalnum():
        raise JournalToolsError(f"invalid group name {name!r} or id {gid!r}", errno=E.EINVAL)
    entries = _dir(pool, oid)
    if f"name_{name}" in entries:
        raise ExistsError(f"group {name} already exists")
    if check_id and f"id_{gid}" in entries:
        raise JournalToolsError(f"group id {gid} already exists", errno=E.EBADF)
    pool.omap_set(oid, {f"name_{name}": encode(CephString(), gid), f"id_{gid}": encode(CephString(), name)})


def _remove(pool: Pool, oid: str, name: str, gid: str) -> None:
    entries = _dir(pool, oid)
    if f"name_{name}" not in entries or f"id_{gid}" not in entries:
        raise NotFoundError(f"group {name} ({gid}) is not in the group directory")
    if decode(CephString(), entries[f"name_{name}"]) != gid or decode(CephString(), entries[f"id_{gid}"]) != name:
        raise StaleError(f"group {name} and id {gid} do not belong together")
    pool.omap_remove(oid, [f"name_{name}", f"id_{gid}"])


@method("rbd", "group_dir_add")
def group_dir_add(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(DIR_ADD_ARGS, data)
    pool.create(oid)
    _add(pool, oid, a.name, a.id)
    return b""


@method("rbd", "group_dir_remove")
def group_dir_remove(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(DIR_ADD_ARGS, data)
    _remove(pool, oid, a.name, a.id)
    return b""


@method("rbd", "group_dir_rename")
def group_dir_rename(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(DIR_RENAME_ARGS, data)
    if f"name_{a.dest}" in _dir(pool, oid):
        raise ExistsError(f"group {a.dest} already exists")
    _remove(pool, oid, a.src, a.id)
    _add(pool, oid, a.dest, a.id, check_id=False)
    return b""


@method("rbd", "group_image_set")
def group_image_set(pool: Pool, oid: str, data: bytes) -> bytes:
    st = decode(GROUP_IMAGE_SET_ARGS, data).status
    if not st.spec.image_id or st.spec.pool_id < 0:
        raise JournalToolsError("invalid group image spec", errno=E.EINVAL)
    pool.omap_set(oid, {group_image_key(st.spec.pool_id, st.spec.image_id): encode(u8, st.state)})
    return b""


@method("rbd", "group_image_remove")
def group_image_remove(pool: Pool, oid: str, data: bytes) -> bytes:
    spec = decode(GROUP_IMAGE_REMOVE_ARGS, data).spec
    pool.omap_remove(oid, [group_image_key(spec.pool_id, spec.image_id)])
    return b""


def _u64(values: dict[str, bytes], key: str) -> int:
    return int(decode(u64, values[key])) if key in values else 0


@method("rbd", "image_group_add")
def image_group_add(pool: Pool, oid: str, data: bytes) -> bytes:
    spec = decode(IMAGE_GROUP_ARGS, data).group
    values = pool.omap(oid)
    group_spec = lookup("cls::rbd::GroupSpec")
    if GROUP_REF_KEY in values:
        current = group_spec.decode(values[GROUP_REF_KEY])
        if (current.pool_id, current.group_id) != (spec.pool_id, spec.group_id):
            raise ExistsError(f"image already belongs to group {current.group_id}")
        return b""
    updates = {GROUP_REF_KEY: group_spec.encode({"pool_id": spec.pool_id, "group_id": spec.group_id}),
               "op_features": encode(u64, _u64(values, "op_features") | OP_FEATURE_GROUP),
               "features": encode(u64, _u64(values, "features") | FEATURE_OPERATIONS)}
    pool.omap_set(oid, updates)
    return b""


@method("rbd", "image_group_remove")
def image_group_remove(pool: Pool, oid: str, data: bytes) -> bytes:
    spec = decode(IMAGE_GROUP_ARGS, data).group
    values = pool.omap(oid)
    if GROUP_REF_KEY not in values:
        raise NotFoundError("image belongs to no group")
    current = lookup("cls::rbd::GroupSpec").decode(values[GROUP_REF_KEY])
    if (current.pool_id, current.group_id) != (spec.pool_id, spec.group_id):
        raise JournalToolsError(f"image belongs to group {current.group_id}, not {spec.group_id}", errno=E.EBADF)
    op_features = _u64(values, "op_features") & ~OP_FEATURE_GROUP
    pool.omap_remove(oid, [GROUP_REF_KEY] + ([] if op_features else ["op_features"]))
    if op_features:
        pool.omap_set(oid, {"op_features": encode(u64, op_features)})
    else:
        pool.omap_set(oid, {"features": encode(u64, _u64(values, "features") & ~FEATURE_OPERATIONS)})
    return b""


@method("rbd", "group_snap_set")
def group_snap_set(pool: Pool, oid: str, data: bytes) -> bytes:
    """cls_rbd group_snap_set: a snapshot record by id; another record with the same name is EEXIST."""
    record = lookup("cls::rbd::GroupSnapshot")
    snap = decode(GROUP_SNAP_SET_ARGS, data).snapshot
    if not snap.id or not snap.name:
        raise JournalToolsError("group snapshot without id or name", errno=E.EINVAL)
    for key, raw in pool.omap(oid).items():
        if key.startswith("snapshot_") and key != f"snapshot_{snap.id}" and record.decode(raw).name == snap.name:
            raise ExistsError(f"group snapshot {snap.name} already exists")
    pool.omap_set(oid, {f"snapshot_{snap.id}": record.encode(snap)})
    return b""


@method("rbd", "group_snap_remove")
def group_snap_remove(pool: Pool, oid: str, data: bytes) -> bytes:
    snap_id = decode(GROUP_SNAP_REMOVE_ARGS, data).snap_id
    if f"snapshot_{snap_id}" not in pool.omap(oid):
        raise NotFoundError(f"group snapshot {snap_id} does not exist")
    pool.omap_remove(oid, [f"snapshot_{snap_id}"])
    return b""
