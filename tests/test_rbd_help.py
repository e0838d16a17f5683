"""journaltools as ``rbd`` prints rbd's help texts, byte for byte, per release (journaltools/rbd_help).

The texts are data measured from each release's real rbd (tools/rbd_help_texts.py); these tests
measure again and compare, and run journaltools as ``rbd`` (a symlink) beside the real rbd of each
release for the help requests scripts and people make: ``rbd help <command>`` under every spelling,
``rbd <command> --help`` / ``-h`` (rbd prints its general help), ``rbd help``, ``rbd``, an unknown
command (``error: unknown option`` and the general help, exit 1).  Run as journaltools, ``--help``
stays click's.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from journaltools.rbd_help import texts

from .conftest import require

REPO = Path(__file__).resolve().parent.parent
JOURNALTOOLS = REPO / ".venv" / "bin" / "journaltools"
RELEASES = ("pacific", "reef", "tentacle")


def _tool():
    spec = importlib.util.spec_from_file_location("rbd_help_texts", REPO / "tools" / "rbd_help_texts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _real_prefix(release: str) -> list[str]:
    prefix = _tool().rbd_command(release)
    require(None if prefix is not None else f"the {release} rbd does not run here (root and `make release-roots`)")
    return prefix


@pytest.fixture(scope="module")
def rbd_link(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("help-bin")
    (where / "rbd").symlink_to(JOURNALTOOLS)
    return where / "rbd"


@pytest.mark.parametrize("release", RELEASES)
def test_stored_texts_are_the_real_rbds(release):
    """Measured again from the release's rbd, the texts equal the stored ones."""
    _real_prefix(release)
    measured = _tool().measure(release)
    stored = texts(release)
    assert stored is not None, f"no help texts stored for {release}: run tools/rbd_help_texts.py"
    assert measured["version"] == stored["version"]
    assert measured["general"] == stored["general"]
    assert measured["all_commands"] == stored["all_commands"]
    assert sorted(measured["commands"]) == sorted(stored["commands"])
    differ = [c for c in measured["commands"] if measured["commands"][c] != stored["commands"][c]]
    assert not differ, f"{release}: help of {differ} differs from the rbd's"


def _lines(release: str) -> list[list[str]]:
    stored = texts(release)
    assert stored is not None
    lines: list[list[str]] = [[], ["help"], ["--help"], ["-h"], ["help", "nosuch"], ["help", "journal"],
                              ["journal", "nosuch", "--help"], ["help", "journal", "info", "extra"],
                              ["--pool", "help", "help", "journal", "status"],  # an option's value is no word
                              ["help", "--format", "json", "group", "ls"]]
    for spelled in stored["commands"]:
        words = spelled.split()
        lines += [["help", *words], [*words, "--help"], [*words, "x", "-h", "--format", "json"]]
    return lines


@pytest.mark.parametrize("release", RELEASES)
def test_dropin_prints_the_releases_help(release, rbd_link, tmp_path):
    """Every help request, as rbd: stdout, the ``error:`` lines of stderr and the exit code equal the release's rbd."""
    real = _real_prefix(release)
    env = dict(os.environ, CEPH_CONF="/dev/null", JOURNALTOOLS_RELEASE=release)
    differ = []
    lines = _lines(release)
    for line in lines:
        ours = subprocess.run([str(rbd_link), *line], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
        theirs = subprocess.run([*real, *line], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        errors = [[x for x in p.stderr.splitlines() if x.startswith(("error:", "rbd:"))] for p in (ours, theirs)]
        if (ours.returncode, ours.stdout, errors[0]) != (theirs.returncode, theirs.stdout, errors[1]):
            differ.append((line, ours.returncode, theirs.returncode, errors, ours.stdout[:200], theirs.stdout[:200]))
    assert not differ, f"{release}: {len(differ)} of {len(lines)} help requests differ: {differ[:5]}"


def test_release_defaults_to_the_real_rbds(rbd_link, tmp_path):
    """Without --release, the help is that of the real rbd journaltools stands in for (here: the host's)."""
    real = _real_prefix("pacific")
    env = {k: v for k, v in os.environ.items() if k != "JOURNALTOOLS_RELEASE"}
    env["CEPH_CONF"] = "/dev/null"
    ours = subprocess.run([str(rbd_link), "journal", "info", "--help"], env=env, capture_output=True, text=True,
                          timeout=60)
    theirs = subprocess.run([*real, "help"], capture_output=True, text=True, timeout=60)
    assert (ours.returncode, ours.stdout) == (0, theirs.stdout)
    for release in ("reef", "tentacle"):
        ours = subprocess.run([str(rbd_link), "--release", release, "help"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert ours.stdout == texts(release)["general"]


def test_journaltools_keeps_clicks_help(tmp_path):
    proc = subprocess.run([str(JOURNALTOOLS), "journal", "info", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: journaltools journal info"), proc.stdout[:200]
    proc = subprocess.run([str(JOURNALTOOLS), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: journaltools "), proc.stdout[:200]
