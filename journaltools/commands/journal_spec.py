"""The ``journal`` command group and rbd's journal-spec options, shared by every journal command.

Resolution follows src/tools/rbd/Utils.cc ``get_pool_journal_names``: ``--journal``
(itself a full spec) or the positional ``[<pool>/[<namespace>/]]<journal-id>``
names the journal; otherwise ``--image`` is resolved to its id (the journal id),
which requires the image's journaling feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..cli import AppContext, LazyGroup, main
from ..cls.rbd_image import get_features
from ..errors import JournalToolsError, NotFoundError, SpecError
from ..journal import Journal
from ..journal.model import HEADER_PREFIX
from ..output import check_pretty_format
from ..rbd_cli import rbd_step
from ..spec import combine_spec, image_id, image_name
from ..store.base import Pool

F = TypeVar("F", bound=Callable[..., Any])

RBD_FEATURE_JOURNALING = 64


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


class ResolvedJournal:
    """A journal with the names it was found by."""

    def __init__(self, journal: Journal, image: str | None) -> None:
        self.journal = journal
        self.image = image

    @property
    def pool(self) -> Pool:
        return self.journal.header_pool


def locate_journal(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None,
                   image: str | None, journal_name: str | None,
                   what: str = "journal") -> tuple[Pool, str, str | None]:
    """(header pool, journal id, image name if known) as rbd resolves them; nothing is read from the journal."""
    if journal_name or journal_spec:
        spec = combine_spec(journal_spec, pool=pool, namespace=namespace, name=journal_name, what="journal")
        check_pretty_format()
        with rbd_step(f"error opening pool '{spec.pool}'"):
            header_pool = app.store().pool(spec.pool, spec.namespace)
        if not header_pool.exists(HEADER_PREFIX + spec.name):
            journaled = _journaled_image(header_pool, spec.name)
            if journaled is not None:
                return header_pool, journaled, spec.name
        try:
            name = image_name(header_pool, spec.name)
        except (NotFoundError, JournalToolsError):
            name = None
        return header_pool, spec.name, name
    if image:
        spec = combine_spec(None, pool=pool, namespace=namespace, name=image, what="image", relaxed=True)
        with rbd_step(f"failed to open image {spec.name} to get journal name"):  # rbd's lines, as rbd
            with rbd_step(f"error opening pool '{spec.pool}'"):
                header_pool = app.store().pool(spec.pool, spec.namespace)
            with rbd_step(f"error opening image {spec.name}"):
                jid = image_id(header_pool, spec.name)
        _require_journaling(header_pool, jid, spec.name)  # rbd opens the image before it checks the format
        check_pretty_format()
        return header_pool, jid, spec.name
    raise SpecError(f"{what} was not specified")


def journaled_image_id(pool: Pool, name: str) -> str:
    """The id (= journal id) of image ``name``; EINVAL unless its journaling feature is on, as rbd."""
    return _require_journaling(pool, image_id(pool, name), name)


def _require_journaling(pool: Pool, jid: str, name: str) -> str:
    if not get_features(pool, jid) & RBD_FEATURE_JOURNALING:
        raise SpecError(f"journaling is not enabled for image {name}")
    return jid


def _journaled_image(pool: Pool, name: str) -> str | None:
    """Extension to rbd: a journal spec naming no journal but an image (``rbd/img2``) means that image's journal.

    rbd would fail with ENOENT there; any other outcome of rbd's rules is unchanged.
    """
    try:
        image_id(pool, name)
    except JournalToolsError:
        return None
    return journaled_image_id(pool, name)


def resolve_journal(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None,
                    image: str | None, journal_name: str | None, what: str = "journal") -> ResolvedJournal:
    header_pool, jid, name = locate_journal(app, journal_spec, pool, namespace, image, journal_name, what)
    return ResolvedJournal(Journal.open(header_pool, jid), name)
