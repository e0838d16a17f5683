"""The fast path for librbd journal events, compiled from the ``EventEntry`` declaration.

Nearly every entry of a real journal is an IO event (AioWrite, AioDiscard,
AioFlush, ...) in exactly the shape modern librbd writes
(src/librbd/journal/Types.cc ``EventEntry::encode``): the envelope
ENCODE_START(5, 1) { u32 event_type; fixed-width fields; at most one trailing
bufferlist } followed by the metadata block ENCODE_START(1, 1) { utime }, with no
bytes beyond.  For such payloads one ``struct.unpack_from`` reads everything the
declaration would decode, so the per-entry cost of inspect and export does not
go through construct.

The layouts are not written by hand: :func:`_compile` reads each event's body in
:data:`~journaltools.format.librbd_journal.EVENTS` at :data:`EVENT_VERSION`
(fields that exist at that version, their ``struct`` formats, the trailing
bufferlist) and builds one :class:`struct.Struct` per event type.  Events with
strings, namespaces or two bufferlists are not compiled.  What it builds is kept,
precomputed, in :mod:`.event_layouts` (``python -m journaltools.format.event_fastpath``
writes it; tests/test_event_fastpath.py fails when it is stale), so that importing
this module does not import construct and the declarations (start-up time).  Anything that is not
exactly the compiled shape (other struct versions, tails, sizes that disagree,
unknown types) returns ``None`` and the caller falls back to the full decoder,
which gives the same answer for every payload the fast path accepts
(tests/test_event_fastpath.py checks that against the declaration).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..records import FrozenRecord
from . import BytesLike
from .event_layouts import EVENT_TYPE_NAMES, EVENT_VERSION, LAYOUT_SPECS

if TYPE_CHECKING:
    from construct import Struct

_ENVELOPE = "<BBII"  # struct_v, struct_compat, body length, event_type
_ENVELOPE_SIZE = struct.calcsize(_ENVELOPE)
_META = struct.Struct("<BBIII")  # metadata block: struct_v 1, struct_compat 1, length 8, utime sec, nsec
_META_VERSION = (1, 1, 8)
_META_HEAD = b"\x01\x01\x08\x00\x00\x00"  # the same three values as bytes
_META_SIZE = _META.size
_u32 = struct.Struct("<I").unpack_from
_envelope = struct.Struct(_ENVELOPE).unpack_from


class _Layout(FrozenRecord):
    __slots__ = ("blob", "fields", "fixed_body", "head", "type_id")
    _fields = ("type_id", "head", "fields", "blob", "fixed_body")
    type_id: int
    head: struct.Struct  # envelope + fixed fields (+ the trailing bufferlist's u32 length)
    fields: tuple[str, ...]  # names of the fixed fields, in order
    blob: str | None  # name of the trailing bufferlist, if any
    fixed_body: int  # body bytes besides the bufferlist's data

    def __init__(self, type_id: int, head: struct.Struct, fields: tuple[str, ...], blob: str | None,
                 fixed_body: int) -> None:
        object.__setattr__(self, "type_id", type_id)
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "blob", blob)
        object.__setattr__(self, "fixed_body", fixed_body)


def _field_format(sub: Any) -> str | None:
    """The struct format of a fixed-width field at EVENT_VERSION, "" if absent there, None if not fixed."""
    from construct import Container, Flag, FormatField, IfThenElse, Pass, Renamed

    inner = sub.subcon if isinstance(sub, Renamed) else sub
    if isinstance(inner, IfThenElse):
        present = inner.condfunc(Container(_struct_v=EVENT_VERSION))
        inner = inner.thensubcon if present else inner.elsesubcon
        if inner is Pass:
            return ""
    if inner is Flag:
        return "?"  # one byte, true when non-zero: as construct's Flag decodes it
    if isinstance(inner, FormatField):
        return str(inner.fmtstr).lstrip("<>=!")
    return None


def _compile(type_id: int, body: Struct) -> _Layout | None:
    from construct import Renamed

    from .primitives import Bufferlist

    formats: list[str] = []
    names: list[str] = []
    blob: str | None = None
    for sub in body.subcons:
        if blob is not None:
            return None  # only a trailing bufferlist keeps the layout fixed
        inner = sub.subcon if isinstance(sub, Renamed) else sub
        if isinstance(inner, Bufferlist):
            blob = sub.name
            continue
        fmt = _field_format(sub)
        if fmt is None:
            return None
        if fmt:
            formats.append(fmt)
            names.append(sub.name)
    head = struct.Struct(_ENVELOPE + "".join(formats) + ("I" if blob else ""))
    return _Layout(type_id, head, tuple(names), blob, head.size - _ENVELOPE_SIZE + 4)


def compile_layouts() -> dict[int, _Layout]:
    """Every layout :func:`_compile` builds from the declarations (imports construct and them)."""
    from . import librbd_journal

    return {type_id: layout for type_id, body in librbd_journal.EVENTS.items()
            if (layout := _compile(type_id, body)) is not None}


def layout_specs(layouts: dict[int, _Layout]) -> dict[int, tuple[str, tuple[str, ...], str | None]]:
    """What :mod:`.event_layouts` keeps of ``layouts``: event type -> (struct format, fields, bufferlist)."""
    return {t: (str(layout.head.format), layout.fields, layout.blob) for t, layout in sorted(layouts.items())}


def _layout(type_id: int, fmt: str, fields: tuple[str, ...], blob: str | None) -> _Layout:
    head = struct.Struct(fmt)
    return _Layout(type_id, head, fields, blob, head.size - _ENVELOPE_SIZE + 4)


#: event type -> compiled layout, for the event types whose body is fixed-width (+ one trailing bufferlist)
LAYOUTS: dict[int, _Layout] = {type_id: _layout(type_id, *spec) for type_id, spec in LAYOUT_SPECS.items()}
_MAX_TYPE = max(LAYOUTS) + 1
_BY_TYPE: list[_Layout | None] = [LAYOUTS.get(t) for t in range(_MAX_TYPE)]


def _match(payload: BytesLike) -> tuple[_Layout, tuple[Any, ...], int] | None:
    """(layout, unpacked head, offset of the metadata block) when ``payload`` has a compiled shape.

    The metadata block's own head is checked by the callers.
    """
    size = len(payload)
    if size < _ENVELOPE_SIZE + _META_SIZE:
        return None
    event_type = _u32(payload, 6)[0]
    layout = _BY_TYPE[event_type] if event_type < _MAX_TYPE else None
    if layout is None or size < layout.head.size + _META_SIZE:
        return None
    head = layout.head.unpack_from(payload)
    if head[0] != EVENT_VERSION or head[1] != 1:
        return None
    body = layout.fixed_body + (head[-1] if layout.blob else 0)
    meta_at = 6 + body
    if head[2] != body or size != meta_at + _META_SIZE:
        return None
    return layout, head, meta_at


#: per event type: (offset of the trailing bufferlist's u32 length or 0, body bytes besides its data)
_SHAPES: list[tuple[int, int] | None] = [
    None if layout is None else (layout.head.size - 4 if layout.blob else 0, layout.fixed_body) for layout in _BY_TYPE
]
_MIN_SIZE = _ENVELOPE_SIZE + _META_SIZE
_meta_head = struct.Struct("<HI").unpack_from  # struct_v and struct_compat as one u16, then the length
_META_HEAD_VALUES = _meta_head(_META_HEAD)


def fast_event_type_python(payload: BytesLike) -> int | None:
    """The event type id when ``payload`` is a compiled event that decodes cleanly, else None.

    The same conditions as :func:`_match` plus the metadata head, in one frame: this runs for
    every entry the walk yields.
    """
    size = len(payload)
    if size < _MIN_SIZE:
        return None
    struct_v, struct_compat, body, event_type = _envelope(payload)
    if struct_v != EVENT_VERSION or struct_compat != 1 or body != size - 6 - _META_SIZE or event_type >= _MAX_TYPE:
        return None
    shape = _SHAPES[event_type]
    if shape is None:
        return None
    blob_at, fixed_body = shape
    if blob_at:
        if body < fixed_body or _u32(payload, blob_at)[0] != body - fixed_body:
            return None
    elif body != fixed_body:
        return None
    return event_type if _meta_head(payload, size - _META_SIZE) == _META_HEAD_VALUES else None


def _native_event_type() -> Callable[[BytesLike], int | None] | None:
    """The C version of :func:`fast_event_type_python` over the same shapes, unless
    :func:`~journaltools.native.core` says no."""
    from ..native import core

    native = core()
    if native is None:
        return None
    try:
        native.set_event_shapes(_SHAPES, EVENT_VERSION, _META_HEAD)
    except ValueError:  # more event types than the C table holds
        return None
    return native.event_type  # type: ignore[no-any-return]


#: the event type id when ``payload`` is a compiled event that decodes cleanly, else None (native or Python)
fast_event_type = _native_event_type() or fast_event_type_python


class FastEvent(FrozenRecord):
    """What the declaration decodes from a compiled event, without construct."""

    __slots__ = ("blob_end", "blob_name", "blob_start", "fields", "nsec", "sec", "type_id", "type_name")
    _fields = ("type_id", "type_name", "fields", "blob_name", "blob_start", "blob_end", "sec", "nsec")
    type_id: int
    type_name: str
    fields: dict[str, Any]  # the fixed fields; the bufferlist is ``blob_name`` -> payload[blob_start:blob_end]
    blob_name: str | None
    blob_start: int
    blob_end: int
    sec: int
    nsec: int

    def __init__(self, type_id: int, type_name: str, fields: dict[str, Any], blob_name: str | None,
                 blob_start: int, blob_end: int, sec: int, nsec: int) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "type_id", type_id)
        setattr_(self, "type_name", type_name)
        setattr_(self, "fields", fields)
        setattr_(self, "blob_name", blob_name)
        setattr_(self, "blob_start", blob_start)
        setattr_(self, "blob_end", blob_end)
        setattr_(self, "sec", sec)
        setattr_(self, "nsec", nsec)

    @property
    def timestamp(self) -> float:
        return float(self.sec) + self.nsec / 1e9

    def to_json(self, payload: BytesLike) -> dict[str, Any]:
        """``to_json(EventEntry, decode(payload))`` (jsonify's output for this event), built directly."""
        import pybase64

        fields = dict(self.fields)
        if self.blob_name is not None:
            fields[self.blob_name] = pybase64.b64encode_as_string(payload[self.blob_start : self.blob_end])
        return {"event": {"event_type": self.type_id, "payload": fields},
                "metadata": {"timestamp": {"sec": self.sec, "nsec": self.nsec}}}


def fast_event(payload: BytesLike) -> FastEvent | None:
    """Decode a compiled event, or None when the payload needs the full decoder."""
    found = _match(payload)
    if found is None:
        return None
    layout, head, meta_at = found
    meta = _META.unpack_from(payload, meta_at)
    if meta[:3] != _META_VERSION:
        return None
    values = head[4 : 4 + len(layout.fields)]
    start = layout.head.size
    return FastEvent(layout.type_id, EVENT_TYPE_NAMES[layout.type_id], dict(zip(layout.fields, values, strict=True)),
                     layout.blob, start, meta_at if layout.blob else start, meta[3], meta[4])


def _write_layouts_module() -> str:
    """The source of :mod:`.event_layouts`, from the declarations."""
    from . import librbd_journal

    lines = ['"""Precomputed by ``python -m journaltools.format.event_fastpath`` from the EventEntry declaration',
             "(journaltools/format/librbd_journal.py): do not edit; tests/test_event_fastpath.py checks it.",
             "",
             "Event type -> (struct format of envelope + fixed fields (+ the bufferlist length), fixed field names,",
             'name of the trailing bufferlist or None).  See :mod:`.event_fastpath`.',
             '"""',
             "",
             "from __future__ import annotations",
             "",
             f"EVENT_VERSION = {librbd_journal.EVENT_VERSION}",
             f"EVENT_TYPE_NAMES: dict[int, str] = {dict(sorted(librbd_journal.EVENT_TYPE_NAMES.items()))!r}",
             "LAYOUT_SPECS: dict[int, tuple[str, tuple[str, ...], str | None]] = {"]
    lines += [f"    {t}: {spec!r}," for t, spec in layout_specs(compile_layouts()).items()]
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    Path(__file__).with_name("event_layouts.py").write_text(_write_layouts_module())
