"""Ceph's encoding primitives, declared once as construct classes.

Everything Ceph encodes with ``include/encoding.h`` / ``denc.h`` is built from these:
fixed-width little-endian integers, ``std::string`` and ``bufferlist`` (u32 length +
bytes), containers (u32 count + elements), ``boost::optional`` (u8 flag + value),
``utime_t`` (u32 sec + u32 nsec) and the versioned envelope written by
``ENCODE_START(v, compat, bl)`` (u8 struct_v, u8 struct_compat, u32 length).

The envelope decoder behaves like Ceph's ``DECODE_START``: it refuses a
``struct_compat`` newer than the version this code understands, decodes the fields
it knows, and keeps the bytes of fields added by newer versions (the "tail") so
that re-encoding gives back the exact bytes.  The decoded struct_v, struct_compat
and tail live in the decoded container under the keys ``_struct_v``,
``_struct_compat`` and ``_tail``; building an object without them writes this
code's own version.

Only the classes in this module are special to :mod:`journaltools.format.jsonify`,
which turns any declaration built from them into plain JSON and back.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from construct import (
    Construct,
    Container,
    Flag,
    If,
    Int8ul,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64sl,
    Int64ul,
    SizeofError,
    Struct,
)
from construct.core import stream_read, stream_tell, stream_write

from ..errors import FormatError
from . import BytesLike  # noqa: F401  (re-exported)

u8 = Int8ul
u16 = Int16ul
u32 = Int32ul
u64 = Int64ul
i32 = Int32sl
i64 = Int64sl
boolean = Flag

_U32 = Int32ul


def _read_u32(stream: Any, path: str) -> int:
    return int.from_bytes(stream_read(stream, 4, path), "little")


class Bufferlist(Construct):  # type: ignore[misc]
    """``bufferlist``: u32 length, then the raw bytes (decoded as ``bytes``)."""

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        n = _read_u32(stream, path)
        return bytes(stream_read(stream, n, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> bytes:
        data = bytes(obj)
        stream_write(stream, len(data).to_bytes(4, "little") + data, 4 + len(data), path)
        return data

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("bufferlist has a variable size", path=path)


class CephString(Construct):  # type: ignore[misc]
    """``std::string``: u32 length, then bytes.  Decoded as ``str``.

    Bytes that are not UTF-8 are kept with ``surrogateescape``, so any string
    Ceph stored re-encodes to the same bytes.
    """

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        n = _read_u32(stream, path)
        return bytes(stream_read(stream, n, path)).decode("utf-8", "surrogateescape")

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> str:
        data = str(obj).encode("utf-8", "surrogateescape")
        stream_write(stream, len(data).to_bytes(4, "little") + data, 4 + len(data), path)
        return str(obj)

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("string has a variable size", path=path)


class CephList(Construct):  # type: ignore[misc]
    """``std::list``/``std::vector``/``std::set``: u32 count, then the elements."""

    def __init__(self, subcon: Construct) -> None:
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream: Any, context: Any, path: str) -> list[Any]:
        count = _read_u32(stream, path)
        items = []
        for i in range(count):
            context._index = i
            items.append(self.subcon._parsereport(stream, context, path))
        return items

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> list[Any]:
        items = list(obj)
        stream_write(stream, len(items).to_bytes(4, "little"), 4, path)
        for i, item in enumerate(items):
            context._index = i
            self.subcon._build(item, stream, context, path)
        return items

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("list has a variable size", path=path)


class CephMap(CephList):
    """``std::map<K, V>``: u32 count, then key/value pairs.

    Decoded as a list of containers ``{key_name: k, value_name: v}`` so that the
    order on disk (and so the bytes) is kept and the JSON carries Ceph's names.
    """

    def __init__(self, key: Construct, value: Construct, key_name: str = "key", value_name: str = "value"):
        super().__init__(Struct(key_name / key, value_name / value))
        self.key_name = key_name
        self.value_name = value_name


class Optional(Construct):  # type: ignore[misc]
    """``boost::optional<T>``/``std::optional<T>``: u8 present flag, then T if present.

    Decoded as the value or ``None``.
    """

    def __init__(self, subcon: Construct) -> None:
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        present = stream_read(stream, 1, path)[0]
        return self.subcon._parsereport(stream, context, path) if present else None

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if obj is None:
            stream_write(stream, b"\x00", 1, path)
            return None
        stream_write(stream, b"\x01", 1, path)
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("optional has a variable size", path=path)


#: ``utime_t``: u32 seconds, u32 nanoseconds.
UTime = Struct("sec" / u32, "nsec" / u32)


def _child_context(context: Any, stream: Any, **extra: Any) -> Container:
    ctx = Container(
        _=context,
        _params=context.get("_params", Container()) if context is not None else Container(),
        _root=None,
        _parsing=context.get("_parsing", False) if context is not None else False,
        _building=context.get("_building", False) if context is not None else False,
        _sizing=False,
        _io=stream,
        _index=None,
        **extra,
    )
    ctx._root = ctx._.get("_root", ctx) if ctx._ is not None else ctx
    return ctx


def struct_version(context: Any) -> int:
    """The struct_v of the innermost envelope around ``context`` (decoding or encoding)."""
    ctx = context
    while ctx is not None:
        if "_struct_v" in ctx:
            return int(ctx["_struct_v"])
        ctx = ctx.get("_")
    raise FormatError("field depends on a struct version but is not inside a versioned envelope")


def since(version: int, subcon: Construct) -> Construct:
    """A field that exists from struct version ``version`` on (absent = ``None``)."""
    return If(lambda ctx: struct_version(ctx) >= version, subcon)


def only_at(version: int, subcon: Construct) -> Construct:
    """A field that exists only at exactly struct version ``version``."""
    return If(lambda ctx: struct_version(ctx) == version, subcon)


class Versioned(Construct):  # type: ignore[misc]
    """The ``ENCODE_START(version, compat)`` envelope around a :class:`~construct.Struct` body.

    ``understands`` is the highest struct_compat the decoder accepts; Ceph's
    ``DECODE_START(v, bl)`` accepts compat <= v, so it defaults to ``version``.
    ``decode_as`` optionally maps the decoded struct_v before the body sees it.
    """

    def __init__(
        self,
        body: Construct,
        version: int,
        compat: int = 1,
        understands: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.version = version
        self.compat = compat
        self.understands = version if understands is None else understands
        self.type_name = name

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        head = stream_read(stream, 6, path)
        struct_v, struct_compat = head[0], head[1]
        length = int.from_bytes(head[2:6], "little")
        if struct_compat > self.understands:
            what = self.type_name or "struct"
            raise FormatError(
                f"{what} has struct_compat {struct_compat} (struct_v {struct_v}); "
                f"this decoder understands up to {self.understands}",
                path=path,
            )
        start = stream_tell(stream, path)
        payload = stream_read(stream, length, path)
        sub = io.BytesIO(payload)
        ctx = _child_context(context, sub, _struct_v=struct_v, _struct_compat=struct_compat)
        try:
            obj = self.body._parsereport(sub, ctx, path)
        except FormatError:
            raise
        except Exception as exc:  # construct stream errors inside the envelope
            raise FormatError(
                f"{self.type_name or 'struct'} v{struct_v} body does not fit its {length}-byte envelope: {exc}",
                offset=start + sub.tell(),
                path=path,
            ) from exc
        tail = payload[sub.tell() :]
        if not isinstance(obj, dict):
            raise FormatError("versioned body must decode to a container", path=path)
        obj["_struct_v"] = struct_v
        obj["_struct_compat"] = struct_compat
        obj["_tail"] = bytes(tail)
        return obj

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        struct_v = obj.get("_struct_v", self.version) if isinstance(obj, dict) else self.version
        struct_compat = obj.get("_struct_compat", self.compat) if isinstance(obj, dict) else self.compat
        tail = bytes(obj.get("_tail", b"") or b"") if isinstance(obj, dict) else b""
        if struct_v is None:
            struct_v = self.version
        if struct_compat is None:
            struct_compat = self.compat
        sub = io.BytesIO()
        ctx = _child_context(context, sub, _struct_v=struct_v, _struct_compat=struct_compat)
        self.body._build(obj, sub, ctx, path)
        payload = sub.getvalue() + tail
        header = bytes([struct_v & 0xFF, struct_compat & 0xFF]) + len(payload).to_bytes(4, "little")
        stream_write(stream, header + payload, len(header) + len(payload), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("versioned envelope has a variable size", path=path)


def versioned(version: int, compat: int = 1, *fields: Any, name: str | None = None, understands: int | None = None) -> Versioned:
    """Shorthand: ``versioned(2, 1, "a" / u64, ...)`` = ENCODE_START(2, 1) around those fields."""
    return Versioned(Struct(*fields), version, compat, understands=understands, name=name)


ContextFunc = Callable[[Any], Any]


def decode(con: Construct, data: BytesLike, *, type_name: str = "value", allow_trailing: bool = False) -> Any:
    """Decode ``data`` as ``con``; every byte must be consumed unless ``allow_trailing``.

    Any failure becomes a :class:`FormatError` naming the byte offset.
    """
    stream = io.BytesIO(data)
    try:
        obj = con.parse_stream(stream)
    except FormatError as exc:
        if exc.offset is None:
            exc.offset = stream.tell()
        raise
    except Exception as exc:
        raise FormatError(
            f"{type_name}: cannot decode at byte {stream.tell()} of {len(data)}: {_short(exc)}",
            offset=stream.tell(),
            path=getattr(exc, "path", None),
        ) from exc
    if not allow_trailing and stream.tell() != len(data):
        raise FormatError(
            f"{type_name}: {len(data) - stream.tell()} trailing bytes after the value (at byte {stream.tell()})",
            offset=stream.tell(),
        )
    return obj


def encode(con: Construct, obj: Any, *, type_name: str = "value") -> bytes:
    """Encode ``obj`` as ``con``; failures become a :class:`FormatError`."""
    try:
        return bytes(con.build(obj))
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(f"{type_name}: cannot encode: {_short(exc)}", path=getattr(exc, "path", None)) from exc


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
