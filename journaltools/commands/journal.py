"""``journal info|status|inspect|export``: the read side, output as ``rbd journal ...`` prints it.

Text and JSON follow src/tools/rbd/action/Journal.cc (see docs/journal.md); where
we add information (client lag, structural problems) it comes after rbd's own
output, so a clean journal prints exactly what rbd prints.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..cli import AppContext, pass_app
from ..errors import FormatError, NotFoundError, SpecError
from ..format.cls_journal import client_state_name
from ..journal import ERROR, CorruptionPolicy, Journal
from ..journal.lag import client_lag
from ..output import Pairs, ceph_json, echo, format_options, pretty_block, progress
from .journal_spec import (
    ResolvedJournal,
    journal_group,
    journal_spec_options,
    locate_journal,
    resolve_journal,
)

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]


def byte_units(value: int) -> str:
    """Ceph's ``byte_u_t`` printer (exact multiples print as integers)."""
    n, index = value, 0
    while n >= 1024 and index < len(_UNITS) - 1:
        n //= 1024
        index += 1
    if index == 0 or value % (1 << (10 * index)) == 0:
        return f"{n} {_UNITS[index]}"
    return f"{value / (1 << (10 * index)):.2f} {_UNITS[index]}"


def _position_text(p: Any) -> str:
    return f"[object_number={p.object_number}, tag_tid={p.tag_tid}, entry_tid={p.entry_tid}]"


# -- info ---------------------------------------------------------------------------
@journal_group.command("info")
@journal_spec_options
@format_options
@pass_app
def info(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
         journal_name: str | None, output_format: str, pretty_format: bool) -> int:
    """Show information about image journal (as rbd journal info).

    A malformed order, splay width or pool id prints as unknown; the header's
    malformations then go to stderr, one line each, and the exit status is 1.
    """
    resolved = resolve_journal(app, journal_spec, pool, namespace, image, journal_name)
    journal = resolved.journal
    header = journal.header
    object_pool = None
    if header.pool_id is not None and header.pool_id >= 0:
        try:
            object_pool = journal.header_pool.store.pool_name(header.pool_id)
        except NotFoundError:
            click.echo(f"error looking up pool name for pool_id={header.pool_id}: (2) No such file or directory", err=True)
    if output_format == "json":
        doc: dict[str, Any] = {
            "journal_id": journal.journal_id,
            "header_oid": journal.header_oid,
            "object_oid_prefix": journal.object_prefix,
            "order": header.order,
            "splay_width": header.splay_width,
        }
        if object_pool is not None:
            doc["object_pool"] = object_pool
        echo(ceph_json(doc, pretty_format))
        return _report_geometry_errors(journal)
    size = "unknown" if header.order is None else byte_units(journal.object_size)
    lines = [
        f"rbd journal '{journal.journal_id}':",
        f"\theader_oid: {journal.header_oid}",
        f"\tobject_oid_prefix: {journal.object_prefix}",
        f"\torder: {_or_unknown(header.order)} ({size} objects)",
        f"\tsplay_width: {_or_unknown(header.splay_width)}",
    ]
    if object_pool is not None:
        lines.append(f"\tobject_pool: {object_pool}")
    echo("\n".join(lines) + "\n")
    return _report_geometry_errors(journal)


def _report_geometry_errors(journal: Journal) -> int:
    header = journal.header
    if header.order is None or header.splay_width is None or header.pool_id is None:
        return _report_header_errors(journal)
    return 0


# -- status -------------------------------------------------------------------------
@journal_group.command("status")
@journal_spec_options
@format_options
@click.option("--no-lag", is_flag=True, help="Print only what rbd prints (skip reading the data objects for lag).")
@pass_app
def status(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
           journal_name: str | None, output_format: str, pretty_format: bool, no_lag: bool) -> int:
    """Show status of image journal (as rbd journal status), plus each client's lag.

    Malformed header values print as unknown, each malformation goes to stderr
    as one line, and the exit status is then 1.
    """
    from ..format.ceph_dump import hexdump

    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    header = journal.header
    lag = {} if no_lag else client_lag(journal)
    if output_format == "json":
        clients = []
        for c in header.clients:
            item: dict[str, Any] = {
                "id": c.id,
                "data": hexdump(c.data),
                "commit_position": {"object_positions": [p.to_json() for p in c.commit_position]},
                "state": client_state_name(c.state) if c.state is not None else "unknown (malformed)",
            }
            if c.id in lag:
                item["lag"] = {"entries": lag[c.id][0], "bytes": lag[c.id][1]}
            clients.append(item)
        doc = {"minimum_set": header.minimum_set, "active_set": header.active_set, "registered_clients": clients}
        echo(ceph_json(doc, pretty_format))
        return _report_header_errors(journal)
    lines = [f"minimum_set: {_or_unknown(header.minimum_set)}", f"active_set: {_or_unknown(header.active_set)}",
             "registered clients: "]
    for c in header.clients:
        positions = ", ".join(_position_text(p) for p in c.commit_position)
        state = client_state_name(c.state) if c.state is not None else "unknown (malformed)"
        lines.append(f"\t[id={c.id}, commit_position=[positions=[{positions}]], state={state}]")
    if lag:
        lines.append("client lag (behind the newest entry): ")
        for c in header.clients:
            entries, size = lag[c.id]
            lines.append(f"\t[id={c.id}, entries={entries}, bytes={size}]")
    echo("\n".join(lines) + "\n")
    return _report_header_errors(journal)


def _or_unknown(value: int | None) -> str:
    return "unknown (malformed)" if value is None else str(value)


def _report_header_errors(journal: Journal) -> int:
    """Header malformations (rbd would fail to read the metadata): one stderr line each, exit status 1."""
    errors = [p for p in journal.header.problems if p.severity == ERROR]
    for problem in errors:
        click.echo(f"journaltools: {problem}", err=True)
    return 1 if errors else 0


# -- inspect ------------------------------------------------------------------------
def on_error_options(default: str) -> Any:
    """``--on-error stop|skip`` and rbd's ``--no-error``: ONE corruption policy for inspect and export."""

    def decorate(func: Any) -> Any:
        func = click.option("--no-error", is_flag=True, help="Alias of --on-error skip (rbd's name).")(func)
        func = click.option(
            "--on-error", type=click.Choice(["stop", "skip"]), default=default, show_default=True,
            help="On a damaged entry: stop there, or skip it and go on. The exit status is 1 either way.")(func)
        return func

    return decorate


@journal_group.command("inspect")
@journal_spec_options
@click.option("--verbose", is_flag=True, help="Dump every entry's event (as rbd journal inspect --verbose).")
@click.option("--all", "all_entries", is_flag=True, help="Walk every entry physically present, committed or not.")
@on_error_options("skip")
@format_options
@pass_app
def inspect(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
            journal_name: str | None, verbose: bool, all_entries: bool, on_error: str, no_error: bool,
            output_format: str, pretty_format: bool) -> int:
    """Inspect image journal for structural errors.

    Prints what rbd journal inspect prints, then every structural problem found
    (kind, object, byte offset, tag and entry tid).  Exit status 0 when no error
    was found, 1 otherwise (warnings alone do not fail).  The corruption policy
    is export's: --on-error stop ends the walk at the first damaged entry (the
    default here is skip: report every problem, as rbd inspect goes on).
    """
    from ..format.ceph_dump import event_dump
    from ..format.librbd_journal import decode_event

    policy = CorruptionPolicy("skip" if no_error else on_error)
    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    walk = journal.walk(all_entries=all_entries)
    dumps: list[Any] = []
    stopped_at = None
    inspected = 0  # entries before the stop (the walk has read the one it stopped at)
    with progress(walk.total_bytes() if sys.stderr.isatty() else None, "inspect") as advance:
        walk.progress = advance
        seen = 0
        if policy.mode == "skip" and not verbose:  # nothing to do per entry: the walk alone checks
            inspected = walk.count()
        else:
            for entry in walk:
                if policy.mode == "stop":
                    damage = [p for p in walk.problems[seen:] if p.damages_data]
                    seen = len(walk.problems)
                    if damage:
                        stopped_at = damage[0]
                        break
                inspected += 1
                if not verbose:
                    continue
                try:
                    pairs = event_dump(decode_event(entry.payload))
                except FormatError:
                    continue  # reported by the walk as undecodable_event
                if output_format == "json":
                    dumps.append({"object": entry.object_name, "offset": entry.offset, "tag_tid": entry.tag_tid,
                                  "entry_tid": entry.entry_tid, "commit_tid": entry.commit_tid, "event": Pairs(pairs)})
                else:
                    echo(f"Entry: tag_id={entry.tag_tid}, commit_tid={entry.commit_tid}\n{pretty_block(Pairs(pairs))}\n")
    problems = list(walk.problems)
    errors = [p for p in problems if p.severity == ERROR]
    warnings = [p for p in problems if p.severity != ERROR]
    if output_format == "json":
        doc: dict[str, Any] = {
            "journal_id": journal.journal_id,
            "summary": {"entries": inspected, "errors": len(errors), "warnings": len(warnings),
                        "complete": stopped_at is None},
            "problems": [p.to_json() for p in problems],
        }
        if verbose:
            doc["entries"] = dumps
        echo(ceph_json(doc, pretty_format))
    else:
        lines = [f"Summary:\n  {inspected} entries inspected, {len(errors)} errors\n"]
        if problems:
            lines.append(f"Problems ({len(errors)} errors, {len(warnings)} warnings):\n")
            lines.extend(f"  {p}\n" for p in problems)
        if stopped_at is not None:
            lines.append(f"Stopped at the first damaged entry ({stopped_at.location()}); use --on-error skip to go on\n")
        echo("".join(lines))
    return 1 if errors else 0


# -- export -------------------------------------------------------------------------
@journal_group.command("export")
@journal_spec_options
@click.argument("path_arg", metavar="<path-name>", required=False)
@click.option("--path", "path_opt", metavar="PATH", help="Export file (or '-' for stdout).")
@click.option("--format", "export_format", type=click.Choice(["json", "rbd"]), default="json", show_default=True,
              help="json: our document (schemas/journal-export.schema.json); rbd: the file rbd journal export writes.")
@click.option("--all", "all_entries", is_flag=True, help="Export every entry physically present, committed or not.")
@on_error_options("stop")
@click.option("--tag", "tags", type=int, multiple=True, help="Only entries of this tag tid (repeatable).")
@click.option("--from-tid", type=int, help="Only entries with entry tid >= this.")
@click.option("--to-tid", type=int, help="Only entries with entry tid <= this.")
@click.option("--event-type", "event_types", multiple=True,
              help="Only events of this type, by name (AioWrite) or number (repeatable).")
@click.option("--since", metavar="TIME", help="Only events with a timestamp at or after TIME (ISO 8601 or epoch seconds).")
@click.option("--until", metavar="TIME", help="Only events with a timestamp before TIME (ISO 8601 or epoch seconds).")
@click.option("--force", is_flag=True, help="Overwrite an existing export file.")
@pass_app
def export(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
           journal_name: str | None, path_arg: str | None, path_opt: str | None, export_format: str,
           all_entries: bool, on_error: str, no_error: bool, tags: tuple[int, ...], from_tid: int | None,
           to_tid: int | None, event_types: tuple[str, ...], since: str | None, until: str | None, force: bool) -> int:
    """Export image journal, to our JSON document or rbd's export file format.

    The journal and the path combine as in rbd: `journal export rbd/<id> out.json`,
    `journal export --journal <id> out.json`, or with an image name
    `journal export --pool rbd --image vm1 --path out.json` (with --image the
    positional argument is still the journal spec).  `-` writes to stdout.
    """
    if path_opt and path_arg:
        raise SpecError("give the export path once (positional or --path)")
    if journal_spec and not path_arg and not path_opt and journal_name:
        # rbd: with --journal the first positional is the path; with --image it is still the journal spec
        path_arg, journal_spec = journal_spec, None
    # rbd's order of checks: the journal spec, then the path, then the journal itself
    hint = ("; with --image the positional argument is the journal spec (as in rbd), give the file with --path"
            if image and journal_spec and not path_arg and not path_opt else "")
    try:
        header_pool, journal_id, image_name = locate_journal(app, journal_spec, pool, namespace, image, journal_name)
    except SpecError as exc:
        raise SpecError(f"{exc}{hint}") from None
    path = path_opt or path_arg
    if not path:
        raise SpecError(f"path was not specified (use '-' for stdout){hint}")
    resolved = ResolvedJournal(Journal.open(header_pool, journal_id), image_name)
    from ..export import EntryFilter, JsonExportWriter, RbdExportWriter, open_output, walk_entries

    policy = CorruptionPolicy("skip" if no_error else on_error)
    entry_filter = EntryFilter.build(tags, from_tid, to_tid, event_types, since, until)
    journal = resolved.journal
    walk = journal.walk(all_entries=all_entries)
    with open_output(path, force=force) as fh:
        writer = (RbdExportWriter(fh, journal) if export_format == "rbd"
                  else JsonExportWriter(fh, journal, image_name=resolved.image, all_entries=all_entries,
                                        entry_filter=entry_filter, policy=policy))
        with progress(walk.total_bytes() if sys.stderr.isatty() else None, "export") as advance:
            walk.progress = advance
            result = walk_entries(walk, writer, entry_filter, policy)
        writer.finish(result)
    if path != "-":
        click.echo(f"{result.processed} entries processed, {result.errors} errors")
    for problem in result.problems:
        click.echo(f"journaltools: {problem}", err=True)
    for problem in result.notes:
        click.echo(f"journaltools: note: {problem} (entries exported anyway)", err=True)
    if result.stopped_at is not None:
        click.echo(f"journaltools: export stopped at the first error ({result.stopped_at}); "
                   "use --on-error skip to go on", err=True)
    return 1 if result.errors or result.notes else 0  # any error inspect reports fails the export too
