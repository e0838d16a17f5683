"""Appending entries the way libjournal does (src/journal/JournalRecorder.cc, ObjectRecorder.cc).

Entry tids are allocated per tag (the next after the newest entry of that tag
already in the journal, else 0); an entry goes to splay offset
``entry_tid % splay_width`` of the active object set; every append is guarded by
cls ``guard_append(1 << order)`` and, when the object is full (EOVERFLOW), the
whole set is closed and ``active_set`` advanced with cls ``set_active_set``.

:class:`AppendTransaction` records what it changes (object sizes, created objects,
header keys) so a failure part-way can be rolled back to the state before it.
"""

from __future__ import annotations

import contextlib
import errno as E
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

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.header_pool = journal.header_pool
        self.data_pool = journal.data_pool
        self.oid = journal.header_oid
        self.width = journal.splay_width
        self.soft_max = journal.object_size
        self.active_set = journal.active_set
        self.next_tid: dict[int, int] = {}
        for entry in journal.walk(all_entries=True, check_events=False):
            if entry.entry_tid + 1 > self.next_tid.get(entry.tag_tid, 0):
                self.next_tid[entry.tag_tid] = entry.entry_tid + 1
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
