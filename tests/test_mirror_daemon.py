"""The real rbd-mirror daemon replicates what journaltools configured, and follows its demote/promote.

Two sandbox clusters; site b runs rbd-mirror, which finds site a's config as
/etc/ceph/site-a.conf and its own as /etc/ceph/ceph.conf (it looks there even with -c),
so the test writes those two files into a directory that the daemon alone sees as /etc/ceph.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .ceph_cluster import CephCluster, ceph_available

pytestmark = pytest.mark.ceph


def wait_for(predicate, timeout: float, what: str, step: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def two_sites():
    missing = ceph_available() or (None if shutil.which("rbd-mirror") else "rbd-mirror")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Ceph is not installed ({missing})")
        pytest.skip(f"Ceph is not installed ({missing})")
    with running_two_sites() as sites:
        yield sites


@contextlib.contextmanager
def running_two_sites(new_site: Callable[[Path], CephCluster] = CephCluster) -> Iterator[tuple[Any, Any, Any]]:
    """Sites a and b (``new_site(dir)``: tests/releases.py passes another release's cluster), rbd-mirror on b.

    rbd-mirror sees a private directory as /etc/ceph (its own mount namespace) holding site-a.conf and
    ceph.conf: the host's /etc/ceph is not touched, so concurrent runs cannot mix up their sites.
    """
    root = Path(tempfile.mkdtemp(prefix="journaltools-2sites-"))
    sites: list[CephCluster] = []
    daemon = None
    try:
        sites.append(new_site(root / "a"))
        sites.append(new_site(root / "b"))
        a, b = sites
        etc = root / "etc-ceph"
        etc.mkdir()
        shutil.copy(a.conf, etc / "site-a.conf")
        shutil.copy(b.conf, etc / "ceph.conf")
        daemon = MirrorDaemon(b, root, etc)
        daemon.start()
        yield a, b, daemon
    finally:
        if daemon is not None:
            daemon.stop()
        for site in sites:
            site.stop()
        shutil.rmtree(root, ignore_errors=True)


class MirrorDaemon:
    """The real rbd-mirror on site b (restartable: a fresh daemon picks up a stuck image, see two-sites.sh)."""

    def __init__(self, site, root: Path, etc_ceph: Path) -> None:
        self.site, self.root, self.etc_ceph, self.proc = site, root, etc_ceph, None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self._wrap(), "rbd-mirror", "-c", self.site.conf, "-i", "admin", "-f", "--log-file", str(self.root / "b" / "rbd-mirror.log"),
             "--admin-socket", str(self.root / "b" / "rbd-mirror.asok")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wrap(self) -> tuple[str, ...]:
        from .releases import private_etc_ceph

        daemon_wrap = getattr(self.site, "daemon_wrap", None)
        return daemon_wrap(self.etc_ceph) if daemon_wrap is not None else private_etc_ceph(self.etc_ceph)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def wait_with_restart(daemon: MirrorDaemon, predicate, what: str, rounds: int = 3, each: float = 150):
    for attempt in range(rounds):
        try:
            return wait_for(predicate, each, what)
        except AssertionError:
            if attempt == rounds - 1:
                raise
            daemon.restart()
    return None


def image_status(site, image):
    proc = site.rbd("mirror", "image", "status", f"rbd/{image}", "--format", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def primary(site, image):
    return json.loads(site.rbd("info", f"rbd/{image}", "--format", "json").stdout)["mirroring"]["primary"]


def test_daemon_replicates_and_follows_journaltools(two_sites):
    a, b, daemon = two_sites
    for site in (a, b):
        code, out, err = site.journaltools("mirror", "pool", "enable", "rbd", "image")
        assert code == 0, err
    code, out, err = b.journaltools("mirror", "pool", "peer", "add", "rbd", "client.admin@site-a")
    assert code == 0, err
    a.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/rep")
    a.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "128K", "rbd/rep")
    assert a.journaltools("mirror", "image", "enable", "rbd/rep")[1] == "Mirroring enabled\n"
    wait_with_restart(daemon, lambda: image_status(b, "rep").get("state") == "up+replaying", "site b to replay rbd/rep")
    assert primary(a, "rep") is True and primary(b, "rep") is False
    # our view of the secondary: replaying from site a's mirror uuid, consistent
    doc = json.loads(b.journaltools("status", "rbd/rep", "--format", "json")[1])["mirroring"]
    assert doc["role"] == "secondary (consistent)" and doc["owner_mirror_uuid"] not in ("", "<orphan>")
    # failover done by journaltools: demote on a, wait for b to see it, promote on b
    assert a.journaltools("mirror", "image", "demote", "rbd/rep")[0] == 0
    wait_with_restart(daemon, lambda: json.loads(b.journaltools("status", "rbd/rep", "--format", "json")[1])[
        "mirroring"]["owner_mirror_uuid"] == "<orphan>", "site b to replay the demotion")
    code, out, err = b.journaltools("mirror", "image", "promote", "rbd/rep")
    assert code == 0, err
    assert primary(a, "rep") is False and primary(b, "rep") is True
    b.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "16K", "rbd/rep")  # librbd writes on b
    assert json.loads(b.journaltools("status", "rbd/rep", "--format", "json")[1])["mirroring"]["role"] == "primary"


@contextlib.contextmanager
def helper_sites(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Clusters "cluster1" and "cluster2" as rbd_mirror_helpers.sh names them (RBD_MIRROR_USE_EXISTING_CLUSTER):
    /etc/ceph/<name>.conf in a private /etc/ceph, a client.mirror.0 section for each site's rbd-mirror."""
    from .releases import private_etc_ceph

    etc = root / "etc-ceph"
    etc.mkdir(parents=True)
    sites: dict[str, Any] = {}
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("cluster1", "cluster2"):
            site = sites[name] = CephCluster(root / name)
            (etc / f"{name}.conf").write_text(Path(site.conf).read_text() + (
                "[client.mirror.0]\n"
                f"    admin socket = {root}/rbd-mirror.{name}.asok\n"
                f"    log file = {root}/rbd-mirror.{name}.log\n"))

        def starter(name: str) -> Callable[[], None]:
            def start() -> None:  # start_mirror, as the helpers start it (their intervals, no debug logs)
                daemons.append(subprocess.Popen(
                    [*private_etc_ceph(etc), "rbd-mirror", "--cluster", name, "--id", "mirror.0", "-f",
                     "--rbd-mirror-delete-retry-interval=5", "--rbd-mirror-image-state-check-interval=5",
                     "--rbd-mirror-journal-poll-age=1", "--rbd-mirror-pool-replayers-refresh-interval=5"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            return start

        yield etc, {name: starter(name) for name in sites}
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        for site in sites.values():
            site.stop()


def test_rbd_mirror_journal_two_sites_with_journaltools_as_rbd(tmp_path):
    """rbd_mirror_journal.sh's replay, failover and client-disconnect steps between two clusters, with
    journaltools as ``rbd`` (a link first on PATH) for every command, as the workunit runs them; at the
    replaying point every status output is the real rbd's (times and rates aside).  Before: the primary
    site's ``mirror image status`` printed no state (rbd fills in "status not found" and the peer's)."""
    from .rbd_workunits import Shell, Site, mirror_two_sites
    from .releases import private_etc_ceph

    missing = ceph_available() or (None if shutil.which("rbd-mirror") else "rbd-mirror")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Ceph is not installed ({missing})")
        pytest.skip(f"Ceph is not installed ({missing})")
    dropin = tmp_path / "bin"
    dropin.mkdir()
    (dropin / "rbd").symlink_to(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "journaltools")
    work = tmp_path / "work"
    work.mkdir()
    with helper_sites(tmp_path / "sites") as (etc, start):
        env = {"CEPH_ARGS": "--id mirror"}  # the helpers' CEPH_ARGS
        ours = Shell("", str(dropin), work, env=env, wrap=private_etc_ceph(etc))
        theirs = Shell("", None, work, env=env, wrap=private_etc_ceph(etc))
        sites = [Site(name, str(tmp_path / "sites" / f"rbd-mirror.{name}.asok"), start[name])
                 for name in ("cluster1", "cluster2")]
        checks = mirror_two_sites(ours, *sites, theirs=theirs)
    failures = "\n".join(f"  {f.name}: {f.detail[:600]}" for f in checks.failures)
    assert not checks.failures, f"{checks.summary()}; failing:\n{failures}"
