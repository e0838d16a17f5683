"""The CLI imports only the modules of the command being run; every command is still there.

Lazy groups (``journaltools.cli.LazyGroup``: the top level and ``journal``) map each
command to the modules that define it.  These tests fail when a module registers a
command its group's map does not name, or when a command looked up lazily (in a fresh
interpreter) differs from the same command with every module imported, or imports a
command-defining module its path does not name.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from journaltools.cli import LazyGroup, load_command_modules, main

RESOLVE = r"""
import json, sys
import click
from journaltools.cli import LazyGroup, main

def tree(cmd):
    if isinstance(cmd, LazyGroup):  # its commands are not imported until one is looked up
        return {n: "lazy" for n in sorted(cmd.lazy_modules)}
    if isinstance(cmd, click.Group):
        return {n: tree(c) for n, c in sorted(cmd.commands.items())}
    return None

cmd = main
for name in sys.argv[1:]:
    with click.Context(cmd) as ctx:
        cmd = cmd.get_command(ctx, name)
loaded = sorted(m for m in sys.modules if m.startswith("journaltools.commands."))
print(json.dumps({"tree": tree(cmd) if cmd is not None else "missing", "loaded": loaded}))
"""


def _tree(cmd: click.Command) -> object:
    if isinstance(cmd, LazyGroup):
        return {n: "lazy" for n in sorted(cmd.commands)}
    if isinstance(cmd, click.Group):
        return {n: _tree(c) for n, c in sorted(cmd.commands.items())}
    return None


def _lazy_groups(group: click.Group, path: tuple[str, ...] = ()):
    if isinstance(group, LazyGroup):
        yield path, group
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group) and name == cmd.name:
            yield from _lazy_groups(cmd, path + (name,))


load_command_modules()
LAZY = list(_lazy_groups(main))
LOOKUPS = [(path, name) for path, group in LAZY for name in sorted(group.lazy_modules)]
DEFINING = {f"journaltools.commands.{m}" for _, g in LAZY for modules in g.lazy_modules.values() for m in modules}


def test_there_are_lazy_groups() -> None:
    assert [path for path, _ in LAZY] == [(), ("journal",)]


@pytest.mark.parametrize(("path", "group"), LAZY, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_registered_command_is_in_its_groups_map(path: tuple[str, ...], group: LazyGroup) -> None:
    assert sorted(group.commands) == sorted(group.lazy_modules)


@pytest.mark.parametrize(("path", "name"), LOOKUPS, ids=[" ".join((*p, n)) for p, n in LOOKUPS])
def test_lazy_lookup_gives_the_whole_command(path: tuple[str, ...], name: str) -> None:
    out = subprocess.run([sys.executable, "-c", RESOLVE, *path, name], capture_output=True, text=True,
                         check=True).stdout
    found = json.loads(out)
    cmd: click.Command = main
    expected_modules: set[str] = set()
    for step in (*path, name):
        assert isinstance(cmd, LazyGroup)
        expected_modules |= {f"journaltools.commands.{m}" for m in cmd.lazy_modules[step]}
        cmd = cmd.commands[step]
    assert found["tree"] == _tree(cmd)
    assert set(found["loaded"]) & DEFINING == expected_modules


def test_help_lists_every_command() -> None:
    for path, group in LAZY:
        out = subprocess.run([sys.executable, "-m", "journaltools", *path, "--help"], capture_output=True, text=True,
                             check=True).stdout
        listed = out.split("Commands:", 1)[1]
        for name in group.lazy_modules:
            assert f"  {name} " in listed or f"  {name}\n" in listed, (path, name)


# -- what start-up imports ---------------------------------------------------------------------------
#: modules the read commands must not import at start-up on a small journal whose events are all on the
#: fast path (each costs milliseconds a user waits for: construct ~10 ms, the librbd binding, jsonschema, ...)
HEAVY = ("construct", "rbd", "jsonschema", "rich", "hypothesis", "journaltools.format.primitives",
         "journaltools.format.librbd_journal", "tempfile")
PROBE = r"""
import contextlib, io, json, sys
from journaltools.cli import run
heavy = set(json.loads(sys.argv[1]))
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = run(sys.argv[3:], argv0=sys.argv[2])
found = sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)
print(json.dumps({"code": code, "heavy": found, "out": out.getvalue()}))
"""
SITE_A = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "stores" / "site-a")
#: (argv0, command line) of the read commands, on the fixture's empty journal (img1) and a small one (small)
DIRECTORY_COMMANDS = [
    ("journaltools", ["--store", SITE_A, "journal", "inspect", "--pool", "rbd", "--image", "img1"]),
    ("journaltools", ["--store", SITE_A, "journal", "inspect", "--pool", "rbd", "--image", "small"]),
    ("journaltools", ["--store", SITE_A, "journal", "inspect", "--pool", "rbd", "--journal", "10abe81d9984"]),
    ("journaltools", ["--store", SITE_A, "journal", "info", "--pool", "rbd", "--image", "small"]),
    ("journaltools", ["--store", SITE_A, "journal", "export", "--pool", "rbd", "--image", "small", "--format", "rbd",
                      "--path", "out.rbd"]),
    ("journaltools", ["--store", SITE_A, "journal", "export", "--pool", "rbd", "--image", "small", "--format", "jsonl",
                      "--path", "out.jsonl"]),
    ("journaltools", ["--store", SITE_A, "journal", "export", "--pool", "rbd", "--image", "small", "--format", "json",
                      "--path", "out.json"]),
    ("rbd", ["--store", SITE_A, "journal", "inspect", "--pool", "rbd", "--image", "small"]),
]


def _probe(argv0: str, args: list[str], **kwargs: object) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), argv0, *args], capture_output=True, text=True,
                          **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(("argv0", "args"), DIRECTORY_COMMANDS, ids=[" ".join(a[2:6]) + f" ({p})" for p, a in
                                                                      DIRECTORY_COMMANDS])
def test_read_commands_start_without_heavy_modules(argv0: str, args: list[str], tmp_path) -> None:
    found = _probe(argv0, args, cwd=tmp_path)
    assert found["code"] == 0
    assert found["heavy"] == [], f"imported at start-up: {found['heavy']}"


def test_the_directory_store_does_not_load_librados(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["rados"]), "journaltools", "--store", SITE_A,
                           "journal", "inspect", "--pool", "rbd", "--image", "small"], capture_output=True, text=True,
                          cwd=tmp_path, check=True)
    assert json.loads(proc.stdout.splitlines()[-1])["heavy"] == []


def test_the_probe_sees_heavy_modules() -> None:
    """The check above can fail: a command that needs the declarations (an event filter) imports construct."""
    found = _probe("journaltools", ["--store", SITE_A, "journal", "inspect", "--pool", "rbd", "--image", "small",
                                    "--event-type", "AioWrite"])
    assert "construct" in found["heavy"] and "journaltools.format.librbd_journal" in found["heavy"]


@pytest.mark.ceph
def test_live_read_commands_start_without_heavy_modules(ceph_cluster, tmp_path) -> None:
    """Live, on an empty journal: librados' binding only (not librbd's), no construct."""
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/startup-empty")
    for argv0, args in [
        ("journaltools", ["journal", "inspect", "--pool", "rbd", "--image", "startup-empty"]),
        ("journaltools", ["journal", "info", "--pool", "rbd", "--image", "startup-empty"]),
        ("journaltools", ["journal", "export", "--pool", "rbd", "--image", "startup-empty", "--format", "rbd",
                          "--path", str(tmp_path / "e.rbd")]),
        ("journaltools", ["journal", "export", "--pool", "rbd", "--image", "startup-empty", "--format", "json",
                          "--path", str(tmp_path / "e.json")]),
        ("rbd", ["journal", "inspect", "--pool", "rbd", "--image", "startup-empty"]),
    ]:
        found = _probe(argv0, ["-c", ceph.conf, *args], cwd=tmp_path)
        assert found["code"] == 0, found
        assert found["heavy"] == [], (args, found["heavy"])
