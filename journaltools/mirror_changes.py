"""Changing mirroring state as librbd does: pool mode and peers, image enable/disable,
promote, demote and resync.

Pool and image records change through cls_rbd methods (src/cls/rbd/cls_rbd.cc:
``mirror_uuid_set``, ``mirror_mode_set``, ``mirror_peer_add|remove``,
``mirror_image_set|remove``).  Promote and demote write the journal tags librbd
writes (src/librbd/journal/PromoteRequest.cc, DemoteRequest.cc): a new tag in the
image client's tag class whose TagData names the new owner and links the previous
epoch, then one Demote/Promote event in the new epoch, committed by the image client.
Demote is preceded by the local tag librbd allocates when it takes the exclusive lock
(src/librbd/Journal.cc ``allocate_local_tag``), as ``rbd mirror image demote`` does.
"""

from __future__ import annotations

import contextlib
import errno as E
import uuid
from typing import Any

from construct import Struct

from .cls import journal as cls_journal
from .errors import BusyError, FormatError, JournalToolsError, NotFoundError, SpecError
from .format import lookup
from .format.cls_rbd import (
    IMAGE_DISABLING,
    IMAGE_ENABLED,
    IMAGE_MODE_JOURNAL,
    MIRROR_MODE_DISABLED,
    MIRROR_MODE_IMAGE,
    MIRROR_MODE_NAMES,
    MIRROR_MODE_POOL,
    RBD_MIRRORING,
)
from .format.librbd_journal import (
    DEMOTE_PROMOTE,
    IMAGE_CLIENT,
    IMAGE_CLIENT_ID,
    LOCAL_MIRROR_UUID,
    ORPHAN_MIRROR_UUID,
    decode_client_data,
    decode_tag_data,
    make_event,
    make_image_client_data,
    make_tag_data,
)
from .format.primitives import CephString, encode, u32
from .journal import Journal, Position
from .journal.writer import JournalWriter
from .mirroring import read_mirror_pool
from .spec import RBD_DIRECTORY
from .store.base import Pool

UUID_ARGS = Struct("uuid" / CephString())
MODE_ARGS = Struct("mode" / u32)
PEER_ARGS = Struct("peer" / lookup("cls::rbd::MirrorPeer").construct)
IMAGE_SET_ARGS = Struct("image_id" / CephString(), "image" / lookup("cls::rbd::MirrorImage").construct)
IMAGE_ID_ARGS = Struct("image_id" / CephString())
JOURNALING = 64


def _exec(pool: Pool, method: str, con: Any, args: Any) -> None:
    pool.execute(RBD_MIRRORING, "rbd", method, encode(con, args, type_name=f"rbd.{method} input"))


#: librbd's MirroringWatcher notifications on ``rbd_mirroring`` (librbd/mirroring_watcher/Types.h): an
#: rbd-mirror daemon watching the pool acts on them at once, instead of at its next periodic rescan
NOTIFY_OP_MODE_UPDATED, NOTIFY_OP_IMAGE_UPDATED = 0, 1
IMAGE_DISABLED = 2


def _notify_mirroring(pool: Pool, op: int, body: bytes) -> None:
    """Send a MirroringWatcher NotifyMessage (versioned 1/1: the op, then its payload); no watcher is no error."""
    payload = op.to_bytes(4, "little") + body
    message = bytes([1, 1]) + len(payload).to_bytes(4, "little") + payload
    with contextlib.suppress(JournalToolsError, NotImplementedError):  # as librbd: a failed notify undoes nothing
        pool.notify(RBD_MIRRORING, message)  # every byte below 0x80 (short ASCII ids): python-rados sends it as is


def notify_image_updated(pool: Pool, state: int, image_id: str, global_image_id: str) -> None:
    _notify_mirroring(pool, NOTIFY_OP_IMAGE_UPDATED, state.to_bytes(4, "little") + encode(CephString(), image_id)
                      + encode(CephString(), global_image_id))


def notify_mode_updated(pool: Pool, mode: int) -> None:
    _notify_mirroring(pool, NOTIFY_OP_MODE_UPDATED, mode.to_bytes(4, "little"))


# -- pool ------------------------------------------------------------------------------
def set_remote_namespace(pool: Pool, remote_namespace: str | None) -> None:
    """Tentacle's rbd, before it sets an image or pool mode: the remote namespace (``--remote-namespace``, else
    this namespace's own name) is refused (EINVAL) while mirroring is enabled with another one, and stored
    only while mirroring is disabled and when given (measured with rbd 20.2.4)."""
    state = read_mirror_pool(pool)
    wanted = pool.namespace if remote_namespace is None else remote_namespace
    current = pool.namespace if state.remote_namespace is None else state.remote_namespace
    if state.mode != MIRROR_MODE_DISABLED and wanted != current:
        raise JournalToolsError(f"the remote namespace is {current!r}, not {wanted!r}, while mirroring is enabled",
                                errno=E.EINVAL)
    if state.mode == MIRROR_MODE_DISABLED and remote_namespace is not None:
        _exec(pool, "mirror_remote_namespace_set", UUID_ARGS, {"uuid": remote_namespace})


def pool_enable(pool: Pool, mode: int) -> str:
    """Enable image, pool (or Tentacle's init-only) mode; returns a note when the mode changes or is already set."""
    state = read_mirror_pool(pool)
    if state.mode == mode:
        return f"rbd: mirroring is already configured for {MIRROR_MODE_NAMES[mode]} mode"
    note = ""
    if {state.mode, mode} == {MIRROR_MODE_IMAGE, MIRROR_MODE_POOL}:
        note = f"note: changing mirroring mode from {MIRROR_MODE_NAMES[state.mode]} to {MIRROR_MODE_NAMES[mode]}"
    if not state.mirror_uuid:
        _exec(pool, "mirror_uuid_set", UUID_ARGS, {"uuid": str(uuid.uuid4())})
    _exec(pool, "mirror_mode_set", MODE_ARGS, {"mode": mode})
    notify_mode_updated(pool, mode)
    if mode == MIRROR_MODE_POOL:  # librbd enables every journaled image of the pool
        for image_id in _journaled_images(pool):
            if image_id not in read_mirror_pool(pool).images:
                image_enable(pool, image_id, pool_mode_ok=True)
    return note


def pool_disable(pool: Pool) -> str:
    state = read_mirror_pool(pool)
    if state.mode == MIRROR_MODE_DISABLED:
        return "rbd: mirroring is already disabled"
    enabled = [i for i, rec in state.images.items() if rec.state == IMAGE_ENABLED]
    if state.peers:  # librbd Mirror::mode_set checks the peers first (EBUSY), then the images (EINVAL)
        raise BusyError(f"mirror peers still registered ({len(state.peers)}): remove them first")
    if state.mode == MIRROR_MODE_IMAGE and enabled:
        raise SpecError(f"mirroring is enabled on {len(enabled)} images: disable it on them first")
    for image_id in enabled:
        image_disable(pool, image_id, force=True)
    _exec(pool, "mirror_mode_set", MODE_ARGS, {"mode": MIRROR_MODE_DISABLED})
    notify_mode_updated(pool, MIRROR_MODE_DISABLED)
    return ""


def peer_add(pool: Pool, site_name: str, client_name: str, direction: int) -> str:
    peer_uuid = str(uuid.uuid4())
    _exec(pool, "mirror_peer_add", PEER_ARGS, {"peer": {
        "uuid": peer_uuid, "site_name": site_name, "client_name": client_name, "pool_id": -1,
        "mirror_peer_direction": direction, "mirror_uuid": "", "last_seen": {"sec": 0, "nsec": 0}}})
    return peer_uuid


def peer_remove(pool: Pool, peer_uuid: str) -> None:
    pool.execute(RBD_MIRRORING, "rbd", "mirror_peer_remove", encode(CephString(), peer_uuid))


def _journaled_images(pool: Pool) -> list[str]:
    from .cls.rbd_image import get_features

    try:
        names = pool.omap(RBD_DIRECTORY)
    except NotFoundError:
        return []
    out = []
    for key, _raw in sorted(names.items()):
        if key.startswith("id_"):
            image_id = key[3:]
            try:
                if get_features(pool, image_id) & JOURNALING:
                    out.append(image_id)
            except NotFoundError:
                continue
    return out


# -- image -----------------------------------------------------------------------------
def image_enable(pool: Pool, image_id: str, pool_mode_ok: bool = False) -> None:
    from .cls.rbd_image import get_features

    state = read_mirror_pool(pool)
    if state.mode == MIRROR_MODE_DISABLED:
        raise SpecError("mirroring not enabled on the pool")
    if state.mode == MIRROR_MODE_POOL and not pool_mode_ok:
        raise SpecError("cannot enable mirroring in the current pool mirroring mode (pool): it is automatic")
    if not get_features(pool, image_id) & JOURNALING:
        raise SpecError("cannot enable journal-based mirroring: the image does not have journaling enabled")
    record = state.images.get(image_id)
    if record is not None and record.state == IMAGE_ENABLED:
        return
    global_image_id = str(uuid.uuid4())
    _exec(pool, "mirror_image_set", IMAGE_SET_ARGS, {"image_id": image_id, "image": {
        "global_image_id": global_image_id, "state": IMAGE_ENABLED, "mode": IMAGE_MODE_JOURNAL}})
    notify_image_updated(pool, IMAGE_ENABLED, image_id, global_image_id)


def enable_journaling(pool: Pool, image_id: str) -> None:
    """``mirror image enable IMAGE journal`` of an image without journaling: librbd (Mirror::image_enable, 16.2.15,
    measured) enables the feature first, with the default journal (order 24, splay width 4, the image's pool),
    and exclusive-lock with it when that is off too (image mode only)."""
    from .cls import rbd_image
    from .journal.lifecycle import Geometry, create_journal

    features = rbd_image.get_features(pool, image_id)
    if features & JOURNALING or read_mirror_pool(pool).mode != MIRROR_MODE_IMAGE:
        return  # already there; else image_enable refuses as before (pool not in image mode)
    wanted = JOURNALING | (0 if features & rbd_image.EXCLUSIVE_LOCK else rbd_image.EXCLUSIVE_LOCK)
    create_journal(pool, image_id, Geometry())
    rbd_image.set_features(pool, image_id, wanted, wanted)


def _disable_journaling(pool: Pool, image_id: str) -> None:
    """librbd disables the journaling feature with journal-based mirroring (``mirror image disable``, and
    ``mirror pool disable`` for each image: 16.2, measured): the journal goes, the feature bit is cleared."""
    from .cls import rbd_image
    from .journal.lifecycle import remove_journal

    if not rbd_image.get_features(pool, image_id) & JOURNALING:
        return
    with contextlib.suppress(NotFoundError):  # a bit set without a journal: just clear it
        remove_journal(Journal.open(pool, image_id))
    rbd_image.set_features(pool, image_id, 0, JOURNALING)


def image_disable(pool: Pool, image_id: str, force: bool = False) -> None:
    state = read_mirror_pool(pool)
    record = state.images.get(image_id)
    if record is None:
        raise SpecError("mirroring not enabled on the image")
    if not force and not is_primary(pool, image_id):
        raise SpecError("mirrored image is not primary: use --force to disable mirroring anyway")
    _exec(pool, "mirror_image_set", IMAGE_SET_ARGS, {"image_id": image_id, "image": {
        "global_image_id": record.global_image_id, "state": IMAGE_DISABLING,
        "mode": record.mode if record.mode is not None else IMAGE_MODE_JOURNAL}})
    _exec(pool, "mirror_image_remove", IMAGE_ID_ARGS, {"image_id": image_id})
    notify_image_updated(pool, IMAGE_DISABLED, image_id, record.global_image_id)
    if record.mode is None or record.mode == IMAGE_MODE_JOURNAL:
        _disable_journaling(pool, image_id)


def _image_client(journal: Journal) -> tuple[Any, int, bool]:
    client = journal.header.client(IMAGE_CLIENT_ID)
    if client is None or not client.data:
        raise SpecError(f"journal {journal.journal_id} has no image client")
    data = decode_client_data(client.data)
    if data.client_meta_type != IMAGE_CLIENT:
        raise FormatError(f"journal {journal.journal_id}: the image client's data is not image client data")
    return client, int(data.client_meta.tag_class), bool(data.client_meta.resync_requested)


def current_tag(journal: Journal) -> tuple[int, str]:
    """(tid, owner mirror uuid) of the newest tag of the image client's class."""
    _, tag_class, _ = _image_client(journal)
    tags = [t for t in journal.header.tags if t.tag_class == tag_class]
    if not tags:
        raise SpecError(f"journal {journal.journal_id} has no tag of the image's tag class {tag_class}")
    newest = tags[-1]
    return newest.tid, decode_tag_data(newest.data).mirror_uuid


def is_primary(pool: Pool, image_id: str) -> bool:
    try:
        return current_tag(Journal.open(pool, image_id))[1] == LOCAL_MIRROR_UUID
    except NotFoundError:
        return False


def _new_epoch(journal: Journal, owner: str, predecessor: tuple[str, bool, int, int]) -> Position:
    """Allocate the epoch's tag, append the Demote/Promote event, commit it for the image client."""
    client, tag_class, _ = _image_client(journal)
    tag = cls_journal.allocate_tag(journal.header_pool, journal.header_oid, tag_class, make_tag_data(owner, *predecessor))
    writer = JournalWriter(Journal.open(journal.header_pool, journal.journal_id))
    position = writer.append(tag.tid, make_event(DEMOTE_PROMOTE))
    width = journal.splay_width
    positions = [position] + [p for p in client.commit_position
                              if p.object_number % width != position.object_number % width]
    cls_journal.client_commit(journal.header_pool, journal.header_oid, IMAGE_CLIENT_ID,
                              [(p.object_number, p.tag_tid, p.entry_tid) for p in positions[:width]])
    notify_epoch(journal)
    return position


#: librbd's image watch/notify message "header updated" (NotifyMessage v7/1, NOTIFY_OP_HEADER_UPDATE = 3),
#: as captured from rbd 16.2's mirror image promote
HEADER_UPDATE_MESSAGE = bytes([7, 1]) + (4).to_bytes(4, "little") + (3).to_bytes(4, "little")


def notify_epoch(journal: Journal) -> None:
    """Tell the image's users of the new epoch, as librbd does: libjournal notifies the journal header after
    the tag and commit (every JournalMetadata refreshes; rbd-mirror replaying into this image sees it promoted
    and stops), librbd the image header (``header updated``)."""
    for oid, message in ((journal.header_oid, b""), (f"rbd_header.{journal.journal_id}", HEADER_UPDATE_MESSAGE)):
        with contextlib.suppress(JournalToolsError, NotImplementedError):
            journal.header_pool.notify(oid, message)


def demote(pool: Pool, image_id: str) -> None:
    _require_enabled(pool, image_id)
    journal = Journal.open(pool, image_id)
    _, owner = current_tag(journal)
    if owner != LOCAL_MIRROR_UUID:
        raise JournalToolsError("image is not currently the primary", errno=E.EINVAL)
    client, tag_class, _ = _image_client(journal)
    front = client.commit_position[0] if client.commit_position else None
    predecessor = (LOCAL_MIRROR_UUID, front is not None, front.tag_tid if front else 0, front.entry_tid if front else 0)
    # rbd demotes under the exclusive lock, and a primary taking the lock opens a new local epoch
    # (Journal::allocate_local_tag, through the journal policy's allocate_tag_on_lock): its tag links
    # the image client's commit position as the demotion tag below does
    cls_journal.allocate_tag(journal.header_pool, journal.header_oid, tag_class,
                             make_tag_data(LOCAL_MIRROR_UUID, *predecessor))
    _new_epoch(journal, ORPHAN_MIRROR_UUID, predecessor)


def promote(pool: Pool, image_id: str, force: bool = False) -> None:
    _require_enabled(pool, image_id)
    journal = Journal.open(pool, image_id)
    tid, owner = current_tag(journal)
    if owner == LOCAL_MIRROR_UUID:
        raise JournalToolsError("image is already primary", errno=E.EINVAL)
    if owner != ORPHAN_MIRROR_UUID and not force:
        raise BusyError(f"image is still replaying from peer {owner} (not cleanly demoted): use --force to promote anyway")
    # librbd's Journal::promote always runs journal::PromoteRequest with force=false: --force only
    # lifts the "still primary elsewhere" refusal above, it does not change the tag written
    if owner == ORPHAN_MIRROR_UUID:
        predecessor = (ORPHAN_MIRROR_UUID, True, tid, 1)  # the demotion epoch holds a single entry
    else:
        predecessor = (LOCAL_MIRROR_UUID, True, tid, 0)  # an epoch no peer can link against
    _new_epoch(journal, LOCAL_MIRROR_UUID, predecessor)


def resync(pool: Pool, image_id: str) -> None:
    _require_enabled(pool, image_id)
    journal = Journal.open(pool, image_id)
    if current_tag(journal)[1] == LOCAL_MIRROR_UUID:
        raise JournalToolsError("image is primary, cannot resync to itself", errno=E.EINVAL)
    _, tag_class, _ = _image_client(journal)
    cls_journal.client_update_data(pool, journal.header_oid, IMAGE_CLIENT_ID,
                                   make_image_client_data(tag_class, resync_requested=True))
    # as libjournal after a client update: the header's watchers (rbd-mirror has the image open) refresh
    # and see the request at once
    with contextlib.suppress(JournalToolsError, NotImplementedError):
        pool.notify(journal.header_oid)


def _require_enabled(pool: Pool, image_id: str) -> None:
    record = read_mirror_pool(pool).images.get(image_id)
    if record is None or record.state != IMAGE_ENABLED:
        raise SpecError("mirroring not enabled on the image")
