"""The read commands' fast path (journaltools/fastpath.py) prints what the click path prints.

Every command line of the tables below runs twice in a fresh process, through the console
script (journaltools, or a link named ``rbd``): as it is, and with ``JOURNALTOOLS_NO_FASTPATH=1``
(the click path).  Exit code, stdout, stderr and any export file must be the same.  Each line
is also marked with the path it must take (``fast``: journaltools.fastpath.parse understands
it; ``click``: it must fall back), so that the comparison is not between two click runs.
On a directory store (the fixtures) and on a live sandbox cluster (marked ``ceph``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from journaltools.fastpath import parse

from .journal_factory import FIXTURES

REPO = Path(__file__).resolve().parent.parent
JOURNALTOOLS = REPO / ".venv" / "bin" / "journaltools"
SITE_A = str(FIXTURES / "stores" / "site-a")
SPEC = ["--pool", "rbd", "--image", "small"]
JID = "10abe81d9984"  # small's journal

#: (path it takes, program name, command line without the store options)
LINES: list[tuple[str, str, list[str]]] = [
    # info
    ("fast", "journaltools", ["journal", "info", *SPEC]),
    ("fast", "journaltools", ["journal", "info", f"rbd/{JID}"]),
    ("fast", "journaltools", ["journal", "info", "--journal", f"rbd/{JID}", "--format", "json"]),
    ("fast", "journaltools", ["journal", "info", "-p", "rbd", "--image", "small", "--format", "xml", "--pretty-format"]),
    ("fast", "journaltools", ["journal", "info", "--pool=rbd", "--image=small", "--format=json", "--pretty-format"]),
    ("fast", "journaltools", ["journal", "info", *SPEC, "--pretty-format"]),
    ("fast", "journaltools", ["journal", "info", "--pool", "nopool", "--image", "small"]),
    ("fast", "journaltools", ["journal", "info", "--pool", "rbd", "--image", "nosuch"]),
    ("fast", "journaltools", ["journal", "info", "rbd/nosuchjournal"]),
    ("fast", "journaltools", ["journal", "info"]),
    ("fast", "journaltools", ["journal", "info", "--debug", *SPEC]),
    ("click", "journaltools", ["journal", "info", *SPEC, "--format", "yaml"]),
    ("click", "journaltools", ["journal", "info", *SPEC, "--format"]),
    ("click", "journaltools", ["journal", "info", *SPEC, "--pool", "rbd"]),
    ("click", "journaltools", ["journal", "info", f"rbd/{JID}", "extra"]),
    ("click", "journaltools", ["journal", "info", *SPEC, "--bogus"]),
    ("click", "journaltools", ["journal", "info", *SPEC, "-h"]),
    ("click", "journaltools", ["journal", "info", "-prbd", "--image", "small"]),
    ("click", "journaltools", ["--format", "json", "journal", "info", *SPEC]),
    ("click", "journaltools", ["journal", "info", "--pretty-format=yes", *SPEC]),
    # status
    ("fast", "journaltools", ["journal", "status", *SPEC]),
    ("fast", "journaltools", ["journal", "status", *SPEC, "--no-lag"]),
    ("fast", "journaltools", ["journal", "status", *SPEC, "--format", "json", "--no-lag"]),
    ("fast", "journaltools", ["journal", "status", f"rbd/{JID}", "--format", "xml", "--pretty-format"]),
    # inspect
    ("fast", "journaltools", ["journal", "inspect", *SPEC]),
    ("fast", "journaltools", ["journal", "inspect", "--pool", "rbd", "--image", "img1"]),
    ("fast", "journaltools", ["journal", "inspect", *SPEC, "--verbose"]),
    ("fast", "journaltools", ["journal", "inspect", *SPEC, "--format", "json", "--pretty-format"]),
    ("fast", "journaltools", ["journal", "inspect", *SPEC, "--on-error", "stop", "--all"]),
    ("fast", "journaltools", ["journal", "inspect", *SPEC, "--no-error", "--tag", "0", "--tag", "1", "--from-tid", "2",
                              "--to-tid", "9"]),
    ("fast", "journaltools", ["journal", "inspect", *SPEC, "--event-type", "AioWrite", "--since", "0"]),
    ("fast", "journaltools", ["journal", "inspect", "--journal", JID, "--pool", "rbd"]),
    ("fast", "journaltools", ["journal", "inspect", *SPEC, "--pretty-format"]),
    ("click", "journaltools", ["journal", "inspect", *SPEC, "--format", "xml"]),
    ("click", "journaltools", ["journal", "inspect", *SPEC, "--tag", "x"]),
    ("click", "journaltools", ["journal", "inspect", *SPEC, "--on-error", "later"]),
    ("click", "journaltools", ["journal", "inspect", *SPEC, "--since", "-5"]),
    ("click", "journaltools", ["journal", "--", "inspect", *SPEC]),
    ("click", "journaltools", ["journal", "inspect", *SPEC, "--verbose", "--verbose"]),
    # export
    ("fast", "journaltools", ["journal", "export", *SPEC, "--format", "rbd", "--path", "-"]),
    ("fast", "journaltools", ["journal", "export", *SPEC, "--format", "jsonl", "--path", "out.jsonl"]),
    ("fast", "journaltools", ["journal", "export", f"rbd/{JID}", "out.json"]),
    ("fast", "journaltools", ["journal", "export", "--journal", JID, "--pool", "rbd", "out.json", "--verbose"]),
    ("fast", "journaltools", ["journal", "export", *SPEC, "out.json"]),
    ("fast", "journaltools", ["journal", "export", *SPEC]),
    ("fast", "journaltools", ["journal", "export", *SPEC, "--path", "x", "y"]),
    ("fast", "journaltools", ["journal", "export", *SPEC, "--format", "rbd", "--path", "-", "--on-error", "skip",
                              "--force", "--event-type", "AioDiscard"]),
    ("click", "journaltools", ["journal", "export", *SPEC, "--path", "-", "--follow"]),
    ("click", "journaltools", ["journal", "export", *SPEC, "--path", "-", "--format", "xml"]),
    ("click", "journaltools", ["journal", "export", *SPEC, "a", "b", "c"]),
    # client list
    ("fast", "journaltools", ["journal", "client", "list", *SPEC]),
    ("fast", "journaltools", ["journal", "client", "list", *SPEC, "--format", "json", "--pretty-format"]),
    ("click", "journaltools", ["journal", "client", "list", *SPEC, "--format", "xml"]),
    # journaltools as rbd: rbd's options only
    ("fast", "rbd", ["journal", "info", *SPEC]),
    ("fast", "rbd", ["journal", "info", *SPEC, "--format", "json", "--pretty-format"]),
    ("fast", "rbd", ["journal", "info", "--pool", "nopool", "--image", "small"]),
    ("fast", "rbd", ["journal", "info", "--pool", "rbd", "--image", "nosuch"]),
    ("fast", "rbd", ["journal", "info", "rbd/nosuchjournal"]),
    ("fast", "rbd", ["journal", "info"]),
    ("fast", "rbd", ["journal", "status", *SPEC, "--format", "xml"]),
    ("fast", "rbd", ["journal", "inspect", *SPEC]),
    ("fast", "rbd", ["journal", "inspect", *SPEC, "--verbose"]),
    ("fast", "rbd", ["journal", "export", *SPEC, "--path", "-"]),
    ("fast", "rbd", ["journal", "export", f"rbd/{JID}", "out.rbd"]),
    ("fast", "rbd", ["journal", "export", *SPEC]),
    ("click", "rbd", ["journal", "inspect", *SPEC, "--format", "json"]),
    ("click", "rbd", ["journal", "status", *SPEC, "--no-lag"]),
    ("click", "rbd", ["journal", "export", *SPEC, "--path", "-", "--format", "json"]),
    ("click", "rbd", ["help", "journal", "info"]),
    ("click", "rbd", ["journal", "info", *SPEC, "--help"]),
    ("click", "rbd", ["journal", "info", *SPEC, "--bogus"]),
]

_LIBRBD_STAMP = re.compile(rb"^\d{4}-\d\d-\d\dT[\d:.]+\+0000 [0-9a-f]+ ", re.M)


def _run(program: Path, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, bytes, bytes, dict[str, bytes]]:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(program), *args], capture_output=True, cwd=cwd, env=env, timeout=120)
    files = {p.name: p.read_bytes() for p in sorted(cwd.iterdir())}
    return proc.returncode, proc.stdout, _LIBRBD_STAMP.sub(b"<stamp> ", proc.stderr), files


def _programs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "bin").mkdir(exist_ok=True)
    link = tmp_path / "bin" / "rbd"
    if not link.exists():
        link.symlink_to(JOURNALTOOLS)
    return {"journaltools": JOURNALTOOLS, "rbd": link}


def _compare(lines: list[tuple[str, str, list[str]]], front: list[str], tmp_path: Path,
             env: dict[str, str]) -> list[str]:
    programs = _programs(tmp_path)
    slow_env = {**env, "JOURNALTOOLS_NO_FASTPATH": "1"}
    differ = []
    for n, (path, name, args) in enumerate(lines):
        line = [*front, *args]
        understood = parse(line, name == "rbd", env) is not None
        assert understood == (path == "fast"), (name, line, "should take the", path, "path")
        fast = _run(programs[name], line, tmp_path / f"fast-{n}", env)
        slow = _run(programs[name], line, tmp_path / f"click-{n}", slow_env)
        if fast != slow:
            differ.append(f"{name} {' '.join(line)}\n  fast:  {fast[:3]}\n  click: {slow[:3]}")
    return differ


def _env() -> dict[str, str]:
    env = dict(os.environ, JOURNALTOOLS_REAL_RBD="/usr/bin/rbd")
    for name in ("JOURNALTOOLS_NO_FASTPATH", "JOURNALTOOLS_STORE", "JOURNALTOOLS_RELEASE", "CEPH_ARGS"):
        env.pop(name, None)
    return env


def test_fast_and_click_paths_agree_on_a_directory_store(tmp_path: Path) -> None:
    differ = _compare(LINES, ["--store", SITE_A], tmp_path, _env())
    assert not differ, "\n".join(differ)


def test_the_store_from_the_environment_and_options_anywhere(tmp_path: Path) -> None:
    env = {**_env(), "JOURNALTOOLS_STORE": SITE_A}
    lines = [("fast", "journaltools", ["journal", "info", *SPEC]),
             ("fast", "journaltools", ["journal", "inspect", *SPEC, "--store", SITE_A]),
             ("fast", "journaltools", ["journal", "--debug", "info", *SPEC]),
             ("fast", "journaltools", ["journal", "info", *SPEC, "--release", "reef"]),
             ("fast", "journaltools", ["journal", "info", *SPEC, "--release", "nonsense"]),
             ("fast", "journaltools", ["journal", "info", *SPEC, "-c", "/nonexistent/ceph.conf"]),
             ("click", "journaltools", ["journal", "info", *SPEC, "--store", ""])]
    differ = _compare(lines, [], tmp_path, env)
    assert not differ, "\n".join(differ)


def test_ceph_args_are_taken_or_left_to_click(tmp_path: Path) -> None:
    """$CEPH_ARGS: plain cluster options are taken; quoting or a config option goes to the click path."""
    line = ["journal", "info", *SPEC]
    assert parse(line, False, {"CEPH_ARGS": f"--store {SITE_A}"}) is not None
    assert parse(line, False, {"CEPH_ARGS": "--debug-rbd 20"}) is None
    assert parse(line, False, {"CEPH_ARGS": "--id 'admin'"}) is None
    differ = _compare([("fast", "journaltools", line)], [], tmp_path, {**_env(), "CEPH_ARGS": f"--store {SITE_A}"})
    assert not differ, "\n".join(differ)


PROBE_HEAVY = ("click", "journaltools.cli", "journaltools.rbd_cli", "shlex", "gettext", "construct")


@pytest.mark.parametrize("name", ["journaltools", "rbd"])
def test_the_console_script_runs_read_commands_without_click(tmp_path: Path, name: str) -> None:
    """What the console script imports for `journal inspect` (python -X importtime): neither click nor rbd_cli's
    rearranging (nor what they import).  The console script of the click path imports click first."""
    program = _programs(tmp_path)[name]
    proc = subprocess.run([sys.executable, "-X", "importtime", str(program), "--store", SITE_A, "journal", "inspect",
                           *SPEC], capture_output=True, text=True, cwd=tmp_path, env=_env(), check=True)
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "journaltools.commands.journal_read" in imported  # the probe sees what the command imports
    assert sorted(imported & set(PROBE_HEAVY)) == []
    assert proc.stdout.startswith("Summary:\n")


def _imported(argv: list[str], cwd: Path) -> set[str]:
    """The modules a command run by the console script imports (python -X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd=cwd,
                          env=_env(), check=True)
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


#: what no live read command imports at start-up: dataclasses (with inspect, ast and dis: ~9 ms), pathlib (urllib.parse,
#: ipaddress) and orjson (json, uuid, platform and dataclasses again)
LIVE_HEAVY = (*PROBE_HEAVY, "dataclasses", "inspect", "pathlib", "orjson")


@pytest.mark.ceph
def test_live_read_commands_import_neither_dataclasses_pathlib_nor_orjson(ceph_cluster, tmp_path: Path) -> None:
    """inspect, info and export (rbd's format, jsonl, json) of an empty journal, and inspect and an rbd-format
    export of one with entries, on a live cluster."""
    ceph = ceph_cluster
    for image in ("fastpath-startup-empty", "fastpath-startup-written"):
        ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling", f"rbd/{image}")
    ceph.rbd("bench", "--io-type", "write", "rbd/fastpath-startup-written", "--io-size", "4096", "--io-threads", "1",
             "--io-total", "40960", "--io-pattern", "seq")
    front = [str(JOURNALTOOLS), "-c", ceph.conf, "journal"]
    empty, written = ["--pool", "rbd", "--image", "fastpath-startup-empty"], ["--pool", "rbd", "--image", "fastpath-startup-written"]
    lines = [["inspect", *empty], ["info", *empty], ["inspect", *written], ["info", *written],
             ["export", *empty, "--format", "rbd", "--path", "out.rbd"],
             ["export", *empty, "--format", "jsonl", "--path", "out.jsonl"],
             ["export", *empty, "--format", "json", "--path", "out.json"],
             ["inspect", *written, "--all"], ["export", *written, "--all", "--format", "rbd", "--path", "out-written.rbd"]]
    for line in lines:
        imported = _imported([*front, *line], tmp_path)
        assert "journaltools.commands.journal_read" in imported  # the probe sees what the command imports
        assert sorted(imported & set(LIVE_HEAVY)) == [], line
    assert (tmp_path / "out-written.rbd").read_bytes().count(b'"type":1,') == 10  # the ten AioWrite events were written
    assert b'"entries":[]' in (tmp_path / "out.json").read_bytes()


@pytest.mark.ceph
def test_fast_and_click_paths_agree_live(ceph_cluster, tmp_path: Path) -> None:
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/fastpath-e")
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering", "rbd/fastpath-nj")
    jid = ceph.rbd("info", "rbd/fastpath-e", "--format", "json").stdout.split('"id":"', 1)[1].split('"', 1)[0]
    live = ["--pool", "rbd", "--image", "fastpath-e"]
    lines: list[tuple[str, str, list[str]]] = []
    for name in ("journaltools", "rbd"):
        lines += [
            ("fast", name, ["journal", "info", *live]),
            ("fast", name, ["journal", "info", f"rbd/{jid}", "--format", "json"]),
            ("fast", name, ["journal", "info", "--journal", jid, "--format", "xml", "--pretty-format"]),
            ("fast", name, ["journal", "info", "--pool", "nopool", "--image", "fastpath-e"]),
            ("fast", name, ["journal", "info", "--pool", "rbd", "--image", "nosuch"]),
            ("fast", name, ["journal", "info", "--pool", "rbd", "--image", "fastpath-nj"]),
            ("fast", name, ["journal", "info", "rbd/nosuchjournal"]),
            ("fast", name, ["journal", "info", *live, "--pretty-format"]),
            ("fast", name, ["journal", "status", *live, "--format", "json"]),
            ("fast", name, ["journal", "inspect", *live]),
            ("fast", name, ["journal", "inspect", "-p", "rbd", "--image", "fastpath-nj"]),
            ("fast", name, ["journal", "export", *live, "--path", "-"]),
            ("fast", name, ["journal", "export", *live, "--path", "out.export"]),
            ("fast", name, ["journal", "export", "--pool", "nopool", "--image", "fastpath-e", "--path", "-"]),
            ("click", name, ["journal", "info", *live, "--format", "yaml"]),
            ("click", name, ["journal", "info", *live, "--bogus"]),
        ]
    lines += [
        ("fast", "journaltools", ["journal", "status", *live]),
        ("fast", "journaltools", ["journal", "inspect", *live, "--format", "json", "--pretty-format"]),
        ("fast", "journaltools", ["journal", "export", *live, "--format", "jsonl", "--path", "-"]),
        ("fast", "journaltools", ["journal", "export", *live, "--format", "json", "out.json"]),
        ("fast", "journaltools", ["journal", "client", "list", *live, "--format", "json"]),
        ("click", "rbd", ["journal", "inspect", *live, "--format", "json"]),
    ]
    differ = _compare(lines, ["-c", ceph.conf], tmp_path, _env())
    assert not differ, "\n".join(differ)


def _option_lines(command) -> list[list[str]]:
    """The least line of ``command``, and that line with each of its options (a valid value each)."""
    base = ["rbd/x", "/tmp/out"][: len(command.positionals)]
    lines = [base]
    for option, (_dest, kind) in command.options.items():
        if kind is bool:
            lines.append([*base, option])
        else:
            value = kind[0] if isinstance(kind, tuple) else "7" if kind in (int, [int]) else "x"
            lines.append([*base, option, value])
            lines.append([*base, f"{option}={value}"] if option.startswith("--") else [*base, option, value, option, value])
    return lines


def test_the_fast_path_takes_a_line_as_click_takes_it() -> None:
    """Every option the fast path knows, and every default it fills in, is click's for that command: the
    parameters the implementation gets are the same (a click option added, renamed or given another
    default without the fast path's table following would differ here)."""
    import click

    from journaltools.cli import load_command_modules
    from journaltools.cli import main as group
    from journaltools.fastpath import COMMANDS

    load_command_modules()
    checked = 0
    for path, command in COMMANDS.items():
        click_command: click.Command = group
        ctx = click.Context(group)
        for word in path:
            click_command = click_command.get_command(ctx, word)  # type: ignore[attr-defined]
        for line in _option_lines(command):
            parsed = parse([*path, *line], False, {})
            if parsed is None:
                continue  # the click path's line (e.g. a repeated option): nothing to compare
            clicked = click_command.make_context(path[-1], list(line), parent=ctx)
            assert parsed.params == clicked.params, (path, line)
            checked += 1
    assert checked >= 60
