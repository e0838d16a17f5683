"""The live cross-checks against every release: Pacific, Reef and Tentacle, each with its own ``rbd`` as the reference.

The tests are the suite's own live tests (imported below, so they are collected here once more), run
against the ``release_cluster`` fixture: in this module ``ceph_cluster`` is the cluster of the release
in turn.  Read commands must equal that release's rbd byte for byte (journal info, status, inspect,
export, live and on an acquired directory), what journaltools writes must be read back by that
release's rbd, and an rbd export -> journaltools import -> rbd export round trip must give the
same records.  Needs the release roots: `make release-roots` (tools/release-root.sh).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from .ceph_cluster import ceph_available
from .cli_helpers import cli
from .conftest import require
from .releases import RELEASES, ReleaseCluster
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
from .test_mirror_config import test_site_name_and_peer_attributes_as_rbd  # noqa: F401
from .test_mirror_daemon import running_two_sites, test_daemon_replicates_and_follows_journaltools  # noqa: F401
from .test_rbd_failures import test_failures_are_worded_as_rbds  # noqa: F401

pytestmark = [pytest.mark.ceph, pytest.mark.releases]


@pytest.fixture(scope="session")
def ceph_cluster(release_cluster):
    """Here every live test runs against the release cluster in turn."""
    return release_cluster


@pytest.fixture(scope="module", params=list(RELEASES))
def two_sites(request):
    """Two sites of the release in turn, that release's rbd-mirror on site b (writes /etc/ceph/site-a.conf, ceph.conf)."""
    release = RELEASES[request.param]
    require(ceph_available() or release.missing())
    with running_two_sites(lambda root: ReleaseCluster(root, release)) as sites:
        yield sites


def test_the_cluster_is_the_release_it_claims(release_cluster):
    release = release_cluster.release
    assert release.version in release_cluster.rbd("--version").stdout
    assert release.version in release_cluster.version


def same_as_rbd(ceph, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``rbd ARGS`` (the release's own) and ``journaltools ARGS``: the same stdout and exit code; rbd's stdout."""
    theirs = ceph.rbd(*args, check=False)
    code, ours, err = ceph.journaltools(*args, env=env)
    assert (ours, code) == (theirs.stdout, theirs.returncode), (args, err, theirs.stderr)
    if theirs.returncode != 0 and theirs.stderr.startswith("rbd: "):
        assert err == "journaltools: " + theirs.stderr[len("rbd: "):], args
    return theirs.stdout


def test_mirror_pool_info_is_the_releases(release_cluster, capsys):
    """Tentacle adds Mirror UUID and Remote Namespace; a namespace shows neither site name nor peers."""
    ceph = release_cluster
    tentacle = ceph.release.name == "tentacle"
    ceph.new_pool("mpi")
    formats = (("--format", "plain"), ("--format", "json"))
    for fmt in formats:
        same_as_rbd(ceph, "mirror", "pool", "info", "mpi", *fmt)  # disabled
    ceph.rbd("mirror", "pool", "enable", "mpi", "image")
    ceph.rbd("namespace", "create", "mpi/ns1")
    ceph.rbd("mirror", "pool", "enable", "mpi/ns1", "image")
    ceph.rbd("namespace", "create", "mpi/ns2")
    if tentacle:
        ceph.rbd("mirror", "pool", "enable", "mpi/ns2", "image", "--remote-namespace", "other")
    ceph.rbd("mirror", "pool", "peer", "add", "mpi", "client.admin@remote-site")
    for spec in ("mpi", "mpi/ns1", "mpi/ns2", "mpi/missing"):
        for fmt in formats:
            out = same_as_rbd(ceph, "mirror", "pool", "info", spec, *fmt)
            if spec == "mpi/ns1" and fmt[1] == "plain":
                assert ("Remote Namespace: ns1" in out) is tentacle
            if spec == "mpi" and fmt[1] == "plain":
                assert "Site Name:" in out and "client.admin" in out and ("Mirror UUID: " in out.split("Peer")[0]) is tentacle
    # offline: the copy of the pool follows the release acquire recorded, or --release
    store = Path(tempfile.mkdtemp(prefix="jt-mpi-"))
    try:
        assert ceph.journaltools("acquire", "--pool", "mpi", "--pool-only", str(store / "s"))[0] == 0
        theirs = ceph.rbd("mirror", "pool", "info", "mpi").stdout
        code, ours, err = cli(capsys, "--store", str(store / "s"), "mirror", "pool", "info", "mpi")
        assert (code, ours) == (0, theirs), err
        other = "pacific" if tentacle else "tentacle"
        code, ours, err = cli(capsys, "--store", str(store / "s"), "--release", other, "mirror", "pool", "info", "mpi")
        assert code == 0 and ("Mirror UUID" in ours.split("Peer")[0]) is (other == "tentacle")
    finally:
        shutil.rmtree(store, ignore_errors=True)


@pytest.mark.parametrize("command", [["mirror", "pool", "status", "merr"], ["mirror", "image", "status", "merr/plain"],
                                     ["mirror", "pool", "peer", "add", "merr", "client.admin@x"],
                                     ["mirror", "pool", "info", "merr/no-such-ns"],
                                     ["mirror", "image", "status", "merr/no-such-ns/plain"]])
def test_mirroring_errors_are_rbds(release_cluster, command):
    ceph = release_cluster
    if "merr" not in ceph._pools:
        ceph.new_pool("merr")
        ceph.rbd("create", "--size", "4M", "merr/plain")
    same_as_rbd(ceph, *command)


def test_group_snapshots_and_info_are_the_releases(release_cluster):
    """Tentacle: `group snap list` is an ID/NAME/STATE table (complete), `group info` exists (name and id)."""
    ceph = release_cluster
    tentacle = ceph.release.name == "tentacle"
    ceph.new_pool("grp")
    ceph.rbd("create", "--size", "4M", "grp/member")
    ceph.rbd("group", "create", "grp/full")
    ceph.rbd("group", "create", "grp/empty")
    ceph.rbd("group", "image", "add", "grp/full", "grp/member")
    for snap in ("gs1", "a-much-longer-snapshot-name"):
        ceph.rbd("group", "snap", "create", f"grp/full@{snap}")
    for group in ("full", "empty"):
        out = same_as_rbd(ceph, "group", "snap", "list", f"grp/{group}", "--format", "json")
        assert ('"state":"complete"' in out) is (tentacle and group == "full")
        if tentacle:  # Pacific's and Reef's plain table: the drop-in's (right-aligned STATUS)
            same_as_rbd(ceph, "group", "snap", "list", f"grp/{group}")
            for fmt in (("--format", "json"), ("--format", "json", "--pretty-format"), ()):
                same_as_rbd(ceph, "group", "info", f"grp/{group}", *fmt)
        else:
            assert ceph.rbd("group", "info", f"grp/{group}", check=False).returncode != 0  # no such command
    code, out, err = ceph.journaltools("group", "info", "grp/full", "--verbose")
    assert code == 0 and "member" in out and "a-much-longer-snapshot-name" in out, err


def test_snapshot_mode_image_status_lists_the_primary_snapshots(release_cluster):
    """rbd mirror image status of a snapshot-mode primary: a `snapshots:` section (json `snapshots`); none once demoted."""
    ceph = release_cluster
    ceph.new_pool("msnap")
    ceph.rbd("mirror", "pool", "enable", "msnap", "image")
    ceph.rbd("mirror", "pool", "peer", "add", "msnap", "client.admin@remote-site")  # a tx peer: snapshots list it
    ceph.rbd("create", "--size", "8M", "msnap/snapimg")
    ceph.rbd("mirror", "image", "enable", "msnap/snapimg", "snapshot")
    ceph.rbd("mirror", "image", "snapshot", "msnap/snapimg")
    ceph.rbd("snap", "create", "msnap/snapimg@user-snap")  # not a mirror snapshot: not listed
    ceph.rbd("mirror", "image", "snapshot", "msnap/snapimg")
    formats = (("--format", "plain"), ("--format", "json"))
    for fmt in formats:
        out = same_as_rbd(ceph, "mirror", "image", "status", "msnap/snapimg", *fmt)
        assert out.count(".mirror.primary.") == 3 and "user-snap" not in out
    ceph.rbd("mirror", "image", "demote", "msnap/snapimg")
    for fmt in formats:
        assert ".mirror." not in same_as_rbd(ceph, "mirror", "image", "status", "msnap/snapimg", *fmt)
    ceph.rbd("mirror", "image", "promote", "msnap/snapimg")
    assert "(demoted peer_uuids:[" in same_as_rbd(ceph, "mirror", "image", "status", "msnap/snapimg")
    assert '"demoted":true' in same_as_rbd(ceph, "mirror", "image", "status", "msnap/snapimg", "--format", "json")


HOLD_OPEN = """
import sys, rados, rbd
cluster = rados.Rados(conffile=sys.argv[1]); cluster.connect()
ioctx = cluster.open_ioctx(sys.argv[2])
image = rbd.Image(ioctx, sys.argv[3])
image.write(b"w" * 4096, 0)
print("open", flush=True)
sys.stdin.read()
image.close(); ioctx.close(); cluster.shutdown()
"""


def test_status_lists_the_watchers_rbd_lists(release_cluster):
    """`status IMAGE` on a live cluster: rbd's Watchers block (none, or a writer's watch)."""
    import subprocess

    ceph = release_cluster
    ceph.new_pool("wat")
    ceph.rbd("create", "--size", "4M", "wat/watched")
    code, ours, err = ceph.journaltools("status", "wat/watched")
    assert code == 0 and ours.startswith(ceph.rbd("status", "wat/watched").stdout) and "Watchers: none\n" in ours, err
    holder = subprocess.Popen(["/usr/bin/python3", "-c", HOLD_OPEN, ceph.conf, "wat", "watched"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        theirs = ceph.rbd("status", "wat/watched").stdout
        assert theirs.count("watcher=") == 1
        code, ours, err = ceph.journaltools("status", "wat/watched")
        assert code == 0 and ours.startswith(theirs), (ours, theirs, err)
        code, doc, err = ceph.journaltools("status", "wat/watched", "--format", "json")
        assert json.loads(doc)["watchers"] == json.loads(ceph.rbd("status", "wat/watched", "--format", "json").stdout)["watchers"]
    finally:
        holder.communicate("", timeout=60)


def _same_soon(site, *args: str) -> None:
    """Like same_as_rbd, retried: the daemon rewrites its statuses (rates, last_update) every few seconds."""
    for _ in range(5):
        theirs = site.rbd(*args, check=False)
        code, ours, err = site.journaltools(*args)
        if (ours, code) == (theirs.stdout, theirs.returncode):
            return
        time.sleep(1)
    assert ours == theirs.stdout, (args, err)


def test_live_mirroring_status_is_rbds_with_the_daemon(two_sites):
    """With that release's rbd-mirror on site b: up+replaying, service:, DAEMONS and summaries equal its rbd on both
    sites; a script waiting for up+replaying through journaltools (as Ceph's journal-mirroring workunit) gets there."""
    from .test_mirror_daemon import wait_with_restart

    a, b, daemon = two_sites
    for site in (a, b):
        if "Mode: disabled" in site.rbd("mirror", "pool", "info", "rbd").stdout:
            site.rbd("mirror", "pool", "enable", "rbd", "image")
    if "site-a" not in b.rbd("mirror", "pool", "info", "rbd").stdout:
        b.rbd("mirror", "pool", "peer", "add", "rbd", "client.admin@site-a")
    a.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/live")
    a.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "64K", "rbd/live")
    a.rbd("mirror", "image", "enable", "rbd/live")

    def ours_replaying() -> bool:
        code, out, _ = b.journaltools("mirror", "image", "status", "rbd/live")
        return code == 0 and "state:       up+replaying" in out and "service:     admin on " in out

    wait_with_restart(daemon, ours_replaying, "journaltools to see rbd/live up+replaying on site b")
    for site in (a, b):
        for args in (["mirror", "image", "status", "rbd/live"], ["mirror", "image", "status", "rbd/live", "--format", "json"],
                     ["mirror", "pool", "status", "rbd"], ["mirror", "pool", "status", "rbd", "--verbose"],
                     ["mirror", "pool", "status", "rbd", "--verbose", "--format", "json"]):
            _same_soon(site, *args)


def test_snapshot_mode_changes_are_rbds(release_cluster):
    """mirror image enable IMAGE snapshot, mirror image snapshot, demote, promote, resync, disable through
    journaltools: the messages and exit codes of that release's rbd, and rbd sees the snapshots made."""
    ceph = release_cluster
    ceph.new_pool("msm")
    ceph.rbd("mirror", "pool", "enable", "msm", "image")
    ceph.rbd("mirror", "pool", "peer", "add", "msm", "client.admin@remote-site")
    for name in ("ours", "theirs"):
        ceph.rbd("create", "--size", "8M", f"msm/{name}")
    steps = [["mirror", "image", "enable", "{}", "snapshot"], ["mirror", "image", "enable", "{}", "snapshot"],
             ["mirror", "image", "snapshot", "{}"], ["mirror", "image", "promote", "{}"],
             ["mirror", "image", "demote", "{}"], ["mirror", "image", "demote", "{}"], ["mirror", "image", "snapshot", "{}"],
             ["mirror", "image", "promote", "{}"], ["mirror", "image", "resync", "{}"]]
    for step in steps:
        theirs = ceph.rbd(*[a.format("msm/theirs") for a in step], check=False)
        code, ours, err = ceph.journaltools(*[a.format("msm/ours") for a in step])
        # the snapshot ids differ (a pool's snapshot ids are one sequence for both images)
        assert (code, re.sub(r"\d+", "N", ours)) == (theirs.returncode, re.sub(r"\d+", "N", theirs.stdout)), (step, err)
        if theirs.returncode:  # rbd's own line (librbd's log lines come before, after or even inside it)
            stderr = re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+ \w+ +-?\d+ [^\n]*\n?", "", theirs.stderr)
            rbd_line = next(line for line in stderr.splitlines() if line.startswith("rbd: "))
            assert "journaltools: " + rbd_line[len("rbd: "):] in err.splitlines(), (step, err)
    listing = ceph.rbd("snap", "ls", "--all", "msm/ours").stdout
    assert listing.count("mirror (primary") == 3 and listing.count("mirror (demoted") == 1, listing
    same_as_rbd(ceph, "mirror", "image", "status", "msm/ours")
    info = json.loads(ceph.rbd("info", "msm/ours", "--format", "json").stdout)["mirroring"]
    assert info["mode"] == "snapshot" and info["primary"] is True
    code, out, err = ceph.journaltools("mirror", "image", "snapshot", "rbd/plain-snapshot-none")
    assert code != 0 and "Traceback" not in err
    assert ceph.journaltools("mirror", "image", "disable", "msm/ours")[1] == "Mirroring disabled\n"
    assert ceph.rbd("mirror", "image", "status", "msm/ours", check=False).returncode == 22


def _mirrored_pools(a, b, daemon) -> None:
    """Pool rbd mirrored in image mode on both sites, b pulling from a; a knows b (rbd-mirror registers it)."""
    from .test_mirror_daemon import wait_with_restart

    for site in (a, b):
        if "Mode: disabled" in site.rbd("mirror", "pool", "info", "rbd").stdout:
            site.rbd("mirror", "pool", "enable", "rbd", "image")
    if "site-a" not in b.rbd("mirror", "pool", "info", "rbd").stdout:
        b.rbd("mirror", "pool", "peer", "add", "rbd", "client.admin@site-a")
    wait_with_restart(daemon, lambda: json.loads(a.rbd("mirror", "pool", "info", "rbd", "--format", "json").stdout)["peers"],
                      "rbd-mirror on b to register itself as a peer of site a")


def test_snapshot_mirroring_through_journaltools_with_the_daemon(two_sites):
    """Snapshot-based mirroring driven by journaltools, replicated by that release's rbd-mirror: enable and
    snapshot on a, b replays; status equals rbd on both sites; failover (demote on a, promote on b)."""
    from .test_mirror_daemon import primary, wait_for, wait_with_restart

    a, b, daemon = two_sites
    _mirrored_pools(a, b, daemon)
    a.rbd("create", "--size", "16M", "rbd/snapm")
    a.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "64K", "rbd/snapm")
    assert a.journaltools("mirror", "image", "enable", "rbd/snapm", "snapshot")[1] == "Mirroring enabled\n"
    code, out, err = a.journaltools("mirror", "image", "snapshot", "rbd/snapm")
    assert code == 0 and out.startswith("Snapshot ID: "), err

    def replaying() -> bool:
        out = b.rbd("mirror", "image", "status", "rbd/snapm", check=False).stdout
        return "up+replaying" in out and '"replay_state":"idle"' in out

    wait_with_restart(daemon, replaying, "site b to replay rbd/snapm")
    for site in (a, b):
        for args in (["mirror", "image", "status", "rbd/snapm"], ["mirror", "image", "status", "rbd/snapm", "--format", "json"],
                     ["mirror", "pool", "status", "rbd", "--verbose"]):
            _same_soon(site, *args)
    assert "snapshots:" in a.journaltools("mirror", "image", "status", "rbd/snapm")[1]
    # failover through journaltools
    assert a.journaltools("mirror", "image", "demote", "rbd/snapm")[1] == "Image demoted to non-primary\n"

    def demotion_copied() -> bool:
        listing = b.rbd("snap", "ls", "--all", "rbd/snapm", check=False).stdout
        # e.g. ".mirror.non_primary.<gid>.<uuid>  ...  mirror (demoted peer_uuids:[...] <uuid>:6 copied)"
        return any(".mirror.non_primary." in line and "(demoted" in line and " copied)" in line
                   for line in listing.splitlines())

    wait_with_restart(daemon, demotion_copied, "site b to copy the demotion snapshot")
    # promote without --force: librbd accepts it once the demotion snapshot is copied completely
    promoted = wait_for(lambda: b.journaltools("mirror", "image", "promote", "rbd/snapm")[1], 120,
                        "journaltools to promote rbd/snapm on site b")
    assert promoted == "Image promoted to primary\n"
    assert primary(b, "snapm") is True and primary(a, "snapm") is False


#: Tentacle's ``mirror pool enable`` modes and ``--remote-namespace``, in an order that meets each of
#: librbd's rules (measured with rbd 20.2.4): init-only only in the default namespace and without a remote
#: namespace; the remote namespace stored while mirroring is disabled, refused (EINVAL) while it is enabled
#: with another one (the default: the namespace's own name); a disable forgets it; "note:" only between
#: image and pool mode; a namespace's info without the pool's mirror uuid is exit 2 and nothing printed
REMOTE_NAMESPACE_STEPS = (
    "enable P init-only --remote-namespace q", "enable P/n1 init-only", "enable P/n1 image --remote-namespace x",
    "enable P/n1 image --remote-namespace y", "enable P/n1 image --remote-namespace x", "enable P/n1 pool",
    "info P/n1 --format json", "enable P/n2 image", "enable P/n2 pool --remote-namespace n2",
    "enable P/n2 pool --remote-namespace zz", "info P/n2", "enable P init-only", "enable P init-only", "info P",
    "info P --format xml", "enable P image", "enable P init-only", "enable P pool", "disable P/n1",
    "info P/n1 --format json", "enable P/n1 image", "info P/n1 --format json", "enable P bogus", "disable P",
    "info P/n2 --format xml", "enable P image --remote-namespace rr", "info P --format json", "enable P image",
)


def test_init_only_mode_and_remote_namespace_are_the_releases(release_cluster, tmp_path):
    from .rbd_failures import JOURNALTOOLS, runners

    ceph = release_cluster
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rbd").symlink_to(JOURNALTOOLS)
    ours, theirs = runners(ceph, tmp_path / "bin" / "rbd", tmp_path)
    pools = {}
    for who in ("ours", "rbd"):
        pools[who] = ceph.new_pool(f"rns{who}")
        for ns in ("n1", "n2"):
            ceph.rbd("namespace", "create", f"{pools[who]}/{ns}")
    uuid = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    stamp = re.compile(rb"\d{4}-\d\d-\d\dT[\d:.]+\+0000 [0-9a-f]+ -1 ")  # librbd's log prefix, anywhere
    for step in REMOTE_NAMESPACE_STEPS:
        results = []
        for who, run in (("ours", ours), ("rbd", theirs)):
            proc = run("mirror", "pool", *step.replace("P", pools[who]).split())
            out = uuid.sub(b"UUID", proc.stdout).replace(pools[who].encode(), b"P")
            # librbd's log line and rbd's own one come in either order, even within a line (two writers on
            # one stderr): compare what was written, byte by byte, not its order
            err = sorted(stamp.sub(b"", proc.stderr).replace(pools[who].encode(), b"P"))
            results.append((proc.returncode, out, err))
        if ceph.release.name != "tentacle" and "init-only" not in step and "remote-namespace" not in step:
            assert results[0][:2] == results[1][:2], (step, results)  # the modes both know: the same
        elif ceph.release.name == "tentacle":
            assert results[0] == results[1], (step, results)
        else:  # rbd before 20: no such option, no such mode
            assert results[0][0] == results[1][0] and results[0][2] == results[1][2], (step, results)
