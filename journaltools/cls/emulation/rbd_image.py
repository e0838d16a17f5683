"""Offline emulation of the image-header methods of the ``rbd`` class (src/cls/rbd/cls_rbd.cc)."""

from __future__ import annotations

import errno as E

from ...errors import JournalToolsError
from ...format.primitives import decode, encode, u64
from ...store.base import Pool
from .. import rbd_image as img
from . import method


@method("rbd", "set_features")
def set_features(pool: Pool, oid: str, data: bytes) -> bytes:
    a = decode(img.set_features_args(), data)
    current = img.get_features(pool, oid[len(img.RBD_HEADER_PREFIX):])
    mask = a.mask & img.FEATURES_ALL
    enabled = a.features & mask
    if enabled & img.FEATURES_MUTABLE != enabled:
        raise JournalToolsError(f"features {enabled:#x} cannot be enabled on a live image", errno=E.EINVAL)
    disabled = ~a.features & mask
    if disabled & (img.FEATURES_MUTABLE | img.FEATURES_DISABLE_ONLY) != disabled:
        raise JournalToolsError(f"features {disabled:#x} cannot be disabled", errno=E.EINVAL)
    pool.omap_set(oid, {"features": encode(u64, (current & ~mask) | (a.features & mask))})
    return b""
