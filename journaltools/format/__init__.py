"""The binary-format layer: construct declarations of every Ceph record journaltools reads or writes.

Importing this package registers every record type (see :mod:`.registry`).
"""

from __future__ import annotations

from . import cls_journal, cls_rbd, journal_entry, librbd_journal, snapshot_namespace  # noqa: F401  (registration side effects)
from .registry import RecordType, all_types, lookup

__all__ = ["RecordType", "all_types", "lookup"]
