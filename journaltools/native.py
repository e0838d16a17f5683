"""The one switch between the native core (journaltools/_native.c) and its pure-Python reference.

:func:`core` returns the C extension, or None when it is not built (an install without a
compiler) or ``JOURNALTOOLS_PURE_PYTHON`` is set to anything but empty or ``0``.  Each
hot spot picks its implementation once, at import, from this answer:
``journal/scan.py`` (``_ok_run``: the run of well-formed frames),
``format/event_fastpath.py`` (``fast_event_type``) and ``journal/walk.py`` (``_replay_run``:
the replay's run of in-sequence entries; ``_order_run``: the order check of an object's
healthy frames).  The Python functions stay the reference; tests/test_native_core.py runs
both on the same inputs.
"""

from __future__ import annotations

import os
from functools import cache
from types import ModuleType


@cache
def core() -> ModuleType | None:
    if os.environ.get("JOURNALTOOLS_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from . import _native  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _native  # type: ignore[no-any-return]
