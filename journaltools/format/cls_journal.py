"""cls_journal records: what the ``journal`` object class keeps in a journal header's omap.

Source: src/cls/journal/cls_journal_types.{h,cc}, src/cls/journal/cls_journal.cc.
Header omap keys and their plain encodings are in :data:`HEADER_KEYS`; clients
live under ``client_<id>`` and tags under ``tag_<16 hex digits>``.
"""

from __future__ import annotations

from construct import Construct

from .cls_journal_keys import (  # noqa: F401  (re-exported: the construct-free names of this module)
    CLIENT_KEY_PREFIX,
    CLIENT_STATE_CONNECTED,
    CLIENT_STATE_DISCONNECTED,
    CLIENT_STATE_NAMES,
    TAG_CLASS_NEW,
    TAG_KEY_PREFIX,
    client_key,
    client_state_name,
    tag_key,
)
from .primitives import Bufferlist, CephList, CephString, i64, u8, u64, versioned
from .registry import register

ObjectPosition = register(
    "cls::journal::ObjectPosition",
    versioned(1, 1, "object_number" / u64, "tag_tid" / u64, "entry_tid" / u64, name="ObjectPosition"),
    "a position in the journal: object number, tag tid, entry tid",
)

ObjectSetPosition = register(
    "cls::journal::ObjectSetPosition",
    versioned(1, 1, "object_positions" / CephList(ObjectPosition), name="ObjectSetPosition"),
    "a client's commit position: newest first, at most one per splay offset",
)

Client = register(
    "cls::journal::Client",
    versioned(
        1,
        1,
        "id" / CephString(),
        "data" / Bufferlist(),
        "commit_position" / ObjectSetPosition,
        "state" / u8,
        name="Client",
    ),
    "a registered journal client: id, opaque client data, commit position, state",
)

Tag = register(
    "cls::journal::Tag",
    versioned(1, 1, "tid" / u64, "tag_class" / u64, "data" / Bufferlist(), name="Tag"),
    "a journal tag (epoch): tid, tag class, opaque tag data",
)

#: The fixed header omap keys, their encodings and exact value sizes.
HEADER_KEYS: dict[str, tuple[Construct, int]] = {
    "order": (u8, 1),
    "splay_width": (u8, 1),
    "pool_id": (i64, 8),
    "minimum_set": (u64, 8),
    "active_set": (u64, 8),
    "next_tag_tid": (u64, 8),
    "next_tag_class": (u64, 8),
}
