"""Sandbox clusters of every Ceph release operators run: Pacific on the host, Reef and Tentacle in Debian roots.

The host has Pacific (16.2).  Reef (18.2) and Tentacle (20.2) come from Debian's archive: suite
``trixie`` carries Ceph 18.2, ``sid`` carries 20.2.  ``tools/release-root.sh SUITE`` builds a
debootstrap root with that release installed (cached in ``$JOURNALTOOLS_ROOTS``, default
/var/cache/journaltools/roots; ``make release-roots`` builds both).  A release cluster runs its
mon, OSD and mgr inside the root (``tools/release-chroot.sh``: a private mount namespace with
/proc, /sys, /dev, /dev/pts bound in, gone with the daemons); its directory and the temporary
directory are shared at the same path inside and outside, so the host's python3-rados (a Pacific
client: v1 messenger on loopback, auth none) and journaltools read the same ceph.conf.  The
reference ``rbd``, ``rados`` and ``ceph`` are the release's own, run inside the root.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .ceph_cluster import CephCluster

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "tools"


@dataclass(frozen=True)
class Release:
    """One Ceph release: its name, the version it must report and where it comes from."""

    name: str
    version: str  # prefix of `ceph --version`'s number
    suite: str | None  # the Debian suite of its root; None: the host's own Ceph

    @property
    def root(self) -> Path | None:
        if self.suite is None:
            return None
        return Path(os.environ.get("JOURNALTOOLS_ROOTS", "/var/cache/journaltools/roots")) / self.suite

    def missing(self) -> str | None:
        """None when this release can run here, else why not."""
        root = self.root
        if root is not None and os.geteuid() != 0:
            return f"the {self.name} cluster runs in a chroot: run the tests as root"
        if root is not None and not (root / ".journaltools-ready").exists():
            return f"the {self.name} root {root} is not built; run `make release-roots`"
        if root is not None and not shutil.which("unshare"):
            return "unshare (util-linux) is missing"
        return None


RELEASES_HOST = Release("pacific", "16.2.", None)
RELEASES = {
    "pacific": RELEASES_HOST,
    "reef": Release("reef", "18.2.", "trixie"),
    "tentacle": Release("tentacle", "20.2.", "sid"),
}


def shared_dirs() -> list[str]:
    """Directories seen at the same path inside a root: the temporary directory (cluster, test files)."""
    return [os.path.realpath(tempfile.gettempdir())]


def chroot_prefix(release: Release, etc_ceph: Path | None = None) -> tuple[str, ...]:
    """The command prefix that runs a Ceph command of ``release`` (empty for the host's release);
    ``etc_ceph``: a directory the command sees as /etc/ceph."""
    if release.root is None:
        return private_etc_ceph(etc_ceph) if etc_ceph is not None else ()
    prefix = [str(TOOLS / "release-chroot.sh"), str(release.root)]
    for path in shared_dirs():
        prefix += ["--share", path]
    if etc_ceph is not None:
        prefix += ["--bind", str(etc_ceph), "/etc/ceph"]
    return (*prefix,)


def private_etc_ceph(etc_ceph: Path) -> tuple[str, ...]:
    """A host command that sees ``etc_ceph`` as /etc/ceph, in its own mount namespace (the host's stays as it is)."""
    Path("/etc/ceph").mkdir(exist_ok=True)  # the mount point
    return ("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            'mount --bind "$0" /etc/ceph && exec "$@"', str(etc_ceph))


class ReleaseCluster(CephCluster):
    """A sandbox cluster of ``release``: its daemons and reference tools are that release's."""

    def __init__(self, root: Path, release: Release = RELEASES_HOST) -> None:
        self.release = release
        super().__init__(root, wrap=chroot_prefix(release))
        version = self.ceph("version").stdout
        if self.release.version not in version:
            self.stop()
            raise AssertionError(f"the {release.name} cluster reports {version.strip()!r}")

    def daemon_wrap(self, etc_ceph: Path) -> tuple[str, ...]:
        """The prefix for a daemon of this release that reads its configs from ``etc_ceph`` as /etc/ceph
        (rbd-mirror looks for the remote site's conf there): nothing is written to the host's /etc/ceph."""
        return chroot_prefix(self.release, etc_ceph)

    @property
    def version(self) -> str:
        """The daemons' version, as the mon reports it."""
        return str(json.loads(self.ceph("version", "--format", "json").stdout)["version"])

    def __repr__(self) -> str:
        return f"ReleaseCluster({self.release.name}, {self.conf})"


def start_release_cluster(release: Release, attempts: int = 2) -> tuple[ReleaseCluster, Path]:
    """A fresh cluster of ``release``; a start that fails (a busy machine: "problem getting command descriptions
    from mon", a port race) is tried once more in a new directory."""
    for attempt in range(attempts):
        root = Path(tempfile.mkdtemp(prefix=f"journaltools-{release.name}-"))
        try:
            return ReleaseCluster(root / "cluster", release), root
        except (AssertionError, RuntimeError, OSError):
            shutil.rmtree(root, ignore_errors=True)
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
