"""Image header methods of the ``rbd`` object class (src/cls/rbd/cls_rbd.cc) that journaltools uses."""

from __future__ import annotations

from typing import Any

from ..errors import NotFoundError
from ..format.header_fastpath import fast_u64
from ..spec import RBD_HEADER_PREFIX
from ..store.base import Pool


def set_features_args() -> Any:
    """cls ``rbd.set_features``' input: u64 features, u64 mask (construct is imported on use)."""
    from construct import Struct

    from ..format.primitives import u64

    return Struct("features" / u64, "mask" / u64)

LAYERING, STRIPING, EXCLUSIVE_LOCK, OBJECT_MAP, FAST_DIFF, DEEP_FLATTEN = 1, 2, 4, 8, 16, 32
JOURNALING, DATA_POOL, OPERATIONS, MIGRATING, NON_PRIMARY, DIRTY_CACHE = 64, 128, 256, 512, 1024, 2048
FEATURE_NAMES = {
    LAYERING: "layering", STRIPING: "striping", EXCLUSIVE_LOCK: "exclusive-lock", OBJECT_MAP: "object-map",
    FAST_DIFF: "fast-diff", DEEP_FLATTEN: "deep-flatten", JOURNALING: "journaling", DATA_POOL: "data-pool",
    OPERATIONS: "operations", MIGRATING: "migrating", NON_PRIMARY: "non-primary", DIRTY_CACHE: "dirty-cache",
}
#: src/include/rbd/features.h
FEATURES_ALL = 0xFFF
FEATURES_MUTABLE = EXCLUSIVE_LOCK | OBJECT_MAP | FAST_DIFF | JOURNALING | NON_PRIMARY
FEATURES_DISABLE_ONLY = DEEP_FLATTEN


def header_oid(image_id: str) -> str:
    return RBD_HEADER_PREFIX + image_id


def get_features(pool: Pool, image_id: str) -> int:
    """The image's ``features`` bit mask (read from the header omap)."""
    oid = header_oid(image_id)
    try:
        raw = pool.omap_get(oid, ["features"]).get("features")
    except NotFoundError:
        raw = None
    if raw is None:
        raise NotFoundError(f"image {image_id} has no header {oid} in pool {pool.describe()}")
    fast = fast_u64(raw)
    if fast is not None:
        return fast
    from ..format.primitives import decode, u64

    return int(decode(u64, raw, type_name=f"{oid} features"))


def set_features(pool: Pool, image_id: str, features: int, mask: int) -> None:
    """cls ``rbd.set_features``: set the bits of ``mask`` to their value in ``features``."""
    from ..format.primitives import encode

    pool.execute(header_oid(image_id), "rbd", "set_features",
                 encode(set_features_args(), {"features": features, "mask": mask}))


def feature_names(features: int) -> list[str]:
    return [name for bit, name in sorted(FEATURE_NAMES.items()) if features & bit]
