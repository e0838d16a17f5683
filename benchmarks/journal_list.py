"""``journaltools journal list`` on a pool of many journaled images, against what rbd offers instead.

rbd has no journal listing: an operator runs ``rbd journal status`` image by image.
This times, in fresh processes (start-up included):

* ``journaltools journal list POOL`` (plain and ``--format json``),
* the same listing with the parallel calls switched off
  (``JOURNALTOOLS_SERIAL_STATS=1``: one stat and omap read after the other),
* the listing a pool too big to list gets (``--no-scan``: journals through rbd_directory, objects by name),
* ``rbd journal status --image NAME`` for ``--rbd-sample`` images, scaled to the pool.

Usage (a sandbox filled by :mod:`benchmarks.journaled_pool`)::

    python3 -m benchmarks.journaled_pool CEPH_CONF bench 1000
    .venv/bin/python -m benchmarks.journal_list CEPH_CONF bench --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, check=True)
    return time.monotonic() - start, proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("conf")
    parser.add_argument("pool")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rbd-sample", type=int, default=50)
    args = parser.parse_args(argv)
    exe = str(REPO / ".venv" / "bin" / "journaltools")
    env = dict(os.environ, CEPH_CONF=args.conf)
    base = [exe, "-c", args.conf, "journal", "list", args.pool]
    _, out = timed([*base, "--format", "json"], env)  # warm-up, and the pool's size
    journals = json.loads(out)
    objects = sum(j["objects"] for j in journals)
    results: dict[str, list[float]] = {"list": [], "list --format json": [], "list (serial)": [],
                                       "list, no listing (by name)": []}
    for _ in range(args.repeat):
        results["list"].append(timed(base, env)[0])
        results["list --format json"].append(timed([*base, "--format", "json"], env)[0])
        results["list (serial)"].append(timed(base, {**env, "JOURNALTOOLS_SERIAL_STATS": "1"})[0])
        results["list, no listing (by name)"].append(timed([*base, "--no-scan"], env)[0])
    names = [j["image"] for j in journals if j["image"]][: args.rbd_sample]
    start = time.monotonic()
    for name in names:
        subprocess.run(["rbd", "-c", args.conf, "journal", "status", "--pool", args.pool, "--image", name],
                       env=env, capture_output=True, check=True)
    per_image = (time.monotonic() - start) / max(len(names), 1)
    rows = {k: statistics.median(v) for k, v in results.items()}
    rows["rbd journal status, per image x journals"] = per_image * len(journals)
    print(f"{len(journals)} journals, {objects} data objects, median of {args.repeat} runs")
    for name, seconds in rows.items():
        spread = results.get(name)
        extra = f"  (min {min(spread):.2f}, max {max(spread):.2f})" if spread else f"  ({per_image:.3f} s per image)"
        print(f"{name:45s} {seconds:8.2f} s{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
