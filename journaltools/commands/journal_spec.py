"""The ``journal`` command group and rbd's journal-spec options, shared by every journal command.

Resolution follows src/tools/rbd/Utils.cc ``get_pool_journal_names``: ``--journal``
(itself a full spec) or the positional ``[<pool>/[<namespace>/]]<journal-id>``
names the journal; otherwise ``--image`` is resolved to its id (the journal id),
which requires the image's journaling feature (:mod:`.journal_resolve`, without click).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..cli import LazyGroup, main
from .journal_resolve import (  # noqa: F401  (re-exported: every journal command resolves its spec so)
    ResolvedJournal,
    locate_journal,
    resolve_journal,
)

F = TypeVar("F", bound=Callable[..., Any])

#: journal subcommand -> the modules that define it (imported when the subcommand is run)
JOURNAL_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "client": ("journal_write",),
    "export": ("journal",),
    "import": ("journal_write",),
    "info": ("journal",),
    "list": ("journal_list",),
    "ls": ("journal_list",),
    "inspect": ("journal",),
    "report": ("journal_report",),
    "repair": ("journal_repair", "journal_write"),  # repair shares the confirmation options of journal_write
    "replay": ("journal_replay", "journal"),  # replay shares the corruption-policy options of journal
    "reset": ("journal_write",),
    "stats": ("journal_stats",),
    "status": ("journal",),
}


@main.group("journal", cls=LazyGroup, lazy_modules=JOURNAL_COMMAND_MODULES)
def journal_group() -> None:
    """Inspect, export, import, reset and repair image journals."""


def journal_spec_options(func: F | None = None, *, dest: bool = False) -> Any:
    """Positional ``<journal-spec>`` plus ``-p/--pool``, ``--namespace``, ``--image``, ``--journal``.

    ``@journal_spec_options(dest=True)`` also takes rbd's destination spellings
    (``journal import``): ``--dest-pool``, ``--dest-namespace``, ``--dest`` (an image
    name) and ``--dest-journal``, with the positional ``<dest-journal-spec>``.
    """

    def decorate(f: F) -> F:
        prefix = ["--dest-journal"] if dest else []
        f = click.option("--journal", *prefix, "journal_name", metavar="JOURNAL",
                         help="Journal name (id), or a full journal spec.")(f)
        f = click.option("--image", *(["--dest"] if dest else []), "image", metavar="IMAGE",
                         help="Image name whose journal to use.")(f)
        f = click.option("--namespace", *(["--dest-namespace"] if dest else []), "namespace", metavar="NS",
                         help="Namespace name.")(f)
        f = click.option("-p", "--pool", *(["--dest-pool"] if dest else []), "pool", metavar="POOL",
                         help="Pool name.")(f)
        metavar = "<dest-journal-spec>" if dest else "[<pool>/[<namespace>/]]<journal-id>"
        return click.argument("journal_spec", metavar=metavar, required=False)(f)

    return decorate(func) if func is not None else decorate
