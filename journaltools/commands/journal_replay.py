"""``journal replay``: rebuild an image as it was at a moment the journal covers (journaltools/journal/replay.py)."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

import click

from ..cli import AppContext, pass_app
from ..errors import JournalToolsError, NotFoundError, SpecError
from ..format.primitives import decode, u8, u64
from ..journal import CorruptionPolicy
from ..journal.replay import (
    DEFAULT_OBJECT_SIZE,
    FileTarget,
    NullTarget,
    RbdImageTarget,
    ReplayError,
    ReplayOptions,
    ReplayResult,
    ReplayTarget,
    format_time_ns,
    parse_position,
    parse_time_ns,
    replay,
    snapshot_create_ordinal,
)
from ..output import ceph_json, echo, format_options, progress
from ..spec import combine_spec, image_id
from ..store.base import Pool
from .journal import on_error_options
from .journal_spec import journal_group, journal_spec_options, resolve_journal


def image_geometry(pool: Pool, jid: str) -> tuple[int | None, int | None, int]:
    """(object size, current size, stripe count) of the image whose id is ``jid``, from its header (None: unknown)."""
    try:
        values = pool.omap_get(f"rbd_header.{jid}", ["order", "size", "stripe_count"])
    except (NotFoundError, JournalToolsError):
        return None, None, 1
    try:
        order = int(decode(u8, values["order"], type_name="order")) if "order" in values else None
        size = int(decode(u64, values["size"], type_name="size")) if "size" in values else None
        stripes = int(decode(u64, values["stripe_count"], type_name="stripe_count")) if "stripe_count" in values else 1
    except JournalToolsError:
        return None, None, 1
    return (1 << order if order is not None else None), size, stripes


@journal_group.command("replay")
@journal_spec_options
@click.argument("target", metavar="<target-file>", required=False)
@click.option("--until", "until", metavar="TIME",
              help="Stop before the first event at or after TIME (ISO 8601 as inspect --verbose prints it, or epoch seconds).")
@click.option("--to", "to_position", metavar="TAG:TID", help="Stop after applying this entry (tag tid:entry tid).")
@click.option("--from-snapshot", metavar="SNAP", help="Start right after this snapshot's SnapCreate (target: an export of IMAGE@SNAP).")
@click.option("--from", "from_position", metavar="TAG:TID", help="Start at this entry (applied).")
@click.option("--snapshots-dir", metavar="DIR",
              help="Keep a copy (reflink where possible) of the target at each SnapCreate, so SnapRollback can be applied.")
@click.option("--to-image", metavar="[POOL/]IMAGE", help="Write to this live RBD image through librbd instead of a file.")
@click.option("--force", is_flag=True, help="Write to --to-image even if it is the journal's own image or in use.")
@click.option("--dry-run", is_flag=True, help="Walk and report what would be applied; write nothing.")
@click.option("--strict", is_flag=True, help="Stop with an error at the first event that changes data and cannot be applied.")
@click.option("--all", "all_entries", is_flag=True, help="Replay every entry physically present, committed or not.")
@click.option("--size", "initial_size", type=int, metavar="BYTES",
              help="Image size at the start, for a new or empty target file (default: from the first Resize, "
                   "else the image's size at the end).")
@click.option("--object-size", type=int, metavar="BYTES",
              help="Object size for discard granularity (default: from the image header, else 4 MiB).")
@on_error_options("stop")
@format_options
@pass_app
def replay_command(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None,
                   image: str | None, journal_name: str | None, target: str | None, until: str | None,
                   to_position: str | None, from_snapshot: str | None, from_position: str | None,
                   snapshots_dir: str | None, to_image: str | None, force: bool, dry_run: bool, strict: bool,
                   all_entries: bool, initial_size: int | None, object_size: int | None, on_error: str,
                   no_error: bool, output_format: str, pretty_format: bool) -> int:
    """Replay image journal onto a raw image file or an RBD image (point-in-time recovery).

    Events are applied with librbd's replay semantics: writes, discards (with
    the recorded discard granularity), write-same, compare-and-write, flushes
    (fsync) and, once their OpFinish says they succeeded, resizes and
    snapshot operations.  `rbd export IMAGE@SNAP base.raw` then
    `journal replay --from-snapshot SNAP IMAGE-SPEC base.raw --until TIME`
    gives the image as it was at TIME.  The target file is changed in place.
    Exit status 0 when everything up to the stop point was applied, 1 when a
    damaged entry stopped (or was skipped by) the replay, --to was not found or
    --strict stopped it.
    """
    if journal_spec and not target and (journal_name or image):
        journal_spec, target = None, journal_spec  # with --image/--journal the positional is the target
    if to_image and target:
        raise SpecError("give one target: a file or --to-image")
    if not to_image and not target and not dry_run:
        raise SpecError("target was not specified (a raw image file, or --to-image [POOL/]IMAGE)")
    if to_image and snapshots_dir:
        raise SpecError("--snapshots-dir is for file targets (an image target keeps real snapshots)")
    options = ReplayOptions(
        from_snapshot=from_snapshot,
        from_position=parse_position(from_position) if from_position else None,
        until_ns=parse_time_ns(until) if until else None,
        to_position=parse_position(to_position) if to_position else None,
        strict=strict,
        policy=CorruptionPolicy("skip" if no_error else on_error),
    )
    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    header_pool, jid = journal.header_pool, journal.journal_id
    header_object_size, image_size, stripe_count = image_geometry(header_pool, jid)
    notes: list[str] = []
    if object_size is not None:
        options.object_size = object_size
    elif header_object_size is not None:
        options.object_size = header_object_size
    else:
        options.object_size = DEFAULT_OBJECT_SIZE
        notes.append(f"no image header for {jid}: discards are aligned to a {DEFAULT_OBJECT_SIZE}-byte object size "
                     "(give --object-size)")
    if stripe_count > 1:
        notes.append(f"the image has fancy striping (stripe count {stripe_count}): discard granularity is applied "
                     "as if objects were laid out linearly")
    if from_snapshot is not None:
        # the snapshot as it exists now: its name may have been removed and created again, or come from a rename
        finder = journal.walk(all_entries=all_entries, check_events=False)
        with progress(finder.total_bytes() if sys.stderr.isatty() else None, f"finding {from_snapshot}") as advance:
            finder.progress = advance
            options.from_snapshot_ordinal = snapshot_create_ordinal(finder, from_snapshot)
        if options.from_snapshot_ordinal is None:
            raise ReplayError(f"snapshot {from_snapshot!r} is not created by the journal's replayable entries (taken "
                              "before the first one, or removed since): replay cannot start after it",
                              errno=errno.ENOENT)
    walk = journal.walk(all_entries=all_entries)
    replay_target: ReplayTarget
    closer: Any = None
    if dry_run:
        replay_target = NullTarget(_existing_size(target) if target else initial_size)
    elif to_image:
        replay_target, closer = _open_image_target(app, to_image, header_pool, jid, force)
    else:
        assert target is not None
        existing = _existing_size(target)
        if initial_size is not None and existing:
            raise SpecError(f"target {target} already has {existing} bytes: --size is for a new or empty file")
        replay_target = FileTarget(target, initial_size=initial_size, snapshots_dir=snapshots_dir)

    def on_start() -> None:
        if isinstance(replay_target, FileTarget) and from_snapshot and snapshots_dir:
            replay_target.save_snapshot(from_snapshot)  # the base is that snapshot: a later rollback to it works

    try:
        with progress(walk.total_bytes() if sys.stderr.isatty() else None, "replay") as advance:
            walk.progress = advance
            try:
                result = replay(walk, replay_target, options, on_start)
            except ReplayError:
                if isinstance(replay_target, FileTarget) and replay_target.created and not replay_target.size:
                    replay_target.close()
                    Path(replay_target.path).unlink(missing_ok=True)  # nothing was applied to the new file
                raise
        if isinstance(replay_target, FileTarget) and replay_target.size is None:
            final, why = _size_at_stop(result, header_pool, jid, image_size)
            if final is not None:
                replay_target.finish_size(final)
                result.size = final
                notes.append(f"no Resize before the stop point: the file was given {why}, {final} bytes")
            else:
                notes.append(f"the image size at the stop point is not known ({why}): the file ends at the last "
                             "byte written; give --size")
    finally:
        replay_target.close()
        if closer is not None:
            closer()
    if isinstance(replay_target, FileTarget) and (replay_target.reflinks or replay_target.copies):
        notes.append(f"snapshot copies in {snapshots_dir}: {replay_target.reflinks} reflinked, "
                     f"{replay_target.copies} copied (the file system cannot reflink)")
    result.notes[:0] = notes
    _print(result, journal.journal_id, output_format, pretty_format, dry_run)
    return 0 if result.complete and not result.problems else 1


def _size_at_stop(result: ReplayResult, pool: Pool, jid: str, image_size: int | None) -> tuple[int | None, str]:
    """The image size at the stop point of a replay that met no Resize, and where it comes from."""
    if not result.resize_after_stop:
        if image_size is not None:
            return image_size, "the image's current size (no Resize follows in the journal either)"
        return None, "no image header"
    if result.size_snapshot is not None:
        size = snapshot_size(pool, jid, result.size_snapshot)
        if size is not None:
            return size, f"the size recorded with snapshot {result.size_snapshot!r} (taken since the last Resize)"
    return None, "a Resize follows the stop point and no snapshot records the size before it"


def snapshot_size(pool: Pool, jid: str, name: str) -> int | None:
    """The image size recorded with snapshot ``name`` in the image header (None: no such record)."""
    from ..format import lookup

    record = lookup("cls_rbd_snap")
    try:
        items = list(pool.omap_items(f"rbd_header.{jid}", prefix="snapshot_"))
    except JournalToolsError:
        return None
    for _key, raw in items:
        try:
            snap = record.decode(raw)
        except JournalToolsError:
            continue
        if snap.get("name") == name:
            return int(snap["image_size"])
    return None


def _existing_size(path: str) -> int | None:
    file = Path(path)
    return file.stat().st_size or None if file.exists() else None


def _open_image_target(app: AppContext, spec_text: str, journal_pool: Pool, jid: str,
                       force: bool) -> tuple[RbdImageTarget, Any]:
    """Open ``[POOL/]IMAGE`` on the live cluster; refuse the journal's own image or one in use unless ``force``."""
    store = app.store()
    cluster = getattr(store, "cluster", None)
    if cluster is None:
        raise SpecError("--to-image needs a live cluster (-c/--conf), not a directory store")
    spec = combine_spec(spec_text, pool=None, namespace=None, name=None, what="image")
    pool = store.pool(spec.pool, spec.namespace)
    target_id = image_id(pool, spec.name)
    own = target_id == jid and pool.pool_id == journal_pool.pool_id and pool.namespace == journal_pool.namespace
    if own and not force:
        raise JournalToolsError(f"image {spec_text} is the journal's own image: replaying onto it would "
                                "apply its events twice (use --force)", errno=errno.EBUSY)
    import rbd

    ioctx = cluster.open_ioctx(spec.pool)
    ioctx.set_namespace(spec.namespace)
    try:
        handle = rbd.Image(ioctx, spec.name)
    except rbd.Error as exc:
        ioctx.close()
        raise JournalToolsError(f"cannot open image {spec_text}: {exc}") from None
    if not force:
        others = len(list(handle.watchers_list())) - 1  # this open is one watcher of the header
        if others > 0:
            handle.close()
            ioctx.close()
            raise JournalToolsError(f"image {spec_text} is in use ({others} other watcher(s) on rbd_header.{target_id}); "
                                    "use --force", errno=errno.EBUSY)

    def close() -> None:
        handle.close()
        ioctx.close()

    return RbdImageTarget(handle, f"image {spec.pool}/{spec.namespace + '/' if spec.namespace else ''}{spec.name}"), close


def _print(result: ReplayResult, journal_id: str, output_format: str, pretty: bool, dry_run: bool) -> None:
    if output_format == "json":
        doc = {"journal_id": journal_id, "dry_run": dry_run, **result.to_json()}
        echo(ceph_json(doc, pretty) + ("" if pretty else "\n"))
        return
    verb = "would apply" if dry_run else "applied"
    lines = [f"Replay of journal {journal_id} onto {result.target}:",
             f"  {result.applied} events {verb}, {result.entries} entries read, {result.before_start} before the start"]
    for name, count in sorted(result.by_type.items()):
        extra = f", {count.bytes} bytes" if count.bytes else ""
        lines.append(f"  {name}: {count.events} events, {count.applied} {verb}{extra}")
    if result.clipped:
        lines.append(f"  {result.clipped} IO events clipped at the image size")
    if result.compare_mismatches:
        lines.append(f"  {result.compare_mismatches} compare-and-write events did not match (nothing written, as on the primary)")
    if result.failed_ops:
        lines.append(f"  {result.failed_ops} operations failed on the primary (not applied)")
    if result.first_replayed is not None:
        lines.append(f"  first replayed: {result.first_replayed}")
    if result.last_replayed is not None:
        lines.append(f"  last replayed: {result.last_replayed} (the target is the image right after it)")
    lines.append(f"  stopped: {result.stopped}")
    if result.stopped_at is not None:
        lines.append(f"  not applied from: {result.stopped_at}")
    if result.size is not None:
        lines.append(f"  image size: {result.size}")
    if result.not_applied:
        lines.append(f"Not applied ({len(result.not_applied)}):")
        lines.extend(f"  {s}" + ("" if s.data else " [metadata only]") for s in result.not_applied)
    for problem in result.problems:
        lines.append(f"  damaged: {problem}")
    for note in result.notes:
        lines.append(f"  note: {note}")
    echo("\n".join(lines) + "\n")


__all__ = ["format_time_ns", "image_geometry", "replay_command"]
