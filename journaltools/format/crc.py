"""Ceph's crc32c convention on top of a hardware CRC-32C.

Ceph's ``ceph_crc32c(seed, buf, len)`` runs the Castagnoli CRC with the register
initialised to ``seed`` as is and no final inversion; the standard CRC-32C (what
the ``crc32c`` package computes) inverts both.  So
``ceph_crc32c(seed, x) == crc32c(x, seed ^ 0xffffffff) ^ 0xffffffff``.
Journal entries use seed 0 (src/journal/Entry.cc).
"""

from __future__ import annotations

from crc32c import crc32c as _std_crc32c

_MASK = 0xFFFFFFFF


def ceph_crc32c(data: bytes | bytearray | memoryview, seed: int = 0) -> int:
    return _std_crc32c(data, seed ^ _MASK) ^ _MASK
