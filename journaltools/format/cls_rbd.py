"""cls_rbd records: mirroring, groups, image snapshots and parents.

Sources: src/cls/rbd/cls_rbd_types.{h,cc}, src/cls/rbd/cls_rbd.h, src/cls/rbd/cls_rbd.cc;
layouts checked against Ceph's encoding corpus (15.2, 16.2, 18.2) and the real pool
dumps under fixtures/stores/site-a and site-b.
"""

from __future__ import annotations

from typing import Any

from construct import If, Struct

from .primitives import (
    Bufferlist,
    CephList,
    CephString,
    Optional,
    UTime,
    boolean,
    i64,
    since,
    u8,
    u32,
    u64,
    versioned,
)
from .registry import register
from .snapshot_namespace import SnapshotNamespace

# -- mirroring (object rbd_mirroring) -----------------------------------------------------
MIRROR_MODE_DISABLED, MIRROR_MODE_IMAGE, MIRROR_MODE_POOL = 0, 1, 2
MIRROR_MODE_INIT_ONLY = 3  # Tentacle's rbd mirror pool enable <pool> init-only (the default namespace only)
MIRROR_MODE_NAMES = {MIRROR_MODE_DISABLED: "disabled", MIRROR_MODE_IMAGE: "image", MIRROR_MODE_POOL: "pool",
                     MIRROR_MODE_INIT_ONLY: "init-only"}
DIRECTION_RX, DIRECTION_TX, DIRECTION_RX_TX = 0, 1, 2
DIRECTION_NAMES = {DIRECTION_RX: "rx-only", DIRECTION_TX: "tx-only", DIRECTION_RX_TX: "rx-tx"}
IMAGE_DISABLING, IMAGE_ENABLED, IMAGE_DISABLED = 0, 1, 2
IMAGE_STATE_NAMES = {IMAGE_DISABLING: "disabling", IMAGE_ENABLED: "enabled", IMAGE_DISABLED: "disabled"}
IMAGE_MODE_JOURNAL, IMAGE_MODE_SNAPSHOT = 0, 1
IMAGE_MODE_NAMES = {IMAGE_MODE_JOURNAL: "journal", IMAGE_MODE_SNAPSHOT: "snapshot"}
STATUS_STATE_NAMES = {0: "unknown", 1: "error", 2: "syncing", 3: "starting_replay", 4: "replaying",
                      5: "stopping_replay", 6: "stopped"}

MirrorPeer = register(
    "cls::rbd::MirrorPeer",
    versioned(
        2, 1,
        "uuid" / CephString(),
        "site_name" / CephString(),
        "client_name" / CephString(),
        "pool_id" / i64,  # always -1 since Octopus; kept for the bytes
        "mirror_peer_direction" / since(2, u8),
        "mirror_uuid" / since(2, CephString()),
        "last_seen" / since(2, UTime),
        name="MirrorPeer",
    ),
    "a mirroring peer of a pool (rbd_mirroring mirror_peer_<uuid>)",
)

MirrorImage = register(
    "cls::rbd::MirrorImage",
    versioned(2, 1, "global_image_id" / CephString(), "state" / u8, "mode" / since(2, u8), name="MirrorImage"),
    "an image's mirroring record (rbd_mirroring image_<image id>)",
)

_site_status_fields = ("state" / u8, "description" / CephString(), "last_update" / UTime, "up" / boolean)

MirrorImageSiteStatus = register(
    "cls::rbd::MirrorImageSiteStatus",
    versioned(2, 2, "mirror_uuid" / since(2, CephString()), *_site_status_fields, name="MirrorImageSiteStatus"),
    "one site's mirroring status of an image (v1 local, v2 with the site's mirror uuid)",
)

MirrorImageSiteStatusOnDisk = register(
    "cls::rbd::MirrorImageSiteStatusOnDisk",
    Struct(
        # entity_inst_t of the rbd-mirror daemon that wrote it: entity name, then the
        # feature-dependent address, kept as the envelope's tail bytes
        "origin" / versioned(1, 1, "entity_type" / u8, "entity_num" / i64, name="entity_inst_t"),
        "status" / MirrorImageSiteStatus,
    ),
    "a stored site status (rbd_mirroring status_global_<global id>): writer + status",
)

MirrorImageStatus = register(
    "cls::rbd::MirrorImageStatus",
    versioned(
        2, 1,
        *_site_status_fields,
        "local_status_valid" / since(2, boolean),
        "remote_statuses" / since(2, CephList(Struct("mirror_uuid" / CephString(), *_site_status_fields))),
        name="MirrorImageStatus",
    ),
    "an image's mirroring status as cls_rbd returns it: local and remote sites",
)

MirrorImageMap = register(
    "cls::rbd::MirrorImageMap",
    versioned(1, 1, "instance_id" / CephString(), "mapped_time" / UTime, "data" / Bufferlist(), name="MirrorImageMap"),
    "which rbd-mirror instance an image is mapped to (rbd_mirroring image_map_<global id>)",
)

# -- groups -------------------------------------------------------------------------------
GROUP_IMAGE_ATTACHED, GROUP_IMAGE_INCOMPLETE = 0, 1
GROUP_IMAGE_STATE_NAMES = {GROUP_IMAGE_ATTACHED: "attached", GROUP_IMAGE_INCOMPLETE: "incomplete"}
GROUP_SNAP_INCOMPLETE, GROUP_SNAP_COMPLETE = 0, 1
GROUP_SNAP_STATE_NAMES = {GROUP_SNAP_INCOMPLETE: "incomplete", GROUP_SNAP_COMPLETE: "complete"}

GroupSpec = register(
    "cls::rbd::GroupSpec",
    versioned(1, 1, "pool_id" / i64, "group_id" / CephString(), name="GroupSpec"),
    "the group an image belongs to (rbd_header.<id> rbd_group_ref): pool id first, then group id",
)

GroupImageSpec = register(
    "cls::rbd::GroupImageSpec",
    versioned(1, 1, "image_id" / CephString(), "pool_id" / i64, name="GroupImageSpec"),
    "an image of a group: image id and pool id",
)

GroupImageStatus = register(
    "cls::rbd::GroupImageStatus",
    versioned(1, 1, "spec" / GroupImageSpec, "state" / u8, name="GroupImageStatus"),
    "an image of a group with its link state (0 attached, 1 incomplete)",
)

ImageSnapshotSpec = register(
    "cls::rbd::ImageSnapshotSpec",
    versioned(1, 1, "pool" / i64, "image_id" / CephString(), "snap_id" / u64, name="ImageSnapshotSpec"),
    "an image snapshot taken as part of a group snapshot",
)

GroupSnapshot = register(
    "cls::rbd::GroupSnapshot",
    versioned(1, 1, "id" / CephString(), "name" / CephString(), "state" / u8,
              "snaps" / CephList(ImageSnapshotSpec), name="GroupSnapshot"),
    "a group snapshot (rbd_group_header.<id> snapshot_<snap id>)",
)

# -- image snapshots and parents ----------------------------------------------------------
ParentImageSpec = register(
    "cls::rbd::ParentImageSpec",
    versioned(1, 1, "pool_id" / i64, "pool_namespace" / CephString(), "image_id" / CephString(),
              "snap_id" / u64, name="ParentImageSpec"),
    "the parent snapshot of a clone",
)


def _parent_overlap_is_optional(ctx: Any) -> bool:
    from .primitives import struct_version

    return struct_version(ctx) >= 2


cls_rbd_parent = register(
    "cls_rbd_parent",
    versioned(
        2, 2,
        "pool_id" / i64,
        "pool_namespace" / since(2, CephString()),
        "image_id" / CephString(),
        "snap_id" / u64,
        "head_overlap" / If(_parent_overlap_is_optional, Optional(u64)),
        "head_overlap_v1" / If(lambda ctx: not _parent_overlap_is_optional(ctx), u64),
        name="cls_rbd_parent",
    ),
    "an image's parent (rbd_header.<id> parent): v1 with a plain overlap, v2 with namespace and optional overlap",
)


def _legacy_snap(ctx: Any) -> bool:
    """Before struct_compat 8 a snapshot record carried features and its own parent."""
    probe = ctx
    while probe is not None and "_struct_compat" not in probe:
        probe = probe.get("_")
    return probe is not None and int(probe["_struct_compat"]) < 8


cls_rbd_snap = register(
    "cls_rbd_snap",
    versioned(
        8, 8,
        "id" / u64,
        "name" / CephString(),
        "image_size" / u64,
        "features" / If(_legacy_snap, u64),
        "parent" / If(lambda ctx: _legacy_snap(ctx) and _at_least(ctx, 2), cls_rbd_parent),
        "protection_status" / since(3, u8),
        "flags" / since(4, u64),
        "snapshot_namespace" / since(5, SnapshotNamespace),
        "timestamp" / since(6, UTime),
        "child_count" / since(7, u32),
        "parent_overlap" / since(8, Optional(u64)),
        name="cls_rbd_snap",
    ),
    "an image snapshot record (rbd_header.<id> snapshot_<16 hex snap id>)",
)


def _at_least(ctx: Any, version: int) -> bool:
    from .primitives import struct_version

    return struct_version(ctx) >= version


# -- plain omap values ------------------------------------------------------------------
RBD_MIRRORING = "rbd_mirroring"
RBD_GROUP_DIRECTORY = "rbd_group_directory"
RBD_GROUP_HEADER_PREFIX = "rbd_group_header."
GROUP_REF_KEY = "rbd_group_ref"


def group_image_key(pool_id: int, image_id: str) -> str:
    """``image_<pool id as 16 lowercase hex digits>_<image id>`` in a group header."""
    return f"image_{pool_id:016x}_{image_id}"


def parse_group_image_key(key: str) -> tuple[int, str]:
    body = key[len("image_"):]
    pool_hex, _, image_id = body.partition("_")
    return int(pool_hex, 16), image_id
