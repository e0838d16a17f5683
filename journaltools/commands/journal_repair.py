"""``journal repair``: the repairs inspect's findings call for, as a plan (default) or applied."""

from __future__ import annotations

import click

from ..acquire import copy_journal
from ..cli import AppContext, pass_app
from ..errors import ConfirmationRequired, SpecError
from ..journal import ERROR
from ..journal.repair import (
    apply_plan,
    pending_intent,
    plan_repair,
    reported_problems,
    resume_pending,
    write_lock,
)
from ..output import ceph_json, echo
from ..write_guard import hold_journal
from .journal_spec import journal_group, journal_spec_options, resolve_journal
from .journal_write import CONFIRM_FLAG, confirmation_option, default_backup_dir, force_option


@journal_group.command("repair")
@journal_spec_options
@click.option("--dry-run", "dry_run", is_flag=True, help="Only show the plan (the default without --apply).")
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
    """Repair a journal: for each problem inspect reports, the change that fixes it.

    Every planned change cites the reported problems it fixes (kind, object, byte
    offset, tag, entry tid) and names the entries it drops. Without --apply nothing
    is written. Before anything is written the plan is checked on an overlay of the
    journal; a plan that would leave a replay-order error is refused. With --apply a
    backup is written first (unless --no-backup --yes-i-really-mean-it), the steps are
    recorded in the store and then applied, so a rerun after a crash finishes them,
    and the journal is inspected again (replay order and --all). Exit status 0 when
    the journal is (or would be) clean, 1 when something cannot be repaired.
    """
    if dry_run and apply_changes:
        raise SpecError("--dry-run and --apply exclude each other")
    if no_backup and backup_dir:
        raise SpecError("--backup and --no-backup exclude each other")
    if apply_changes and no_backup and not confirmed:
        raise ConfirmationRequired(f"--no-backup applies changes without any copy: add {CONFIRM_FLAG}")
    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    if not apply_changes and pending_intent(journal) is not None:
        click.echo(f"journal {journal.journal_id}: an interrupted repair is pending; rerun with --apply to finish it")
        return 1
    if apply_changes:
        hold_journal(journal, force)
    with write_lock(journal):
        resumed = resume_pending(journal) if apply_changes else None
        if resumed is not None:
            journal = journal.reload()
        plan = plan_repair(journal)
        backup = None
        remaining = None
        applied = bool(apply_changes and plan.changes and not plan.refused)
        if applied:
            if not no_backup and resumed is None:
                backup = backup_dir or default_backup_dir(journal.journal_id)
                copy_journal(journal, backup)
            apply_plan(plan)
        if applied or resumed is not None:
            remaining = [p for p in reported_problems(journal.reload()) if p.severity == ERROR]
    if output_format == "json":
        echo(ceph_json({"journal_id": journal.journal_id, "applied": applied, "resumed_steps": resumed,
                        "refused": plan.refused, "backup": backup, "actions": [a.to_json() for a in plan.actions],
                        "remaining_problems": [p.to_json() for p in remaining] if remaining is not None else None}))
    else:
        if resumed is not None:
            click.echo(f"finished an interrupted repair of journal {journal.journal_id} ({resumed} steps)")
        if not plan.actions:
            click.echo(f"journal {journal.journal_id}: nothing to repair")
        for action in plan.actions:
            click.echo(str(action))
        if backup:
            click.echo(f"backup written to {backup}")
        if applied or resumed is not None:
            click.echo(f"applied {len(plan.changes) if applied else 0} changes; inspect now finds "
                       f"{len(remaining or [])} errors")
            for p in remaining or []:
                click.echo(f"  {p}")
        elif plan.refused:
            click.echo("repair refused; nothing written")
        elif plan.changes:
            click.echo(f"{len(plan.changes)} changes planned; nothing written (use --apply)")
    failed = bool(plan.unrepairable) or bool(remaining)
    return 1 if failed else 0
