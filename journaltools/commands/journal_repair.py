"""``journal repair``: the repairs inspect's findings call for, as a plan (default) or applied."""

from __future__ import annotations

import click

from ..acquire import copy_journal
from ..cli import AppContext, pass_app
from ..errors import ConfirmationRequired, SpecError
from ..journal import ERROR
from ..journal.repair import apply_plan, plan_repair
from ..output import ceph_json, echo
from ..write_guard import hold_journal
from .journal_spec import journal_group, journal_spec_options, resolve_journal
from .journal_write import CONFIRM_FLAG, confirmation_option, default_backup_dir, force_option


@journal_group.command("repair")
@journal_spec_options
@click.option("--dry-run", "dry_run", is_flag=True, default=True, help="Only show the plan (the default).")
@click.option("--apply", "apply_changes", is_flag=True, help="Apply the plan (after a backup).")
@click.option("--backup", "backup_dir", metavar="DIR",
              help="Where to copy the journal before applying (default ./journaltools-backup-<id>-<time>).")
@click.option("--no-backup", is_flag=True, help="Apply without a backup (needs --yes-i-really-mean-it).")
@click.option("--format", "output_format", type=click.Choice(["plain", "json"]), default="plain", show_default=True,
              help="Output format.")
@confirmation_option
@force_option
@pass_app
def repair(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
           journal_name: str | None, dry_run: bool, apply_changes: bool, backup_dir: str | None, no_backup: bool,
           output_format: str, confirmed: bool, force: bool = False) -> int:
    """Repair a journal: for each structural error, the change that fixes it and why.

    Without --apply nothing is written. With --apply a backup is written first
    (unless --no-backup --yes-i-really-mean-it), each object is rewritten
    atomically, and the journal is inspected again. Exit status 0 when the journal
    is (or would be) clean, 1 when something cannot be repaired.
    """
    if no_backup and backup_dir:
        raise SpecError("--backup and --no-backup exclude each other")
    if apply_changes and no_backup and not confirmed:
        raise ConfirmationRequired(f"--no-backup applies changes without any copy: add {CONFIRM_FLAG}")
    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    if apply_changes:
        hold_journal(journal, force)
    plan = plan_repair(journal)
    backup = None
    remaining = None
    if apply_changes and plan.changes:
        if not no_backup:
            backup = backup_dir or default_backup_dir(journal.journal_id)
            copy_journal(journal, backup)
        apply_plan(plan)
        after = journal.reload().walk(all_entries=True)
        list(after)
        remaining = [p for p in after.problems if p.severity == ERROR]
    if output_format == "json":
        echo(ceph_json({"journal_id": journal.journal_id, "applied": bool(apply_changes and plan.changes),
                        "backup": backup, "actions": [a.to_json() for a in plan.actions],
                        "remaining_problems": [p.to_json() for p in remaining] if remaining is not None else None}))
    else:
        if not plan.actions:
            click.echo(f"journal {journal.journal_id}: nothing to repair")
        for action in plan.actions:
            click.echo(str(action))
        if backup:
            click.echo(f"backup written to {backup}")
        if apply_changes and plan.changes:
            click.echo(f"applied {len(plan.changes)} changes; inspect now finds {len(remaining or [])} errors")
            for p in remaining or []:
                click.echo(f"  {p}")
        elif plan.changes:
            click.echo(f"{len(plan.changes)} changes planned; nothing written (use --apply)")
    failed = bool(plan.unrepairable) or bool(remaining)
    return 1 if failed else 0
