"""rbd's help texts, per release, for journaltools run as ``rbd``.

The texts are data: ``<release>.json`` in this package, measured from each release's real rbd
by tools/rbd_help_texts.py (``general``: ``rbd help``; ``commands``: ``rbd help <command>`` for
every command journaltools implements, under each spelling; ``all_commands``: every command of
that rbd; ``version``: that rbd's version).

rbd's rules (src/tools/rbd/Shell.cc), which :func:`answer` follows:

* ``-h`` or ``--help`` anywhere before ``--`` (and a line with no command words) prints the general
  help, exit 0, whatever the command;
* ``rbd help <command>`` prints the help of the first command whose words start the words given
  (``rbd help journal info extra`` is ``journal info``'s); an unknown one prints
  ``error: unknown option '<words>'`` on stderr, then the general help, exit 1.

The words are what remains after the options: an option without ``=`` that is not a switch takes
the next token as its value.  The release: ``--release``/``$JOURNALTOOLS_RELEASE``, else the real
rbd's own version (the rbd journaltools stands in for), else Pacific.  A command of rbd's that
journaltools does not implement (one of ``all_commands``) is left to the real rbd (``None``); so is
every help request of a release without texts here (Quincy, Squid), when there is a real rbd.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HELP_FLAGS = ("-h", "--help")
_DATA = Path(__file__).resolve().parent


@functools.cache
def texts(release: str) -> dict[str, Any] | None:
    """The measured help texts of ``release`` (a name: pacific, reef, tentacle), None when not measured."""
    path = _DATA / f"{release}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def measured_releases() -> list[str]:
    return sorted(p.stem for p in _DATA.glob("*.json"))


def _switches() -> frozenset[str]:
    """The options of journaltools' commands that take no value (rbd's switches), as ``--name``/``-x``."""
    import click

    from ..cli import load_command_modules, main

    load_command_modules()
    found = {"--debug"}
    stack: list[click.Command] = [main]
    while stack:
        command = stack.pop()
        for param in command.params:
            if isinstance(param, click.Option) and (param.is_flag or param.count):
                found.update(param.opts + param.secondary_opts)
        if isinstance(command, click.Group):
            stack.extend(command.commands.values())
    return frozenset(found)


def command_words(argv: Sequence[str]) -> tuple[list[str], bool]:
    """The command words of an rbd line and whether it asks for help (``-h``/``--help``), as rbd reads them."""
    words: list[str] = []
    switches: frozenset[str] | None = None
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in HELP_FLAGS:
            return ["help"], True
        if token == "--":
            words.extend(argv[i + 1:])
            break
        if token.startswith("-") and len(token) > 1:
            if switches is None:
                switches = _switches()
            if "=" not in token and token not in switches:
                i += 1  # its value
        else:
            words.append(token)
        i += 1
    return words, False


def chosen_release(argv: Sequence[str]) -> str:
    """The release whose help to print: --release, $JOURNALTOOLS_RELEASE, the real rbd's version, else Pacific."""
    from ..rbd_cli import real_rbd
    from ..release import DEFAULT, parse_release

    choice: str | None = None
    for i, token in enumerate(argv):
        if token == "--release" and i + 1 < len(argv):
            choice = argv[i + 1]
        elif token.startswith("--release="):
            choice = token.split("=", 1)[1]
    choice = choice or os.environ.get("JOURNALTOOLS_RELEASE")
    if not choice:
        target = real_rbd()
        if target is not None:
            try:
                choice = subprocess.run([target, "--version"], capture_output=True, text=True, timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                choice = None
    try:
        return parse_release(choice).name if choice else DEFAULT.name
    except Exception:  # noqa: BLE001 - an unparsable version: the default release's texts
        return DEFAULT.name


def find_command(commands: dict[str, str], words: Sequence[str]) -> str | None:
    """The command (spelled as the texts key it) whose words start ``words``."""
    for spelled in commands:
        parts = spelled.split()
        if list(words[:len(parts)]) == parts:
            return spelled
    return None


def answer(argv: Sequence[str]) -> int | None:
    """Run as rbd: print rbd's help when the line asks for it and return the exit code; None otherwise
    (not a help request, or one only the real rbd can answer)."""
    if argv and not any(t in HELP_FLAGS or t == "help" for t in argv):
        return None
    words, flag = command_words(argv)
    if words and words[0] != "help" and not flag:
        return None
    data = texts(chosen_release(argv))
    if data is None:  # a release not measured here (quincy, squid, newer): its own rbd answers, else Pacific's texts
        from ..rbd_cli import exec_real_rbd, real_rbd

        if real_rbd() is not None:
            return exec_real_rbd(argv)
        data = texts("pacific")
        if data is None:
            return None
    if not words or words == ["help"]:
        sys.stdout.write(data["general"])
        return 0
    spelled = find_command(data["commands"], words[1:])
    if spelled is not None:
        sys.stdout.write(data["commands"][spelled])
        return 0
    if find_command({c: c for c in data["all_commands"]}, words[1:]) is not None:
        return None  # a command of rbd's that journaltools does not implement: its help is the real rbd's
    sys.stderr.write(f"error: unknown option '{' '.join(words[1:])}'\n\n")
    sys.stdout.write(data["general"])
    return 1
