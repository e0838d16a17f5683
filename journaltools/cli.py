"""The ``journaltools`` command line: one click group, thin commands over the library.

Global options select the store (``--store DIR`` or a live cluster with
``-c/--conf``, ``--id``, ``-n/--name``, ``-k/--keyring``, ``-m/--mon-host``,
``--cluster``; without either, the ceph.conf librados finds).  As in rbd they may
appear anywhere on the line, and every command parses and reports usage errors
as rbd does (:mod:`journaltools.rbd_cli`); run through a link named ``rbd``,
journaltools is a drop-in for rbd.  Commands live in
:mod:`journaltools.commands`, one module per command group; each registers itself
on :data:`main` when imported.  Only the modules of the command being run are
imported (:data:`COMMAND_MODULES`): start-up time is part of every command's time.

Every expected failure is a :class:`~journaltools.errors.JournalToolsError`; it is
printed as one line on stderr (``journaltools: <message>``) with a non-zero exit
code.  Anything else is reported as one line too (``--debug`` shows the traceback).
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from typing import Any

import click

from . import __version__
from .app import AppContext
from .errors import JournalToolsError
from .fastpath import failure_code
from .rbd_cli import (
    DelegateToRbd,
    RbdUsageError,
    arrange,
    attach,
    exec_real_rbd,
    invoked_as_rbd,
    program_name,
    set_rbd_mode,
)

pass_app = click.make_pass_decorator(AppContext)

#: top-level command -> the modules of :mod:`journaltools.commands` that define it
#: (tests/test_cli_lazy_loading.py checks this against what every module registers)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "acquire": ("acquire",),
    "consistency-group": ("group",),
    "decode": ("decode",),
    "feature": ("feature",),
    "group": ("group",),
    "journal": ("journal_spec",),  # a LazyGroup itself: its subcommands' modules are in journal_spec
    "mirror": ("mirror",),
    "status": ("mirror",),
}


def load_command_modules(modules: Sequence[str] | None = None) -> None:
    """Import these command modules (every one when None), which registers their commands."""
    import importlib

    if modules is None:
        import pkgutil

        from . import commands

        modules = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    for module in modules:
        importlib.import_module(f"{__package__}.commands.{module}")


@attach
class LazyGroup(click.Group):
    """A group whose commands' modules are imported when a command is looked up.

    ``lazy_modules`` maps each command name to the modules of :mod:`journaltools.commands`
    that define it; listing the commands (``--help``) imports them all.
    """

    def __init__(self, *args: Any, lazy_modules: dict[str, tuple[str, ...]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_modules = dict(lazy_modules or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            load_command_modules(self.lazy_modules.get(cmd_name, ()))
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_command_modules(sorted({m for modules in self.lazy_modules.values() for m in modules}))
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, lazy_modules=COMMAND_MODULES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--store", "store_dir", envvar="JOURNALTOOLS_STORE", metavar="DIR",
              help="Directory store (a rados dump layout); default $JOURNALTOOLS_STORE.")
@click.option("-c", "--conf", metavar="PATH",
              help="ceph.conf of a live cluster (default: librados' search, $CEPH_CONF, /etc/ceph/$cluster.conf, ...).")
@click.option("--id", "--user", "client_id", metavar="ID", help="Client id to connect as (without 'client.' prefix).")
@click.option("-n", "--name", metavar="NAME", help="Client name (client.<id>).")
@click.option("--cluster", metavar="NAME", help="Cluster name (reads /etc/ceph/NAME.conf).")
@click.option("-m", "--mon-host", "--mon_host", "mon_host", metavar="HOSTS", help="Monitor host(s).")
@click.option("-k", "--keyring", metavar="PATH", help="Path to keyring.")
@click.option("-K", "--keyfile", metavar="PATH", help="Path to secret key.")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.option("--release", "release_name", metavar="NAME", envvar="JOURNALTOOLS_RELEASE",
              help="Ceph release whose rbd output to give (pacific, reef, tentacle, or a version such as 18.2.7); "
                   "default: the live cluster's, or the one acquire recorded in the store, else pacific.")
@click.version_option(__version__, prog_name="journaltools")
@click.pass_context
def main(ctx: click.Context, store_dir: str | None, conf: str | None, client_id: str | None, name: str | None,
         cluster: str | None, mon_host: str | None, keyring: str | None, keyfile: str | None, debug: bool,
         release_name: str | None) -> None:
    """Inspect, export, import and repair Ceph RBD journals and mirroring metadata.

    Works on a live cluster (-c/--conf, or the ceph.conf librados finds) or offline
    on a directory store (--store).  Cluster options may appear anywhere on the line.
    """
    app = AppContext(store_dir=store_dir, conf=conf, client_id=client_id, cluster=cluster, debug=debug, name=name,
                     mon_host=mon_host, keyring=keyring, keyfile=keyfile, release_name=release_name)
    if release_name:
        from .release import parse_release

        parse_release(release_name)  # a bad name fails before any work
    ctx.obj = app
    ctx.call_on_close(app.close)


def run(argv: Sequence[str] | None = None, argv0: str | None = None, *, fast: bool = True) -> int:
    """Run the CLI and return the exit code (what ``main`` the console script does).

    Run as ``rbd`` (``argv0``'s basename, default ``sys.argv[0]``), a command line
    that names no journaltools command is handed to the real rbd, and messages
    start with ``rbd:``.  A read command's line is run without click when
    :mod:`journaltools.fastpath` understands all of it (``fast=False``: never).
    """
    if fast:
        from .fastpath import attempt

        code = attempt(list(sys.argv[1:] if argv is None else argv), argv0)
        if code is not None:
            return code
    as_rbd = invoked_as_rbd(argv0)
    set_rbd_mode(as_rbd)
    try:
        return _run(list(sys.argv[1:] if argv is None else argv), as_rbd, program_name(argv0))
    finally:
        set_rbd_mode(False)


def _run(original: list[str], as_rbd: bool, prog: str) -> int:
    import os

    debug = "--debug" in original
    try:
        if as_rbd:  # rbd's help texts (journaltools/rbd_help): -h/--help anywhere, rbd help <command>
            from .rbd_help import answer

            helped = answer(original)
            if helped is not None:
                return helped
        arranged = arrange(original, main, os.environ.get("CEPH_ARGS"))
        if as_rbd and arranged.leaf is None:
            return exec_real_rbd(original)
        for note in arranged.notes:
            click.echo(f"{prog}: {note}", err=True)
        result: Any = main.main(args=arranged.args, prog_name=prog, standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except DelegateToRbd as exc:
        if as_rbd:
            return exec_real_rbd(original)
        click.echo(f"{prog}: {exc}", err=True)
        return errno.EINVAL
    except click.exceptions.Abort:
        click.echo(f"{prog}: aborted", err=True)
        return 1
    except RbdUsageError as exc:  # rbd's wording and exit code
        click.echo(f"{prog}: {exc.format_message()}", err=True)
        return exc.rbd_exit_code
    except click.UsageError as exc:  # one line, not click's usage block
        where = exc.ctx.command_path if exc.ctx is not None else prog
        click.echo(f"{prog}: {exc.format_message()} (see '{where} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"{prog}: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (JournalToolsError, BrokenPipeError, KeyboardInterrupt, Exception) as exc:
        code = failure_code(exc, prog, as_rbd, debug)  # as the fast path reports them
        if code is None:
            raise
        return code


def console_main() -> None:
    """The console script (journaltools.fastpath.console_main: the read commands start without click)."""
    from .fastpath import console_main as fast_main

    fast_main()

