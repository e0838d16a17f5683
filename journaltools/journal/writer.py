"""Appending entries the way libjournal does (src/journal/JournalRecorder.cc, ObjectRecorder.cc).

Entry tids are allocated per tag (the next after the newest entry of that tag
already in the journal, else 0); an entry goes to splay offset
``entry_tid % splay_width`` of the active object set; every append is guarded by
cls ``guard_append(1 << order)`` and, when the object is full (EOVERFLOW), the
whole set is closed and ``active_set`` advanced with cls ``set_active_set``.

:class:`AppendTransaction` records what it changes (object sizes, created objects,
header keys) so a failure part-way can be rolled back to the state before it.

A process killed part-way cannot roll back: the entries it appended stay.  So that a rerun
of the same import does not append them twice, the writer remembers the newest entries of
each tag (``keep_tail``) and :meth:`JournalWriter.already_present` tells how many of the
records to append are those entries, byte for byte, in order (an interrupted run's prefix).
"""

from __future__ import annotations

import contextlib
import errno as E
import hashlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..cls import journal as cls_journal
from ..errors import FormatError, JournalToolsError, NotFoundError
from ..format.cls_journal import tag_key
from ..format.journal_entry import OVERHEAD, encode_entry
from .model import Journal, Position


@dataclass
class AppendTransaction:
    """What a series of appends changed, to undo it."""

    object_sizes: dict[str, int | None] = field(default_factory=dict)  # None = did not exist
    header_values: dict[str, bytes] = field(default_factory=dict)
    created_keys: list[str] = field(default_factory=list)


class JournalWriter:
    """Appends to one journal through cls_journal methods; ``transaction`` records the changes."""

    def __init__(self, journal: Journal, keep_tail: Mapping[int, int] | None = None) -> None:
        self.journal = journal
        self.header_pool = journal.header_pool
        self.data_pool = journal.data_pool
        self.oid = journal.header_oid
        self.width = journal.splay_width
        self.soft_max = journal.object_size
        self.active_set = journal.active_set
        self.next_tid: dict[int, int] = {}
        #: per tag, (entry tid, sha256 of the payload) of its newest ``keep_tail[tag]`` entries
        self.tails: dict[int, deque[tuple[int, bytes]]] = {t: deque(maxlen=k) for t, k in (keep_tail or {}).items()}
        self.entries = 0
        for entry in journal.walk(all_entries=True, check_events=False):
            self.entries += 1
            if entry.entry_tid + 1 > self.next_tid.get(entry.tag_tid, 0):
                self.next_tid[entry.tag_tid] = entry.entry_tid + 1
            tail = self.tails.get(entry.tag_tid)
            if tail is not None:
                tail.append((entry.entry_tid, hashlib.sha256(entry.payload).digest()))
        self.transaction = AppendTransaction(header_values={
            k: v for k, v in journal.header_pool.omap(self.oid).items() if k in ("active_set", "next_tag_tid")})
        self.next_tag_tid = journal.header.next_tag_tid or 0
        self.tags = {t.tid for t in journal.header.tags}

    def ensure_tag(self, tid: int, tag_class: int, data: bytes) -> bool:
        """Create tag ``tid`` if it is missing and is the next tag tid (cls allows no other); True if created."""
        if tid in self.tags or tid != self.next_tag_tid:
            return False
        cls_journal.tag_create(self.header_pool, self.oid, tid, tag_class, data)
        self.transaction.created_keys.append(tag_key(tid))
        self.tags.add(tid)
        self.next_tag_tid += 1
        return True

    def already_present(self, records: Sequence[tuple[int, bytes]]) -> int:
        """How many of ``records`` ((tag tid, payload), in append order) the journal already ends with.

        k such that, for every tag, the journal's newest entries of that tag are exactly the
        payloads of that tag among the first k records, in order: what an append of these
        records that was killed after k of them leaves.  0 when the journal does not end so.
        """
        wanted: dict[int, list[bytes]] = {}
        for tag, payload in records:
            wanted.setdefault(tag, []).append(hashlib.sha256(payload).digest())
        matched: dict[int, int] = {}
        for tag, digests in wanted.items():
            have = [d for _, d in sorted(self.tails.get(tag, ()))]
            best = 0
            for m in range(min(len(have), len(digests)), 0, -1):
                if have[len(have) - m:] == digests[:m]:
                    best = m
                    break
            matched[tag] = best
        counts: dict[int, int] = {}
        k = 0
        for tag, _ in records:
            if counts.get(tag, 0) + 1 > matched[tag]:
                break
            counts[tag] = counts.get(tag, 0) + 1
            k += 1
        if any(counts.get(tag, 0) != m for tag, m in matched.items()):
            return 0  # the journal's tail matches only by coincidence, not as a prefix of these records
        return k

    @property
    def max_payload(self) -> int:
        return self.soft_max - OVERHEAD

    def append(self, tag_tid: int, payload: bytes) -> Position:
        """Append one entry of ``tag_tid``; returns where it went."""
        if len(payload) > self.max_payload:
            raise FormatError(f"entry payload of {len(payload)} bytes exceeds the journal's maximum {self.max_payload}")
        tid = self.next_tid.get(tag_tid, 0)
        frame = encode_entry(tag_tid, tid, payload)
        while True:
            number = self.active_set * self.width + tid % self.width
            oid = self.journal.object_name(number)
            try:
                cls_journal.guard_append(self.data_pool, oid, self.soft_max)
            except JournalToolsError as exc:
                if exc.errno != E.EOVERFLOW:
                    raise
                self._advance_set()
                continue
            self._remember(oid)
            self.data_pool.append(oid, frame)
            break
        self.next_tid[tag_tid] = tid + 1
        return Position(number, tag_tid, tid)

    def _remember(self, oid: str) -> None:
        if oid not in self.transaction.object_sizes:
            try:
                self.transaction.object_sizes[oid] = self.data_pool.stat(oid)
            except NotFoundError:
                self.transaction.object_sizes[oid] = None

    def _advance_set(self) -> None:
        cls_journal.set_active_set(self.header_pool, self.oid, self.active_set + 1)
        self.active_set += 1

    def rollback(self) -> None:
        """Put every touched object and the active set back as they were before the first append."""
        for oid, size in self.transaction.object_sizes.items():
            if size is None:
                with contextlib.suppress(NotFoundError):
                    self.data_pool.remove(oid)
            else:
                self.data_pool.write_full(oid, self.data_pool.read(oid, 0, size))
        if self.transaction.created_keys:
            self.header_pool.omap_remove(self.oid, self.transaction.created_keys)
        if self.transaction.header_values:
            self.header_pool.omap_set(self.oid, self.transaction.header_values)
