"""Every command has help text and is documented with an example in docs/ (sqlite-utils style)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from journaltools.cli import load_command_modules, main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands(group: click.Group, path: tuple[str, ...] = (), canonical: bool = True):
    for name, cmd in sorted(group.commands.items()):
        is_canonical = canonical and name == cmd.name  # aliases (rm, ls, attach, consistency-group) share a command
        yield path + (name,), cmd, is_canonical
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,), is_canonical)


load_command_modules()  # the walk below sees every command
ALL = list(_commands(main))
COMMANDS = [(p, c) for p, c, _ in ALL]
CANONICAL = [(p, c) for p, c, canonical in ALL if canonical]


def _docs_text() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))


def test_there_are_commands():
    assert len(COMMANDS) > 5


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help(path, cmd):
    assert (cmd.help or cmd.short_help or "").strip(), f"journaltools {' '.join(path)} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"option {param.opts} of journaltools {' '.join(path)} has no help text"


@pytest.mark.parametrize(("path", "cmd"), CANONICAL, ids=[" ".join(p) for p, _ in CANONICAL])
def test_command_is_documented_with_an_example(path, cmd):
    words = r"\s+".join(re.escape(w) for w in path)
    # an example invocation: `journaltools [global options] <path...>` on one line
    pattern = re.compile(r"journaltools(?:\s+-[^\s]+(?:\s+[^\s-][^\s]*)?)*\s+" + words + r"\b")
    assert pattern.search(_docs_text()), f"no example of 'journaltools {' '.join(path)}' in docs/*.md"
