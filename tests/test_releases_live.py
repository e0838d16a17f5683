"""The live cross-checks against every release: Pacific, Reef and Tentacle, each with its own ``rbd`` as the reference.

The tests are the suite's own live tests (imported below, so they are collected here once more), run
against the ``release_cluster`` fixture: in this module ``ceph_cluster`` is the cluster of the release
in turn.  Read commands must equal that release's rbd byte for byte (journal info, status, inspect,
export, live and on an acquired directory), what journaltools writes must be read back by that
release's rbd, and an rbd export -> journaltools import -> rbd export round trip must give the
same records.  Needs the release roots: `make release-roots` (tools/release-root.sh).
"""

from __future__ import annotations

import pytest

from .test_groups import test_both_directions_against_rbd  # noqa: F401
from .test_journal_write_live import (  # noqa: F401  (collected here against each release)
    test_feature_enable_refuses_without_exclusive_lock,
    test_feature_enable_writes_what_librbd_writes,
    test_rbd_export_import_round_trip_is_byte_identical,
    test_reset_and_client_disconnect_match_rbd,
)
from .test_live_ceph_strings import strings_journal, test_odd_strings_print_as_rbd_prints_them  # noqa: F401
from .test_live_cross_check import (  # noqa: F401
    odd_journal,
    test_live_export_and_acquired_directory_equal_rbd,
    test_live_reads_equal_rbd,
    test_the_listing_limit_decides_between_listing_and_probing,
    test_without_listing_the_pool_reads_equal_rbd,
)
from .test_live_undecodable import (  # noqa: F401
    damaged_journal,
    test_export_no_error_writes_the_bytes_rbd_writes,
    test_inspect_counts_the_undecodable_entry_as_rbd,
)
from .test_mirror_changes import test_mirroring_changes_against_rbd  # noqa: F401

pytestmark = [pytest.mark.ceph, pytest.mark.releases]


@pytest.fixture(scope="session")
def ceph_cluster(release_cluster):
    """Here every live test runs against the release cluster in turn."""
    return release_cluster


def test_the_cluster_is_the_release_it_claims(release_cluster):
    release = release_cluster.release
    assert release.version in release_cluster.rbd("--version").stdout
    assert release.version in release_cluster.version
