"""Sweep single faults over the fixture journals and count walks that report more than one error.

One fault in one object must be one problem (its effects are follow-ons).  The sweeps walk every
faulted copy with ``all_entries`` off and on and print, per fault kind, how many walks there were
and how many gave two errors or more, with the first few of those::

    .venv/bin/python -m tools.fault_sweep                 # frames, head bytes, random (seed 1)
    .venv/bin/python -m tools.fault_sweep random --seed 2 --cases 3000

``frames``: cut at every frame start (or emptied), each frame dropped, doubled, swapped with the
next one, or everything before it removed.  ``heads``: each byte of the head and first payload bytes
of an object's first, second, middle and last frame flipped, or two bytes inserted there.
``random``: the faults tests/test_walk_faults.py's hypothesis test draws (junk over, junk inserted,
truncated, deleted), from a seeded generator.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from collections.abc import Iterator

from journaltools.journal import Journal
from journaltools.journal.scan import scan_chunked
from tests.journal_factory import load_fixture_store

FIXTURE_JOURNALS = {"small_objects": "10abe81d9984", "all_events": "108bbb69e2b9"}

Fault = tuple[str, str, str, bytes | None]  # (kind, fixture, object, new bytes; None: the object removed)


def _objects(name: str) -> list[tuple[str, bytes]]:
    pool = load_fixture_store(name).pool("rbd")
    return [(obj, pool.read(obj)) for obj in sorted(pool.list_objects(f"journal_data.2.{FIXTURE_JOURNALS[name]}."))]


def _bounds(raw: bytes, obj: str) -> list[int]:
    healthy, _rest, _size = scan_chunked(lambda o, n: raw[o : o + n] if n else raw[o:], obj, 1 << 20, 1 << 24)
    return [*(f.offset for f in healthy), len(raw)]


def frame_faults() -> Iterator[Fault]:
    for name in sorted(FIXTURE_JOURNALS):
        for obj, raw in _objects(name):
            bounds = _bounds(raw, obj)
            for at in sorted({0, *bounds}):
                yield "cut", name, obj, raw[:at]
            for i in range(len(bounds) - 1):
                a, b = bounds[i], bounds[i + 1]
                yield "drop", name, obj, raw[:a] + raw[b:]
                yield "dup", name, obj, raw[:b] + raw[a:b] + raw[b:]
                yield "head", name, obj, raw[a:]
                if i + 2 < len(bounds):
                    c = bounds[i + 2]
                    yield "swap", name, obj, raw[:a] + raw[b:c] + raw[a:b] + raw[c:]


def head_faults() -> Iterator[Fault]:
    for name in sorted(FIXTURE_JOURNALS):
        for obj, raw in _objects(name):
            bounds = _bounds(raw, obj)
            frames = len(bounds) - 1
            for i in sorted({0, 1, frames // 2, frames - 1} & set(range(frames))):
                for k in [*range(33), 40, 60]:
                    at = bounds[i] + k
                    if at >= bounds[i + 1]:
                        continue
                    yield "flip", name, obj, raw[:at] + bytes([raw[at] ^ 0x5A]) + raw[at + 1 :]
                    yield "insert", name, obj, raw[:at] + b"\x00\x01" + raw[at:]


def random_faults(seed: int, cases: int) -> Iterator[Fault]:
    rng = random.Random(seed)
    objects = {name: _objects(name) for name in sorted(FIXTURE_JOURNALS)}
    for _ in range(cases):
        name = rng.choice(sorted(FIXTURE_JOURNALS))
        obj, raw = rng.choice(objects[name])
        at = rng.randint(0, len(raw))
        kind = rng.choice(["run", "insert", "truncate", "delete"])
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        blob = {"run": raw[:at] + junk + raw[at + len(junk) :], "insert": raw[:at] + junk + raw[at:],
                "truncate": raw[:at], "delete": None}[kind]
        yield kind, name, obj, blob


def sweep(faults: Iterator[Fault], show: int = 5) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per fault kind: the walks, those that found an error, those that found more than one."""
    walks: Counter[str] = Counter()
    found: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    for kind, name, obj, blob in faults:
        pool = load_fixture_store(name).pool("rbd")
        if blob is None:
            pool.remove(obj)
        else:
            pool.write_full(obj, blob)
        for all_entries in (False, True):
            walk = Journal.open(pool, FIXTURE_JOURNALS[name]).walk(all_entries=all_entries)
            walk.count()
            walks[kind] += 1
            errors = [p for p in walk.problems if p.severity == "error"]
            found[kind] += bool(errors)
            if len(errors) > 1:
                bad[kind] += 1
                if sum(bad.values()) <= show:
                    print(f"{kind} {name} {obj} all_entries={all_entries}:", *(f"\n  {p}" for p in errors))
    return walks, found, bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="*", metavar="frames|heads|random", help="which sweeps (default: all three)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=3000, help="random faults (default 3000)")
    args = parser.parse_args(argv)
    unknown = set(args.sweeps) - {"frames", "heads", "random"}
    if unknown:
        parser.error(f"unknown sweep {sorted(unknown)[0]!r} (frames, heads or random)")
    failed = 0
    for which in args.sweeps or ["frames", "heads", "random"]:
        faults = {"frames": frame_faults, "heads": head_faults,
                  "random": lambda: random_faults(args.seed, args.cases)}[which]()
        walks, _found, bad = sweep(faults)
        print(f"{which}: {sum(walks.values())} walks {dict(walks)}; more than one error: {sum(bad.values())} {dict(bad)}")
        failed += sum(bad.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
