"""Strings the JSONFormatter must escape exactly as rbd 16.2 does, on a live cluster and offline.

A client id, snapshot names and image metadata holding quotes, backslashes, tabs,
newlines, control characters, DEL, ``/`` and non-ASCII text go through
``journal status --format json [--pretty-format]`` and ``journal inspect --verbose``.
(Client ids that are not UTF-8 cannot be tested: python3-rados decodes omap keys as UTF-8.)
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_helpers import cli
from .test_journal_write_live import image_id

pytestmark = pytest.mark.ceph

ODD = 'q"uo\\te\t\x01\x7f\x08\x0c\ré/\u2603'


def journaltools_bytes(ceph, *args: str) -> tuple[int, str, str]:
    """Our CLI over RADOS in a subprocess, stdout decoded without newline translation (``\\r`` stays)."""
    exe = Path(sys.executable).with_name("journaltools")
    proc = subprocess.run([str(exe), "-c", ceph.conf, *args], env=ceph.env, capture_output=True, timeout=300)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def strings_journal(ceph_cluster):
    import rbd

    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "layering,exclusive-lock,journaling",
             "--journal-splay-width", "2", "--journal-object-size", "16K", "rbd/strings")
    jid = image_id(ceph, "rbd/strings")
    cluster = ceph.connect()
    try:
        with cluster.open_ioctx("rbd") as ioctx:
            def s(b: bytes) -> bytes:
                return struct.pack("<I", len(b)) + b

            ioctx.execute(f"journal.{jid}", "journal", "client_register", s(ODD.encode()) + s(bytes(range(40))))
            with rbd.Image(ioctx, "strings") as image:
                image.write(b"\x00" * 512, 0)
                image.create_snap(ODD)
                image.rename_snap(ODD, ODD + "2")
                image.metadata_set(ODD, ODD + "\n")
                image.metadata_remove(ODD)
                image.remove_snap(ODD + "2")
    finally:
        cluster.shutdown()
    return jid


@pytest.mark.parametrize("command", [["status", "--format", "json"], ["status", "--format", "json", "--pretty-format"],
                                     ["status"], ["inspect", "--verbose"]])
def test_odd_strings_print_as_rbd_prints_them(ceph_cluster, strings_journal, command, tmp_path, capsys):
    ceph = ceph_cluster
    theirs = ceph.rbd("journal", command[0], "--image", "strings", *command[1:]).stdout
    assert "\\u007f" in theirs or command == ["status"]  # the case under test is really there
    ours_args = [command[0], *(["--no-lag"] if command[0] == "status" else []), *command[1:]]
    code, ours, err = journaltools_bytes(ceph, "journal", *ours_args, "--image", "strings")
    assert (code, err) == (0, "")
    assert ours == theirs
    store = tmp_path / "store"
    code, _, err = ceph.journaltools("acquire", "--pool", "rbd", "--journal", strings_journal, str(store))
    assert code == 0, err
    assert cli(capsys, "--store", str(store), "journal", *ours_args, f"rbd/{strings_journal}")[1] == theirs
