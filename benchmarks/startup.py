"""Start-up on an empty journal: journaltools against the real rbd, side by side (issue #18).

On an empty journal (a journaled image nothing was written to) a command's time is
its start-up: the interpreter or the binary, its imports, the connection to the
cluster, the journal header.  This module times, interleaved round by round, each a
fresh process:

- ``rbd journal inspect|info|export`` (live, the reference),
- ``journaltools journal inspect|info|export`` (``--format rbd|jsonl|json``) on the live
  cluster and on a directory store holding the same journal,
- journaltools run as ``rbd`` (a link named rbd, the drop-in) with rbd's own command lines,
- two floors that no Python tool can go below: ``python -c pass`` (this venv's
  interpreter and site) and ``python -c 'import rados; connect; shutdown'``.

Each row reports the median wall time, the spread (25th-75th percentile and min-max of
the rounds), the median CPU time (user + sys, less distorted by other load), and the
ratio of its median to the median of the matching rbd command, plus the median of the
per-round ratios (each round runs both, so drift hits them alike).  The goal is at
most 1.5x of rbd, wall time.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.startup                       # own sandbox, 21 rounds
    .venv/bin/python -m benchmarks.startup --repeat 41 --markdown /tmp/startup.md

``python -m benchmarks.run`` runs the same comparison first, on its own sandbox.
Load-independent counts: ``valgrind --tool=callgrind --callgrind-out-file=/dev/null CMD``
prints the instructions of one run (docs/performance.md has the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import Sandbox
from .measure import Run, run_child

REPO = Path(__file__).resolve().parent.parent
#: issue #18: start-up on an empty journal within 1.5x of rbd's
STARTUP_GOAL = 1.5
IMAGE = "startup-empty"


@dataclass
class StartupCase:
    tool: str  # "rbd", "journaltools", "journaltools as rbd", "floor"
    command: str  # "journal inspect", "journal export --format rbd", ...
    backend: str  # "live", "directory", ""
    argv: list[str]
    compare_to: str | None = None  # the rbd command this row is a ratio of
    output: Path | None = None  # removed before each run
    env: dict[str, str] = field(default_factory=dict)  # set for this command only
    runs: list[Run] = field(default_factory=list)

    def seconds(self) -> list[float]:
        return [r.seconds for r in self.runs]


@dataclass
class StartupRow:
    tool: str
    command: str
    backend: str
    median: float
    p25: float
    p75: float
    fastest: float
    slowest: float
    cpu: float
    ratio: float | None  # median / median of the rbd command
    paired_ratio: float | None  # median of the per-round ratios
    cpu_ratio: float | None
    goal: str
    verdict: str
    ok: bool
    runs: list[float]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def make_empty_journal(box: Sandbox, store_dir: Path, journaltools: str, pool: str = "rbd") -> str:
    """A journaled image nothing was written to (its journal: the header, no entries); acquired to
    ``store_dir`` for the directory rows.  Returns the journal id."""
    conf = str(box.conf)
    pools = subprocess.run(["ceph", "-c", conf, "osd", "pool", "ls"], capture_output=True, text=True, check=True).stdout
    if pool not in pools.split():
        subprocess.run(["ceph", "-c", conf, "osd", "pool", "create", pool, "8"], capture_output=True, check=True)
        box.rbd("pool", "init", pool)
    box.rbd("create", f"{pool}/{IMAGE}", "--size", "64M", "--image-feature", "layering,exclusive-lock")
    box.rbd("feature", "enable", f"{pool}/{IMAGE}", "journaling")
    journal_id = str(json.loads(box.rbd("info", f"{pool}/{IMAGE}", "--format", "json").stdout)["id"])
    shutil.rmtree(store_dir, ignore_errors=True)
    subprocess.run([journaltools, "-c", conf, "acquire", "--pool", pool, "--image", IMAGE, str(store_dir)],
                   capture_output=True, check=True)
    return journal_id


def build_cases(conf: str, store_dir: Path, journaltools: str, as_rbd: str, out_dir: Path,
                python: str = sys.executable, pool: str = "rbd") -> list[StartupCase]:
    spec = ["--pool", pool, "--image", IMAGE]
    cases = [
        StartupCase("rbd", "journal inspect", "live", ["rbd", "-c", conf, "journal", "inspect", *spec]),
        StartupCase("rbd", "journal info", "live", ["rbd", "-c", conf, "journal", "info", *spec]),
        StartupCase("rbd", "journal export", "live",
                    ["rbd", "-c", conf, "journal", "export", *spec, "--path", str(out_dir / "rbd.export")],
                    output=out_dir / "rbd.export"),
    ]
    # the same command lines on both: acquire copied the image's name records, so --image works offline too
    backends = {"live": ["-c", conf], "directory": ["--store", str(store_dir)]}
    for backend, opts in backends.items():
        jspec = spec
        cases.append(StartupCase("journaltools", "journal inspect", backend,
                                 [journaltools, *opts, "journal", "inspect", *jspec], "journal inspect"))
        cases.append(StartupCase("journaltools", "journal info", backend,
                                 [journaltools, *opts, "journal", "info", *jspec], "journal info"))
        for fmt in ("rbd", "jsonl", "json"):
            target = out_dir / f"jt-{backend}.{fmt}"
            cases.append(StartupCase("journaltools", f"journal export --format {fmt}", backend,
                                     [journaltools, *opts, "journal", "export", *jspec, "--format", fmt, "--path",
                                      str(target)], "journal export", output=target))
    cases += [
        StartupCase("journaltools as rbd", "journal inspect", "live", [as_rbd, "-c", conf, "journal", "inspect", *spec],
                    "journal inspect"),
        StartupCase("journaltools as rbd", "journal info", "live", [as_rbd, "-c", conf, "journal", "info", *spec],
                    "journal info"),
        StartupCase("journaltools as rbd", "journal export", "live",
                    [as_rbd, "-c", conf, "journal", "export", *spec, "--path", str(out_dir / "as-rbd.export")],
                    "journal export", output=out_dir / "as-rbd.export"),
        StartupCase("floor", "python -c pass", "", [python, "-c", "pass"]),
        StartupCase("floor", "python: import rados, connect", "live",
                    [python, "-c", f"import rados; r = rados.Rados(conffile={conf!r}); r.connect(); r.shutdown()"]),
    ]
    return cases


def run_rounds(cases: list[StartupCase], repeat: int, warmup: int, env: dict[str, str],
               report: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> None:
    for round_no in range(-warmup, repeat):
        for case in cases:
            if case.output is not None:
                case.output.unlink(missing_ok=True)
            run = run_child(case.argv, env={**env, **case.env} if case.env else env)
            if run.returncode != 0 and round_no == -warmup:
                tail = run.stderr.decode(errors="replace").strip().splitlines()[-2:]
                report(f"  ! {case.tool} {case.command} ({case.backend}) exited {run.returncode}: {' | '.join(tail)}")
            if round_no >= 0:
                case.runs.append(run)
        if round_no + 1 == repeat or (round_no >= 0 and (round_no + 1) % 10 == 0):
            report(f"  start-up round {round_no + 1}/{repeat} done")


def rows_for(cases: list[StartupCase]) -> list[StartupRow]:
    rbd = {c.command: c for c in cases if c.tool == "rbd"}
    rows = []
    for case in cases:
        walls = case.seconds()
        cpu = statistics.median(r.cpu_seconds for r in case.runs)
        median = statistics.median(walls)
        ratio = paired = cpu_ratio = None
        goal = verdict = ""
        reference = rbd.get(case.compare_to) if case.compare_to else None
        if reference is not None:
            ratio = median / statistics.median(reference.seconds())
            paired = statistics.median(o / r for o, r in zip(walls, reference.seconds(), strict=True))
            cpu_ratio = cpu / statistics.median(r.cpu_seconds for r in reference.runs)
            goal = f"<= {STARTUP_GOAL:g}x rbd"
            verdict = "met" if ratio <= STARTUP_GOAL else f"missed by {ratio / STARTUP_GOAL - 1:.0%}"
        rows.append(StartupRow(case.tool, case.command, case.backend, median, _quantile(walls, 0.25),
                               _quantile(walls, 0.75), min(walls), max(walls), cpu, ratio, paired, cpu_ratio, goal,
                               verdict, all(r.returncode == 0 for r in case.runs), [round(w, 4) for w in walls]))
    return rows


def markdown_table(rows: Sequence[StartupRow]) -> str:
    def opt(x: float | None) -> str:
        return "" if x is None else f"{x:.2f}"

    lines = ["| tool | command | backend | median ms | p25-p75 ms | min-max ms | CPU ms | ratio to rbd "
             "| per-round ratio | CPU ratio | goal | verdict |", "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r.tool} | {r.command} | {r.backend} | {r.median * 1e3:.1f} | {r.p25 * 1e3:.0f}-{r.p75 * 1e3:.0f}"
                     f" | {r.fastest * 1e3:.0f}-{r.slowest * 1e3:.0f} | {r.cpu * 1e3:.0f} | {opt(r.ratio)} | "
                     f"{opt(r.paired_ratio)} | {opt(r.cpu_ratio)} | {r.goal} | "
                     f"{r.verdict if r.ok else 'FAILED (non-zero exit)'} |")
    return "\n".join(lines)


def journaltools_exe() -> str:
    exe = Path(sys.executable).with_name("journaltools")
    return str(exe) if exe.exists() else shutil.which("journaltools") or "journaltools"


def baseline_cases(cases: list[StartupCase], source: Path, launcher: Path) -> list[StartupCase]:
    """The journaltools rows again, importing journaltools from another source tree (``--baseline``: an
    older commit unpacked with ``git archive``), in the same rounds.  ``launcher`` is a console script
    of ``journaltools.fastpath:console_main``, or ``journaltools.cli:console_main`` in trees without it."""
    label = f"journaltools ({source.name})"
    return [StartupCase(label, c.command, c.backend, [str(launcher), *c.argv[1:]], c.compare_to,
                        c.output.with_name("baseline-" + c.output.name) if c.output else None,
                        {"PYTHONPATH": str(source)})
            for c in cases if c.tool == "journaltools" and c.command in (
                "journal inspect", "journal info", "journal export --format rbd", "journal export --format jsonl",
                "journal export --format json")]


def compare(box: Sandbox, env: dict[str, str], repeat: int, warmup: int, work_dir: Path,
            baseline: Path | None = None) -> list[StartupRow]:
    """The whole comparison on a running sandbox; ``work_dir`` holds the store, the link and the outputs."""
    jt = journaltools_exe()
    store_dir = work_dir / "store"
    out_dir = work_dir / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = work_dir / "bin"
    bin_dir.mkdir(exist_ok=True)
    as_rbd = bin_dir / "rbd"
    as_rbd.unlink(missing_ok=True)
    as_rbd.symlink_to(jt)
    make_empty_journal(box, store_dir, jt)
    cases = build_cases(str(box.conf), store_dir, jt, str(as_rbd), out_dir)
    if baseline is not None:
        launcher = bin_dir / "journaltools-baseline"
        launcher.write_text(f"#!{sys.executable}\nimport sys\ntry:\n    from journaltools.fastpath import console_main\n"
                            "except ImportError:\n    from journaltools.cli import console_main\nsys.exit(console_main())\n")
        launcher.chmod(0o755)
        for case in baseline_cases(cases, baseline, launcher):
            if case.output is not None:
                case.argv[-1] = str(case.output)
            cases.append(case)
    run_rounds(cases, repeat, warmup, dict(env, JOURNALTOOLS_REAL_RBD=shutil.which("rbd") or "/usr/bin/rbd"))
    return rows_for(cases)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=21, help="rounds; each row reports the median (default 21)")
    parser.add_argument("--warmup", type=int, default=3, help="rounds run first and not counted (default 3)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/h-bench-startup"), help="sandbox directory (wiped)")
    parser.add_argument("--port", type=int, default=47020, help="monitor port on 127.0.0.1")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--json", type=Path, help="also write every row as JSON here")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also run inspect, info and export --format rbd importing journaltools from DIR "
                             "(e.g. `git archive COMMIT | tar -x -C DIR`), in the same rounds")
    args = parser.parse_args(argv)
    print(f"starting sandbox in {args.dir} on 127.0.0.1:{args.port}", file=sys.stderr)
    box = Sandbox.start(args.dir, args.port, 1 << 30)
    env = dict(os.environ, CEPH_CONF=str(box.conf), PYTHONPATH=str(REPO))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte-compiled modules
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "journaltools")], capture_output=True)
    try:
        with tempfile.TemporaryDirectory(prefix="jt-startup-") as work:
            rows = compare(box, env, args.repeat, args.warmup, Path(work), args.baseline)
    finally:
        if not args.keep:
            box.stop()
    table = markdown_table(rows)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    head = (f"Start-up on an empty journal: {args.repeat} rounds (+{args.warmup} warm-up), each command a fresh "
            f"process; {os.cpu_count()} cores, load average {load} at the end")
    print(head)
    print(table)
    if args.markdown:
        args.markdown.write_text(f"{head}\n\n{table}\n")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1) + "\n")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
