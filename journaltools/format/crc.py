"""Ceph's crc32c convention on top of a hardware CRC-32C.

Ceph's ``ceph_crc32c(seed, buf, len)`` runs the Castagnoli CRC with the register
initialised to ``seed`` as is and no final inversion; the standard CRC-32C (what
the ``crc32c`` package computes) inverts both.  So
``ceph_crc32c(seed, x) == crc32c(x, seed ^ 0xffffffff) ^ 0xffffffff``.
Journal entries use seed 0 (src/journal/Entry.cc).

The ``crc32c`` package's ``__init__`` looks up its own version through
``importlib.metadata`` (about 25 ms, a tenth of a ``journal inspect`` of 200 MB);
:func:`_load_crc32c` loads its C extension directly and falls back to the plain
import if the package is laid out differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MASK = 0xFFFFFFFF


def _load_crc32c() -> Callable[..., int]:
    import importlib.machinery
    import importlib.util
    import os

    try:
        package = importlib.util.find_spec("crc32c")
        for directory in (package.submodule_search_locations or []) if package else []:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(directory, "_crc32c" + suffix)
                spec = importlib.util.spec_from_file_location("crc32c._crc32c", path) if os.path.exists(path) else None
                if spec is not None and spec.loader is not None:
                    module: Any = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
                    return module.crc32c  # type: ignore[no-any-return]
    except (ImportError, OSError):
        pass
    from crc32c import crc32c

    return crc32c


_std_crc32c = _load_crc32c()


def ceph_crc32c(data: bytes | bytearray | memoryview, seed: int = 0) -> int:
    return _std_crc32c(data, seed ^ _MASK) ^ _MASK


#: the standard CRC-32C, for hot loops that inline :func:`ceph_crc32c` with seed 0:
#: ``ceph_crc32c(x) == std_crc32c(x, STD_SEED) ^ STD_SEED``
std_crc32c = _std_crc32c
STD_SEED = _MASK
