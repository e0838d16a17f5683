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
from .spec import RBD_DIRECTORY, RBD_HEADER_PREFIX, RBD_ID_PREFIX
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
        from .release import live_version

        # the source's release: offline commands on the copy give that release's output
        pool = dest.create_pool(source.name, source.pool_id, source.store.fsid, live_version(source.store))
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


def image_record_objects(pool: Pool, journal_id: str) -> tuple[str | None, list[str]]:
    """(image name, its records besides rbd_directory) for the image whose id is ``journal_id``.

    The records that make ``--image NAME`` resolve offline: ``rbd_id.<name>`` and the
    ``rbd_header.<id>`` omap (features), plus two ``rbd_directory`` keys (see :func:`copy_image_records`).
    """
    from .spec import image_name

    try:
        name = image_name(pool, journal_id)
    except NotFoundError:
        name = None
    oids = [RBD_HEADER_PREFIX + journal_id] + ([RBD_ID_PREFIX + name] if name is not None else [])
    return name, [oid for oid in oids if pool.exists(oid)]


def copy_image_records(pool: Pool, journal_id: str, dest: DirectoryStore) -> str | None:
    """Copy the image's name records (its ``rbd_directory`` keys, ``rbd_id.<name>``, ``rbd_header.<id>``).

    Only this image's two directory keys (``name_<name>``, ``id_<id>``) are merged into the copy's
    ``rbd_directory``: the copy names the image without taking the pool's whole directory.
    Returns the image name (None when the directory does not name one).
    """
    name, oids = image_record_objects(pool, journal_id)
    copy_objects(pool, oids, dest)
    if name is not None:
        keys = [f"name_{name}", f"id_{journal_id}"]
        try:
            values = pool.omap_get(RBD_DIRECTORY, keys)
        except NotFoundError:
            values = {}
        if values:
            _target_pool(dest, pool).omap_set(RBD_DIRECTORY, values)
    return name


def journal_bytes(journal: Journal) -> int:
    """Bytes of the header object and the data objects (the total of acquire's progress)."""
    _, data_oids = journal_objects(journal)
    sizes = journal.data_pool.stat_many(data_oids)
    return sum(size for size in sizes.values() if size is not None)


def copy_journal(journal: Journal, dest_dir: str | Path, progress: Callable[[int], None] | None = None) -> CopyReport:
    """Copy the header (with its omap), every data object of ``journal`` and its image's name records."""
    root = Path(dest_dir)
    root.mkdir(parents=True, exist_ok=True)
    dest = DirectoryStore(root)
    header_oids, data_oids = journal_objects(journal)
    report = copy_objects(journal.header_pool, header_oids, dest, progress)
    more = copy_objects(journal.data_pool, data_oids, dest, progress)
    copy_image_records(journal.header_pool, journal.journal_id, dest)
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
