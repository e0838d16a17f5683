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
