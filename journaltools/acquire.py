"""Copying a journal, or a pool's metadata objects, into a directory store.

Used by ``acquire`` (live journal -> directory, for offline forensics) and for
the backups destructive commands write first.  The copy is resumable: an object
already present with the same bytes, omap and xattrs is skipped; every write is atomic.
Into a directory that already holds an earlier copy, the result equals a fresh copy:
objects are replaced whole (stale omap keys and xattrs go), and objects of the same
journal (or, for a pool copy, of the same pool) that the source no longer has are
removed.  A directory holding a pool of the same name but another pool id or cluster
is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import ExistsError, NotFoundError
from .journal import Journal
from .store.base import Pool
from .store.directory import DirectoryPool, DirectoryStore


@dataclass
class CopyReport:
    copied: int = 0
    skipped: int = 0
    bytes: int = 0


def _target_pool(dest: DirectoryStore, source: Pool) -> DirectoryPool:
    try:
        pool = dest.pool(source.name)
    except NotFoundError:
        pool = dest.create_pool(source.name, source.pool_id, source.store.fsid)
    else:
        theirs = dest.fsid
        if pool.pool_id != source.pool_id or (theirs and source.store.fsid and theirs != source.store.fsid):
            raise ExistsError(f"{dest.root} already holds pool {source.name} of another cluster or pool id "
                              f"(pool id {pool.pool_id}, fsid {theirs}; the source has {source.pool_id}, "
                              f"{source.store.fsid}): copy into an empty directory")
    return pool.with_namespace(source.namespace) if source.namespace else pool  # type: ignore[return-value]


def copy_objects(source: Pool, oids: Iterable[str], dest: DirectoryStore,
                 progress: Callable[[int], None] | None = None) -> CopyReport:
    """Copy objects (bytes, omap, xattrs) from ``source`` into ``dest``, skipping identical ones."""
    target = _target_pool(dest, source)
    report = CopyReport()
    for oid in oids:
        try:
            data = source.read(oid)
            omap = source.omap(oid)
        except NotFoundError:
            continue
        xattrs = source.xattrs(oid) if hasattr(source, "xattrs") else {}
        same = (target.exists(oid) and target.stat(oid) == len(data)
                # bytes, not a crc32c: a journal entry rewritten with its own valid crc32c leaves the
                # whole object's crc32c unchanged (CRC linearity), so a checksum would miss the change
                and target.read(oid) == data and target.omap(oid) == omap and target.xattrs(oid) == xattrs)
        if same:
            report.skipped += 1
        else:
            target.replace_object(oid, data, omap, xattrs)
            report.copied += 1
        report.bytes += len(data)
        if progress is not None:
            progress(len(data))
    return report


def journal_objects(journal: Journal) -> tuple[list[str], list[str]]:
    """(objects in the header pool, objects in the data pool) that make up ``journal``."""
    objects = journal.find_data_objects(exhaustive=True)
    data = [journal.object_name(n) for n in objects.numbers] + objects.strays
    return [journal.header_oid], data


def copy_journal(journal: Journal, dest_dir: str | Path, progress: Callable[[int], None] | None = None) -> CopyReport:
    """Copy the header (with its omap) and every data object of ``journal`` into ``dest_dir``."""
    root = Path(dest_dir)
    root.mkdir(parents=True, exist_ok=True)
    dest = DirectoryStore(root)
    header_oids, data_oids = journal_objects(journal)
    report = copy_objects(journal.header_pool, header_oids, dest, progress)
    more = copy_objects(journal.data_pool, data_oids, dest, progress)
    # what an earlier copy holds of this journal and the source no longer has
    _remove_stale(_target_pool(dest, journal.data_pool), journal.object_prefix, set(data_oids))
    return CopyReport(report.copied + more.copied, report.skipped + more.skipped, report.bytes + more.bytes)


def _remove_stale(target: DirectoryPool, prefix: str, keep: set[str], skip_prefix: str | None = None) -> None:
    for oid in list(target.list_objects(prefix)):
        if oid not in keep and not (skip_prefix and oid.startswith(skip_prefix)):
            target.remove(oid)


def copy_pool(pool: Pool, dest_dir: str | Path, progress: Callable[[int], None] | None = None) -> CopyReport:
    """Copy every object of ``pool`` except image data (``rbd_data.*``)."""
    root = Path(dest_dir)
    root.mkdir(parents=True, exist_ok=True)
    oids = [o for o in pool.list_objects() if not o.startswith("rbd_data.")]
    dest = DirectoryStore(root)
    report = copy_objects(pool, oids, dest, progress)
    _remove_stale(_target_pool(dest, pool), "", set(oids), skip_prefix="rbd_data.")
    return report
