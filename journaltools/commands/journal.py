"""``journal info|status|inspect|export``: the read side, output as ``rbd journal ...`` prints it.

Thin click commands over :mod:`.journal_read` (the implementation, which the fast path of
:mod:`journaltools.fastpath` calls too).  Text and JSON follow src/tools/rbd/action/Journal.cc
(see docs/journal.md); where we add information (client lag, structural problems) it comes
after rbd's own output, so a clean journal prints exactly what rbd prints.
"""

from __future__ import annotations

from typing import Any

import click

from ..cli import AppContext, pass_app
from ..output import format_options
from . import journal_read
from .journal_spec import journal_group, journal_spec_options


# -- info ---------------------------------------------------------------------------
@journal_group.command("info")
@journal_spec_options
@format_options(xml=True)
@pass_app
def info(app: AppContext, **options: Any) -> int:
    """Show information about image journal (as rbd journal info).

    A malformed order, splay width or pool id prints as unknown; the header's
    malformations then go to stderr, one line each, and the exit status is 1.
    """
    return journal_read.info(app, **options)


# -- status -------------------------------------------------------------------------
@journal_group.command("status")
@journal_spec_options
@format_options(xml=True)
@click.option("--no-lag", is_flag=True, help="Print only what rbd prints (skip reading the data objects for lag; "
              "the default when run as rbd).")
@pass_app
def status(app: AppContext, **options: Any) -> int:
    """Show status of image journal (as rbd journal status), plus each client's lag.

    Malformed header values print as unknown, each malformation goes to stderr
    as one line, and the exit status is then 1.
    """
    return journal_read.status(app, **options)


# -- inspect ------------------------------------------------------------------------
def entry_filter_options(func: Any) -> Any:
    """export's entry filters (inspect takes the same): tag, tid range, event type, time range."""
    func = click.option("--until", metavar="TIME",
                        help="Only events with a timestamp before TIME (ISO 8601, UTC unless it names a zone, or "
                        "epoch seconds).")(func)
    func = click.option("--since", metavar="TIME",
                        help="Only events with a timestamp at or after TIME (ISO 8601, UTC unless it names a zone, "
                        "or epoch seconds).")(func)
    func = click.option("--event-type", "event_types", multiple=True,
                        help="Only events of this type, by name (AioWrite) or number (repeatable).")(func)
    func = click.option("--to-tid", type=int, help="Only entries with entry tid <= this.")(func)
    func = click.option("--from-tid", type=int, help="Only entries with entry tid >= this.")(func)
    return click.option("--tag", "tags", type=int, multiple=True, help="Only entries of this tag tid (repeatable).")(func)

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
@entry_filter_options
@format_options
@pass_app
def inspect(app: AppContext, **options: Any) -> int:
    """Inspect image journal for structural errors.

    Prints what rbd journal inspect prints, then every structural problem found
    (kind, object, byte offset, tag and entry tid).  Exit status 0 when no error
    was found, 1 otherwise (warnings alone do not fail).  The corruption policy
    is export's: --on-error stop ends the walk at the first damaged entry (the
    default here is skip: report every problem, as rbd inspect goes on).  The
    filters are export's: they select the entries counted and dumped; problems
    are reported for the whole walk.
    """
    return journal_read.inspect(app, **options)


# -- export -------------------------------------------------------------------------
@journal_group.command("export")
@journal_spec_options
@click.argument("path_arg", metavar="<path-name>", required=False)
@click.option("--path", "path_opt", metavar="PATH", help="Export file (or '-' for stdout).")
@click.option("--format", "export_format", type=click.Choice(["json", "jsonl", "rbd"]), default=None,
              help="json: our document (schemas/journal-export.schema.json, the default); jsonl: one entry a "
              "line (the document's entries); rbd: the file rbd journal export writes (the default when run as rbd).")
@click.option("--follow", is_flag=True, help="Keep exporting entries as they are appended (jsonl or rbd format), "
              "until SIGINT/SIGTERM or --until.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), default=0.5, show_default=True, metavar="SECONDS",
              help="With --follow: seconds between polls of the journal.")
@click.option("--verbose", is_flag=True, help="Print every exported entry's event (as rbd journal export --verbose).")
@click.option("--all", "all_entries", is_flag=True, help="Export every entry physically present, committed or not.")
@on_error_options("stop")
@entry_filter_options
@click.option("--force", is_flag=True, help="Overwrite an existing export file.")
@pass_app
def export(app: AppContext, **options: Any) -> int:
    """Export image journal, to our JSON document or rbd's export file format.

    The journal and the path combine as in rbd: `journal export rbd/<id> out.json`,
    `journal export --journal <id> out.json`, or with an image name
    `journal export --pool rbd --image vm1 --path out.json` (with --image the
    positional argument is still the journal spec).  `-` writes to stdout.
    """
    return journal_read.export(app, **options)
