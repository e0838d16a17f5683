"""Wall time and peak RSS of one child process, and the machine's read + crc32c limit.

Peak RSS is the child's own ``ru_maxrss`` from ``wait4(2)`` (Linux reports KiB),
so nothing of the benchmark driver is counted.  The limit loops read the same
bytes the tools read, the fastest way found here (a directory store: each file
mapped and crc'd in place, 1 MiB per crc call; librados: 1 MiB aio reads, 8 in flight,
where huge pages made no difference), and run the same hardware crc32c
over them (journaltools/format/crc.py), with no framing: what any reader of this
journal on this machine needs at least.

Run as a module for the limit loops in a fresh process::

    python -m benchmarks.measure limit-store STORE_DIR POOL PREFIX [--reused|--read]
    python -m benchmarks.measure limit-rados CEPH_CONF POOL PREFIX [--serial]
    python -m benchmarks.measure walk STORE_DIR|CEPH_CONF POOL JOURNAL_ID [--all]

Each prints one JSON line: ``{"seconds": ..., "bytes": ...}`` (time measured inside the process; the
walk also lists the modules imported while its clock ran: ``imported_inside``).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 4 << 20


@dataclass
class Run:
    """One timed child process."""

    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stdout: bytes
    stderr: bytes
    cpu_seconds: float = 0.0  # user + sys of the child (wait4): what the machine's load distorts least


@dataclass
class Timing:
    """Repeated runs of one command: the median wall time and the largest peak RSS."""

    runs: list[Run] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def peak_rss(self) -> int:
        return max(r.peak_rss for r in self.runs)

    @property
    def ok(self) -> bool:
        return all(r.returncode == 0 for r in self.runs)


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None, stdout_path: Path | None = None) -> Run:
    """Run ``argv``; time it from fork to exit and read its peak RSS from ``wait4``."""
    out_fh = open(stdout_path, "wb") if stdout_path is not None else None  # noqa: SIM115 - closed below
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, stdout=out_fh or subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = b"", b""
        if out_fh is None:
            assert proc.stdout is not None
            stdout = proc.stdout.read()
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if out_fh is not None:
            out_fh.close()
    return Run(seconds, usage.ru_maxrss * 1024, proc.returncode, stdout, stderr, usage.ru_utime + usage.ru_stime)


def repeat(argv_for: Callable[[int], Sequence[str]], times: int, *, env: dict[str, str] | None = None,
           before: Callable[[], None] | None = None, stdout_path: Path | None = None) -> Timing:
    """``times`` runs of ``argv_for(i)``; ``before`` runs ahead of each (e.g. removing an output file)."""
    timing = Timing()
    for i in range(times):
        if before is not None:
            before()
        timing.runs.append(run_child(argv_for(i), env=env, stdout_path=stdout_path))
    return timing


# -- the limit loops (run in a fresh process through ``python -m benchmarks.measure``) --------------
def _crc() -> Callable[[bytes | memoryview], int]:
    from journaltools.format.crc import ceph_crc32c

    return ceph_crc32c


#: the directory limit's read size: 1 MiB and 4 MiB reads into the reused buffer are as fast (measured here)
STORE_CHUNK = 1 << 20


def _reused_buffer(size: int) -> memoryview:
    """One buffer of ``size`` bytes for every read, in transparent huge pages where the kernel gives them
    (an anonymous mapping advised MADV_HUGEPAGE, its view starting on a 2 MiB boundary): reads into it
    fault nothing in after the first, and copy into fewer, larger pages."""
    import ctypes
    import mmap

    huge = 2 << 20
    region = mmap.mmap(-1, size + huge)
    with contextlib.suppress(AttributeError, OSError):  # no MADV_HUGEPAGE here: plain pages
        region.madvise(mmap.MADV_HUGEPAGE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(region))
    start = -address % huge
    return memoryview(region)[start : start + size]


def limit_store(store_dir: Path, pool: str, prefix: str, strategy: str = "map") -> tuple[float, int]:
    """Read every object of ``pool`` named ``prefix*`` from a directory store in chunks, crc32c each chunk.

    ``strategy`` ``map`` (the limit row): each file mapped read-only and crc'd in place, :data:`STORE_CHUNK`
    bytes per crc call, the fastest reader found here (200 MiB, 5 interleaved rounds: 0.031-0.035 s, against
    0.041-0.047 s for ``reused``); ``reused``: :data:`STORE_CHUNK` reads into one reused buffer in huge pages
    (:func:`_reused_buffer`; the limit row until the walk mapped its objects too); ``read``: a new
    :data:`CHUNK` ``bytes`` per read (the limit row before that)."""
    import mmap

    crc = _crc()
    objects = store_dir / pool / "objects"
    names = sorted(p for p in objects.iterdir() if p.name.startswith(prefix))
    total = 0
    buffer = _reused_buffer(STORE_CHUNK) if strategy == "reused" else None
    start = time.perf_counter()
    for path in names:
        if strategy == "map":
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                if size:
                    with mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mapped:
                        view = memoryview(mapped)
                        for offset in range(0, size, STORE_CHUNK):
                            chunk = view[offset : offset + STORE_CHUNK]
                            crc(chunk)
                            total += len(chunk)
                        del chunk
                        view.release()
            finally:
                os.close(fd)
            continue
        with open(path, "rb", buffering=0) as fh:
            if buffer is None:
                while chunk := fh.read(CHUNK):
                    crc(chunk)
                    total += len(chunk)
                continue
            while n := fh.readinto(buffer):
                crc(buffer[:n])
                total += n
    return time.perf_counter() - start, total


def limit_rados(conf: Path, pool: str, prefix: str, strategy: str = "aio") -> tuple[float, int]:
    """The same over librados: connect, list, then read + crc32c every object.

    ``strategy`` ``aio`` (the limit row): every object's size from one round of aio stats, then
    :data:`AIO_CHUNK` reads with :data:`AIO_DEPTH` in flight across the objects, each chunk crc'd in
    order as it comes back (what the fastest reader here does: 1 MiB reads beat 4 MiB and 16 MiB ones,
    and several in flight beat one); ``serial``: one :data:`CHUNK` read after the other (the limit row
    before the walk read ahead with aio).
    """
    import rados

    crc = _crc()
    start = time.perf_counter()
    cluster = rados.Rados(conffile=str(conf))
    cluster.connect()
    total = 0
    try:
        with cluster.open_ioctx(pool) as ioctx:
            names = sorted(o.key for o in ioctx.list_objects() if o.key.startswith(prefix))
            if strategy == "serial":
                for name in names:
                    offset = 0
                    while True:
                        chunk = ioctx.read(name, CHUNK, offset)
                        crc(chunk)
                        offset += len(chunk)
                        if len(chunk) < CHUNK:
                            break
                    total += offset
            else:
                total = _aio_read_all(ioctx, names, crc)
    finally:
        cluster.shutdown()
    return time.perf_counter() - start, total


#: the aio limit loop's read size and reads in flight (journaltools' aio read-ahead uses the same)
AIO_CHUNK = 1 << 20
AIO_DEPTH = 8


def _aio_read_all(ioctx: object, names: list[str], crc: Callable[[bytes], int]) -> int:
    from collections import deque

    sizes: dict[str, int] = {}
    stats = [ioctx.aio_stat(n, lambda c, size, mtime, n=n: sizes.__setitem__(n, size or 0))  # type: ignore[attr-defined]
             for n in names]
    for completion in stats:
        completion.wait_for_complete_and_cb()
    plan = deque((n, off) for n in names for off in range(0, sizes[n], AIO_CHUNK))
    flight: deque[tuple[object, list[bytes]]] = deque()
    total = 0
    while plan or flight:
        while plan and len(flight) < AIO_DEPTH:
            name, offset = plan.popleft()
            box: list[bytes] = []
            flight.append((ioctx.aio_read(name, AIO_CHUNK, offset, lambda c, data, b=box: b.append(data)), box))  # type: ignore[attr-defined]
        completion, box = flight.popleft()
        completion.wait_for_complete_and_cb()  # type: ignore[attr-defined]
        crc(box[0])
        total += len(box[0])
    return total


def import_what_the_walk_loads(live: bool) -> None:
    """Import the modules a walk of this backend loads on first use, before the clock starts, as the limit
    loops import theirs (``rados``, the crc) before theirs: the walk's row then times what the limit row
    times, opening and reading the journal, not Python's imports (start-up is its own comparison,
    :mod:`benchmarks.startup`, and every command row includes it)."""
    import journaltools.format.event_fastpath  # noqa: F401 - the walk's event check
    import journaltools.journal.walk  # noqa: F401

    if live:
        import rados  # noqa: F401

        import journaltools.store.rados  # noqa: F401
    else:
        import json  # noqa: F401 - the directory store's metadata
        import pathlib  # noqa: F401

        import journaltools.store.directory  # noqa: F401


def walk_journal(source: str, pool: str, journal_id: str, all_entries: bool) -> tuple[float, int, list[str]]:
    """The library walk (Journal.open(...).walk()), consuming every entry; also the modules imported while
    the clock ran (none of the walk's own: :func:`import_what_the_walk_loads`)."""
    from journaltools.journal import Journal
    from journaltools.store import open_store

    live = source.endswith(".conf")
    import_what_the_walk_loads(live)
    before = set(sys.modules)
    start = time.perf_counter()
    store = open_store(conf=source) if live else open_store(store_dir=source)
    walk = Journal.open(store.pool(pool), journal_id).walk(all_entries=all_entries)
    total = 0
    for entry in walk:
        total += entry.size
    seconds = time.perf_counter() - start
    return seconds, total, sorted(set(sys.modules) - before)


def main(argv: Sequence[str]) -> int:
    import json

    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    what, source, pool, name = argv[:4]
    if what == "limit-store":
        strategy = next((s.removeprefix("--") for s in argv[4:] if s in ("--read", "--reused")), "map")
        seconds, total = limit_store(Path(source), pool, name, strategy)
    elif what == "limit-rados":
        seconds, total = limit_rados(Path(source), pool, name, "serial" if "--serial" in argv[4:] else "aio")
    elif what == "walk":
        seconds, total, imported = walk_journal(source, pool, name, "--all" in argv[4:])
        print(json.dumps({"seconds": seconds, "bytes": total, "imported_inside": imported}))
        return 0
    else:
        print(f"unknown measurement {what!r}", file=sys.stderr)
        return 2
    print(json.dumps({"seconds": seconds, "bytes": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
