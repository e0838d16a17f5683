"""Walking a journal's entries in Ceph's replay order, collecting structural problems.

Default mode replays what ``rbd journal inspect``/``export`` replay: a temporary
client registered now would get the minimum commit position of the registered
clients that are not disconnected (cls ``find_min_commit_position``, as 16.2.15
computes it), and src/journal/JournalPlayer.cc plays
from there: per splay offset, objects of successive object sets up to the active
set; committed entries (up to and including each offset's commit position) are
skipped; playback goes round robin across the splay starting at the newest
committed entry's splay offset (past it when what is left there is nothing or
more of the committed tag); entries of tags older than the active tag are stale; a newer
tag takes over when its entry tid 0 comes up; entries of one tag must be
contiguous.  Where Ceph aborts (corrupt bytes, a missing prior entry), this walk
reports a :class:`Problem` and goes on: from the splay offset that holds the next
entry of the tag (else the lowest one left), so one lost entry costs one gap.

Problems come in walk order: one found in an object is attached to the frame it
precedes and reported when the walk reaches that frame (an ``--on-error stop``
consumer has every intact entry before it); what the walk never reaches
(committed or pruned entries) is reported at the end.  One problem per fault: a
gap or reorder right after a fault, a commit position naming a lost or missing
entry, become ``follow_on`` details of that fault.

``all_entries`` mode yields every entry physically present: object set by object
set, each set's objects merged by (tag tid, entry tid).

Memory is bounded by one object per splay offset, whatever the journal's size.

Speed: objects are read in chunks of :data:`~.scan.READ_CHUNK`; a healthy
object's frames go through one tight checking loop (the careful per-item loop
takes over at the first duplicate or out-of-order tid); the replay takes runs of
in-sequence entries at once (:func:`_replay_run`, in C with the native core), the
per-entry Python handles only what is not such a run.  Memory: a walk holds a set of
objects (the player reads each object whole), so its heap asks for transparent huge pages
(:func:`_prepare_heap`); ``count()`` lets go of each chunk once it is scanned.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from functools import cache

from ..errors import NotFoundError
from ..format.cls_journal_keys import CLIENT_STATE_DISCONNECTED
from ..records import Record
from ..store.readahead import AioReadAhead, ObjectChunks, ReadAhead, maps_objects, open_read_ahead
from .model import Journal, Position
from .problems import ERROR, WARNING, Problem
from .scan import MAX_ENTRY, READ_CHUNK, Frame, Whole, scan_chunked

#: kinds whose problem stands for entries lost at a place in an object (its follow-on effects attach to it)
_LOSS_KINDS = frozenset({"bad_magic", "bad_version", "crc_mismatch", "truncated_entry", "bad_length", "garbage"})


class JournalEntry(Record):
    """One entry as the walk yields it (journaltools/_native.c's replay_run fills its slots directly)."""

    __slots__ = ("commit_tid", "entry_tid", "object_name", "object_number", "offset", "payload", "size", "tag_tid")
    __match_args__ = ("object_number", "object_name", "offset", "size", "tag_tid", "entry_tid", "commit_tid", "payload")
    _fields = __match_args__
    object_number: int
    object_name: str
    offset: int
    size: int
    tag_tid: int
    entry_tid: int
    commit_tid: int
    payload: bytes | memoryview  # a view into the chunk that was read

    def __init__(self, object_number: int, object_name: str, offset: int, size: int, tag_tid: int, entry_tid: int,
                 commit_tid: int, payload: bytes | memoryview) -> None:
        self.object_number = object_number
        self.object_name = object_name
        self.offset = offset
        self.size = size
        self.tag_tid = tag_tid
        self.entry_tid = entry_tid
        self.commit_tid = commit_tid
        self.payload = payload


_Located = tuple[int, Frame]  # (object number, frame)

#: entries per run of :func:`_replay_run`
RUN_LIMIT = 4096


class _Run:
    """A run of in-sequence entries the replay took at once (:func:`_replay_run`): already checked."""

    __slots__ = ("count", "entries")

    def __init__(self, count: int, entries: list[JournalEntry] | None) -> None:
        self.count = count
        self.entries = entries  # None when the walk only counts


def _replay_run_python(streams: list[_OffsetStream], splay: int, active: int, want: int, commit_tid: int,
                       check_events: bool, numbers: list[int] | None, names: list[str] | None,
                       out: list[JournalEntry] | None, limit: int) -> tuple[int, int]:
    """Take the replay's common case at once: from stream ``splay`` round robin, while each stream's next
    frame (in its current segment) is entry ``want``, ``want + 1``, ... of tag ``active`` with nothing
    attached, and (``check_events``) its payload is an IO event in librbd's exact shape.  Each taken
    frame is popped; with ``out`` a list, its :class:`JournalEntry` is appended (object ``numbers[k]``,
    ``names[k]`` of stream ``k``, commit tids from ``commit_tid + 1`` on).  Stops at the first frame
    that is not so, at the end of a stream's segment, or after ``limit`` frames; returns
    ``(splay, taken)``, the stream the replay goes on with.  The caller checked the rest of what the
    walk's per-entry check needs (the tag is known, its last entry tid is ``want - 1``).
    journaltools/_native.c's ``replay_run`` is the same in C."""
    from ..format import event_fastpath

    event_type = event_fastpath.fast_event_type if check_events else None
    width = len(streams)
    taken = 0
    while taken < limit:
        stream = streams[splay]
        index = stream.index
        if index >= len(stream.frames):
            break
        frame = stream.frames[index]
        if (frame.problems is not None or frame.tag_tid != active or frame.entry_tid != want
                or (event_type is not None and (payload := frame.payload) is not None  # None: checked as read
                    and event_type(payload) is None)):
            break
        commit_tid += 1
        if out is not None:
            assert numbers is not None and names is not None and frame.payload is not None  # only count() drops
            out.append(JournalEntry(numbers[splay], names[splay], frame.offset, frame.size, frame.tag_tid,
                                    frame.entry_tid, commit_tid, frame.payload))
        stream.index = index + 1
        want += 1
        taken += 1
        splay = splay + 1 if splay + 1 < width else 0
    return splay, taken


def _native_replay_run() -> Callable[..., tuple[int, int]] | None:
    """The C version of :func:`_replay_run_python`, unless :func:`~journaltools.native.core` says no."""
    from ..native import core

    native = core()
    if native is None:
        return None
    native.set_frame_type(Frame)
    native.set_entry_type(JournalEntry)
    return native.replay_run  # type: ignore[no-any-return]


#: the native run or the pure-Python reference: the same entries, the same streams' positions
_replay_run: Callable[..., tuple[int, int]] = _native_replay_run() or _replay_run_python


def _order_run_python(frames: Sequence[Frame], width: int, offset: int) -> tuple[int, dict[int, int], list[int]]:
    """How far ``frames`` (an object's healthy run, in object order) go while every tag's entry tids
    increase, so that no duplicate or reordered entry is among them: ``(checked, last_in_tag,
    misplaced)``, the number of such frames, the last entry tid of each tag among them, and the
    indexes of those whose tid belongs to another splay offset than ``offset``.
    journaltools/_native.c's ``order_run`` is the same in C."""
    last_in_tag: dict[int, int] = {}
    last_of = last_in_tag.get
    misplaced: list[int] = []
    checked = len(frames)
    for i, frame in enumerate(frames):
        tid = frame.entry_tid
        prev = last_of(frame.tag_tid)
        if prev is not None and tid <= prev:
            checked = i
            break
        last_in_tag[frame.tag_tid] = tid
        if tid % width != offset:
            misplaced.append(i)
    return checked, last_in_tag, misplaced


def _native_order_run() -> Callable[[Sequence[Frame], int, int], tuple[int, dict[int, int], list[int]]] | None:
    """The C version of :func:`_order_run_python`, unless :func:`~journaltools.native.core` says no."""
    from ..native import core

    native = core()
    if native is None:
        return None
    native.set_frame_type(Frame)
    return native.order_run  # type: ignore[no-any-return]


_order_run = _native_order_run() or _order_run_python


def _present(frames: Sequence[Frame], keys: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (tag tid, entry tid)s of ``keys`` that frames among ``frames`` have (a native ``Frames`` is
    searched in C, without a Frame object per entry)."""
    has = getattr(frames, "has", None)
    if has is not None:
        return {key for key in keys if has(*key)}
    return keys & {(f.tag_tid, f.entry_tid) for f in frames}


#: the cyclic collector's first threshold while a walk runs (the default is 700 allocations)
WALK_GC_THRESHOLD = 100_000

#: untouched heap a walk asks transparent huge pages for (``_native.huge_heap``), once per process: the
#: chunks of a set of objects (64 MiB with 16 MiB objects and splay width 4) and what is read ahead
HUGE_HEAP = 256 << 20


def _splay_offset_of(first: int, last: int, width: int) -> int | None:
    """The splay offset every entry tid ``first``..``last`` is at, if they share one (consecutive tids
    go round the offsets, so only a single tid does, or any run in a journal of width 1)."""
    if width == 1:
        return 0
    return first % width if first == last else None


def _release_pages(mapped: mmap.mmap, upto: int) -> None:
    """Drop the resident pages of ``mapped`` before ``upto`` (whole pages): the process's memory no longer
    counts them, the file's pages stay in the kernel's cache, and a view still read faults them back in
    with the same bytes (a shared read-only mapping of a file the store never truncates)."""
    upto -= upto % mmap.PAGESIZE
    if upto > 0:
        with contextlib.suppress(OSError, ValueError):  # only memory: the walk goes on either way
            mapped.madvise(mmap.MADV_DONTNEED, 0, upto)


class _FewerCollections:
    """While a walk runs, the cyclic garbage collector's youngest generation is collected after
    :data:`WALK_GC_THRESHOLD` allocations instead of 700: the walk allocates frames, payload views and
    entries by the hundred thousand, none in a cycle, and most are freed again within that many
    allocations, so a collection never visits them (10% of the instructions of the 200 MiB walk
    before).  :meth:`restore` puts back the previous threshold unless someone changed it meanwhile."""

    __slots__ = ("_before", "_set")

    def __init__(self) -> None:
        self._before = gc.get_threshold()
        self._set: tuple[int, ...] | None = None
        if self._before[0] and self._before[0] < WALK_GC_THRESHOLD:
            self._set = (WALK_GC_THRESHOLD, *self._before[1:])
            gc.set_threshold(*self._set)

    def restore(self) -> None:
        if self._set is not None and gc.get_threshold() == self._set:
            gc.set_threshold(*self._before)
        self._set = None


@cache
def _prepare_heap() -> bool:
    """Once per process, with the native core: freed chunks stay in the heap for the next reads (glibc
    returns a freed 1 MiB block to the system and maps fresh zeroed pages for the next one: 40% of the
    page faults of an offline walk, about 0.05 s of system time on the 200 MiB journal); and, where the
    kernel has transparent huge pages, the heap the chunks come from has them (``_native.huge_heap``: a
    walk holds a set of objects in fresh memory, 16,000 page faults of 4 KiB for 64 MiB, 32 of 2 MiB).
    True when the heap has huge pages."""
    from ..native import core

    native = core()
    if native is None:
        return False
    native.keep_freed_chunks(4 << 20, 64 << 20)
    return _transparent_huge_pages() and native.huge_heap(HUGE_HEAP) > 0


def _transparent_huge_pages() -> bool:
    """Whether the kernel gives transparent huge pages to memory that asks (``always`` or ``madvise``)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", "rb") as fh:
            return b"[never]" not in fh.read()
    except OSError:
        return False


class JournalWalk:
    """Iterate once; ``problems`` is complete when the iteration ends."""

    def __init__(
        self,
        journal: Journal,
        *,
        all_entries: bool = False,
        check_events: bool = True,
        progress: Callable[[int], None] | None = None,
        read_chunk: int = READ_CHUNK,
        read_ahead: bool = True,
    ) -> None:
        self.journal = journal
        self.read_chunk = read_chunk
        self.read_ahead = read_ahead
        self._reader: ReadAhead | AioReadAhead | None = None
        self.all_entries = all_entries
        self.check_events = check_events
        self.progress = progress
        self.problems: list[Problem] = list(journal.header.problems)
        self._attached: list[Problem] = []  # problems waiting on the frame (or object end) they precede
        self._reorders: list[Problem] = []  # the tid_reorder problems among them
        self._emitted: set[int] = set()  # ids of the attached problems already in ``problems``
        self._tails: dict[int, list[Problem]] = {}  # per object: problems after its last frame
        self._lost: dict[int, list[Problem]] = {}  # per object: problems of lost entries in it
        self._open: Problem | None = None  # the last fault: gaps and reorders right after it are its effects
        self._gaps: list[tuple[int, int, int, Problem]] = []  # (tag, first, last missing tid, the fault behind it)
        self._stuck: Problem | None = None  # tag_not_started_at_zero, when the replay ended on it
        self._open_until = -1
        self._position = 0  # commit tid of the entry being checked
        self.entry_count = 0
        self.newest: tuple[int, int] | None = None
        self._last_tid: dict[int, int] = {}
        self._reported_tags: set[int] = set()
        self._scanned: dict[int, set[tuple[int, int]]] = {}
        self._wanted: dict[int, set[tuple[int, int]]] = {}  # per object: the (tag, entry tid)s commit positions name in it
        for client in journal.header.clients:
            for pos in client.commit_position:
                self._wanted.setdefault(pos.object_number, set()).add((pos.tag_tid, pos.entry_tid))
        self._objects = journal.find_data_objects()
        self._existing = self._objects.numbers  # when not listed: candidates, some may not exist
        self._read: set[int] = set()  # objects the walk asked for
        self._absent: set[int] = set()  # ... and found missing
        self._tags = {t.tid for t in journal.header.tags}
        self._min_committed_tag = self._minimum_committed_tag()
        self._event_decoder = self._load_event_decoder() if check_events else None
        self._keep_payloads = True  # False in count(): frames checked as they were read keep no payload
        self._maps = read_ahead and maps_objects(journal.data_pool)  # scan each object in the store's own file
        self._held_maps: dict[int, mmap.mmap] = {}  # per object: its mapping, while the replay is in it
        _prepare_heap()

    # -- public -------------------------------------------------------------
    def __iter__(self) -> Iterator[JournalEntry]:
        return self._walk(build=True)

    def count(self) -> int:
        """Walk to the end without building entries (all ``inspect`` needs); returns the number of entries.

        With the native core, a frame whose payload was found, as its chunk was read, to be an IO event in
        librbd's exact shape keeps no payload (its check is done), so each chunk is freed once scanned
        instead of with its object: about a set of objects (64 MiB with 16 MiB objects, splay width 4) less
        memory, and fewer fresh pages to fault in."""
        self._keep_payloads = False
        for _ in self._walk(build=False):
            pass
        return self.entry_count

    def _walk(self, build: bool) -> Iterator[JournalEntry]:
        source = self._physical() if self.all_entries else self._replay(build)
        check = self._check_entry
        last_tid = self._last_tid
        known_tags = self._tags
        fast_event_type: Callable[[bytes | memoryview], int | None] | None = None
        if self._event_decoder is not None:
            from ..format.event_fastpath import fast_event_type
        names: dict[int, str] = {}
        name_of = self.journal.object_name
        commit_tid = 0
        collector = _FewerCollections()
        try:
            for item in source:
                if type(item) is _Run:  # taken and checked at once by the replay (_replay_run)
                    commit_tid += item.count
                    self._position = commit_tid
                    if item.entries is not None:
                        self.entry_count = commit_tid
                        yield from item.entries
                    continue
                number, frame = item  # type: ignore[misc]
                commit_tid += 1
                self._position = commit_tid  # where problems reported now stand (see _emit)
                tag = frame.tag_tid
                last = last_tid.get(tag)
                if (last is not None and frame.entry_tid == last + 1 and tag in known_tags
                        and (fast_event_type is None or (payload := frame.payload) is None
                             or fast_event_type(payload) is not None)):  # None: checked as it was read
                    last_tid[tag] = last + 1  # the common case of _check_entry: nothing to report
                else:
                    check(name_of(number), frame)
                if build:
                    name = names.get(number)
                    if name is None:
                        if len(names) > 4096:
                            names.clear()
                        name = names[number] = name_of(number)
                    self.entry_count = commit_tid
                    payload = frame.payload
                    assert payload is not None  # payloads are dropped only by count(), which builds no entries
                    yield JournalEntry(number, name, frame.offset, frame.size, frame.tag_tid, frame.entry_tid,
                                       commit_tid, payload)
        finally:
            collector.restore()
            self._stop_read_ahead()
        self.entry_count = commit_tid
        self._emit(self._attached)  # findings in what the replay never reached (committed, pruned, after a stop)
        self._finish()

    # -- problems in walk order ---------------------------------------------------
    def _emit(self, problems: list[Problem]) -> None:
        """Report attached problems now (once each): the walk has reached the place they describe."""
        for problem in problems:
            if id(problem) in self._emitted:
                continue
            self._emitted.add(id(problem))
            self.problems.append(problem)
            if problem.damages_data:
                self._open = problem
                self._open_until = self._position + 2 * self.journal.splay_width + 2

    def _follow_on(self, effect: str) -> bool:
        """Add ``effect`` to the fault just before it, if there is one; False when the effect is a fault of its own."""
        if self._open is None or self._position > self._open_until:
            return False
        self._open.follow_on.append(effect)
        self._open_until = self._position + 2 * self.journal.splay_width + 2
        return True

    def total_bytes(self) -> int:
        """Bytes of the data objects this walk may read (for progress bars)."""
        total = 0
        for number in self._existing:
            try:
                total += self.journal.data_pool.stat(self.journal.object_name(number))
            except Exception:  # noqa: BLE001 - a size is only an estimate
                continue
        return total

    # -- reading objects ------------------------------------------------------
    def _frames(self, number: int, attach: bool = True) -> Sequence[Frame]:
        """Frames of object ``number`` as the player keeps them (duplicates replaced in place).

        A problem found in the object is attached to the frame it precedes (``frame.problems``;
        after the last frame: to the object's tail), and reported when the walk reaches that
        place, so an ``--on-error stop`` walk has yielded every intact entry before it.  With
        ``attach`` False (objects the walk does not replay) problems are reported at once.
        """
        name = self.journal.object_name(number)
        pool = self.journal.data_pool

        reader = self._reader
        if reader is not None:
            def read_at(offset: int, length: int | None) -> bytes:
                return reader.read(name, offset, length)
        else:
            read_at = ObjectChunks(pool, name, self.read_chunk).read

        self._read.add(number)
        try:
            whole = self._mapped(name) if self._maps else None  # scanned in place: no copy, no fresh memory
            healthy, rest, size = scan_chunked(read_at, name, self.read_chunk, min(self.journal.object_size, MAX_ENTRY),
                                               self._keep_payloads, whole)
            if whole is not None and not isinstance(whole, bytes):
                if self._keep_payloads:
                    self._held_maps[number] = whole  # released as its frames are replayed (_release_replayed)
                else:
                    _release_pages(whole, len(whole))  # checked: the few payloads kept fault back in if read
        except NotFoundError:
            self._absent.add(number)
            return []
        except Exception as exc:  # noqa: BLE001 - a store failure is reported, not raised
            self.problems.append(Problem("unreadable_object", f"cannot read: {exc}", name))
            return []
        if self.progress is not None:
            self.progress(size)
        width = self.journal.splay_width
        soft_max = self.journal.object_size
        if size > 2 * soft_max:
            self.problems.append(Problem("oversized_object", f"object is {size} bytes, soft maximum {soft_max}",
                                         name, severity=WARNING))
        offset = number % width
        # the healthy run, while every tag's tids increase (no duplicate or reordered entry is possible)
        checked, last_in_tag, misplaced = _order_run(healthy, width, offset)
        for i in misplaced:
            self._attach(healthy[i], [self._misplaced(name, offset, healthy[i])], True)
        if last_in_tag:
            newest = max(last_in_tag.items())
            if self.newest is None or newest > self.newest:
                self.newest = newest
        if checked == len(healthy) and not rest:
            if number in self._wanted:  # which of the entries commit positions name are here
                self._scanned[number] = _present(healthy, self._wanted[number])
            return healthy
        # the careful loop for the rest: duplicates replace earlier copies, reorders are reported
        frames = list(healthy[:checked])
        index = {(f.tag_tid, f.entry_tid): i for i, f in enumerate(frames)}
        pending: list[Problem] = []
        for item in [*healthy[checked:], *rest]:
            if isinstance(item, Problem):
                pending.append(item)
                if item.kind in _LOSS_KINDS:
                    self._lost.setdefault(number, []).append(item)
                continue
            key = (item.tag_tid, item.entry_tid)
            if self.newest is None or key > self.newest:
                self.newest = key
            if item.entry_tid % width != offset:
                pending.append(self._misplaced(name, offset, item))
            if key in index:
                pending.append(Problem("duplicate_entry", "a later copy of this entry replaces the earlier one",
                                       name, item.offset, item.tag_tid, item.entry_tid, WARNING))
                frames[index[key]] = item
                self._attach(item, pending, attach)
                pending = []
                continue
            prev = last_in_tag.get(item.tag_tid)
            if prev is not None and item.entry_tid < prev:
                pending.append(Problem("tid_reorder", f"entry tid {item.entry_tid} follows entry tid {prev} of the same tag",
                                       name, item.offset, item.tag_tid, item.entry_tid, affected_entries=1))
            last_in_tag[item.tag_tid] = item.entry_tid
            index[key] = len(frames)
            frames.append(item)
            self._attach(item, pending, attach)
            pending = []
        if pending:
            if attach:
                self._tails[number] = pending
                self._attached += pending
            else:
                self._emit(pending)
        if number in self._wanted:
            self._scanned[number] = set(index)
        return frames

    def _mapped(self, name: str) -> Whole | None:
        """Object ``name`` mapped from the store's file, or None (read it in chunks) when it is over twice the
        journal's object size: the pages a scan touches in a mapping stay resident, and an oversized object
        (a sparse hole of any size after its frames) is scanned in bounded memory only chunk by chunk."""
        mapped = self.journal.data_pool.map_object(name)
        if mapped is not None and len(mapped) > 2 * self.journal.object_size:
            if not isinstance(mapped, bytes):
                mapped.close()
            return None
        return mapped

    def _attach(self, frame: Frame, problems: list[Problem], attach: bool) -> None:
        if not problems:
            return
        if attach:
            frame.problems = problems
            self._attached += problems
            self._reorders += [p for p in problems if p.kind == "tid_reorder"]
        else:
            self._emit(problems)

    def _release_replayed(self, number: int, offset: int) -> None:
        """The replay is past the bytes of object ``number`` before ``offset``: let their mapped pages go
        (the chunks of a read object are freed so, segment by segment)."""
        mapped = self._held_maps.get(number)
        if mapped is not None:
            _release_pages(mapped, offset)

    def _object_done(self, number: int) -> None:
        """The walk is past the last frame of object ``number``: report what followed that frame."""
        self._held_maps.pop(number, None)
        tail = self._tails.pop(number, None)
        if tail:
            self._emit(tail)

    def _read_ahead(self, numbers: list[int]) -> None:
        """Read the objects ``numbers`` ahead, in that order, while the walk checks what it has (a store
        whose objects the walk maps is only told they come next: the kernel reads ahead into its cache)."""
        if not self.read_ahead or not numbers:
            return
        if self._maps:
            self.journal.data_pool.prefetch(self.journal.object_name(n) for n in numbers)
            return
        if self._reader is None:
            # with huge pages in the heap, a store read in this thread beats a reader thread's: the thread's
            # chunks come from its own malloc arena, which has none (200 MiB directory walk 0.087 -> 0.064 s)
            self._reader = open_read_ahead(self.journal.data_pool, self.read_chunk, thread=not _prepare_heap())
            if self._reader is None:
                self.read_ahead = False
                return
        self._reader.schedule(self.journal.object_name(n) for n in numbers)

    def _schedule_reads(self, streams: list[_OffsetStream], first_order: list[int]) -> None:
        """Read ahead what the replay of ``streams`` reads next.

        The streams' first objects are read in the order the replay first visits the streams
        (``first_order``: committed positions first, then round robin).  Once every stream has
        read its current object, their next objects are scheduled in the order the streams will
        run dry: the replay takes one frame per stream per round, starting at the stream that
        just read (fewest frames left first; on a tie, the one the round reaches first).
        """
        if not self.read_ahead:
            return
        self._read_ahead([streams[o].numbers[0] for o in dict.fromkeys(first_order) if streams[o].numbers])
        width = len(streams)
        offset_of = {id(s): k for k, s in enumerate(streams)}
        waiting: set[int] = set()

        def loaded(stream: _OffsetStream) -> None:
            waiting.add(id(stream))
            if all(id(s) in waiting or not s.pending for s in streams):
                here = offset_of[id(stream)]
                order = sorted((k for k, s in enumerate(streams) if s.pending and id(s) in waiting),
                               key=lambda k: streams[k].remaining * width + (k - here) % width)
                self._read_ahead([streams[k].pending[0] for k in order])
                waiting.clear()

        for stream in streams:
            stream.on_load = loaded

    def _stop_read_ahead(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _misplaced(self, name: str, offset: int, item: Frame) -> Problem:
        return Problem(
            "misplaced_entry",
            f"entry tid {item.entry_tid} belongs to splay offset {item.entry_tid % self.journal.splay_width}, object is at offset {offset}",
            name, item.offset, item.tag_tid, item.entry_tid)

    def _offset_stream(self, offset: int, first_object: int) -> _OffsetStream:
        """Entries of splay offset ``offset`` from ``first_object`` through the active set."""
        width = self.journal.splay_width
        last_object = self.journal.active_set * width + offset
        numbers = [n for n in self._existing if n % width == offset and first_object <= n <= last_object]
        stream = _OffsetStream(self._frames, numbers)
        stream.on_done = self._object_done
        if self._maps and self._keep_payloads:
            stream.on_segment = self._release_replayed
        return stream

    # -- replay order (JournalPlayer) -------------------------------------------
    def _replay(self, build: bool = True) -> Iterator[_Located | _Run]:
        """Frames in replay order; runs of in-sequence entries the walk's per-entry check would pass
        silently come as a :class:`_Run` (entries built when ``build``)."""
        width = self.journal.splay_width
        positions = self.journal.min_commit_position()
        by_offset = {p.object_number % width: p for p in positions}
        streams: list[_OffsetStream] = []
        for offset in range(width):
            start = by_offset[offset].object_number if offset in by_offset else offset
            streams.append(self._offset_stream(offset, start))
        splay = positions[0].object_number % width if positions else 0
        self._schedule_reads(streams, [*by_offset, *((splay + k) % width for k in range(width))])
        active: int | None = None
        prune: int | None = None
        if positions:
            front = positions[0]
            active = front.tag_tid
            for offset, pos in by_offset.items():
                self._skip_committed(streams[offset], pos)
            # playback starts at the front position's splay offset, and moves past it only when
            # what is left there is nothing or more of the committed tag; a newer tag's entry there
            # comes first (its entry 0 makes the older tag complete: the rest of it is pruned)
            head = streams[splay].peek()
            if head is None or head.tag_tid == front.tag_tid:
                splay = (splay + 1) % width

        def prune_tag(tag: int) -> bool:
            nonlocal prune
            prune = tag if prune is None or prune < tag else prune
            pruned = False
            for stream in streams:
                while (head := stream.peek()) is not None and head.tag_tid == tag:
                    stream.pop()
                    pruned = True
            return pruned

        last_tid = self._last_tid
        want = last_tid[active] + 1 if active in last_tid else None  # the active tag's next entry tid
        stalled = 0
        run = _replay_run
        check_events = self._event_decoder is not None
        name_of = self.journal.object_name
        known_tags = self._tags
        named: list[int] = []  # the streams' object numbers ``stream_names`` are the names of
        stream_names: list[str] = []
        while True:
            stream = streams[splay]
            index = stream.index
            if index < len(stream.frames):  # the common case, without a call: the stream's next frame ...
                head = stream.frames[index]
                if (head.tag_tid == active and head.entry_tid == want and head.problems is None
                        and (prune is None or active > prune)):  # ... is the active tag's next entry
                    stalled = 0
                    if active in known_tags and last_tid.get(active) == want - 1:  # the walk's check passes it
                        out: list[JournalEntry] | None = [] if build else None
                        numbers = [s.number for s in streams] if build else None
                        names = None
                        if numbers is not None:
                            if numbers != named:
                                named, stream_names = numbers, [name_of(n) for n in numbers]
                            names = stream_names
                        splay, taken = run(streams, splay, active, want, self._position, check_events,
                                           numbers, names, out, RUN_LIMIT)
                        if taken:
                            want += taken
                            last_tid[active] = want - 1
                            yield _Run(taken, out)
                            continue
                    stream.index = index + 1
                    want = head.entry_tid + 1
                    yield stream.number, head
                    splay = splay + 1 if splay + 1 < width else 0
                    continue
            frame = stream.peek()
            if frame is None:
                if all(s.peek() is None for s in streams):
                    return
                # no more in-sequence entries of the active tag at this position
                if active is None or stalled > width:
                    return
                stalled += 1
                prune_tag(active)
                splay = 0
                continue
            if frame.problems is not None:
                self._emit(frame.problems)  # the replay has reached the damage before this frame
            tag = frame.tag_tid
            if active is None:
                active = tag
            elif tag < active or (prune is not None and tag <= prune):
                stream.pop()  # stale entry of an older tag
                continue
            elif tag > active:
                if frame.entry_tid == 0:
                    old = active
                    active = tag
                    want = last_tid[tag] + 1 if tag in last_tid else None
                    prune_tag(old)
                    splay = 0
                    stalled = 0
                    continue
                lost_start = self._lost_tag_start(streams)
                if lost_start is not None:
                    # the new tag's entry 0 was lost (the damage is at a stream head): go on into it
                    lost_start.follow_on.append(f"tag {tag} starts without its entry tid 0")
                    old = active
                    active = tag
                    want = 0
                    prune_tag(old)
                    splay = 0
                    stalled = 0
                    continue
                if stalled > width:
                    detail = f"replay cannot continue into tag {tag}: its entry at the playback position has tid {frame.entry_tid}, not 0"
                    where = self.journal.object_name(stream.number)
                    moved = self._moved_entry(tag, -1, frame.entry_tid)
                    if moved is not None:  # entry 0 is there, out of its place: that reorder is the fault
                        moved.follow_on.append(f"tag_not_started_at_zero: {detail} ({where} at byte {frame.offset}, "
                                               f"tag {tag}, entry tid {frame.entry_tid})")
                        self._stuck = moved
                    else:
                        self._stuck = Problem("tag_not_started_at_zero", detail, where, frame.offset, tag, frame.entry_tid)
                        self.problems.append(self._stuck)
                    return
                stalled += 1
                prune_tag(active)
                splay = 0
                continue
            elif want is not None and frame.entry_tid != want:
                # where Ceph stops (missing prior journal entry), go on from the stream that holds the
                # next entry, else from the lowest entry left: a lost entry costs one gap, not a
                # reordered remainder of the tag
                better = self._heal(streams, active, want)
                if better != splay:
                    splay = better
                    stream = streams[splay]
                    frame = stream.peek()
                    assert frame is not None
                    if frame.problems is not None:
                        self._emit(frame.problems)
            stalled = 0
            stream.pop()
            if want is None or frame.entry_tid >= want:
                want = frame.entry_tid + 1
            yield stream.number, frame
            splay = (splay + 1) % width

    def _lost_tag_start(self, streams: list[_OffsetStream]) -> Problem | None:
        """A loss right before some stream's next frame, or the fault just reported, that may be a tag's entry 0."""
        for stream in streams:
            head = stream.peek()
            attached = head.problems if head is not None else None
            for problem in attached or ():
                if problem.kind in _LOSS_KINDS:
                    self._emit(attached or [])
                    return problem
        open_ = self._open
        if open_ is not None and open_.kind in _LOSS_KINDS and self._position <= self._open_until:
            return open_
        return None

    @staticmethod
    def _heal(streams: list[_OffsetStream], tag: int, want: int) -> int:
        """The stream whose next frame is (``tag``, ``want``), else the one with the lowest entry tid of ``tag``."""
        best, best_tid = -1, -1
        for k, stream in enumerate(streams):
            head = stream.peek()
            if head is None or head.tag_tid != tag:
                continue
            if head.entry_tid == want:
                return k
            if best < 0 or head.entry_tid < best_tid:
                best, best_tid = k, head.entry_tid
        return best

    def _skip_committed(self, stream: _OffsetStream, pos: Position) -> None:
        """Pop entries of the commit position's object up to and including the committed one.

        As the player does when the committed entry is there; when it is not (the scan found it
        damaged), the entries before it in (tag, entry tid) order are the committed ones.
        """
        committed = (pos.tag_tid, pos.entry_tid)
        while (frame := stream.peek()) is not None and stream.number == pos.object_number:
            if (frame.tag_tid, frame.entry_tid) > committed:
                return
            self._reserve(frame.tag_tid, frame.entry_tid)
            stream.pop()

    # -- physical order -----------------------------------------------------------
    def _physical(self) -> Iterator[_Located]:
        width = self.journal.splay_width
        sets: dict[int, list[int]] = {}
        for number in self._existing:
            sets.setdefault(number // width, []).append(number)
        ordered = sorted(sets)
        # mapped objects: the kernel is told of one set ahead (a hint for all of a large journal would have it
        # read the whole journal into its cache at once); a read-ahead of reads takes them all, depth-bounded
        self._read_ahead(sets[ordered[0]] if self._maps and ordered else [n for s in ordered for n in sets[s]])
        for i, object_set in enumerate(ordered):
            if self._maps and i + 1 < len(ordered):
                self._read_ahead(sets[ordered[i + 1]])
            # each set's frames merged by (tag tid, entry tid); a problem goes where its lost entry would be
            # (its own tids, when they fit between its neighbours), else right after the frame before it
            runs: list[tuple[tuple[int, int, int, int, int], int, Frame | Problem]] = []
            for n in sets[object_set]:
                prev = (-1, -1)
                for f in self._frames(n):
                    here = (f.tag_tid, f.entry_tid)
                    for problem in f.problems or ():
                        runs.append((self._problem_key(problem, n, prev, f), n, problem))
                    runs.append(((*here, n, f.offset, 1), n, f))
                    prev = here
                for problem in self._tails.pop(n, ()):
                    runs.append((self._problem_key(problem, n, prev, None), n, problem))
            runs.sort(key=lambda r: r[0])
            for _, number, item in runs:
                if isinstance(item, Problem):
                    self._emit([item])
                else:
                    yield number, item
            del runs
            for n in sets[object_set]:  # the set is yielded: its mappings go with its frames
                self._held_maps.pop(n, None)

    def _problem_key(self, problem: Problem, number: int, prev: tuple[int, int],
                     following: Frame | None) -> tuple[int, int, int, int, int]:
        offset = problem.offset or 0
        if following is not None and offset == following.offset:  # about the frame itself
            return following.tag_tid, following.entry_tid, number, offset, 0
        if problem.kind in _LOSS_KINDS and problem.tag_tid is not None and problem.entry_tid is not None:
            own = (problem.tag_tid, problem.entry_tid)
            if following is not None:
                fits = prev < own < (following.tag_tid, following.entry_tid)
            else:  # after the object's last frame: only a tid just after it is believable
                fits = own[0] == prev[0] and prev[1] < own[1] <= prev[1] + self.journal.splay_width
            if fits:
                return *own, number, offset, 0
        return *prev, number, offset, 0

    # -- checks -------------------------------------------------------------------
    def _reserve(self, tag: int, entry: int) -> None:
        last = self._last_tid.get(tag)
        if last is None or entry > last:
            self._last_tid[tag] = entry

    def _check_entry(self, name: str, frame: Frame) -> None:
        tag, tid = frame.tag_tid, frame.entry_tid
        last = self._last_tid.get(tag)
        if last is None or tid == last + 1:
            self._last_tid[tag] = tid
        else:
            kind = "tid_gap" if tid > last + 1 else "tid_reorder"
            detail = (f"entry tid {tid} follows entry tid {last} of the same tag"
                      + (f" ({tid - last - 1} missing)" if tid > last + 1 else ""))
            effect = f"{kind}: {detail} ({name} at byte {frame.offset}, tag {tag}, entry tid {tid})"
            moved = self._moved_entry(tag, last, tid) if tid > last + 1 else None
            if moved is not None:  # the entries are there, out of their place: the reorder found there explains the gap
                moved.follow_on.append(effect)
                self._gaps.append((tag, last + 1, tid - 1, moved))
            elif not self._follow_on(effect):
                self._emit([Problem(kind, detail, name, frame.offset, tag, tid,
                                    affected_entries=tid - last - 1 if tid > last + 1 else 1)])
            if moved is None and tid > last + 1 and self._open is not None:
                self._gaps.append((tag, last + 1, tid - 1, self._open))
            self._reserve(tag, tid)
        if tag not in self._tags and tag not in self._reported_tags:
            next_tag = self.journal.header.next_tag_tid
            if (next_tag is not None and tag >= next_tag) or self._min_committed_tag is None or tag >= self._min_committed_tag:
                self._reported_tags.add(tag)
                self.problems.append(Problem("missing_tag", f"tag {tag} has no tag_ record in the header", name,
                                             frame.offset, tag, tid))
        if self._event_decoder is not None and frame.payload is not None:  # None: checked as it was read
            try:
                self._event_decoder(frame.payload)
            except Exception as exc:  # noqa: BLE001 - any decode failure is a finding
                self.problems.append(Problem("undecodable_event", str(exc), name, frame.offset, tag, tid))

    def _moved_entry(self, tag: int, last: int, tid: int) -> Problem | None:
        """The fault, found in an object but not reported yet (the walk has not reached it), behind the
        entries of ``tag`` between ``last`` and ``tid`` the replay misses here: a reorder that moved one
        of them, else damage that lost frames in an object at the splay offset of every missing tid (a
        damaged frame's tids cannot be trusted, so the offset is what ties the two)."""
        for problem in self._reorders:
            if problem.tag_tid == tag and problem.entry_tid is not None and last < problem.entry_tid < tid \
                    and id(problem) not in self._emitted:
                return problem
        width = self.journal.splay_width
        offset = _splay_offset_of(last + 1, tid - 1, width)
        if offset is None:
            return None
        for number in sorted(self._lost):
            if number % width == offset:
                for problem in self._lost[number]:
                    if id(problem) not in self._emitted:  # attached: a loss is either attached or reported at once
                        return problem
        return None

    def _finish(self) -> None:
        journal = self.journal
        width = journal.splay_width
        name_of = journal.object_name
        for stray in self._objects.strays:
            self.problems.append(Problem("unexpected_object", "name has the journal's data prefix but no object number",
                                         stray, severity=WARNING))
        lo, hi = journal.minimum_set, journal.active_set
        existing = {n for n in self._existing if n not in self._absent}
        if not self._objects.listed:  # candidates the walk did not read (before a commit position) may not exist
            existing = {n for n in existing if n in self._read or journal.data_pool.exists(name_of(n))}
        for number in sorted(existing):
            object_set = number // width
            if object_set < lo:
                self.problems.append(Problem("object_outside_sets", f"object set {object_set} is below minimum_set {lo} (untrimmed)",
                                             name_of(number), severity=WARNING))
            elif object_set > hi:
                self.problems.append(Problem("object_outside_sets", f"object set {object_set} is above active_set {hi}",
                                             name_of(number)))
        if hi - lo <= 100_000:
            for object_set in range(lo, hi):
                present = [object_set * width + k in existing for k in range(width)]
                if any(present) and not all(present):
                    for k in range(width):
                        if not present[k]:
                            self.problems.append(Problem("missing_object", f"object set {object_set} is closed but this object is missing",
                                                         name_of(object_set * width + k), severity=WARNING))
        for client in journal.header.clients:  # every committed object read first: ``newest`` is then complete
            for pos in client.commit_position:
                if lo <= pos.object_number // width <= hi and pos.object_number not in self._scanned:
                    self._frames(pos.object_number, attach=False)
        for client in journal.header.clients:
            ahead: Problem | None = None
            if client.commit_position and self.newest is not None:
                front = client.commit_position[0]
                if (front.tag_tid, front.entry_tid) > self.newest:
                    lost = self._loss_of(front) or self._missing_object_fault(front)
                    if lost is not None:
                        lost.follow_on.append(f"client {client.id!r} committed tag {front.tag_tid} entry "
                                              f"{front.entry_tid}, past the newest entry left")
                    else:
                        ahead = Problem(
                            "client_ahead",
                            f"client {client.id!r} committed tag {front.tag_tid} entry {front.entry_tid}, past the newest "
                            f"entry (tag {self.newest[0]}, entry {self.newest[1]})",
                            name_of(front.object_number), None, front.tag_tid, front.entry_tid)
                        self.problems.append(ahead)
            for pos in client.commit_position:
                self._check_position(client.id, pos, client.state == CLIENT_STATE_DISCONNECTED, ahead)

    def _check_position(self, client_id: str, pos: Position, disconnected: bool = False,
                        ahead: Problem | None = None) -> None:
        """A commit position must name an entry present in its object.

        A disconnected client's position may lag behind the trimmed sets (neither the trimmer nor
        a replay counts it: rbd-mirror resyncs such a peer), so there it is a warning.  A position
        naming an entry the scan found damaged is an effect of that damage, not a fault of its own.
        """
        journal = self.journal
        width = journal.splay_width
        name = journal.object_name(pos.object_number)
        object_set = pos.object_number // width
        severity = WARNING if disconnected else ERROR
        who = f"{'disconnected ' if disconnected else ''}client {client_id!r}"
        if not journal.minimum_set <= object_set <= journal.active_set:
            self.problems.append(Problem(
                "dangling_commit_position",
                f"{who} commit position is in object set {object_set}, outside [{journal.minimum_set}, {journal.active_set}]",
                name, None, pos.tag_tid, pos.entry_tid, severity))
            return
        if pos.object_number not in self._scanned:
            self._frames(pos.object_number, attach=False)
        if (pos.tag_tid, pos.entry_tid) not in self._scanned.get(pos.object_number, set()):
            lost = self._loss_of(pos)
            if lost is not None:
                lost.follow_on.append(f"{who} commit position names this entry")
                return
            cause = ahead if ahead is not None and self.newest is not None and \
                (pos.tag_tid, pos.entry_tid) > self.newest else \
                self._gap_of(pos.tag_tid, pos.entry_tid) or self._missing_object_fault(pos)
            if cause is not None:  # the entry is one the walk found missing
                cause.follow_on.append(f"{who} commit position names missing entry tid {pos.entry_tid} of tag {pos.tag_tid} "
                                       f"({name})")
                return
            self.problems.append(Problem(
                "dangling_commit_position",
                f"{who} commit position names an entry that is not in its object",
                name, None, pos.tag_tid, pos.entry_tid, severity))

    def _gap_of(self, tag: int, tid: int) -> Problem | None:
        """The fault whose gap in tag ``tag`` holds entry ``tid``, if the walk found one."""
        for gap_tag, first, last, problem in self._gaps:
            if gap_tag == tag and first <= tid <= last:
                return problem
        return None

    def _missing_object_fault(self, pos: Position) -> Problem | None:
        """When ``pos`` names an entry of an object that is missing: the gap its lost entries left in that tag.

        An object that is there but ends before its entries (emptied, or cut at a frame boundary:
        nothing in it looks damaged) lost them as a missing one does; its lost entries left gaps
        whose tids are all at its splay offset (in ``pos``'s tag first), or left a tag unable to
        start, and ``pos`` is an effect of the fault behind those.
        """
        if pos.object_number not in self._absent:
            width = self.journal.splay_width
            offset = pos.object_number % width
            own = [(tag != pos.tag_tid, problem) for tag, first, last, problem in self._gaps
                   if _splay_offset_of(first, last, width) == offset]
            return min(own, key=lambda item: item[0])[1] if own else self._stuck
        same_tag = [problem for tag, _first, _last, problem in self._gaps if tag == pos.tag_tid]
        if same_tag:
            return same_tag[-1]
        # else what the object's loss did to the replay: a gap in another tag, or a tag that cannot start
        return self._gaps[-1][3] if self._gaps else self._stuck

    def _loss_of(self, pos: Position) -> Problem | None:
        """The problem of the lost entry ``pos`` names: by its tids, else the one loss of its object."""
        losses = self._lost.get(pos.object_number, [])
        exact = [p for p in losses if (p.tag_tid, p.entry_tid) == (pos.tag_tid, pos.entry_tid)]
        if exact:
            return exact[0]
        return losses[0] if len(losses) == 1 else None

    def _minimum_committed_tag(self) -> int | None:
        tags = []
        for client in self.journal.header.clients:
            if client.state != 0:
                continue
            if not client.commit_position:
                return None
            tags.append(min(p.tag_tid for p in client.commit_position))
        return min(tags) if tags else None

    @staticmethod
    def _load_event_decoder() -> Callable[[bytes | memoryview], object] | None:
        """A payload check: the compiled fast path for common events, else the full EventEntry decoder
        (imported on the first payload that needs it: construct and the declarations cost start-up time)."""
        try:
            from ..format.event_fastpath import fast_event_type
        except Exception:  # noqa: BLE001 - event layer not available
            return None
        full: list[Callable[[bytes | memoryview], object]] = []

        def check(payload: bytes | memoryview) -> object:
            found = fast_event_type(payload)
            if found is not None:
                return found
            if not full:
                from ..format import lookup

                full.append(lookup("librbd::journal::EventEntry").decode)
            return full[0](payload)

        return check


class _OffsetStream:
    """The frames of one splay offset's objects, read one object at a time as the replay reaches them.

    ``frames[index]`` is the next frame when ``index < len(frames)`` (the replay loop reads it so);
    otherwise :meth:`peek` moves on.  An object's frames are kept in segments of
    :data:`SEGMENT` frames, and a segment is dropped once replayed, so the chunks its payloads
    view are freed while the rest of the object waits: the splay offsets run dry one after the
    other, and together they hold about one object's bytes, not one object each.
    """

    __slots__ = ("_load", "_segments", "frames", "index", "number", "numbers", "on_done", "on_load", "on_segment",
                 "pending")

    def __init__(self, load: Callable[[int], Sequence[Frame]], numbers: list[int]) -> None:
        self._load = load
        self.numbers = numbers  # the objects of this offset, in order
        self.pending = deque(numbers)  # the objects not read yet
        self.on_load: Callable[[_OffsetStream], None] | None = None  # called after each object is read
        self.on_done: Callable[[int], None] | None = None  # called with an object's number once past its frames
        # called with (object number, offset of the next segment's first frame) once past a segment
        self.on_segment: Callable[[int, int], None] | None = None
        self.frames: Sequence[Frame] = []  # the current segment
        self._segments: deque[Sequence[Frame]] = deque()  # the segments after it
        self.index = 0
        self.number = -1  # object number of the frame peek() returns

    @property
    def remaining(self) -> int:
        """Frames of the current object not replayed yet."""
        return len(self.frames) - self.index + sum(map(len, self._segments))

    def peek(self) -> Frame | None:
        index = self.index
        if index < len(self.frames):
            return self.frames[index]
        self.frames = []  # drop the finished segment before reading on
        self.index = 0
        while self._segments:
            self.frames = self._segments.popleft()
            if self.frames:
                first = self.frames[0]
                if self.on_segment is not None:
                    self.on_segment(self.number, first.offset)
                return first
        while self.pending or self.number >= 0:
            if self.number >= 0 and self.on_done is not None:
                self.on_done(self.number)
            if not self.pending:
                self.number = -2  # past the last object (-1: before the first)
                break
            self.number = self.pending.popleft()
            frames = self._load(self.number)
            self._segments = deque(frames[i : i + SEGMENT] for i in range(SEGMENT, len(frames), SEGMENT))
            self.frames = frames[:SEGMENT]
            del frames
            if self.on_load is not None:
                self.on_load(self)
            if self.frames:
                return self.frames[0]
        return None

    def pop(self) -> None:
        if self.peek() is not None:
            self.index += 1


#: frames per segment of :class:`_OffsetStream` (about 4 MiB of payload with 4 KiB writes)
SEGMENT = 1024
