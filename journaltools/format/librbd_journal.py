"""librbd's journal payloads: EventEntry (entry data), ClientData (client data), TagData (tag data).

Source: src/librbd/journal/Types.{h,cc}.

``EventEntry`` is ENCODE_START(5, 1) { u32 event_type; the event's fields } followed,
from struct_v 4 on, by a metadata block ENCODE_START(1, 1) { utime timestamp }.
Field presence by struct version: v2 adds SnapRename's source name, v3 a
namespace on SnapCreate, v4 namespaces on every snap event, Discard's
skip_partial_discard and the timestamp block, v5 Discard's granularity.
Unknown event types keep their bytes in the envelope tail.  (Ceph's decoder has
SnapLimit (14) is decoded by Ceph 16.2 as ``SnapLimit`` with op_tid and limit, as
the real ``rbd journal inspect`` shows; some older notes say otherwise.)

``ClientData`` is ENCODE_START(2, 1) { u32 client_meta_type; meta }; sync points
carry a snapshot namespace only from struct_v 2.  ``TagData`` is not versioned.
"""

from __future__ import annotations

from typing import Any

from construct import If, Struct, Switch, this

from .primitives import (
    Bufferlist,
    BytesLike,
    CephList,
    CephMap,
    CephString,
    Optional,
    UTime,
    Versioned,
    boolean,
    decode,
    encode,
    i32,
    since,
    struct_version,
    u32,
    u64,
)
from .registry import register
from .snapshot_namespace import USER_NAMESPACE, SnapshotNamespace

# -- event types (src/librbd/journal/Types.h EventType) -------------------------------------
AIO_DISCARD, AIO_WRITE, AIO_FLUSH, OP_FINISH = 0, 1, 2, 3
SNAP_CREATE, SNAP_REMOVE, SNAP_RENAME, SNAP_PROTECT, SNAP_UNPROTECT, SNAP_ROLLBACK = 4, 5, 6, 7, 8, 9
RENAME, RESIZE, FLATTEN, DEMOTE_PROMOTE, SNAP_LIMIT, UPDATE_FEATURES = 10, 11, 12, 13, 14, 15
METADATA_SET, METADATA_REMOVE, AIO_WRITESAME, AIO_COMPARE_AND_WRITE = 16, 17, 18, 19

EVENT_TYPE_NAMES = {
    AIO_DISCARD: "AioDiscard", AIO_WRITE: "AioWrite", AIO_FLUSH: "AioFlush", OP_FINISH: "OpFinish",
    SNAP_CREATE: "SnapCreate", SNAP_REMOVE: "SnapRemove", SNAP_RENAME: "SnapRename", SNAP_PROTECT: "SnapProtect",
    SNAP_UNPROTECT: "SnapUnprotect", SNAP_ROLLBACK: "SnapRollback", RENAME: "Rename", RESIZE: "Resize",
    FLATTEN: "Flatten", DEMOTE_PROMOTE: "Demote/Promote", SNAP_LIMIT: "SnapLimit",
    UPDATE_FEATURES: "UpdateFeatures", METADATA_SET: "MetadataSet", METADATA_REMOVE: "MetadataRemove",
    AIO_WRITESAME: "AioWriteSame", AIO_COMPARE_AND_WRITE: "AioCompareAndWrite",
}
#: event types Ceph's decoder knows (checked against rbd 16.2.15's inspect and export output)
DECODED_BY_CEPH = frozenset(EVENT_TYPE_NAMES)
EVENT_VERSION = 5

_op = "op_tid" / u64
_snap = Struct(_op, "snap_name" / CephString(), "snapshot_namespace" / since(4, SnapshotNamespace))

EVENTS = {
    AIO_DISCARD: Struct("offset" / u64, "length" / u64, "skip_partial_discard" / since(4, boolean),
                        "discard_granularity_bytes" / since(5, u32)),
    AIO_WRITE: Struct("offset" / u64, "length" / u64, "data" / Bufferlist()),
    AIO_FLUSH: Struct(),
    OP_FINISH: Struct(_op, "op_tid_again" / u64, "result" / i32),  # Ceph writes op_tid twice
    SNAP_CREATE: Struct(_op, "snap_name" / CephString(),
                        "snapshot_namespace" / since(3, SnapshotNamespace)),
    SNAP_REMOVE: _snap,
    SNAP_RENAME: Struct(_op, "dest_snap_name" / CephString(), "src_snap_id" / u64,
                        "src_snap_name" / since(2, CephString())),
    SNAP_PROTECT: _snap,
    SNAP_UNPROTECT: _snap,
    SNAP_ROLLBACK: _snap,
    RENAME: Struct(_op, "image_name" / CephString()),
    RESIZE: Struct(_op, "size" / u64),
    FLATTEN: Struct(_op),
    DEMOTE_PROMOTE: Struct(),
    SNAP_LIMIT: Struct(_op, "limit" / u64),
    UPDATE_FEATURES: Struct(_op, "features" / u64, "enabled" / boolean),
    METADATA_SET: Struct(_op, "key" / CephString(), "value" / CephString()),
    METADATA_REMOVE: Struct(_op, "key" / CephString()),
    AIO_WRITESAME: Struct("offset" / u64, "length" / u64, "data" / Bufferlist()),
    AIO_COMPARE_AND_WRITE: Struct("offset" / u64, "length" / u64, "cmp_data" / Bufferlist(),
                                  "write_data" / Bufferlist()),
}


def _has_metadata(ctx: Any) -> bool:
    event = ctx["event"]
    version = event.get("_struct_v") if isinstance(event, dict) else None
    return (EVENT_VERSION if version is None else version) >= 4


EventEntry = register(
    "librbd::journal::EventEntry",
    Struct(
        "event" / Versioned(
            Struct("event_type" / u32, "payload" / Switch(this.event_type, EVENTS, default=Struct())),
            EVENT_VERSION, 1, understands=1, name="EventEntry"),
        "metadata" / If(_has_metadata, Versioned(Struct("timestamp" / UTime), 1, 1, understands=1,
                                                  name="EventEntry metadata")),
    ),
    "a librbd journal event (the payload of every journal entry librbd writes)",
)

# -- client data (src/librbd/journal/Types.h ClientMetaType) ----------------------------
IMAGE_CLIENT, MIRROR_PEER_CLIENT, CLI_CLIENT = 0, 1, 2
CLIENT_META_NAMES = {IMAGE_CLIENT: "Master Image", MIRROR_PEER_CLIENT: "Mirror Peer", CLI_CLIENT: "CLI Tool"}
MIRROR_PEER_SYNCING, MIRROR_PEER_REPLAYING = 0, 1
MIRROR_PEER_STATE_NAMES = {MIRROR_PEER_SYNCING: "Syncing", MIRROR_PEER_REPLAYING: "Replaying"}
IMAGE_CLIENT_ID = ""
LOCAL_MIRROR_UUID = ""
ORPHAN_MIRROR_UUID = "<orphan>"


def _sync_point_namespace(ctx: Any) -> bool:
    return struct_version(ctx) >= 2


MirrorPeerSyncPoint = Struct(
    "snap_name" / CephString(),
    "from_snap_name" / CephString(),
    "object_number" / Optional(u64),
    "snapshot_namespace" / If(_sync_point_namespace, SnapshotNamespace),
)

CLIENT_METAS = {
    IMAGE_CLIENT: Struct("tag_class" / u64, "resync_requested" / boolean),
    MIRROR_PEER_CLIENT: Struct(
        "image_id" / CephString(),
        "state" / u32,
        "sync_object_count" / u64,
        "sync_points" / CephList(MirrorPeerSyncPoint),
        "snap_seqs" / CephMap(u64, u64, "local_snap_seq", "peer_snap_seq"),
    ),
    CLI_CLIENT: Struct(),
}

ClientData = register(
    "librbd::journal::ClientData",
    Versioned(Struct("client_meta_type" / u32, "client_meta" / Switch(this.client_meta_type, CLIENT_METAS,
                                                                       default=Struct())),
              2, 1, understands=1, name="ClientData"),
    "librbd's data in a journal client record: image, mirror peer (sync state) or CLI client",
)

TagData = register(
    "librbd::journal::TagData",
    Struct(
        "mirror_uuid" / CephString(),
        "predecessor" / Struct("mirror_uuid" / CephString(), "commit_valid" / boolean, "tag_tid" / u64,
                               "entry_tid" / u64),
    ),
    "librbd's data in a journal tag: the epoch owner's mirror uuid and the previous epoch's last commit",
)


# -- builders ----------------------------------------------------------------------------
def make_event(event_type: int, *, timestamp: tuple[int, int] = (0, 0), version: int = EVENT_VERSION,
               **fields: Any) -> bytes:
    """Encode an event as librbd writes it (``version`` 5 unless asked otherwise)."""
    payload = dict(fields)
    body = EVENTS.get(event_type)
    for sub in getattr(body, "subcons", []):
        if sub.name == "snapshot_namespace" and sub.name not in payload:
            payload[sub.name] = dict(USER_NAMESPACE)
        if sub.name == "op_tid_again" and sub.name not in payload:
            payload[sub.name] = fields.get("op_tid", 0)
        if sub.name == "skip_partial_discard" and sub.name not in payload:
            payload[sub.name] = bool(fields.get("discard_granularity_bytes", 0))
    value = {"event": {"event_type": event_type, "payload": payload, "_struct_v": version, "_struct_compat": 1},
             "metadata": {"timestamp": {"sec": timestamp[0], "nsec": timestamp[1]}} if version >= 4 else None}
    return encode(EventEntry, value, type_name="EventEntry")


def make_image_client_data(tag_class: int, resync_requested: bool = False) -> bytes:
    return encode(ClientData, {"client_meta_type": IMAGE_CLIENT,
                               "client_meta": {"tag_class": tag_class, "resync_requested": resync_requested}},
                  type_name="ClientData")


def make_tag_data(mirror_uuid: str, predecessor_mirror_uuid: str = "", commit_valid: bool = False,
                  tag_tid: int = 0, entry_tid: int = 0) -> bytes:
    return encode(TagData, {"mirror_uuid": mirror_uuid, "predecessor": {
        "mirror_uuid": predecessor_mirror_uuid, "commit_valid": commit_valid, "tag_tid": tag_tid,
        "entry_tid": entry_tid}}, type_name="TagData")


def decode_event(data: BytesLike) -> Any:
    return decode(EventEntry, data, type_name="EventEntry")


def decode_client_data(data: bytes) -> Any:
    return decode(ClientData, data, type_name="ClientData")


def decode_tag_data(data: bytes) -> Any:
    return decode(TagData, data, type_name="TagData")
