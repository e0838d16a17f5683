"""``feature enable|disable IMAGE-SPEC journaling``: the journaling feature, as ``rbd feature`` sets it.

Enabling creates the journal as librbd does (see :mod:`journaltools.journal.lifecycle`)
and then sets feature bit 64 with cls ``rbd.set_features``; disabling refuses while
the image is mirrored, removes the journal, then clears the bit.
"""

from __future__ import annotations

import contextlib
import re

import click

from ..cli import AppContext, main, pass_app
from ..cls import rbd_image
from ..errors import NotFoundError, SpecError
from ..journal import Journal
from ..journal.lifecycle import Geometry, create_journal, remove_journal
from ..store.base import Pool
from ..write_guard import hold_image
from .specs import image_spec_names, image_spec_options, resolve_image

MIN_ORDER, MAX_ORDER = 12, 26  # rbd: --journal-object-size 4K <= size <= 64M
# strict_iecstrtoll: digits, then an optional IEC unit (K, Ki, KiB; B alone)
_SIZE = re.compile(r"^(\d+)(?:([KMGTPE])(?:i?B?)?|B)?$")
_UNIT_SHIFT = {None: 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}


def parse_object_size(text: str) -> int:
    """``--journal-object-size`` -> journal order, as rbd: a size in 4K..64M, rounded up to a power of two.

    rbd 16.2 (Utils.cc ``get_journal_options``) takes the smallest order whose
    object holds the size: ``20M`` is order 25 (32 MiB objects).
    """
    from ..rbd_cli import RbdUsageError

    match = _SIZE.match(text.strip())
    size = int(match.group(1)) << _UNIT_SHIFT[match.group(2)] if match else 0
    if not (1 << MIN_ORDER) <= size <= (1 << MAX_ORDER):
        raise RbdUsageError("the argument for option '--journal-object-size' is invalid")
    order = MIN_ORDER
    while (1 << order) < size:
        order += 1
    return order


def _valid_object_size(text: str) -> str:
    """As rbd (a typed option): a bad ``--journal-object-size`` is refused while the line is parsed."""
    parse_object_size(text)
    return text


def mirror_image_enabled(pool: Pool, image: str) -> bool:
    """Whether ``rbd_mirroring`` holds an enabled (or disabling) mirror record for the image."""
    from ..format.cls_rbd import IMAGE_DISABLING, IMAGE_ENABLED
    from ..mirroring import read_mirror_pool

    record = read_mirror_pool(pool).images.get(image)
    return record is not None and record.state in (IMAGE_DISABLING, IMAGE_ENABLED)


@main.group("feature")
def feature_group() -> None:
    """Enable or disable image features that journaltools manages (journaling, mirroring)."""


@feature_group.command("enable")
@click.argument("image_spec", metavar="<image-spec>")
@click.argument("features", nargs=-1, metavar="<features>...")
@image_spec_options
@click.option("--journal-splay-width", type=click.IntRange(1, 255), default=4, show_default=True,
              help="Number of active journal objects.")
@click.option("--journal-object-size", default="16M", show_default=True,
              callback=lambda _ctx, _param, value: _valid_object_size(value),
              help="Size of journal objects [4K <= size <= 64M] (B/K/M suffix).")
@click.option("--journal-pool", "--journal-object-pool", "journal_pool", metavar="POOL",
              help="Pool for journal objects (default: the image's pool).")
@click.option("--force", is_flag=True, help="Change the image even if a client has it open.")
@pass_app
def enable(app: AppContext, image_spec: str, features: tuple[str, ...], pool: str | None, namespace: str | None,
           image: str | None, journal_splay_width: int, journal_object_size: str, journal_pool: str | None,
           force: bool) -> None:
    """Enable the specified image feature (journaling, or mirroring = mirror image enable).

    Creates the journal exactly as librbd does: header geometry, the image client
    "" with its image client data, and the first tag.
    """
    image_spec_names(image_spec, pool, namespace, image)  # as rbd: the spec is checked before the feature names
    _check_features(features)
    order = parse_object_size(journal_object_size)  # rbd refuses a bad size before it opens anything
    header_pool, iid, name = resolve_image(app, image_spec, pool, namespace, image)
    hold_image(header_pool, iid, force, ignore_mirror_daemon=features == ("mirroring",))
    current = rbd_image.get_features(header_pool, iid)
    if features == ("mirroring",):  # alias of mirror image enable
        from ..mirror_changes import enable_journaling, image_enable

        enable_journaling(header_pool, iid)
        image_enable(header_pool, iid)
        return
    if current & rbd_image.JOURNALING:
        raise SpecError(f"journaling is already enabled on image {name}")
    if not current & rbd_image.EXCLUSIVE_LOCK:
        raise SpecError(f"cannot enable journaling on image {name}: exclusive-lock must be enabled first")
    pool_id = -1  # as librbd: a named --journal-pool is recorded even when it is the image's pool
    if journal_pool:
        pool_id = app.store().pool(journal_pool).pool_id
    create_journal(header_pool, iid, Geometry(order, journal_splay_width, pool_id))
    rbd_image.set_features(header_pool, iid, rbd_image.JOURNALING, rbd_image.JOURNALING)
    from ..format.cls_rbd import MIRROR_MODE_POOL
    from ..mirroring import read_mirror_pool

    if read_mirror_pool(header_pool).mode == MIRROR_MODE_POOL:  # as librbd: pool mode mirrors a journaled image
        from ..mirror_changes import image_enable

        image_enable(header_pool, iid, pool_mode_ok=True)


@feature_group.command("disable")
@click.argument("image_spec", metavar="<image-spec>")
@click.argument("features", nargs=-1, metavar="<features>...")
@image_spec_options
@click.option("--force", is_flag=True, help="Change the image even if a client has it open.")
@pass_app
def disable(app: AppContext, image_spec: str, features: tuple[str, ...], pool: str | None, namespace: str | None,
            image: str | None, force: bool) -> None:
    """Disable the specified image feature (journaling, refused while mirrored; or mirroring)."""
    image_spec_names(image_spec, pool, namespace, image)  # as rbd: the spec is checked before the feature names
    _check_features(features)
    header_pool, iid, name = resolve_image(app, image_spec, pool, namespace, image)
    hold_image(header_pool, iid, force, ignore_mirror_daemon=features == ("mirroring",))
    if features == ("mirroring",):  # alias of mirror image disable
        from ..mirror_changes import image_disable

        image_disable(header_pool, iid)
        return
    current = rbd_image.get_features(header_pool, iid)
    if not current & rbd_image.JOURNALING:
        raise SpecError(f"journaling is not enabled on image {name}")
    if mirror_image_enabled(header_pool, iid):
        raise SpecError(f"cannot disable journaling on image {name}: image mirroring is enabled (disable mirroring first)")
    with contextlib.suppress(NotFoundError):  # a bit set without a journal: just clear it
        remove_journal(Journal.open(header_pool, iid))
    rbd_image.set_features(header_pool, iid, 0, rbd_image.JOURNALING)


def _check_features(features: tuple[str, ...]) -> None:
    """journaling (or mirroring) alone; any other feature is the real rbd's (run as rbd, it gets the command)."""
    from ..rbd_cli import DelegateToRbd

    if not features:
        raise SpecError("at least one feature name must be specified")
    unknown = [f for f in features if f not in ("journaling", "mirroring")]
    if unknown:
        raise DelegateToRbd(f"journaltools manages only the journaling and mirroring features here, not "
                            f"{', '.join(unknown)} (use rbd feature enable|disable for those)")
    if len(features) != 1:
        raise DelegateToRbd("give one feature at a time (journaling or mirroring)")
