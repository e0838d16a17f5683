"""Every journal of a pool at a glance (``journal list``): sizes, sets, clients, who holds the journal.

One listing of the pool (all RADOS namespaces with ``all_namespaces``) finds the
journal headers (``journal.<id>``), their data objects
(``journal_data.<pool id>.<id>.<n>``) and the image records; then every header
omap and every data object's size is fetched with the store's bulk calls
(:meth:`~journaltools.store.base.Pool.omap_many`, ``stat_many``: asynchronous
librados calls on a live pool).  Nothing else is read unless asked: ``check``
walks each journal for structural problems, ``entries`` reads it for each
client's exact lag.

Lag without reading the data: a client's commit position against the most
advanced connected client's (entries, when both are in one tag: entry tids of
a tag are contiguous) and against ``active_set`` (object sets).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError
from ..format.cls_journal import client_state_name
from ..spec import RBD_DIRECTORY, RBD_HEADER_PREFIX
from ..store.base import Pool
from .model import DATA_PREFIX, HEADER_PREFIX, Journal, parse_header
from .problems import ERROR, Problem
from .trimming import client_commit_set, is_disconnected, trimming

#: a client this many entries behind the most advanced client makes the journal ``lagging``
DEFAULT_MAX_LAG_ENTRIES = 1000
STATES = ("ok", "lagging", "orphaned", "damaged")
_DATA_NAME = re.compile(r"^journal_data\.(\d+)\.([^.]+)\.(\d+)$")


@dataclass
class ClientSummary:
    id: str
    state: str
    commit_set: int | None  # smallest object set of its commit positions (None: nothing committed)
    sets_behind: int | None  # active_set - its newest commit position's set
    entries_behind: int | None  # behind the most advanced connected client (None: not known from the header)
    lag_entries: int | None = None  # exact, behind the newest entry (with ``entries``)
    lag_bytes: int | None = None
    behind_leader: bool = False  # committed nothing while another connected client has (a new or stuck client)

    @property
    def lag_key(self) -> tuple[int, int, int]:
        entries = self.lag_entries if self.lag_entries is not None else (self.entries_behind or 0)
        return (self.sets_behind or 0, int(self.behind_leader), entries)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "state": self.state, "commit_set": self.commit_set,
                               "sets_behind": self.sets_behind, "entries_behind": self.entries_behind,
                               "committed_nothing": self.commit_set is None}
        if self.lag_entries is not None:
            doc["lag"] = {"entries": self.lag_entries, "bytes": self.lag_bytes}
        return doc


@dataclass
class JournalSummary:
    pool: str
    namespace: str
    journal_id: str
    image: str | None  # None: no image of that id (orphaned journal, or data objects without a header)
    has_header: bool
    data_pool: str
    objects: int = 0
    bytes: int = 0
    minimum_set: int | None = None
    active_set: int | None = None
    clients: list[ClientSummary] = field(default_factory=list)
    holder: str | None = None
    state: str = "ok"
    errors: int | None = None  # with ``check``
    warnings: int | None = None
    header_problems: list[str] = field(default_factory=list)

    @property
    def worst_lag(self) -> ClientSummary | None:
        """The connected client furthest behind (sets first, then entries)."""
        candidates = [c for c in self.clients if c.state != "disconnected"]
        if not candidates:
            return None
        worst = max(candidates, key=lambda c: c.lag_key)
        return worst if any(worst.lag_key) else None

    def to_json(self) -> dict[str, Any]:
        worst = self.worst_lag
        doc: dict[str, Any] = {
            "pool": self.pool,
            "namespace": self.namespace,
            "image": self.image,
            "journal_id": self.journal_id,
            "header": self.has_header,
            "data_pool": self.data_pool,
            "objects": self.objects,
            "bytes": self.bytes,
            "minimum_set": self.minimum_set,
            "active_set": self.active_set,
            "clients": [c.to_json() for c in self.clients],
            "minimum_set_holder": self.holder,
            "worst_lag": None if worst is None else {
                "client": worst.id, "sets": worst.sets_behind, "entries": worst.entries_behind,
                **({"lag_entries": worst.lag_entries, "lag_bytes": worst.lag_bytes} if worst.lag_entries is not None else {})},
            "state": self.state,
        }
        if self.errors is not None:
            doc["problems"] = {"errors": self.errors, "warnings": self.warnings}
        if self.header_problems:
            doc["header_problems"] = self.header_problems
        return doc


def list_journals(pool: Pool, *, all_namespaces: bool = False, check: bool = False, entries: bool = False,
                  max_lag_entries: int = DEFAULT_MAX_LAG_ENTRIES, scan: bool | None = None) -> list[JournalSummary]:
    """Every journal (and header-less data objects) of ``pool`` (its namespace, or all), largest first.

    ``scan``: list the pool's objects (the default where listing is cheap, see
    :meth:`Pool.listing_is_cheap`).  Without it the journals are found through
    ``rbd_directory`` (image ids) and their data objects by name (the sets from one
    below ``minimum_set`` to one above ``active_set``), as the readers of one journal
    find them on big pools; orphaned journals and stray data objects are then not seen.
    """
    if scan is None:
        scan = pool.listing_is_cheap()
    listing: dict[str, set[str] | None] = {}
    if not scan:
        namespaces = [pool.namespace] if not all_namespaces else ["", *rbd_namespaces(pool)]
        listing = dict.fromkeys(namespaces)
    elif all_namespaces:
        found: dict[str, set[str]] = defaultdict(set)
        for namespace, name in pool.list_all_namespaces():
            found[namespace].add(name)
        listing = dict(found)
    else:
        listing[pool.namespace] = set(pool.list_objects())
    summaries: list[JournalSummary] = []
    for namespace in sorted(listing):
        space = pool.with_namespace(namespace) if namespace != pool.namespace else pool
        summaries += _list_namespace(space, listing[namespace], check, entries, max_lag_entries)
    summaries.sort(key=lambda s: (-s.bytes, s.namespace, s.image or "", s.journal_id))
    return summaries


def rbd_namespaces(pool: Pool) -> list[str]:
    """The pool's RBD namespaces (keys ``name_<ns>`` of ``rbd_namespace`` in the default namespace)."""
    try:
        return sorted(key[5:] for key, _ in pool.with_namespace("").omap_items("rbd_namespace", prefix="name_"))
    except NotFoundError:
        return []


def _candidates(journal: Journal) -> dict[int, str]:
    """Object number -> name of the data objects a journal may have (one set either side of its sets)."""
    width = journal.splay_width
    first = max(journal.minimum_set - 1, 0) * width
    return {n: journal.object_name(n) for n in range(first, (journal.active_set + 2) * width)}


def _list_namespace(pool: Pool, names: set[str] | None, check: bool, entries: bool,
                    max_lag_entries: int) -> list[JournalSummary]:
    """The journals of one namespace, from its listing (``names``) or, when None, from rbd_directory."""
    directory = _image_names(pool, names)
    header_ids = (sorted(n[len(HEADER_PREFIX):] for n in names if n.startswith(HEADER_PREFIX)) if names is not None
                  else sorted(directory))
    omaps = pool.omap_many([HEADER_PREFIX + jid for jid in header_ids])
    data_here = _data_objects(names, pool.pool_id) if names is not None else {}
    other_pools: dict[int, dict[str, dict[int, str]]] = {}  # data pool id -> journal id -> objects

    found: list[tuple[Journal, dict[int, str]]] = []
    for jid in header_ids:
        omap = omaps.get(HEADER_PREFIX + jid)
        if omap is None or "order" not in omap:
            continue  # removed since the listing, or not a journal header
        header = parse_header(omap, HEADER_PREFIX + jid)
        data_pool = pool
        if header.pool_id is not None and header.pool_id >= 0 and header.pool_id != pool.pool_id:
            try:
                data_pool = pool.store.pool_by_id(header.pool_id, pool.namespace)
            except NotFoundError:
                header.problems.append(_problem(f"pool_id {header.pool_id} names no existing pool", jid))
        if names is None:
            objects = _candidates(Journal(pool, jid, header, data_pool))
        elif data_pool is pool:
            objects = data_here.pop(jid, {})
        else:
            if data_pool.pool_id not in other_pools:
                other_pools[data_pool.pool_id] = _data_objects(set(data_pool.list_objects(f"{DATA_PREFIX}{pool.pool_id}.")),
                                                               pool.pool_id)
            objects = other_pools[data_pool.pool_id].get(jid, {})
        found.append((Journal(pool, jid, header, data_pool), objects))
    # one bulk stat per data pool, for every journal at once (the calls run in parallel on a live pool)
    by_pool: dict[int, tuple[Pool, list[str]]] = {}
    for journal, objects in found:
        by_pool.setdefault(journal.data_pool.pool_id, (journal.data_pool, []))[1].extend(objects.values())
    orphans = sorted(data_here.items())
    by_pool.setdefault(pool.pool_id, (pool, []))[1].extend(oid for _, objects in orphans for oid in objects.values())
    sizes: dict[str, int | None] = {}
    for data_pool, oids in by_pool.values():
        sizes.update(data_pool.stat_many(oids))

    summaries: list[JournalSummary] = []
    for journal, objects in found:
        summary = _summarize(journal, directory, names, {n: sizes.get(oid) for n, oid in objects.items()},
                             max_lag_entries)  # candidates that do not exist have no size
        if check or entries:
            _read_journal(journal, summary, check, entries)
        summaries.append(summary)
    for jid, objects in orphans:  # data objects whose header is gone
        present = [size for size in (sizes.get(oid) for oid in objects.values()) if size is not None]
        summaries.append(JournalSummary(pool.name, pool.namespace, jid, None, False, pool.name, len(present),
                                        sum(present), state="orphaned"))
    return summaries


def _problem(detail: str, jid: str) -> Problem:
    return Problem("malformed_header", detail, HEADER_PREFIX + jid)


def _image_names(pool: Pool, names: set[str] | None) -> dict[str, str]:
    """Image id -> name, from ``rbd_directory`` (``names``: the listing, None when the pool was not listed)."""
    if names is not None and RBD_DIRECTORY not in names:
        return {}
    from ..format.primitives import CephString, decode

    found: dict[str, str] = {}
    try:
        items = pool.omap_items(RBD_DIRECTORY, prefix="id_")
        for key, raw in items:
            try:
                found[key[3:]] = str(decode(CephString(), raw, type_name=f"rbd_directory {key}"))
            except Exception:  # noqa: BLE001 - a malformed name record leaves the image unnamed
                continue
    except NotFoundError:
        return {}
    return found


def _data_objects(names: set[str], pool_id: int) -> dict[str, dict[int, str]]:
    """journal id -> object number -> name, for data objects of journals whose header is in pool ``pool_id``."""
    found: dict[str, dict[int, str]] = defaultdict(dict)
    prefix = f"{DATA_PREFIX}{pool_id}."
    for name in names:
        if not name.startswith(prefix):
            continue
        match = _DATA_NAME.match(name)
        if match is not None:
            found[match.group(2)][int(match.group(3))] = name
    return found


def _summarize(journal: Journal, directory: dict[str, str], names: set[str] | None, sizes: dict[int, int | None],
               max_lag_entries: int) -> JournalSummary:
    header = journal.header
    pool = journal.header_pool
    jid = journal.journal_id
    image = directory.get(jid)
    present = {n: s for n, s in sizes.items() if s is not None}
    summary = JournalSummary(pool.name, pool.namespace, jid, image, True, journal.data_pool.name, len(present),
                             sum(present.values()), header.minimum_set, header.active_set,
                             header_problems=[str(p) for p in header.problems if p.severity == ERROR])
    width = journal.splay_width
    active = journal.active_set
    connected = [c for c in header.clients if c.state is not None and not is_disconnected(c) and c.commit_position]
    leader = max((c.commit_position[0] for c in connected), key=lambda p: (p.tag_tid, p.entry_tid), default=None)
    for client in header.clients:
        state = client_state_name(client.state) if client.state is not None else "unknown"
        newest = client.commit_position[0] if client.commit_position else None
        sets_behind = entries_behind = None
        if state != "disconnected":
            sets_behind = active - newest.object_number // width if newest is not None else active - journal.minimum_set
            if leader is None:
                entries_behind = 0
            elif newest is None:
                entries_behind = leader.entry_tid + 1 if len(header.tags) <= 1 else None  # tids restart per tag
            elif newest.tag_tid == leader.tag_tid:
                entries_behind = leader.entry_tid - newest.entry_tid
        summary.clients.append(ClientSummary(client.id, state, client_commit_set(client, width), sets_behind,
                                             entries_behind, behind_leader=state != "disconnected" and newest is None
                                             and leader is not None))
    summary.holder = trimming(header, present).holder
    if any(p.severity == ERROR for p in header.problems):
        summary.state = "damaged"  # a malformed header: known without reading the data
    elif image is None and names is not None and RBD_HEADER_PREFIX + jid not in names and _knows_images(names):
        summary.state = "orphaned"
    elif any((c.sets_behind or 0) > 0 or c.behind_leader or (c.entries_behind or 0) > max_lag_entries
             for c in summary.clients):
        summary.state = "lagging"
    return summary


def _knows_images(names: set[str]) -> bool:
    """Whether the pool holds image records at all (a store acquired with the journal objects only does not)."""
    return RBD_DIRECTORY in names or any(n.startswith(RBD_HEADER_PREFIX) for n in names)


def _read_journal(journal: Journal, summary: JournalSummary, check: bool, entries: bool) -> None:
    if entries:
        from .lag import client_lag

        lag = client_lag(journal)
        for client in summary.clients:
            if client.state != "disconnected" and client.id in lag:
                client.lag_entries, client.lag_bytes = lag[client.id]
    if check:
        walk = journal.walk()
        walk.count()
        summary.errors = sum(1 for p in walk.problems if p.severity == ERROR)
        summary.warnings = len(walk.problems) - summary.errors
        if summary.errors:
            summary.state = "damaged"
