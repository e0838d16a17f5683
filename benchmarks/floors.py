"""What a walk of a directory store costs beyond the read + crc32c limit, measured in one process.

    python -m benchmarks.floors STORE_DIR POOL JOURNAL_ID [--rounds N]

Prints one JSON line, medians of ``N`` rounds (default 7), in seconds:

- ``first_walk``: ``Journal.open(...).walk()`` consumed, the process's first (its chunks in fresh memory);
- ``warm_walk``: the same again (the chunks reuse the memory the first walk touched);
- ``warm_count``: ``walk().count()``, what ``journal inspect`` walks (no entry objects, payloads let go);
- ``limit``: :func:`benchmarks.measure.limit_store`, the limit row's loop;
- ``consume``: the consumer's own loop (``for entry in entries: total += entry.size``) over a list of the
  walk's entries, made before the clock: what any walk yielding one Python object per entry costs at least;
- ``first_touch_64m_4k`` / ``first_touch_64m_huge``: writing one byte per 4 KiB page of a fresh 64 MiB
  anonymous mapping (plain, and advised for transparent huge pages): what fresh memory costs here.

``warm_walk - warm_count`` is the cost of the entry objects; ``first_walk - warm_walk`` that of fresh memory
(docs/performance.md, "Why the walk misses").
"""

from __future__ import annotations

import json
import mmap
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .measure import import_what_the_walk_loads, limit_store


def _walk(store_dir: str, pool: str, journal_id: str, count: bool) -> float:
    from journaltools.journal import Journal
    from journaltools.store import open_store

    start = time.perf_counter()
    walk = Journal.open(open_store(store_dir=store_dir).pool(pool), journal_id).walk()
    if count:
        walk.count()
    else:
        total = 0
        for entry in walk:
            total += entry.size
    return time.perf_counter() - start


def _first_touch(mib: int, huge: bool) -> float:
    region = mmap.mmap(-1, mib << 20)
    if huge and hasattr(mmap, "MADV_HUGEPAGE"):
        region.madvise(mmap.MADV_HUGEPAGE)
    start = time.perf_counter()
    for offset in range(0, mib << 20, 4096):
        region[offset] = 1
    seconds = time.perf_counter() - start
    region.close()
    return seconds


def _consume(store_dir: str, pool: str, journal_id: str) -> float:
    from journaltools.journal import Journal
    from journaltools.store import open_store

    entries = list(Journal.open(open_store(store_dir=store_dir).pool(pool), journal_id).walk())
    start = time.perf_counter()
    total = 0
    for entry in entries:
        total += entry.size
    return time.perf_counter() - start


def floors(store_dir: str, pool: str, journal_id: str, rounds: int = 7) -> dict[str, float]:
    import_what_the_walk_loads(live=False)
    first = _walk(store_dir, pool, journal_id, count=False)
    prefix = f"journal_data.{_pool_id(store_dir, pool)}.{journal_id}."
    return {
        "first_walk": first,
        "warm_walk": statistics.median(_walk(store_dir, pool, journal_id, False) for _ in range(rounds)),
        "warm_count": statistics.median(_walk(store_dir, pool, journal_id, True) for _ in range(rounds)),
        "limit": statistics.median(limit_store(Path(store_dir), pool, prefix)[0] for _ in range(rounds)),
        "consume": statistics.median(_consume(store_dir, pool, journal_id) for _ in range(3)),
        "first_touch_64m_4k": statistics.median(_first_touch(64, False) for _ in range(3)),
        "first_touch_64m_huge": statistics.median(_first_touch(64, True) for _ in range(3)),
    }


def _pool_id(store_dir: str, pool: str) -> int:
    from journaltools.store import open_store

    return open_store(store_dir=store_dir).pool(pool).pool_id


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    rounds = 7
    if "--rounds" in args:
        at = args.index("--rounds")
        rounds = int(args[at + 1])
        del args[at : at + 2]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps({k: round(v, 6) for k, v in floors(*args, rounds=rounds).items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
