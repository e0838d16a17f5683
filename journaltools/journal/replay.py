"""Point-in-time replay: apply a journal's events to a target with librbd's replay semantics.

The events come from the project's one walk (:class:`~.walk.JournalWalk`, replay order)
and are applied as src/librbd/journal/Replay.cc applies them on a mirror:

* ``AioWrite``, ``AioWriteSame`` (the pattern repeats from the event's offset),
  ``AioCompareAndWrite`` (written only where the target holds the compare data,
  as the primary decided when it had the same bytes), ``AioDiscard`` (the range
  reads as zeroes afterwards; with a discard granularity the range of each object
  is first shrunk to granularity boundaries, as ``ImageDiscardRequest::
  prune_object_extents`` does; an event older than struct v5 with
  ``skip_partial_discard`` means a granularity of the object size), ``AioFlush``
  (fsync).  IO starting at or beyond the image size is a no-op, IO crossing it is
  clipped (``Replay::clipped_io``, librbd's clip of image extents).
* Operations (resize, snapshots, flatten, metadata, ...) are applied once their
  ``OpFinish`` says they succeeded (``result`` 0); a failed or unfinished op is
  not applied.  ``SnapCreate`` takes its snapshot at the event itself (librbd
  blocks writes until the snapshot is taken), kept only when the OpFinish says 0.
  An OpFinish without its op (the op was before the start) is ignored, as Ceph
  does ("assuming previously committed"); a second op with the same op tid is
  refused (Ceph: -EINVAL).
* What a target cannot apply is reported with its position; ``strict`` makes
  the first such event stop the replay with an error.

Starts: the first entry of the walk, an entry (``--from TAG:TID``, inclusive) or
right after a snapshot's SnapCreate.  Stops: the end, an entry (``--to``,
inclusive) or the first event whose timestamp is at or after ``--until``
(events carry a timestamp from EventEntry struct v4 on; librbd 16.2 writes v5
with the time of the request).  Damaged entries follow the corruption policy of
inspect/export: an entry failing its crc is never yielded by the walk, so never
applied; ``stop`` ends the replay at the first damaged entry and says where.

Memory: one entry at a time plus the ops waiting for their OpFinish.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import FormatError, JournalToolsError, SpecError
from ..format import librbd_journal as lj
from ..format.event_fastpath import fast_event
from ..format.librbd_journal import decode_event
from ..format.primitives import BytesLike
from .problems import CorruptionPolicy, Problem
from .walk import JournalEntry, JournalWalk

#: librbd's default object size (order 22), used when the image header is not at hand
DEFAULT_OBJECT_SIZE = 1 << 22

IO_EVENTS = frozenset({lj.AIO_WRITE, lj.AIO_DISCARD, lj.AIO_WRITESAME, lj.AIO_COMPARE_AND_WRITE, lj.AIO_FLUSH})
OP_EVENTS = frozenset({
    lj.SNAP_CREATE, lj.SNAP_REMOVE, lj.SNAP_RENAME, lj.SNAP_PROTECT, lj.SNAP_UNPROTECT, lj.SNAP_ROLLBACK,
    lj.RENAME, lj.RESIZE, lj.FLATTEN, lj.SNAP_LIMIT, lj.UPDATE_FEATURES, lj.METADATA_SET, lj.METADATA_REMOVE,
})


class ReplayError(JournalToolsError):
    """The replay could not go on (a target failure, or ``strict`` and an event the target cannot apply)."""


class NotApplicable(Exception):  # noqa: N818 - a signal between a target and the replayer, not an error
    """Raised by a target for an event it cannot apply; the message says why."""


# -- time --------------------------------------------------------------------------------------
def parse_time_ns(text: str) -> int:
    """Nanoseconds since the epoch of ``text``: ISO 8601 (``inspect --verbose`` prints that) or epoch seconds.

    Exact to the digit given (no float rounding), so an event's own printed time can be given.
    A time without a zone is UTC.
    """
    try:
        return int(Decimal(text) * 1_000_000_000)
    except InvalidOperation:
        pass
    raw = text.strip()
    nanos = 0
    # keep digits beyond microseconds, which datetime drops
    head, dot, rest = raw.partition(".")
    if dot:
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        nanos = int((digits + "000000000")[:9]) if digits else 0
        raw = head + rest
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise SpecError(f"invalid time {text!r}: use ISO 8601 (2026-12-01T09:15:08.812174+0000) or epoch seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + nanos


def format_time_ns(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}+0000"


def parse_position(text: str) -> tuple[int, int]:
    """``TAG:TID`` (tag tid, entry tid)."""
    tag, sep, tid = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(tag), int(tid)
    except ValueError:
        raise SpecError(f"invalid journal position {text!r}: use TAG:TID (tag tid and entry tid, e.g. 1:42)") from None


# -- events ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Event:
    """What the replayer needs of one entry's EventEntry."""

    type_id: int
    fields: dict[str, Any]
    timestamp_ns: int | None
    version: int = lj.EVENT_VERSION

    @property
    def name(self) -> str:
        return lj.EVENT_TYPE_NAMES.get(self.type_id, f"unknown event type {self.type_id}")


def read_event(payload: BytesLike) -> Event:
    """Decode ``payload`` (the compiled fast path first; raises FormatError)."""
    fast = fast_event(payload)
    if fast is not None:
        fields = fast.fields
        if fast.blob_name is not None:
            fields = dict(fields)
            fields[fast.blob_name] = payload[fast.blob_start : fast.blob_end]
        return Event(fast.type_id, fields, (fast.sec * 1_000_000_000 + fast.nsec) or None)  # 0: no time recorded
    value = decode_event(payload)
    event = value["event"]
    meta = value.get("metadata")
    stamp = None
    if meta:
        ts = meta["timestamp"]
        stamp = int(ts["sec"]) * 1_000_000_000 + int(ts["nsec"]) or None
    return Event(int(event["event_type"]), dict(event.get("payload") or {}), stamp,
                 int(event.get("_struct_v", lj.EVENT_VERSION)))


def discard_granularity(event: Event) -> int:
    """The event's discard granularity as librbd's decoder gives it (src/librbd/journal/Types.cc)."""
    if event.version >= 5:
        return int(event.fields.get("discard_granularity_bytes") or 0)
    if event.version >= 4 and event.fields.get("skip_partial_discard"):
        return 0xFFFFFFFF  # truncated to the object size when applied
    return 0


def discard_ranges(offset: int, length: int, granularity: int, object_size: int) -> list[tuple[int, int]]:
    """The image ranges a discard zeroes: per object, shrunk to ``granularity`` boundaries.

    ``ImageDiscardRequest::prune_object_extents``: the granularity is capped at the object
    size; an object extent is aligned inwards unless the granularity covers the whole
    object and the extent reaches the object's end (a tail truncation); nothing is left
    of an extent smaller than one granule.  Objects are laid out linearly (stripe count 1).
    """
    if length <= 0:
        return []
    if granularity == 0:
        return [(offset, length)]
    grain = min(granularity, object_size)
    out: list[tuple[int, int]] = []
    pos, end = offset, offset + length
    while pos < end:
        start = pos - pos % object_size
        first, last = pos - start, min(end - start, object_size)
        if grain < object_size or last < object_size:
            first = -(-first // grain) * grain
            last = last - last % grain
        if first < last:
            if out and out[-1][0] + out[-1][1] == start + first:
                out[-1] = (out[-1][0], out[-1][1] + last - first)
            else:
                out.append((start + first, last - first))
        pos = start + min(end - start, object_size)
    return out


def write_same_bytes(offset: int, length: int, pattern: bytes) -> bytes:
    """``length`` bytes of ``pattern`` repeated from ``offset`` (an empty pattern writes nothing)."""
    del offset  # the pattern starts at the request's own offset, whatever it is
    if not pattern:
        return b""
    whole, part = divmod(length, len(pattern))
    return pattern * whole + pattern[:part]


# -- targets -----------------------------------------------------------------------------------
class ReplayTarget(abc.ABC):
    """Where events are applied.  ``size`` is the image size (None: not known yet)."""

    description = "target"
    size: int | None = None

    @abc.abstractmethod
    def write(self, offset: int, data: BytesLike) -> None: ...

    @abc.abstractmethod
    def zero(self, offset: int, length: int) -> None:
        """Make ``[offset, offset + length)`` read as zeroes (a hole where the target can)."""

    @abc.abstractmethod
    def read(self, offset: int, length: int) -> bytes | None:
        """The bytes there (short past the end); None when the target cannot read (dry run)."""

    @abc.abstractmethod
    def flush(self) -> None: ...

    @abc.abstractmethod
    def resize(self, size: int) -> None: ...

    # snapshots and other operations: a target applies what it can, NotApplicable otherwise
    def snap_create(self, name: str) -> None:
        raise NotApplicable("snapshots are only recorded (use --snapshots-dir to keep copies)")

    def snap_create_finished(self, name: str, succeeded: bool) -> None:
        """The OpFinish of a SnapCreate that :meth:`snap_create` applied."""

    def snap_remove(self, name: str) -> None:
        raise NotApplicable("snapshots are only recorded")

    def snap_rename(self, source: str, dest: str) -> None:
        raise NotApplicable("snapshots are only recorded")

    def snap_rollback(self, name: str) -> None:
        raise NotApplicable("no copy of the snapshot (use --snapshots-dir, and start before its SnapCreate)")

    def snap_protect(self, name: str, protect: bool) -> None:
        raise NotApplicable("protection has no meaning for this target")

    def snap_limit(self, limit: int) -> None:
        raise NotApplicable("a snapshot limit has no meaning for this target")

    def flatten(self) -> None:
        raise NotApplicable("a file has no parent to copy up from (its bytes are what the image read)")

    def metadata_set(self, key: str, value: str) -> None:
        raise NotApplicable("image metadata has no meaning for this target")

    def metadata_remove(self, key: str) -> None:
        raise NotApplicable("image metadata has no meaning for this target")

    def close(self) -> None:
        """Flush and release the target."""


#: ops whose effect is metadata only: when a target cannot apply them, the replay is still exact in data
METADATA_ONLY = frozenset({lj.SNAP_CREATE, lj.SNAP_REMOVE, lj.SNAP_RENAME, lj.SNAP_PROTECT, lj.SNAP_UNPROTECT,
                           lj.SNAP_LIMIT, lj.RENAME, lj.UPDATE_FEATURES, lj.METADATA_SET, lj.METADATA_REMOVE,
                           lj.DEMOTE_PROMOTE})


class FileTarget(ReplayTarget):
    """A raw image file (an ``rbd export``), written in place; created sparse when missing.

    ``size``: the file's size when it has bytes; a new or empty file has no known size
    until a Resize (IO is then not clipped) unless ``initial_size`` is given.  With
    ``snapshots_dir`` each snapshot is a copy of the file there (a reflink where the
    file system can), ``<quoted name>.raw``, so a later SnapRollback can be applied.
    """

    def __init__(self, path: str | Path, *, initial_size: int | None = None,
                 snapshots_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.description = str(path)
        self.created = not self.path.exists()
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ReplayError(f"cannot open target {path}: {exc.strerror}", errno=exc.errno) from None
        current = os.fstat(self.fd).st_size
        if initial_size is not None:
            os.ftruncate(self.fd, initial_size)
            self.size = initial_size
        else:
            self.size = current if current > 0 else None
        self.snapshots_dir = Path(snapshots_dir) if snapshots_dir is not None else None
        if self.snapshots_dir is not None:
            self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        self._snap_sizes: dict[str, int | None] = {}  # image size of the copies taken here (None: not known then)
        self._pending = bytearray()  # writes not yet issued, continuing one another from _pending_at
        self._pending_at = 0
        self.punch_holes = True
        self.reflinks = 0
        self.copies = 0

    def write(self, offset: int, data: BytesLike) -> None:
        """Writes that continue one another are combined (up to :data:`COMBINE` bytes) into one pwrite."""
        pending = self._pending
        if pending and offset == self._pending_at + len(pending) and len(pending) + len(data) <= COMBINE:
            pending += data
            return
        self._drain()
        if len(data) < COMBINE // 4:
            self._pending_at = offset
            self._pending = bytearray(data)
        else:
            self._pwrite(offset, data)

    def _drain(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, bytearray()
            self._pwrite(self._pending_at, pending)

    def _pwrite(self, offset: int, data: BytesLike | bytearray) -> None:
        view = memoryview(data)
        while view:
            done = os.pwrite(self.fd, view, offset)
            view, offset = view[done:], offset + done

    def zero(self, offset: int, length: int) -> None:
        self._drain()
        end = min(offset + length, os.fstat(self.fd).st_size)  # bytes past the end already read as zeroes
        if end <= offset:
            return
        if self.punch_holes:
            try:
                _punch_hole(self.fd, offset, end - offset)
                return
            except OSError:
                self.punch_holes = False
        zeros = bytes(min(end - offset, 1 << 20))
        while offset < end:
            self._pwrite(offset, zeros[: end - offset])
            offset += min(len(zeros), end - offset)

    def read(self, offset: int, length: int) -> bytes:
        self._drain()
        return os.pread(self.fd, length, offset)

    def flush(self) -> None:
        self._drain()
        os.fsync(self.fd)

    def resize(self, size: int) -> None:
        self._drain()
        os.ftruncate(self.fd, size)
        self.size = size

    def finish_size(self, size: int) -> None:
        """Give a file of unknown size its image size at the end (it may have been written short)."""
        self._drain()
        if self.size is None:
            os.ftruncate(self.fd, max(size, 0))
            self.size = size

    # -- snapshots as copies -------------------------------------------------------------------
    def _snap_path(self, name: str, pending: bool = False) -> Path:
        assert self.snapshots_dir is not None
        return self.snapshots_dir / ((".pending." if pending else "") + quote(name, safe="") + ".raw")

    def snap_create(self, name: str) -> None:
        if self.snapshots_dir is None:
            super().snap_create(name)
        self._copy_out(self._snap_path(name, pending=True))
        self._snap_sizes[".pending." + name] = self.size

    def save_snapshot(self, name: str) -> Path:
        """A copy of the file as snapshot ``name`` now (the base of ``--from-snapshot``)."""
        path = self._snap_path(name)
        self._copy_out(path)
        self._snap_sizes[name] = self.size
        return path

    def snap_create_finished(self, name: str, succeeded: bool) -> None:
        pending = self._snap_path(name, pending=True)
        size = self._snap_sizes.pop(".pending." + name, None)
        if succeeded:
            os.replace(pending, self._snap_path(name))
            self._snap_sizes[name] = size
        else:
            pending.unlink(missing_ok=True)

    def snap_remove(self, name: str) -> None:
        if self.snapshots_dir is None:
            super().snap_remove(name)
        self._snap_path(name).unlink(missing_ok=True)

    def snap_rename(self, source: str, dest: str) -> None:
        if self.snapshots_dir is None:
            super().snap_rename(source, dest)
        if self._snap_path(source).exists():
            os.replace(self._snap_path(source), self._snap_path(dest))
            if source in self._snap_sizes:
                self._snap_sizes[dest] = self._snap_sizes.pop(source)

    def snap_rollback(self, name: str) -> None:
        if self.snapshots_dir is None or not self._snap_path(name).exists():
            super().snap_rollback(name)
        source = self._snap_path(name)
        self._drain()
        with open(source, "rb") as src:
            os.ftruncate(self.fd, 0)
            self._clone_or_copy(src.fileno(), self.fd)
            length = os.fstat(src.fileno()).st_size
            os.ftruncate(self.fd, length)
        # the image size at the snapshot; unknown when the copy was taken before any size was known
        self.size = self._snap_sizes.get(name, length)

    def _copy_out(self, dest: Path) -> None:
        self._drain()
        tmp = dest.with_name(dest.name + ".tmp")
        with open(tmp, "wb") as out:
            self._clone_or_copy(self.fd, out.fileno())
            os.ftruncate(out.fileno(), os.fstat(self.fd).st_size)
        os.replace(tmp, dest)

    def _clone_or_copy(self, src: int, dst: int) -> None:
        try:
            fcntl.ioctl(dst, _FICLONE, src)
            self.reflinks += 1
            return
        except OSError:
            pass
        _sparse_copy(src, dst)
        self.copies += 1

    def close(self) -> None:
        if self.fd >= 0:
            self._drain()
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1


#: most bytes of successive writes combined into one pwrite
COMBINE = 4 << 20
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


def _punch_hole(fd: int, offset: int, length: int) -> None:
    import ctypes
    import ctypes.util

    libc = _libc()
    if libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, ctypes.c_int64(offset),
                      ctypes.c_int64(length)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


_LIBC: Any = None


def _libc() -> Any:
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util

        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _LIBC.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return _LIBC


def _sparse_copy(src: int, dst: int) -> None:
    """Copy the data regions of ``src`` to the same offsets of ``dst`` (holes stay holes)."""
    size = os.fstat(src).st_size
    pos = 0
    while pos < size:
        try:
            data = os.lseek(src, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                break
            data = pos  # no SEEK_DATA here: copy everything
        hole = size if data == pos and not _has_seek_hole(src) else os.lseek(src, data, os.SEEK_HOLE)
        offset = data
        while offset < hole:
            chunk = os.pread(src, min(1 << 20, hole - offset), offset)
            if not chunk:
                break
            os.pwrite(dst, chunk, offset)
            offset += len(chunk)
        pos = hole


def _has_seek_hole(fd: int) -> bool:
    try:
        os.lseek(fd, 0, os.SEEK_HOLE)
        return True
    except OSError:
        return False


class NullTarget(ReplayTarget):
    """``--dry-run``: tracks the size, writes nothing."""

    description = "nothing (dry run)"

    def __init__(self, size: int | None = None) -> None:
        self.size = size

    def write(self, offset: int, data: BytesLike) -> None:
        pass

    def zero(self, offset: int, length: int) -> None:
        pass

    def read(self, offset: int, length: int) -> None:
        return None

    def flush(self) -> None:
        pass

    def resize(self, size: int) -> None:
        self.size = size

    def snap_create(self, name: str) -> None:
        pass

    def snap_remove(self, name: str) -> None:
        pass

    def snap_rename(self, source: str, dest: str) -> None:
        pass

    def snap_rollback(self, name: str) -> None:
        pass


class RbdImageTarget(ReplayTarget):
    """A live RBD image through librbd (python3-rbd): the delayed-replica case."""

    def __init__(self, image: Any, description: str) -> None:
        import rbd

        self.rbd = rbd
        self.image = image
        self.description = description
        self.size = int(image.size())

    def write(self, offset: int, data: BytesLike) -> None:
        self.image.write(bytes(data), offset)

    def zero(self, offset: int, length: int) -> None:
        length = min(length, max(int(self.size or 0) - offset, 0))
        if length > 0:
            self.image.write_zeroes(offset, length)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.image.read(offset, length))

    def flush(self) -> None:
        self.image.flush()

    def resize(self, size: int) -> None:
        self.image.resize(size)
        self.size = size

    def snap_create(self, name: str) -> None:
        with contextlib.suppress(self.rbd.ImageExists):  # Ceph ignores EEXIST in replay
            self.image.create_snap(name)

    def snap_create_finished(self, name: str, succeeded: bool) -> None:
        if not succeeded:
            with contextlib.suppress(self.rbd.ImageNotFound):
                self.image.remove_snap(name)

    def snap_remove(self, name: str) -> None:
        with contextlib.suppress(self.rbd.ImageNotFound):
            self.image.remove_snap(name)

    def _no_snapshot(self, name: str) -> NotApplicable:
        return NotApplicable(f"the target has no snapshot {name!r} (taken before the start?)")

    def snap_rename(self, source: str, dest: str) -> None:
        try:
            with contextlib.suppress(self.rbd.ImageExists):
                self.image.rename_snap(source, dest)
        except self.rbd.ImageNotFound:
            raise self._no_snapshot(source) from None

    def snap_rollback(self, name: str) -> None:
        try:
            self.image.rollback_to_snap(name)
        except self.rbd.ImageNotFound:
            raise self._no_snapshot(name) from None
        self.size = int(self.image.size())

    def snap_protect(self, name: str, protect: bool) -> None:
        try:
            if protect:
                with contextlib.suppress(self.rbd.ImageBusy):
                    self.image.protect_snap(name)
            else:
                with contextlib.suppress(self.rbd.InvalidArgument, self.rbd.ImageBusy):
                    self.image.unprotect_snap(name)
        except self.rbd.ImageNotFound:
            raise self._no_snapshot(name) from None

    def snap_limit(self, limit: int) -> None:
        self.image.set_snap_limit(limit)

    def flatten(self) -> None:
        with contextlib.suppress(self.rbd.InvalidArgument):  # no parent: Ceph ignores EINVAL
            self.image.flatten()

    def metadata_set(self, key: str, value: str) -> None:
        self.image.metadata_set(key, value)

    def metadata_remove(self, key: str) -> None:
        with contextlib.suppress(self.rbd.ImageNotFound, KeyError):
            self.image.metadata_remove(key)

    def close(self) -> None:
        self.image.flush()


# -- the replay ----------------------------------------------------------------------------------
@dataclass
class ReplayOptions:
    from_snapshot: str | None = None
    #: which SnapCreate of ``from_snapshot`` (0-based, among all SnapCreate events of the walk);
    #: :func:`snapshot_create_ordinal` finds the one that made the snapshot existing now
    from_snapshot_ordinal: int | None = None
    from_position: tuple[int, int] | None = None
    until_ns: int | None = None
    to_position: tuple[int, int] | None = None
    strict: bool = False
    policy: CorruptionPolicy = field(default_factory=CorruptionPolicy)
    object_size: int = DEFAULT_OBJECT_SIZE

    def __post_init__(self) -> None:
        if self.from_snapshot is not None and self.from_position is not None:
            raise SpecError("give one start: --from-snapshot or --from")
        if self.until_ns is not None and self.to_position is not None:
            raise SpecError("give one stop: --until or --to")
        if self.object_size <= 0:
            raise SpecError(f"invalid object size {self.object_size}")


@dataclass
class TypeCount:
    events: int = 0
    applied: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, int]:
        return {"events": self.events, "applied": self.applied, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class EntryPosition:
    tag_tid: int
    entry_tid: int
    commit_tid: int
    object: str
    offset: int
    timestamp_ns: int | None = None

    @classmethod
    def of(cls, entry: JournalEntry, timestamp_ns: int | None = None) -> EntryPosition:
        return cls(entry.tag_tid, entry.entry_tid, entry.commit_tid, entry.object_name, entry.offset, timestamp_ns)

    def __str__(self) -> str:
        text = f"tag {self.tag_tid} entry tid {self.entry_tid} (commit tid {self.commit_tid}, {self.object} at byte {self.offset}"
        return text + (f", {format_time_ns(self.timestamp_ns)})" if self.timestamp_ns is not None else ")")

    def to_json(self) -> dict[str, Any]:
        return {"tag_tid": self.tag_tid, "entry_tid": self.entry_tid, "commit_tid": self.commit_tid,
                "object": self.object, "offset": self.offset,
                "timestamp": None if self.timestamp_ns is None else format_time_ns(self.timestamp_ns)}


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event that was not applied, where, and why."""

    position: EntryPosition
    event: str
    reason: str
    data: bool  # the target's bytes may differ from the image's because of it

    def __str__(self) -> str:
        return f"{self.event} at {self.position}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "position": self.position.to_json(), "reason": self.reason,
                "affects_data": self.data}


@dataclass
class ReplayResult:
    target: str
    by_type: dict[str, TypeCount] = field(default_factory=dict)
    entries: int = 0  # entries the walk yielded
    before_start: int = 0  # entries before the start position
    applied: int = 0
    clipped: int = 0  # IO events at or beyond the image size (no-op) or crossing it (clipped)
    compare_mismatches: int = 0
    failed_ops: int = 0  # ops whose OpFinish says they failed (not applied)
    not_applied: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # damaged entries met (the corruption policy's errors)
    notes: list[str] = field(default_factory=list)
    first_replayed: EntryPosition | None = None
    last_replayed: EntryPosition | None = None
    stopped: str = "end of the journal"
    stopped_at: EntryPosition | None = None  # the first entry not applied, when the replay stopped before one
    complete: bool = True  # False: stopped early on damage or an error
    started: bool = False
    size: int | None = None
    #: for a target of unknown size: the last snapshot created since the start with no Resize after it
    #: (its recorded size is the image size at the stop), and whether a Resize follows the stop point
    size_snapshot: str | None = None
    resize_after_stop: bool = False

    def count(self, event: str) -> TypeCount:
        counter = self.by_type.get(event)
        if counter is None:
            counter = self.by_type[event] = TypeCount()
        return counter

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "entries": self.entries,
            "before_start": self.before_start,
            "applied": self.applied,
            "by_type": {k: v.to_json() for k, v in sorted(self.by_type.items())},
            "clipped": self.clipped,
            "compare_mismatches": self.compare_mismatches,
            "failed_ops": self.failed_ops,
            "not_applied": [s.to_json() for s in self.not_applied],
            "problems": [p.to_json() for p in self.problems],
            "notes": self.notes,
            "first_replayed": self.first_replayed.to_json() if self.first_replayed else None,
            "last_replayed": self.last_replayed.to_json() if self.last_replayed else None,
            "stopped": self.stopped,
            "stopped_at": self.stopped_at.to_json() if self.stopped_at else None,
            "complete": self.complete,
            "image_size": self.size,
        }


@dataclass(slots=True)
class _PendingOp:
    event: Event
    position: EntryPosition
    snapshot_taken: bool = False


class Replayer:
    """Apply the entries of ``walk`` to ``target`` under ``options``; :meth:`run` returns the result."""

    def __init__(self, walk: JournalWalk, target: ReplayTarget, options: ReplayOptions,
                 on_start: Callable[[], None] | None = None) -> None:
        self.walk = walk
        self.target = target
        self.options = options
        self.on_start = on_start
        self.result = ReplayResult(target.description)
        self._ops: dict[int, _PendingOp] = {}
        self._first: tuple[JournalEntry, int | None] | None = None
        self._last: tuple[JournalEntry, int | None] | None = None

    def run(self) -> ReplayResult:
        options, result = self.options, self.result
        started = options.from_snapshot is None and options.from_position is None
        if started:
            self._start()
        problems = self.walk.problems
        seen = len(problems)
        held: list[Problem] = []  # damage the walk found ahead of the entries it yields (it reads whole objects)
        creates = 0  # SnapCreate events met before the start
        width = max(self.walk.journal.splay_width or 1, 1)
        entries = iter(self.walk)
        try:
            for entry in entries:
                result.entries += 1
                if len(problems) != seen:
                    held.extend(p for p in problems[seen:] if p.damages_data)
                    seen = len(problems)
                if held:
                    passed = [p for p in held if _damage_precedes(p, entry, width, self.walk.journal.object_name)]
                    if passed:
                        held = [p for p in held if p not in passed]
                        result.problems.extend(passed)
                        if options.policy.mode == "stop":
                            self._stop_on_damage(passed[0], entry)
                            break
                try:
                    event = read_event(entry.payload)
                except FormatError as exc:
                    if started:
                        self._skip(EntryPosition.of(entry), "undecodable event", f"not applied: {exc}", data=True)
                    continue
                if not started:
                    result.before_start += 1
                    if options.from_position is not None:
                        if (entry.tag_tid, entry.entry_tid) != options.from_position:
                            continue
                        started = True
                        self._start()
                    else:
                        if event.type_id == lj.SNAP_CREATE:
                            creates += 1
                            wanted = options.from_snapshot_ordinal
                            if (creates - 1 == wanted if wanted is not None
                                    else event.fields.get("snap_name") == options.from_snapshot):
                                if event.fields.get("snap_name") != options.from_snapshot:
                                    raise ReplayError(f"the journal changed while it was read: SnapCreate number {wanted} "
                                                      f"is not of {options.from_snapshot!r}")
                                started = True
                                self._start()
                        continue
                    result.before_start -= 1
                if options.until_ns is not None and event.timestamp_ns and event.timestamp_ns >= options.until_ns:
                    result.stopped = f"--until {format_time_ns(options.until_ns)} reached"
                    result.stopped_at = EntryPosition.of(entry, event.timestamp_ns)
                    break
                self._apply(entry, event)
                if options.to_position is not None and (entry.tag_tid, entry.entry_tid) == options.to_position:
                    result.stopped = "--to position reached (applied)"
                    break
            else:
                result.problems.extend(held + [p for p in problems[seen:] if p.damages_data])
                if result.problems:
                    result.complete = False
                    if options.policy.mode == "stop":
                        result.stopped = f"end of the journal, after damaged entries: {result.problems[0]}"
                if not started:
                    what = (f"snapshot {options.from_snapshot!r} (no SnapCreate event of it)" if options.from_snapshot
                            else f"entry {options.from_position[0]}:{options.from_position[1]}"
                            if options.from_position else "start")
                    raise ReplayError(f"the journal's replayable entries do not contain the start: {what}",
                                      errno=errno.ENOENT)
                if options.to_position is not None:
                    result.stopped = (f"end of the journal: --to {options.to_position[0]}:{options.to_position[1]} "
                                      "was not found")
                    result.complete = False
        except ReplayStop:
            pass
        try:
            if self.target.size is None and (result.stopped_at is not None or result.stopped.startswith("--to ")):
                result.resize_after_stop = self._resize_follows(entries)
        finally:
            close = getattr(entries, "close", None)
            if close is not None:
                close()
        for op in self._ops.values():
            if op.snapshot_taken:
                self.target.snap_create_finished(str(op.event.fields.get("snap_name")), False)
            self._skip(op.position, op.event.name, "in flight at the stop point (no OpFinish yet)",
                       data=op.event.type_id not in METADATA_ONLY)
        self._ops.clear()
        if self._first is not None and self._last is not None:
            result.first_replayed = EntryPosition.of(*self._first)
            result.last_replayed = EntryPosition.of(*self._last)
        if result.problems and options.policy.mode == "skip":
            result.complete = False
        result.size = self.target.size
        return result

    @staticmethod
    def _resize_follows(entries: Any) -> bool:
        """Whether a Resize event comes in the rest of the walk (then the image's current size is not the size at the stop)."""
        from ..format.event_fastpath import fast_event_type

        for entry in entries:
            kind = fast_event_type(entry.payload)
            if kind is None:
                try:
                    kind = read_event(entry.payload).type_id
                except FormatError:
                    continue
            if kind == lj.RESIZE:
                return True
        return False

    def _start(self) -> None:
        self.result.started = True
        if self.on_start is not None:
            self.on_start()

    def _stop_on_damage(self, problem: Problem, entry: JournalEntry) -> None:
        self.result.stopped = f"damaged journal: {problem}"
        self.result.stopped_at = EntryPosition.of(entry)
        self.result.complete = False

    def _skip(self, position: EntryPosition, event: str, reason: str, *, data: bool) -> None:
        self.result.not_applied.append(Skipped(position, event, reason, data))
        if data and self.options.strict:
            self.result.stopped = f"--strict: {event} cannot be applied: {reason}"
            self.result.stopped_at = position
            self.result.complete = False
            raise ReplayStop

    # -- applying ---------------------------------------------------------------------------------
    def _apply(self, entry: JournalEntry, event: Event) -> None:
        result = self.result
        counter = result.count(event.name)
        counter.events += 1
        t = event.type_id
        fields = event.fields
        applied = True
        if t in IO_EVENTS:
            if t == lj.AIO_FLUSH:
                self.target.flush()
            else:
                applied = self._apply_io(event, counter)
        elif t == lj.OP_FINISH:
            applied = self._op_finish(event)
        elif t in OP_EVENTS:
            op_tid = int(fields.get("op_tid", 0))
            position = EntryPosition.of(entry, event.timestamp_ns)
            if op_tid in self._ops:
                applied = False
                self._skip(position, event.name, f"op tid {op_tid} is already in flight (Ceph: -EINVAL)", data=False)
            else:
                op = self._ops[op_tid] = _PendingOp(event, position)
                applied = False  # counted when its OpFinish applies it
                if t == lj.SNAP_CREATE:
                    result.size_snapshot = str(fields.get("snap_name"))
                    op.snapshot_taken = applied = self._call(position, event, lambda: self.target.snap_create(
                        str(fields.get("snap_name"))))
        elif t == lj.DEMOTE_PROMOTE:
            pass  # recorded: nothing to apply (Ceph's replay completes it at once)
        else:
            applied = False
            self._skip(EntryPosition.of(entry, event.timestamp_ns), event.name, "unknown event type", data=True)
        if applied:
            counter.applied += 1
            result.applied += 1
        # the target is now the image as of right after this entry (whether or not the event changed it)
        if self._first is None:
            self._first = (entry, event.timestamp_ns)
        self._last = (entry, event.timestamp_ns)

    def _apply_io(self, event: Event, counter: TypeCount) -> bool:
        target, t, fields = self.target, event.type_id, event.fields
        offset = int(fields["offset"])
        length = int(fields["length"])
        size = target.size
        if size is not None:
            if offset >= size:
                self.result.clipped += 1
                return False
            if offset + length > size:
                self.result.clipped += 1
                length = size - offset
        if t == lj.AIO_WRITE:
            data = fields["data"]
            if len(data) > length:
                data = data[:length]
            target.write(offset, data)
            counter.bytes += len(data)
        elif t == lj.AIO_DISCARD:
            for start, size_ in discard_ranges(offset, length, discard_granularity(event), self.options.object_size):
                target.zero(start, size_)
                counter.bytes += size_
        elif t == lj.AIO_WRITESAME:
            data = write_same_bytes(offset, length, bytes(fields["data"]))
            target.write(offset, data)
            counter.bytes += len(data)
        else:  # compare and write
            compare = bytes(fields["cmp_data"])[:length]
            data = bytes(fields["write_data"])[:length]
            current = target.read(offset, len(compare))
            if current is not None:
                current = current + bytes(len(compare) - len(current))
                if current != compare:
                    self.result.compare_mismatches += 1
                    return True  # applied: the primary did not write either
            target.write(offset, data)
            counter.bytes += len(data)
        return True

    def _op_finish(self, finish: Event) -> bool:
        """Finish (apply, when it succeeded) the op ``finish`` names; False when that op was before the start."""
        op_tid = int(finish.fields.get("op_tid", 0))
        op = self._ops.pop(op_tid, None)
        if op is None:
            return False  # its op was before the start: "assuming previously committed"
        event, fields, target = op.event, op.event.fields, self.target
        succeeded = int(finish.fields.get("result", 0)) == 0
        if event.type_id == lj.SNAP_CREATE:
            if op.snapshot_taken:
                target.snap_create_finished(str(fields.get("snap_name")), succeeded)
            if not succeeded:
                self.result.failed_ops += 1
            return True
        if not succeeded:
            self.result.failed_ops += 1
            return True
        t = event.type_id
        actions: dict[int, Callable[[], None]] = {
            lj.RESIZE: lambda: self._resize(int(fields["size"])),
            lj.SNAP_REMOVE: lambda: target.snap_remove(str(fields["snap_name"])),
            lj.SNAP_RENAME: lambda: self._rename(fields),
            lj.SNAP_PROTECT: lambda: target.snap_protect(str(fields["snap_name"]), True),
            lj.SNAP_UNPROTECT: lambda: target.snap_protect(str(fields["snap_name"]), False),
            lj.SNAP_ROLLBACK: lambda: target.snap_rollback(str(fields["snap_name"])),
            lj.FLATTEN: target.flatten,
            lj.SNAP_LIMIT: lambda: target.snap_limit(int(fields["limit"])),
            lj.METADATA_SET: lambda: target.metadata_set(str(fields["key"]), str(fields["value"])),
            lj.METADATA_REMOVE: lambda: target.metadata_remove(str(fields["key"])),
        }
        action = actions.get(t)
        if action is None:  # Rename, UpdateFeatures: the target's name and features are the operator's
            self._skip(op.position, event.name, "recorded, not applied to the target", data=False)
            return True
        if self._call(op.position, event, action):
            self.result.count(event.name).applied += 1
            self.result.applied += 1
        return True

    def _resize(self, size: int) -> None:
        self.target.resize(size)
        self.result.size_snapshot = None  # the size is known from here on

    def _rename(self, fields: dict[str, Any]) -> None:
        source = fields.get("src_snap_name")
        if not source:
            raise NotApplicable("the event (struct v1) names the snapshot by id only")
        self.target.snap_rename(str(source), str(fields["dest_snap_name"]))

    def _call(self, position: EntryPosition, event: Event, action: Callable[[], None]) -> bool:
        try:
            action()
            return True
        except NotApplicable as exc:
            self._skip(position, event.name, str(exc), data=event.type_id not in METADATA_ONLY)
        except OSError as exc:
            raise ReplayError(f"{event.name} at {position}: target {self.target.description}: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__ == "rbd":
                raise ReplayError(f"{event.name} at {position}: target {self.target.description}: {exc}") from exc
            raise
        return False


def _damage_precedes(problem: Problem, entry: JournalEntry, width: int, name_of: Callable[[int], str]) -> bool:
    """Whether ``problem`` lies before ``entry`` in replay order (so the replay has reached it).

    With a tag and entry tid: by (tag, tid) (a tid gap names the entry after the gap); by
    object and byte offset otherwise: an earlier offset of the same object, or an object of
    the same splay offset the walk has left behind.  A problem with no place stops at once.
    """
    if problem.tag_tid is not None and problem.entry_tid is not None:
        return (problem.tag_tid, problem.entry_tid) <= (entry.tag_tid, entry.entry_tid)
    if problem.object is None:
        return True
    if problem.object == entry.object_name:
        return problem.offset is None or problem.offset <= entry.offset
    number = entry.object_number
    behind = number - width
    while behind >= 0:
        if name_of(behind) == problem.object:
            return True
        behind -= width
        if number - behind > width * 64:  # far enough: an object set long gone
            return True
    return False


class ReplayStop(Exception):  # noqa: N818 - control flow inside the replayer
    """--strict met an event the target cannot apply."""


def snapshot_create_ordinal(walk: JournalWalk, name: str) -> int | None:
    """Which SnapCreate event (0-based, among all SnapCreate events in walk order) made snapshot ``name`` as it exists
    at the end of the journal: a name can be removed and created again, or given by a rename.

    Follows successful ops only (OpFinish result 0).  None: the journal's entries do not create it
    (taken before the first entry the walk replays, or removed since).  Reads the whole journal
    (event types only, but for snapshot events).
    """
    from ..format.event_fastpath import fast_event_type

    creates = 0
    names: dict[str, int] = {}  # snapshot name now -> ordinal of the SnapCreate that made it
    ops: dict[int, tuple[int, dict[str, Any], int]] = {}
    snap_ops = (lj.SNAP_CREATE, lj.SNAP_REMOVE, lj.SNAP_RENAME)
    for entry in walk:
        kind = fast_event_type(entry.payload)
        if kind is not None and kind not in (lj.OP_FINISH, *snap_ops):
            continue
        try:
            event = read_event(entry.payload)
        except FormatError:
            continue
        if event.type_id in snap_ops:
            ordinal = creates
            if event.type_id == lj.SNAP_CREATE:
                creates += 1
            ops.setdefault(int(event.fields.get("op_tid", 0)), (event.type_id, event.fields, ordinal))
        elif event.type_id == lj.OP_FINISH:
            op = ops.pop(int(event.fields.get("op_tid", 0)), None)
            if op is None or int(event.fields.get("result", 0)) != 0:
                continue
            kind, fields, ordinal = op
            if kind == lj.SNAP_CREATE:
                names[str(fields.get("snap_name"))] = ordinal
            elif kind == lj.SNAP_REMOVE:
                names.pop(str(fields.get("snap_name")), None)
            elif fields.get("src_snap_name") is not None and str(fields["src_snap_name"]) in names:
                names[str(fields["dest_snap_name"])] = names.pop(str(fields["src_snap_name"]))
    for _op_tid, (kind, fields, ordinal) in ops.items():  # a SnapCreate not finished yet: the snapshot is being made
        if kind == lj.SNAP_CREATE and str(fields.get("snap_name")) not in names:
            names[str(fields.get("snap_name"))] = ordinal
    return names.get(name)


def replay(walk: JournalWalk, target: ReplayTarget, options: ReplayOptions,
           on_start: Callable[[], None] | None = None) -> ReplayResult:
    """Apply ``walk``'s entries to ``target``; see the module docstring for the semantics."""
    return Replayer(walk, target, options, on_start).run()


__all__ = [
    "DEFAULT_OBJECT_SIZE",
    "Event",
    "FileTarget",
    "NotApplicable",
    "NullTarget",
    "RbdImageTarget",
    "ReplayError",
    "ReplayOptions",
    "ReplayResult",
    "ReplayTarget",
    "discard_ranges",
    "parse_position",
    "parse_time_ns",
    "read_event",
    "replay",
    "snapshot_create_ordinal",
]
