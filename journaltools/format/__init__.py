"""The binary-format layer: construct declarations of every Ceph record journaltools reads or writes.

``lookup``, ``all_types`` and ``RecordType`` import every declaration module on first
use, which registers every record type (see :mod:`.registry`).  Importing the package
itself, or one of its construct-free modules (:mod:`.crc`, :mod:`.frame`,
:mod:`.header_fastpath`), does not import construct: start-up time is part of every
command's time (tests/test_cli_lazy_loading.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import RecordType, all_types, lookup

__all__ = ["BytesLike", "RecordType", "all_types", "lookup"]

#: what decoders accept: bytes, or a view into a larger buffer (the walk hands out views)
BytesLike = bytes | memoryview

#: the modules that register records (imported by the first ``lookup``/``all_types``)
DECLARATION_MODULES = ("cls_journal", "cls_rbd", "journal_entry", "librbd_journal", "snapshot_namespace")


def __getattr__(name: str) -> Any:
    if name in ("RecordType", "all_types", "lookup"):
        import importlib

        for module in DECLARATION_MODULES:
            importlib.import_module(f"{__name__}.{module}")
        from . import registry
        from .journal_entry import Entry  # noqa: F401  (declared, and so registered, on first use)

        value = getattr(registry, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
