"""Offline emulation of Ceph object-class methods, dispatched by (class, method).

Each emulation module registers handlers with :func:`method`; a handler gets the
pool, the object id and the encoded input, and returns the encoded output, raising
the :mod:`journaltools.errors` class that matches Ceph's errno on failure.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import JournalToolsError

if TYPE_CHECKING:
    from ...store.base import Pool

Handler = Callable[["Pool", str, bytes], bytes]

_METHODS: dict[tuple[str, str], Handler] = {}


def method(cls: str, name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        _METHODS[(cls, name)] = func
        return func

    return register


def run_method(pool: Pool, oid: str, cls: str, name: str, data: bytes) -> bytes:
    if not _METHODS:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
    handler = _METHODS.get((cls, name))
    if handler is None:
        raise JournalToolsError(f"object class method {cls}.{name} is not emulated offline", errno=95)
    return handler(pool, oid, data)
