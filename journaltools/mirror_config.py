"""Mirroring settings that live in the monitors' config-key store, not in the pool: the site name and
the peers' mon host and key.

librbd keeps them there (measured with rbd 16.2.15: ``ceph config-key dump`` after
``rbd mirror pool enable --site-name`` and ``rbd mirror pool peer add --remote-mon-host
--remote-key-file``):

* ``rbd/mirror/site_name``: the local site name, for the whole cluster; without it the site name
  is the cluster's fsid; setting an empty name removes the key;
* ``rbd/mirror/peer/<pool id>/<peer uuid>``: a peer's attributes as JSON with the keys sorted,
  ``{"key": "<key>", "mon_host": "<hosts>"}``, each only when given (none: no entry); removing the
  peer removes its entry.  The key is the key file's content without surrounding white space.

Offline (a directory store) there is no config-key store: the site name is the fsid and peers have
no attributes.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import JournalToolsError, StoreError
from .store.base import Pool

SITE_NAME_KEY = "rbd/mirror/site_name"
PEER_KEY_PREFIX = "rbd/mirror/peer/"
#: the attribute names, in the order rbd prints them in JSON (and stores them)
PEER_ATTRIBUTES = ("key", "mon_host")


def _cluster(store: Any) -> Any:
    return getattr(store, "cluster", None)


def _mon_command(store: Any, command: dict[str, Any], data: bytes = b"") -> tuple[int, bytes]:
    cluster = _cluster(store)
    if cluster is None:
        raise StoreError("the mirroring site name and peer attributes live in the monitors' config-key store: "
                         "a live cluster is needed")
    code, out, err = cluster.mon_command(json.dumps(command), data, timeout=30)
    return code, out if isinstance(out, bytes) else str(out).encode()


def get_key(store: Any, key: str) -> str | None:
    """The config-key ``key`` (None when it is not set, or offline)."""
    if _cluster(store) is None:
        return None
    code, out = _mon_command(store, {"prefix": "config-key get", "key": key})
    if code == -2:
        return None
    if code != 0:
        raise JournalToolsError(f"config-key get {key} failed ({code})", errno=-code if code < 0 else 5)
    return out.decode("utf-8", "replace")


def set_key(store: Any, key: str, value: str) -> None:
    code, _ = _mon_command(store, {"prefix": "config-key set", "key": key, "val": value})
    if code != 0:
        raise JournalToolsError(f"config-key set {key} failed ({code})", errno=-code if code < 0 else 5)


def remove_key(store: Any, key: str) -> None:
    code, _ = _mon_command(store, {"prefix": "config-key rm", "key": key})
    if code not in (0, -2):
        raise JournalToolsError(f"config-key rm {key} failed ({code})", errno=-code if code < 0 else 5)


def site_name(store: Any) -> str:
    """The local site name: the config-key, else the cluster's fsid (as librbd's site_name_get)."""
    return get_key(store, SITE_NAME_KEY) or getattr(store, "fsid", None) or ""


def set_site_name(store: Any, name: str) -> None:
    """Set the local site name (an empty one removes it: the fsid again)."""
    if name:
        set_key(store, SITE_NAME_KEY, name)
    else:
        remove_key(store, SITE_NAME_KEY)


def _peer_key(pool: Pool, peer_uuid: str) -> str:
    return f"{PEER_KEY_PREFIX}{pool.pool_id}/{peer_uuid}"


def peer_attributes(pool: Pool, peer_uuid: str) -> dict[str, str]:
    """A peer's ``key`` and ``mon_host`` (those that are set)."""
    raw = get_key(pool.store, _peer_key(pool, peer_uuid))
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return {name: str(doc[name]) for name in PEER_ATTRIBUTES if isinstance(doc, dict) and name in doc}


def set_peer_attributes(pool: Pool, peer_uuid: str, attributes: dict[str, str]) -> None:
    """Store a peer's attributes as librbd does (nothing when there are none)."""
    given = {name: attributes[name] for name in PEER_ATTRIBUTES if attributes.get(name)}
    if given:
        set_key(pool.store, _peer_key(pool, peer_uuid), json.dumps(given, sort_keys=True))


def remove_peer_attributes(pool: Pool, peer_uuid: str) -> None:
    if _cluster(pool.store) is not None:
        remove_key(pool.store, _peer_key(pool, peer_uuid))


def read_key_file(path: str) -> str:
    """The key in ``path`` (rbd's --remote-key-file), without surrounding white space; an unreadable file
    fails as rbd's does (``failed to open PATH``, EINVAL, before anything is opened)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        raise JournalToolsError(f"failed to open {path}", errno=22) from None
