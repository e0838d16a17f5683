"""The write guard: what every command that changes a journal or image metadata holds while it runs.

1. A lock for the whole command, one per image/journal (or per pool for pool-wide
   mirroring and group metadata), so that two writers never interleave: offline the
   ``flock`` of a lock file of the directory store, live a RADOS advisory lock
   (``journaltools``, cls_lock, with a lease renewed while the command runs) on the image
   header ``rbd_header.<id>`` (or the journal header when there is no image).  A second
   writer is refused with one line naming the holder (command, pid, host).
2. Live: the image must not be in use: no watcher on its header and no holder of its
   exclusive lock (``rbd lock ls``), else the command refuses naming the clients, unless
   ``--force``.  Commands that rbd itself runs on images in use by the rbd-mirror daemon
   (mirroring changes) ignore the pool's rbd-mirror instances; journal client disconnect
   takes only the lock (rbd disconnects a peer of an image in use, a single cls call).
3. Offline: every file of the pools the command writes is a regular file (no FIFO,
   device, directory or symlink among the objects), checked before the first write.

A command takes the guard with one line (:func:`hold_journal`, :func:`hold_image`,
:func:`hold_pool`); it is released when the command ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import BusyError, JournalToolsError

if TYPE_CHECKING:
    from .journal import Journal
    from .store.base import Pool

IMAGE_HEADER_PREFIX = "rbd_header."
JOURNAL_HEADER_PREFIX = "journal."
MIRROR_LEADER_OID = "rbd_mirror_leader"  # omap keys instance_<global id> name the pool's rbd-mirror instances


def holder_text() -> str:
    """Who this process is, as a lock holder: the command line, pid, host and start time."""
    try:
        import click

        command = click.get_current_context().command_path
    except RuntimeError:
        command = "journaltools"
    return f"{command} (pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%dT%H:%M:%S%z')})"


def lock_oid(pool: Pool, image_or_journal_id: str) -> str:
    """The object whose lock stands for image/journal ``id``: its image header, else its journal header."""
    header = IMAGE_HEADER_PREFIX + image_or_journal_id
    return header if pool.exists(header) else JOURNAL_HEADER_PREFIX + image_or_journal_id


def mirror_daemon_clients(pool: Pool) -> set[str]:
    """``client.<id>`` of the rbd-mirror instances registered in the pool (empty when none or unknown)."""
    keys: list[str] = []
    for oid in (MIRROR_LEADER_OID, "rbd_mirroring"):  # rbd-mirror registers on rbd_mirror_leader (InstanceWatcher.cc)
        try:
            keys += [k for k, _ in pool.omap_items(oid, prefix="instance_")]
        except JournalToolsError:
            continue
    return {"client." + k.removeprefix("instance_") for k in keys}


def in_use_by(pool: Pool, image_id: str, ignore_mirror_daemon: bool = False) -> list[str]:
    """Descriptions of the clients using image ``image_id`` (empty offline or when nobody does)."""
    users = pool.image_users(image_id)
    if not users:
        return []
    ignored = mirror_daemon_clients(pool) if ignore_mirror_daemon else set()
    by_client: dict[str, dict[str, str]] = {}
    what: dict[str, list[str]] = {}
    for user in users:
        if user["client"] in ignored:
            continue
        by_client.setdefault(user["client"], user)
        what.setdefault(user["client"], [])
        if user["what"] not in what[user["client"]]:
            what[user["client"]].append(user["what"])
    return [f"{client} at {by_client[client]['address']} ({' and '.join(kinds)})" for client, kinds in what.items()]


def check_not_in_use(pool: Pool, image_id: str, force: bool, ignore_mirror_daemon: bool = False) -> None:
    users = in_use_by(pool, image_id, ignore_mirror_daemon)
    if users and not force:
        from .spec import image_name

        try:
            name = f"{image_name(pool, image_id)} ({image_id})"
        except JournalToolsError:
            name = image_id
        raise BusyError(f"image {name} in pool {pool.describe()} is in use by {', '.join(users)}: refusing to "
                        f"change it under a running client (stop it, or use --force)")


def _check_layout(*pools: Pool) -> None:
    for pool in pools:
        check = getattr(pool, "check_layout", None)
        if check is not None:
            check()


@contextlib.contextmanager
def guard_image(pool: Pool, image_id: str, *, force: bool = False, ignore_mirror_daemon: bool = False,
                more_pools: tuple[Pool, ...] = ()) -> Iterator[None]:
    """Hold the lock of image (or bare journal) ``image_id`` and check it is not in use."""
    with pool.command_lock(lock_oid(pool, image_id), holder_text()):
        if pool.exists(IMAGE_HEADER_PREFIX + image_id):
            check_not_in_use(pool, image_id, force, ignore_mirror_daemon)
        _check_layout(pool, *more_pools)
        yield


def guard_journal(journal: Journal, *, force: bool = False, ignore_mirror_daemon: bool = False) -> contextlib.AbstractContextManager[None]:
    """:func:`guard_image` for a journal's image (journal id = image id), its data pool checked too."""
    more = (journal.data_pool,) if journal.data_pool is not journal.header_pool else ()
    return guard_image(journal.header_pool, journal.journal_id, force=force,
                       ignore_mirror_daemon=ignore_mirror_daemon, more_pools=more)


@contextlib.contextmanager
def guard_pool(pool: Pool, oid: str) -> Iterator[None]:
    """Hold the lock of a pool-wide metadata object (``rbd_mirroring``, ``rbd_group_directory``)."""
    with pool.command_lock(oid, holder_text()):
        _check_layout(pool)
        yield


def _hold(guard: contextlib.AbstractContextManager[None]) -> None:
    import click

    try:
        ctx = click.get_current_context()
    except RuntimeError:  # called outside a command (library use): the caller holds nothing
        raise BusyError("the write guard is held for a command; use guard_image/guard_journal as a context manager") from None
    ctx.with_resource(guard)


def hold_journal(journal: Journal, force: bool = False, *, ignore_mirror_daemon: bool = False) -> None:
    """Hold :func:`guard_journal` until the running command ends (one line in a command)."""
    _hold(guard_journal(journal, force=force, ignore_mirror_daemon=ignore_mirror_daemon))


def hold_image(pool: Pool, image_id: str, force: bool = False, *, ignore_mirror_daemon: bool = False) -> None:
    """Hold :func:`guard_image` until the running command ends (one line in a command)."""
    _hold(guard_image(pool, image_id, force=force, ignore_mirror_daemon=ignore_mirror_daemon))


def hold_pool(pool: Pool, oid: str) -> None:
    """Hold :func:`guard_pool` until the running command ends (one line in a command)."""
    _hold(guard_pool(pool, oid))
