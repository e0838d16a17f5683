"""A journal as stored in RADOS: header omap, clients, tags, object naming and geometry.

Sources: src/journal/Journaler.cc (``header_oid``, ``object_oid_prefix``,
``init_complete``), src/journal/Utils.cc (``get_object_name``),
src/cls/journal/cls_journal.cc (header keys).  The header object
``journal.<id>`` lives in the image's pool; data objects
``journal_data.<header pool id>.<id>.<n>`` live in the pool named by the header's
``pool_id`` (or the header pool when it is negative).  Object ``n`` belongs to
object set ``n // splay_width`` at splay offset ``n % splay_width``.

Reading the header never raises for malformed values: they are reported as
:class:`~journaltools.journal.problems.Problem` s in ``header.problems`` and the
affected field is ``None`` (or the record is kept raw).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import FormatError, NotFoundError
from ..format.cls_journal_keys import (
    CLIENT_KEY_PREFIX,
    CLIENT_STATE_DISCONNECTED,
    HEADER_KEY_SIZES,
    TAG_CLASS_NEW,
    TAG_KEY_PREFIX,
)
from ..format.header_fastpath import fast_client, fast_tag
from ..records import FrozenRecord, Record
from ..store.base import Pool
from .problems import WARNING, Problem

if TYPE_CHECKING:
    from .walk import JournalWalk

HEADER_PREFIX = "journal."
DATA_PREFIX = "journal_data."
MIN_ORDER, MAX_ORDER = 12, 64  # cls accepts up to 64; modern Journaler::create limits to 26
_TAG_KEY = re.compile(r"^tag_[0-9a-f]{16}$")


class Position(FrozenRecord):
    """``cls::journal::ObjectPosition``: immutable, ordered and hashable as its three numbers."""

    __slots__ = ("entry_tid", "object_number", "tag_tid")
    __match_args__ = ("object_number", "tag_tid", "entry_tid")
    _fields = ("object_number", "tag_tid", "entry_tid")
    object_number: int
    tag_tid: int
    entry_tid: int

    def __init__(self, object_number: int, tag_tid: int, entry_tid: int) -> None:
        object.__setattr__(self, "object_number", object_number)
        object.__setattr__(self, "tag_tid", tag_tid)
        object.__setattr__(self, "entry_tid", entry_tid)

    def _key(self) -> tuple[int, int, int]:
        return (self.object_number, self.tag_tid, self.entry_tid)

    def __lt__(self, other: Position) -> bool:
        return self._key() < other._key() if other.__class__ is self.__class__ else NotImplemented

    def __le__(self, other: Position) -> bool:
        return self._key() <= other._key() if other.__class__ is self.__class__ else NotImplemented

    def __gt__(self, other: Position) -> bool:
        return self._key() > other._key() if other.__class__ is self.__class__ else NotImplemented

    def __ge__(self, other: Position) -> bool:
        return self._key() >= other._key() if other.__class__ is self.__class__ else NotImplemented

    def to_json(self) -> dict[str, int]:
        return {"object_number": self.object_number, "tag_tid": self.tag_tid, "entry_tid": self.entry_tid}


def _decode_record(con_name: str, raw: bytes, type_name: str) -> Any:
    """``raw`` decoded by the construct declaration ``cls_journal.<con_name>`` (construct is imported here)."""
    from ..format import cls_journal
    from ..format.primitives import decode

    return decode(getattr(cls_journal, con_name), raw, type_name=type_name)


class ClientRecord(Record):
    """A registered client (``client_<id>``); ``record`` is the decoded container (None if malformed)."""

    __slots__ = ("_record", "commit_position", "data", "id", "key", "malformed", "raw", "state")
    _fields = ("key", "id", "state", "data", "commit_position", "raw", "malformed", "_record")
    _hidden = frozenset({"_record"})

    def __init__(self, key: str, id: str, state: int | None, data: bytes, commit_position: list[Position], raw: bytes,
                 malformed: bool = False, _record: Any = None) -> None:
        self.key = key
        self.id = id
        self.state = state
        self.data = data
        self.commit_position = commit_position
        self.raw = raw
        self.malformed = malformed
        self._record = _record

    @property
    def record(self) -> Any:
        """The ``cls::journal::Client`` container of :attr:`raw` (decoded on first use: opening a journal
        decodes clients without construct, :mod:`~journaltools.format.header_fastpath`), or None if malformed."""
        if self._record is None and not self.malformed:
            self._record = _decode_record("Client", self.raw, f"client record {self.key!r}")
        return self._record


class TagRecord(Record):
    """A tag (``tag_<hex tid>``); ``record`` is the decoded container (None if malformed)."""

    __slots__ = ("_record", "data", "key", "malformed", "raw", "tag_class", "tid")
    _fields = ("key", "tid", "tag_class", "data", "raw", "malformed", "_record")
    _hidden = frozenset({"_record"})

    def __init__(self, key: str, tid: int, tag_class: int | None, data: bytes, raw: bytes, malformed: bool = False,
                 _record: Any = None) -> None:
        self.key = key
        self.tid = tid
        self.tag_class = tag_class
        self.data = data
        self.raw = raw
        self.malformed = malformed
        self._record = _record

    @property
    def record(self) -> Any:
        """The ``cls::journal::Tag`` container of :attr:`raw` (decoded on first use), or None if malformed."""
        if self._record is None and not self.malformed:
            self._record = _decode_record("Tag", self.raw, f"tag record {self.key!r}")
        return self._record


class JournalHeader(Record):
    __slots__ = ("active_set", "clients", "minimum_set", "next_tag_class", "next_tag_tid", "order", "pool_id",
                 "problems", "splay_width", "tags", "unknown_keys")
    _fields = ("order", "splay_width", "pool_id", "minimum_set", "active_set", "next_tag_tid", "next_tag_class",
               "clients", "tags", "unknown_keys", "problems")

    def __init__(self, order: int | None = None, splay_width: int | None = None, pool_id: int | None = None,
                 minimum_set: int | None = None, active_set: int | None = None, next_tag_tid: int | None = None,
                 next_tag_class: int | None = None, clients: list[ClientRecord] | None = None,
                 tags: list[TagRecord] | None = None, unknown_keys: list[str] | None = None,
                 problems: list[Problem] | None = None) -> None:
        self.order = order
        self.splay_width = splay_width
        self.pool_id = pool_id
        self.minimum_set = minimum_set
        self.active_set = active_set
        self.next_tag_tid = next_tag_tid
        self.next_tag_class = next_tag_class
        self.clients = [] if clients is None else clients
        self.tags = [] if tags is None else tags
        self.unknown_keys = [] if unknown_keys is None else unknown_keys
        self.problems = [] if problems is None else problems

    def client(self, client_id: str) -> ClientRecord | None:
        return next((c for c in self.clients if c.id == client_id), None)

    def tag(self, tid: int) -> TagRecord | None:
        return next((t for t in self.tags if t.tid == tid), None)


def positions_of(record: Any) -> list[Position]:
    return [
        Position(p.object_number, p.tag_tid, p.entry_tid) for p in record.commit_position.object_positions
    ]


def parse_header(omap: dict[str, bytes], header_oid: str) -> JournalHeader:
    """Decode a header omap; every malformed value becomes a problem, never an exception."""
    header = JournalHeader()

    def problem(kind: str, detail: str, **kw: Any) -> None:
        header.problems.append(Problem(kind, detail, header_oid, **kw))

    for key, (size, signed) in HEADER_KEY_SIZES.items():
        raw = omap.get(key)
        if raw is None:
            problem("malformed_header", f"header key {key!r} is missing")
            continue
        if len(raw) != size:
            problem("malformed_header", f"header key {key!r} is {len(raw)} bytes, expected {size}")
            continue
        setattr(header, key, int.from_bytes(raw, "little", signed=signed))
    if header.order is not None and not MIN_ORDER <= header.order <= MAX_ORDER:
        problem("malformed_header", f"order {header.order} is outside [{MIN_ORDER}, {MAX_ORDER}]")
        header.order = None
    if header.splay_width == 0:
        problem("malformed_header", "splay_width is 0")
        header.splay_width = None
    if header.minimum_set is not None and header.active_set is not None and header.minimum_set > header.active_set:
        problem("malformed_header", f"minimum_set {header.minimum_set} is above active_set {header.active_set}")

    for key in sorted(omap):
        raw = omap[key]
        if key in HEADER_KEY_SIZES:
            continue
        if key.startswith(CLIENT_KEY_PREFIX):
            header.clients.append(_parse_client(key, raw, header, problem))
        elif key.startswith(TAG_KEY_PREFIX):
            tag = _parse_tag(key, raw, header, problem)
            if tag is not None:
                header.tags.append(tag)
        else:
            header.unknown_keys.append(key)
            problem("unknown_header_key", f"header key {key!r} is not written by cls_journal", severity=WARNING)
    header.clients.sort(key=lambda c: c.id)
    header.tags.sort(key=lambda t: t.tid)
    return header


def _parse_client(key: str, raw: bytes, header: JournalHeader, problem: Any) -> ClientRecord:
    key_id = key[len(CLIENT_KEY_PREFIX) :]
    fast = fast_client(raw)
    if fast is not None:
        client_id, data, fast_positions, state = fast
        client = ClientRecord(key, client_id, state, data, [Position(*p) for p in fast_positions], raw)
    else:
        try:
            rec = _decode_record("Client", raw, f"client record {key!r}")
        except FormatError as exc:
            problem("malformed_client", f"{exc}")
            return ClientRecord(key, key_id, None, b"", [], raw, malformed=True)
        client = ClientRecord(key, rec.id, rec.state, bytes(rec.data), positions_of(rec), raw, _record=rec)
    if client.id != key_id:
        problem("malformed_client", f"client record under {key!r} has id {client.id!r}")
    if client.state not in (0, 1):
        problem("malformed_client",
                f"client {client.id!r} has state {client.state} (expected 0 connected or 1 disconnected)")
    width = header.splay_width
    positions = client.commit_position
    if width:
        if len(positions) > width:
            problem("malformed_client", f"client {client.id!r} has {len(positions)} commit positions for splay width {width}")
        offsets = [p.object_number % width for p in positions]
        if len(set(offsets)) != len(offsets):
            problem("malformed_client", f"client {client.id!r} has two commit positions for one splay offset")
    if positions and max(positions, key=lambda p: (p.tag_tid, p.entry_tid)) is not positions[0]:
        problem("malformed_client", f"client {client.id!r} commit positions are not newest first", severity=WARNING)
    if header.next_tag_tid is not None:
        for p in positions:
            if p.tag_tid >= header.next_tag_tid:
                problem("malformed_client",
                        f"client {client.id!r} commit position names tag {p.tag_tid}, not below next_tag_tid {header.next_tag_tid}",
                        tag_tid=p.tag_tid, entry_tid=p.entry_tid)
    return client


def _parse_tag(key: str, raw: bytes, header: JournalHeader, problem: Any) -> TagRecord | None:
    if not _TAG_KEY.match(key):
        problem("malformed_tag", f"tag key {key!r} is not 'tag_' + 16 lowercase hex digits")
        header.unknown_keys.append(key)
        return None
    key_tid = int(key[4:], 16)
    fast = fast_tag(raw)
    if fast is not None:
        tag = TagRecord(key, *fast, raw)
    else:
        try:
            rec = _decode_record("Tag", raw, f"tag record {key!r}")
        except FormatError as exc:
            problem("malformed_tag", f"{exc}", tag_tid=key_tid)
            return TagRecord(key, key_tid, None, b"", raw, malformed=True)
        tag = TagRecord(key, rec.tid, rec.tag_class, bytes(rec.data), raw, _record=rec)
    tid, tag_class = tag.tid, tag.tag_class
    assert tag_class is not None
    if tid != key_tid:
        problem("malformed_tag", f"tag record under {key!r} has tid {tid}", tag_tid=key_tid)
    if header.next_tag_tid is not None and tid >= header.next_tag_tid:
        problem("malformed_tag", f"tag {tid} is not below next_tag_tid {header.next_tag_tid}", tag_tid=tid)
    if tag_class == TAG_CLASS_NEW or (header.next_tag_class is not None and tag_class >= header.next_tag_class):
        problem("malformed_tag", f"tag {tid} has class {tag_class}, not below next_tag_class {header.next_tag_class}",
                tag_tid=tid)
    return tag


#: at most this many candidate objects are probed by name (more: the pool is listed)
PROBE_LIMIT = 100_000
#: occupied object sets probed below minimum_set and above active_set
PROBE_OUTSIDE_SETS = 1_000


class DataObjects(Record):
    """What :meth:`Journal.find_data_objects` found."""

    __slots__ = ("listed", "numbers", "strays")
    _fields = ("numbers", "strays", "listed")

    def __init__(self, numbers: list[int], strays: list[str], listed: bool) -> None:
        self.numbers = numbers  # sorted; when not ``listed``, candidates (some may not exist)
        self.strays = strays  # objects with the data prefix and no object number (only from a listing)
        self.listed = listed  # True: from a listing of the pool, so ``numbers`` all existed then

class Journal:
    """One journal: header pool + id.  Use :meth:`open`."""

    def __init__(self, header_pool: Pool, journal_id: str, header: JournalHeader, data_pool: Pool) -> None:
        self.header_pool = header_pool
        self.journal_id = journal_id
        self.header = header
        self.data_pool = data_pool

    @classmethod
    def open(cls, header_pool: Pool, journal_id: str) -> Journal:
        """Read the header of journal ``journal_id`` in ``header_pool``.

        Raises :class:`NotFoundError` when there is no header object or no
        ``order`` key (Ceph's "journal does not exist").
        """
        oid = HEADER_PREFIX + journal_id
        try:
            omap = header_pool.omap(oid)
        except NotFoundError:
            raise NotFoundError(f"journal {journal_id} does not exist in pool {header_pool.describe()} (no object {oid})") from None
        if "order" not in omap:
            raise NotFoundError(f"journal {journal_id} does not exist in pool {header_pool.describe()} (object {oid} has no 'order' key)")
        header = parse_header(omap, oid)
        data_pool = header_pool
        if header.pool_id is not None and header.pool_id >= 0 and header.pool_id != header_pool.pool_id:
            try:
                # librbd opens the journal pool without the image's namespace (Journaler::init_complete:
                # ioctx_create2, no set_namespace): the data objects are in its default namespace
                data_pool = header_pool.store.pool_by_id(header.pool_id, "")
            except NotFoundError:
                header.problems.append(Problem("malformed_header", f"pool_id {header.pool_id} names no existing pool", oid))
        return cls(header_pool, journal_id, header, data_pool)

    def reload(self) -> Journal:
        return Journal.open(self.header_pool, self.journal_id)

    @property
    def header_oid(self) -> str:
        return HEADER_PREFIX + self.journal_id

    @property
    def object_prefix(self) -> str:
        return f"{DATA_PREFIX}{self.header_pool.pool_id}.{self.journal_id}."

    def object_name(self, number: int) -> str:
        return f"{self.object_prefix}{number}"

    @property
    def order(self) -> int:
        return self.header.order if self.header.order is not None else 24

    @property
    def splay_width(self) -> int:
        return self.header.splay_width or 1

    @property
    def object_size(self) -> int:
        return 1 << self.order

    @property
    def minimum_set(self) -> int:
        return self.header.minimum_set or 0

    @property
    def active_set(self) -> int:
        active = self.header.active_set
        return max(active if active is not None else 0, self.minimum_set)

    def find_data_objects(self, exhaustive: bool = False) -> DataObjects:
        """The data objects a reader needs to look at.

        Lists the pool when that is cheap (:meth:`Pool.listing_is_cheap`), when ``exhaustive``
        (what destructive commands ask), or when the header's geometry cannot be trusted.
        Otherwise the candidates are the object numbers of [minimum_set, active_set], plus the
        occupied sets right below and above them, found by probing object names, as Ceph's own
        player finds objects; then objects with the data prefix but no object number, and objects
        beyond an empty set, are not seen.
        """
        width = self.splay_width
        lo, hi = self.minimum_set, self.active_set
        if exhaustive or self.data_pool.listing_is_cheap() or self.header.problems or (hi - lo + 1) * width > PROBE_LIMIT:
            return self._list_data_objects()
        below = self._occupied_sets(range(lo - 1, max(lo - 1 - PROBE_OUTSIDE_SETS, -1), -1))
        above = self._occupied_sets(range(hi + 1, hi + 1 + PROBE_OUTSIDE_SETS))
        return DataObjects([*sorted(below), *range(lo * width, (hi + 1) * width), *above], [], listed=False)

    def _list_data_objects(self) -> DataObjects:
        """The data objects from one listing of the pool."""
        numbers: list[int] = []
        strays: list[str] = []
        for name in self.data_pool.list_objects(self.object_prefix):
            number = self._number(name)
            if number is None:
                strays.append(name)
            else:
                numbers.append(number)
        return DataObjects(sorted(numbers), strays, listed=True)

    def _occupied_sets(self, object_sets: range) -> list[int]:
        """Numbers of the objects present in ``object_sets``, probed in that order up to the first empty set."""
        width = self.splay_width
        found: list[int] = []
        for object_set in object_sets:
            present = [n for n in range(object_set * width, (object_set + 1) * width)
                       if self.data_pool.exists(self.object_name(n))]
            if not present:
                break
            found += present
        return found

    def existing_objects(self) -> list[int]:
        """Object numbers of the data objects present (sorted), from a listing; see :meth:`stray_objects`."""
        return self._list_data_objects().numbers

    def stray_objects(self) -> list[str]:
        """Objects with the data prefix whose suffix is not an object number."""
        return self._list_data_objects().strays

    def _number(self, oid: str) -> int | None:
        suffix = oid[len(self.object_prefix) :]
        return int(suffix) if suffix.isascii() and suffix.isdigit() and (suffix == "0" or not suffix.startswith("0")) else None

    def read_object(self, number: int) -> bytes | None:
        """Bytes of data object ``number``, or None when it does not exist."""
        try:
            return self.data_pool.read(self.object_name(number))
        except NotFoundError:
            return None

    def walk(self, all_entries: bool = False, check_events: bool = True) -> JournalWalk:
        """Entries in replay order (``all_entries``: every entry present); see :mod:`.walk`."""
        from .walk import JournalWalk

        return JournalWalk(self, all_entries=all_entries, check_events=check_events)

    def min_commit_position(self) -> list[Position]:
        """The commit position a newly registered client gets (cls ``find_min_commit_position``).

        Disconnected clients do not count (Pacific's cls skips them, as the trimmer does:
        checked on 16.2.15, a client registered after ``journal client disconnect`` of a
        lagging peer gets the image client's position).  Empty when a counted client has
        committed nothing; otherwise the whole position of the client whose newest
        position has the smallest (tag tid, entry tid).
        """

        best: list[Position] | None = None
        for client in self.header.clients:
            if client.state is None or client.state == CLIENT_STATE_DISCONNECTED:
                continue
            if not client.commit_position:
                return []
            first = client.commit_position[0]
            if best is None or (first.tag_tid, first.entry_tid) < (best[0].tag_tid, best[0].entry_tid):
                best = client.commit_position
        return list(best or [])

