"""Shared fixtures: a live Ceph cluster for tests marked ``ceph`` (started once, on demand)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from .ceph_cluster import CephCluster, ceph_available, start_cluster


@pytest.fixture(scope="session")
def ceph_cluster() -> CephCluster:
    missing = ceph_available()
    if missing:
        message = f"Ceph is not installed here ({missing}); run `make ceph-deps`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)  # in CI a missing cluster is a failure, not a skip
        pytest.skip(message)
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
    missing = ceph_available() or release.missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    cluster, root = start_release_cluster(release)
    try:
        yield cluster
    finally:
        cluster.stop()
        time.sleep(0.5)
        shutil.rmtree(root, ignore_errors=True)
