"""Creating, removing and resetting a journal as librbd does.

Create (src/librbd/journal/CreateRequest.cc, checked against the omap the real
``rbd feature enable ... journaling`` writes): cls ``create(order, splay_width,
pool_id)`` with pool_id -1 unless a journal pool is given, a first tag in a new
tag class with TagData{mirror_uuid ""}, and the image client ``""`` registered
with ImageClientMeta{tag_class}.  Remove (Journaler::remove): every data object
of the live sets, then the header.  Reset keeps order, splay width and pool.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from ..cls import journal as cls_journal
from ..errors import FormatError, NotFoundError
from ..format.cls_journal import TAG_CLASS_NEW
from ..format.librbd_journal import IMAGE_CLIENT_ID, make_image_client_data, make_tag_data
from ..format.primitives import encode, i64, u8, u64
from ..store.base import Pool
from .model import HEADER_PREFIX, Journal


@dataclass(frozen=True)
class Geometry:
    order: int = 24
    splay_width: int = 4
    pool_id: int = -1


def image_client_meta(journal: Journal) -> Any | None:
    """The image client's (``""``) ImageClientMeta, or None when absent or not image client data."""
    from ..format.librbd_journal import IMAGE_CLIENT, decode_client_data

    client = journal.header.client(IMAGE_CLIENT_ID)
    if client is None or not client.data:
        return None
    try:
        data = decode_client_data(client.data)
    except FormatError:
        return None
    return data.client_meta if data.client_meta_type == IMAGE_CLIENT else None


def image_tag_class(journal: Journal) -> int:
    """The tag class librbd writes the image's epochs in (0 when the image client says nothing)."""
    meta = image_client_meta(journal)
    return int(meta.tag_class) if meta is not None else 0


def create_journal(header_pool: Pool, journal_id: str, geometry: Geometry) -> None:
    """A new empty journal owned by the local image (tag 0 of a new class, client "")."""
    oid = HEADER_PREFIX + journal_id
    cls_journal.create(header_pool, oid, geometry.order, geometry.splay_width, geometry.pool_id)
    tag = cls_journal.allocate_tag(header_pool, oid, TAG_CLASS_NEW, make_tag_data(""))
    cls_journal.client_register(header_pool, oid, IMAGE_CLIENT_ID, make_image_client_data(tag.tag_class))


def remove_journal(journal: Journal) -> int:
    """Delete every data object, then the header; returns the number of data objects removed."""
    removed = 0
    objects = journal.find_data_objects(exhaustive=True)
    for number in objects.numbers:
        with contextlib.suppress(NotFoundError):
            journal.data_pool.remove(journal.object_name(number))
            removed += 1
    for stray in objects.strays:
        with contextlib.suppress(NotFoundError):
            journal.data_pool.remove(stray)
    journal.header_pool.remove(journal.header_oid)
    return removed


def geometry_of(journal: Journal) -> Geometry:
    header = journal.header
    return Geometry(header.order if header.order is not None else 24, header.splay_width or 4,
                    header.pool_id if header.pool_id is not None else -1)


def reset_journal(journal: Journal, keep_clients: bool = False) -> Journal:
    """Delete all entries and recreate the journal with the same geometry.

    The header object stays in place throughout.  Its new omap (what cls ``create``
    writes, the first tag as ``tag_create`` writes it, the image client with an empty
    commit position and, with ``keep_clients``, every other client with its data and
    nothing committed) is written in one atomic omap update first; then the keys of the
    old journal are removed, then the data objects.  A crash at any point leaves a
    journal whose header already holds the kept clients (or the old header untouched),
    so running the reset again reaches the state of an uninterrupted reset.
    """
    from ..format.cls_journal import CLIENT_STATE_CONNECTED, Client, Tag, client_key, tag_key

    geometry = geometry_of(journal)
    others = [(c.id, c.data) for c in journal.header.clients if c.id != IMAGE_CLIENT_ID and c.state is not None]
    pool, oid = journal.header_pool, journal.header_oid
    tag_class = 0  # the first tag of a new class after create: next_tag_class was 0

    def client(client_id: str, data: bytes) -> bytes:
        return encode(Client, {"id": client_id, "data": data, "state": CLIENT_STATE_CONNECTED,
                               "commit_position": {"object_positions": []}})

    fresh = {
        "order": encode(u8, geometry.order), "splay_width": encode(u8, geometry.splay_width),
        "pool_id": encode(i64, geometry.pool_id), "minimum_set": encode(u64, 0), "active_set": encode(u64, 0),
        "next_tag_tid": encode(u64, 1), "next_tag_class": encode(u64, tag_class + 1),
        tag_key(0): encode(Tag, {"tid": 0, "tag_class": tag_class, "data": make_tag_data("")}),
        client_key(IMAGE_CLIENT_ID): client(IMAGE_CLIENT_ID, make_image_client_data(tag_class)),
    }
    if keep_clients:
        fresh.update({client_key(client_id): client(client_id, data) for client_id, data in others})
    pool.omap_set(oid, fresh)
    from .repair import discard_pending

    discard_pending(journal)  # an interrupted repair's steps were planned for the entries deleted here
    stale = [k for k in pool.omap(oid) if k not in fresh]
    if stale:
        pool.omap_remove(oid, stale)
    objects = journal.find_data_objects(exhaustive=True)
    for number in objects.numbers:
        with contextlib.suppress(NotFoundError):
            journal.data_pool.remove(journal.object_name(number))
    return Journal.open(pool, journal.journal_id)
