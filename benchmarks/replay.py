"""Time ``journaltools journal replay`` of the benchmark journal next to ``rbd export`` of the same image.

    .venv/bin/python -m benchmarks.replay                      # own sandbox, 200 MiB journal, 3 rounds
    .venv/bin/python -m benchmarks.replay --conf CONF --pool bench --image bench   # an existing journal

The journal is the one benchmarks/cluster.py ``make_journal`` builds (``rbd bench`` 4 KiB
sequential writes after a lagging client is registered, so nothing is trimmed).  Each
round, in fresh processes: ``rbd export`` of the image (the reference: the same bytes
through librbd), ``journaltools journal replay`` onto a new file, live and on a directory
store made by ``journaltools acquire``, and a ``--dry-run``; ``sync`` before each.  Every
replayed file must equal the export byte for byte.  Peak RSS is each process's own
``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from .cluster import Sandbox, make_journal

ROOT = Path(__file__).resolve().parent.parent
JOURNALTOOLS = str(ROOT / ".venv" / "bin" / "journaltools")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system, all threads), peak RSS in KiB) of one command (it must succeed)."""
    subprocess.run(["sync"], check=True)
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", help="an existing cluster's ceph.conf (with --pool/--image: no sandbox)")
    parser.add_argument("--pool", default="bench")
    parser.add_argument("--image", default="bench")
    parser.add_argument("--dir", default="/tmp/jt-replay-bench", help="sandbox directory")
    parser.add_argument("--port", type=int, default=47080)
    parser.add_argument("--io-total", type=int, default=200 << 20, help="bytes of 4 KiB writes (200 MiB)")
    parser.add_argument("--out-dir", help="where replayed files go (default: a temporary directory)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    box = None
    if args.conf:
        conf = Path(args.conf)
    else:
        box = Sandbox.start(Path(args.dir), args.port, memstore_bytes=(args.io_total * 3) + (1 << 30))
        conf = box.conf
        make_journal(box, io_total=args.io_total, image_size=args.io_total + (56 << 20),
                     pool=args.pool, image=args.image)
    env = dict(os.environ, CEPH_CONF=str(conf))
    offline_env = {k: v for k, v in env.items() if k != "CEPH_CONF"}
    out = Path(args.out_dir or tempfile.mkdtemp(prefix="jt-replay-"))
    out.mkdir(parents=True, exist_ok=True)
    spec = f"{args.pool}/{args.image}"
    try:
        store = out / "acquired"
        subprocess.run([JOURNALTOOLS, "acquire", str(store), "-p", args.pool, "--image", args.image], env=env,
                       check=True, capture_output=True)
        journal_id = subprocess.run(["rbd", "info", spec, "--format", "json"], env=env, check=True,
                                    capture_output=True, text=True).stdout.split('"id":"')[1].split('"')[0]
        size = int(subprocess.run(["rbd", "info", spec, "--format", "json"], env=env, check=True, capture_output=True,
                                  text=True).stdout.split('"size":')[1].split(",")[0])
        journal_bytes = sum(p.stat().st_size for p in (store / args.pool / "objects").glob("journal_data.*"))
        rows: dict[str, list[tuple[float, float, int]]] = {}
        for _ in range(args.repeat):
            for name in ("head.raw", "live.raw", "offline.raw"):
                (out / name).unlink(missing_ok=True)
            runs = {
                "rbd export IMAGE": (["rbd", "export", "--no-progress", spec, str(out / "head.raw")], env),
                "journaltools journal replay (live)": ([JOURNALTOOLS, "journal", "replay", spec, str(out / "live.raw")], env),
                "journaltools journal replay (offline)": ([JOURNALTOOLS, "--store", str(store), "journal", "replay",
                                                           f"{args.pool}/{journal_id}", str(out / "offline.raw"),
                                                           "--size", str(size)], offline_env),
                "journaltools journal replay --dry-run (live)": ([JOURNALTOOLS, "journal", "replay", spec, "--dry-run"],
                                                                 env),
            }
            for label, (argv, run_env) in runs.items():
                rows.setdefault(label, []).append(timed(argv, run_env))
            for name in ("live.raw", "offline.raw"):
                if not filecmp.cmp(out / "head.raw", out / name, shallow=False):
                    raise SystemExit(f"{name} differs from rbd export {spec}")
        print(f"journal: {journal_bytes} bytes of data objects; image {spec}: {size} bytes; {args.repeat} rounds; "
              f"every replayed file equal to rbd export")
        print("| command | median s | min-max s | CPU s (median) | MB/s of journal | peak RSS MiB |")
        print("|---|---|---|---|---|---|")
        for label, values in rows.items():
            walls = [w for w, _, _ in values]
            median = statistics.median(walls)
            cpu = statistics.median(c for _, c, _ in values)
            print(f"| {label} | {median:.2f} | {min(walls):.2f}-{max(walls):.2f} | {cpu:.2f} | "
                  f"{journal_bytes / median / 1e6:.0f} | {max(r for _, _, r in values) / 1024:.0f} |")
    finally:
        if not args.out_dir:
            shutil.rmtree(out, ignore_errors=True)
        if box is not None:
            box.stop()


if __name__ == "__main__":
    main()
