"""A directory store someone tampered with: the tool never steps outside it, never blocks, never half-acts.

Issue 13 items 8-11: symlinked object files, names that are not names (``../..``,
absolute paths, NUL), FIFOs and directories where object files belong, acquire into a
directory holding an earlier copy, object names with non-ASCII digits.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .journal_factory import FIXTURES

JID = "10abe81d9984"
EXPORT = FIXTURES / "golden" / "small_objects" / "journal-export.rbd"
DATA = f"journal_data.2.{JID}."


def journaltools(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "journaltools", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` (symlinks as their target path), locks and temporaries left out."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = b"-> " + os.readlink(p).encode()
        elif p.is_file() and "/locks/" not in f"/{rel}" and not p.name.startswith((".lock", ".tmp-")):
            out[rel] = p.read_bytes()
    return out


@pytest.fixture
def store(tmp_path):
    dest = tmp_path / "store"
    shutil.copytree(FIXTURES / "stores" / "small_objects", dest)
    return dest


def objects(store: Path) -> Path:
    return store / "rbd" / "objects"


def newest_object(store: Path) -> Path:
    return max(objects(store).glob(DATA + "*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))


IMPORT = ("journal", "import", EXPORT, f"rbd/{JID}", "--yes-i-really-mean-it", "--format", "rbd")
RESET = ("journal", "reset", f"rbd/{JID}", "--no-backup", "--yes-i-really-mean-it")


def test_object_file_that_is_a_symlink_is_never_written_through(store, tmp_path):
    victim = tmp_path / "victim"
    obj = newest_object(store)
    victim.write_bytes(obj.read_bytes())
    obj.unlink()
    obj.symlink_to(victim)
    before = victim.read_bytes()
    for command in (IMPORT, RESET, ("journal", "repair", f"rbd/{JID}", "--apply", "--no-backup",
                                    "--yes-i-really-mean-it")):
        result = journaltools("--store", store, *command)
        assert result.returncode != 0 and "symbolic link" in result.stderr, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert victim.read_bytes() == before
    assert obj.is_symlink()  # not replaced either: the store is left for the operator to look at


@pytest.mark.parametrize("namespace", ["../..", "..", "/tmp", "a/b", "x\ty", "."])
def test_namespace_that_is_not_a_name_is_refused_and_nothing_outside_is_touched(store, tmp_path, namespace):
    outside = tree(tmp_path)
    for command in (RESET, IMPORT, ("journal", "inspect", f"rbd/{JID}")):
        result = journaltools("--store", store, *command, "--namespace", namespace)
        assert result.returncode == errno.EINVAL, (command, result.stderr)
        assert "not a name" in result.stderr or "invalid" in result.stderr, result.stderr
        assert "internal error" not in result.stderr
    assert tree(tmp_path) == outside


def test_names_with_nul_are_refused_by_the_store(store):
    from journaltools.errors import SpecError
    from journaltools.store.directory import DirectoryStore

    ds = DirectoryStore(store)
    for bad in ("x\x00y", "../..", "/abs"):
        with pytest.raises(SpecError):
            ds.pool("rbd", bad)
        with pytest.raises(SpecError):
            ds.create_pool(bad, 9)
    with pytest.raises(SpecError):
        ds.pool("rbd").write_full("a\x00b", b"")
    with pytest.raises(SpecError):
        ds.pool("rbd").append("", b"x")


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_fifo_or_directory_among_the_objects_is_found_before_anything_is_deleted(store, kind):
    odd = objects(store) / (DATA + "13")
    odd.unlink()
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.mkdir()
    before = tree(store)
    inspect = journaltools("--store", store, "journal", "inspect", f"rbd/{JID}", timeout=60)  # must not block
    assert inspect.returncode != 0 and "internal error" not in inspect.stderr
    for command in (RESET, IMPORT):
        result = journaltools("--store", store, *command, timeout=60)
        assert result.returncode != 0, (command, result.stderr)
        assert f"is a {'FIFO' if kind == 'fifo' else 'directory'}" in result.stderr, result.stderr
        assert tree(store) == before, f"{command[1]} changed the store before refusing"


def test_acquire_into_an_earlier_copy_equals_a_fresh_acquire(store, tmp_path):
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    acquire = ("--store", store, "acquire", "--pool", "rbd", "--journal", JID)
    assert journaltools(*acquire, fresh).returncode == 0
    assert journaltools(*acquire, again).returncode == 0
    # the earlier copy holds stale state: an object the journal no longer has, a stale omap key
    stale = again / "rbd" / "objects" / (DATA + "99")
    stale.write_bytes(b"stale")
    header = again / "rbd" / "omap" / f"journal.{JID}.json"
    header.write_text(header.read_text().replace("{", '{\n  "client_stale": "AAAA",', 1))
    assert journaltools(*acquire, again).returncode == 0
    assert tree(again) == tree(fresh)


def test_acquire_into_a_directory_of_another_pool_is_refused(store, tmp_path):
    dest = tmp_path / "other"
    (dest / "rbd").mkdir(parents=True)
    (dest / "rbd" / "meta.json").write_text('{"pool": "rbd", "pool_id": 77, "fsid": null}\n')
    result = journaltools("--store", store, "acquire", "--pool", "rbd", "--journal", JID, dest)
    assert result.returncode == errno.EEXIST and "pool id 77" in result.stderr


@pytest.mark.parametrize("suffix", ["²", "٢٠", "２２", "1²"])
def test_object_names_with_non_ascii_digits_are_not_journal_objects(store, suffix):
    """'٢٠' is 20 to int(): it must not be read as object 20, nor crash the reader."""
    (objects(store) / (DATA + suffix)).write_bytes((objects(store) / (DATA + "12")).read_bytes())
    result = journaltools("--store", store, "journal", "inspect", "--all", f"rbd/{JID}", "--format", "json")
    assert result.returncode in (0, 1) and "internal error" not in result.stderr, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert {p["kind"] for p in doc["problems"]} == {"unexpected_object"}
    assert doc["summary"]["entries"] == 45  # the 45 entries of the untouched journal, none twice
    imported = journaltools("--store", store, *IMPORT)
    assert imported.returncode == 0, imported.stderr
