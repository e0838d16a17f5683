"""kill -9 at random points during repair, import, reset and acquire on the directory backend.

Every file is always either its old or its new content (writes go through a temporary
file, fsync and rename), nothing half-written is ever visible, the journal can always
be read, and running the command again finishes the job.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .journal_factory import FIXTURES

JID = "10abe81d9984"
RUNS = int(os.environ.get("JOURNALTOOLS_CRASH_RUNS", "6"))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".lock")}


def journaltools(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "journaltools", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def run(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "journaltools", *args], capture_output=True, timeout=120).returncode


def damaged_store(tmp: Path) -> Path:
    store = tmp / "store"
    shutil.copytree(FIXTURES / "stores" / "small_objects", store)
    obj = store / "rbd" / "objects" / f"journal_data.2.{JID}.15"
    data = bytearray(obj.read_bytes())
    data[40] ^= 0x20
    obj.write_bytes(bytes(data))
    return store


COMMANDS = {
    "repair": lambda store, tmp: ["--store", str(store), "journal", "repair", f"rbd/{JID}", "--apply", "--no-backup",
                                  "--yes-i-really-mean-it"],
    "reset": lambda store, tmp: ["--store", str(store), "journal", "reset", f"rbd/{JID}", "--keep-clients",
                                 "--backup", str(tmp / "bk"), "--yes-i-really-mean-it"],
    "import": lambda store, tmp: ["--store", str(store), "journal", "import",
                                  str(FIXTURES / "golden" / "small_objects" / "journal-export.rbd"), f"rbd/{JID}",
                                  "--yes-i-really-mean-it"],
    "acquire": lambda store, tmp: ["--store", str(store), "acquire", "--pool", "rbd", "--journal", JID, str(tmp / "copy")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_kill_minus_nine_leaves_old_or_new_files(tmp_path, command):
    rng = random.Random(f"{command}-seed")
    # the new state: the command run to completion on a copy
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    done_store = damaged_store(done_dir)
    assert run(*COMMANDS[command](done_store, done_dir)) == 0
    old_files = snapshot(damaged_store(tmp_path / "ref"))
    new_files = snapshot(done_store)
    for attempt in range(RUNS):
        work = tmp_path / f"run{attempt}"
        work.mkdir()
        store = damaged_store(work)
        proc = journaltools(*COMMANDS[command](store, work))
        time.sleep(rng.uniform(0.05, 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name, content in snapshot(store).items():
            old, new = old_files.get(name), new_files.get(name)
            if command == "import" and "/objects/journal_data." in f"/{name}" and new is not None:
                # appends: the old bytes plus whole entries of the new ones (libjournal's own append semantics)
                assert content.startswith(old or b"") and new.startswith(content), f"import: {name} is torn"
            elif command == "import" and name.endswith(f"journal.{JID}.json"):
                # the header moves through each object set the import fills: any of those states, never torn
                state = {k: base64.b64decode(v) for k, v in json.loads(content).items()}
                low = int.from_bytes(base64.b64decode(json.loads(old)["active_set"]), "little")
                high = int.from_bytes(base64.b64decode(json.loads(new)["active_set"]), "little")
                assert low <= int.from_bytes(state["active_set"], "little") <= high, f"import: {name}"
            elif name.endswith(f"journal.{JID}.json") and command in ("reset", "repair"):
                # the header is updated by a few atomic omap writes in a row: any of them, never torn
                assert all(isinstance(v, str) for v in json.loads(content).values()), f"{command}: {name}"
            elif old is not None or new is not None:
                assert content in (old, new), f"{command}: {name} is torn"
        # the journal is always readable, and the command finishes on a second run
        inspect = subprocess.run([sys.executable, "-m", "journaltools", "--store", str(store), "journal", "inspect",
                                  "--all", f"rbd/{JID}"], capture_output=True, text=True, timeout=120)
        assert inspect.returncode in (0, 1) and "Traceback" not in inspect.stderr
        if command == "import":
            assert "truncated_entry" not in inspect.stdout  # never half an entry
        if command != "import":  # a second import would add the entries again: that is what it means
            assert run(*COMMANDS[command](store, work)) == 0
            assert run("--store", str(store), "journal", "inspect", f"rbd/{JID}") == 0 or command == "acquire"


def test_journaltools_runs_as_a_module():
    assert subprocess.run([sys.executable, "-m", "journaltools", "--version"], capture_output=True).returncode == 0




# -- kill -9 at an exact system call, then rerun: the state of an uninterrupted run (issue 13 items 2, 3) --------

STRACE = shutil.which("strace")


def journal_files(store: Path) -> dict[str, bytes]:
    """The store's files as a journal reader sees them (a crash's temporary files and lock files aside)."""
    return {name: content for name, content in snapshot(store).items() if not Path(name).name.startswith(".tmp-")}


def syscall_count(args: list[str], syscall: str, tmp: Path) -> int:
    trace = tmp / f"count-{syscall}.trace"
    done = subprocess.run([STRACE, "-f", "-qq", "-e", f"trace={syscall}", "-o", str(trace), sys.executable, "-m",
                           "journaltools", *args], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return sum(1 for line in trace.read_text().splitlines() if f"{syscall}(" in line)


def killed_at(args: list[str], syscall: str, when: int) -> int:
    """Run journaltools under strace, SIGKILLed at its ``when``-th call of ``syscall`` (before the call is made)."""
    done = subprocess.run([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscall}",
                           "-e", f"inject={syscall}:signal=KILL:when={when}", sys.executable, "-m", "journaltools", *args],
                          capture_output=True, timeout=120)
    return done.returncode


def _kill_and_rerun(tmp_path: Path, make_store, args_of, rerun_args_of, syscall: str, check) -> list[int]:
    if STRACE is None:
        pytest.fail("strace is needed for the exact-kill tests (make ceph-deps installs it)")
    ref = tmp_path / "uninterrupted"
    ref.mkdir()
    ref_store = make_store(ref)
    count = syscall_count(args_of(ref_store, ref), syscall, ref)
    final = journal_files(ref_store)
    check(ref_store)
    assert count > 0
    bad = []
    for when in range(1, count + 1):
        work = tmp_path / f"{syscall}{when}"
        work.mkdir()
        store = make_store(work)
        code = killed_at(args_of(store, work), syscall, when)
        assert code != 0, f"not killed at {syscall} {when}"
        rerun = subprocess.run([sys.executable, "-m", "journaltools", *rerun_args_of(store, work)], capture_output=True,
                               text=True, timeout=120)
        if rerun.returncode != 0 or journal_files(store) != final:
            bad.append(when)
            continue
        check(store)
        shutil.rmtree(work)
    return bad


def _entries(store: Path) -> list[tuple[int, int, bytes]]:
    from journaltools.journal import Journal
    from journaltools.store.directory import DirectoryStore

    journal = Journal.open(DirectoryStore(store).pool("rbd"), JID)
    return [(e.tag_tid, e.entry_tid, bytes(e.payload)) for e in journal.walk(all_entries=True)]


REPAIR = ["journal", "repair", f"rbd/{JID}", "--apply", "--no-backup", "--yes-i-really-mean-it"]


@pytest.mark.parametrize("syscall,backup", [("rename", False), ("unlink", False), ("rename", True)],
                         ids=["rename", "unlink", "rename-with-backup"])
def test_repair_killed_at_any_call_then_rerun_equals_an_uninterrupted_run(tmp_path, syscall, backup):
    """kill -9 at every rename (every atomic write) or unlink of `repair --apply`, then the same command again:
    the store is byte for byte what one uninterrupted repair leaves (no entry lost, none duplicated)."""
    pristine = {(t, p) for t, _, p in _entries(FIXTURES / "stores" / "small_objects")}

    def check(store: Path) -> None:
        entries = _entries(store)
        assert len({(t, i) for t, i, _ in entries}) == len(entries)  # no duplicate
        assert len({(t, p) for t, _, p in entries} & pristine) == len(pristine) - 1  # only the crc-damaged entry gone
        assert run("--store", str(store), "journal", "inspect", f"rbd/{JID}") == 0

    def args_of(store: Path, tmp: Path) -> list[str]:
        if backup:  # the backup (a directory store of its own) is written first: its renames come first
            return ["--store", str(store), "journal", "repair", f"rbd/{JID}", "--apply", "--backup", str(tmp / "bk")]
        return ["--store", str(store), *REPAIR]

    bad = _kill_and_rerun(tmp_path, damaged_store, args_of, args_of, syscall, check)
    assert bad == [], f"reruns after a kill at {syscall} {bad} did not reach the uninterrupted state"


@pytest.mark.parametrize("syscall,backup", [("rename", False), ("rename", True), ("unlink", False)],
                         ids=["rename", "rename-with-backup", "unlink"])
def test_reset_keep_clients_killed_at_any_call_keeps_the_clients(tmp_path, syscall, backup):
    """kill -9 at every rename (and every unlink) of `reset --keep-clients`, then reset again: the kept client is
    still there and the store is what one uninterrupted reset leaves."""

    def args_of(store: Path, tmp: Path) -> list[str]:
        keep = ["--backup", str(tmp / "bk")] if backup else ["--no-backup"]
        return ["--store", str(store), "journal", "reset", f"rbd/{JID}", "--keep-clients", *keep, "--yes-i-really-mean-it"]

    def rerun_of(store: Path, tmp: Path) -> list[str]:
        return ["--store", str(store), "journal", "reset", f"rbd/{JID}", "--keep-clients", "--no-backup",
                "--yes-i-really-mean-it"]

    def check(store: Path) -> None:
        listed = subprocess.run([sys.executable, "-m", "journaltools", "--store", str(store), "journal", "client",
                                 "list", f"rbd/{JID}"], capture_output=True, text=True, timeout=60).stdout
        assert "late-peer: connected, nothing committed" in listed, listed

    bad = _kill_and_rerun(tmp_path, lambda tmp: damaged_store(tmp), args_of, rerun_of, syscall, check)
    assert bad == [], f"reruns after a kill at {syscall} {bad} lost the kept client or differ"
