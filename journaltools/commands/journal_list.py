"""``journal list [POOL[/NAMESPACE]]`` (alias ``ls``): every journal of a pool, largest first."""

from __future__ import annotations

from typing import Any

import click

from ..cli import AppContext, pass_app
from ..journal.listing import DEFAULT_MAX_LAG_ENTRIES, JournalSummary, list_journals
from ..output import byte_units, ceph_json, echo
from .journal_spec import journal_group
from .specs import resolve_pool

LIST_SCHEMA = "journal-list.schema.json"


@journal_group.command("list")
@click.argument("pool_spec", metavar="[<pool>[/<namespace>]]", required=False)
@click.option("-p", "--pool", metavar="POOL", help="Pool name (default rbd).")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@click.option("--all-namespaces", is_flag=True, help="Every RADOS namespace of the pool (one listing).")
@click.option("--check", is_flag=True, help="Walk every journal for structural problems (state damaged).")
@click.option("--entries", is_flag=True, help="Read every journal for each client's exact lag (entries, bytes).")
@click.option("--scan/--no-scan", default=None,
              help="List the pool's objects (finds orphans; the default unless the pool is too big to list), or find "
              "the journals through rbd_directory and their objects by name.")
@click.option("--max-lag", "max_lag", type=click.IntRange(min=0), default=DEFAULT_MAX_LAG_ENTRIES, show_default=True,
              help="A connected client more entries than this behind the leading client makes a journal lagging.")
@click.option("--format", "output_format", type=click.Choice(["plain", "json", "xml"]), default="plain",
              show_default=True, help="Output format.")
@click.option("--pretty-format", is_flag=True, help="Pretty formatting (json, xml).")
@pass_app
def list_cmd(app: AppContext, pool_spec: str | None, pool: str | None, namespace: str | None, all_namespaces: bool,
             check: bool, entries: bool, scan: bool | None, max_lag: int, output_format: str,
             pretty_format: bool) -> int:
    """List every journal in a pool, largest first: image, sizes, sets, clients, holder, lag, state.

    The image is `-` for a journal whose image is gone and for data objects without
    a header (both orphaned).  HOLDER is the connected client whose commit position
    keeps librbd from trimming (it holds minimum_set).  LAG is the worst connected
    client's: object sets behind active_set and, from the header alone, entries
    behind the most advanced client (with --entries: exact entries and bytes behind
    the newest entry).  State: ok, lagging (a connected client one object set
    behind active_set, or more than --max-lag entries behind), orphaned, damaged
    (--check finds an error).  Only headers are read and data objects stat'ed (in
    parallel) unless --check or --entries.
    """
    target = resolve_pool(app, pool_spec, pool, namespace)
    if scan is None:
        scan = target.listing_is_cheap()
        if not scan:
            click.echo(f"journaltools: note: pool {target.name} is too big to list: journals found through "
                       "rbd_directory, orphaned journals not looked for (--scan lists the pool)", err=True)
    summaries = list_journals(target, all_namespaces=all_namespaces, check=check, entries=entries,
                              max_lag_entries=max_lag, scan=scan)
    if output_format == "json":
        echo(ceph_json([s.to_json() for s in summaries], pretty_format))
    elif output_format == "xml":
        echo(_xml(summaries, pretty_format))
    else:
        echo(_table(summaries, all_namespaces))
    return 0


def _client_name(client_id: str) -> str:
    """The image's own client has the empty id: shown as ``""``."""
    return client_id or '""'


def _lag_text(summary: JournalSummary) -> str:
    worst = summary.worst_lag
    if worst is None:
        return "-"
    parts = []
    if worst.lag_entries is not None:
        parts.append(f"{worst.lag_entries} entries/{byte_units(worst.lag_bytes or 0)}")
    elif worst.behind_leader:
        parts.append("nothing committed")
    elif worst.entries_behind:
        parts.append(f"{worst.entries_behind} entries")
    if worst.sets_behind:
        parts.append(f"{worst.sets_behind} sets")
    return f"{_client_name(worst.id)}: {', '.join(parts) or '?'}"


def _table(summaries: list[JournalSummary], with_namespace: bool) -> str:
    if not summaries:
        return ""
    head = ["IMAGE", "JOURNAL", "OBJECTS", "SIZE", "BYTES", "SETS", "CLIENTS", "HOLDER", "LAG", "STATE"]
    if with_namespace:
        head.insert(0, "NAMESPACE")
    rows = [head]
    for s in summaries:
        sets = "-" if s.minimum_set is None else f"{s.minimum_set}..{s.active_set}"
        clients = ",".join(f"{_client_name(c.id)}={c.state}" for c in s.clients) or "-"
        holder = "-" if s.holder is None else _client_name(s.holder)
        row = [s.image or "-", s.journal_id, str(s.objects), byte_units(s.bytes), str(s.bytes), sets, clients, holder,
               _lag_text(s), s.state]
        if with_namespace:
            row.insert(0, s.namespace or "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows)


#: XML names of array items (Ceph's XMLFormatter names every element)
XML_ITEMS = {"journals": "journal", "clients": "client"}


def _xml(summaries: list[JournalSummary], pretty: bool) -> str:
    """``<journals><journal>...</journal></journals>`` through output.ceph_xml (Ceph's XMLFormatter) when present."""
    from .. import output

    docs = [s.to_json() for s in summaries]
    formatter = getattr(output, "ceph_xml", None)
    render = formatter if formatter is not None else _ceph_xml_fallback
    return str(render(docs, "journals", items=XML_ITEMS, pretty=pretty))


def _ceph_xml_fallback(value: Any, root: str, items: dict[str, str] | None = None, pretty: bool = False) -> str:
    """output.ceph_xml's interface, for a tree without it (helper "dropin" adds it to output.py)."""
    from xml.sax.saxutils import escape

    names = items or {}
    out: list[str] = []

    def element(name: str, item: Any, depth: int) -> None:
        pad, end = (" " * depth, "\n") if pretty else ("", "")
        if isinstance(item, dict):
            out.append(f"{pad}<{name}>{end}")
            for key, child in item.items():
                element(key, child, depth + 1)
            out.append(f"{pad}</{name}>{end}")
        elif isinstance(item, list):
            out.append(f"{pad}<{name}>{end}")
            for child in item:
                element(names[name], child, depth + 1)
            out.append(f"{pad}</{name}>{end}")
        else:
            text = "" if item is None else "true" if item is True else "false" if item is False else str(item)
            out.append(f"{pad}<{name}>{escape(text)}</{name}>{end}")

    element(root, value, 0)
    return "".join(out) + "\n"


journal_group.add_command(list_cmd, "ls")
