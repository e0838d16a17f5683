"""Every cls_rbd omap value in the real site-a/site-b pool dumps decodes and re-encodes byte for byte."""

from __future__ import annotations

import base64
import json

import pytest

from journaltools.format import lookup
from journaltools.format.cls_rbd import parse_group_image_key
from journaltools.format.primitives import CephString, decode, encode, u8, u32, u64

from .journal_factory import FIXTURES

RECORDS = {
    "mirror_peer_": "cls::rbd::MirrorPeer",
    "image_map_": "cls::rbd::MirrorImageMap",
    "image_": "cls::rbd::MirrorImage",
    "status_global_": "cls::rbd::MirrorImageSiteStatusOnDisk",
    "remote_status_global_": "cls::rbd::MirrorImageSiteStatusOnDisk",
    "snapshot_": "cls_rbd_snap",
    "rbd_group_ref": "cls::rbd::GroupSpec",
    "parent": "cls_rbd_parent",
}
PLAIN = {"mirror_mode": u32, "features": u64, "size": u64, "order": u8, "snap_seq": u64, "object_prefix": CephString(),
         "global_": CephString(), "name_": CephString(), "id_": CephString()}


def omap_files():
    return sorted(FIXTURES.glob("stores/site-*/rbd/omap/rbd_*.json"))


@pytest.mark.parametrize("path", omap_files(), ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_real_cls_rbd_values_round_trip(path):
    omap = {k: base64.b64decode(v) for k, v in json.loads(path.read_text()).items()}
    checked = 0
    group_header = path.name.startswith("rbd_group_header.")
    for key, raw in omap.items():
        if group_header and key.startswith("image_"):
            pool_id, image_id = parse_group_image_key(key)
            assert pool_id >= 0 and image_id and raw in (b"\x00", b"\x01")
            checked += 1
            continue
        if group_header and key.startswith("snapshot_"):
            record = lookup("cls::rbd::GroupSnapshot")
        else:
            name = next((RECORDS[p] for p in sorted(RECORDS, key=len, reverse=True) if key.startswith(p)), None)
            if name is None:
                con = next((PLAIN[p] for p in sorted(PLAIN, key=len, reverse=True) if key.startswith(p)), None)
                if con is not None:
                    assert encode(con, decode(con, raw)) == raw
                    checked += 1
                continue
            record = lookup(name)
        value = record.decode(raw)
        assert record.encode(value) == raw
        assert record.encode(record.from_json(json.loads(json.dumps(record.to_json(value))))) == raw
        checked += 1
    assert checked or not omap


def test_mirroring_records_of_site_a_read_as_expected():
    omap = json.loads((FIXTURES / "stores/site-a/rbd/omap/rbd_mirroring.json").read_text())
    image = lookup("cls::rbd::MirrorImage").decode(base64.b64decode(omap["image_10556543e48c"]))
    assert image.global_image_id == "5219aace-75cb-4072-8452-3393b993dee2" and image.state == 1 and image.mode == 0
    assert decode(u32, base64.b64decode(omap["mirror_mode"])) == 1
