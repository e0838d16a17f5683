"""Consistency groups as Ceph stores them (src/cls/rbd/cls_rbd.cc, namespace ``group``; src/librbd/api/Group.cc).

``rbd_group_directory`` maps ``name_<name>`` -> id and ``id_<id>`` -> name; the
header ``rbd_group_header.<id>`` holds ``image_<pool id hex16>_<image id>`` -> u8
link state and ``snapshot_<id>`` -> GroupSnapshot; a member image's header holds
``rbd_group_ref`` -> GroupSpec.  Changes go through the cls_rbd methods (offline:
their emulation), in librbd's order, so a crash leaves a state rbd can read
(an image link marked incomplete).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from construct import Struct

from .errors import ExistsError, JournalToolsError, NotFoundError, SpecError
from .format import lookup
from .format.cls_rbd import (
    GROUP_IMAGE_ATTACHED,
    GROUP_IMAGE_INCOMPLETE,
    GROUP_IMAGE_STATE_NAMES,
    GROUP_SNAP_COMPLETE,
    GROUP_SNAP_STATE_NAMES,
    RBD_GROUP_DIRECTORY,
    RBD_GROUP_HEADER_PREFIX,
    GroupImageSpec,
    GroupSpec,
    parse_group_image_key,
)
from .format.primitives import CephString, decode, encode
from .spec import RBD_HEADER_PREFIX, image_name
from .store.base import Pool

# cls_rbd group method inputs (src/cls/rbd/cls_rbd_client.cc)
DIR_ADD_ARGS = Struct("name" / CephString(), "id" / CephString())
DIR_RENAME_ARGS = Struct("src" / CephString(), "dest" / CephString(), "id" / CephString())
GROUP_IMAGE_SET_ARGS = Struct("status" / lookup("cls::rbd::GroupImageStatus").construct)
GROUP_IMAGE_REMOVE_ARGS = Struct("spec" / GroupImageSpec)
IMAGE_GROUP_ARGS = Struct("group" / GroupSpec)
GROUP_SNAP_SET_ARGS = Struct("snapshot" / lookup("cls::rbd::GroupSnapshot").construct)
GROUP_SNAP_REMOVE_ARGS = Struct("snap_id" / CephString())


def header_oid(group_id: str) -> str:
    return RBD_GROUP_HEADER_PREFIX + group_id


def list_groups(pool: Pool) -> dict[str, str]:
    """name -> id, in name order (as ``rbd group list``)."""
    try:
        omap = pool.omap(RBD_GROUP_DIRECTORY)
    except NotFoundError:
        return {}
    return {k[len("name_"):]: str(decode(CephString(), v)) for k, v in sorted(omap.items()) if k.startswith("name_")}


def group_id(pool: Pool, name: str) -> str:
    groups = list_groups(pool)
    if name not in groups:
        raise NotFoundError(f"group {name} does not exist in pool {pool.describe()}")
    return groups[name]


@dataclass
class GroupImage:
    pool_id: int
    pool: str
    namespace: str
    image_id: str
    image: str
    state: int

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "pool": self.pool, "namespace": self.namespace, "state": self.state}

    def text(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        state = "" if self.state == GROUP_IMAGE_ATTACHED else GROUP_IMAGE_STATE_NAMES.get(self.state, str(self.state))
        return f"{self.pool}/{ns}{self.image} {state}"


def group_images(pool: Pool, gid: str) -> list[GroupImage]:
    omap = pool.omap(header_oid(gid))
    out = []
    for key, raw in omap.items():
        if not key.startswith("image_"):
            continue
        pool_id, iid = parse_group_image_key(key)
        try:
            image_pool = pool.store.pool_by_id(pool_id, pool.namespace)
            pool_name = image_pool.name
            name = image_name(image_pool, iid)
        except NotFoundError:
            pool_name, name = f"<missing image pool {pool_id}>", iid
        out.append(GroupImage(pool_id, pool_name, pool.namespace, iid, name, raw[0] if raw else -1))
    return sorted(out, key=lambda i: (i.pool_id, i.image))


def group_snapshots(pool: Pool, gid: str) -> list[Any]:
    record = lookup("cls::rbd::GroupSnapshot")
    return [record.decode(v) for k, v in sorted(pool.omap(header_oid(gid)).items()) if k.startswith("snapshot_")]


def snapshot_state_name(state: int) -> str:
    # rbd 16.2 prints "ok" for a complete group snapshot (fixtures/golden/site-a/group-snap-list-cg1.json)
    return "ok" if state == 1 else GROUP_SNAP_STATE_NAMES.get(state, str(state))


def group_info(pool: Pool, name: str) -> dict[str, Any]:
    gid = group_id(pool, name)
    return {
        "group_name": name,
        "group_id": gid,
        "images": [dict(i.to_json(), image_id=i.image_id, state_name=GROUP_IMAGE_STATE_NAMES.get(i.state, str(i.state)))
                   for i in group_images(pool, gid)],
        "snapshots": [{"id": s.id, "name": s.name, "state": snapshot_state_name(s.state),
                       "images": [{"pool": p.pool, "image_id": p.image_id, "snap_id": p.snap_id} for p in s.snaps]}
                      for s in group_snapshots(pool, gid)],
    }


# -- changes, through cls_rbd methods ------------------------------------------------------
def _exec(pool: Pool, oid: str, method: str, con: Any, args: Any) -> bytes:
    return pool.execute(oid, "rbd", method, encode(con, args, type_name=f"rbd.{method} input"))


def new_group_id() -> str:
    """An id like librbd's (hex digits; cls requires alphanumerics)."""
    return secrets.token_hex(6)


def create_group(pool: Pool, name: str) -> str:
    if not name:
        raise SpecError("group name was not specified")
    if name in list_groups(pool):
        raise ExistsError(f"group {name} already exists")
    gid = new_group_id()
    pool.create(header_oid(gid), exclusive=True)
    try:
        _exec(pool, RBD_GROUP_DIRECTORY, "group_dir_add", DIR_ADD_ARGS, {"name": name, "id": gid})
    except BaseException:
        pool.remove(header_oid(gid))
        raise
    return gid


def rename_group(pool: Pool, src: str, dest: str) -> None:
    gid = group_id(pool, src)
    _exec(pool, RBD_GROUP_DIRECTORY, "group_dir_rename", DIR_RENAME_ARGS, {"src": src, "dest": dest, "id": gid})


def _image_header_pool(pool: Pool, pool_id: int) -> Pool:
    return pool.store.pool_by_id(pool_id, pool.namespace)


def add_image(pool: Pool, group: str, image_pool: Pool, iid: str) -> None:
    """librbd order: link INCOMPLETE in the group, group ref on the image, then ATTACHED."""
    gid = group_id(pool, group)
    spec = {"image_id": iid, "pool_id": image_pool.pool_id}
    _exec(pool, header_oid(gid), "group_image_set", GROUP_IMAGE_SET_ARGS,
          {"status": {"spec": spec, "state": GROUP_IMAGE_INCOMPLETE}})
    try:
        _exec(image_pool, RBD_HEADER_PREFIX + iid, "image_group_add", IMAGE_GROUP_ARGS,
              {"group": {"pool_id": pool.pool_id, "group_id": gid}})
    except JournalToolsError:
        # the image is in another group (or gone): take the incomplete link back
        _exec(pool, header_oid(gid), "group_image_remove", GROUP_IMAGE_REMOVE_ARGS, {"spec": spec})
        raise
    _exec(pool, header_oid(gid), "group_image_set", GROUP_IMAGE_SET_ARGS,
          {"status": {"spec": spec, "state": GROUP_IMAGE_ATTACHED}})


def remove_image(pool: Pool, group: str, image_pool: Pool, iid: str) -> None:
    """librbd order: mark INCOMPLETE, drop the image's group ref, then the link."""
    gid = group_id(pool, group)
    spec = {"image_id": iid, "pool_id": image_pool.pool_id}
    if not any(i.image_id == iid and i.pool_id == image_pool.pool_id for i in group_images(pool, gid)):
        raise NotFoundError(f"image {iid} is not in group {group}")
    _exec(pool, header_oid(gid), "group_image_set", GROUP_IMAGE_SET_ARGS,
          {"status": {"spec": spec, "state": GROUP_IMAGE_INCOMPLETE}})
    with contextlib.suppress(NotFoundError):  # no ref on the image (an earlier add crashed): finish the removal
        _exec(image_pool, RBD_HEADER_PREFIX + iid, "image_group_remove", IMAGE_GROUP_ARGS,
              {"group": {"pool_id": pool.pool_id, "group_id": gid}})
    _exec(pool, header_oid(gid), "group_image_remove", GROUP_IMAGE_REMOVE_ARGS, {"spec": spec})


def remove_group(pool: Pool, name: str) -> bool:
    """Remove a group as librbd does: its snapshots (image snapshots too), then its images' links, then itself.

    The images stay (only their link to the group goes).  False when there is no
    such group (rbd's ``group remove`` then succeeds without doing anything).
    """
    try:
        gid = group_id(pool, name)
    except NotFoundError:
        return False
    for snap in group_snapshots(pool, gid):
        remove_group_snapshot(pool, name, snap.name)
    for image in group_images(pool, gid):
        remove_image(pool, name, _image_header_pool(pool, image.pool_id), image.image_id)
    with contextlib.suppress(NotFoundError):
        pool.remove(header_oid(gid))
    _exec(pool, RBD_GROUP_DIRECTORY, "group_dir_remove", DIR_ADD_ARGS, {"name": name, "id": gid})
    return True


# -- group snapshots (src/librbd/api/Group.cc snap_create/remove/rename/rollback) ----------------
def _snapshot_by_name(pool: Pool, gid: str, snap_name: str) -> Any:
    for snap in group_snapshots(pool, gid):
        if snap.name == snap_name:
            return snap
    raise NotFoundError(f"group snapshot {snap_name} does not exist")


def _set_snapshot(pool: Pool, gid: str, record: dict[str, Any]) -> None:
    _exec(pool, header_oid(gid), "group_snap_set", GROUP_SNAP_SET_ARGS, {"snapshot": record})


def _librbd_group(pool: Pool, name: str) -> Any:
    """librbd's view of the group (python3-rbd) on a live cluster, None offline.

    Image snapshots (their snapshot ids, object maps, journal events, data rollback)
    are librbd's own work: on a live cluster it does them, exactly as rbd does.
    """
    ioctx = getattr(pool, "ioctx", None)
    if ioctx is None:
        return None
    try:
        import rbd
    except ImportError:
        return None
    return rbd.Group(ioctx, name)


def _needs_librbd(what: str, name: str) -> JournalToolsError:
    return JournalToolsError(f"{what} of group {name} needs its images' snapshots, which only a live cluster "
                             "(librbd) can take: run it against the cluster", errno=95)


def _librbd_call(call: Any, *args: Any) -> None:
    import rbd

    try:
        call(*args)
    except rbd.Error as exc:
        raise JournalToolsError(str(exc), errno=abs(getattr(exc, "errno", 0) or 5)) from None


def create_group_snapshot(pool: Pool, name: str, snap_name: str, flags: int = 0) -> None:
    """``rbd group snap create``: an incomplete record, each image's snapshot, then the complete record."""
    gid = group_id(pool, name)
    if any(s.name == snap_name for s in group_snapshots(pool, gid)):
        raise ExistsError(f"group snapshot {snap_name} already exists")
    images = group_images(pool, gid)
    live = _librbd_group(pool, name)
    if live is not None:
        _librbd_call(live.create_snap, snap_name, flags)
        return
    if images:
        raise _needs_librbd("a snapshot", name)
    _set_snapshot(pool, gid, {"id": new_group_id(), "name": snap_name, "state": GROUP_SNAP_COMPLETE, "snaps": []})


def remove_group_snapshot(pool: Pool, name: str, snap_name: str) -> None:
    """``rbd group snap remove``: each image's snapshot of it, then the record."""
    gid = group_id(pool, name)
    snap = _snapshot_by_name(pool, gid, snap_name)
    live = _librbd_group(pool, name)
    if live is not None:
        _librbd_call(live.remove_snap, snap_name)
        return
    if snap.snaps:
        raise _needs_librbd("removing a snapshot", name)
    _exec(pool, header_oid(gid), "group_snap_remove", GROUP_SNAP_REMOVE_ARGS, {"snap_id": snap.id})


def rename_group_snapshot(pool: Pool, name: str, snap_name: str, dest_name: str) -> None:
    """``rbd group snap rename``: only the record changes (the image snapshots are named by its id)."""
    gid = group_id(pool, name)
    snaps = group_snapshots(pool, gid)
    if any(s.name == dest_name for s in snaps):
        raise ExistsError(f"group snapshot {dest_name} already exists")
    snap = _snapshot_by_name(pool, gid, snap_name)
    record = {"id": snap.id, "name": dest_name, "state": snap.state,
              "snaps": [{"pool": p.pool, "image_id": p.image_id, "snap_id": p.snap_id} for p in snap.snaps]}
    _set_snapshot(pool, gid, record)


def rollback_group_snapshot(pool: Pool, name: str, snap_name: str, progress: Any = None) -> None:
    """``rbd group snap rollback``: every image back to its snapshot of the group snapshot (librbd's rollback)."""
    gid = group_id(pool, name)
    snap = _snapshot_by_name(pool, gid, snap_name)
    live = _librbd_group(pool, name)
    if live is not None:
        _librbd_call(live.rollback_to_snap, snap_name)
        return
    if snap.snaps:
        raise _needs_librbd("a rollback", name)
