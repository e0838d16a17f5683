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


