"""``journal report SPEC OUT.html``: one self-contained HTML page about a journal."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import AppContext, pass_app
from ..errors import ExistsError, SpecError
from ..journal.problems import ERROR
from .journal_spec import journal_group, journal_spec_options, resolve_journal


@journal_group.command("report")
@journal_spec_options
@click.argument("output", metavar="<OUT.html>", required=False)
@click.option("--output", "-o", "output_opt", metavar="PATH", help="The HTML file to write (or give it positionally).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_app
def report(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
           journal_name: str | None, output: str | None, output_opt: str | None, force: bool) -> int:
    """Write one self-contained HTML report (inline SVG, no script, no network): event timeline
    by type, object fill per splay offset and set, client commit positions against the head,
    and every problem inspect finds, linked to its object and offset.  Exit status 1 when
    inspect finds an error (the report is written anyway).
    """
    if journal_spec and not output and not output_opt and (image or journal_name):
        output, journal_spec = journal_spec, None  # `report --image vm1 out.html`
    path = output_opt or output
    if not path:
        raise SpecError("give the report file (journal report <journal-spec> OUT.html)")
    target = Path(path)
    if target.exists() and not force:
        raise ExistsError(f"report file {path} already exists (use --force to overwrite)")
    if not target.parent.is_dir():
        raise SpecError(f"cannot write {path}: directory {target.parent} does not exist")
    resolved = resolve_journal(app, journal_spec, pool, namespace, image, journal_name)
    from ..report import write_report

    data = write_report(resolved.journal, target, resolved.image)
    errors = sum(1 for p in data.problems if p.severity == ERROR)
    click.echo(f"{path}: {data.stats.entries.entries} entries, {len(data.problems)} problems ({errors} errors)",
               err=True)
    return 1 if errors else 0
