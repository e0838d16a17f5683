"""``cls::rbd::SnapshotNamespace``: which kind of snapshot an image snapshot is.

Source: src/cls/rbd/cls_rbd_types.{h,cc} (``SnapshotNamespace``, ``UserSnapshotNamespace``,
``GroupSnapshotNamespace``, ``TrashSnapshotNamespace``, ``MirrorSnapshotNamespace``).
ENCODE_START(1, 1) around a u32 type and the type's fields; an unknown type's
fields stay in the envelope tail, so they re-encode byte for byte.
"""

from __future__ import annotations

from construct import Struct, Switch, this

from .primitives import CephList, CephMap, CephString, boolean, i64, u8, u32, u64, versioned
from .registry import register

USER, GROUP, TRASH, MIRROR = 0, 1, 2, 3
TYPE_NAMES = {USER: "user", GROUP: "group", TRASH: "trash", MIRROR: "mirror"}
MIRROR_STATE_NAMES = {0: "primary", 1: "primary (demoted)", 2: "non-primary", 3: "non-primary (demoted)"}

_BODIES = {
    USER: Struct(),
    GROUP: Struct("group_pool" / i64, "group_id" / CephString(), "group_snapshot_id" / CephString()),
    TRASH: Struct("original_name" / CephString(), "original_snapshot_namespace" / u32),
    MIRROR: Struct(
        "state" / u8,
        "complete" / boolean,
        "mirror_peer_uuids" / CephList(CephString()),
        "primary_mirror_uuid" / CephString(),
        "primary_snap_id" / u64,
        "last_copied_object_number" / u64,
        "snap_seqs" / CephMap(u64, u64, "local_snap_seq", "peer_snap_seq"),
    ),
}

SnapshotNamespace = register(
    "cls::rbd::SnapshotNamespace",
    versioned(
        1,
        1,
        "snapshot_namespace_type" / u32,
        "namespace" / Switch(this.snapshot_namespace_type, _BODIES, default=Struct()),
        name="SnapshotNamespace",
    ),
    "the namespace of an image snapshot: user, group, trash or mirror",
)

USER_NAMESPACE = {"snapshot_namespace_type": USER, "namespace": {}}


def dump_pairs(value: object) -> list[tuple[str, object]]:
    """The keys Ceph's ``SnapshotNamespace::dump`` writes (``snapshot_namespace_type`` first)."""
    if value is None:
        return [("snapshot_namespace_type", "user")]
    kind = value["snapshot_namespace_type"]  # type: ignore[index]
    body = value["namespace"]  # type: ignore[index]
    pairs: list[tuple[str, object]] = [("snapshot_namespace_type", TYPE_NAMES.get(kind, "unknown"))]
    if kind == GROUP:
        pairs += [("group_pool", body.group_pool), ("group_id", body.group_id),
                  ("group_snapshot_id", body.group_snapshot_id)]
    elif kind == TRASH:
        pairs += [("original_name", body.original_name),
                  ("original_snapshot_namespace", TYPE_NAMES.get(body.original_snapshot_namespace, "unknown"))]
    elif kind == MIRROR:
        pairs += [("state", MIRROR_STATE_NAMES.get(body.state, f"unknown ({body.state})")),
                  ("complete", body.complete), ("mirror_peer_uuids", list(body.mirror_peer_uuids)),
                  ("primary_mirror_uuid", body.primary_mirror_uuid), ("primary_snap_id", body.primary_snap_id),
                  ("last_copied_object_number", body.last_copied_object_number),
                  ("snap_seqs", [{"local_snap_seq": s.local_snap_seq, "peer_snap_seq": s.peer_snap_seq}
                                 for s in body.snap_seqs])]
    return pairs
