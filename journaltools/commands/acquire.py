"""``acquire``: copy a live journal (or a pool's metadata) into a directory store for offline work."""

from __future__ import annotations

import sys

import click

from ..acquire import copy_journal, copy_pool, journal_bytes
from ..cli import AppContext, main, pass_app
from ..errors import SpecError
from ..journal import Journal
from ..output import progress
from ..spec import image_id


@main.command("acquire")
@click.argument("dest", metavar="DIR")
@click.option("-p", "--pool", required=True, metavar="POOL", help="Pool of the image (journal header).")
@click.option("--namespace", default="", metavar="NS", help="Namespace name.")
@click.option("--image", metavar="IMAGE", help="Image whose journal to copy.")
@click.option("--journal", "journal_id", metavar="ID", help="Journal id to copy.")
@click.option("--pool-only", is_flag=True, help="Copy every object of the pool except image data (rbd_data.*).")
@pass_app
def acquire(app: AppContext, dest: str, pool: str, namespace: str, image: str | None, journal_id: str | None,
            pool_only: bool) -> None:
    """Copy a journal (header, omap and data objects) into a directory store.

    Resumable: objects already copied unchanged are skipped.  The directory can
    then be used with --store for offline forensics.  Prints the journal id; the
    image's name records (its rbd_directory keys, rbd_id.<name>, rbd_header.<id>)
    are copied too, so `--store DIR journal info --image NAME` works offline.
    The progress bar (on a terminal) shows the journal's total bytes.
    """
    source = app.store().pool(pool, namespace)
    if pool_only:
        with progress(None, "acquire") as advance:
            report = copy_pool(source, dest, advance)
    else:
        if bool(image) == bool(journal_id):
            raise SpecError("give exactly one of --image and --journal (or --pool-only)")
        jid = journal_id or image_id(source, str(image))
        journal = Journal.open(source, jid)
        click.echo(f"journal id: {jid}")
        total = journal_bytes(journal) if sys.stderr.isatty() else None
        with progress(total, f"acquire {jid}") as advance:
            report = copy_journal(journal, dest, advance)
    print(f"{report.copied} objects copied, {report.skipped} unchanged, {report.bytes} bytes -> {dest}", file=sys.stderr)
