"""Snapshot-based mirroring (rbd's other mode since Octopus): enable, mirror snapshots, promote, demote.

A snapshot-mode image is mirrored by snapshots of its data: ``.mirror.primary.<global id>.<uuid>``
snapshots in the mirror snapshot namespace that rbd-mirror copies to the peer.  Creating one is a
real image snapshot (a self-managed snapshot of the data pool, the object map copied, the image's
watchers notified), so these changes go through librbd on the live cluster (python3-rbd), exactly as
``rbd`` makes them; a directory store holds no image data to snapshot, so they need a live cluster.
Reading the mirror snapshots needs no librbd: :func:`journaltools.mirroring.mirror_snapshots`.
"""

from __future__ import annotations

import errno as E
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import JournalToolsError, SpecError
from .store.base import Pool

T = TypeVar("T")


def _open_image(pool: Pool, image_id: str) -> Any:
    ioctx = getattr(pool, "ioctx", None)
    if ioctx is None:
        raise SpecError("snapshot-based mirroring needs a live cluster (-c CEPH_CONF): it snapshots the image data")
    try:
        import rbd
    except ImportError as exc:
        raise SpecError("snapshot-based mirroring needs python3-rbd (librbd makes the image snapshots)") from exc
    try:
        return rbd.Image(ioctx, image_id=image_id)
    except rbd.Error as exc:
        raise JournalToolsError(f"cannot open image {image_id} in pool {pool.describe()}: {exc}",
                                errno=getattr(exc, "errno", None) or E.EIO) from exc


def _with_image(pool: Pool, image_id: str, what: str, action: Callable[[Any], T]) -> T:
    """Run ``action(image)``; a librbd failure becomes rbd's ``error <what>`` message with librbd's errno."""
    import rbd

    image = _open_image(pool, image_id)
    try:
        return action(image)
    except rbd.Error as exc:
        raise JournalToolsError(f"error {what}", errno=getattr(exc, "errno", None) or E.EIO) from exc
    finally:
        image.close()


def enable(pool: Pool, image_id: str) -> None:
    """``mirror image enable IMAGE snapshot``: the mirror record in snapshot mode and a first primary snapshot."""
    import rbd

    _with_image(pool, image_id, "enabling mirroring",
                lambda image: image.mirror_image_enable(rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT))


def create_snapshot(pool: Pool, image_id: str, flags: int = 0) -> int:
    """``mirror image snapshot IMAGE``: a new primary mirror snapshot (``flags``: rbd's quiesce flags); its id."""
    import os

    import rbd

    image = _open_image(pool, image_id)
    try:
        return int(image.mirror_image_create_snapshot(flags))
    except rbd.Error as exc:
        code = getattr(exc, "errno", None) or E.EIO
        raise JournalToolsError(f"error creating snapshot: ({code}) {os.strerror(code)}", errno=code) from exc
    finally:
        image.close()


def demote(pool: Pool, image_id: str) -> None:
    """A demoted primary snapshot (``(demoted peer_uuids:[...])``): the peer may promote after copying it."""
    _with_image(pool, image_id, "demoting image to non-primary", lambda image: image.mirror_image_demote())


def promote(pool: Pool, image_id: str, force: bool = False) -> None:
    """A new primary snapshot after the peer's demotion (``--force``: without it)."""
    _with_image(pool, image_id, "promoting image to primary", lambda image: image.mirror_image_promote(force))


def disable(pool: Pool, image_id: str, force: bool = False) -> None:
    _with_image(pool, image_id, "disabling mirroring", lambda image: image.mirror_image_disable(force))


def resync(pool: Pool, image_id: str) -> None:
    _with_image(pool, image_id, "flagging image resync", lambda image: image.mirror_image_resync())
