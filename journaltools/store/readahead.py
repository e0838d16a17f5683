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
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterable

from .base import Pool

_DONE = object()
_OBJECT_END = sys.maxsize  # the offset of the marker that follows an object's last chunk

_Item = tuple[int, int, "bytes | BaseException | None"]  # (schedule index, offset, data)


class ReadAhead:
    """Chunks ``(name, k * chunk_size, chunk_size)`` of the scheduled objects, read ahead in order."""

    def __init__(self, pool: Pool, chunk_size: int, depth: int = 8) -> None:
        self._pool = pool
        self._chunk = chunk_size
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
                while True:
                    try:
                        data: bytes | BaseException = self._pool.read(name, offset, chunk)
                    except Exception as exc:  # noqa: BLE001 - delivered to the consumer with the chunk
                        data = exc
                    if not self._put((index, offset, data)):
                        return
                    if isinstance(data, BaseException) or len(data) < chunk:
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
