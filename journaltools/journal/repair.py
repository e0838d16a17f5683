"""Turning inspect's findings into safe repairs.

The plan is computed from a physical walk (every entry present) and the header's
problems; nothing is written until :func:`apply_plan`.  What the plan does, and why:

* **Data objects**: keep only frames that check out (drop crc mismatches, garbage,
  torn tails, entries in the wrong splay object, duplicates, keeping the last copy
  as the reader does).
* **Re-anchoring**: libjournal's reader needs the entries of a tag to be contiguous
  (src/journal/JournalPlayer.cc, "missing prior journal entry").  Entries after a
  dropped one are renumbered to close the gap and moved to the splay object their new
  tid belongs to, inside the same object set, so the journal replays again in the
  original order; commit positions follow their entries.  The renumbering is listed.
* **Objects outside the live sets**: sets below ``minimum_set`` are trimmed leftovers
  (removed); sets above ``active_set`` holding valid entries move ``active_set`` up.
* **Header**: malformed ``minimum_set``/``active_set``/``next_tag_tid``/
  ``next_tag_class`` are recomputed; a malformed client record is rewritten with the
  same id, an empty commit position and its data when the data decodes; a malformed
  tag record is rewritten from its key; commit positions naming no entry are dropped;
  a missing tag that is the next tag tid is created.
* **Not repairable** (said, not guessed): a missing or impossible ``order`` or
  ``splay_width``; entries of a tag whose record is gone and cannot be recreated.

:func:`apply_plan` rewrites each object atomically (``write_full``), data objects
first, the header last, after a backup unless told otherwise.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import FormatError, NotFoundError
from ..format.cls_journal import Client, Tag, tag_key
from ..format.journal_entry import encode_entry
from ..format.primitives import encode, i64, u8, u64
from .lifecycle import image_tag_class
from .model import Journal, Position
from .problems import Problem
from .scan import Frame, scan_object


@dataclass
class Action:
    """One change: what, where, why."""

    kind: str  # rewrite_object, remove_object, set_header_key, rewrite_client, rewrite_tag, renumber, unrepairable
    target: str
    detail: str
    fixes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.kind, "target": self.target, "detail": self.detail, "fixes": self.fixes}

    def __str__(self) -> str:
        why = f" (fixes: {', '.join(sorted(set(self.fixes)))})" if self.fixes else ""
        return f"{self.kind}: {self.target}: {self.detail}{why}"


@dataclass
class RepairPlan:
    journal: Journal
    actions: list[Action] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    objects: dict[str, bytes | None] = field(default_factory=dict)  # new content, None = remove
    header_set: dict[str, bytes] = field(default_factory=dict)
    header_remove: list[str] = field(default_factory=list)

    @property
    def unrepairable(self) -> list[Action]:
        return [a for a in self.actions if a.kind == "unrepairable"]

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind != "unrepairable"]


def plan_repair(journal: Journal) -> RepairPlan:
    walk = journal.walk(all_entries=True, check_events=False)
    list(walk)
    plan = RepairPlan(journal, problems=list(walk.problems))
    header = journal.header
    width, order = header.splay_width, header.order
    objects = journal.find_data_objects(exhaustive=True)
    inferred = _infer_splay_width(journal, objects.numbers)
    if inferred is not None and inferred != width:
        plan.header_set["splay_width"] = encode(u8, inferred)
        plan.actions.append(Action("set_header_key", f"{journal.header_oid} splay_width",
                                   f"splay_width = {inferred}: the only width that places every entry where libjournal "
                                   f"put it (header says {width})", ["malformed_header", "misplaced_entry"]))
        width = inferred
    if not width or order is None:
        plan.actions.append(Action("unrepairable", journal.header_oid,
                                   "order or splay_width is missing or impossible: the journal's geometry is unknown; "
                                   "restore the header from a backup or recreate the journal (journal reset)",
                                   ["malformed_header"]))
        return plan
    by_object = defaultdict(list)
    for p in walk.problems:
        if p.object:
            by_object[p.object].append(p.kind)

    # 1. clean frames per object set, 2. renumber to close gaps, 3. rebuild objects
    sets: dict[int, dict[int, list[Frame]]] = defaultdict(dict)
    for number in objects.numbers:
        data = journal.read_object(number) or b""
        frames = [f for f in scan_object(data, journal.object_name(number)) if isinstance(f, Frame)]
        kept: dict[tuple[int, int], Frame] = {}
        for f in frames:
            if f.entry_tid % width == number % width:
                kept[(f.tag_tid, f.entry_tid)] = f  # a later duplicate replaces the earlier one
        sets[number // width][number] = sorted(kept.values(), key=lambda f: (f.tag_tid, f.entry_tid))
    lo = header.minimum_set if header.minimum_set is not None else min(sets, default=0)
    hi = header.active_set if header.active_set is not None else max(sets, default=0)
    for object_set in sorted(sets):
        if object_set < lo:
            for number in sets[object_set]:
                name = journal.object_name(number)
                plan.objects[name] = None
                plan.actions.append(Action("remove_object", name, f"object set {object_set} is below minimum_set {lo}",
                                           ["object_outside_sets"]))
    for stray in objects.strays:
        plan.objects[stray] = None
        plan.actions.append(Action("remove_object", stray, "not a journal data object name", ["unexpected_object"]))

    expected: dict[int, int] = {}
    moved: dict[tuple[int, int], Position] = {}
    renumbered: dict[int, list[tuple[int, int]]] = defaultdict(list)
    live_sets = [s for s in sorted(sets) if s >= lo]
    newest_set = lo
    for object_set in live_sets:
        entries = sorted((f for fs in sets[object_set].values() for f in fs), key=lambda f: (f.tag_tid, f.entry_tid))
        if not entries:
            continue
        newest_set = max(newest_set, object_set)
        rebuilt: dict[int, bytearray] = {object_set * width + k: bytearray() for k in range(width)}
        for f in entries:
            tid = expected.get(f.tag_tid, f.entry_tid)
            if tid != f.entry_tid:
                renumbered[f.tag_tid].append((f.entry_tid, tid))
            number = object_set * width + tid % width
            rebuilt[number] += encode_entry(f.tag_tid, tid, f.payload)
            moved[(f.tag_tid, f.entry_tid)] = Position(number, f.tag_tid, tid)
            expected[f.tag_tid] = tid + 1
        for number, content in rebuilt.items():
            name = journal.object_name(number)
            old = journal.read_object(number)
            if old == bytes(content) or (old is None and not content):
                continue
            plan.objects[name] = bytes(content)
            reasons = by_object.get(name, []) or ["tid_gap"]
            plan.actions.append(Action("rewrite_object", name,
                                       f"{0 if old is None else len(old)} -> {len(content)} bytes: only entries that check out, "
                                       "each at the splay offset of its entry tid", reasons))
    for tag, changes in renumbered.items():
        first, last = changes[0], changes[-1]
        plan.actions.append(Action("renumber", f"tag {tag}",
                                   f"{len(changes)} entries renumbered to close gaps left by dropped entries "
                                   f"(tid {first[0]} -> {first[1]} ... {last[0]} -> {last[1]}); replay order is unchanged",
                                   ["tid_gap"]))

    # header sets
    def set_key(key: str, value: int, con: Any, why: str, fixes: list[str]) -> None:
        plan.header_set[key] = encode(con, value)
        plan.actions.append(Action("set_header_key", f"{journal.header_oid} {key}", f"{key} = {value}: {why}", fixes))

    if header.minimum_set is None:
        set_key("minimum_set", lo, u64, "lowest object set present", ["malformed_header"])
    if header.active_set is None or newest_set > hi:
        set_key("active_set", max(newest_set, lo), u64, "newest object set holding entries", ["malformed_header", "object_outside_sets"])
    if header.pool_id is None:
        set_key("pool_id", -1, i64, "data objects live in the header's pool", ["malformed_header"])
    elif header.pool_id >= 0 and header.pool_id != journal.header_pool.pool_id:
        try:
            journal.header_pool.store.pool_name(header.pool_id)
        except NotFoundError:
            set_key("pool_id", -1, i64, f"pool {header.pool_id} does not exist; the data objects read are the "
                    "header pool's", ["malformed_header"])
    tags = {t.tid: t for t in header.tags}
    if header.next_tag_tid is None or any(t >= header.next_tag_tid for t in tags):
        set_key("next_tag_tid", max(tags, default=-1) + 1, u64, "one past the newest tag", ["malformed_header", "malformed_tag"])
    classes = [t.tag_class for t in header.tags if t.tag_class is not None]
    if header.next_tag_class is None or any(c >= header.next_tag_class for c in classes):
        set_key("next_tag_class", max(classes, default=-1) + 1, u64, "one past the newest tag class",
                ["malformed_header", "malformed_tag"])
    for key in header.unknown_keys:
        plan.header_remove.append(key)
        plan.actions.append(Action("remove_header_key", f"{journal.header_oid} {key}", "cls_journal never writes this key",
                                   ["unknown_header_key"]))

    # tags
    image_class = image_tag_class(journal)
    for record in header.tags:
        if record.record is None or record.record.tid != record.tid:
            data = record.record.data if record.record is not None else b""
            plan.header_set[record.key] = encode(Tag, {"tid": record.tid, "tag_class": image_class, "data": data})
            plan.actions.append(Action("rewrite_tag", record.key, f"tag {record.tid} in class {image_class}",
                                       ["malformed_tag"]))
    referenced = {tag for tag in expected}
    missing = {p.tag_tid for p in walk.problems if p.kind == "missing_tag"}
    next_tid = int.from_bytes(plan.header_set["next_tag_tid"], "little") if "next_tag_tid" in plan.header_set else (header.next_tag_tid or 0)
    for tag in sorted(referenced - set(tags)):
        if tag == next_tid:
            from ..format.librbd_journal import make_tag_data

            plan.header_set[tag_key(tag)] = encode(Tag, {"tid": tag, "tag_class": image_class, "data": make_tag_data("")})
            plan.header_set["next_tag_tid"] = encode(u64, tag + 1)
            next_tid = tag + 1
            plan.actions.append(Action("rewrite_tag", tag_key(tag), f"recreate tag {tag} (local owner) for its entries", ["missing_tag"]))
        elif tag in missing:
            plan.actions.append(Action("unrepairable", f"tag {tag}",
                                       "entries reference a tag whose record is gone and that cannot be recreated "
                                       f"(the next tag tid is {next_tid})", ["missing_tag"]))

    # clients
    for client in header.clients:
        if client.record is None:
            data = _decodable_client_data(client.raw)
            plan.header_set[client.key] = _client_bytes(client.key[len("client_"):], data, [])
            plan.actions.append(Action("rewrite_client", client.key, "same id, empty commit position"
                                       + (", data kept" if data else ", data lost (undecodable)"), ["malformed_client"]))
            continue
        positions: list[Position] = []
        for committed in client.commit_position:
            target = moved.get((committed.tag_tid, committed.entry_tid))
            if target is not None and target.object_number % width not in {q.object_number % width for q in positions}:
                positions.append(target)
        positions.sort(key=lambda q: (q.tag_tid, q.entry_tid), reverse=True)
        positions = positions[:width]
        if positions != client.commit_position or client.id != client.key[len("client_"):] or client.state not in (0, 1):
            plan.header_set[client.key] = _client_bytes(client.key[len("client_"):], client.data, positions,
                                                        client.state if client.state in (0, 1) else 0)
            plan.actions.append(Action("rewrite_client", client.key,
                                       f"commit position {len(client.commit_position)} -> {len(positions)} positions "
                                       "(kept only those naming an entry, following renumbered entries)",
                                       ["dangling_commit_position", "client_ahead", "malformed_client"]))
    return plan


def _infer_splay_width(journal: Journal, numbers: list[int]) -> int | None:
    """The largest splay width under which every entry sits at ``entry_tid % width`` (None: no entries,
    or the header's width already fits)."""
    pairs = []
    for number in numbers:
        data = journal.read_object(number) or b""
        pairs += [(number, f.entry_tid) for f in scan_object(data, "") if isinstance(f, Frame)]
    width = journal.header.splay_width
    if not pairs or (width and all(t % width == n % width for n, t in pairs)):
        return None
    for candidate in range(255, 0, -1):
        if all(t % candidate == n % candidate for n, t in pairs):
            return candidate if candidate > 1 or not width else None
    return None


def _decodable_client_data(raw: bytes) -> bytes:
    """The client's data bytes if they can be found and decode as ClientData, else b""."""
    from ..format.librbd_journal import decode_client_data

    # Client v1: u8 v, u8 compat, u32 len, string id, bufferlist data, ...
    try:
        id_len = int.from_bytes(raw[6:10], "little")
        at = 10 + id_len
        data_len = int.from_bytes(raw[at:at + 4], "little")
        data = raw[at + 4: at + 4 + data_len]
        if len(data) == data_len and data:
            decode_client_data(data)
            return bytes(data)
    except (FormatError, ValueError):
        pass
    return b""


def _client_bytes(client_id: str, data: bytes, positions: list[Position], state: int = 0) -> bytes:
    return encode(Client, {"id": client_id, "data": data, "state": state, "commit_position": {
        "object_positions": [{"object_number": p.object_number, "tag_tid": p.tag_tid, "entry_tid": p.entry_tid}
                             for p in positions]}})


def apply_plan(plan: RepairPlan) -> None:
    """Write the plan: data objects (each atomically), then the header keys."""
    journal = plan.journal
    for name, content in plan.objects.items():
        pool = journal.header_pool if name == journal.header_oid else journal.data_pool
        if content is None:
            with contextlib.suppress(NotFoundError):
                pool.remove(name)
        else:
            pool.write_full(name, content)
    if plan.header_remove:
        journal.header_pool.omap_remove(journal.header_oid, plan.header_remove)
    if plan.header_set:
        journal.header_pool.omap_set(journal.header_oid, plan.header_set)

