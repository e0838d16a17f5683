"""Turning inspect's findings into safe repairs.

The plan starts from what inspect reports (the replay-order walk and the physical
``--all`` walk, each problem once) and from a physical read of every data object;
nothing is written until :func:`apply_plan`.  Every planned change cites the reported
problems it fixes (kind, object, byte offset, tag, entry tid) and names the entries it
drops; a change no reported problem calls for is not planned.  What the plan does:

* **Entries**: every frame that checks out in the live sets (and above them) is kept,
  whatever object it sits in; crc mismatches, bad versions, torn or impossible frames
  and garbage are dropped (and named).  After a frame whose length runs past the
  object, the intact frames behind it are found again by their preamble.  Copies of one
  entry: the reader keeps the last copy in one object; identical copies in different
  objects are kept once; different copies in different objects cannot be told apart:
  the repair refuses.
* **Replay order from the entries themselves**: entries are ordered by (tag tid, entry
  tid).  An entry keeps its object set unless that breaks the order (an object swapped
  between sets, a copy placed in another set); then of two layouts in order, the one
  that rewrites fewer objects is taken: the sets sorted along the entries (puts swapped
  objects back exactly), or the longest run of entries whose sets are in order kept and
  the others moved into their neighbours' set (moves a lone outlier only).
  Inside a set an entry goes to the splay object of its tid (objects swapped between
  splay positions are put back).
* **Re-anchoring**: libjournal's reader needs the entries of a tag to be contiguous
  (src/journal/JournalPlayer.cc, "missing prior journal entry") and a newer tag to start
  at entry tid 0.  Entries after a dropped or lost one are renumbered to close the gap
  (listed); commit positions follow their entries: each client's newest committed entry
  is mapped to its new place and its position rebuilt, one per splay offset.
* **Objects outside the live sets**: sets below ``minimum_set`` are trimmed leftovers
  (removed); sets above ``active_set`` holding valid entries move ``active_set`` up;
  empty objects above it are removed.
* **Header**: malformed ``minimum_set``/``active_set``/``next_tag_tid``/
  ``next_tag_class`` are recomputed; a malformed client record is rewritten with the
  same id, an empty commit position and its data when the data decodes; a malformed
  tag record is rewritten from its key; a missing tag that is the next tag tid is created.
* **Not repairable** (said, not guessed): a missing or impossible ``order`` or
  ``splay_width``; entries of a tag whose record is gone and cannot be recreated; two
  different copies of one entry.

Before anything is written the plan is checked: applied to an in-memory overlay of the
journal, the replay-order walk and the physical walk must find no order problem and
every kept entry; otherwise the plan is refused (nothing is written).

:func:`apply_plan` is resumable: the new content of every object is staged in the
header pool, then an intent record listing every step is written atomically (the
commit point), then the steps run (each one sets a target state, so running it twice
is running it once), then the intent is marked done, the staged objects are removed,
and the intent last.  A rerun
after a crash finds the intent and finishes it (:func:`resume_pending`), so it reaches
exactly the state of an uninterrupted run.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import ExistsError, FormatError, NotFoundError, StoreError
from ..format.cls_journal import Client, Tag, tag_key
from ..format.journal_entry import FRAME_HEAD, HEAD_SIZE, PREAMBLE_BYTES, encode_entry
from ..format.primitives import encode, i64, u8, u64
from ..store.base import Pool
from .lifecycle import image_tag_class
from .model import Journal, Position, parse_header
from .problems import ERROR, Problem
from .scan import Frame, scan_object

#: problem kinds that mean the replay order is wrong: a plan whose result still has one is refused
ORDER_KINDS = frozenset({"tid_gap", "tid_reorder", "tag_not_started_at_zero", "misplaced_entry", "duplicate_entry"})
#: problem kinds about entry data and placement: only these call for rewriting data objects
DATA_CAUSES = frozenset({
    "bad_magic", "bad_version", "crc_mismatch", "truncated_entry", "bad_length", "garbage", "misplaced_entry",
    "duplicate_entry",
    "tid_gap", "tid_reorder", "tag_not_started_at_zero", "missing_object", "object_outside_sets",
})
#: scanner problems whose bytes are dropped
_DROPPED_KINDS = frozenset({"bad_magic", "bad_version", "crc_mismatch", "truncated_entry", "bad_length", "garbage"})


@dataclass(frozen=True)
class Dropped:
    """An entry (or undecodable bytes) the plan drops, and why."""

    object: str
    offset: int | None
    tag_tid: int | None
    entry_tid: int | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"object": self.object, "offset": self.offset, "tag_tid": self.tag_tid, "entry_tid": self.entry_tid,
                "reason": self.reason}

    def __str__(self) -> str:
        what = (f"tag {self.tag_tid} entry tid {self.entry_tid}" if self.entry_tid is not None
                else "bytes" if self.tag_tid is None else f"tag {self.tag_tid} bytes")
        where = self.object if self.offset is None else f"{self.object} at byte {self.offset}"
        return f"{what} ({where}): {self.reason}"


def _cite(problem: Problem) -> str:
    where = problem.location()
    return f"{problem.kind}" + (f" ({where})" if where else "")


@dataclass
class Action:
    """One change: what, where, why (the reported problems it fixes), and the entries it drops."""

    kind: str  # rewrite_object, remove_object, set_header_key, remove_header_key, rewrite_client, rewrite_tag, renumber, unrepairable
    target: str
    detail: str
    fixes: list[Problem] = field(default_factory=list)
    drops: list[Dropped] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.kind, "target": self.target, "detail": self.detail,
                "fixes": [p.to_json() for p in self.fixes], "drops": [d.to_json() for d in self.drops]}

    def lines(self, limit: int = 4) -> list[str]:
        """The action, then one indented line per cited problem and dropped entry (at most ``limit`` each)."""
        out = [f"{self.kind}: {self.target}: {self.detail}"]
        for label, items in (("fixes", [_cite(p) for p in self.fixes]), ("drops", [str(d) for d in self.drops])):
            out += [f"    {label}: {item}" for item in items[:limit]]
            if len(items) > limit:
                out.append(f"    {label}: ... {len(items) - limit} more (--format json lists all)")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class RepairPlan:
    journal: Journal
    actions: list[Action] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # what inspect reported
    objects: dict[str, bytes | None] = field(default_factory=dict)  # data objects: new content, None = remove
    header_set: dict[str, bytes] = field(default_factory=dict)
    header_remove: list[str] = field(default_factory=list)
    kept_entries: int = 0  # entries the repaired journal holds (checked before applying)

    @property
    def unrepairable(self) -> list[Action]:
        return [a for a in self.actions if a.kind == "unrepairable"]

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind != "unrepairable"]

    @property
    def refused(self) -> bool:
        """True when nothing may be written (the plan would make a wrong order permanent or lose entries)."""
        return any(a.target == "plan" for a in self.unrepairable)

    def dropped(self) -> list[Dropped]:
        return [d for a in self.actions for d in a.drops]


def reported_problems(journal: Journal, check_events: bool = True) -> list[Problem]:
    """What ``journal inspect`` and ``journal inspect --all`` report, each problem once."""
    seen: dict[tuple[Any, ...], Problem] = {}
    for all_entries in (False, True):
        walk = journal.walk(all_entries=all_entries, check_events=check_events)
        walk.count()
        for p in walk.problems:
            seen.setdefault((p.kind, p.object, p.offset, p.tag_tid, p.entry_tid, p.detail), p)
    return list(seen.values())


# -- reading entries -----------------------------------------------------------------


@dataclass
class _Entry:
    tag_tid: int
    entry_tid: int
    payload: bytes
    number: int  # object it was read from
    offset: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.tag_tid, self.entry_tid)


def salvage_scan(data: bytes, name: str) -> tuple[list[Frame], list[Problem]]:
    """Every frame of ``data`` that checks out, and the scanner's problems.

    Where the scanner stops (a frame whose length runs past the end of the object, e.g. a
    length of 0xFFFFFFFF), the frames behind it are looked for by their preamble, so the
    intact entries after an impossible length are kept.
    """
    frames: list[Frame] = []
    problems: list[Problem] = []
    start = 0
    while True:
        last: Frame | Problem | None = None
        for item in scan_object(data, name, start=start):
            last = item
            if isinstance(item, Frame):
                frames.append(item)
            else:
                problems.append(item)
        if not (isinstance(last, Problem) and last.kind == "truncated_entry" and last.offset is not None):
            return frames, problems
        nxt = _next_whole_frame(data, name, last.offset + 1)
        if nxt is None:
            return frames, problems
        last.detail += f"; the frames from byte {nxt} on check out"
        start = nxt


def _frame_ids(data: bytes, offset: int | None) -> tuple[int | None, int | None]:
    """(tag tid, entry tid) of the frame head at ``offset`` when the bytes there begin one (else Nones)."""
    if offset is None or len(data) - offset < HEAD_SIZE or data[offset:offset + 8] != PREAMBLE_BYTES:
        return None, None
    _preamble, _version, entry_tid, tag_tid, _length = FRAME_HEAD.unpack_from(data, offset)
    return tag_tid, entry_tid


def _next_whole_frame(data: bytes, name: str, start: int) -> int | None:
    pos = data.find(PREAMBLE_BYTES, start)
    while pos >= 0:
        first = next(iter(scan_object(data[pos:], name)), None)
        if isinstance(first, Frame) and first.offset == 0:
            return pos
        pos = data.find(PREAMBLE_BYTES, pos + 1)
    return None


# -- citations -------------------------------------------------------------------------


class _Citations:
    """Finds the reported problems a change fixes."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def where(self, test: Callable[[Problem], bool]) -> list[Problem]:
        return [p for p in self.problems if test(p)]

    def at(self, name: str, offset: int | None = None, tag: int | None = None, tid: int | None = None,
           kinds: Iterable[str] | None = None) -> list[Problem]:
        """Problems at ``name`` (and ``offset``, else tag/tid), most specific first."""
        wanted = set(kinds) if kinds is not None else None

        def ok(p: Problem) -> bool:
            return p.object == name and (wanted is None or p.kind in wanted)

        if offset is not None:
            found = self.where(lambda p: ok(p) and p.offset == offset)
            if found:
                return found
        if tid is not None:
            found = self.where(lambda p: ok(p) and p.tag_tid == tag and p.entry_tid == tid)
            if found:
                return found
        return []

    def kind(self, kinds: Iterable[str], text: str | None = None, **match: Any) -> list[Problem]:
        wanted = set(kinds)
        return self.where(lambda p: p.kind in wanted and (text is None or text in p.detail)
                          and all(getattr(p, k) == v for k, v in match.items()))


#: follow-on kinds: what a lost or damaged entry makes the walk see after it (cited after the root causes)
_FOLLOW_ON = frozenset({"tid_gap", "tid_reorder", "tag_not_started_at_zero"})


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    """Each problem once, root causes (damaged or missing data) before follow-on ones."""
    out: dict[int, Problem] = {}
    for p in problems:
        out.setdefault(id(p), p)
    return sorted(out.values(), key=lambda p: (p.kind in _FOLLOW_ON, p.kind not in _DROPPED_KINDS))


# -- the plan ----------------------------------------------------------------------------------


def plan_repair(journal: Journal, problems: list[Problem] | None = None) -> RepairPlan:
    """The changes inspect's findings call for (see the module docstring); nothing is written."""
    reported = problems if problems is not None else reported_problems(journal)
    plan = RepairPlan(journal, problems=reported)
    cite = _Citations(reported)
    header = journal.header
    width, order = header.splay_width, header.order
    objects = journal.find_data_objects(exhaustive=True)
    inferred = _infer_splay_width(journal, objects.numbers)
    if inferred is not None and inferred != width:
        why = cite.kind(["malformed_header"], "splay_width") + cite.kind(["misplaced_entry"])
        if why:
            plan.header_set["splay_width"] = encode(u8, inferred)
            plan.actions.append(Action("set_header_key", f"{journal.header_oid} splay_width",
                                       f"splay_width = {inferred}: the only width that places every entry where "
                                       f"libjournal put it (header says {width})", why))
            width = inferred
    if not width or order is None:
        plan.actions.append(Action("unrepairable", journal.header_oid,
                                   "order or splay_width is missing or impossible: the journal's geometry is unknown; "
                                   "restore the header from a backup or recreate the journal (journal reset)",
                                   cite.kind(["malformed_header"])))
        return plan
    lo, hi = _live_sets(journal, objects.numbers, width)
    moved = _plan_data(plan, journal, cite, objects.numbers, objects.strays, width, lo, hi)
    if plan.refused:
        return plan
    _plan_header(plan, journal, cite, lo, hi, moved, width)
    _verify(plan, journal)
    return plan


def _live_sets(journal: Journal, numbers: list[int], width: int) -> tuple[int, int]:
    """[minimum_set, active_set] as the objects and commit positions show them.

    A missing bound is the lowest (highest) set present.  When minimum_set is above active_set, the one that
    contradicts the objects is wrong.  minimum_set is never above a connected client's commit position in an
    existing object (libjournal trims only sets every client committed past): a larger one would call live
    entries trimmed leftovers.
    """
    header = journal.header
    present = sorted({n // width for n in numbers})
    lo = header.minimum_set if header.minimum_set is not None else (present[0] if present else 0)
    hi = header.active_set if header.active_set is not None else (present[-1] if present else lo)
    if lo > hi:
        if present and present[-1] >= lo:
            hi = present[-1]  # the objects reach minimum_set: active_set is the wrong one
        else:
            lo = present[0] if present else hi
    existing = set(numbers)
    committed = [p.object_number // width for c in header.clients if c.state == 0 for p in c.commit_position
                 if p.object_number in existing]
    return min([lo, *committed]), max(hi, min([lo, *committed]))


def _plan_data(plan: RepairPlan, journal: Journal, cite: _Citations, numbers: list[int], strays: list[str],
               width: int, lo: int, hi: int) -> _Moves:
    """Data objects: the entries kept, their order, tids and objects. Returns where each kept entry went."""
    name_of = journal.object_name
    contents: dict[int, bytes] = {}
    entries: list[_Entry] = []
    drops_in: dict[int, list[Dropped]] = defaultdict(list)
    causes_in: dict[int, list[Problem]] = defaultdict(list)
    for number in numbers:
        data = journal.read_object(number)
        if data is None:
            continue
        contents[number] = data
        name = name_of(number)
        if number // width < lo:
            why = cite.at(name, kinds=["object_outside_sets"]) or cite.kind(["object_outside_sets"], object=name)
            if why:
                plan.objects[name] = None
                plan.actions.append(Action("remove_object", name, f"object set {number // width} is below minimum_set {lo} "
                                           "(trimmed: every client committed past it)", why))
            continue
        frames, problems = salvage_scan(data, name)
        for p in problems:
            if p.kind in _DROPPED_KINDS:
                why = cite.at(name, p.offset, p.tag_tid, p.entry_tid) or [p]
                causes_in[number] += why
                tag, tid = (p.tag_tid, p.entry_tid) if p.entry_tid is not None else _frame_ids(data, p.offset)
                drops_in[number].append(Dropped(name, p.offset, tag, tid, f"{p.kind}: {p.detail}"))
        latest: dict[tuple[int, int], Frame] = {}
        for f in frames:  # the reader keeps the last copy of an entry in one object
            earlier = latest.get((f.tag_tid, f.entry_tid))
            if earlier is not None:
                causes_in[number] += cite.at(name, f.offset, f.tag_tid, f.entry_tid, kinds=["duplicate_entry"])
                drops_in[number].append(Dropped(name, earlier.offset, f.tag_tid, f.entry_tid,
                                                f"an earlier copy; the copy at byte {f.offset} replaces it (as the reader does)"))
            latest[(f.tag_tid, f.entry_tid)] = f
        for f in latest.values():
            assert f.payload is not None  # scan_object keeps every payload (only a counting walk drops them)
            entries.append(_Entry(f.tag_tid, f.entry_tid, bytes(f.payload), number, f.offset))
    for stray in strays:
        why = cite.kind(["unexpected_object"], object=stray)
        if why:
            plan.objects[stray] = None
            plan.actions.append(Action("remove_object", stray, "not a journal data object name", why))

    # copies of one entry in different objects
    by_key: dict[tuple[int, int], list[_Entry]] = defaultdict(list)
    for e in entries:
        by_key[e.key].append(e)
    kept: list[_Entry] = []
    keys = sorted(by_key)
    for index, key in enumerate(keys):
        copies = by_key[key]
        if len(copies) == 1:
            kept.append(copies[0])
            continue
        if len({c.payload for c in copies}) > 1:
            where = ", ".join(f"{name_of(c.number)} at byte {c.offset}" for c in copies)
            why = _unique(p for c in copies for p in cite.at(name_of(c.number), c.offset, *key))
            plan.actions.append(Action("unrepairable", "plan",
                                       f"tag {key[0]} entry tid {key[1]} has different copies ({where}): which one "
                                       "libjournal wrote cannot be told; nothing is written", why))
            return _Moves({}, set())
        # the copy in the splay object of its tid and in the set of its neighbours (on a tie: the later object)
        near = [kept[-1].number // width] if kept else []
        if index + 1 < len(keys) and len(by_key[keys[index + 1]]) == 1:
            near.append(by_key[keys[index + 1]][0].number // width)
        keeper = min(copies, key=lambda c: (c.number % width != key[1] % width,
                                            sum(abs(c.number // width - s) for s in near), -c.number))
        kept.append(keeper)
        for c in copies:
            if c is not keeper:
                why = cite.at(name_of(c.number), c.offset, *key) or cite.kind(ORDER_KINDS, tag_tid=key[0])
                causes_in[c.number] += why
                drops_in[c.number].append(Dropped(name_of(c.number), c.offset, key[0], key[1],
                                                  f"a copy of the entry at {name_of(keeper.number)} byte {keeper.offset}"))
    # renumbering: close the gaps of each tag (a newer tag starts at 0)
    # the replay starts after the newest entry of the minimum commit position (JournalPlayer), at entry tid 0 of a
    # tag without one: a tag keeps its first tid only when the replay starts inside it
    replay_start = journal.min_commit_position()
    front = replay_start[0] if replay_start else None
    new_tid: dict[tuple[int, int], int] = {}
    renumbered: dict[int, list[tuple[int, int]]] = defaultdict(list)
    expected: dict[int, int] = {}
    for e in kept:
        tag = e.tag_tid
        if tag not in expected:
            expected[tag] = min(e.entry_tid, front.entry_tid + 1) if front is not None and front.tag_tid == tag else 0
        tid = expected[tag]
        if tid != e.entry_tid:
            renumbered[tag].append((e.entry_tid, tid))
        new_tid[e.key] = tid
        expected[tag] = tid + 1
    # order: (tag, tid); sets: unchanged when already in order, else the candidate that rewrites the fewest objects
    original = [e.number // width for e in kept]
    candidates = [original] if original == sorted(original) else [_ordered_sets(original), sorted(original)]

    def layout(candidate: list[int]) -> dict[int, bytes]:
        out: dict[int, bytearray] = defaultdict(bytearray)
        for e, object_set in zip(kept, candidate, strict=True):
            tid = new_tid[e.key]
            out[object_set * width + tid % width] += encode_entry(e.tag_tid, tid, e.payload)
        return {n: bytes(b) for n, b in out.items()}

    def rewrites(candidate: list[int]) -> int:
        new = layout(candidate)
        return sum(1 for n in set(new) | set(contents) if new.get(n, b"") != contents.get(n, b""))

    sets = min(candidates, key=rewrites)
    # rebuild
    rebuilt: dict[int, bytearray] = defaultdict(bytearray)
    moves = _Moves({}, set())
    changed_keys: set[tuple[int, int]] = set()
    changed_tags: dict[int, set[int]] = defaultdict(set)
    for e, object_set in zip(kept, sets, strict=True):
        tid = new_tid[e.key]
        number = object_set * width + tid % width
        rebuilt[number] += encode_entry(e.tag_tid, tid, e.payload)
        moves.to[e.key] = Position(number, e.tag_tid, tid)
        if number != e.number or tid != e.entry_tid:
            changed_keys.add(e.key)
            changed_tags[e.number].add(e.tag_tid)
            changed_tags[number].add(e.tag_tid)
            causes_in[e.number] += cite.at(name_of(e.number), e.offset, *e.key)
    moves.kept = set(moves.to)
    plan.kept_entries = len(kept)
    newest_set = max(sets, default=hi)
    root = _unique([p for ps in causes_in.values() for p in ps] + cite.kind(DATA_CAUSES - {"object_outside_sets"})
                   + cite.where(lambda p: p.kind == "object_outside_sets" and p.severity == ERROR))
    writes: list[Action] = []
    new_objects: dict[str, bytes | None] = {}
    for number in sorted(set(rebuilt) | set(contents)):
        if number // width < lo:
            continue
        name = name_of(number)
        old = contents.get(number)
        new = bytes(rebuilt.get(number, b""))
        above = number // width > max(hi, newest_set)
        if (old == new and not (above and old is not None and not new)) or (old is None and not new):
            continue
        roots = [p for ps in causes_in.values() for p in ps
                 if p.kind in _DROPPED_KINDS and p.tag_tid in changed_tags.get(number, set())]
        why = _unique(roots + causes_in.get(number, []) + cite.at(name)
                      + cite.kind(["missing_object", "object_outside_sets"], object=name))
        if not new and above:
            new_objects[name] = None
            writes.append(Action("remove_object", name, f"{len(old or b'')} bytes and no entry that checks out, "
                                 f"above active_set {max(hi, newest_set)}", why or root, drops_in.get(number, [])))
            continue
        new_objects[name] = new
        writes.append(Action("rewrite_object", name,
                             f"{0 if old is None else len(old)} -> {len(new)} bytes: the entries that check out, in "
                             "(tag, entry tid) order, each in the splay object of its entry tid", why or root,
                             drops_in.get(number, [])))
    for tag, changes in renumbered.items():
        (first_old, first_new), (last_old, last_new) = changes[0], changes[-1]
        why = _unique([p for ps in causes_in.values() for p in ps if p.tag_tid in (tag, None)]
                      + cite.kind(DATA_CAUSES, tag_tid=tag) + cite.kind(["missing_object"]))
        writes.append(Action("renumber", f"tag {tag}",
                             f"{len(changes)} entries renumbered so that the tag replays contiguously "
                             f"(tid {first_old} -> {first_new} ... {last_old} -> {last_new}); their order is unchanged",
                             why or root))
    if writes and not root:
        return _Moves({}, set())  # nothing inspect reported calls for changing the data
    plan.objects.update(new_objects)
    plan.actions += writes
    if newest_set > hi:
        plan.header_set["active_set"] = encode(u64, newest_set)
        plan.actions.append(Action("set_header_key", f"{journal.header_oid} active_set",
                                   f"active_set = {newest_set}: newest object set holding entries",
                                   cite.where(lambda p: p.kind == "object_outside_sets" and p.severity == ERROR) or root))
    moves.changed = changed_keys
    moves.touched = bool(writes)
    moves.order = [(e.tag_tid, new_tid[e.key]) for e in kept]
    return moves


@dataclass
class _Moves:
    to: dict[tuple[int, int], Position]  # old (tag, tid) -> new place of each kept entry
    kept: set[tuple[int, int]]
    changed: set[tuple[int, int]] = field(default_factory=set)
    touched: bool = False
    order: list[tuple[int, int]] = field(default_factory=list)  # new (tag, tid) of the kept entries, in order


def _ordered_sets(sets: list[int]) -> list[int]:
    """Object sets for entries in replay order: the longest non-decreasing run of ``sets`` stays; every
    other entry takes the set of the kept entry before it (or after it, at the start).  (The other candidate,
    ``sorted(sets)``, puts back objects swapped between sets exactly; this one moves a lone outlier only.)"""
    if not sets:
        return []
    tails: list[int] = []  # tails[k]: index of the smallest tail of a non-decreasing run of length k+1
    tail_values: list[int] = []
    parent = [-1] * len(sets)
    for i, s in enumerate(sets):
        k = bisect.bisect_right(tail_values, s)
        parent[i] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(i)
            tail_values.append(s)
        else:
            tails[k] = i
            tail_values[k] = s
    stays = set()
    i = tails[-1]
    while i >= 0:
        stays.add(i)
        i = parent[i]
    out = list(sets)
    first = min(stays)
    for i in range(len(sets)):
        if i not in stays:
            out[i] = out[i - 1] if i > first else sets[first]
    return out


def _plan_header(plan: RepairPlan, journal: Journal, cite: _Citations, lo: int, hi: int, moves: _Moves,
                 width: int) -> None:
    header = journal.header
    oid = journal.header_oid

    def set_key(key: str, value: int, con: Any, why: str, fixes: list[Problem]) -> None:
        if not fixes:
            return
        plan.header_set[key] = encode(con, value)
        plan.actions.append(Action("set_header_key", f"{oid} {key}", f"{key} = {value}: {why}", fixes))

    bad_key = {k: cite.kind(["malformed_header"], f"'{k}'") for k in
               ("minimum_set", "active_set", "pool_id", "next_tag_tid", "next_tag_class")}
    inverted = cite.kind(["malformed_header"], "is above active_set")
    if header.minimum_set != lo:
        set_key("minimum_set", lo, u64, "the lowest live object set (not above any client's commit position)",
                bad_key["minimum_set"] + inverted + cite.kind(["dangling_commit_position"], "outside"))
    if header.active_set != hi and "active_set" not in plan.header_set:
        set_key("active_set", hi, u64, "the newest object set holding entries", bad_key["active_set"] + inverted)
    if header.pool_id is None:
        set_key("pool_id", -1, i64, "data objects live in the header's pool", bad_key["pool_id"])
    elif header.pool_id >= 0 and header.pool_id != journal.header_pool.pool_id:
        try:
            journal.header_pool.store.pool_name(header.pool_id)
        except NotFoundError:
            set_key("pool_id", -1, i64, f"pool {header.pool_id} does not exist; the data objects read are the "
                    "header pool's", cite.kind(["malformed_header"], "pool_id"))
    tags = {t.tid: t for t in header.tags}
    if header.next_tag_tid is None or any(t >= header.next_tag_tid for t in tags):
        beyond = [t for t in tags if header.next_tag_tid is not None and t >= header.next_tag_tid]
        set_key("next_tag_tid", max(tags, default=-1) + 1, u64, "one past the newest tag",
                bad_key["next_tag_tid"] + [p for t in beyond for p in cite.kind(["malformed_tag"], tag_tid=t)])
    classes = [t.tag_class for t in header.tags if t.tag_class is not None]
    if header.next_tag_class is None or any(c >= header.next_tag_class for c in classes):
        set_key("next_tag_class", max(classes, default=-1) + 1, u64, "one past the newest tag class",
                bad_key["next_tag_class"] + cite.kind(["malformed_tag"], "next_tag_class")
                + cite.kind(["malformed_header"], "next_tag_class"))
    for key in header.unknown_keys:
        why = cite.kind(["unknown_header_key", "malformed_tag"], repr(key))
        if why:
            plan.header_remove.append(key)
            plan.actions.append(Action("remove_header_key", f"{oid} {key}", "cls_journal never writes this key", why))

    image_class = image_tag_class(journal)
    for record in header.tags:
        if record.record is None or record.record.tid != record.tid:
            data = record.record.data if record.record is not None else b""
            why = cite.kind(["malformed_tag"], tag_tid=record.tid)
            if why:
                plan.header_set[record.key] = encode(Tag, {"tid": record.tid, "tag_class": image_class, "data": data})
                plan.actions.append(Action("rewrite_tag", record.key, f"tag {record.tid} in class {image_class}", why))
    referenced = {tag for tag, _ in moves.kept}
    next_tid = int.from_bytes(plan.header_set["next_tag_tid"], "little") if "next_tag_tid" in plan.header_set \
        else (header.next_tag_tid or 0)
    for tag in sorted(referenced - set(tags)):
        why = cite.kind(["missing_tag"], tag_tid=tag)
        if not why:
            continue
        if tag == next_tid:
            from ..format.librbd_journal import make_tag_data

            plan.header_set[tag_key(tag)] = encode(Tag, {"tid": tag, "tag_class": image_class, "data": make_tag_data("")})
            plan.header_set["next_tag_tid"] = encode(u64, tag + 1)
            next_tid = tag + 1
            plan.actions.append(Action("rewrite_tag", tag_key(tag), f"recreate tag {tag} (local owner) for its entries", why))
        else:
            plan.actions.append(Action("unrepairable", f"tag {tag}",
                                       "entries reference a tag whose record is gone and that cannot be recreated "
                                       f"(the next tag tid is {next_tid})", why))

    for client in header.clients:
        own = cite.kind(["malformed_client", "dangling_commit_position", "client_ahead"], f"{client.id!r}") \
            + cite.kind(["malformed_client"], f"{client.key!r}")
        if client.record is None:
            if not own:  # a decode error need not name the key: the malformed_client reports naming no other client
                names = [repr(c.key) for c in header.clients if c is not client]
                names += [repr(c.id) for c in header.clients if c is not client and c.id]
                own = [p for p in cite.kind(["malformed_client"]) if not any(n in p.detail for n in names)]
            data = _decodable_client_data(client.raw)
            if own:
                plan.header_set[client.key] = _client_bytes(client.key[len("client_"):], data, [])
                plan.actions.append(Action("rewrite_client", client.key, "same id, empty commit position"
                                           + (", data kept" if data else ", data lost (undecodable)"), own))
            continue
        affected = any((p.tag_tid, p.entry_tid) in moves.changed or (p.tag_tid, p.entry_tid) not in moves.kept
                       for p in client.commit_position) if moves.touched else False
        if not own and not affected:
            continue
        positions = _commit_positions(client.commit_position, moves, width)
        state = client.state if client.state in (0, 1) else 0
        if positions == client.commit_position and client.id == client.key[len("client_"):] and state == client.state:
            continue
        why = _unique(own + ([a_fix for a in plan.actions if a.kind in ("renumber", "rewrite_object", "remove_object")
                              for a_fix in a.fixes] if affected else []))
        if not why:
            continue
        old = client.commit_position[0] if client.commit_position else None
        new = positions[0] if positions else None
        plan.header_set[client.key] = _client_bytes(client.key[len("client_"):], client.data, positions, state)
        plan.actions.append(Action("rewrite_client", client.key,
                                   f"commit position {_position_text(old)} -> {_position_text(new)} "
                                   f"({len(positions)} positions, one per splay offset, following the entries)",
                                   why))


def _position_text(p: Position | None) -> str:
    return "none" if p is None else f"object {p.object_number} tag {p.tag_tid} entry {p.entry_tid}"


def _commit_positions(old: list[Position], moves: _Moves, width: int) -> list[Position]:
    """The position of a client that committed everything up to its newest old position, in the repaired layout."""
    if not old or not moves.to:
        return [p for p in old if (p.tag_tid, p.entry_tid) in moves.kept] if moves.to else list(old)
    front = max((p.tag_tid, p.entry_tid) for p in old)
    committed = [key for key in moves.to if key <= front]
    if not committed:
        return list(old)  # everything it committed is gone from the live sets: nothing to follow
    new_front = moves.to[max(committed)]
    by_offset: dict[int, Position] = {}
    new_positions = sorted(moves.to.values(), key=lambda p: (p.tag_tid, p.entry_tid))
    limit = (new_front.tag_tid, new_front.entry_tid)
    for p in new_positions:
        if (p.tag_tid, p.entry_tid) <= limit:
            by_offset[p.object_number % width] = p
    return sorted(by_offset.values(), key=lambda p: (p.tag_tid, p.entry_tid), reverse=True)[:width]


def _verify(plan: RepairPlan, journal: Journal) -> None:
    """Check the plan on an overlay of the journal: no order problem is left and every kept entry replays."""
    if not plan.changes:
        return
    after = overlay_journal(plan)
    problems = reported_problems(after, check_events=False)
    left = [p for p in problems if p.severity == ERROR and p.kind in ORDER_KINDS]
    lo, width = after.minimum_set, after.splay_width
    present = sum(1 for e in after.walk(all_entries=True, check_events=False) if e.object_number // width >= lo)
    if left:
        plan.actions.append(Action("unrepairable", "plan",
                                   f"after these changes inspect would still report {len(left)} replay-order errors "
                                   f"(first: {left[0]}); nothing is written rather than make a wrong order permanent",
                                   [p for p in plan.problems if p.kind in ORDER_KINDS or p.damages_data][:20]))
    elif present != plan.kept_entries:
        plan.actions.append(Action("unrepairable", "plan",
                                   f"the repaired journal would hold {present} entries, not the {plan.kept_entries} "
                                   "that check out; nothing is written", []))


def _infer_splay_width(journal: Journal, numbers: list[int]) -> int | None:
    """The largest splay width under which every entry sits at ``entry_tid % width`` (None: no entries,
    or the header's width places more than three quarters of them)."""
    pairs = []
    for number in numbers:
        data = journal.read_object(number) or b""
        pairs += [(number, f.entry_tid) for f in scan_object(data, "") if isinstance(f, Frame)]
    width = journal.header.splay_width
    if not pairs or (width and 4 * sum(1 for n, t in pairs if t % width == n % width) > 3 * len(pairs)):
        return None  # the header's width places (most) entries: a few misplaced ones are moved, not a new geometry
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


# -- the plan applied to an overlay (the check before writing) ------------------------------------------


class _OverlayPool(Pool):
    """A read view of ``base`` with the plan's object contents and omap changes on top (writes stay in memory)."""

    def __init__(self, base: Pool, objects: Mapping[str, bytes | None], omap: Mapping[str, dict[str, bytes]]) -> None:
        self.base = base
        self.store = base.store
        self.name, self.pool_id, self.namespace = base.name, base.pool_id, base.namespace
        self._objects = dict(objects)
        self._omap = {k: dict(v) for k, v in omap.items()}

    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes:
        if oid in self._objects:
            data = self._objects[oid]
            if data is None:
                raise NotFoundError(f"object {oid} does not exist")
            return data[offset:] if length is None else data[offset:offset + length]
        return self.base.read(oid, offset, length)

    def stat(self, oid: str) -> int:
        return len(self.read(oid)) if oid in self._objects else self.base.stat(oid)

    def create(self, oid: str, exclusive: bool = False) -> None:
        raise StoreError("read-only overlay")

    def append(self, oid: str, data: bytes) -> None:
        raise StoreError("read-only overlay")

    def write_full(self, oid: str, data: bytes) -> None:
        raise StoreError("read-only overlay")

    def remove(self, oid: str) -> None:
        raise StoreError("read-only overlay")

    def list_objects(self, prefix: str = "") -> Iterator[str]:
        names = {n for n in self.base.list_objects(prefix) if self._objects.get(n, b"") is not None}
        names |= {n for n, v in self._objects.items() if v is not None and n.startswith(prefix)}
        return iter(sorted(names))

    def omap_items(self, oid: str, prefix: str = "", start_after: str = "") -> Iterator[tuple[str, bytes]]:
        values = self._omap[oid] if oid in self._omap else dict(self.base.omap_items(oid))
        return iter([(k, values[k]) for k in sorted(values) if k.startswith(prefix) and k > start_after])

    def omap_set(self, oid: str, values: Mapping[str, bytes]) -> None:
        raise StoreError("read-only overlay")

    def omap_remove(self, oid: str, keys: Iterable[str]) -> None:
        raise StoreError("read-only overlay")

    def xattrs(self, oid: str) -> dict[str, bytes]:
        return self.base.xattrs(oid)

    def xattr_set(self, oid: str, name: str, value: bytes) -> None:
        raise StoreError("read-only overlay")

    def execute(self, oid: str, cls: str, method: str, data: bytes = b"") -> bytes:
        raise StoreError("read-only overlay")

    def listing_is_cheap(self) -> bool:
        return self.base.listing_is_cheap()


def overlay_journal(plan: RepairPlan) -> Journal:
    """The journal as it would be after :func:`apply_plan`, read through an overlay (nothing is written)."""
    journal = plan.journal
    omap = dict(journal.header_pool.omap(journal.header_oid))
    for key in plan.header_remove:
        omap.pop(key, None)
    omap.update(plan.header_set)
    same_pool = journal.data_pool is journal.header_pool
    header_pool = _OverlayPool(journal.header_pool, plan.objects if same_pool else {}, {journal.header_oid: omap})
    data_pool = header_pool if same_pool else _OverlayPool(journal.data_pool, plan.objects, {})
    return Journal(header_pool, journal.journal_id, parse_header(omap, journal.header_oid), data_pool)


# -- applying: an intent record in the store, steps that can run twice --------------------------------------

INTENT_PREFIX = "journal_repair."


def intent_oid(journal: Journal) -> str:
    """The header-pool object that holds an unfinished repair's steps."""
    return f"{INTENT_PREFIX}{journal.journal_id}"


def _staged_oid(journal: Journal, index: int) -> str:
    return f"{INTENT_PREFIX}{journal.journal_id}.{index}"


def _steps(plan: RepairPlan) -> list[dict[str, Any]]:
    """The plan as steps, data objects first, the header last; each step names the state it sets."""
    steps: list[dict[str, Any]] = []
    staged = 0
    for name, content in plan.objects.items():
        if content is None:
            steps.append({"op": "remove", "object": name})
        else:
            steps.append({"op": "write", "object": name, "staged": staged, "size": len(content)})
            staged += 1
    if plan.header_remove:
        steps.append({"op": "omap_remove", "keys": sorted(plan.header_remove)})
    if plan.header_set:
        steps.append({"op": "omap_set", "values": {k: base64.b64encode(v).decode("ascii")
                                                   for k, v in sorted(plan.header_set.items())}})
    return steps


@contextlib.contextmanager
def write_lock(journal: Journal) -> Iterator[None]:
    """The journal-wide lock of :mod:`journaltools.write_guard` (re-entrant: a command holding it passes)."""
    from ..write_guard import holder_text, lock_oid

    pool = journal.header_pool
    with pool.command_lock(lock_oid(pool, journal.journal_id), holder_text()):
        yield


def apply_plan(plan: RepairPlan) -> None:
    """Write the plan resumably: stage new contents, write the intent (the commit point), run the steps, clean up."""
    if plan.refused:
        raise StoreError("refusing to apply a repair plan that failed its check")
    journal = plan.journal
    steps = _steps(plan)
    if not steps:
        return
    with write_lock(journal):
        pool = journal.header_pool
        if pool.exists(intent_oid(journal)):
            raise ExistsError(f"an interrupted repair of journal {journal.journal_id} is pending "
                              f"(object {intent_oid(journal)}): finish it first")
        contents = [c for c in plan.objects.values() if c is not None]
        for index, content in enumerate(contents):
            pool.write_full(_staged_oid(journal, index), content)
        intent = {"version": 1, "journal_id": journal.journal_id, "header_oid": journal.header_oid, "steps": steps}
        pool.write_full(intent_oid(journal), orjson.dumps(intent))
        _run_intent(journal, intent)


def pending_intent(journal: Journal) -> dict[str, Any] | None:
    """The steps of an interrupted repair, or None."""
    try:
        raw = journal.header_pool.read(intent_oid(journal))
    except NotFoundError:
        return None
    try:
        intent = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"object {intent_oid(journal)}: unreadable repair intent ({exc})") from exc
    if not isinstance(intent, dict) or intent.get("version") != 1 or not isinstance(intent.get("steps"), list):
        raise StoreError(f"object {intent_oid(journal)}: not a repair intent this version can finish")
    return intent


def resume_pending(journal: Journal) -> int | None:
    """Finish an interrupted repair (its intent record) and clean staged leftovers; returns the steps run, or None."""
    with write_lock(journal):
        intent = pending_intent(journal)
        if intent is None:
            _remove_staged(journal, 0)  # a run killed while staging, before its intent: nothing was changed
            return None
        _run_intent(journal, intent)
        return len(intent["steps"])


def discard_pending(journal: Journal) -> bool:
    """Drop an interrupted repair without finishing it (``journal reset`` does: its steps no longer apply)."""
    try:
        journal.header_pool.remove(intent_oid(journal))
        found = True
    except NotFoundError:
        found = False
    _remove_staged(journal, 0)
    return found


def _run_intent(journal: Journal, intent: dict[str, Any]) -> None:
    header_pool, data_pool = journal.header_pool, journal.data_pool
    staged = sum(1 for step in intent["steps"] if step["op"] == "write")
    if intent.get("done"):  # every step ran; only the cleanup was interrupted
        _remove_staged(journal, staged)
        header_pool.remove(intent_oid(journal))
        return
    for step in intent["steps"]:
        op = step["op"]
        if op == "write":
            content = header_pool.read(_staged_oid(journal, step["staged"]))
            if len(content) != step["size"]:
                raise StoreError(f"staged object {_staged_oid(journal, step['staged'])} is {len(content)} bytes, "
                                 f"expected {step['size']}")
            data_pool.write_full(step["object"], content)
        elif op == "remove":
            with contextlib.suppress(NotFoundError):
                data_pool.remove(step["object"])
        elif op == "omap_remove":
            header_pool.omap_remove(intent["header_oid"], step["keys"])
        elif op == "omap_set":
            header_pool.omap_set(intent["header_oid"], {k: base64.b64decode(v) for k, v in step["values"].items()})
        else:
            raise StoreError(f"repair intent step {op!r} is unknown")
    # every step ran: say so (atomically), then remove the staged contents, then the intent
    header_pool.write_full(intent_oid(journal), orjson.dumps({**intent, "done": True}))
    _remove_staged(journal, staged)
    header_pool.remove(intent_oid(journal))


def _remove_staged(journal: Journal, count: int) -> None:
    """Remove staged objects ``0 .. count - 1`` (``count`` 0: those left by a run killed before its intent)."""
    index = 0
    while index < count or journal.header_pool.exists(_staged_oid(journal, index)):
        with contextlib.suppress(NotFoundError):
            journal.header_pool.remove(_staged_oid(journal, index))
        index += 1
