"""The library entry points a script needs, typed (docs/api.md; ``mypy --strict`` clean for callers).

Open a store (a directory, or a live cluster), open a journal by image name or
journal id, iterate its decoded events with their type names, get its structural
problems, its statistics, the trimming view and a pool's journal listing::

    from journaltools import api

    with api.open_store("fixtures/stores/site-a") as store:
        journal = api.open_journal(store, "rbd", image="small")
        for event in api.events(journal):
            print(event.commit_tid, event.type_name, event.time)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import FormatError, JournalToolsError, NotFoundError
from .journal.listing import JournalSummary
from .journal.model import Journal
from .journal.problems import ERROR, WARNING, Problem
from .journal.stats import JournalStats
from .journal.trimming import Trimming
from .store.base import Pool, Store

__all__ = [
    "ERROR",
    "WARNING",
    "Event",
    "FormatError",
    "Journal",
    "JournalStats",
    "JournalSummary",
    "JournalToolsError",
    "NotFoundError",
    "Pool",
    "Problem",
    "Store",
    "Trimming",
    "events",
    "list_journals",
    "open_journal",
    "open_store",
    "problems",
    "stats",
    "trimming",
]


def open_store(path: str | None = None, *, conf: str | None = None, client_id: str | None = None,
               cluster: str | None = None) -> Store:
    """A directory store (``path``), or a live cluster (``conf``: a ceph.conf; ``client_id``, ``cluster``).

    The store is a context manager: leaving the ``with`` block closes a cluster connection.
    """
    from .store import open_store as _open

    if path is None and conf is None and client_id is None and cluster is None:
        raise JournalToolsError("open_store needs a directory or a cluster (conf=, client_id= or cluster=)")
    return _open(path, conf, client_id, cluster)


def open_journal(store: Store, pool: str, *, image: str | None = None, journal_id: str | None = None,
                 namespace: str = "") -> Journal:
    """The journal of image ``image`` (its id is the journal id), or journal ``journal_id``, in ``pool``.

    Raises :class:`NotFoundError` when the image or the journal does not exist.
    """
    from .spec import image_id

    if (image is None) == (journal_id is None):
        raise JournalToolsError("open_journal needs exactly one of image= and journal_id=")
    header_pool = store.pool(pool, namespace)
    return Journal.open(header_pool, journal_id if journal_id is not None else image_id(header_pool, str(image)))


@dataclass(frozen=True, slots=True)
class Event:
    """One journal entry with its decoded event."""

    commit_tid: int  # position in the walk, from 1 (as rbd journal export numbers entries)
    tag_tid: int
    entry_tid: int
    object_name: str
    offset: int  # byte offset of the entry in its object
    size: int  # bytes of the entry frame
    type_name: str  # AioWrite, AioDiscard, SnapCreate, ...
    type_id: int  # librbd's EventType (-1: a type Ceph's decoder does not know)
    timestamp: float | None  # seconds since the epoch (None: an event older than struct v4)
    time: str | None  # the same as ISO 8601 UTC
    payload: dict[str, Any]  # the event's fields (write data as base64)


def events(journal: Journal, *, all_entries: bool = False) -> Iterator[Event]:
    """The entries ``journal export`` exports (``all_entries``: every entry present), decoded.

    Entries whose payload is not an EventEntry are left out (see :func:`problems`).
    """
    from .export import decode_event, iso_utc

    for entry in journal.walk(all_entries=all_entries):
        try:
            event = decode_event(entry.payload)
        except FormatError:
            continue
        doc = event.to_json()
        payload = doc.get("event", {}).get("payload", {}) if isinstance(doc, dict) else {}
        yield Event(entry.commit_tid, entry.tag_tid, entry.entry_tid, entry.object_name, entry.offset, entry.size,
                    event.type_name, event.type_id, event.timestamp, iso_utc(event.timestamp),
                    payload if isinstance(payload, dict) else {})


def problems(journal: Journal, *, all_entries: bool = False) -> list[Problem]:
    """Every structural problem ``journal inspect`` reports (severity, kind, object, offset, tag, entry tid)."""
    walk = journal.walk(all_entries=all_entries)
    walk.count()
    return list(walk.problems)


def stats(journal: Journal, *, all_entries: bool = True) -> JournalStats:
    """``journal stats``: counts by event type, tag, object and splay offset; times; write sizes."""
    from .journal.stats import journal_stats

    return journal_stats(journal, all_entries=all_entries)


def trimming(journal: Journal) -> Trimming:
    """Which client holds ``minimum_set`` and what a disconnect of it lets librbd trim."""
    from .journal.trimming import journal_trimming

    return journal_trimming(journal)


def list_journals(store: Store, pool: str, *, namespace: str = "", all_namespaces: bool = False,
                  check: bool = False) -> list[JournalSummary]:
    """``journal list``: every journal of the pool, largest first."""
    from .journal.listing import list_journals as _list

    return _list(store.pool(pool, namespace), all_namespaces=all_namespaces, check=check)
