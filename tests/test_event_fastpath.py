"""The compiled event fast path agrees with the EventEntry declaration on every payload it accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journaltools.errors import FormatError
from journaltools.format import lookup
from journaltools.format.event_fastpath import LAYOUTS, fast_event, fast_event_type
from journaltools.format.librbd_journal import (
    AIO_COMPARE_AND_WRITE,
    AIO_DISCARD,
    AIO_FLUSH,
    AIO_WRITE,
    AIO_WRITESAME,
    EVENTS,
    OP_FINISH,
    SNAP_CREATE,
    make_event,
)

EVENT = lookup("librbd::journal::EventEntry")
_RANGES = {"Q": (0, 2**64 - 1), "I": (0, 2**32 - 1), "L": (0, 2**32 - 1), "i": (-(2**31), 2**31 - 1),
           "l": (-(2**31), 2**31 - 1)}


def test_io_events_are_compiled_and_string_events_are_not():
    assert {AIO_WRITE, AIO_DISCARD, AIO_FLUSH, OP_FINISH, AIO_WRITESAME} <= set(LAYOUTS)
    assert SNAP_CREATE not in LAYOUTS and AIO_COMPARE_AND_WRITE not in LAYOUTS
    assert LAYOUTS[AIO_WRITE].fields == ("offset", "length") and LAYOUTS[AIO_WRITE].blob == "data"


def _value_for(fmt: str):
    if fmt == "?":
        return st.booleans()
    lo, hi = _RANGES[fmt]
    return st.integers(lo, hi)


@st.composite
def compiled_events(draw):
    type_id = draw(st.sampled_from(sorted(LAYOUTS)))
    layout = LAYOUTS[type_id]
    formats = layout.head.format[5:]  # after "<BBII"
    fields = {name: draw(_value_for(fmt)) for name, fmt in zip(layout.fields, formats, strict=False)}
    if layout.blob:
        fields[layout.blob] = draw(st.binary(max_size=600))
    timestamp = (draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)))
    return make_event(type_id, timestamp=timestamp, **fields)


def _full(payload: bytes):
    try:
        return EVENT.decode(payload)
    except FormatError:
        return None


def _agree(payload: bytes) -> bool:
    """Assert the fast path gives what the declaration gives; True when it took the payload."""
    fast = fast_event(payload)
    full = _full(payload)
    assert fast_event_type(payload) == (None if fast is None else fast.type_id)
    if fast is None:
        return False
    assert full is not None, "the fast path accepted a payload the declaration rejects"
    assert fast.type_id == full["event"]["event_type"]
    assert fast.to_json(payload) == EVENT.to_json(full)
    assert (fast.sec, fast.nsec) == (full["metadata"]["timestamp"]["sec"], full["metadata"]["timestamp"]["nsec"])
    return True


@settings(max_examples=400, deadline=None)
@given(payload=compiled_events())
def test_fast_path_takes_every_compiled_event_librbd_writes(payload):
    assert _agree(payload)


@settings(max_examples=400, deadline=None)
@given(payload=compiled_events(), data=st.data())
def test_damaged_payloads_are_declined_or_decoded_alike(payload, data):
    blob = bytearray(payload)
    action = data.draw(st.sampled_from(["flip", "truncate", "extend", "set"]))
    if action == "flip":
        blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        del blob[data.draw(st.integers(0, len(blob) - 1)):]
    elif action == "extend":
        blob += data.draw(st.binary(min_size=1, max_size=8))
    else:
        blob[data.draw(st.integers(0, min(len(blob) - 1, 40)))] = data.draw(st.integers(0, 255))
    _agree(bytes(blob))


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_older_struct_versions_go_to_the_full_decoder(version):
    payload = make_event(AIO_WRITE, version=version, offset=0, length=4, data=b"abcd", timestamp=(1, 2))
    assert fast_event(payload) is None and fast_event_type(payload) is None
    assert _full(payload) is not None


def test_event_types_without_a_layout_go_to_the_full_decoder():
    payload = make_event(SNAP_CREATE, op_tid=1, snap_name="s")
    assert fast_event(payload) is None and _full(payload) is not None
    unknown = bytearray(make_event(AIO_FLUSH))
    unknown[6:10] = (77).to_bytes(4, "little")
    assert fast_event(bytes(unknown)) is None


def test_fixture_journals_take_the_fast_path_for_io_events():
    from journaltools.journal import Journal
    from journaltools.store import DirectoryStore

    from .journal_factory import FIXTURES

    journal = Journal.open(DirectoryStore(FIXTURES / "stores" / "all_events").pool("rbd"), "108bbb69e2b9")
    taken = {fast_event_type(e.payload) for e in journal.walk() if _agree(e.payload)}
    assert {AIO_WRITE, AIO_FLUSH, AIO_DISCARD, OP_FINISH} <= taken
    assert set(EVENTS) >= taken


def test_the_precomputed_layouts_are_what_the_declarations_compile_to():
    """format/event_layouts.py is stale when a declaration changed: run python -m journaltools.format.event_fastpath."""
    from journaltools.format import event_fastpath, event_layouts, librbd_journal

    assert event_fastpath.layout_specs(event_fastpath.compile_layouts()) == event_layouts.LAYOUT_SPECS
    assert event_layouts.EVENT_TYPE_NAMES == librbd_journal.EVENT_TYPE_NAMES
    assert event_layouts.EVENT_VERSION == librbd_journal.EVENT_VERSION
    assert {t: (lay.head.format, lay.fields, lay.blob, lay.fixed_body) for t, lay in event_fastpath.LAYOUTS.items()} == \
        {t: (lay.head.format, lay.fields, lay.blob, lay.fixed_body) for t, lay in event_fastpath.compile_layouts().items()}
