"""Entry framing inside one journal data object: the hot path of every read.

Follows src/journal/ObjectPlayer.cc (``handle_fetch_complete``) and
src/journal/Entry.cc (``is_readable``): entries are back to back; zero padding up
to the next 8-byte boundary is skipped; a frame that runs past the end of the
object is a partial (truncated) entry.  Where Ceph stops at corrupt bytes, this
scanner reports the problem with its byte offset and resynchronises on the next
preamble whose frame checks out, so one bad entry does not hide the rest.  A
length field is never trusted on its own: an entry whose length runs past the
object, or past the journal's maximum entry size (the object size), is a
``bad_length`` when intact frames follow it; it is a ``truncated_entry`` (a torn
tail) only when none does.

One scanner, :func:`scan_stream`, reads an object through ``read_at`` in chunks
at fixed offsets (0, ``chunk_size``, 2 * ``chunk_size``, ...: what the read-ahead
fetches) and keeps a window of at most one chunk plus one maximum-size entry, so
memory stays flat whatever the object holds: a sparse object's hole of zeros is
skipped by a search for the next non-zero byte, chunk by chunk.  Frames are parsed
with :data:`~journaltools.format.journal_entry.FRAME_HEAD` over a memoryview and
checked with the hardware crc32c; runs of well-formed frames (all of a healthy
object) go through :func:`_ok_run`, one tight loop without per-frame
classification.  :func:`scan_object` scans bytes already in memory;
:func:`scan_chunked` is the walk's entry point.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from typing import TYPE_CHECKING, TypeAlias

from ..format.crc import STD_SEED, ceph_crc32c, std_crc32c
from ..format.journal_entry import FRAME_HEAD, HEAD_SIZE, OVERHEAD, PREAMBLE, PREAMBLE_BYTES, VERSION
from ..records import Record
from .problems import Problem

if TYPE_CHECKING:
    import mmap

_unpack_head = FRAME_HEAD.unpack_from
_NON_ZERO = re.compile(rb"[^\x00]")

#: bytes per read of :func:`scan_chunked`: 1 MiB reads are as fast as larger ones here (with the read-ahead),
#: and librados and the allocator keep far less memory (peak RSS of a 1 GiB live inspect: 124 MB, 150+ MB with 4 MiB)
READ_CHUNK = 1 << 20

#: the largest entry frame a scanner accepts when the journal's is not given: 2^26, the largest object size
#: Journaler::create allows (an entry never exceeds the object size: Journaler's maximum append size)
MAX_ENTRY = 1 << 26

#: ``read(offset, length)`` of one object: ``length`` None reads to the end; short only at the end
ReadAt = Callable[[int, "int | None"], bytes]
#: a whole object in one buffer: ``bytes``, or a store's mapping of its file (:meth:`~journaltools.store.base.Pool.map_object`)
Whole: TypeAlias = "bytes | mmap.mmap"


class Frame(Record):
    """One well-formed entry frame found in an object (journaltools/_native.c fills its slots directly)."""

    __slots__ = ("entry_tid", "offset", "payload", "problems", "size", "tag_tid")
    __match_args__ = ("offset", "size", "tag_tid", "entry_tid", "payload", "problems")
    _fields = __match_args__
    offset: int
    size: int
    tag_tid: int
    entry_tid: int
    #: a view into the chunk that was read (no copy per entry); None in a walk that only counts, for a frame
    #: whose payload was found, as it was read, to be an IO event in librbd's shape (the chunk is let go)
    payload: bytes | memoryview | None
    problems: list[Problem] | None  # set by the walk: findings that precede this frame in its object

    def __init__(self, offset: int, size: int, tag_tid: int, entry_tid: int, payload: bytes | memoryview | None,
                 problems: list[Problem] | None = None) -> None:
        self.offset = offset
        self.size = size
        self.tag_tid = tag_tid
        self.entry_tid = entry_tid
        self.payload = payload
        self.problems = problems


def _ok_run_python(buf: memoryview, off: int, end: int, base: int, frames: MutableSequence[Frame]) -> int:
    """Append the well-formed frames from ``off`` on (offsets shifted by ``base``); return where they stop.

    The crc is checked over the frame *with* its stored crc: Ceph's crc32c (no final inversion) of
    bytes followed by their own crc is 0, so one call checks it (``ceph_crc32c(x) == 0`` written with
    the standard crc32c, which inverts before and after).
    """
    append = frames.append
    unpack_head, crc32c, seed, new_frame = _unpack_head, std_crc32c, STD_SEED, Frame
    head_size, overhead, preamble_ok, version_ok = HEAD_SIZE, OVERHEAD, PREAMBLE, VERSION
    limit = end - head_size
    while off <= limit:
        preamble, version, entry_tid, tag_tid, length = unpack_head(buf, off)
        crc_at = off + head_size + length
        after = crc_at + 4
        if preamble != preamble_ok or version != version_ok or after > end or crc32c(buf[off:after], seed) != seed:
            break
        append(new_frame(base + off, length + overhead, tag_tid, entry_tid, buf[off + head_size : crc_at]))
        off = after
    return off


def _native_ok_run() -> Callable[[memoryview, int, int, int, MutableSequence[Frame]], int] | None:
    """The C version of :func:`_ok_run_python` (journaltools/_native.c), unless :func:`~journaltools.native.core` says no."""
    from ..native import core

    native = core()
    if native is None:
        return None
    native.set_frame_type(Frame)
    return native.ok_run  # type: ignore[no-any-return]


#: the native loop or the pure-Python reference: the same frames, offsets and stops
_ok_run = _native_ok_run() or _ok_run_python
NATIVE = _ok_run is not _ok_run_python


def _native_runs() -> Callable[[], MutableSequence[Frame]] | None:
    """The native core's ``Frames``: a run of frames kept as offsets into the chunks (no object per frame;
    a :class:`Frame` is made when Python asks for one, and kept), what ``ok_run`` fills compactly."""
    from ..native import core

    native = core()
    return None if native is None else native.Frames  # type: ignore[no-any-return]


_Frames = _native_runs()


def _new_run() -> MutableSequence[Frame]:
    """An empty run for :func:`_ok_run` to fill: a ``Frames`` with the native loop, else a list."""
    return _Frames() if _Frames is not None and _ok_run is not _ok_run_python else []


class _Window:
    """The bytes of one object from ``base`` on, read ``chunk`` bytes at a time at fixed offsets."""

    __slots__ = ("base", "buf", "chunk", "eof", "read_at", "view")

    def __init__(self, read_at: ReadAt, chunk: int, whole: Whole | None = None) -> None:
        self.read_at = read_at
        self.chunk = chunk
        self.buf = read_at(0, chunk) if whole is None else whole  # whole: the object, nothing more to read
        self.view = memoryview(self.buf)
        self.base = 0
        self.eof = whole is not None or len(self.buf) < chunk

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def ensure(self, keep: int, stop: int) -> None:
        """Hold at least the bytes [``keep``, ``stop``) (fewer at the end of the object); drop those before ``keep``."""
        if stop <= self.end or self.eof:
            return
        keep = max(keep, self.base)
        pieces = [self.buf[keep - self.base :]] if keep < self.end else []
        read = self.end
        while read < stop and not self.eof:
            data = self.read_at(read, self.chunk)
            pieces.append(data)
            read += len(data)
            self.eof = len(data) < self.chunk
        self.base = min(keep, self.end)
        self.buf = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.view = memoryview(self.buf)


_OK, _SHORT, _BAD_MAGIC, _TOO_LONG, _CRC, _VERSION = range(6)


class _Scanner:
    """State of one scan; :meth:`run` yields frames and problems in object order."""

    def __init__(self, read_at: ReadAt, name: str, chunk: int, max_entry: int, whole: Whole | None = None) -> None:
        self.win = _Window(read_at, chunk, whole)
        self.name = name
        self.max_entry = max(max_entry, OVERHEAD)
        self.size = 0
        self.last: Problem | None = None  # the last problem, while no frame has followed it

    def report(self, problem: Problem) -> None:
        """Hold ``problem`` until a frame follows it (it is yielded then, complete).  A problem that directly
        follows the held one (only zero padding between) is that fault's effect (bytes displaced by one
        insertion, the torn rest of a damaged frame): a follow-on detail, not a problem of its own."""
        if self.last is not None:
            self.last.follow_on.append(f"{problem.kind}: {problem.detail} (at byte {problem.offset})")
        else:
            self.last = problem

    def held(self) -> Iterator[Problem]:
        if self.last is not None:
            yield self.last
            self.last = None

    def classify(self, at: int, keep: int) -> tuple[int, int, int, int, int]:
        """(verdict, size, tag tid, entry tid, length) of the bytes at object offset ``at``, reading on as needed."""
        win = self.win
        win.ensure(keep, at + HEAD_SIZE)
        rel = at - win.base
        avail = len(win.buf) - rel
        if avail < HEAD_SIZE:
            if avail >= 8 and win.buf[rel : rel + 8] != PREAMBLE_BYTES:
                return _BAD_MAGIC, 0, 0, 0, 0
            return _SHORT, avail, 0, 0, 0
        preamble, version, entry_tid, tag_tid, length = _unpack_head(win.view, rel)
        if preamble != PREAMBLE:
            return _BAD_MAGIC, 0, 0, 0, 0
        size = length + OVERHEAD
        if size > self.max_entry:
            return _TOO_LONG, size, tag_tid, entry_tid, length
        win.ensure(keep, at + size)
        rel = at - win.base
        if rel + size > len(win.buf):
            return _SHORT, size, tag_tid, entry_tid, length
        crc_at = rel + HEAD_SIZE + length
        if ceph_crc32c(win.view[rel:crc_at]) != int.from_bytes(win.buf[crc_at : crc_at + 4], "little"):
            return _CRC, size, tag_tid, entry_tid, length
        if version != VERSION:
            return _VERSION, size, tag_tid, entry_tid, length
        return _OK, size, tag_tid, entry_tid, length

    def bridge(self, at: int) -> Frame | None:
        """The well-formed frame at ``at`` that runs from the window into the next chunk, framed from a
        copy of just its own bytes; the window moves on to that chunk (no copy of the chunk).  None, and
        the window holds the bytes from ``at`` on joined with the next chunk (as :meth:`_Window.ensure`
        would), when the frame is not well-formed or does not end in the next chunk."""
        win = self.win
        tail = win.buf[at - win.base :]
        end = win.end
        data = win.read_at(end, win.chunk)
        eof = len(data) < win.chunk
        frames: list[Frame] = []
        if len(tail) + len(data) >= HEAD_SIZE:
            length = _unpack_head((tail + data[:HEAD_SIZE])[:HEAD_SIZE])[4]
            size = length + OVERHEAD
            if len(tail) < size <= min(len(tail) + len(data), self.max_entry):
                own = tail + data[: size - len(tail)]
                _ok_run(memoryview(own), 0, size, at, frames)
        if frames:
            win.buf, win.base, win.eof = data, end, eof
        else:
            win.buf, win.base, win.eof = tail + data, at, eof
        win.view = memoryview(win.buf)
        return frames[0] if frames else None

    def frame(self, at: int, size: int, tag_tid: int, entry_tid: int) -> Frame:
        rel = at - self.win.base
        return Frame(at, size, tag_tid, entry_tid, self.win.view[rel + HEAD_SIZE : rel + size - 4])

    def next_frame(self, start: int) -> tuple[int | None, int]:
        """(offset of the next preamble at or after ``start`` whose frame checks out or None, preambles passed over)."""
        win = self.win
        pos = start
        failed = 0
        while True:
            win.ensure(pos, pos + 8)
            found = win.buf.find(PREAMBLE_BYTES, pos - win.base)
            if found < 0:
                if win.eof:
                    return None, failed
                pos = max(pos, win.end - 7)  # a preamble may straddle the next read
                win.ensure(pos, win.end + 1)
                continue
            pos = win.base + found
            if self.classify(pos, pos)[0] == _OK:
                return pos, failed
            failed += 1
            pos += 1

    def starts_zero_pad(self, at: int, keep: int) -> bool:
        """Whether the bytes from ``at`` to the next 8-byte boundary (or the end) are zeros, and there are some."""
        win = self.win
        pad_end = at + 8 - at % 8
        win.ensure(keep, pad_end)
        first = win.buf[at - win.base : pad_end - win.base]
        return bool(first) and first.count(0) == len(first)

    def zero_run_end(self, off: int) -> int | None:
        """Where zero padding from ``off`` ends (the first pad to an 8-byte boundary, then whole 8-byte
        blocks of zeros), or None when ``off`` does not start a zero pad.  A hole of any size is searched
        chunk by chunk; the window keeps less than a block of it."""
        if not self.starts_zero_pad(off, off):
            return None
        win = self.win
        pad_end = off + 8 - off % 8
        pos = off
        while True:
            hit = _NON_ZERO.search(win.buf, pos - win.base)
            if hit is not None:
                nonzero = win.base + hit.start()
                return max(pad_end, nonzero - nonzero % 8)
            if win.eof:
                return win.end
            pos = max(pos, win.end - win.end % 8)
            win.ensure(pos, win.end + 1)

    def problem(self, kind: str, detail: str, at: int, tag: int | None = None, tid: int | None = None,
                lost: int | None = 1) -> Problem:
        return Problem(kind, detail, self.name, at, tag, tid, affected_entries=lost)

    def run(self, start: int = 0) -> Iterator[MutableSequence[Frame] | Frame | Problem]:
        """Every frame from byte ``start`` (a frame boundary) in order (runs of them as lists), and a
        :class:`Problem` per defect."""
        win = self.win
        off = start
        while True:
            win.ensure(off, off + 1)
            if off >= win.end:
                break
            frames = _new_run()
            stop = _ok_run(win.view, off - win.base, len(win.buf), win.base, frames)
            if frames:
                yield from self.held()
                yield frames
                off = win.base + stop
                continue
            if not win.eof and (bridged := self.bridge(off)) is not None:
                yield bridged
                off = bridged.offset + bridged.size
                continue
            verdict, size, tag, tid, length = self.classify(off, off)
            if verdict == _OK:  # a frame the run could not take whole (it straddled the window's end)
                yield from self.held()
                yield self.frame(off, size, tag, tid)
                off += size
                continue
            if verdict in (_BAD_MAGIC, _SHORT) and (pad := self.zero_run_end(off)) is not None:
                off = pad
                continue
            nxt: int | None
            if verdict in (_CRC, _VERSION):
                problem = (self.problem("crc_mismatch", "entry crc32c does not match its bytes", off, tag, tid)
                           if verdict == _CRC else
                           self.problem("bad_version", f"entry frame version is {win.buf[off - win.base + 8]}, expected {VERSION}",
                                        off, tag, tid))
                after = off + size
                follows = self.classify(after, off + 1)[0]
                if follows in (_OK, _SHORT, _TOO_LONG) or self.starts_zero_pad(after, off + 1):
                    self.report(problem)  # the frame's extent is right (a frame, a pad or the end follows)
                    off = after
                    continue
                nxt = self.next_frame(off + 1)[0]  # the length itself is suspect: resynchronise
                end = nxt if nxt is not None else win.end
                problem.follow_on.append(f"{end - off - 1} bytes after its first cannot be framed"
                                         + (f"; next valid entry at byte {nxt}" if nxt is not None else "; no valid entry follows"))
            elif verdict in (_SHORT, _TOO_LONG):
                nxt = self.next_frame(off + 1)[0]
                if verdict == _SHORT and nxt is None:
                    problem = self.problem("truncated_entry", f"object ends {win.end - off} bytes into an entry frame",
                                           off, tag if size >= HEAD_SIZE else None, tid if size >= HEAD_SIZE else None)
                else:
                    why = (f"entry length {length} runs past the end of the object" if verdict == _SHORT else
                           f"entry length {length} exceeds the journal's maximum entry size ({self.max_entry} bytes)")
                    problem = self.problem("bad_length", why, off, tag, tid)
                    problem.follow_on.append(f"resynchronised on the next valid entry at byte {nxt}" if nxt is not None
                                             else "no valid entry follows")
            else:  # bad magic: bytes that do not start an entry
                nxt, failed = self.next_frame(off + 1)
                end = nxt if nxt is not None else win.end
                problem = self.problem(
                    "bad_magic" if nxt is not None or off == 0 else "garbage",
                    f"{end - off} bytes do not start with an entry preamble"
                    + (f"; next valid entry at byte {nxt}" if nxt is not None else "; no valid entry follows"),
                    off, lost=1 + failed)
            # the one tail of every fault: report it, then go on at the next valid frame or end the object
            self.report(problem)
            if nxt is None:
                break
            off = nxt
        self.size = win.end
        yield from self.held()


def scan_chunked(read_at: ReadAt, object_name: str, chunk_size: int = READ_CHUNK,
                 max_entry: int = MAX_ENTRY, keep_payloads: bool = True,
                 whole: Whole | None = None) -> tuple[Sequence[Frame], list[Frame | Problem], int]:
    """Scan a whole object read ``chunk_size`` bytes at a time (fixed offsets, what the read-ahead fetches).

    Returns ``(frames, rest, size)``: the leading run of frames before the first problem, then the
    items after it (empty for a healthy object), and the object size.  The frames are a list, or with
    the native core a ``Frames`` (:func:`_native_runs`).  ``keep_payloads`` False (a walk that only
    counts): with the native core, the frames whose payload was found, as it was read, to be an IO
    event in librbd's shape keep no payload (None), so each chunk is freed once scanned.  ``whole``: the
    object's bytes already in one buffer (a mapped file), scanned in place; ``read_at`` is not called.
    """
    scanner = _Scanner(read_at, object_name, max(chunk_size, 1), max_entry, whole)
    frames = _new_run()
    rest: list[Frame | Problem] = []
    for item in scanner.run():
        if not isinstance(item, (Frame, Problem)):  # a run
            if not keep_payloads and _Frames is not None and type(item) is _Frames:
                item.drop_payloads()  # type: ignore[attr-defined]
            (rest if rest else frames).extend(item)
        elif rest or isinstance(item, Problem):
            rest.append(item)
        else:
            frames.append(item)
    return frames, rest, scanner.size


def scan_object(data: bytes | bytearray | memoryview, object_name: str, start: int = 0,
                max_entry: int = MAX_ENTRY) -> Iterator[Frame | Problem]:
    """Yield every frame of ``data`` from byte ``start`` (a frame boundary) in order, and a :class:`Problem` per defect."""
    whole = bytes(data)

    def read_at(offset: int, length: int | None) -> bytes:
        if offset == 0 and (length is None or length >= len(whole)):
            return whole
        return whole[offset:] if length is None else whole[offset : offset + length]

    for item in _Scanner(read_at, object_name, len(whole) + 1, max_entry).run(start):
        if not isinstance(item, (Frame, Problem)):  # a run
            yield from item
        else:
            yield item
