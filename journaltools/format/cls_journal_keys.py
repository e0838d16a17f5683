"""The names and plain values of cls_journal's header omap, without the construct declarations.

Source: src/cls/journal/cls_journal_types.{h,cc}, src/cls/journal/cls_journal.cc.
:mod:`.cls_journal` declares the records and re-exports these; code on the start-up
path of the read commands (the journal model, the walk) imports them from here, so
that it does not import construct (tests/test_cli_lazy_loading.py).
"""

from __future__ import annotations

CLIENT_STATE_CONNECTED = 0
CLIENT_STATE_DISCONNECTED = 1
CLIENT_STATE_NAMES = {CLIENT_STATE_CONNECTED: "connected", CLIENT_STATE_DISCONNECTED: "disconnected"}

TAG_CLASS_NEW = 0xFFFFFFFFFFFFFFFF

#: The fixed header omap keys: (exact value size, signed) of their little-endian integer encodings
#: (:data:`.cls_journal.HEADER_KEYS` has the same as construct declarations).
HEADER_KEY_SIZES: dict[str, tuple[int, bool]] = {
    "order": (1, False),
    "splay_width": (1, False),
    "pool_id": (8, True),
    "minimum_set": (8, False),
    "active_set": (8, False),
    "next_tag_tid": (8, False),
    "next_tag_class": (8, False),
}

CLIENT_KEY_PREFIX = "client_"
TAG_KEY_PREFIX = "tag_"


def client_state_name(state: int) -> str:
    return CLIENT_STATE_NAMES.get(state, f"unknown ({state})")


def tag_key(tid: int) -> str:
    return f"{TAG_KEY_PREFIX}{tid:016x}"


def client_key(client_id: str) -> str:
    return CLIENT_KEY_PREFIX + client_id
