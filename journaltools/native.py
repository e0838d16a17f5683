"""The one switch between the native core (journaltools/_native.c, _native_json.c) and its pure-Python reference.

:func:`core` returns the C extension, or None when it is not built (an install without a
compiler) or ``JOURNALTOOLS_PURE_PYTHON`` is set to anything but empty or ``0``.  Each
hot spot picks its implementation once, at import, from this answer:
``journal/scan.py`` (``_ok_run``: the run of well-formed frames, filled into a ``Frames``: records
of offsets into the chunks, a ``Frame`` made on first use),
``format/event_fastpath.py`` (``fast_event_type``) and ``journal/walk.py`` (``_replay_run``:
the replay's run of in-sequence entries; ``_order_run``: the order check of an object's
healthy frames).  :func:`json_core` answers the same way for the second extension, the
JSON/jsonl export records (``export.py``).  The Python functions stay the reference;
tests/test_native_core.py and tests/test_native_json.py run
both on the same inputs.
"""

from __future__ import annotations

import os
from functools import cache
from types import ModuleType


def pure_python() -> bool:
    """Whether ``JOURNALTOOLS_PURE_PYTHON`` asks for the pure-Python reference."""
    return os.environ.get("JOURNALTOOLS_PURE_PYTHON", "") not in ("", "0")


@cache
def core() -> ModuleType | None:
    if pure_python():
        return None
    try:
        from . import _native  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _native  # type: ignore[no-any-return]


@cache
def json_core() -> ModuleType | None:
    """The JSON export records' C extension (journaltools/_native_json.c), by the same switch."""
    if pure_python():
        return None
    try:
        from . import _native_json  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _native_json  # type: ignore[no-any-return]
