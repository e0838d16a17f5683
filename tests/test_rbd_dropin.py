"""journaltools as ``rbd``: Ceph's QA checks for these commands pass as they pass with the real rbd.

journaltools runs through a link named ``rbd`` first on PATH (the drop-in set-up
docs/rbd-dropin.md describes); commands it does not implement reach the real rbd.
Every check of tests/rbd_workunits.py (ported from journal.sh, rbd_groups.sh, the
cram cases and the single-cluster mirror helpers) must pass, and every output rbd
prints as plain text, JSON or XML must be byte for byte the real rbd's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from journaltools.rbd_cli import RBD_OPTIONS

from .rbd_workunits import (
    REAL_RBD,
    Shell,
    compare_outputs,
    cram_cases,
    groups_workunit,
    journal_workunit,
    mirror_single_cluster,
    output_commands,
)

JOURNALTOOLS = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "journaltools"


@pytest.fixture(scope="module")
def rbd_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory whose ``rbd`` is journaltools (a symlink, as an operator sets it up)."""
    where = tmp_path_factory.mktemp("dropin-bin")
    (where / "rbd").symlink_to(JOURNALTOOLS)
    return str(where)


def _shells(ceph_cluster, rbd_dir: str, tmp_path: Path) -> tuple[Shell, Shell]:
    ours = Shell(ceph_cluster.conf, rbd_dir, tmp_path)
    theirs = Shell(ceph_cluster.conf, None, tmp_path)
    return ours, theirs


def _assert_all_pass(checks) -> None:
    failures = "\n".join(f"  {f.name}: {f.detail[:400]}" for f in checks.failures)
    assert not checks.failures, f"{checks.summary()}; failing:\n{failures}"


@pytest.mark.ceph
def test_journal_workunit_as_rbd(ceph_cluster, rbd_dir, tmp_path):
    ours, _ = _shells(ceph_cluster, rbd_dir, tmp_path)
    _assert_all_pass(journal_workunit(ours, tag="dropin"))


@pytest.mark.ceph
def test_groups_workunit_as_rbd(ceph_cluster, rbd_dir, tmp_path):
    ours, _ = _shells(ceph_cluster, rbd_dir, tmp_path)
    # the workunit's 10 and 100 snapshots; JOURNALTOOLS_QUICK_GROUPS=1 takes 10 and 20 (each is a process)
    counts = (10, 20) if os.environ.get("JOURNALTOOLS_QUICK_GROUPS") else (10, 100)
    _assert_all_pass(groups_workunit(ours, tag="dropin", snap_counts=counts))


@pytest.mark.ceph
def test_cram_cases_as_rbd(ceph_cluster, rbd_dir, tmp_path):
    ours, theirs = _shells(ceph_cluster, rbd_dir, tmp_path)
    _assert_all_pass(cram_cases(ours))


@pytest.mark.ceph
def test_cram_cases_hold_for_the_real_rbd(ceph_cluster, rbd_dir, tmp_path):
    """The expectations are the real rbd's own (so the drop-in test cannot pass on a wrong expectation)."""
    _, theirs = _shells(ceph_cluster, rbd_dir, tmp_path)
    _assert_all_pass(cram_cases(theirs))


@pytest.mark.ceph
def test_mirror_single_cluster_as_rbd(ceph_cluster, rbd_dir, tmp_path):
    ours, _ = _shells(ceph_cluster, rbd_dir, tmp_path)
    _assert_all_pass(mirror_single_cluster(ours, tag="dropin"))


@pytest.mark.ceph
def test_outputs_byte_for_byte(ceph_cluster, rbd_dir, tmp_path):
    """journal info/status, mirror pool info/status(--verbose), mirror image status, status, group list/image list/
    snap list: plain, json, json pretty, xml, xml pretty, as the real rbd prints them."""
    ours, theirs = _shells(ceph_cluster, rbd_dir, tmp_path)
    ceph = ceph_cluster
    pool = ceph.new_pool("outpool")
    image, group = f"{pool}/out1", f"{pool}/outg"
    ceph.rbd("create", "--size", "16M", "--image-feature", "exclusive-lock,journaling", image)
    ceph.rbd("create", "--size", "16M", f"{pool}/out2")
    ceph.rbd("bench", "--io-type", "write", image, "--io-size", "4096", "--io-threads", "1", "--io-total", "16384",
             "--io-pattern", "seq")
    ceph.rbd("mirror", "pool", "enable", pool, "image")
    ceph.rbd("mirror", "pool", "peer", "add", pool, "client.admin@remote-site")
    ceph.rbd("mirror", "image", "enable", image, "journal")
    ceph.rbd("group", "create", group)
    ceph.rbd("group", "create", f"{pool}/odd<&'\">name")  # XML escaping of a value
    for member in (image, f"{pool}/out2"):
        ceph.rbd("group", "image", "add", group, member)
    ceph.rbd("group", "snap", "create", f"{group}@first")
    ceph.rbd("group", "snap", "create", f"{group}@a-longer-name")
    commands = output_commands(image, group, pool) + [("group", "snap", "list", f"{pool}/odd<&'\">name")]
    watcher = subprocess.Popen(  # an open image: status lists its watcher
        ["/usr/bin/python3", "-c", "import rados, rbd, sys, time\n"
         f"c = rados.Rados(conffile={ceph.conf!r}); c.connect(); io = c.open_ioctx({pool!r})\n"
         "im = rbd.Image(io, 'out2'); print('open', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == b"open"
        commands.append(("status", f"{pool}/out2"))
        _assert_all_pass(compare_outputs(ours, theirs, commands))
    finally:
        watcher.kill()
        watcher.wait()


@pytest.mark.ceph
def test_journaltools_keeps_its_name(ceph_cluster, tmp_path):
    """Run as journaltools, the same rbd messages and exit codes, with our program name."""
    sh = Shell(ceph_cluster.conf, None, tmp_path)
    proc = sh.run(str(JOURNALTOOLS), "group", "snap", "create", "g1")
    assert (proc.stderr.decode(), proc.returncode) == ("journaltools: snapshot name was not specified\n", 22)
    proc = sh.run(str(JOURNALTOOLS), "journal", "info", "a", "b")
    assert (proc.stderr.decode(), proc.returncode) == ("journaltools: too many arguments\n", 1)


@pytest.mark.ceph
def test_cluster_options_anywhere_and_the_default_conf(ceph_cluster, tmp_path):
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", "rbd/copts")
    want = ceph.rbd("journal", "info", "--image", "rbd/copts", "--format", "json").stdout
    env = {k: v for k, v in os.environ.items() if k not in ("CEPH_CONF", "JOURNALTOOLS_STORE", "CEPH_ARGS")}
    runs = {
        "-c after the command": [str(JOURNALTOOLS), "journal", "info", "--image", "rbd/copts", "--format", "json",
                                 "-c", ceph.conf],
        "--conf= and --id before": [str(JOURNALTOOLS), f"--conf={ceph.conf}", "--id", "admin", "journal", "info",
                                    "--image", "rbd/copts", "--format", "json"],
        "-n and --format before the command": [str(JOURNALTOOLS), "--format", "json", "journal", "info", "-n",
                                               "client.admin", "--image", "rbd/copts", "-c", ceph.conf],
        "-m with an empty conf": [str(JOURNALTOOLS), "journal", "info", "--image", "rbd/copts", "--format", "json",
                                  "-c", "/dev/null", "-m", _mon_host(ceph.conf), "-k", "/nonexistent"],
    }
    for label, cmd in runs.items():
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert (proc.returncode, proc.stdout) == (0, want), f"{label}: {proc.stderr}"
    # without -c: librados' search ($CEPH_CONF, /etc/ceph/$cluster.conf, ..., ./$cluster.conf), CEPH_ARGS options;
    # a cluster name of our own, so that a /etc/ceph/ceph.conf of another test cannot come first
    (tmp_path / "dropintest.conf").write_text(Path(ceph.conf).read_text())
    for extra, args in (({}, ["--cluster", "dropintest"]), ({"CEPH_CONF": ceph.conf}, []),
                        ({"CEPH_ARGS": "--cluster dropintest --id admin"}, [])):
        proc = subprocess.run([str(JOURNALTOOLS), "journal", "info", "--image", "rbd/copts", "--format", "json", *args],
                              env={**env, **extra}, capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert (proc.returncode, proc.stdout) == (0, want), f"{extra} {args}: {proc.stderr}"
    proc = subprocess.run([str(JOURNALTOOLS), "journal", "info", "--image", "rbd/copts", "--cluster", "nosuchcluster"],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 22 and "no ceph.conf in /etc/ceph/nosuchcluster.conf" in proc.stderr, proc.stderr


def _mon_host(conf: str) -> str:
    return next(line.split("=", 1)[1].strip() for line in Path(conf).read_text().splitlines()
                if line.strip().startswith("mon host"))


@pytest.mark.ceph
def test_reset_writes_a_backup_that_import_restores(ceph_cluster, rbd_dir, tmp_path):
    """rbd journal reset (no confirmation, as rbd) first writes a backup; the printed command restores the entries."""
    ceph = ceph_cluster
    ours = Shell(ceph.conf, rbd_dir, tmp_path)
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", "rbd/rst")
    jid = json.loads(ceph.rbd("info", "rbd/rst", "--format", "json").stdout)["id"]
    saved = ceph.rados_bytes("-p", "rbd", "getomapval", f"journal.{jid}", "client_")
    ceph.rbd("bench", "--io-type", "write", "rbd/rst", "--io-size", "4096", "--io-threads", "1", "--io-total", "12288",
             "--io-pattern", "seq")
    subprocess.run(["rados", "-c", ceph.conf, "-p", "rbd", "setomapval", f"journal.{jid}", "client_"], input=saved,
                   check=True, capture_output=True)
    before = _inspected(ours, jid)
    assert before >= 3
    proc = ours.rbd("journal", "reset", f"rbd/{jid}")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    match = re.search(r"to restore the entries after the reset: (rbd journal import \S+ \S+)", err)
    assert match and "backup of journal" in err, err
    assert _inspected(ours, jid) == 0
    assert ours.run(*match.group(1).split()).returncode == 0
    assert _inspected(ours, jid) == before
    assert ours.rbd("journal", "reset", "--no-backup", f"rbd/{jid}").returncode == 0
    assert "backup" not in ours.rbd("journal", "reset", "--no-backup", f"rbd/{jid}").stderr.decode()


def _inspected(sh: Shell, jid: str) -> int:
    out = sh.out("journal", "inspect", f"rbd/{jid}")
    return int(re.search(r"(\d+) entries inspected", out).group(1))  # type: ignore[union-attr]


@pytest.mark.ceph
def test_group_remove_with_images_as_rbd(ceph_cluster, rbd_dir, tmp_path):
    """rbd group remove unlinks the images (they stay, free to join a group) and removes the group's snapshots."""
    ceph = ceph_cluster
    ours = Shell(ceph.conf, rbd_dir, tmp_path)
    pool = ceph.new_pool("grpool")  # its own pool: other tests list the groups of rbd
    ceph.rbd("create", "--size", "8M", f"{pool}/gri")
    assert ours.ok("group", "create", f"{pool}/grg") and ours.ok("group", "image", "add", f"{pool}/grg", f"{pool}/gri")
    assert ours.ok("group", "snap", "create", f"{pool}/grg@s")
    assert "group" in ceph.rbd("snap", "ls", "--all", f"{pool}/gri").stdout
    proc = ours.rbd("group", "remove", f"{pool}/grg")
    assert proc.returncode == 0, proc.stderr
    assert "grg" not in ceph.rbd("group", "list", pool).stdout
    assert ceph.rbd("snap", "ls", "--all", f"{pool}/gri").stdout == ""
    ceph.rbd("group", "create", f"{pool}/grg2")
    ceph.rbd("group", "image", "add", f"{pool}/grg2", f"{pool}/gri")  # the real rbd agrees the image is free
    assert ours.rbd("group", "remove", f"{pool}/nosuch").returncode == 0  # as rbd


def test_rbd_option_table_is_rbds_help(tmp_path):
    """RBD_OPTIONS is what `rbd help <command>` lists, and our command takes every one of those options."""
    import click

    from journaltools.cli import load_command_modules, main

    load_command_modules()
    env = dict(os.environ, CEPH_CONF="/dev/null")
    for path, allowed in RBD_OPTIONS.items():
        text = subprocess.run([REAL_RBD, "help", *path], env=env, capture_output=True, text=True, timeout=60).stdout
        listed = set(re.findall(r"^\s+(?:-\w \[ )?--([\w-]+)", text.split("Optional arguments", 1)[-1], re.M))
        assert listed == set(allowed), f"rbd {' '.join(path)}: rbd help lists {sorted(listed)}"
        cmd: click.Command = main
        for word in path:
            assert isinstance(cmd, click.Group)
            with click.Context(cmd) as ctx:
                cmd = cmd.get_command(ctx, word)  # type: ignore[assignment]
        ours = {o[2:] for p in cmd.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts
                if o.startswith("--")}
        assert set(allowed) <= ours, f"journaltools {' '.join(path)} lacks {sorted(set(allowed) - ours)}"
    # complete: every rbd command journaltools implements has its row (else its options go unchecked)
    listing = subprocess.run([REAL_RBD, "help"], env=env, capture_output=True, text=True, timeout=60).stdout
    rbd_commands = [tuple(m.split()) for m in re.findall(r"^    ([a-z][a-z -]*[a-z])", listing, re.M)]
    assert len(rbd_commands) > 100, listing

    def implemented(path: tuple[str, ...]) -> bool:
        cmd: click.Command | None = main
        for word in path:
            if not isinstance(cmd, click.Group):
                return False
            with click.Context(cmd) as ctx:
                cmd = cmd.get_command(ctx, word)
        return cmd is not None and not isinstance(cmd, click.Group)

    missing = [" ".join(p) for p in rbd_commands if implemented(p) and p not in RBD_OPTIONS]
    assert not missing, f"commands journaltools implements without a row in RBD_OPTIONS: {missing}"


@pytest.mark.ceph
def test_disconnected_clients_do_not_hold_back_inspect_and_export(ceph_cluster, rbd_dir, tmp_path):
    """cls_journal 16.2 leaves disconnected clients out of the minimum commit position, so rbd journal
    inspect/export start after the image's commit; a disconnected peer's old position must not count."""
    import struct

    ceph = ceph_cluster
    ours, theirs = _shells(ceph, rbd_dir, tmp_path)
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", "rbd/dcx")
    jid = json.loads(ceph.rbd("info", "rbd/dcx", "--format", "json").stdout)["id"]
    bench = ("bench", "--io-type", "write", "rbd/dcx", "--io-size", "4096", "--io-threads", "1", "--io-total",
             "8192", "--io-pattern", "seq")
    ceph.rbd(*bench)
    register = b"\x05\x00\x00\x00peer1" + struct.pack("<I", 0)  # journal client_register(id, empty data)
    cluster = ceph.connect()
    try:
        ioctx = cluster.open_ioctx("rbd")
        ioctx.execute(f"journal.{jid}", "journal", "client_register", register)
        ioctx.close()
    finally:
        cluster.shutdown()
    ceph.rbd("journal", "client", "disconnect", "--image", "rbd/dcx", "--client-id", "peer1")
    ceph.rbd(*bench)
    for command in (("journal", "inspect", "--image", "rbd/dcx"), ("journal", "inspect", "--verbose", f"rbd/{jid}")):
        a, b = ours.rbd(*command), theirs.rbd(*command)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout), (command, a.stdout, b.stdout)
    a, b = ours.rbd("journal", "export", "--image", "rbd/dcx", "--path", "ours"), \
        theirs.rbd("journal", "export", "--image", "rbd/dcx", "--path", "theirs")
    assert (a.returncode, a.stdout) == (b.returncode, b.stdout)
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()


@pytest.mark.ceph
def test_failure_exit_codes_are_rbds(ceph_cluster, rbd_dir, tmp_path):
    """Commands that fail (or find nothing) exit with the real rbd's status, state for state."""
    ceph = ceph_cluster
    ours, theirs = _shells(ceph, rbd_dir, tmp_path)
    pool = ceph.new_pool("rcpool")
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", f"{pool}/rc1")
    ceph.rbd("create", "--size", "8M", f"{pool}/rc2")
    ceph.rbd("mirror", "pool", "enable", pool, "image")
    ceph.rbd("mirror", "image", "enable", f"{pool}/rc1", "journal")
    ceph.rbd("group", "create", f"{pool}/rcg")
    commands = [
        ("journal", "info", f"{pool}/nosuch"), ("journal", "status", "--image", f"{pool}/nosuch"),
        ("journal", "inspect", f"{pool}/nosuch"), ("journal", "reset", f"{pool}/nosuch"),
        ("journal", "info", "--image", f"{pool}/rc2"),
        ("group", "snap", "create", f"{pool}/nosuch@s"), ("group", "snap", "remove", f"{pool}/rcg@nosuch"),
        ("group", "snap", "rollback", f"{pool}/rcg@nosuch"), ("group", "image", "add", f"{pool}/rcg", f"{pool}/nosuch"),
        ("group", "image", "add", f"{pool}/nosuch", f"{pool}/rc2"), ("group", "rename", f"{pool}/nosuch", f"{pool}/x"),
        ("group", "create", f"{pool}/rcg"), ("group", "image", "list", f"{pool}/nosuch"),
        ("group", "snap", "list", f"{pool}/nosuch"), ("group", "remove", f"{pool}/nosuch"),
        ("mirror", "image", "status", f"{pool}/nosuch"), ("mirror", "image", "status", f"{pool}/rc2"),
        ("status", f"{pool}/nosuch"), ("feature", "enable", f"{pool}/nosuch", "journaling"),
        ("feature", "enable", f"{pool}/rc1", "journaling"), ("feature", "disable", f"{pool}/rc1", "journaling"),
        ("mirror", "pool", "status", "nosuchpool"), ("group", "list", "nosuchpool"),
        ("mirror", "pool", "disable", pool), ("mirror", "image", "resync", f"{pool}/rc1"),
        ("journal", "client", "disconnect", "--image", f"{pool}/rc1", "--client-id", "nope"),
    ]
    got = {" ".join(c): (ours.rbd(*c).returncode, theirs.rbd(*c).returncode) for c in commands}
    ceph.rbd("mirror", "pool", "peer", "add", pool, "client.admin@rc-site")
    for c in [("mirror", "pool", "disable", pool)]:
        got["with a peer: " + " ".join(c)] = (ours.rbd(*c).returncode, theirs.rbd(*c).returncode)
    differ = {k: v for k, v in got.items() if v[0] != v[1]}
    assert not differ, f"(ours, rbd) exit codes differ: {differ}"


@pytest.mark.ceph
def test_spec_rules_are_rbds(ceph_cluster, rbd_dir, tmp_path):
    """A pool or namespace written in a spec replaces -p/--namespace; the image commands' relaxed spec reads
    'a/b/c/d' as pool a, namespace b, image c/d and '/x' as an image name; a pool spec splits at its last
    '/', an empty pool is rbd: every outcome (status and output) is the real rbd's."""
    ceph = ceph_cluster
    ours, theirs = _shells(ceph, rbd_dir, tmp_path)
    pool = ceph.new_pool("sppool")
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", f"{pool}/sp1")
    jid = json.loads(ceph.rbd("info", f"{pool}/sp1", "--format", "json").stdout)["id"]
    commands = [
        ("status", "--pool", "nosuchpool", f"{pool}/sp1"), ("status", "--pool", "nosuchpool", "--image", f"{pool}/sp1"),
        ("mirror", "image", "status", "--pool", "nosuchpool", f"{pool}/sp1"),
        ("journal", "info", "--pool", "nosuchpool", f"{pool}/{jid}"),
        ("journal", "status", "--pool", "nosuchpool", "--image", f"{pool}/sp1"),
        ("status", "--namespace", "nosuchns", f"{pool}/sp1"),
        ("status", "a/b/c/d"), ("status", "/x"), ("status", "pool/"), ("mirror", "image", "status", "a/b/c/d"),
        ("mirror", "image", "promote", "/x"), ("journal", "info", "--image", "a/b/c/d"),
        ("mirror", "pool", "info", f"/{pool}"), ("mirror", "pool", "status", f"/{pool}"),
        ("mirror", "pool", "info", "a/b/c"), ("group", "list", f"/{pool}"), ("group", "list", f"{pool}/"),
    ]
    differ = {}
    for command in commands:
        a, b = ours.rbd(*command), theirs.rbd(*command)
        if (a.returncode, a.stdout) != (b.returncode, b.stdout):
            differ[" ".join(command)] = ((a.returncode, a.stdout[-100:], a.stderr[-150:]), (b.returncode, b.stdout[-100:]))
    assert not differ, f"(ours, rbd) differ: {differ}"


@pytest.mark.ceph
def test_importing_an_empty_export_succeeds_as_rbd(ceph_cluster, rbd_dir, tmp_path):
    """rbd journal import of an export with no entries (an idle journal's export) prints rbd's two lines, exit 0."""
    ceph = ceph_cluster
    ours, theirs = _shells(ceph, rbd_dir, tmp_path)
    ceph.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", "rbd/emptyimp")
    jid = json.loads(ceph.rbd("info", "rbd/emptyimp", "--format", "json").stdout)["id"]
    assert theirs.ok("journal", "export", jid, str(tmp_path / "empty.export"))
    for source in (str(tmp_path / "empty.export"), "/dev/null"):
        a = ours.rbd("journal", "import", "--dest", "rbd/emptyimp", source)
        b = theirs.rbd("journal", "import", "--dest", "rbd/emptyimp", source)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout) == (
            0, b"0 entries processed, 0 errors\nWaiting for journal append to complete...\n"), (source, a.stderr)
    assert "0 entries inspected" in ours.out("journal", "inspect", "--image", "rbd/emptyimp")
