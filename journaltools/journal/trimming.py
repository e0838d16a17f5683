"""What holds a journal's ``minimum_set``, and what librbd could trim without it.

librbd trims as src/journal/JournalTrimmer.cc ``handle_metadata_updated`` does:
over the *connected* clients, the minimum commit set is the smallest object set
(``object_number // splay_width``) of any of their commit positions, starting
from ``active_set``; a connected client that has committed nothing holds
``minimum_set`` itself.  Disconnected clients are skipped.  When that minimum
is above ``minimum_set``, the object sets below it are removed one by one and
``minimum_set`` advances.

So the client that holds ``minimum_set`` is the connected client with the
smallest commit set, and disconnecting it (``journal client disconnect``) lets
librbd trim every object of the sets from ``minimum_set`` up to the next
client's smallest commit set (or ``active_set`` when no connected client is
left).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..format.cls_journal_keys import CLIENT_STATE_DISCONNECTED
from .model import ClientRecord, Journal, JournalHeader


def is_disconnected(client: ClientRecord) -> bool:
    return client.state == CLIENT_STATE_DISCONNECTED


def client_commit_set(client: ClientRecord, splay_width: int) -> int | None:
    """The smallest object set of the client's commit positions (None: it has committed nothing)."""
    if not client.commit_position:
        return None
    return min(p.object_number // splay_width for p in client.commit_position)


def minimum_commit_set(header: JournalHeader, excluded: Iterable[str] = ()) -> tuple[int, str | None]:
    """(the set librbd may trim up to, the client that stops it) over the connected clients not ``excluded``."""
    width = header.splay_width or 1
    minimum = header.minimum_set or 0
    result = max(header.active_set or 0, minimum)
    holder: str | None = None
    skip = set(excluded)
    for client in header.clients:
        if client.state is None or is_disconnected(client) or client.id in skip:
            continue
        commit_set = client_commit_set(client, width)
        if commit_set is None:
            return minimum, client.id
        if commit_set < result:
            result, holder = commit_set, client.id
    return result, holder


@dataclass(frozen=True, slots=True)
class Trimming:
    """The trimming view of one journal."""

    minimum_set: int
    active_set: int
    holder: str | None  # the connected client whose commit position pins minimum_set (None: nothing pins it)
    trimmable_now: int  # the set librbd may trim up to with the clients as they are
    after_disconnect_set: int  # ... and after the holder's disconnect
    freed_objects: int  # objects present in [minimum_set, after_disconnect_set)
    freed_bytes: int
    disconnected: tuple[str, ...]  # clients flagged disconnected (left out of lag and of trimming)

    def to_json(self) -> dict[str, object]:
        return {
            "minimum_set": self.minimum_set,
            "active_set": self.active_set,
            "minimum_set_holder": self.holder,
            "trimmable_up_to_set": self.trimmable_now,
            "disconnect_of_holder": {"trims_up_to_set": self.after_disconnect_set, "objects": self.freed_objects,
                                     "bytes": self.freed_bytes},
            "disconnected_clients": list(self.disconnected),
        }


def trimming(header: JournalHeader, object_sizes: Mapping[int, int | None]) -> Trimming:
    """The trimming view, given the sizes of the data objects present (object number -> bytes, None: absent)."""
    width = header.splay_width or 1
    minimum = header.minimum_set or 0
    active = max(header.active_set or 0, minimum)
    now, holder = minimum_commit_set(header)
    after = minimum_commit_set(header, excluded=[holder])[0] if holder is not None else now
    freed = [size for number, size in object_sizes.items() if size is not None and minimum <= number // width < after]
    return Trimming(minimum, active, holder, now, after, len(freed), sum(freed),
                    tuple(c.id for c in header.clients if is_disconnected(c)))


def journal_trimming(journal: Journal) -> Trimming:
    """:func:`trimming` of ``journal``, with its data objects' sizes (stat'ed in parallel on a live pool)."""
    numbers = journal.find_data_objects().numbers
    sizes = journal.data_pool.stat_many([journal.object_name(n) for n in numbers])
    return trimming(journal.header, {n: sizes.get(journal.object_name(n)) for n in numbers})
