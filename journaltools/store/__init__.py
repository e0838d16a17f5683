"""Object store backends behind one protocol (see :mod:`.base`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from .base import OfflinePool, Pool, Store

if TYPE_CHECKING:
    from .directory import DirectoryStore
    from .memory import MemoryStore

__all__ = ["DirectoryStore", "MemoryStore", "OfflinePool", "Pool", "Store", "open_store"]


def __getattr__(name: str) -> Any:
    """The backends are imported on first use: a live command does not pay for the directory store."""
    if name == "DirectoryStore":
        from .directory import DirectoryStore

        return DirectoryStore
    if name == "MemoryStore":
        from .memory import MemoryStore

        return MemoryStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(
    store_dir: str | None = None,
    conf: str | None = None,
    client_id: str | None = None,
    cluster: str | None = None,
    **options: str,
) -> Store:
    """Open the store the global CLI options select.

    ``--store DIR`` (or ``$JOURNALTOOLS_STORE``) selects a directory; ``-c/--conf``,
    ``--id``, ``--cluster`` and the other cluster ``options`` (``name``, ``mon_host``,
    ``keyring``, ``keyfile``) a live cluster.  Naming both is an error.  With neither,
    the cluster whose ceph.conf librados finds (as rbd: ``$CEPH_CONF``,
    ``/etc/ceph/$cluster.conf``, ``~/.ceph/$cluster.conf``, ``./$cluster.conf``).
    """
    store_dir = store_dir or None
    live = bool(conf or client_id or cluster or options)
    if store_dir and live:
        raise SpecError("use either --store (a directory) or -c/--conf/--id/--cluster (a live cluster), not both")
    env_store = os.environ.get("JOURNALTOOLS_STORE")
    if store_dir or (not live and env_store):
        from .directory import DirectoryStore

        return DirectoryStore(store_dir or env_store or "")
    if conf or options.get("mon_host") or default_conf(cluster):
        from .rados import RadosStore

        return RadosStore(conf=conf, client_id=client_id, cluster=cluster, options=options)
    raise SpecError("no store selected: pass --store DIR (or set JOURNALTOOLS_STORE), or -c CEPH_CONF for a live "
                    "cluster (no ceph.conf in " + ", ".join(default_conf_paths(cluster)) + ")")


def default_conf_paths(cluster: str | None = None) -> list[str]:
    """Where librados looks for a ceph.conf without ``-c`` (src/common/config.cc ``get_conf_paths``)."""
    name = cluster or "ceph"
    paths = [p for p in os.environ.get("CEPH_CONF", "").replace(";", ",").split(",") if p.strip()]
    return paths + [f"/etc/ceph/{name}.conf", os.path.expanduser(f"~/.config/ceph/{name}.conf"),
                    os.path.expanduser(f"~/.ceph/{name}.conf"), f"{name}.conf"]


def default_conf(cluster: str | None = None) -> str | None:
    """The ceph.conf librados would read without ``-c`` (None: there is none)."""
    return next((p for p in default_conf_paths(cluster) if os.path.isfile(p.strip())), None)
