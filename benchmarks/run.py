"""journaltools against the real ``rbd journal inspect/export``, side by side in one run (GitHub issue #8).

What it does, end to end:

1. starts a throwaway single-node cluster (mon, mgr, one memstore OSD; loopback only),
2. per journal (``--journals``: by default 200 MiB of sequential and of random 4 KiB
   writes, and 1 GiB of sequential ones), creates a journaled image (splay width 4),
   registers a lagging journal client so nothing is trimmed, and fills the journal with
   the real ``rbd bench --io-type write --io-size 4K --io-pattern seq|rand``,
3. acquires the journal into a directory store (``journaltools acquire`` when the
   command exists, else :mod:`benchmarks.acquire`),
4. times, interleaved round by round: ``rbd journal inspect``, ``rbd journal export``,
   ``journaltools journal inspect`` and ``journaltools journal export --format rbd|json``
   on the live cluster (``-c``) and on the directory (``--store``); the library walk;
   and the machine limit (a plain chunked read + hardware crc32c loop over the same bytes),
5. prints the table (tool, command, backend, seconds, MB/s, share of the limit, peak RSS,
   ratio to rbd, goal, verdict) and writes it as Markdown and JSON.

Before the journals, on the same cluster: start-up on an empty journal (:mod:`benchmarks.startup`,
goal 1.5x of rbd; ``--startup-repeat 0`` skips it).

Seconds are the median wall time of ``--repeat`` runs (spread: the fastest and slowest round; after ``--warmup`` rounds that are not counted), each a fresh process (start-up
included, as a user sees it); peak RSS is the child's ``ru_maxrss``; MB/s is journal
bytes (the data objects) / seconds, MB = 10^6 bytes.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.run                 # 200 MiB and 1 GiB of 4 KiB writes
    .venv/bin/python -m benchmarks.run --quick         # one small journal, 2 runs each
    .venv/bin/python -m benchmarks.run --sizes 200M --repeat 5 --markdown docs/perf.md

Sandbox: ``--dir /tmp/h-bench-g1 --port 47010``; the cluster is stopped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import startup
from .acquire import acquire_journal
from .cluster import BenchJournal, Sandbox, make_journal
from .measure import Timing, run_child

REPO = Path(__file__).resolve().parent.parent
MB = 1_000_000
MiB = 1 << 20
IMAGE_SIZE = 64 * MiB  # rbd bench's sequential pattern wraps around: small image data, any journal size

#: goals of issue #18 (issue #8's were 1x and 0.5x), as the largest allowed ratio to the matching rbd command:
#: inspect 0.6x up to 200 MiB-ish journals, 0.5x from 1 GiB on; every export format 0.25x
INSPECT_GOAL = 0.6
INSPECT_GOAL_1G = 0.5
EXPORT_GOAL = 0.25
RSS_GOAL = 150 * MiB
#: the library walk's speed as a share of the read + crc32c limit of the same backend
WALK_GOAL = 0.8
#: the tool column of rows run with JOURNALTOOLS_PURE_PYTHON=1
PURE_PYTHON = "journaltools (pure Python)"


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def size_label(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 and n % (1 << 30) == 0 else f"{n >> 20} MiB"


@dataclass(frozen=True)
class Shape:
    """One journal to measure: ``size`` bytes of ``rbd bench`` writes of ``io_size``, ``pattern`` seq or rand."""

    size: int
    pattern: str = "seq"
    io_size: str = "4K"

    @classmethod
    def parse(cls, text: str) -> Shape:
        """``SIZE[:PATTERN[:IO_SIZE]]``, e.g. ``200M``, ``200M:rand``, ``200M:seq:512``."""
        parts = text.split(":")
        size, pattern, io_size = parts + ["seq", "4K"][len(parts) - 1:] if 1 <= len(parts) <= 3 else ("", "", "")
        if pattern not in ("seq", "rand"):
            raise argparse.ArgumentTypeError(f"io pattern {pattern!r} is not seq or rand")
        parse_size(io_size)
        return cls(parse_size(size), pattern, io_size.upper())

    @property
    def label(self) -> str:
        return f"{size_label(self.size)} {self.pattern} {self.io_size}"

    @property
    def image(self) -> str:
        return f"bench-{self.size >> 20}m-{self.pattern}-{self.io_size.lower()}"


#: the issue's journals: 4 KiB writes, 200 MiB sequential and random, and 1 GiB sequential
DEFAULT_JOURNALS = "200M:seq,200M:rand,1G:seq"


def journaltools_exe() -> str:
    exe = Path(sys.executable).with_name("journaltools")
    return str(exe) if exe.exists() else shutil.which("journaltools") or "journaltools"


def has_command(*words: str) -> bool:
    """Whether ``journaltools <words> --help`` works (commands land independently)."""
    proc = subprocess.run([journaltools_exe(), *words, "--help"], capture_output=True)
    return proc.returncode == 0


# -- what gets measured ------------------------------------------------------------------------------
@dataclass
class Case:
    """One row of the table: a command line, how to compare it, where its output goes."""

    tool: str
    command: str
    backend: str
    argv: Callable[[], list[str]]
    compare_to: str | None = None  # "inspect" / "export": the rbd row this one is a ratio of
    goal: float | None = None
    output: Path | None = None  # removed before each run (rbd refuses to overwrite)
    in_process: bool = False  # the child prints {"seconds", "bytes"}: use its own timing
    env: dict[str, str] = field(default_factory=dict)  # set for this command only
    timing: Timing = field(default_factory=Timing)

    def seconds(self) -> float:
        if not self.in_process:
            return self.timing.seconds
        inner = sorted(json.loads(r.stdout)["seconds"] for r in self.timing.runs if r.returncode == 0)
        return inner[len(inner) // 2] if inner else float("nan")


@dataclass
class Journal:
    label: str
    bench: BenchJournal
    store_dir: Path
    data_bytes: int
    entries: int
    cases: list[Case] = field(default_factory=list)


def build_cases(box: Sandbox, j: Journal, out_dir: Path) -> list[Case]:
    conf = str(box.conf)
    pool, image, jid = j.bench.pool, j.bench.image, j.bench.journal_id
    jt = journaltools_exe()
    py = sys.executable
    spec = ["--pool", pool, "--image", image]
    jt_spec = ["--pool", pool, "--journal", jid]  # the directory holds the journal, not the image metadata
    backends = {"live": ["-c", conf], "directory": ["--store", str(j.store_dir)]}
    cases = [
        Case("rbd", "journal inspect", "live", lambda: ["rbd", "-c", conf, "journal", "inspect", *spec]),
        Case("rbd", "journal export", "live",
             lambda: ["rbd", "-c", conf, "journal", "export", *spec, "--path", str(out_dir / "rbd.export")],
             output=out_dir / "rbd.export"),
    ]
    have_inspect = has_command("journal", "inspect")
    have_export = has_command("journal", "export")
    for backend, global_opts in backends.items():
        if have_inspect:
            cases.append(Case("journaltools", "journal inspect", backend,
                              lambda g=global_opts: [jt, *g, "journal", "inspect", *jt_spec],
                              compare_to="inspect", goal=INSPECT_GOAL_1G if j.data_bytes >= 1 << 30 else INSPECT_GOAL))
            # the same without the C core (journaltools/_native.c): its pure-Python reference, in the same rounds
            cases.append(Case(PURE_PYTHON, "journal inspect", backend,
                              lambda g=global_opts: [jt, *g, "journal", "inspect", *jt_spec],
                              compare_to="inspect", env={"JOURNALTOOLS_PURE_PYTHON": "1"}))
        if have_export:
            for fmt in ("rbd", "json", "jsonl"):
                target = out_dir / f"jt-{backend}.{fmt}"
                cases.append(Case("journaltools", f"journal export --format {fmt}", backend,
                                  lambda g=global_opts, f=fmt, t=target: [jt, *g, "journal", "export", *jt_spec,
                                                                          "--format", f, str(t)],
                                  compare_to="export", goal=EXPORT_GOAL, output=target))
        source = conf if backend == "live" else str(j.store_dir)
        cases.append(Case("library", "Journal.open().walk()", backend,
                          lambda s=source: [py, "-m", "benchmarks.measure", "walk", s, pool, jid], in_process=True))
        limit = "limit-rados" if backend == "live" else "limit-store"
        prefix = f"journal_data.{j.bench.pool_id}.{jid}."
        cases.append(Case("limit", "read + crc32c", backend,
                          lambda what=limit, s=source, p=prefix: [py, "-m", "benchmarks.measure", what, s, pool, p],
                          in_process=True))
    return cases


def run_rounds(journal: Journal, repeat: int, env: dict[str, str], warmup: int = 1) -> None:
    """``warmup`` rounds that are not counted, then ``repeat`` rounds; each round runs every case once,
    so drift hits all rows alike.  (The first round after writing and acquiring a journal is slow for
    every command alike: caches, and the daemons' own work after the writes.)"""
    for round_no in range(-warmup, repeat):
        for case in journal.cases:
            if case.output is not None:
                case.output.unlink(missing_ok=True)
            os.sync()  # no writeback of an earlier command's output during this one
            run = run_child(case.argv(), env={**env, **case.env} if case.env else env)
            if case.output is not None and case.output.suffix in (".json", ".jsonl"):
                case.output.unlink(missing_ok=True)  # only rbd-format files are compared (check_outputs): tmpfs stays small
            if round_no >= 0:
                case.timing.runs.append(run)
            if run.returncode != 0 and round_no == -warmup:
                tail = run.stderr.decode(errors="replace").strip().splitlines()[-3:]
                print(f"  ! {case.tool} {case.command} ({case.backend}) exited {run.returncode}: {' | '.join(tail)}",
                      file=sys.stderr)
        print(f"  round {round_no + 1}/{repeat} done" if round_no >= 0 else "  warm-up round done", file=sys.stderr)


def sha256(path: Path) -> str | None:
    if not path.exists():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -- the table -----------------------------------------------------------------------------------------
@dataclass
class Row:
    journal: str
    tool: str
    command: str
    backend: str
    seconds: float
    cpu_seconds: float  # median user + sys of the process (in-process rows: of the whole child)
    mb_per_s: float
    of_limit: float | None
    peak_rss_mb: float
    ratio: float | None
    goal: str
    verdict: str
    ok: bool
    runs: list[float] = field(default_factory=list)  # seconds of every round


def rows_for(journal: Journal) -> list[Row]:
    rbd = {c.command.split()[-1]: c.seconds() for c in journal.cases if c.tool == "rbd"}
    limits = {c.backend: c.seconds() for c in journal.cases if c.tool == "limit"}
    rows = []
    for case in journal.cases:
        seconds = case.seconds()
        ratio = seconds / rbd[case.compare_to] if case.compare_to else None
        limit = limits.get(case.backend)
        of_limit = (limit / seconds) if limit and case.tool != "limit" else None
        rss = case.timing.peak_rss
        goals, verdicts = [], []
        if case.goal is not None and ratio is not None:
            goals.append(f"<= {case.goal:g}x rbd")
            verdicts.append("met" if ratio <= case.goal else f"missed by {ratio / case.goal - 1:.0%}")
        if case.tool == "library" and of_limit is not None:
            goals.append(f">= {WALK_GOAL:.0%} of limit")
            verdicts.append("met" if of_limit >= WALK_GOAL else f"missed by {1 - of_limit / WALK_GOAL:.0%}")
        if case.tool == "journaltools" and journal.data_bytes >= 1 << 30:
            goals.append(f"RSS < {RSS_GOAL // MiB} MB")
            verdicts.append("met" if rss < RSS_GOAL else f"RSS missed by {rss / RSS_GOAL - 1:.0%}")
        runs = ([json.loads(r.stdout)["seconds"] for r in case.timing.runs if r.returncode == 0] if case.in_process
                else [r.seconds for r in case.timing.runs])
        rows.append(Row(journal.label, case.tool, case.command, case.backend, seconds, case.timing.cpu_seconds,
                        journal.data_bytes / seconds / MB, of_limit, rss / MiB, ratio,
                        ", ".join(goals), "; ".join(verdicts), case.timing.ok, [round(x, 3) for x in runs]))
    return rows


def markdown_table(rows: Sequence[Row]) -> str:
    head = ("| journal | tool | command | backend | seconds | spread | CPU s | MB/s | of limit | peak RSS (MiB) "
            "| ratio to rbd | goal | verdict |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        spread = f"{min(r.runs):.3f}-{max(r.runs):.3f}" if r.runs else ""
        lines.append(
            f"| {r.journal} | {r.tool} | {r.command} | {r.backend} | {r.seconds:.3f} | {spread} | {r.cpu_seconds:.2f} | "
            f"{r.mb_per_s:,.0f} | "
            f"{'' if r.of_limit is None else f'{r.of_limit:.0%}'} | {r.peak_rss_mb:.0f} | "
            f"{'' if r.ratio is None else f'{r.ratio:.2f}'} | {r.goal} | "
            f"{r.verdict if r.ok else 'FAILED (non-zero exit)'} |")
    return "\n".join(lines)


def machine_summary() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    rbd_version = subprocess.run(["rbd", "--version"], capture_output=True, text=True).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; Python {platform.python_version()}; "
            f"{rbd_version.split('(')[0].strip()}; load average {load} (at the end)")


# -- main ------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small journal (20 MiB of writes), 2 rounds")
    parser.add_argument("--sizes", help="bytes of 4 KiB writes per journal, e.g. 200M,1G, for each of --patterns "
                        "(instead of --journals)")
    parser.add_argument("--journals", default=DEFAULT_JOURNALS,
                        help="journals to measure, SIZE[:seq|rand[:IO_SIZE]] each, comma separated "
                             f"(default {DEFAULT_JOURNALS})")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each row reports the median (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted (default 1)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/h-bench-g1"), help="sandbox directory (wiped)")
    parser.add_argument("--port", type=int, default=47010, help="monitor port on 127.0.0.1")
    parser.add_argument("--patterns", default="seq,rand",
                        help="with --sizes: rbd bench --io-pattern of the writes, one journal per size and pattern "
                             "(default seq,rand)")
    parser.add_argument("--splay-width", type=int, default=4)
    parser.add_argument("--out-dir", type=Path, default=Path("/dev/shm/h-bench-g1-out"),
                        help="where exports are written (default: tmpfs, so the disk is not what is measured)")
    parser.add_argument("--markdown", type=Path, help="also write the table (with the machine line) here")
    parser.add_argument("--json", type=Path, help="also write every row as JSON here")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument("--startup-repeat", type=int, default=21,
                        help="rounds of the start-up comparison on an empty journal (default 21; 0: skip it)")
    args = parser.parse_args(argv)
    if args.quick:
        shapes = [Shape(parse_size("20M"))]
    elif args.sizes:
        shapes = [Shape(parse_size(s), p.strip()) for s in args.sizes.split(",") for p in args.patterns.split(",")
                  if p.strip()]
    else:
        shapes = [Shape.parse(s) for s in args.journals.split(",")]
    repeat = 2 if args.quick and args.repeat == 3 else args.repeat

    memstore = sum(int(s.size * 1.2) + IMAGE_SIZE for s in shapes) + (1 << 30)
    print(f"starting sandbox in {args.dir} on 127.0.0.1:{args.port} (memstore {memstore >> 20} MiB)", file=sys.stderr)
    box = Sandbox.start(args.dir, args.port, memstore)
    env = dict(os.environ, CEPH_CONF=str(box.conf), PYTHONPATH=str(REPO))
    # as installed: byte-compiled modules (an environment may forbid writing them; compile once here)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "journaltools"), str(REPO / "benchmarks")],
                   check=False, capture_output=True)
    journals: list[Journal] = []
    startup_rows: list[startup.StartupRow] = []
    try:
        if args.startup_repeat > 0:
            with tempfile.TemporaryDirectory(prefix="jt-startup-") as work:
                startup_rows = startup.compare(box, env, args.startup_repeat, 3, Path(work))
        for shape in shapes:
            label, image = shape.label, shape.image
            started = time.perf_counter()
            bench = make_journal(box, io_total=shape.size, image_size=IMAGE_SIZE, splay_width=args.splay_width,
                                 image=image, io_pattern=shape.pattern, io_size=shape.io_size)
            print(f"{label}: rbd bench wrote {shape.size // parse_size(shape.io_size)} writes in "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
            store_dir = args.dir / f"store-{image}"
            shutil.rmtree(store_dir, ignore_errors=True)
            data_bytes = acquire(box, bench, store_dir)
            summary = subprocess.run(["rbd", "-c", str(box.conf), "journal", "inspect", "--pool", bench.pool,
                                      "--image", image], capture_output=True, text=True, env=env).stdout
            entries = int(summary.split("entries inspected")[0].split()[-1])
            print(f"{label}: {entries} entries, {data_bytes / MB:.1f} MB of data objects, acquired to {store_dir}",
                  file=sys.stderr)
            journal = Journal(label, bench, store_dir, data_bytes, entries)
            out_dir = args.out_dir / image
            out_dir.mkdir(parents=True, exist_ok=True)
            journal.cases = build_cases(box, journal, out_dir)
            run_rounds(journal, repeat, env, args.warmup)
            check_outputs(journal, out_dir)
            shutil.rmtree(out_dir, ignore_errors=True)
            journals.append(journal)
            print(markdown_table(rows_for(journal)), file=sys.stderr)  # kept if a later journal fails
    finally:
        if not args.keep:
            box.stop()
        with contextlib.suppress(OSError):
            args.out_dir.rmdir()  # empty once every journal's outputs were checked and removed

    rows = [row for j in journals for row in rows_for(j)]
    table = markdown_table(rows)
    print()
    print(f"Machine: {machine_summary()}")
    for j in journals:
        print(f"Journal {j.label}: {j.entries} entries, {j.data_bytes / MB:.1f} MB in "
              f"{len(list((j.store_dir / j.bench.pool / 'objects').glob('journal_data.*')))} objects, "
              f"splay width {j.bench.splay_width}; {repeat} rounds, median seconds")
    print(table)
    startup_table = ""
    if startup_rows:
        startup_table = (f"\nStart-up on an empty journal ({args.startup_repeat} rounds, median; goal <= "
                         f"{startup.STARTUP_GOAL:g}x rbd):\n\n{startup.markdown_table(startup_rows)}\n")
        print(startup_table)
    if args.markdown:
        args.markdown.write_text(f"Machine: {machine_summary()}\n\n{table}\n{startup_table}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows] + [{"startup": r.__dict__} for r in startup_rows],
                                        indent=1) + "\n")
    return 0 if all(r.ok for r in rows) and all(r.ok for r in startup_rows) else 1


def acquire(box: Sandbox, bench: BenchJournal, store_dir: Path) -> int:
    """``journaltools acquire`` when it exists, else the benchmark's own python3-rados copy."""
    if has_command("acquire"):
        proc = subprocess.run([journaltools_exe(), "-c", str(box.conf), "acquire", "--pool", bench.pool,
                               "--journal", bench.journal_id, str(store_dir)], capture_output=True, text=True)
        if proc.returncode == 0:
            objects = store_dir / bench.pool / "objects"
            return sum(p.stat().st_size for p in objects.glob(f"journal_data.{bench.pool_id}.{bench.journal_id}.*"))
        print(f"journaltools acquire failed ({proc.stderr.strip()}); using benchmarks/acquire.py", file=sys.stderr)
    return acquire_journal(box.conf, bench.pool, bench.journal_id, store_dir)


def check_outputs(journal: Journal, out_dir: Path) -> None:
    """Our ``--format rbd`` exports must be byte-identical to rbd's own export file."""
    reference = sha256(out_dir / "rbd.export")
    for backend in ("live", "directory"):
        ours = sha256(out_dir / f"jt-{backend}.rbd")
        if ours is not None:
            same = "identical to" if ours == reference else "DIFFERENT from"
            print(f"{journal.label}: journaltools export --format rbd ({backend}) is {same} rbd's export",
                  file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
