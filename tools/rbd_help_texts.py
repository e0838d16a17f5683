"""Measure the real rbd's help texts, per release, into journaltools/rbd_help/<release>.json.

usage: python tools/rbd_help_texts.py [--check] [RELEASE...]   (default: every release that runs here)

For each release (Pacific: the host's /usr/bin/rbd; Reef, Tentacle: the rbd of their release root,
run through tools/release-chroot.sh, see tests/releases.py) it records

* ``general``: what ``rbd help`` prints (also ``rbd --help``, ``rbd <command> --help``, and, after
  rbd's ``error: unknown option`` line, what an unknown command prints);
* ``commands``: ``rbd help <command>`` for every command journaltools implements that this rbd has,
  under each of its spellings (``group list`` and its alias ``group ls`` print different usage lines);
* ``all_commands``: every command this rbd has, aliases included (``rbd bash-completion``): the
  help of one journaltools does not implement is the real rbd's, any other is unknown;
* ``version``: the rbd's ``--version`` line.

Which commands journaltools implements is its own click tree (every leaf command and alias); a
command is the release's when its rbd's ``help`` prints a usage line naming exactly that command.
``--check`` compares the measured texts with the stored files instead of writing them (exit 1 on a
difference).  No cluster is needed: rbd's help connects to nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "journaltools" / "rbd_help"
ROOTS = Path(os.environ.get("JOURNALTOOLS_ROOTS", "/var/cache/journaltools/roots"))
#: release -> the Debian suite of its root (None: the host's own rbd)
SUITES: dict[str, str | None] = {"pacific": None, "reef": "trixie", "tentacle": "sid"}


def rbd_command(release: str) -> list[str] | None:
    """The command line prefix that runs ``release``'s rbd (None when it cannot run here)."""
    suite = SUITES[release]
    env = ["env", "CEPH_CONF=/dev/null"]
    if suite is None:
        return [*env, "/usr/bin/rbd"] if os.access("/usr/bin/rbd", os.X_OK) else None
    root = ROOTS / suite
    if os.geteuid() != 0 or not (root / ".journaltools-ready").exists():
        return None
    return [str(REPO / "tools" / "release-chroot.sh"), str(root), *env, "rbd"]


def run(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)


def our_command_paths() -> list[tuple[str, ...]]:
    """Every leaf command of journaltools' click tree, under every name it answers to."""
    import click

    sys.path.insert(0, str(REPO))
    from journaltools.cli import load_command_modules, main

    load_command_modules()
    paths: list[tuple[str, ...]] = []
    stack: list[tuple[tuple[str, ...], click.Command]] = [((), main)]
    while stack:
        path, command = stack.pop()
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                stack.append(((*path, name), sub))
        else:
            paths.append(path)
    return sorted(paths)


def measure(release: str) -> dict[str, object] | None:
    """The help texts of ``release``'s rbd (None when that rbd cannot run here)."""
    prefix = rbd_command(release)
    if prefix is None:
        return None
    general = run(prefix, "help")
    if general.returncode != 0:
        raise RuntimeError(f"{release}: rbd help failed: {general.stderr}")
    commands: dict[str, str] = {}
    for path in our_command_paths():
        proc = run(prefix, "help", *path)
        spelled = " ".join(path)
        first = proc.stdout.split("\n", 1)[0]
        if proc.returncode == 0 and (first == f"usage: rbd {spelled}" or first.startswith(f"usage: rbd {spelled} ")):
            commands[spelled] = proc.stdout
    version = run(prefix, "--version").stdout.strip()
    completion = run(prefix, "bash-completion").stdout.strip().split("|")
    every = sorted(w for w in completion if w and not w.startswith("-") and w != "help")
    return {"version": version, "general": general.stdout, "commands": commands, "all_commands": every}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    releases = [a for a in argv if not a.startswith("--")] or list(SUITES)
    status = 0
    for release in releases:
        measured = measure(release)
        if measured is None:
            print(f"{release}: its rbd does not run here, skipped")
            continue
        target = DATA / f"{release}.json"
        text = json.dumps(measured, indent=1, sort_keys=True) + "\n"
        count = len(measured["commands"])  # type: ignore[arg-type]
        if check:
            same = target.exists() and target.read_text() == text
            print(f"{release}: {count} command help texts + the general help: {'equal' if same else 'DIFFERENT'}")
            status |= 0 if same else 1
        else:
            DATA.mkdir(exist_ok=True)
            target.write_text(text)
            print(f"{release}: {count} command help texts + the general help -> {target.relative_to(REPO)}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
