"""Entry framing inside one journal data object: the hot path of every read.

Follows src/journal/ObjectPlayer.cc (``handle_fetch_complete``) and
src/journal/Entry.cc (``is_readable``): entries are back to back; zero padding up
to the next 8-byte boundary is skipped; a frame that runs past the end of the
object is a partial (truncated) entry.  Where Ceph stops at corrupt bytes, this
scanner reports the problem with its byte offset and resynchronises on the next
preamble whose frame checks out, so one bad entry does not hide the rest.

Frames are parsed with :data:`~journaltools.format.journal_entry.FRAME_HEAD`
(the precompiled head of the ``journal::Entry`` declaration) over a memoryview,
and checked with the hardware crc32c.  Runs of well-formed frames (all of a
healthy object) go through :func:`_ok_run`, one tight loop without per-frame
classification; anything else takes the careful path of :func:`scan_object`.
:func:`scan_chunked` reads an object in chunks (a bounded buffer, and what the
read-ahead fetches) and yields exactly what :func:`scan_object` yields for the whole
object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..format.crc import STD_SEED, ceph_crc32c, std_crc32c
from ..format.journal_entry import FRAME_HEAD, HEAD_SIZE, OVERHEAD, PREAMBLE, PREAMBLE_BYTES, VERSION
from .problems import WARNING, Problem

_unpack_head = FRAME_HEAD.unpack_from

#: bytes per read of :func:`scan_chunked`: 1 MiB reads are as fast as larger ones here (with the read-ahead),
#: and librados and the allocator keep far less memory (peak RSS of a 1 GiB live inspect: 124 MB, 150+ MB with 4 MiB)
READ_CHUNK = 1 << 20

#: ``read(offset, length)`` of one object: ``length`` None reads to the end; short only at the end
ReadAt = Callable[[int, "int | None"], bytes]


@dataclass(slots=True)
class Frame:
    """One well-formed entry frame found in an object."""

    offset: int
    size: int
    tag_tid: int
    entry_tid: int
    payload: bytes | memoryview  # a view into the chunk that was read: no copy per entry


def _frame_at(buf: memoryview, off: int, end: int) -> tuple[str, Frame | None, int]:
    """Classify the bytes at ``off``: ("ok", frame, size) or (problem kind, None, size guess)."""
    if end - off < HEAD_SIZE:
        if end - off >= 8 and bytes(buf[off : off + 8]) != PREAMBLE_BYTES:
            return "bad_magic", None, 0
        return "truncated_entry", None, end - off
    preamble, version, entry_tid, tag_tid, length = _unpack_head(buf, off)
    if preamble != PREAMBLE:
        return "bad_magic", None, 0
    size = length + OVERHEAD
    if off + size > end:
        return "truncated_entry", None, end - off
    crc_at = off + HEAD_SIZE + length
    stored = int.from_bytes(buf[crc_at : crc_at + 4], "little")
    if ceph_crc32c(buf[off:crc_at]) != stored:
        return "crc_mismatch", Frame(off, size, tag_tid, entry_tid, b""), size
    frame = Frame(off, size, tag_tid, entry_tid, bytes(buf[off + HEAD_SIZE : crc_at]))
    if version != VERSION:
        return "bad_version", frame, size
    return "ok", frame, size


def _next_frame_start(buf: memoryview, start: int, end: int) -> int:
    """Offset of the next preamble at or after ``start`` that begins a valid frame (or ``end``)."""
    raw = buf.obj if isinstance(buf.obj, bytes) else bytes(buf)
    pos = start
    while True:
        pos = raw.find(PREAMBLE_BYTES, pos, end)
        if pos < 0:
            return end
        if _frame_at(buf, pos, end)[0] == "ok":
            return pos
        pos += 1


def _ok_run(buf: memoryview, off: int, end: int, base: int, frames: list[Frame]) -> int:
    """Append the well-formed frames from ``off`` on (offsets shifted by ``base``); return where they stop.

    Exactly the frames :func:`_frame_at` classifies as "ok", without building a classification per frame.
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


def _frame_size(head: bytes) -> int | None:
    """Size of the frame that ``head`` (at least :data:`HEAD_SIZE` bytes) begins, None if it begins none."""
    if len(head) < HEAD_SIZE:
        return None
    preamble, version, _entry_tid, _tag_tid, length = _unpack_head(head, 0)
    return length + OVERHEAD if preamble == PREAMBLE and version == VERSION else None


def scan_chunked(
    read_at: ReadAt, object_name: str, chunk_size: int = READ_CHUNK
) -> tuple[list[Frame], list[Frame | Problem], int]:
    """:func:`scan_object` over a whole object read ``chunk_size`` bytes at a time.

    Returns ``(frames, rest, size)``: the leading run of well-formed frames, then the items
    :func:`scan_object` yields after it (empty for a healthy object), and the object size.
    Reads are at fixed offsets (0, ``chunk_size``, 2 * ``chunk_size``, ...), so a read-ahead can
    fetch them before they are asked for; the frame that straddles two chunks is put together
    from its two pieces.  Bytes that are not a run of well-formed frames (padding, damage, a
    frame larger than a chunk) send the rest of the object, read whole, through
    :func:`scan_object`.
    """
    frames: list[Frame] = []
    base = 0  # object offset of data[0]
    start = 0  # where the frames of data begin
    data = read_at(0, chunk_size)
    while True:
        end = len(data)
        stop = _ok_run(memoryview(data), start, end, base, frames)
        pos = base + stop  # the end of the healthy run so far
        if end < chunk_size:  # this read reached the end of the object
            if stop == end:
                return frames, [], pos
            break
        piece = data[stop:]  # less than a frame, unless the bytes at ``stop`` are damaged
        following = read_at(base + end, chunk_size)
        size = _frame_size(piece + following[: max(HEAD_SIZE - len(piece), 0)]) if piece else 0
        if size is None or size < len(piece) or size - len(piece) > len(following):
            break
        take = size - len(piece)
        if piece:
            joint = piece + following[:take]
            if _ok_run(memoryview(joint), 0, size, pos, frames) != size:
                break
        base += end
        start = take
        data = following
    whole = read_at(0, None)
    return frames, list(scan_object(whole, object_name, start=pos)), len(whole)


def scan_object(data: bytes, object_name: str, start: int = 0) -> Iterator[Frame | Problem]:
    """Yield every frame of ``data`` from byte ``start`` (a frame boundary) in order, and a :class:`Problem` per defect."""
    buf = memoryview(data)
    end = len(buf)
    off = start
    healthy: list[Frame] = []
    while off < end:
        off = _ok_run(buf, off, end, 0, healthy)
        yield from healthy
        healthy.clear()
        if off >= end:
            break
        kind, frame, size = _frame_at(buf, off, end)  # not "ok": _ok_run took every well-formed frame
        if kind == "bad_magic":
            pad = 8 - (off % 8)
            run = bytes(buf[off : min(off + pad, end)])
            if run.count(0) == len(run):
                off += len(run)  # zero padding to the next 8-byte boundary (a partial pad at the end is fine)
                continue
        if kind == "truncated_entry":
            rest = bytes(buf[off:end])
            if len(rest) < 8 and rest.count(0) == len(rest):
                return  # a partial zero pad at the end of the object
            yield Problem(
                "truncated_entry",
                f"object ends {size} bytes into an entry frame",
                object_name,
                off,
                tag_tid=frame.tag_tid if frame else None,
            )
            return
        if kind in ("crc_mismatch", "bad_version"):
            assert frame is not None
            detail = (
                "entry crc32c does not match its bytes"
                if kind == "crc_mismatch"
                else f"entry frame version is {data[off + 8]}, expected {VERSION}"
            )
            yield Problem(kind, detail, object_name, off, frame.tag_tid, frame.entry_tid)
            after = off + size
            if after == end or _frame_at(buf, after, end)[0] in ("ok", "truncated_entry") or _is_zero_pad(buf, after, end):
                off = after
                continue
            off += 1  # the length itself is suspect: resynchronise below
            nxt = _next_frame_start(buf, off, end)
            if nxt > off:
                yield Problem("garbage", f"{nxt - off + 1} bytes cannot be framed after the damaged entry",
                              object_name, off - 1, severity=WARNING)
            off = nxt
            continue
        nxt = _next_frame_start(buf, off + 1, end)
        yield Problem(
            "bad_magic" if nxt < end or off == 0 else "garbage",
            f"{nxt - off} bytes do not start with an entry preamble"
            + (f"; next valid entry at byte {nxt}" if nxt < end else "; no valid entry follows"),
            object_name,
            off,
        )
        off = nxt


def _is_zero_pad(buf: memoryview, off: int, end: int) -> bool:
    pad = 8 - (off % 8)
    run = bytes(buf[off : min(off + pad, end)])
    return bool(run) and run.count(0) == len(run)
