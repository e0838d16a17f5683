"""What a journal holds, summed up (``journal stats``): pg_waldump ``--stats`` for RBD.

One walk over the entries (every entry physically present by default, or the
entries replay would play): entries and bytes by event type, by tag (with its
owner and predecessor from the tag data), by data object and splay offset (with
the object's fill against its soft maximum ``2^order``), the first and last
event time, a histogram of write sizes (powers of two), discard and write-same
totals, and every client's commit position.  Memory is flat in the journal's
size: only counters are kept.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import FormatError
from ..format.cls_journal import client_state_name
from .model import Journal
from .problems import Problem

#: events whose payload has ``offset`` and ``length`` of image data
WRITE_EVENTS = ("AioWrite", "AioCompareAndWrite")
DISCARD_EVENT = "AioDiscard"
WRITE_SAME_EVENT = "AioWriteSame"


@dataclass
class Tally:
    entries: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.entries += 1
        self.bytes += size

    def to_json(self) -> dict[str, int]:
        return {"entries": self.entries, "bytes": self.bytes}


@dataclass
class IoTotal:
    events: int = 0
    bytes: int = 0  # image bytes the events cover (their ``length``)

    def to_json(self) -> dict[str, int]:
        return {"events": self.events, "bytes": self.bytes}


@dataclass
class JournalStats:
    journal_id: str
    all_entries: bool
    order: int
    splay_width: int
    entries: Tally = field(default_factory=Tally)
    by_type: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_tag: dict[int, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_object: dict[int, Tally] = field(default_factory=lambda: defaultdict(Tally))
    object_sizes: dict[int, int | None] = field(default_factory=dict)
    undecodable: int = 0
    first_time: float | None = None
    last_time: float | None = None
    write_sizes: Counter[int] = field(default_factory=Counter)  # power-of-two bucket (upper bound) -> writes
    writes: IoTotal = field(default_factory=IoTotal)
    discards: IoTotal = field(default_factory=IoTotal)
    write_same: IoTotal = field(default_factory=IoTotal)
    tags: dict[int, dict[str, Any]] = field(default_factory=dict)
    clients: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def object_size(self) -> int:
        return 1 << self.order

    def by_splay(self) -> dict[int, dict[str, int]]:
        """Per splay offset: objects, entries, bytes of entries, bytes of the objects."""
        result: dict[int, dict[str, int]] = {}
        for number in sorted(set(self.by_object) | {n for n, s in self.object_sizes.items() if s is not None}):
            item = result.setdefault(number % self.splay_width, {"objects": 0, "entries": 0, "bytes": 0,
                                                                  "object_bytes": 0})
            tally = self.by_object.get(number, Tally())
            item["objects"] += 1
            item["entries"] += tally.entries
            item["bytes"] += tally.bytes
            item["object_bytes"] += self.object_sizes.get(number) or 0
        return result

    def objects_json(self) -> list[dict[str, Any]]:
        out = []
        for number in sorted(set(self.by_object) | {n for n, s in self.object_sizes.items() if s is not None}):
            tally = self.by_object.get(number, Tally())
            size = self.object_sizes.get(number)
            out.append({"object_number": number, "object_set": number // self.splay_width,
                        "splay_offset": number % self.splay_width, "entries": tally.entries, "bytes": tally.bytes,
                        "object_bytes": size, "fill": None if size is None else round(size / self.object_size, 6)})
        return out

    def to_json(self) -> dict[str, Any]:
        def histogram() -> list[dict[str, int]]:
            return [{"up_to": bucket, "writes": self.write_sizes[bucket]} for bucket in sorted(self.write_sizes)]

        return {
            "journal_id": self.journal_id,
            "all_entries": self.all_entries,
            "order": self.order,
            "splay_width": self.splay_width,
            "entries": self.entries.entries,
            "bytes": self.entries.bytes,
            "undecodable": self.undecodable,
            "first_event_time": self.first_time,
            "last_event_time": self.last_time,
            "by_event_type": {name: t.to_json() for name, t in sorted(self.by_type.items())},
            "by_tag": [{"tag_tid": tid, **self.tags.get(tid, {"tag_class": None, "owner": None, "predecessor": None}),
                        **self.by_tag.get(tid, Tally()).to_json()} for tid in sorted(set(self.by_tag) | set(self.tags))],
            "by_object": self.objects_json(),
            "by_splay_offset": [{"splay_offset": k, **v} for k, v in sorted(self.by_splay().items())],
            "write_size_histogram": histogram(),
            "writes": self.writes.to_json(),
            "discards": self.discards.to_json(),
            "write_same": self.write_same.to_json(),
            "clients": self.clients,
            "problems": [p.to_json() for p in self.problems],
        }


def size_bucket(length: int) -> int:
    """The smallest power of two >= ``length`` (the histogram's upper bound)."""
    return 1 if length <= 1 else 1 << (length - 1).bit_length()


def _event_fields(event: Any) -> dict[str, Any]:
    if event.fast is not None:
        return dict(event.fast.fields)
    payload = event.to_json().get("event", {}).get("payload", {})
    return payload if isinstance(payload, dict) else {}


def tag_info(journal: Journal) -> dict[int, dict[str, Any]]:
    """Tag tid -> class, owner (the mirror uuid of the tag data: empty is the local image) and predecessor."""
    from ..export import _decoded_or_none

    info: dict[int, dict[str, Any]] = {}
    for tag in journal.header.tags:
        data = _decoded_or_none("librbd::journal::TagData", tag.data) if tag.data else None
        info[tag.tid] = {"tag_class": tag.tag_class,
                         "owner": data.get("mirror_uuid") if isinstance(data, dict) else None,
                         "predecessor": data.get("predecessor") if isinstance(data, dict) else None}
    return info


def journal_stats(journal: Journal, all_entries: bool = True) -> JournalStats:
    """Walk ``journal`` once and count (see the module docstring)."""
    from ..export import decode_event

    stats = JournalStats(journal.journal_id, all_entries, journal.order, journal.splay_width)
    stats.tags = tag_info(journal)
    for client in journal.header.clients:
        stats.clients.append({"id": client.id,
                              "state": client_state_name(client.state) if client.state is not None else "unknown",
                              "commit_position": [p.to_json() for p in client.commit_position]})
    numbers = journal.find_data_objects().numbers
    sizes = journal.data_pool.stat_many([journal.object_name(n) for n in numbers])
    stats.object_sizes = {n: sizes.get(journal.object_name(n)) for n in numbers}
    walk = journal.walk(all_entries=all_entries)
    for entry in walk:
        stats.entries.add(entry.size)
        stats.by_tag[entry.tag_tid].add(entry.size)
        stats.by_object[entry.object_number].add(entry.size)
        try:
            event = decode_event(entry.payload)
        except FormatError:
            stats.undecodable += 1
            stats.by_type["(undecodable)"].add(entry.size)
            continue
        stats.by_type[event.type_name].add(entry.size)
        if event.timestamp:  # zero is "not set" (rbd-mirror's demote/promote events carry it)
            if stats.first_time is None or event.timestamp < stats.first_time:
                stats.first_time = event.timestamp
            if stats.last_time is None or event.timestamp > stats.last_time:
                stats.last_time = event.timestamp
        if event.type_name in WRITE_EVENTS or event.type_name in (DISCARD_EVENT, WRITE_SAME_EVENT):
            length = int(_event_fields(event).get("length", 0))
            total = (stats.discards if event.type_name == DISCARD_EVENT
                     else stats.write_same if event.type_name == WRITE_SAME_EVENT else stats.writes)
            total.events += 1
            total.bytes += length
            if event.type_name in WRITE_EVENTS:
                stats.write_sizes[size_bucket(length)] += 1
    stats.problems = list(walk.problems)
    return stats
