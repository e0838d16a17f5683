"""Fill a pool with journaled images written by the real librbd (for ``journal list`` benchmarks).

usage: python3 -m benchmarks.journaled_pool CEPH_CONF POOL COUNT [WRITES]

Each image gets the journaling feature (16 MiB, splay width 4, order 24) and
``WRITES`` 4 KiB writes through librbd, so its journal has entries in its first
object set.  Prints the seconds it took.
"""

from __future__ import annotations

import sys
import time

FEATURES = 1 | 4 | 64  # layering, exclusive-lock, journaling


def fill(conf: str, pool: str, count: int, writes: int = 4, prefix: str = "img") -> float:
    import rados
    import rbd

    start = time.monotonic()
    with rados.Rados(conffile=conf) as cluster, cluster.open_ioctx(pool) as ioctx:
        existing = set(rbd.RBD().list(ioctx))
        for i in range(count):
            name = f"{prefix}{i:05d}"
            if name not in existing:
                rbd.RBD().create(ioctx, name, 16 << 20, old_format=False, features=FEATURES)
            with rbd.Image(ioctx, name) as image:
                for w in range(writes):
                    image.write(b"x" * 4096, w * 4096)  # low offsets: memstore is not sparse
    return time.monotonic() - start


if __name__ == "__main__":
    seconds = fill(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 4)
    print(f"{seconds:.1f} s")
