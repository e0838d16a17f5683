"""Structural problems as data: what the validation layer reports instead of crashing."""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..records import FrozenRecord, Record

ERROR = "error"
WARNING = "warning"

#: every problem kind, with a one-line meaning (docs and ``inspect --help`` list them)
KINDS: dict[str, str] = {
    "bad_magic": "bytes where an entry should start do not begin with the entry preamble",
    "bad_version": "entry frame version is not 1",
    "crc_mismatch": "entry crc32c does not match its bytes",
    "truncated_entry": "the object ends inside an entry frame (a torn tail: no valid entry follows)",
    "bad_length": "an entry's length runs past the object or the journal's maximum entry size, and valid entries follow it",
    "garbage": "undecodable bytes between or after entries",
    "misplaced_entry": "entry tid does not belong to this splay offset (entry_tid % splay_width)",
    "duplicate_entry": "the same (tag, entry tid) appears twice in one object (the reader keeps the last)",
    "tid_reorder": "entry tids of one tag go backwards within an object",
    "tid_gap": "entries of one tag are not contiguous in replay order (rbd: missing prior journal entry)",
    "tag_not_started_at_zero": "a newer tag's first entry at the playback position has a non-zero entry tid",
    "missing_tag": "entries reference a tag that has no tag_ record in the header",
    "object_outside_sets": "a data object lies outside [minimum_set, active_set]",
    "missing_object": "a data object is missing inside [minimum_set, active_set]",
    "unexpected_object": "an object with the journal's data prefix but no valid object number",
    "oversized_object": "a data object is far larger than its soft maximum (2^order + one batch)",
    "malformed_header": "a header omap value is missing, has the wrong size or an impossible value",
    "malformed_client": "a client_ record does not decode or breaks an invariant",
    "malformed_tag": "a tag_ record does not decode or breaks an invariant",
    "unknown_header_key": "the header omap holds a key cls_journal never writes",
    "dangling_commit_position": "a commit position names an entry that is not in its object",
    "client_ahead": "a client's commit position is past the newest entry",
    "undecodable_event": "an entry payload does not decode as a librbd EventEntry",
    "unreadable_object": "a data object could not be read",
}


#: kinds that mean entry data is damaged or lost (the rest concern metadata and placement)
DATA_KINDS = frozenset({
    "bad_magic", "bad_version", "crc_mismatch", "truncated_entry", "bad_length", "garbage", "tid_gap", "tid_reorder",
    "undecodable_event", "unreadable_object",
})


class Problem(Record):
    """One structural finding: kind, where (object, byte offset, tag, entry tid) and why.

    One problem per fault: ``affected_entries`` is how many entries the fault costs (lost, or
    replayed out of order; None when not about entries), and ``follow_on`` lists its effects
    further on (the gap its lost entry leaves in the tid sequence, a commit position naming it,
    bytes skipped to the next valid entry), which are not problems of their own.
    """

    __slots__ = ("affected_entries", "detail", "entry_tid", "follow_on", "kind", "object", "offset", "severity",
                 "tag_tid")
    _fields = ("kind", "detail", "object", "offset", "tag_tid", "entry_tid", "severity", "affected_entries",
               "follow_on")

    def __init__(self, kind: str, detail: str, object: str | None = None, offset: int | None = None,
                 tag_tid: int | None = None, entry_tid: int | None = None, severity: str = ERROR,
                 affected_entries: int | None = None, follow_on: list[str] | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.object = object
        self.offset = offset
        self.tag_tid = tag_tid
        self.entry_tid = entry_tid
        self.severity = severity
        self.affected_entries = affected_entries
        self.follow_on = [] if follow_on is None else follow_on

    @property
    def damages_data(self) -> bool:
        return self.severity == ERROR and self.kind in DATA_KINDS

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "object": self.object,
            "offset": self.offset,
            "tag_tid": self.tag_tid,
            "entry_tid": self.entry_tid,
            "detail": self.detail,
            "affected_entries": self.affected_entries,
            "follow_on": list(self.follow_on),
        }

    def location(self) -> str:
        parts = []
        if self.object is not None:
            parts.append(self.object if self.offset is None else f"{self.object} at byte {self.offset}")
        if self.tag_tid is not None:
            parts.append(f"tag {self.tag_tid}")
        if self.entry_tid is not None:
            parts.append(f"entry tid {self.entry_tid}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{self.severity}: {self.kind}: {self.detail}" + (f" ({where})" if where else "")
        if self.affected_entries is not None:
            text += f"; {self.affected_entries} {'entry' if self.affected_entries == 1 else 'entries'} affected"
        if self.follow_on:
            text += "; follow-on: " + "; ".join(self.follow_on)
        return text


class CorruptionPolicy(FrozenRecord):
    """One policy for every output format: ``stop`` at the first error, or ``skip`` damaged entries."""

    __slots__ = ("mode",)
    _fields = ("mode",)
    mode: str

    def __init__(self, mode: str = "stop") -> None:
        object.__setattr__(self, "mode", mode)
        if self.mode not in ("stop", "skip"):
            raise SpecError(f"unknown corruption policy {self.mode!r} (stop or skip)")
