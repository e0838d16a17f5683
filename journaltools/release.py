"""Which Ceph release journaltools speaks for: rbd's output changed between releases.

A live cluster's release is the one its monitors report (mon command ``version``:
``ceph version 18.2.7 (...) reef (stable)``); a directory store's is the version
``acquire`` recorded in its ``meta.json`` (``ceph_version``); the global option
``--release`` (or ``$JOURNALTOOLS_RELEASE``) overrides both.  Without any of them
the output is Pacific's (16.2), the oldest release journaltools follows.

Differences handled (rbd of each release measured on a sandbox cluster of it):
``mirror pool info`` prints ``Mirror UUID`` and ``Remote Namespace`` from Tentacle
on; ``group snap list`` prints an ``ID NAME STATE`` table and ``group info``
exists from Tentacle on.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from .errors import SpecError


@dataclass(frozen=True, order=True)
class Release:
    """One Ceph release, ordered by its major version (16 Pacific ... 20 Tentacle)."""

    major: int
    name: str

    def __str__(self) -> str:
        return self.name


PACIFIC = Release(16, "pacific")
QUINCY = Release(17, "quincy")
REEF = Release(18, "reef")
SQUID = Release(19, "squid")
TENTACLE = Release(20, "tentacle")
KNOWN = (PACIFIC, QUINCY, REEF, SQUID, TENTACLE)
DEFAULT = PACIFIC

_BY_NAME = {r.name: r for r in KNOWN}
_BY_MAJOR = {r.major: r for r in KNOWN}
_VERSION = re.compile(r"(?:ceph version\s+)?v?(\d+)(?:\.\d+)*(?:-\S*)?\b")


def parse_release(text: str) -> Release:
    """A release from a name (``reef``), a version (``18``, ``18.2.7``) or ``ceph --version``'s line."""
    value = text.strip().lower()
    if value in _BY_NAME:
        return _BY_NAME[value]
    match = _VERSION.match(value)
    if match is None:
        names = ", ".join(r.name for r in KNOWN)
        raise SpecError(f"unknown Ceph release {text!r} (a name: {names}; or a version such as 18.2.7)")
    major = int(match.group(1))
    if major in _BY_MAJOR:
        return _BY_MAJOR[major]
    # older than Pacific: Pacific's output; newer than Tentacle: the newest known output (comparisons by major)
    return Release(major, f"v{major}")


def live_version(store: Any) -> str | None:
    """``ceph version ...`` of a live store's monitors (None offline or when the mon does not answer)."""
    cluster = getattr(store, "cluster", None)
    if cluster is None or not hasattr(cluster, "mon_command"):
        return None
    import json

    try:
        code, out, _ = cluster.mon_command(json.dumps({"prefix": "version", "format": "json"}), b"", timeout=15)
    except Exception:  # noqa: BLE001 - an old or unreachable mon: no version
        return None
    if code != 0:
        return None
    try:
        version = json.loads(out).get("version")
    except (ValueError, AttributeError):
        return None
    return str(version) if version else None


def recorded_version(store: Any) -> str | None:
    """The version ``acquire`` recorded in a directory store (None when it recorded none)."""
    recorded = getattr(store, "ceph_version", None)
    return recorded if isinstance(recorded, str) and recorded else None


def store_release(store: Any, override: str | None = None) -> Release:
    """The release whose output to give for ``store`` (see the module docstring); cached on the store."""
    import os

    choice = override or os.environ.get("JOURNALTOOLS_RELEASE")
    if choice:
        return parse_release(choice)
    cached = getattr(store, "_journaltools_release", None)
    if isinstance(cached, Release):
        return cached
    version = live_version(store) or recorded_version(store)
    release = DEFAULT
    if version:
        try:
            release = parse_release(version)
        except SpecError:
            release = DEFAULT
    with contextlib.suppress(AttributeError):
        store._journaltools_release = release
    return release
