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
) -> Store:
    """Open the store the global CLI options select.

    ``--store DIR`` (or ``$JOURNALTOOLS_STORE``) selects a directory; ``-c/--conf``,
    ``--id``, ``--cluster`` (or ``$CEPH_CONF``) a live cluster.  Naming both is an error.
    """
    store_dir = store_dir or None
    live = bool(conf or client_id or cluster)
    if store_dir and live:
        raise SpecError("use either --store (a directory) or -c/--conf/--id/--cluster (a live cluster), not both")
    env_store = os.environ.get("JOURNALTOOLS_STORE")
    if store_dir or (not live and env_store):
        from .directory import DirectoryStore

        return DirectoryStore(store_dir or env_store or "")
    if live or os.environ.get("CEPH_CONF"):
        from .rados import RadosStore

        return RadosStore(conf=conf, client_id=client_id, cluster=cluster)
    raise SpecError("no store selected: pass --store DIR (or set JOURNALTOOLS_STORE), or -c CEPH_CONF for a live cluster")
