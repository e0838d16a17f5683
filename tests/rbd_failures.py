"""Failed operations of the commands journaltools implements, as rbd reports them: a matrix of states.

Each line of :func:`failure_matrix` fails (or, where rbd treats it as a success, finds nothing) on the
states :func:`prepare` builds with the reference rbd: a missing pool, image, journal, group, group
snapshot, journal client, peer; an image without journaling; mirroring not enabled on the pool or
the image; a primary image... None of them changes the cluster, so the real rbd and journaltools
(as ``rbd``) can run the same line one after the other.  What is compared (:func:`messages`): the
exit code, the ``rbd:`` lines (stdout and stderr: scripts grep them) and the text of librbd's log
lines of level -1 (``librbd::api::Mirror: image_enable: cannot enable mirroring: ...``), without
their time stamp and thread, which no two runs share.

By hand, against a fresh cluster of a release (its rbd the reference)::

    python -m tests.rbd_failures pacific|reef|tentacle [--verbose]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
JOURNALTOOLS = REPO / ".venv" / "bin" / "journaltools"
UUID = "12345678-1234-1234-1234-123456789012"
#: a librbd/librados log line: "2026-12-01T12:33:56.747+0000 7f09aa697380 -1 librbd::...: text"
_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d{4} [0-9a-f]+ +-?\d+ ([^\n]*)\n?")


def prepare(ceph: Any, tag: str = "rf") -> dict[str, str]:
    """The states of the matrix, made with the reference rbd; returns the names the matrix uses."""
    pool, plain = ceph.new_pool(f"{tag}pool"), ceph.new_pool(f"{tag}plain")
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", f"{pool}/j1")
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock", f"{pool}/nj")  # no journaling
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", f"{plain}/pj")
    ceph.rbd("mirror", "pool", "enable", pool, "image")
    ceph.rbd("mirror", "image", "enable", f"{pool}/j1", "journal")
    ceph.rbd("group", "create", f"{pool}/g1")
    return {"pool": pool, "plain": plain}


def failure_matrix(names: dict[str, str], tmp: Path) -> list[tuple[str, ...]]:
    p, q = names["pool"], names["plain"]
    missing_file = str(tmp / "no-such-file")
    lines = [
        # journal: a missing pool, image, journal; an image without journaling; a client not registered
        f"journal info {p}/nosuch", f"journal info --image {p}/nosuch", "journal info nosuchpool/x",
        "journal info --pool nosuchpool --image x", f"journal info --image {p}/nj",
        f"journal status {p}/nosuch", f"journal status --image {p}/nosuch", f"journal status --image {p}/nj",
        f"journal inspect {p}/nosuch", f"journal inspect --image {p}/nosuch", f"journal inspect --image {p}/nj",
        "journal inspect nosuchpool/x",
        f"journal export --image {p}/nosuch --path {tmp}/exp-a", f"journal export {p}/nosuch --path {tmp}/exp-b",
        f"journal import --dest {p}/nosuch {missing_file}", f"journal import --dest {p}/j1 {missing_file}",
        f"journal reset {p}/nosuch", f"journal reset --image {p}/nosuch", "journal reset nosuchpool/x",
        f"journal client disconnect --image {p}/j1 --client-id nope", f"journal client disconnect --image {p}/nosuch",
        f"journal client disconnect --image {p}/nj", f"journal client disconnect {p}/nosuch",
        # status, features
        f"status {p}/nosuch", "status nosuchpool/x",
        f"feature enable {p}/nosuch journaling", f"feature enable {p}/j1 journaling",
        f"feature disable {p}/nosuch journaling", f"feature disable {p}/nj journaling",
        # groups
        f"group create {p}/g1", "group create nosuchpool/g", f"group remove {p}/nosuch", "group remove nosuchpool/g",
        f"group rename {p}/nosuch {p}/x", f"group rename {p}/g1 {p}/g1", "group list nosuchpool",
        f"group image add {p}/g1 {p}/nosuch", f"group image add {p}/nosuch {p}/nj",
        f"group image remove {p}/g1 {p}/nj", f"group image remove {p}/nosuch {p}/nj",
        f"group image remove {p}/g1 {p}/nosuch", f"group image list {p}/nosuch", "group image list nosuchpool/g",
        f"group snap create {p}/nosuch@s", f"group snap remove {p}/g1@nosuch", f"group snap remove {p}/nosuch@s",
        f"group snap rename {p}/g1@nosuch x", f"group snap rename {p}/nosuch@a b",
        f"group snap rollback {p}/g1@nosuch", f"group snap rollback {p}/nosuch@s",
        f"group snap list {p}/nosuch", "group snap list nosuchpool/g",
        # mirroring: pools
        "mirror pool info nosuchpool", "mirror pool status nosuchpool", f"mirror pool status {q}",
        f"mirror pool status --verbose {q}", "mirror pool enable nosuchpool image", "mirror pool disable nosuchpool",
        f"mirror pool disable {p}", f"mirror pool disable {q}", f"mirror pool enable {p} nosuchmode",
        f"mirror pool enable {p} image", f"mirror pool info {q}", f"mirror pool info --all {p}",
        f"mirror pool peer add {q} client.admin@x", "mirror pool peer add nosuchpool client.admin@x",
        f"mirror pool peer remove {p} {UUID}", f"mirror pool peer remove {q} {UUID}",
        f"mirror pool peer remove nosuchpool {UUID}",
        # mirroring: images
        f"mirror image status {p}/nosuch", f"mirror image status {p}/nj", f"mirror image status {q}/pj",
        "mirror image status nosuchpool/x",
        f"mirror image enable {p}/nosuch journal", f"mirror image enable {q}/pj",
        f"mirror image enable {p}/j1 journal", f"mirror image enable {p}/j1 nosuchmode",
        f"mirror image disable {p}/nosuch", f"mirror image disable {p}/nj", f"mirror image disable {q}/pj",
        f"mirror image demote {q}/pj", f"mirror image promote {q}/pj", f"mirror image resync {q}/pj",
        f"mirror image status {q}/pj",
        f"mirror image promote {p}/j1", f"mirror image promote {p}/nj", f"mirror image promote {p}/nosuch",
        f"mirror image demote {p}/nj", f"mirror image demote {p}/nosuch",
        f"mirror image resync {p}/j1", f"mirror image resync {p}/nj", f"mirror image resync {p}/nosuch",
        f"mirror image snapshot {p}/j1", f"mirror image snapshot {p}/nj", f"mirror image snapshot {p}/nosuch",
    ]
    return [tuple(line.split()) for line in lines]


def messages(proc: subprocess.CompletedProcess[bytes]) -> tuple[int, list[str], list[str]]:
    """(exit code, the ``rbd:`` lines, the texts of librbd's error log lines) of one run."""
    text = proc.stdout.decode("utf-8", "replace") + "\n" + proc.stderr.decode("utf-8", "replace")
    logged = [re.sub(r"0x[0-9a-f]+", "0x", m.group(1)) for m in _LOG_LINE.finditer(text) if " -1 " in m.group(0)]
    rest = _LOG_LINE.sub("", text)  # a log line may land inside an rbd: line
    rbd_lines = [line for line in rest.splitlines() if line.startswith("rbd:")]
    return proc.returncode, rbd_lines, [t for t in logged if t.startswith("librbd::")]


def compare(lines: Sequence[tuple[str, ...]], ours: Callable[..., subprocess.CompletedProcess[bytes]],
            theirs: Callable[..., subprocess.CompletedProcess[bytes]], logged: bool = True) -> list[tuple[Any, ...]]:
    """The lines whose messages differ: (line, ours, theirs); ``logged``: librbd's log texts count too."""
    differ = []
    for line in lines:
        a, b = messages(ours(*line)), messages(theirs(*line))
        if not logged:
            a, b = a[:2], b[:2]
        if a != b:
            differ.append((" ".join(line), a, b))
    return differ


def runners(ceph: Any, rbd_link: Path, workdir: Path) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(journaltools as rbd, the cluster's own rbd) running one line against ``ceph``."""
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNALTOOLS_STORE", "CEPH_ARGS")}
    env["CEPH_CONF"] = ceph.conf

    def ours(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([str(rbd_link), *args], env=env, cwd=workdir, capture_output=True, timeout=300)

    def theirs(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*ceph.wrap, "rbd", *args], env=env, cwd=workdir, capture_output=True, timeout=300)

    return ours, theirs


def _main(argv: list[str]) -> int:
    import shutil
    import tempfile

    from .releases import RELEASES, start_release_cluster

    release = RELEASES[argv[0] if argv else "pacific"]
    ceph, root = start_release_cluster(release)
    try:
        work = Path(tempfile.mkdtemp(prefix="rbd-failures-"))
        (work / "rbd").symlink_to(JOURNALTOOLS)
        names = prepare(ceph)
        lines = failure_matrix(names, work)
        ours, theirs = runners(ceph, work / "rbd", work)
        differ = compare(lines, ours, theirs)
        same_rbd = len(lines) - len(compare([tuple(d[0].split()) for d in differ], ours, theirs, logged=False))
        for line, a, b in differ:
            print(f"== {line}\n  rbd:  {b}\n  ours: {a}")
        print(f"{release.name}: {len(lines) - len(differ)} of {len(lines)} equal (exit code, rbd: lines, librbd "
              f"errors); {same_rbd} of {len(lines)} equal in exit code and rbd: lines")
        shutil.rmtree(work, ignore_errors=True)
        return 0 if not differ else 1
    finally:
        ceph.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
