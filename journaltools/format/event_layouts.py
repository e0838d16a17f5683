"""Precomputed by ``python -m journaltools.format.event_fastpath`` from the EventEntry declaration
(journaltools/format/librbd_journal.py): do not edit; tests/test_event_fastpath.py checks it.

Event type -> (struct format of envelope + fixed fields (+ the bufferlist length), fixed field names,
name of the trailing bufferlist or None).  See :mod:`.event_fastpath`.
"""

from __future__ import annotations

EVENT_VERSION = 5
EVENT_TYPE_NAMES: dict[int, str] = {0: 'AioDiscard', 1: 'AioWrite', 2: 'AioFlush', 3: 'OpFinish', 4: 'SnapCreate', 5: 'SnapRemove', 6: 'SnapRename', 7: 'SnapProtect', 8: 'SnapUnprotect', 9: 'SnapRollback', 10: 'Rename', 11: 'Resize', 12: 'Flatten', 13: 'Demote/Promote', 14: 'SnapLimit', 15: 'UpdateFeatures', 16: 'MetadataSet', 17: 'MetadataRemove', 18: 'AioWriteSame', 19: 'AioCompareAndWrite'}
LAYOUT_SPECS: dict[int, tuple[str, tuple[str, ...], str | None]] = {
    0: ('<BBIIQQ?L', ('offset', 'length', 'skip_partial_discard', 'discard_granularity_bytes'), None),
    1: ('<BBIIQQI', ('offset', 'length'), 'data'),
    2: ('<BBII', (), None),
    3: ('<BBIIQQl', ('op_tid', 'op_tid_again', 'result'), None),
    11: ('<BBIIQQ', ('op_tid', 'size'), None),
    12: ('<BBIIQ', ('op_tid',), None),
    13: ('<BBII', (), None),
    14: ('<BBIIQQ', ('op_tid', 'limit'), None),
    15: ('<BBIIQQ?', ('op_tid', 'features', 'enabled'), None),
    18: ('<BBIIQQI', ('offset', 'length'), 'data'),
}
