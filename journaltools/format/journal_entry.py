"""``journal::Entry``: the frame of every entry in a journal data object.

Layout (src/journal/Entry.{h,cc}), all little-endian::

    u64 preamble (0x3141592653589793) | u8 version (1) | u64 entry_tid | u64 tag_tid
    | u32 data_len | data | u32 crc

The crc is Ceph's crc32c with seed 0 over everything before it.  The construct
declaration :data:`Entry` is the single definition; :data:`FRAME_HEAD` is the same first
29 bytes as a precompiled :class:`struct.Struct` for the scanning hot path.  ``Entry``
is declared (and registered) on first use, so that the walk, which needs only the
constants, does not import construct at start-up.
"""

from __future__ import annotations

import struct
from typing import Any

from .crc import ceph_crc32c

PREAMBLE = 0x3141592653589793
PREAMBLE_BYTES = PREAMBLE.to_bytes(8, "little")
VERSION = 1


def _declare_entry() -> Any:
    from construct import Const, Struct

    from .primitives import Bufferlist, u8, u32, u64
    from .registry import register

    return register(
        "journal::Entry",
        Struct(
            "preamble" / Const(PREAMBLE, u64),
            "version" / u8,
            "entry_tid" / u64,
            "tag_tid" / u64,
            "data" / Bufferlist(),
            "crc" / u32,
        ),
        "one journal entry frame: preamble, version, entry tid, tag tid, payload, crc32c",
    )


def __getattr__(name: str) -> Any:
    """``Entry``, the declaration, built on first use."""
    if name == "Entry":
        entry = globals()["Entry"] = _declare_entry()
        return entry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: preamble, version, entry_tid, tag_tid, data_len: the fixed head of :data:`Entry`.
FRAME_HEAD = struct.Struct("<QBQQI")
#: bytes before the payload (``HEADER_FIXED_SIZE`` 25 + the u32 length).
HEAD_SIZE = FRAME_HEAD.size
#: fixed overhead of one entry: head + crc (Ceph's 33).
OVERHEAD = HEAD_SIZE + 4

assert HEAD_SIZE == 29


def encode_entry(tag_tid: int, entry_tid: int, data: bytes | memoryview) -> bytes:
    """Frame ``data`` as libjournal does, crc included."""
    head = FRAME_HEAD.pack(PREAMBLE, VERSION, entry_tid, tag_tid, len(data))
    body = head + data
    return body + ceph_crc32c(body).to_bytes(4, "little")
