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


def remove_group(pool: Pool, name: str) -> None:
    gid = group_id(pool, name)
    for image in group_images(pool, gid):
        remove_image(pool, name, _image_header_pool(pool, image.pool_id), image.image_id)
    if group_snapshots(pool, gid):
        raise SpecError(f"group {name} has snapshots: remove them with rbd group snap rm first")
    _exec(pool, RBD_GROUP_DIRECTORY, "group_dir_remove", DIR_ADD_ARGS, {"name": name, "id": gid})
    pool.remove(header_oid(gid))


