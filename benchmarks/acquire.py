"""Copy one journal from a live cluster into a directory store (the benchmark's fallback acquire).

``journaltools acquire`` is the real tool; this small python3-rados copy is used
when that command is not available, and writes the same layout
(journaltools/store/directory.py): ``STORE/<pool>/meta.json``, the header object
``journal.<id>`` with its omap, and every ``journal_data.<pool id>.<id>.<n>``
object (src/journal/Utils.cc names).
"""

from __future__ import annotations

import base64
from pathlib import Path

import orjson


def acquire_journal(conf: Path, pool: str, journal_id: str, store_dir: Path) -> int:
    """Copy header + data objects of ``journal_id`` in ``pool`` to ``store_dir``; returns data bytes copied."""
    import rados

    cluster = rados.Rados(conffile=str(conf))
    cluster.connect()
    copied = 0
    try:
        pool_id = cluster.pool_lookup(pool)
        pool_dir = store_dir / pool
        (pool_dir / "objects").mkdir(parents=True, exist_ok=True)
        (pool_dir / "omap").mkdir(parents=True, exist_ok=True)
        (pool_dir / "meta.json").write_bytes(
            orjson.dumps({"pool": pool, "pool_id": pool_id, "fsid": cluster.get_fsid()}) + b"\n")
        with cluster.open_ioctx(pool) as ioctx:
            header = f"journal.{journal_id}"
            with rados.ReadOpCtx() as op:
                values, _ = ioctx.get_omap_vals(op, "", "", 1 << 20)
                ioctx.operate_read_op(op, header)
                omap = {key: base64.b64encode(value).decode() for key, value in values}
            (pool_dir / "omap" / f"{header}.json").write_bytes(orjson.dumps(omap, option=orjson.OPT_SORT_KEYS))
            (pool_dir / "objects" / header).write_bytes(b"")
            prefix = f"journal_data.{pool_id}.{journal_id}."
            for obj in ioctx.list_objects():
                if not obj.key.startswith(prefix):
                    continue
                size, _ = ioctx.stat(obj.key)
                data = ioctx.read(obj.key, size) if size else b""
                (pool_dir / "objects" / obj.key).write_bytes(data)
                copied += len(data)
    finally:
        cluster.shutdown()
    return copied
