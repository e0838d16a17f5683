"""``journal info|status|inspect|export`` and ``journal client list`` as plain functions, without click.

The click commands of :mod:`.journal` and :mod:`.journal_write` are thin wrappers over these functions, and the
fast path of the read commands (:mod:`journaltools.fastpath`) calls them too: one
implementation, whichever way the command line was parsed.  Text and JSON follow
src/tools/rbd/action/Journal.cc (see docs/journal.md); where we add information (client
lag, structural problems) it comes after rbd's own output, so a clean journal prints
exactly what rbd prints.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..errors import FormatError, NotFoundError, SpecError
from ..format.cls_journal_keys import client_state_name
from ..journal import ERROR, CorruptionPolicy, Journal
from ..output import Pairs, byte_units, ceph_json, echo, emit, pretty_block, progress, say
from ..rbd_mode import rbd_mode
from .journal_resolve import ResolvedJournal, locate_journal, resolve_journal

if TYPE_CHECKING:
    from ..app import AppContext
    from ..journal.trimming import Trimming


def _position_text(p: Any) -> str:
    return f"[object_number={p.object_number}, tag_tid={p.tag_tid}, entry_tid={p.entry_tid}]"


# -- info ---------------------------------------------------------------------------
def info(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
         journal_name: str | None, output_format: str, pretty_format: bool) -> int:
    """``journal info``: rbd's lines, then the header's malformations; the exit status."""
    resolved = resolve_journal(app, journal_spec, pool, namespace, image, journal_name)
    journal = resolved.journal
    header = journal.header
    object_pool = None
    if header.pool_id is not None and header.pool_id >= 0:
        try:
            object_pool = journal.header_pool.store.pool_name(header.pool_id)
        except NotFoundError:
            say(f"error looking up pool name for pool_id={header.pool_id}: (2) No such file or directory", err=True)
    if output_format in ("json", "xml"):
        doc: dict[str, Any] = {
            "journal_id": journal.journal_id,
            "header_oid": journal.header_oid,
            "object_oid_prefix": journal.object_prefix,
            "order": header.order,
            "splay_width": header.splay_width,
        }
        if object_pool is not None:
            doc["object_pool"] = object_pool
        emit(doc, output_format, pretty_format, xml_root="journal")
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
def status(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
           journal_name: str | None, output_format: str, pretty_format: bool, no_lag: bool) -> int:
    """``journal status``, plus each client's lag unless ``no_lag``; the exit status."""
    from ..format.ceph_dump import hexdump
    from ..journal.lag import client_lag
    from ..journal.trimming import is_disconnected, journal_trimming

    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    header = journal.header
    lag = {} if no_lag or rbd_mode() else client_lag(journal)
    trim = None if no_lag or rbd_mode() else journal_trimming(journal)
    if output_format in ("json", "xml"):
        clients = []
        for c in header.clients:
            item: dict[str, Any] = {
                "id": c.id,
                "data": hexdump(c.data),
                "commit_position": {"object_positions": [p.to_json() for p in c.commit_position]},
                "state": client_state_name(c.state) if c.state is not None else "unknown (malformed)",
            }
            if c.id in lag and not is_disconnected(c):
                item["lag"] = {"entries": lag[c.id][0], "bytes": lag[c.id][1]}
            clients.append(item)
        doc: dict[str, Any] = {"minimum_set": header.minimum_set, "active_set": header.active_set, "registered_clients": clients}
        if trim is not None:
            doc["trimming"] = trim.to_json()
        emit(doc, output_format, pretty_format, xml_root="status",
             xml_items={"registered_clients": "client", "object_positions": "object_position"})
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
            if is_disconnected(c):
                lines.append(f"\t[id={c.id}, disconnected (not counted)]")
            else:
                lines.append(f"\t[id={c.id}, entries={entries}, bytes={size} ({byte_units(size)})]")
    if trim is not None:
        lines += trimming_lines(trim)
    echo("\n".join(lines) + "\n")
    return _report_header_errors(journal)


def trimming_lines(trim: Trimming) -> list[str]:
    """The trimming section of ``status``: who holds minimum_set, what its disconnect frees."""
    lines = ["trimming: "]
    if trim.holder is None:
        lines.append(f"\tminimum_set {trim.minimum_set} is held by no connected client "
                     f"(librbd trims up to set {trim.trimmable_now})")
    else:
        name = trim.holder or '"" (the image)'
        lines.append(f"\tminimum_set {trim.minimum_set} is held by client {name}")
        if trim.after_disconnect_set > trim.minimum_set:
            lines.append(f"\ta disconnect of {name} lets librbd trim object sets {trim.minimum_set}.."
                         f"{trim.after_disconnect_set - 1}: {trim.freed_objects} objects, "
                         f"{byte_units(trim.freed_bytes)} ({trim.freed_bytes} bytes)")
        elif trim.minimum_set >= trim.active_set:
            lines.append(f"\ta disconnect of {name} frees nothing now: set {trim.minimum_set} is the active set "
                         "(librbd trims closed sets only)")
        else:
            lines.append(f"\ta disconnect of {name} frees nothing: another connected client holds set "
                         f"{trim.minimum_set} too")
    if trim.disconnected:
        lines.append(f"\tdisconnected clients (left out of lag and trimming): {', '.join(trim.disconnected)}")
    return lines


def _or_unknown(value: int | None) -> str:
    return "unknown (malformed)" if value is None else str(value)


def _report_header_errors(journal: Journal) -> int:
    """Header malformations (rbd would fail to read the metadata): one stderr line each, exit status 1."""
    errors = [p for p in journal.header.problems if p.severity == ERROR]
    for problem in errors:
        say(f"journaltools: {problem}", err=True)
    return 1 if errors else 0


# -- inspect ------------------------------------------------------------------------
def inspect(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
            journal_name: str | None, verbose: bool, all_entries: bool, on_error: str, no_error: bool,
            tags: tuple[int, ...], from_tid: int | None, to_tid: int | None, event_types: tuple[str, ...],
            since: str | None, until: str | None, output_format: str, pretty_format: bool) -> int:
    """``journal inspect``: the walk's summary, then its problems; the exit status."""
    if verbose:  # the event dumps need the declarations (construct): start-up pays for them only then
        from ..format.ceph_dump import event_dump
        from ..format.librbd_journal import decode_event

    policy = CorruptionPolicy("skip" if no_error else on_error)
    filtering = bool(tags or event_types) or any(v is not None for v in (from_tid, to_tid, since, until))
    if filtering:  # export's filters (without one, start-up does not pay for importing export.py)
        from ..export import EntryFilter
        from ..export import decode_event as decode_for_filter

        entry_filter = EntryFilter.build(tags, from_tid, to_tid, event_types, since, until)
        filtering = entry_filter.active
    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    walk = journal.walk(all_entries=all_entries)
    dumps: list[Any] = []
    stopped_at = None
    inspected = 0  # entries before the stop (the walk has read the one it stopped at)
    with progress(walk.total_bytes() if sys.stderr.isatty() else None, "inspect") as advance:
        walk.progress = advance
        seen = 0
        if policy.mode == "skip" and not verbose and not filtering:  # the walk alone checks
            inspected = walk.count()
        else:
            for entry in walk:
                if policy.mode == "stop":
                    damage = [p for p in walk.problems[seen:] if p.damages_data]
                    seen = len(walk.problems)
                    if damage:
                        stopped_at = damage[0]
                        break
                if filtering:
                    try:
                        wanted = entry_filter.match(entry, decode_for_filter(entry.payload) if entry_filter.needs_event
                                                    else None)
                    except FormatError:
                        wanted = not entry_filter.needs_event
                    if not wanted:
                        continue
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
def export(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
           journal_name: str | None, path_arg: str | None, path_opt: str | None, export_format: str | None,
           follow: bool, poll_interval: float, verbose: bool, all_entries: bool, on_error: str, no_error: bool,
           tags: tuple[int, ...], from_tid: int | None, to_tid: int | None, event_types: tuple[str, ...],
           since: str | None, until: str | None, force: bool) -> int:
    """``journal export`` to ``path`` (``-``: stdout); the exit status."""
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
        raise SpecError(f"path was not specified{hint}")
    export_format = export_format or ("rbd" if rbd_mode() else "json")
    resolved = ResolvedJournal(Journal.open(header_pool, journal_id), image_name)
    from ..export import (
        EntryFilter,
        JsonExportWriter,
        JsonlExportWriter,
        RbdExportWriter,
        open_output,
        walk_entries,
    )

    policy = CorruptionPolicy("skip" if no_error else on_error)
    entry_filter = EntryFilter.build(tags, from_tid, to_tid, event_types, since, until)
    if follow and export_format == "json":
        raise SpecError("--follow writes a stream: use --format jsonl or --format rbd")
    journal = resolved.journal
    with open_output(path, force=force) as fh:
        writer: Any = (
            RbdExportWriter(fh, journal) if export_format == "rbd"
            else JsonlExportWriter(fh) if export_format == "jsonl"
            else JsonExportWriter(fh, journal, image_name=resolved.image, all_entries=all_entries,
                                  entry_filter=entry_filter, policy=policy))
        if verbose:
            writer = _VerboseWriter(writer, path == "-")
        if follow:
            from .journal_follow import follow_export

            result = follow_export(journal, writer, fh, entry_filter, all_entries, poll_interval)
        else:
            walk = journal.walk(all_entries=all_entries)
            with progress(walk.total_bytes() if sys.stderr.isatty() else None, "export") as advance:
                walk.progress = advance
                result = walk_entries(walk, writer, entry_filter, policy)
        writer.finish(result)
    if path != "-":
        say(f"{result.processed} entries processed, {result.errors} errors")
    for problem in result.problems:
        say(f"journaltools: {problem}", err=True)
    for problem in result.notes:
        say(f"journaltools: note: {problem} (entries exported anyway)", err=True)
    if result.stopped_at is not None:
        say(f"journaltools: export stopped at the first error ({result.stopped_at}); "
                   "use --on-error skip to go on", err=True)
    return 1 if result.errors or result.notes else 0  # every error inspect reports fails the export too


# -- client list --------------------------------------------------------------------
def client_list(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None,
                image: str | None, journal_name: str | None, output_format: str, pretty_format: bool) -> None:
    """``journal client list``: each client's state, commit position, lag and decoded data."""
    from ..format import lookup
    from ..format.librbd_journal import CLIENT_META_NAMES
    from ..journal.lag import client_lag

    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    lag = client_lag(journal)
    client_data = lookup("librbd::journal::ClientData")
    rows: list[dict[str, Any]] = []
    for c in journal.header.clients:
        try:
            decoded = client_data.to_json(client_data.decode(c.data)) if c.data else None
        except FormatError:
            decoded = None
        rows.append({"id": c.id, "state": client_state_name(c.state) if c.state is not None else "malformed",
                     "commit_position": [p.to_json() for p in c.commit_position], "client_data": decoded,
                     "lag": {"entries": lag[c.id][0], "bytes": lag[c.id][1]}})
    if output_format == "json":
        echo(ceph_json({"clients": rows}, pretty_format))
        return
    for row in rows:
        front = row["commit_position"][0] if row["commit_position"] else None
        where = (f"object {front['object_number']} tag {front['tag_tid']} entry {front['entry_tid']}"
                 if front else "nothing committed")
        data = row["client_data"]
        kind = (CLIENT_META_NAMES.get(data["client_meta_type"], f"unknown client data ({data['client_meta_type']})")
                if isinstance(data, dict) else "no client data")
        name = row["id"] or '"" (image)'
        say(f"{name}: {row['state']}, {where}, {row['lag']['entries']} entries / "
                   f"{row['lag']['bytes']} bytes behind, {kind}")


class _VerboseWriter:
    """An export writer that also prints each entry's event dump (rbd journal export --verbose)."""

    type_only = False  # every event is decoded, for its dump

    def __init__(self, inner: Any, to_stdout: bool) -> None:
        self.inner = inner
        self.err = to_stdout  # with the export on stdout the dumps go to stderr

    def native_run(self) -> None:
        """No C loop: each entry is dumped as it is written."""
        return None

    def write(self, entry: Any, event: Any) -> None:
        from ..format.ceph_dump import event_dump

        echo(pretty_block(Pairs(event_dump(event.value))) + "\n", err=self.err)
        self.inner.write(entry, event)

    def finish(self, result: Any) -> None:
        self.inner.finish(result)
