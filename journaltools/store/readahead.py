"""Read-ahead of object chunks, on a background thread, in the order the reader schedules.

A journal walk reads its data objects chunk by chunk at fixed offsets (see
:func:`journaltools.journal.scan.scan_chunked`), and knows which object each splay
offset needs next.  It :meth:`~ReadAhead.schedule`\\ s those objects; while the walk
checks what it has, :class:`ReadAhead` already reads the next chunks.  The store's
read (librados, or a file read) releases the GIL, so I/O and checking overlap, as
librbd's journal player prefetches while it replays.

Memory is bounded: at most ``depth`` chunks wait in the queue (and one more is in
the reader thread's hands).  The schedule is only a guess: a read that is not the
next scheduled chunk (another order, a whole-object read of a damaged object) goes
to the store directly, and chunks the consumer has gone past are dropped, so a
wrong guess costs reads, never correctness.  Errors are delivered with the chunk
they belong to, raised where the read was asked for.

Two engines, one behaviour: :class:`ReadAhead` reads one chunk at a time on a
thread (any store: a directory store's file reads release the GIL too);
:class:`AioReadAhead`, for stores that start reads asynchronously (librados aio:
:meth:`~journaltools.store.rados.RadosPool.submit_read`), keeps up to ``depth``
chunk reads in flight across the scheduled objects, as librbd's journal player
fetches every splay object at once; it learns each object's size from a stat
started when the object is scheduled, so it issues no read past an object's end.
:func:`open_read_ahead` picks one; ``$JOURNALTOOLS_READ_AHEAD=thread`` forces the
thread (the path before the aio engine), ``off`` reads straight from the store.
A caller may also take no thread for a store without async reads (the walk does when
its heap has transparent huge pages: a reader thread's chunks come from its own malloc
arena, which has none) and read each object through :class:`ObjectChunks`.
A store that keeps each object in a file of its own (the directory store) is not read at
all by default: the walk scans each object in its mapped file (:func:`maps_objects`) and
only tells the store what comes next (``prefetch``: the kernel reads ahead).
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from .base import Pool

_DONE = object()
_OBJECT_END = sys.maxsize  # the offset of the marker that follows an object's last chunk

_Item = tuple[int, int, "bytes | BaseException | None"]  # (schedule index, offset, data)


def _chunked_reads(pool: Pool) -> Callable[[str, int], Iterator[bytes]]:
    """The pool's own ``read_chunks`` (a directory store's: one open per object), else
    :meth:`Pool.read_chunks`'s read() per chunk (for a pool that has only ``read``)."""
    own = getattr(pool, "read_chunks", None)
    return own if own is not None else functools.partial(Pool.read_chunks, pool)


class ReadAhead:
    """Chunks ``(name, k * chunk_size, chunk_size)`` of the scheduled objects, read ahead in order."""

    def __init__(self, pool: Pool, chunk_size: int, depth: int = 8) -> None:
        self._pool = pool
        self._chunk = chunk_size
        self._read_chunks = _chunked_reads(pool)
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
        self._head: _Item | None = None
        self._passed = (-1, -1)  # the last (index, offset) taken from or dropped off the queue
        self._finished = False
        self._stop = False
        self._scheduled = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="journaltools-readahead", daemon=True)
        self._thread.start()

    def schedule(self, names: Iterable[str]) -> None:
        """Read these objects after the ones scheduled before (an object is read once)."""
        with self._scheduled:
            for name in names:
                if name not in self._index:
                    self._index[name] = len(self._names)
                    self._names.append(name)
            self._scheduled.notify()

    # -- the reader thread ----------------------------------------------------------
    def _put(self, item: object) -> bool:
        while not self._stop:
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _next_name(self, index: int) -> str | None:
        with self._scheduled:
            while index >= len(self._names) and not self._stop:
                self._scheduled.wait()
            return None if self._stop else self._names[index]

    def _run(self) -> None:
        chunk = self._chunk
        index = 0
        try:
            while (name := self._next_name(index)) is not None:
                offset = 0
                chunks = self._read_chunks(name, chunk)
                while True:
                    try:
                        data: bytes | BaseException = next(chunks)
                    except StopIteration:
                        break
                    except Exception as exc:  # noqa: BLE001 - delivered to the consumer with the chunk
                        data = exc
                    if not self._put((index, offset, data)):
                        return  # (the pool's chunk generator is closed as it goes, its file with it)
                    if isinstance(data, BaseException):
                        break
                    offset += chunk
                if not self._put((index, _OBJECT_END, None)):
                    return
                index += 1
        finally:
            self._put(_DONE)

    # -- the consumer ----------------------------------------------------------------
    def _peek(self) -> _Item | None:
        if self._head is None and not self._finished:
            item = self._queue.get()
            if item is _DONE:
                self._finished = True
            else:
                self._head = item  # type: ignore[assignment]
        return self._head

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """What ``pool.read(name, offset, length)`` returns, from the read-ahead when it has it."""
        index = self._index.get(name)
        if index is not None and length == self._chunk and (index, offset) > self._passed:
            wanted = (index, offset)
            # everything the reader thread produces comes in increasing order and ends each object with
            # a marker, so this loop stops at the wanted chunk or at the first item past it
            while (head := self._peek()) is not None and head[:2] <= wanted:
                self._head = None
                self._passed = head[:2]
                if head[:2] == wanted:
                    if isinstance(head[2], BaseException):
                        raise head[2]
                    assert head[2] is not None
                    return head[2]
        return self._pool.read(name, offset, length)

    def close(self) -> None:
        """Stop the reader thread and drop what it read."""
        with self._scheduled:
            self._stop = True
            self._scheduled.notify()
        self._head = None
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Pending(Protocol):
    def result(self) -> bytes: ...

    def finished(self) -> bool: ...


class _PendingSize(Protocol):
    def size(self) -> int | None: ...

    def finished(self) -> bool: ...


class AsyncPool(Protocol):
    """What :class:`AioReadAhead` needs of a pool (:class:`~journaltools.store.rados.RadosPool` has it)."""

    def submit_read(self, oid: str, offset: int, length: int) -> _Pending: ...

    def submit_stat(self, oid: str) -> _PendingSize: ...

    def read(self, oid: str, offset: int = 0, length: int | None = None) -> bytes: ...


#: chunk reads in flight at a time of :class:`AioReadAhead` (with 1 MiB chunks: 8 MiB on their way)
AIO_DEPTH = 8


class AioReadAhead:
    """:class:`ReadAhead`'s contract with up to ``depth`` chunk reads in flight and no thread of its own.

    Reads are issued in schedule order, object by object, chunk by chunk (offsets 0, ``chunk_size``,
    ... up to the object's size as its stat said: the last one is short, as the thread engine stops).
    When the consumer asks for the chunk at the front, it waits for that read only, and the freed
    slot goes to the next chunk; chunks it has gone past are dropped when they come back.  A chunk
    the plan has not reached moves the plan there.  An object whose stat failed gets one read at
    offset 0: its error (the store's own, e.g. the object does not exist) is raised where that chunk
    is asked for; an object that grew after its stat is read on from the store directly.
    """

    def __init__(self, pool: AsyncPool, chunk_size: int, depth: int = AIO_DEPTH) -> None:
        self._pool = pool
        self._chunk = chunk_size
        self._depth = max(depth, 1)
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._sizes: dict[int, _PendingSize] = {}  # schedule index -> its stat, until its reads are issued
        self._flight: deque[tuple[int, int, _Pending]] = deque()  # (schedule index, offset, read) in issue order
        self._plan = (0, 0)  # the next chunk to issue
        self._passed = (-1, -1)
        self._dropped: list[_Pending] = []  # reads gone past and maybe still in flight: close() waits for them

    @property
    def in_flight(self) -> int:
        """Chunk reads issued and not yet taken or back: at most ``depth`` (``depth`` + 1 while reads the
        consumer went past are still on their way)."""
        return len(self._flight) + len(self._dropped)

    def schedule(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self._index:
                index = self._index[name] = len(self._names)
                self._names.append(name)
                self._sizes[index] = self._pool.submit_stat(name)
        self._fill()

    def _fill(self) -> None:
        index, offset = self._plan
        flight, chunk = self._flight, self._chunk
        room = self._depth
        if self._dropped:  # reads gone past still take their memory until they are back
            self._dropped = [p for p in self._dropped if not p.finished()]
            room = max(room - len(self._dropped), 1)
        while len(flight) < room and index < len(self._names):
            if offset:
                stat = self._sizes[index]
                if flight and not stat.finished():
                    break  # go on once the object's size is known (reads in flight meanwhile)
                size = stat.size()
                if size is None or offset > size:
                    del self._sizes[index]
                    index, offset = index + 1, 0
                    continue
            flight.append((index, offset, self._pool.submit_read(self._names[index], offset, chunk)))
            offset += chunk
        self._plan = (index, offset)

    def read(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """What ``pool.read(name, offset, length)`` returns, from the reads in flight when it is one of them."""
        index = self._index.get(name)
        if index is not None and length == self._chunk and offset % length == 0 and (index, offset) > self._passed:
            wanted = (index, offset)
            flight = self._flight
            if flight and flight[0][:2] < wanted:
                while flight and flight[0][:2] < wanted:
                    self._dropped.append(flight.popleft()[2])  # gone past: nobody waits for it
            if not flight and self._plan < wanted:
                for earlier in [k for k in self._sizes if k < index]:
                    self._sizes.pop(earlier).size()  # not needed any more; waited for, as close() does
                self._plan = wanted  # the consumer skipped ahead: the plan follows
                self._fill()
            self._passed = wanted
            if flight and flight[0][:2] == wanted:
                pending = flight.popleft()[2]
                self._fill()
                return pending.result()
        return self._pool.read(name, offset, length)

    def close(self) -> None:
        """Wait for the reads and stats still in flight (at most ``depth`` + the scheduled objects) and
        drop them: none outlives the read-ahead (nor the pool's connection, closed after it)."""
        for pending in [*self._dropped, *(item[2] for item in self._flight)]:
            with contextlib.suppress(Exception):  # nobody asked for this chunk: its error is nobody's
                pending.result()
        self._dropped.clear()
        self._flight.clear()
        for stat in self._sizes.values():
            stat.size()
        self._sizes.clear()
        self._names = []
        self._index = {}

    def __enter__(self) -> AioReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectChunks:
    """``pool.read(name, offset, length)`` for one object read in the caller's own thread (no read-ahead):
    the chunks at offsets 0, ``chunk_size``, ... come from the pool's :meth:`~journaltools.store.base.Pool.read_chunks`
    (a directory store opens the file once, not per chunk); any other read goes to the store."""

    __slots__ = ("_chunk", "_chunks", "_name", "_next", "_pool")

    def __init__(self, pool: Pool, name: str, chunk_size: int) -> None:
        self._pool = pool
        self._name = name
        self._chunk = chunk_size
        self._chunks: Iterator[bytes] | None = None
        self._next = 0  # the offset of the chunk read_chunks gives next

    def read(self, offset: int, length: int | None = None) -> bytes:
        if length == self._chunk and offset == self._next and self._next >= 0:
            if self._chunks is None:
                self._chunks = _chunked_reads(self._pool)(self._name, self._chunk)
            data = next(self._chunks, None)
            if data is not None:
                self._next = offset + self._chunk if len(data) == self._chunk else -1
                return data
            self._next = -1
        return self._pool.read(self._name, offset, length)


def read_ahead_mode() -> str:
    """``$JOURNALTOOLS_READ_AHEAD``: ``aio`` (default; the thread for stores without async reads), ``thread``, ``off``."""
    mode = os.environ.get("JOURNALTOOLS_READ_AHEAD", "aio").strip().lower()
    return mode if mode in ("aio", "thread", "off") else "aio"


def maps_objects(pool: Pool) -> bool:
    """Whether a walk should scan ``pool``'s objects where they lie (:meth:`~journaltools.store.base.Pool.map_object`)
    instead of reading them: the pool maps them (a directory store), ``$JOURNALTOOLS_READ_AHEAD`` is ``aio``
    (the default; ``thread`` and ``off`` keep reads), and ``$JOURNALTOOLS_MAP_OBJECTS`` is not ``off``.
    A mapped scan copies nothing and touches no fresh memory: a 200 MiB directory walk took 0.080-0.144 s
    (median 0.089) read in chunks and 0.049-0.066 s (median 0.052) mapped (``python -m benchmarks.measure
    walk``, 7 interleaved rounds of fresh processes)."""
    own = getattr(type(pool), "map_object", None)  # a pool-like object need not derive from Pool
    if own is None or own is Pool.map_object or read_ahead_mode() != "aio":
        return False
    return os.environ.get("JOURNALTOOLS_MAP_OBJECTS", "").strip().lower() != "off"


def open_read_ahead(pool: Pool, chunk_size: int, thread: bool = True) -> ReadAhead | AioReadAhead | None:
    """The read-ahead for walking ``pool``'s objects in ``chunk_size`` reads (None: ``$JOURNALTOOLS_READ_AHEAD=off``,
    or ``thread`` False and the pool has no async reads: the caller reads in its own thread; forced with
    ``$JOURNALTOOLS_READ_AHEAD=thread``)."""
    mode = read_ahead_mode()
    if mode == "off":
        return None
    if mode == "aio" and hasattr(pool, "submit_read") and hasattr(pool, "submit_stat"):
        return AioReadAhead(pool, chunk_size, AIO_DEPTH)  # type: ignore[arg-type]
    if mode == "aio" and not thread:
        return None
    return ReadAhead(pool, chunk_size)
