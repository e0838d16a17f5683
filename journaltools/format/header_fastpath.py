"""The fast path for the small records every journal command reads first, without construct.

Opening a journal decodes its header omap: ``cls::journal::Client`` and
``cls::journal::Tag`` records (src/cls/journal/cls_journal_types.cc), and resolving
an image reads a ``std::string`` (its id) and a u64 (its features).  These
records are nearly always in exactly the shape Ceph writes: struct_v 1,
struct_compat 1, no bytes beyond the fields.  For that shape the functions here
decode with :mod:`struct` alone, so a command does not import construct (about a
tenth of a second of start-up on a loaded machine) just to open a journal.

Anything else (other versions, tails, lengths that disagree, truncation) returns
``None``: the caller falls back to the construct declaration in
:mod:`.cls_journal` / :mod:`.primitives`, which gives the same values for every
input the fast path accepts and the exact error for the others
(tests/test_header_fastpath.py checks both against the declarations).
"""

from __future__ import annotations

import struct

_head = struct.Struct("<BBI").unpack_from  # struct_v, struct_compat, length
_u32 = struct.Struct("<I").unpack_from
_position = struct.Struct("<BBIQQQ").unpack_from  # an ObjectPosition: envelope (1, 1, 24) + three u64
_POSITION_SIZE = 30
_tag = struct.Struct("<BBIQQI").unpack_from  # envelope, tid, tag_class, data length
_TAG_FIXED = 26

#: (object_number, tag_tid, entry_tid)
Position = tuple[int, int, int]


def fast_string(raw: bytes) -> str | None:
    """A ``std::string`` that fills ``raw`` exactly (as ``decode(CephString(), raw)``), else None."""
    if len(raw) < 4 or _u32(raw)[0] != len(raw) - 4:
        return None
    return bytes(raw[4:]).decode("utf-8", "surrogateescape")


def fast_u64(raw: bytes) -> int | None:
    """A u64 that fills ``raw`` exactly, else None."""
    return int.from_bytes(raw, "little") if len(raw) == 8 else None


def fast_client(raw: bytes) -> tuple[str, bytes, list[Position], int] | None:
    """(id, data, commit positions, state) of a v1 ``cls::journal::Client`` record, else None."""
    size = len(raw)
    if size < 6:
        return None
    struct_v, compat, length = _head(raw)
    if struct_v != 1 or compat != 1 or length != size - 6:
        return None
    at = 6
    if at + 4 > size:
        return None
    n = _u32(raw, at)[0]
    at += 4
    if at + n + 4 > size:
        return None
    client_id = bytes(raw[at : at + n]).decode("utf-8", "surrogateescape")
    at += n
    n = _u32(raw, at)[0]
    at += 4
    if at + n + 11 > size:  # the commit position envelope, its count and the state byte follow
        return None
    data = bytes(raw[at : at + n])
    at += n
    struct_v, compat, length = _head(raw, at)  # ObjectSetPosition
    at += 6
    if struct_v != 1 or compat != 1 or at + length + 1 != size or length < 4:
        return None
    count = _u32(raw, at)[0]
    at += 4
    if length != 4 + count * _POSITION_SIZE:
        return None
    positions: list[Position] = []
    for _ in range(count):
        v, c, n, object_number, tag_tid, entry_tid = _position(raw, at)
        if v != 1 or c != 1 or n != 24:
            return None
        positions.append((object_number, tag_tid, entry_tid))
        at += _POSITION_SIZE
    return client_id, data, positions, raw[at]


def fast_tag(raw: bytes) -> tuple[int, int, bytes] | None:
    """(tid, tag_class, data) of a v1 ``cls::journal::Tag`` record, else None."""
    size = len(raw)
    if size < _TAG_FIXED:
        return None
    struct_v, compat, length, tid, tag_class, n = _tag(raw)
    if struct_v != 1 or compat != 1 or length != size - 6 or n != size - _TAG_FIXED:
        return None
    return tid, tag_class, bytes(raw[_TAG_FIXED:])


# -- librbd's data in the header records, as the JSON export shows it (jsonify of the declarations) -------
_image_client_data = struct.Struct("<BBIIQB").unpack_from  # ENCODE_START(2, 1) { u32 type 0; u64 tag_class; bool }
_IMAGE_CLIENT_DATA_SIZE = 19
_predecessor = struct.Struct("<BQQ").unpack_from  # commit_valid, tag_tid, entry_tid


def _utf8_string(raw: bytes, at: int) -> tuple[str, int] | None:
    """A ``std::string`` at ``at`` that is valid UTF-8 (jsonify writes others as base64), and the offset after it."""
    if at + 4 > len(raw):
        return None
    end = at + 4 + _u32(raw, at)[0]
    if end > len(raw):
        return None
    try:
        return bytes(raw[at + 4 : end]).decode("utf-8"), end
    except UnicodeDecodeError:
        return None


def fast_client_data_json(raw: bytes) -> dict[str, object] | None:
    """``to_json`` of ``librbd::journal::ClientData`` for the image (master) client's v2 record, else None."""
    if len(raw) != _IMAGE_CLIENT_DATA_SIZE:
        return None
    struct_v, compat, length, meta_type, tag_class, resync = _image_client_data(raw)
    if struct_v != 2 or compat != 1 or length != _IMAGE_CLIENT_DATA_SIZE - 6 or meta_type != 0:
        return None
    return {"client_meta_type": 0, "client_meta": {"tag_class": tag_class, "resync_requested": resync != 0}}


def fast_tag_data_json(raw: bytes) -> dict[str, object] | None:
    """``to_json`` of ``librbd::journal::TagData`` (two UTF-8 strings, bool, two u64, nothing after), else None."""
    own = _utf8_string(raw, 0)
    if own is None:
        return None
    previous = _utf8_string(raw, own[1])
    if previous is None or len(raw) != previous[1] + 17:
        return None
    commit_valid, tag_tid, entry_tid = _predecessor(raw, previous[1])
    return {"mirror_uuid": own[0], "predecessor": {"mirror_uuid": previous[0], "commit_valid": commit_valid != 0,
                                                  "tag_tid": tag_tid, "entry_tid": entry_tid}}
