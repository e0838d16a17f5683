"""``journal import`` and ``journal client list|disconnect``: the write side of one journal.

Import reads our JSON export or ``rbd journal export``'s file, validates every
record before the first write, appends through :class:`~journaltools.journal.writer.JournalWriter`
(libjournal's placement and set advance, via cls methods) and rolls every change
back if an append fails.  Client disconnect follows ``rbd journal client disconnect``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, Any

import click

from ..cli import AppContext, pass_app
from ..cls import journal as cls_journal
from ..errors import ConfirmationRequired, FormatError, JournalToolsError, NotFoundError, SpecError
from ..export import ImportRecord, check_import_record, read_json_export, read_rbd_export, tag_records
from ..format.cls_journal import CLIENT_STATE_DISCONNECTED
from ..format.journal_entry import OVERHEAD
from ..format.librbd_journal import make_tag_data
from ..journal import Journal
from ..journal.lifecycle import image_tag_class
from ..journal.writer import JournalWriter
from ..output import echo, format_options
from ..rbd_cli import rbd_mode
from ..write_guard import hold_image, hold_journal
from . import journal_read
from .journal_spec import journal_group, journal_spec_options, locate_journal, resolve_journal

CONFIRM_FLAG = "--yes-i-really-mean-it"


def force_option(func: Any) -> Any:
    return click.option("--force", is_flag=True, help="Change the image even if a client has it open (watcher or "
                        "exclusive lock holder).")(func)


def confirmation_option(func: Any) -> Any:
    return click.option("--yes-i-really-mean-it", "confirmed", is_flag=True,
                        help="Confirm a change that replaces or deletes existing data.")(func)


def _check_identity(head: dict[str, Any], fsid: str | None, pool: str, journal_id: str) -> list[str]:
    """Differences between where an export came from and where it is going."""
    source = head.get("journal", {})
    diffs = []
    if source.get("fsid") and fsid and source["fsid"] != fsid:
        diffs.append(f"cluster fsid {source['fsid']} != {fsid}")
    if source.get("pool") and source["pool"] != pool:
        diffs.append(f"pool {source['pool']} != {pool}")
    if source.get("journal_id") and source["journal_id"] != journal_id:
        diffs.append(f"journal id {source['journal_id']} != {journal_id}")
    return diffs


def _open_source(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise JournalToolsError(f"error opening {path}: {exc.strerror}", errno=exc.errno or 5) from exc


@journal_group.command("import")
@click.argument("source", metavar="<path-name>", required=False)
@journal_spec_options(dest=True)
@click.option("--path", "path_opt", metavar="PATH", help="Import file (or '-' for stdin).")
@click.option("--verbose", is_flag=True, help="Print every imported entry's event (as rbd journal import --verbose).")
@click.option("--no-error", is_flag=True, help="Skip entries that do not decode and go on (as rbd); the exit status is 1.")
@click.option("--format", "source_format", type=click.Choice(["auto", "json", "rbd"]), default="auto", show_default=True,
              help="Source format: our JSON export or rbd's export file (auto: by the first byte).")
@click.option("--dry-run", is_flag=True, help="Validate everything and say what would be written; write nothing.")
@click.option("--force", is_flag=True,
              help="Import even if the export's fsid/pool/journal id differ from the target, or the image is in use.")
@confirmation_option
@pass_app
def import_(app: AppContext, source: str | None, journal_spec: str | None, pool: str | None, namespace: str | None,
            image: str | None, journal_name: str | None, path_opt: str | None, verbose: bool, no_error: bool,
            source_format: str, dry_run: bool, force: bool, confirmed: bool) -> int:
    """Import image journal entries from an export (ours or rbd's) into a journal.

    rbd's spellings work: `journal import --dest IMAGE FILE`, `journal import FILE
    rbd/<journal-id>`, `--path FILE --dest-journal ID`. Every record is validated
    before the first write; entries are appended the way libjournal appends them
    (new entry tids per tag, splay placement, object sets); if an append fails,
    everything written so far is rolled back.  A rerun after an interrupted import
    skips the entries that run already appended.  --dry-run refuses exactly what the
    import would refuse.
    """
    if path_opt:  # rbd: with --path the positional is the destination journal spec
        if source and journal_spec:
            from ..rbd_cli import RbdUsageError

            raise RbdUsageError("too many arguments")
        journal_spec, source = journal_spec or source, path_opt
    if not source:
        raise SpecError("path was not specified")
    resolved = resolve_journal(app, journal_spec, pool, namespace, image, journal_name, what="destination journal")
    journal = resolved.journal
    hold_journal(journal, force)
    plan = plan_import(journal, source, source_format, force, confirmed, no_error)
    if verbose:
        _print_events(plan.records)
    processed = f"{len(plan.records) + plan.undecodable} entries processed, {plan.undecodable} errors"
    if not plan.records and rbd_mode():  # as rbd: an empty export imports nothing, successfully
        click.echo(processed)
        click.echo("Waiting for journal append to complete...")
        return 1 if plan.undecodable else 0
    if plan.skip == len(plan.records):
        click.echo(f"all {len(plan.records)} entries are already in journal {journal.journal_id} (imported before); "
                   f"nothing {'would be ' if dry_run else ''}written", err=True)
        click.echo(processed)
        return 1 if plan.undecodable else 0
    if dry_run:
        click.echo(f"{len(plan.records)} entries validated; would append {len(plan.records) - plan.skip} to journal "
                   f"{journal.journal_id} (tags {sorted({r.tag_tid for r in plan.records})})"
                   + (f", {plan.skip} already there from an interrupted import" if plan.skip else "")
                   + (f", creating tags {plan.new_tags}" if plan.new_tags else "") + "; nothing written")
        return 0
    writer = plan.writer
    try:
        for tid in plan.new_tags:
            if not writer.ensure_tag(tid, plan.tag_class, plan.tag_data.get(tid) or make_tag_data("")) \
                    and tid not in writer.tags:
                raise JournalToolsError(f"tag {tid} could not be created in journal {journal.journal_id} "
                                        f"(next tag tid is {writer.next_tag_tid})")
        for record in plan.records[plan.skip:]:
            writer.append(record.tag_tid, record.payload)
    except BaseException:
        writer.rollback()
        raise
    if plan.skip:
        click.echo(f"resumed: the first {plan.skip} entries were already in the journal (an interrupted import) "
                   f"and were not appended again", err=True)
    click.echo(processed)
    if rbd_mode():
        click.echo("Waiting for journal append to complete...")
    return 1 if plan.undecodable else 0

@dataclass
class ImportPlan:
    """What an import will do, decided before the first write (the dry run prints it)."""

    records: list[ImportRecord]
    writer: JournalWriter
    skip: int  # records already in the journal (an interrupted import's prefix)
    new_tags: list[int]
    tag_data: dict[int, bytes]
    tag_class: int
    undecodable: int = 0  # records --no-error skipped (rbd counts them as errors)


def plan_import(journal: Journal, source: str, source_format: str, force: bool, confirmed: bool,
                no_error: bool = False) -> ImportPlan:
    """Read and validate every record, and decide what to append; raises on anything the import refuses."""
    max_payload = journal.object_size - OVERHEAD
    with _open_source(source) as fh:
        first = fh.peek(1)[:1] if hasattr(fh, "peek") else b""
        kind = source_format if source_format != "auto" else ("json" if first == b"{" else "rbd")
        tag_data: dict[int, bytes] = {}
        if kind == "json":
            head, entries = read_json_export(fh, max_payload)
            tag_data = tag_records(head)
            records = list(entries)
            diffs = _check_identity(head, journal.header_pool.store.fsid, journal.header_pool.name, journal.journal_id)
            if diffs and not force:
                raise SpecError("export does not match the target journal (" + "; ".join(diffs) + "); use --force to import anyway")
        else:
            records = list(read_rbd_export(fh, max_payload))
    if not records and not rbd_mode():
        raise FormatError(f"import data holds no entries ({source}): nothing to import")
    skipped = _skip_undecodable(records) if no_error else 0
    for record in records:
        check_import_record(record, max_payload)
    known_tags = {t.tid for t in journal.header.tags}
    needed = sorted({r.tag_tid for r in records} - known_tags)
    next_tag = journal.header.next_tag_tid or 0
    # cls_journal creates only the next tag tid: the export's tag records from there up to the newest needed
    new_tags = [t for t in range(next_tag, needed[-1] + 1) if t not in known_tags] if needed else []
    for tid in new_tags:
        if tid < next_tag or (kind == "json" and tid not in tag_data) or (kind == "rbd" and tid not in needed) \
                or len(new_tags) > 4096:
            first_use = next((r for r in records if r.tag_tid >= tid and r.tag_tid in needed), records[0])
            why = ("the export has no tag record for it" if kind == "json"
                   else f"cls_journal creates only the next tag tid, {next_tag}, and rbd's format has no tag records")
            raise FormatError(f"entry {first_use.number}: field tag_tid: tag {first_use.tag_tid} has no tag record "
                              f"in journal {journal.journal_id} and cannot be created ({why})")
    counts: dict[int, int] = {}
    for record in records:
        counts[record.tag_tid] = counts.get(record.tag_tid, 0) + 1
    writer = JournalWriter(journal, keep_tail=counts)
    skip = writer.already_present([(r.tag_tid, r.payload) for r in records])
    others = writer.entries - skip
    if others and not (confirmed or rbd_mode()) and skip < len(records):  # rbd appends without asking
        raise ConfirmationRequired(f"journal {journal.journal_id} already holds {others} entries; importing adds "
                                   f"{len(records) - skip} more after them: rerun with {CONFIRM_FLAG}")
    return ImportPlan(records, writer, skip, new_tags, tag_data, image_tag_class(journal), skipped)


def _skip_undecodable(records: list[ImportRecord]) -> int:
    """Drop (in place) the records whose payload is no EventEntry, as rbd --no-error skips them; how many."""
    from ..format import lookup

    event = lookup("librbd::journal::EventEntry")
    kept = []
    for record in records:
        try:
            event.decode(record.payload)
        except FormatError:
            click.echo(f"corrupted entry {record.number}: tag_tid={record.tag_tid}, commit_tid={record.commit_tid}",
                       err=True)
            continue
        kept.append(record)
    skipped = len(records) - len(kept)
    records[:] = kept
    return skipped


def _print_events(records: list[ImportRecord]) -> None:
    from ..format.ceph_dump import event_dump
    from ..format.librbd_journal import decode_event
    from ..output import Pairs, pretty_block

    for record in records:
        echo(pretty_block(Pairs(event_dump(decode_event(record.payload)))) + "\n")


@journal_group.group("client")
def client_group() -> None:
    """List or disconnect registered journal clients."""


@client_group.command("list")
@journal_spec_options
@format_options
@pass_app
def client_list(app: AppContext, **options: Any) -> None:
    """List registered journal clients with their decoded data, commit position and lag."""
    journal_read.client_list(app, **options)


@client_group.command("disconnect")
@journal_spec_options
@click.option("--client-id", metavar="ID", help="Client ID (or leave unspecified to disconnect all).")
@force_option
@pass_app
def client_disconnect(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None,
                      image: str | None, journal_name: str | None, client_id: str | None, force: bool) -> None:
    """Flag image journal client as disconnected (as rbd journal client disconnect)."""
    header_pool, jid, _ = locate_journal(app, journal_spec, pool, namespace, image, journal_name)
    # not refused on an image in use, as rbd: the state change is one cls call (what librbd's Journaler makes too)
    # that a running client follows, and disconnecting a lagging peer of a live image is what the command is for
    hold_image(header_pool, jid, True, ignore_mirror_daemon=True)
    oid = cls_journal.header_oid(jid)
    try:
        clients = cls_journal.client_list(header_pool, oid)
    except NotFoundError:
        raise NotFoundError(f"journal {jid} does not exist in pool {header_pool.describe()}") from None
    done = 0
    for client in clients:
        if client.id == "" or (client_id is not None and client.id != client_id):
            continue
        cls_journal.client_update_state(header_pool, oid, client.id, CLIENT_STATE_DISCONNECTED)
        click.echo(f"client {client.id} disconnected")
        done += 1
    if not done:
        raise NotFoundError(f"client {client_id} is not registered" if client_id else "no registered clients to disconnect")
    header_pool.notify(oid)


def default_backup_dir(journal_id: str) -> str:
    import time

    return f"journaltools-backup-{journal_id}-{time.strftime('%Y%m%dT%H%M%S')}"


@journal_group.command("reset")
@journal_spec_options
@click.option("--keep-clients", is_flag=True, help="Register the other clients again (their data kept, nothing committed).")
@click.option("--backup", "backup_dir", metavar="DIR",
              help="Copy the journal here first (default: ./journaltools-backup-<id>-<time>).")
@click.option("--no-backup", is_flag=True, help="Do not write a backup first.")
@confirmation_option
@force_option
@pass_app
def reset(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
          journal_name: str | None, keep_clients: bool, backup_dir: str | None, no_backup: bool, confirmed: bool,
          force: bool) -> None:
    """Reset image journal: delete all entries, keep order, splay width and pool (as rbd journal reset).

    Like rbd it needs no confirmation, but first it writes a backup (unless
    --no-backup): a copy of the journal's objects (directory store layout, for
    --store) and its entries as rbd's export file, which `journal import` (ours or
    rbd's) puts back. Where it went and the command that restores it are printed
    on stderr. If the backup cannot be written, nothing is reset.
    """
    from ..journal.lifecycle import reset_journal

    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    hold_journal(journal, force)
    if backup_dir and no_backup:
        raise SpecError("--backup and --no-backup exclude each other")
    if not no_backup:
        _backup_before_reset(app, journal, backup_dir or default_backup_dir(journal.journal_id))
    fresh = reset_journal(journal, keep_clients=keep_clients)
    click.echo(f"journal {fresh.journal_id} reset (order {fresh.header.order}, splay width "
               f"{fresh.header.splay_width}, {len(fresh.header.clients)} clients)", err=True)


def _backup_before_reset(app: AppContext, journal: Any, target: str) -> None:
    """The journal's objects (``acquire``'s copy) and its entries as rbd's export file, in ``target``."""
    import os

    from ..acquire import copy_journal
    from ..export import EntryFilter, RbdExportWriter, open_output, walk_entries
    from ..journal import CorruptionPolicy
    from ..rbd_cli import program_name

    try:
        report = copy_journal(journal, target)
        export_path = os.path.join(target, f"journal-{journal.journal_id}.export")
        with open_output(export_path, force=True) as fh:  # atomic; a rerun (after a crash) writes it again
            writer = RbdExportWriter(fh, journal)
            result = walk_entries(journal.walk(all_entries=True), writer, EntryFilter.build((), None, None, (), None, None),
                                  CorruptionPolicy("skip"))
            writer.finish(result)
    except OSError as exc:
        raise JournalToolsError(f"cannot write the backup to {target} ({exc.strerror or exc}); nothing was reset: "
                                "give --backup DIR, or --no-backup", errno=exc.errno or 5) from exc
    import shlex

    pool = journal.header_pool
    spec = f"{pool.name}/{pool.namespace + '/' if pool.namespace else ''}{journal.journal_id}"
    where = [a for k, v in (("--store", app.store_dir), ("-c", app.conf), ("--cluster", app.cluster),
                            ("--id", app.client_id), ("-n", app.name), ("-m", app.mon_host), ("-k", app.keyring),
                            ("-K", app.keyfile)) if v for a in (k, v)]
    restore = shlex.join([program_name(), *where, "journal", "import", export_path, spec])
    click.echo(f"{program_name()}: journal reset: backup of journal {journal.journal_id} in {target} ({report.copied} "
               f"objects, {report.bytes} bytes; its {result.written} entries in {export_path}); to restore the "
               f"entries after the reset: {restore}", err=True)
