"""rbd's journal spec resolved to a journal, without click: shared by every journal command.

Resolution follows src/tools/rbd/Utils.cc ``get_pool_journal_names``: ``--journal``
(itself a full spec) or the positional ``[<pool>/[<namespace>/]]<journal-id>``
names the journal; otherwise ``--image`` is resolved to its id (the journal id),
which requires the image's journaling feature.  The click options are in
:mod:`journaltools.commands.journal_spec`; the fast path (:mod:`journaltools.fastpath`)
calls these functions too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..cls.rbd_image import get_features
from ..errors import JournalToolsError, NotFoundError, SpecError
from ..journal import Journal
from ..journal.model import HEADER_PREFIX
from ..output import check_pretty_format
from ..rbd_mode import rbd_step
from ..spec import combine_spec, image_id, image_name
from ..store.base import Pool

if TYPE_CHECKING:
    from ..app import AppContext

RBD_FEATURE_JOURNALING = 64


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
