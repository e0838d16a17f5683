"""Ceph's own presentation of librbd journal records: ``dump()``, ``operator<<``, hexdump, utime.

What ``rbd journal inspect --verbose``, ``rbd journal export`` and ``rbd journal
status`` print is built from these (src/librbd/journal/Types.cc ``dump``,
src/include/utime.h, src/common/buffer.cc ``hexdump``).  Dumps are ordered lists
of (key, value) pairs because Ceph repeats a key (OpFinish's ``op_tid``).
"""

from __future__ import annotations

import time
from typing import Any

from . import librbd_journal as lj
from .snapshot_namespace import dump_pairs as namespace_pairs

Pairs = list[tuple[str, Any]]
_UNKNOWN_TYPE = 0xFFFFFFFF  # UnknownEvent::TYPE is -1; Ceph prints it as a u32


def format_utime(sec: int, nsec: int) -> str:
    """``utime_t``'s ``operator<<``: local ISO time with microseconds and zone, or ``sec.usec`` when small."""
    usec = nsec // 1000
    if sec < 315360000:  # ten 365-day years: printed as a duration
        return f"{sec}.{usec:06d}"
    local = time.localtime(sec)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{usec:06d}" + time.strftime("%z", local)


def event_type_of(value: Any) -> int:
    return int(value["event"]["event_type"])


def known_to_ceph(value: Any) -> bool:
    return event_type_of(value) in lj.DECODED_BY_CEPH


def export_type(value: Any) -> int:
    """The ``type`` rbd journal export writes: the event type, or -1 where Ceph's decoder does not know it."""
    return event_type_of(value) if known_to_ceph(value) else -1


def event_name(value: Any) -> str:
    """The ``event_type`` string Ceph dumps (``Unknown (4294967295)`` for types it does not decode)."""
    if not known_to_ceph(value):
        return f"Unknown ({_UNKNOWN_TYPE})"
    return lj.EVENT_TYPE_NAMES[event_type_of(value)]


def event_timestamp(value: Any) -> float | None:
    """Seconds since the epoch of the event's timestamp (None for events older than struct v4)."""
    meta = value.get("metadata")
    if not meta:
        return None
    ts = meta["timestamp"]
    return float(ts["sec"]) + ts["nsec"] / 1e9


def _discard_granularity(event: Any, payload: Any) -> int:
    version = event.get("_struct_v", lj.EVENT_VERSION)
    if version >= 5:
        return int(payload["discard_granularity_bytes"])
    if version == 4:
        return 0xFFFFFFFF if payload["skip_partial_discard"] else 0
    return 0


def event_dump(value: Any) -> Pairs:
    """``EventEntry::dump``: event_type, the event's fields in Ceph's order, then timestamp."""
    event = value["event"]
    kind = int(event["event_type"])
    p = event["payload"]
    pairs: Pairs = [("event_type", event_name(value))]
    if known_to_ceph(value):
        if kind == lj.AIO_DISCARD:
            pairs += [("offset", p["offset"]), ("length", p["length"]),
                      ("discard_granularity_bytes", _discard_granularity(event, p))]
        elif kind in (lj.AIO_WRITE, lj.AIO_WRITESAME, lj.AIO_COMPARE_AND_WRITE):
            pairs += [("offset", p["offset"]), ("length", p["length"])]
        elif kind == lj.OP_FINISH:
            pairs += [("op_tid", p["op_tid_again"]), ("op_tid", p["op_tid_again"]), ("result", p["result"])]
        elif kind in (lj.SNAP_CREATE, lj.SNAP_REMOVE, lj.SNAP_PROTECT, lj.SNAP_UNPROTECT, lj.SNAP_ROLLBACK):
            pairs += [("op_tid", p["op_tid"]), ("snap_name", p["snap_name"])]
            pairs += namespace_pairs(p.get("snapshot_namespace"))
        elif kind == lj.SNAP_RENAME:
            pairs += [("op_tid", p["op_tid"]), ("src_snap_id", p["src_snap_id"]),
                      ("src_snap_name", p.get("src_snap_name") or ""), ("dest_snap_name", p["dest_snap_name"])]
        elif kind == lj.RENAME:
            pairs += [("op_tid", p["op_tid"]), ("image_name", p["image_name"])]
        elif kind == lj.RESIZE:
            pairs += [("op_tid", p["op_tid"]), ("size", p["size"])]
        elif kind == lj.SNAP_LIMIT:
            pairs += [("op_tid", p["op_tid"]), ("limit", p["limit"])]
        elif kind == lj.FLATTEN:
            pairs += [("op_tid", p["op_tid"])]
        elif kind == lj.UPDATE_FEATURES:
            pairs += [("op_tid", p["op_tid"]), ("features", p["features"]), ("enabled", bool(p["enabled"]))]
        elif kind == lj.METADATA_SET:
            pairs += [("op_tid", p["op_tid"]), ("key", p["key"]), ("value", p["value"])]
        elif kind == lj.METADATA_REMOVE:
            pairs += [("op_tid", p["op_tid"]), ("key", p["key"])]
    meta = value.get("metadata")
    ts = meta["timestamp"] if meta else {"sec": 0, "nsec": 0}
    pairs.append(("timestamp", format_utime(ts["sec"], ts["nsec"])))
    return pairs


def client_data_dump(value: Any) -> Pairs:
    """``ClientData::dump``."""
    kind = int(value["client_meta_type"])
    meta = value["client_meta"]
    pairs: Pairs = [("client_meta_type", lj.CLIENT_META_NAMES.get(kind, f"Unknown ({kind})"))]
    if kind == lj.IMAGE_CLIENT:
        pairs += [("tag_class", meta["tag_class"]), ("resync_requested", bool(meta["resync_requested"]))]
    elif kind == lj.MIRROR_PEER_CLIENT:
        state = meta["state"]
        points = []
        for sp in meta["sync_points"]:
            point: Pairs = [("snap_name", sp["snap_name"]), ("from_snap_name", sp["from_snap_name"])]
            if sp["object_number"] is not None:
                point.append(("object_number", sp["object_number"]))
            point += namespace_pairs(sp.get("snapshot_namespace"))
            points.append(point)
        pairs += [("image_id", meta["image_id"]),
                  ("state", lj.MIRROR_PEER_STATE_NAMES.get(state, f"Unknown ({state})")),
                  ("sync_object_count", meta["sync_object_count"]), ("sync_points", points),
                  ("snap_seqs", [[("local_snap_seq", s["local_snap_seq"]), ("peer_snap_seq", s["peer_snap_seq"])]
                                 for s in meta["snap_seqs"]])]
    return pairs


def client_data_text(value: Any) -> str:
    """``operator<<`` of the client meta (what rbd-mirror and librbd log)."""
    kind = int(value["client_meta_type"])
    meta = value["client_meta"]
    if kind == lj.IMAGE_CLIENT:
        return f"[tag_class={meta['tag_class']}]"
    if kind == lj.MIRROR_PEER_CLIENT:
        points = ", ".join(
            "[[snap_name=" + sp["snap_name"] + ", from_snap_name=" + sp["from_snap_name"]
            + (f", {sp['object_number']}" if sp["object_number"] is not None else "") + "]]"
            for sp in meta["sync_points"])
        seqs = ", ".join(f"[local_snap_seq={s['local_snap_seq']}, peer_snap_seq{s['peer_snap_seq']}]"
                         for s in meta["snap_seqs"])
        state = lj.MIRROR_PEER_STATE_NAMES.get(meta["state"], f"Unknown ({meta['state']})")
        return (f"[image_id={meta['image_id']}, state={state}, sync_object_count={meta['sync_object_count']}, "
                f"sync_points=[{points}], snap_seqs=[{seqs}]]")
    return lj.CLIENT_META_NAMES.get(kind, f"Unknown ({kind})")


def tag_data_dump(value: Any) -> Pairs:
    """``TagData::dump`` (commit_valid is the string "true"/"false", as Ceph writes it)."""
    pred = value["predecessor"]
    return [("mirror_uuid", value["mirror_uuid"]),
            ("predecessor", [("mirror_uuid", pred["mirror_uuid"]),
                             ("commit_valid", "true" if pred["commit_valid"] else "false"),
                             ("tag_tid", pred["tag_tid"]), ("entry_tid", pred["entry_tid"])])]


def tag_data_text(value: Any) -> str:
    pred = value["predecessor"]
    inner = f"mirror_uuid={pred['mirror_uuid']}"
    if pred["commit_valid"]:
        inner += f", tag_tid={pred['tag_tid']}, entry_tid={pred['entry_tid']}"
    return f"[mirror_uuid={value['mirror_uuid']}, predecessor=[{inner}]]"


def hexdump(data: bytes) -> str:
    """``bufferlist::hexdump`` as ``rbd journal status --format json`` prints client data ('' when empty).

    Like ``hexdump -C``: 16 bytes a row, rows made of one repeated byte that repeat the
    previous such row collapse into ``*``, then the total length.
    """
    if not data:
        return ""
    rows: list[str] = []
    last_char = data[0]
    was_same = did_star = False
    for off in range(0, len(data), 16):
        row = data[off : off + 16]
        if off + 16 < len(data):
            same = True
            for i, byte in enumerate(row):
                if byte != last_char:
                    if i == 0:
                        last_char = byte
                        was_same = did_star = False
                    else:
                        same = False
            if same:
                if was_same:
                    if not did_star:
                        rows.append("*")
                        did_star = True
                    continue
                was_same = True
            else:
                was_same = did_star = False
        hexes = ""
        for i in range(16):
            if i == 8:
                hexes += " "
            hexes += f" {row[i]:02x}" if i < len(row) else "   "
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        rows.append(f"{off:08x} {hexes}  |{text}|")
    return "\n".join(rows) + f"\n{len(data):08x}\n"
