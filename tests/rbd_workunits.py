"""Ceph's QA checks for rbd's journal, group and mirror commands, in our own words, runnable against any `rbd`.

Ported from the Pacific-era workunits (qa/workunits/rbd/journal.sh,
rbd_groups.sh, the single-cluster parts of rbd_mirror_helpers.sh) and rbd's
cram cases (src/test/cli/rbd/not-enough-args.t, too-many-args.t, invalid-snap-usage.t): each step a
workunit runs under ``set -e`` (or tests with ``expect_false``) is one check
here, recorded instead of aborting so that a run reports how many pass.

The `rbd` that runs is the first on PATH of :class:`Shell`'s environment: the
real one, or journaltools through a link named ``rbd`` (tests/test_rbd_dropin.py).
Run by hand: ``python -m tests.rbd_workunits CEPH_CONF [DIR_WITH_RBD]`` prints
the counts (``--verbose`` the failures).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REAL_RBD = "/usr/bin/rbd"


@dataclass
class Result:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Checks:
    """The outcome of every check of one workunit, in order."""

    workunit: str
    results: list[Result] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append(Result(name, bool(ok), detail))
        return bool(ok)

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        return f"{self.workunit}: {self.passed} of {len(self.results)} checks pass"


class Shell:
    """Runs commands as a workunit does: `rbd` from PATH (``rbd_dir`` first), the cluster from $CEPH_CONF."""

    def __init__(self, conf: str, rbd_dir: str | None, workdir: Path, env: dict[str, str] | None = None,
                 wrap: tuple[str, ...] = ()) -> None:
        path = os.environ.get("PATH", "/usr/bin:/bin")
        self.env = dict(os.environ, CEPH_CONF=conf, PATH=f"{rbd_dir}:{path}" if rbd_dir else path, **(env or {}))
        self.env.pop("JOURNALTOOLS_STORE", None)
        if not conf:  # the cluster comes from --cluster NAME (/etc/ceph/NAME.conf), as in the two-site helpers
            self.env.pop("CEPH_CONF")
        self.workdir = workdir
        self.wrap = wrap  # a prefix for every command (tests/releases.py private_etc_ceph: a private /etc/ceph)

    def run(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.wrap, *args], env={**self.env, **(env or {})}, cwd=self.workdir, input=stdin,
                              capture_output=True, timeout=timeout)

    def rbd(self, *args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
        return self.run("rbd", *args, **kw)  # type: ignore[arg-type]

    def ok(self, *args: str, **kw: object) -> bool:
        return self.rbd(*args, **kw).returncode == 0  # type: ignore[arg-type]

    def out(self, *args: str, **kw: object) -> str:
        return self.rbd(*args, **kw).stdout.decode("utf-8", "replace")  # type: ignore[arg-type]

    def rados(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return self.run("rados", *args, stdin=stdin)


def xml_value(text: str, path: str) -> str | None:
    """``xmlstarlet sel -t -v PATH`` for the simple paths the workunits use (``//a/b``, ``//a/b[c='v']/d``)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    found = root.findall("." + path) if path.startswith("//") else root.findall(path)
    if not found and path.startswith("//"):  # the root element itself may be the first step
        first, _, rest = path[2:].partition("/")
        if root.tag == first.split("[")[0]:
            found = root.findall("./" + rest) if rest else [root]
    return (found[0].text or "") if found else None


def image_journal(sh: Shell, image: str) -> str | None:
    return xml_value(sh.out("info", image, "--format=xml"), "//image/journal")


# -- journal.sh ------------------------------------------------------------------------------
def journal_workunit(sh: Shell, tag: str = "") -> Checks:
    c = Checks("journal.sh")
    tmp = sh.workdir
    image, image1 = f"testrbdjournal{tag}", f"testrbdjournal{tag}1"

    def save_position(journal: str, name: str) -> bool:
        return sh.rados("-p", "rbd", "getomapval", f"journal.{journal}", "client_", str(tmp / name)).returncode == 0

    def restore_position(journal: str, name: str) -> bool:
        data = (tmp / name).read_bytes() if (tmp / name).exists() else b""
        return sh.rados("-p", "rbd", "setomapval", f"journal.{journal}", "client_", stdin=data).returncode == 0

    c.check("create image with journaling", sh.ok("create", "--image-feature", "exclusive-lock", "--image-feature",
                                                  "journaling", "--size", "128", image))
    journal = image_journal(sh, image) or ""
    c.check("rbd info --format=xml names the journal", bool(journal))
    c.check("journal info <id>", sh.ok("journal", "info", journal))
    c.check("journal info --journal <id>", sh.ok("journal", "info", "--journal", journal))
    c.check("journal info --image <image>", sh.ok("journal", "info", "--image", image))
    c.check("feature disable journaling", sh.ok("feature", "disable", image, "journaling"))
    c.check("rbd info shows no journal after disable", image_journal(sh, image) is None)
    c.check("journal info <id> fails without journaling", not sh.ok("journal", "info", journal))
    c.check("journal info --image fails without journaling", not sh.ok("journal", "info", "--image", image))
    c.check("feature enable journaling", sh.ok("feature", "enable", image, "journaling"))
    c.check("the journal id is the image id again", image_journal(sh, image) == journal)
    c.check("journal info again", sh.ok("journal", "info", journal))
    c.check("journal status", sh.ok("journal", "status", journal))
    count = 10
    c.check("save commit position", save_position(journal, f"{journal}.client_.omap"))
    c.check("bench 10 writes", sh.ok("bench", "--io-type", "write", image, "--io-size", "4096", "--io-threads", "1",
                                     "--io-total", str(4096 * count), "--io-pattern", "seq"))
    c.check(f"journal status shows tid={count - 1}", f"tid={count - 1}" in sh.out("journal", "status", "--image", image))
    c.check("restore commit position", restore_position(journal, f"{journal}.client_.omap"))
    c.check("journal status shows positions=[]", "positions=[]" in sh.out("journal", "status", "--image", image))
    inspected = sh.out("journal", "inspect", "--verbose", journal)
    writes = sum(1 for line in inspected.splitlines() if "event_type" in line and "AioWrite" in line)
    c.check("inspect --verbose shows 10 AioWrite", writes == count, f"{writes} AioWrite")
    export = tmp / f"journal{tag}.export"
    c.check("journal export <id> <path>", sh.ok("journal", "export", journal, str(export)))
    c.check("the export file is not empty", export.exists() and export.stat().st_size > 0)
    c.check("export the image", sh.ok("export", image, str(tmp / f"{image}.export")))
    c.check("create a second image with journaling", sh.ok("create", "--image-feature", "exclusive-lock",
                                                           "--image-feature", "journaling", "--size", "128", image1))
    journal1 = image_journal(sh, image1) or ""
    c.check("save its commit position", save_position(journal1, f"{journal1}.client_.omap"))
    imported = sh.rbd("journal", "import", "--dest", image1, str(export))
    c.check("journal import --dest <image> <path>", imported.returncode == 0, imported.stderr.decode()[-300:])
    c.check("snap create (replays the imported entries)", sh.ok("snap", "create", f"{image1}@test"))
    c.check("restore its commit position", restore_position(journal1, f"{journal1}.client_.omap"))
    text = sh.out("journal", "inspect", "--image", image1, "--verbose")
    counts = {name: sum(1 for line in text.splitlines() if name in line)
              for name in ("AioFlush", "AioWrite", "SnapCreate", "OpFinish")}
    summary = next((line.split() for line in text.splitlines() if "entries inspected" in line), [])
    c.check("the imported journal: 2 AioFlush, 10 AioWrite, 1 SnapCreate, 1 OpFinish",
            counts == {"AioFlush": 2, "AioWrite": 10, "SnapCreate": 1, "OpFinish": 1}, str(counts))
    c.check("14 entries inspected, 0 errors", summary[:1] == ["14"] and summary[3:4] == ["0"], " ".join(summary))
    c.check("export the replayed snapshot", sh.ok("export", f"{image1}@test", str(tmp / f"{image1}.export")))
    same = (tmp / f"{image}.export").exists() and (tmp / f"{image1}.export").exists() and \
        (tmp / f"{image}.export").read_bytes() == (tmp / f"{image1}.export").read_bytes()
    c.check("the replayed image equals the original", same)
    c.check("journal reset <id>", sh.ok("journal", "reset", journal))
    c.check("inspect after reset shows no event", "event_type" not in sh.out("journal", "inspect", "--verbose", journal))
    c.check("snap purge", sh.ok("snap", "purge", image1))
    c.check("remove second image", sh.ok("remove", image1))
    c.check("remove image", sh.ok("remove", image))

    def assert_journal(name: str, image: str) -> None:
        text = sh.out("--format", "xml", "journal", "info", "--image", image)
        for field_path, want in (("//journal/order", "25"), ("//journal/splay_width", "6"),
                                 ("//journal/object_pool", "rbd")):
            got = xml_value(text, field_path)
            c.check(f"{name}: {field_path} = {want}", got == want, f"got {got!r}")

    opts = ["--journal-pool", "rbd", "--journal-object-size", "20M", "--journal-splay-width", "6"]
    features = ["--image-feature", "exclusive-lock", "--image-feature", "journaling"]
    name = f"testrbdcreate{tag}"
    c.check("create with journal options", sh.ok("create", *features, *opts, "--size", "256", name))
    assert_journal("create", name)
    c.check("remove", sh.ok("remove", name))

    src, name = f"testrbdcopys{tag}", f"testrbdcopy{tag}"
    c.check("copy: create source", sh.ok("create", "--size", "256", src))
    c.check("copy with journal options", sh.ok("copy", *features, *opts, src, name))
    c.check("copy: remove source", sh.ok("remove", src))
    assert_journal("copy", name)
    c.check("copy: remove", sh.ok("remove", name))

    c.check("deep copy: create source", sh.ok("create", "--size", "256", src))
    c.check("deep copy: snap create", sh.ok("snap", "create", f"{src}@snap1"))
    c.check("deep copy with journal options", sh.ok("deep", "copy", *features, *opts, src, name))
    c.check("deep copy: purge and remove source", sh.ok("snap", "purge", src) and sh.ok("remove", src))
    assert_journal("deep copy", name)
    c.check("deep copy: purge and remove", sh.ok("snap", "purge", name) and sh.ok("remove", name))

    parent, name = f"testrbdclonep{tag}", f"testrbdclone{tag}"
    c.check("clone: parent", sh.ok("create", "--image-feature", "layering", "--size", "256", parent)
            and sh.ok("snap", "create", f"{parent}@snap") and sh.ok("snap", "protect", f"{parent}@snap"))
    c.check("clone with journal options", sh.ok("clone", "--image-feature", "layering", *features, *opts,
                                                f"{parent}@snap", name))
    assert_journal("clone", name)
    c.check("clone: cleanup", sh.ok("remove", name) and sh.ok("snap", "unprotect", f"{parent}@snap")
            and sh.ok("snap", "purge", parent) and sh.ok("remove", parent))

    src, name = f"testrbdimports{tag}", f"testrbdimport{tag}"
    c.check("import: source", sh.ok("create", "--size", "256", src) and sh.ok("export", src, str(tmp / f"{src}.export"))
            and sh.ok("remove", src))
    c.check("import with journal options", sh.ok("import", *features, *opts, str(tmp / f"{src}.export"), name))
    assert_journal("import", name)
    c.check("import: remove", sh.ok("remove", name))

    name = f"testrbdfeature{tag}"
    c.check("feature: create", sh.ok("create", "--image-feature", "exclusive-lock", "--size", "256", name))
    c.check("feature enable journaling with journal options", sh.ok("feature", "enable", name, "journaling", *opts))
    assert_journal("feature", name)
    c.check("feature: remove", sh.ok("remove", name))
    return c


# -- rbd_groups.sh ---------------------------------------------------------------------------
def groups_workunit(sh: Shell, tag: str = "", snap_counts: Sequence[int] = (10, 100)) -> Checks:
    c = Checks("rbd_groups.sh")

    def in_list(name: str) -> bool:
        return name in sh.out("group", "list").split()

    def image_in_group(image: str, group: str) -> bool:
        return any(v.split("/", 1)[-1] == image for v in sh.out("group", "image", "list", group).split())

    def snaps(group: str) -> str:
        return sh.out("group", "snap", "list", group)

    group, new_group = f"test_consistency_group{tag}", f"test_new_consistency_group{tag}"
    c.check("group create", sh.ok("group", "create", group))
    c.check("group is listed", in_list(group))
    c.check("group rename", sh.ok("group", "rename", group, new_group))
    c.check("renamed group is listed", in_list(new_group))
    c.check("group remove", sh.ok("group", "remove", new_group))
    c.check("removed group is gone", not in_list(new_group))

    image = f"test_image{tag}"
    c.check("create image", sh.ok("create", "--size", "10M", image))
    c.check("group create", sh.ok("group", "create", group))
    c.check("group image add", sh.ok("group", "image", "add", group, image))
    c.check("image is in the group", image_in_group(image, group))
    c.check("group image remove", sh.ok("group", "image", "remove", group, image))
    c.check("image is not in the group", not image_in_group(image, group))
    c.check("group remove", sh.ok("group", "remove", group))
    c.check("remove image", sh.ok("remove", image))

    snap, new_snap, sec_snap = "group_snap", "new_group_snap", "group_snap2"
    c.check("create image", sh.ok("create", "--size", "10M", image))
    c.check("group create", sh.ok("group", "create", group))
    c.check("group image add", sh.ok("group", "image", "add", group, image))
    c.check("group snap create", sh.ok("group", "snap", "create", f"{group}@{snap}"))
    c.check("snapshot is listed", snap in snaps(group))
    c.check("group snap rename", sh.ok("group", "snap", "rename", f"{group}@{snap}", new_snap))
    c.check("old name is gone", snap not in [line.split()[0] for line in snaps(group).splitlines()[1:] if line])
    c.check("second group snap create", sh.ok("group", "snap", "create", f"{group}@{sec_snap}"))
    c.check("second snapshot is listed", sec_snap in snaps(group))
    c.check("group snap rollback", sh.ok("group", "snap", "rollback", f"{group}@{new_snap}"))
    c.check("group snap remove", sh.ok("group", "snap", "remove", f"{group}@{new_snap}"))
    c.check("removed snapshot is gone", new_snap not in snaps(group).split())
    c.check("group snap remove second", sh.ok("group", "snap", "remove", f"{group}@{sec_snap}"))
    c.check("second snapshot is gone", sec_snap not in snaps(group).split())
    c.check("group remove", sh.ok("group", "remove", group))
    c.check("remove image", sh.ok("remove", image))

    c.check("create image", sh.ok("create", "--size", "10M", image))
    c.check("group create", sh.ok("group", "create", group))
    c.check("group image add", sh.ok("group", "image", "add", group, image))
    for count in snap_counts:
        created = all(sh.ok("group", "snap", "create", f"{group}@{snap}{i}") for i in range(1, count + 1))
        c.check(f"create {count} group snapshots", created)
        listed = sum(1 for line in snaps(group).splitlines() if snap in line)
        c.check(f"{count} snapshots listed", listed == count, f"{listed} listed")
        removed = all(sh.ok("group", "snap", "remove", f"{group}@{snap}{i}") for i in range(1, count + 1))
        c.check(f"remove {count} group snapshots", removed)
    c.check("group remove", sh.ok("group", "remove", group))
    c.check("remove image", sh.ok("remove", image))
    return c


# -- cram cases: usage errors ----------------------------------------------------------------
#: rbd's cram cases for the commands journaltools implements (not-enough-args.t, too-many-args.t,
#: invalid-snap-usage.t),
#: completed with the other missing/extra/invalid-argument cases of these commands: (args, stderr, status)
CRAM_CASES: list[tuple[tuple[str, ...], str, int]] = [
    (("status",), "rbd: image name was not specified\n", 22),
    (("feature", "disable"), "rbd: image name was not specified\n", 22),
    (("feature", "disable", "foo"), "rbd: at least one feature name must be specified\n", 22),
    (("feature", "enable"), "rbd: image name was not specified\n", 22),
    (("feature", "enable", "foo"), "rbd: at least one feature name must be specified\n", 22),
    (("feature", "enable", "img1", "layering", "striping", "exclusive-lock", "object-map", "fast-diff",
      "deep-flatten", "journaling", "junk"), "rbd: the argument for option is invalid\n", 1),
    (("feature", "disable", "img1", "layering", "striping", "exclusive-lock", "object-map", "fast-diff",
      "deep-flatten", "journaling", "junk"), "rbd: the argument for option is invalid\n", 1),
    (("journal", "info"), "rbd: journal was not specified\n", 22),
    (("journal", "status"), "rbd: journal was not specified\n", 22),
    (("journal", "inspect"), "rbd: journal was not specified\n", 22),
    (("journal", "export"), "rbd: journal was not specified\n", 22),
    (("journal", "export", "img1"), "rbd: path was not specified\n", 22),
    (("journal", "import"), "rbd: path was not specified\n", 22),
    (("journal", "import", "/tmp/x"), "rbd: destination journal was not specified\n", 22),
    (("journal", "reset"), "rbd: journal was not specified\n", 22),
    (("journal", "client", "disconnect"), "rbd: journal was not specified\n", 22),
    (("journal", "info", "img1", "extra"), "rbd: too many arguments\n", 1),
    (("journal", "info", "--image", "img1", "--bogus"), "rbd: unrecognised option '--bogus'\n", 1),
    (("journal", "info", "--journal", "nosuch", "--pretty-format"),
     "rbd: --pretty-format only works when --format is json or xml\n", 22),
    (("journal", "info", "--image", "img1", "--format", "yaml"),
     "rbd: the argument for option '--format' is invalid\n", 1),
    (("journal", "info", "--image", "img1", "--format"),
     "rbd: the required argument for option '--format' is missing\n", 1),
    (("journal", "info", "--image", "img1", "--image", "img1"),
     "rbd: option '--image' cannot be specified more than once\n", 1),
    (("journal", "inspect", "--image", "img1", "--format", "json"), "rbd: unrecognised option '--format'\n", 1),
    (("feature", "enable", "img1", "journaling", "--journal-splay-width", "x"),
     "rbd: the argument ('x') for option '--journal-splay-width' is invalid\n", 1),
    (("feature", "enable", "img1", "journaling", "--journal-object-size", "3K"),
     "rbd: the argument for option '--journal-object-size' is invalid\n", 1),
    (("feature", "enable", "img1", "journaling", "--journal-object-size", "128M"),
     "rbd: the argument for option '--journal-object-size' is invalid\n", 1),
    (("status", "img1", "extra"), "rbd: too many arguments\n", 1),
    (("group", "create"), "rbd: group name was not specified\n", 22),
    (("group", "create", "g@s"), "rbd: snapshot name specified for a command that doesn't use it\n", 22),
    (("group", "create", "a/b/c/d"), "rbd: invalid spec 'a/b/c/d'\n", 22),
    (("group", "remove"), "rbd: group name was not specified\n", 22),
    (("group", "rename"), "rbd: group name was not specified\n", 22),
    (("group", "rename", "g1"), "rbd: destination group name was not specified\n", 22),
    (("group", "list", "a", "b"), "rbd: too many arguments\n", 1),
    (("group", "list", "--pretty-format"), "rbd: --pretty-format only works when --format is json or xml\n", 22),
    (("group", "image", "add"), "rbd: group name was not specified\n", 22),
    (("group", "image", "add", "g1"), "rbd: image name was not specified\n", 22),
    (("group", "image", "remove", "g1"), "rbd: image name was not specified\n", 22),
    (("group", "image", "list"), "rbd: group name was not specified\n", 22),
    (("group", "snap", "create"), "rbd: group name was not specified\n", 22),
    (("group", "snap", "create", "g1"), "rbd: snapshot name was not specified\n", 22),
    (("group", "snap", "remove", "g1"), "rbd: snapshot name was not specified\n", 22),
    (("group", "snap", "rename", "g1@s1"), "rbd: destination snapshot name was not specified\n", 22),
    (("group", "snap", "rename", "g1"), "rbd: snapshot name was not specified\n", 22),
    (("group", "snap", "rollback", "g1"), "rbd: snapshot name was not specified\n", 22),
    (("group", "snap", "create", "g2@a/b"), "rbd: invalid spec 'g2@a/b'\n", 22),
    (("group", "snap", "list"), "rbd: group name was not specified\n", 22),
    (("group", "snap", "list", "g1", "--format", "plain", "--pretty-format"),
     "rbd: --pretty-format only works when --format is json or xml\n", 22),
    (("mirror", "pool", "info", "a", "b"), "rbd: too many arguments\n", 1),
    (("mirror", "pool", "status", "a", "b"), "rbd: too many arguments\n", 1),
    (("mirror", "pool", "enable"), "rbd: must specify 'image' or 'pool' mode.\n", 22),
    (("mirror", "pool", "enable", "rbd"), "rbd: must specify 'image' or 'pool' mode.\n", 22),
    (("mirror", "pool", "enable", "rbd", "foo"), "rbd: must specify 'image' or 'pool' mode.\n", 22),
    (("mirror", "pool", "disable", "a", "b"), "rbd: too many arguments\n", 1),
    (("mirror", "pool", "peer", "add"), "rbd: remote cluster was not specified\n", 22),
    (("mirror", "pool", "peer", "add", "rbd"), "rbd: remote cluster was not specified\n", 22),
    (("mirror", "pool", "peer", "remove", "rbd"), "rbd: must specify peer uuid\n", 22),
    (("mirror", "image", "status"), "rbd: image name was not specified\n", 22),
    (("mirror", "image", "enable"), "rbd: image name was not specified\n", 22),
    (("mirror", "image", "enable", "img1", "foo"), "rbd: invalid mode name: foo\n", 22),
    (("mirror", "image", "disable"), "rbd: image name was not specified\n", 22),
    (("mirror", "image", "promote"), "rbd: image name was not specified\n", 22),
    (("mirror", "image", "demote"), "rbd: image name was not specified\n", 22),
    (("mirror", "image", "resync"), "rbd: image name was not specified\n", 22),
    # invalid-snap-usage.t: a snapshot part where the command takes none; the spec is checked first,
    # before any other argument (feature names, the mirror mode, a peer)
    *[((*cmd, spec), "rbd: snapshot name specified for a command that doesn't use it\n", 22)
      for cmd in (("status",), ("feature", "enable"), ("feature", "disable"), ("journal", "info"),
                  ("journal", "status"), ("journal", "inspect"), ("journal", "export"), ("journal", "reset"),
                  ("journal", "client", "disconnect"), ("mirror", "image", "status"), ("mirror", "image", "enable"),
                  ("mirror", "image", "disable"), ("mirror", "image", "promote"), ("mirror", "image", "demote"),
                  ("mirror", "image", "resync"))
      for spec in ("foo@snap", "rbd/foo@snap")],
    (("feature", "enable", "foo@snap", "journaling"),
     "rbd: snapshot name specified for a command that doesn't use it\n", 22),
    (("feature", "disable", "foo@snap", "journaling"),
     "rbd: snapshot name specified for a command that doesn't use it\n", 22),
    (("journal", "info", "--image", "img1@snap"), "rbd: snapshot name specified for a command that doesn't use it\n", 22),
    # the image commands' relaxed spec still wants a name before '@' and a snapshot after it
    (("feature", "enable", "@snap"), "rbd: invalid spec '@snap'\n", 22),
    (("feature", "disable", "foo@"), "rbd: invalid spec 'foo@'\n", 22),
    (("status", "@snap"), "rbd: invalid spec '@snap'\n", 22),
    (("journal", "info", "a/b/c/d"), "rbd: invalid spec 'a/b/c/d'\n", 22),
    # a pool spec is split at its last '/'; commands that change the pool refuse '/' or '@' in its name,
    # every command refuses them in a namespace, all before the other arguments
    (("mirror", "pool", "enable", "foo@snap"), "rbd: invalid pool 'foo@snap'\n", 22),
    (("mirror", "pool", "enable", "a/b/c/d", "image"), "rbd: invalid pool 'a/b/c'\n", 22),
    (("mirror", "pool", "disable", "rbd/ns@x"), "rbd: invalid namespace 'ns@x'\n", 22),
    (("mirror", "pool", "info", "rbd/ns@x"), "rbd: invalid namespace 'ns@x'\n", 22),
    (("mirror", "pool", "status", "rbd/ns@x"), "rbd: invalid namespace 'ns@x'\n", 22),
    (("group", "list", "rbd/ns@x"), "rbd: invalid namespace 'ns@x'\n", 22),
    (("mirror", "pool", "peer", "add", "/foo"), "rbd: invalid pool '/foo'\n", 22),
    (("mirror", "pool", "peer", "add", "p@x", "site-b"), "rbd: invalid pool 'p@x'\n", 22),
    (("mirror", "pool", "peer", "remove", "pool/"), "rbd: invalid pool 'pool/'\n", 22),
    (("mirror", "image", "snapshot", "--skip-quiesce", "--ignore-quiesce-error", "foo"),
     "rbd: ignore-quiesce-error cannot be used together with skip-quiesce\n", 22),
    (("group", "snap", "create", "--skip-quiesce", "--ignore-quiesce-error", "g@s"),
     "rbd: ignore-quiesce-error cannot be used together with skip-quiesce\n", 22),
    (("mirror", "image", "snapshot", "foo@snap"), "rbd: snapshot name specified for a command that doesn't use it\n", 22),
    # a typed option's bad value is refused while rbd parses the line, before any argument is looked at
    (("feature", "enable", "--journal-object-size", "nosuch"),
     "rbd: the argument for option '--journal-object-size' is invalid\n", 1),
    (("feature", "enable", "foo@snap", "journaling", "--journal-object-size", "2K"),
     "rbd: the argument for option '--journal-object-size' is invalid\n", 1),
]


def cram_cases(sh: Shell) -> Checks:
    """Each case: exactly rbd's stderr and exit status (the cluster is not needed to get there)."""
    c = Checks("cram cases")
    sh.rbd("create", "--size", "8M", "--image-feature", "exclusive-lock,journaling", "img1")  # the cases' image
    for args, stderr, status in CRAM_CASES:
        proc = sh.rbd(*args)
        got = (proc.stderr.decode("utf-8", "replace"), proc.returncode)
        c.check("rbd " + " ".join(args), got == (stderr, status), repr(got))
    return c


# -- the single-cluster parts of rbd_mirror_helpers.sh -------------------------------------------------
def mirror_single_cluster(sh: Shell, tag: str = "") -> Checks:
    """What rbd_mirror_journal.sh asks of one cluster: pool/peer setup, status in XML, journal positions."""
    c = Checks("rbd_mirror (single cluster)")
    pool = f"mirror{tag}"
    image = "test"
    admin = {"CEPH_ARGS": "--id admin"}  # the helpers export CEPH_ARGS="--id ${CEPH_ID}"
    made = sh.run("ceph", "osd", "pool", "create", pool, "8").returncode == 0 and sh.ok("pool", "init", pool)
    c.check("create and init the pool", made)
    c.check("mirror pool enable <pool> image", sh.ok("mirror", "pool", "enable", pool, "image", env=admin))
    peer = sh.rbd("mirror", "pool", "peer", "add", pool, "client.admin@site-b", env=admin)
    c.check("mirror pool peer add prints the uuid", peer.returncode == 0 and len(peer.stdout.strip()) == 36)
    info = sh.out("mirror", "pool", "info", "--pool", pool, "--format", "xml", env=admin)
    uuid = xml_value(info, "//peers/peer[site_name='site-b']/uuid")
    c.check("mirror pool info --format xml: the peer's uuid by site name",
            uuid is not None and uuid == peer.stdout.decode().strip(), info)
    c.check("create an image with journaling", sh.ok("create", "--size", "128", "--image-feature",
                                                     "layering,exclusive-lock,journaling", f"{pool}/{image}"))
    c.check("mirror image enable <pool>/<image> journal", sh.ok("mirror", "image", "enable", f"{pool}/{image}",
                                                                "journal", env=admin))
    status = sh.out("mirror", "image", "status", f"{pool}/{image}")
    c.check("mirror image status: state line", any(line.startswith("  state: ") for line in status.splitlines()), status)
    c.check("mirror image status: description line",
            any(line.startswith("  description: ") for line in status.splitlines()), status)
    c.check("mirror image status: no service line without a daemon", "service: " not in status)
    verbose = sh.out("mirror", "pool", "status", pool, "--verbose", "--format", "xml", env=admin)
    state = xml_value(verbose, f"//images/image[name='{image}']/state")
    c.check("mirror pool status --verbose --format xml: the image's state", state == "down+unknown", verbose)
    c.check("... and its last_update", xml_value(verbose, f"//images/image[name='{image}']/last_update") is not None)
    journal = sh.out("journal", "status", "--image", f"{pool}/{image}")
    c.check("journal status --image <pool>/<image>: the image client, connected",
            "[id=, commit_position=" in journal and "state=connected" in journal, journal)
    c.check("bench writes", sh.ok("bench", "--io-type", "write", f"{pool}/{image}", "--io-size", "4096",
                                  "--io-threads", "1", "--io-total", "16384", "--io-pattern", "seq"))
    journal = sh.out("journal", "status", "--image", f"{pool}/{image}")
    c.check("the master position parses as the helpers parse it",
            "positions=[[object_number=" in journal and "tag_tid=" in journal, journal)
    c.check("journal client disconnect --image <pool>/<image> (no peer client: an error, as rbd)",
            sh.rbd("journal", "client", "disconnect", "--image", f"{pool}/{image}").returncode == 2)
    c.check("mirror image demote", sh.out("mirror", "image", "demote", f"{pool}/{image}") == "Image demoted to non-primary\n")
    c.check("mirror image promote", sh.out("mirror", "image", "promote", f"{pool}/{image}") == "Image promoted to primary\n")
    c.check("mirror image disable", sh.out("mirror", "image", "disable", f"{pool}/{image}") == "Mirroring disabled\n")
    c.check("peer remove with --pool and the uuid alone",
            sh.ok("--pool", pool, "mirror", "pool", "peer", "remove", uuid or "", env={"CEPH_ARGS": ""}))
    c.check("mirror pool info: no peers left", xml_value(sh.out("mirror", "pool", "info", pool, "--format", "xml"),
                                                          "//peers/peer/uuid") is None)
    c.check("remove the image", sh.ok("remove", f"{pool}/{image}"))
    c.check("mirror pool disable", sh.ok("mirror", "pool", "disable", pool))
    return c


# -- the two-site parts of rbd_mirror_journal.sh (with rbd_mirror_helpers.sh) ----------------------------
@dataclass
class Site:
    """One cluster of a two-site run as the helpers name it: ``rbd --cluster NAME`` (/etc/ceph/NAME.conf)."""

    name: str
    asok: str  # the admin socket of the site's rbd-mirror daemon (client.mirror.0)
    start_daemon: Callable[[], None]


def _steady(out: bytes) -> bytes:
    """A status output with what changes from one call to the next masked: times and rates."""
    import re

    out = re.sub(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", b"<time>", out)
    quote = rb'(&quot;|\\"|")?'  # the description's JSON in XML, in JSON (escaped) or in plain text
    return re.sub(rb"(bytes|entries)_per_second" + quote + rb":[0-9.e+-]+", rb"\1_per_second\2:<rate>", out)


def mirror_two_sites(sh: Shell, one: Site, two: Site, deadline: float = 150.0, theirs: Shell | None = None) -> Checks:
    """The replay and failover steps of rbd_mirror_journal.sh between two clusters, in the helpers' terms.

    ``two`` is the primary site at first (the workunit's CLUSTER2), ``one`` replays it (CLUSTER1); each
    step reads rbd's output the way the helpers do (grep of ``mirror image status``, xmlstarlet of
    ``mirror pool status --verbose --format xml``, sed of ``journal status``) and waits as they wait.
    """
    import re
    import time

    c = Checks("rbd_mirror_journal.sh (two sites)")
    pool, image = "mirror", "test"
    spec = f"{pool}/{image}"

    def rbd(site: Site, *args: str) -> subprocess.CompletedProcess[bytes]:
        return sh.rbd("--cluster", site.name, *args)

    def text(site: Site, *args: str) -> str:
        return rbd(site, *args).stdout.decode("utf-8", "replace")

    def wait(predicate: Callable[[], object]) -> bool:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(2)
        return bool(predicate())

    def admin(site: Site, *command: str) -> str:
        proc = sh.run("ceph", "--admin-daemon", site.asok, *command)
        return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else ""

    def replaying(site: Site) -> bool:  # test_image_replay_state: a 'state' line saying Replaying
        return any("state" in line.lower() and "replaying" in line.lower()
                   for line in admin(site, "rbd", "mirror", "status", spec).splitlines())

    def in_state(site: Site, state: str, description: str = "") -> bool:  # test_status_in_pool_dir
        status = sh.rbd("--cluster", site.name, "mirror", "image", "status", spec, env={"CEPH_ARGS": ""})
        lines = status.stdout.decode("utf-8", "replace").splitlines()
        if not any(re.match(rf"^  state: .*{re.escape(state)}", line) for line in lines):
            return False
        if not any(re.match(rf"^  description: .*{re.escape(description)}", line) for line in lines):
            return False
        service = any(re.search(r"service: *mirror\..* on ", line) for line in lines)
        if service != state.startswith("up+"):
            return False
        xml = text(site, "mirror", "pool", "status", pool, "--verbose", "--format", "xml")
        return state in (xml_value(xml, f"//images/image[name='{image}']/state") or "")

    def position(site: Site, mirror: bool) -> str:  # get_journal_position: the first position of a client
        found = re.search(r"^.*\[id=" + (".+" if mirror else "") + r",.*positions=\[\[([^]]*)\],.*state=connected.*$",
                          text(site, "journal", "status", "--image", spec), re.MULTILINE)
        return found.group(1) if found else ""

    def replayed(local: Site, remote: Site) -> bool:  # wait_for_journal_replay_complete
        admin(local, "rbd", "mirror", "flush", spec)
        master = position(remote, False)
        return bool(master) and master == position(remote, True)

    def same_data() -> bool:  # compare_images
        exports = []
        for site in (two, one):
            out = sh.workdir / f"{site.name}.export"
            out.unlink(missing_ok=True)
            exports.append(out.read_bytes() if rbd(site, "export", spec, str(out)).returncode == 0 else None)
        return exports[0] is not None and exports[0] == exports[1]

    def write(site: Site) -> bool:
        return rbd(site, "bench", spec, "--io-type", "write", "--io-size", "4096", "--io-threads", "1",
                   "--io-total", str(4096 * 20), "--io-pattern", "rand").returncode == 0

    for site, other in ((one, two), (two, one)):  # setup_pools (pool mode, site names, a peer each way)
        made = sh.run("ceph", "--cluster", site.name, "osd", "pool", "create", pool, "8").returncode == 0
        c.check(f"{site.name}: create and init the pool", made and rbd(site, "pool", "init", pool).returncode == 0)
        c.check(f"{site.name}: mirror pool enable --site-name {site.name} {pool} pool",
                rbd(site, "mirror", "pool", "enable", "--site-name", site.name, pool, "pool").returncode == 0)
        peer = rbd(site, "mirror", "pool", "peer", "add", pool, other.name)
        c.check(f"{site.name}: mirror pool peer add {pool} {other.name}", peer.returncode == 0, peer.stderr.decode())
    one.start_daemon()
    c.check("create the image on the primary site", rbd(two, "create", "--size", "128", "--image-feature",
                                                        "layering,exclusive-lock,journaling", spec).returncode == 0)
    c.check("image replay started", wait(lambda: replaying(one)))
    c.check("write the image", write(two))
    c.check("replay complete (journal status: master and mirror positions)", wait(lambda: replayed(one, two)))
    c.check(f"{one.name}: up+replaying, primary_position", wait(lambda: in_state(one, "up+replaying", "primary_position")))
    c.check(f"{two.name}: down+unknown (no daemon there, the peer's status aside)",
            wait(lambda: in_state(two, "down+unknown")))
    c.check("the images are the same", same_data())
    real = theirs
    for site in (one, two) if real is not None else ():  # the same outputs as the real rbd's, both sites
        for command in (("mirror", "image", "status", spec), ("mirror", "pool", "status", pool, "--verbose")):
            for fmt in FORMATS:
                ours_out = rbd(site, *command, *fmt)
                real_out = real.rbd("--cluster", site.name, *command, *fmt) if real is not None else ours_out
                c.check(f"{site.name}: {' '.join(command + fmt)} as rbd prints it",
                        (ours_out.returncode, _steady(ours_out.stdout)) == (real_out.returncode, _steady(real_out.stdout)),
                        f"ours {ours_out.stdout[-600:]!r}\nrbd  {real_out.stdout[-600:]!r}")
    two.start_daemon()  # failover and failback
    c.check("demote on the primary site", rbd(two, "mirror", "image", "demote", spec).returncode == 0)
    c.check("replay stopped", wait(lambda: not replaying(one)))
    c.check("both sites up+unknown", wait(lambda: in_state(one, "up+unknown") and in_state(two, "up+unknown")))
    c.check(f"promote on {one.name} (with the helpers' Ceph options)",
            rbd(one, "mirror", "image", "promote", spec, "--debug-rbd", "30", "--debug-rbd-mirror", "30").returncode == 0)
    c.check(f"{two.name} replays {one.name}", wait(lambda: replaying(two)))
    c.check(f"write on {one.name}", write(one))
    c.check("replay complete the other way", wait(lambda: replayed(two, one)))
    c.check(f"{one.name}: up+stopped", wait(lambda: in_state(one, "up+stopped")))
    c.check(f"{two.name}: up+replaying, primary_position", wait(lambda: in_state(two, "up+replaying", "primary_position")))
    c.check("the images are the same after failover", same_data())
    disconnect = rbd(one, "journal", "client", "disconnect", "--image", spec)  # client disconnect
    c.check("journal client disconnect of the peer", disconnect.returncode == 0, disconnect.stderr.decode())
    c.check("no connected mirror position left", position(one, True) == "")
    c.check(f"{two.name}: up+error, disconnected", wait(lambda: in_state(two, "up+error", "disconnected")))
    c.check(f"{two.name}: mirror image resync", rbd(two, "mirror", "image", "resync", spec).returncode == 0)
    c.check(f"{two.name}: replaying again after the resync",
            wait(lambda: in_state(two, "up+replaying", "primary_position") and bool(position(one, True))))
    c.check(f"{two.name}: replay complete before the forced promotion", wait(lambda: replayed(two, one)))
    forced = rbd(two, "mirror", "image", "promote", spec, "--force", "--debug-rbd", "30")  # force promote
    c.check(f"{two.name}: mirror image promote --force while rbd-mirror replays into it", forced.returncode == 0,
            forced.stderr.decode())
    c.check(f"{two.name}: replay stopped", wait(lambda: not replaying(two)))
    c.check("both sites up+stopped (both primary)", wait(lambda: in_state(one, "up+stopped") and in_state(two, "up+stopped")))
    c.check("both sites take writes", write(one) and write(two))
    return c


# -- every XML (and JSON, plain) output, byte for byte --------------------------------------
FORMATS: list[tuple[str, ...]] = [(), ("--format", "json"), ("--format", "json", "--pretty-format"),
                                  ("--format", "xml"), ("--format", "xml", "--pretty-format")]


def output_commands(image: str, group: str, pool: str = "rbd") -> list[tuple[str, ...]]:
    return [("journal", "info", "--image", image), ("journal", "status", "--image", image),
            ("mirror", "pool", "info", pool), ("mirror", "pool", "status", pool),
            ("mirror", "pool", "status", pool, "--verbose"), ("mirror", "image", "status", image),
            ("status", image), ("group", "list", pool), ("group", "image", "list", group),
            ("group", "snap", "list", group)]


def compare_outputs(ours: Shell, theirs: Shell, commands: Sequence[tuple[str, ...]]) -> Checks:
    c = Checks("outputs")
    for command in commands:
        for fmt in FORMATS:
            a, b = ours.rbd(*command, *fmt), theirs.rbd(*command, *fmt)
            c.check(" ".join(command + fmt), (a.returncode, a.stdout) == (b.returncode, b.stdout),
                    f"ours {a.returncode} {a.stdout[-200:]!r} {a.stderr[-200:]!r}\n"
                    f"rbd  {b.returncode} {b.stdout[-200:]!r}")
    return c


WORKUNITS: dict[str, Callable[[Shell], Checks]] = {
    "journal": journal_workunit, "groups": groups_workunit, "cram": cram_cases, "mirror": mirror_single_cluster,
}


def main(argv: Sequence[str]) -> int:
    verbose = "--verbose" in argv
    args = [a for a in argv if a != "--verbose"]
    conf, rbd_dir = args[0], (args[1] if len(args) > 1 else None)
    only = args[2:] or list(WORKUNITS)
    with tempfile.TemporaryDirectory() as work:
        for name in only:
            sh = Shell(conf, rbd_dir, Path(work))
            checks = WORKUNITS[name](sh)
            print(checks.summary())
            if verbose:
                for failure in checks.failures:
                    print(f"  FAIL {failure.name}: {failure.detail[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
