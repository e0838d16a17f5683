"""What the global options selected (:class:`AppContext`): the store, opened on first use.

Shared by the click commands (:mod:`journaltools.cli`) and the click-free fast path
(:mod:`journaltools.fastpath`); it imports nothing heavy, a live store's librados only
when the store is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store


class AppContext:
    """What the global options selected; the store is opened on first use."""

    __slots__ = ("_store", "client_id", "cluster", "conf", "debug", "keyfile", "keyring", "mon_host", "name",
                 "release_name", "store_dir")

    def __init__(self, store_dir: str | None = None, conf: str | None = None, client_id: str | None = None,
                 cluster: str | None = None, debug: bool = False, release_name: str | None = None,
                 name: str | None = None, mon_host: str | None = None, keyring: str | None = None,
                 keyfile: str | None = None) -> None:
        self.store_dir = store_dir
        self.conf = conf
        self.client_id = client_id
        self.cluster = cluster
        self.debug = debug
        self.release_name = release_name
        self.name = name
        self.mon_host = mon_host
        self.keyring = keyring
        self.keyfile = keyfile
        self._store: Store | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("store_dir", "conf", "client_id", "cluster", "debug",
                                                                  "release_name", "name", "mon_host", "keyring",
                                                                  "keyfile"))
        return f"AppContext({fields})"

    def store(self) -> Store:
        if self._store is None:
            from .store import open_store

            extra = {k: v for k, v in (("name", self.name), ("mon_host", self.mon_host), ("keyring", self.keyring),
                                       ("keyfile", self.keyfile)) if v}
            self._store = open_store(self.store_dir, self.conf, self.client_id, self.cluster, **extra)
        return self._store

    def release(self) -> Any:
        """The Ceph release whose output to give (journaltools.release.store_release)."""
        from .release import store_release

        return store_release(self.store(), self.release_name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
