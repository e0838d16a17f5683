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
