"""Shared fixtures: a live Ceph cluster for tests marked ``ceph`` (started once, on demand)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from .ceph_cluster import CephCluster, ceph_available, start_cluster


def require(missing: str | None) -> None:
    """Skip a test whose Ceph parts are missing here; in CI a missing cluster is a failure, not a skip."""
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _backups_in_checkout() -> set[str]:
    return {name for name in os.listdir(REPO) if name.startswith("journaltools-backup-")}


@pytest.fixture(autouse=True)
def _no_backup_left_in_the_checkout():
    """A test that runs reset/repair must give it a working directory of its own: reset's default backup
    (./journaltools-backup-<id>-<time>) once landed in the checkout and was committed."""
    before = _backups_in_checkout()
    yield
    left = _backups_in_checkout() - before
    if left:
        pytest.fail(f"the test left {sorted(left)} in {REPO}")


@pytest.fixture(scope="session")
def ceph_cluster() -> CephCluster:
    missing = ceph_available()
    require(f"Ceph is not installed here ({missing}); run `make ceph-deps`" if missing else None)
    cluster, root = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        time.sleep(0.5)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", params=["pacific", "reef", "tentacle"])
def release_cluster(request):
    """A sandbox cluster of each Ceph release in turn (tests/releases.py); its own ``rbd`` is the reference."""
    from .releases import RELEASES, start_release_cluster

    release = RELEASES[request.param]
    require(ceph_available() or release.missing())
    cluster, root = start_release_cluster(release)
    try:
        yield cluster
    finally:
        cluster.stop()
        time.sleep(0.5)
        shutil.rmtree(root, ignore_errors=True)
