"""Plain JSON for any record declared with :mod:`journaltools.format.primitives`, and back.

One walker serves every record: it follows the construct declaration next to the
value.  Field names are the declaration's names (which are Ceph's own dump names);
``bufferlist`` and fixed byte fields become standard base64 strings; an envelope's
struct_v/struct_compat are written as ``"_version": [v, compat]`` only when they
differ from what this code writes, and unknown newer tail bytes as ``"_tail"``
(base64) only when present.  A field absent at the decoded struct version is left
out.  ``from_json(con, to_json(con, x))`` builds the same bytes as ``x``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from construct import (
    Bytes,
    Computed,
    Const,
    Construct,
    Container,
    FormatField,
    IfThenElse,
    Pass,
    Renamed,
    Struct,
    Subconstruct,
    Switch,
)

from ..errors import FormatError
from .primitives import Bufferlist, CephList, CephString, Optional, Versioned

_META = ("_struct_v", "_struct_compat", "_tail")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise FormatError(f"{where}: expected a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise FormatError(f"{where}: invalid base64: {exc}") from exc


def build_context(parent: Any, **values: Any) -> Container:
    """A construct context for walking a declaration outside parse/build (for If/Switch/since conditions)."""
    ctx = Container(_=parent, _params=Container(), _parsing=False, _building=True, _sizing=False, _root=None)
    ctx.update(values)
    return ctx


def to_json(con: Construct, value: Any, parent: Any = None) -> Any:
    """Convert a decoded ``value`` of declaration ``con`` to JSON-able data."""
    if isinstance(con, Renamed):
        return to_json(con.subcon, value, parent)
    if isinstance(con, Versioned):
        ctx = build_context(parent, _struct_v=value.get("_struct_v", con.version), _struct_compat=value.get("_struct_compat", con.compat))
        body = to_json(con.body, value, ctx)
        v, c = value.get("_struct_v"), value.get("_struct_compat")
        if v is not None and (v, c) != (con.version, con.compat):
            body["_version"] = [v, c]
        if value.get("_tail"):
            body["_tail"] = b64(value["_tail"])
        return body
    if isinstance(con, Struct):
        ctx = build_context(parent)
        out: dict[str, Any] = {}
        for sub in con.subcons:
            name = getattr(sub, "name", None)
            if name is None or _is_hidden(sub):
                continue
            item = value.get(name) if isinstance(value, dict) else None
            ctx[name] = item
            if item is None and _is_conditional(sub) and not _condition(sub, ctx):
                continue
            out[name] = to_json(sub, item, ctx)
        return out
    if isinstance(con, (Bufferlist, Bytes)):
        return b64(bytes(value))
    if isinstance(con, CephString):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return {"base64": b64(value.encode("utf-8", "surrogateescape"))}
    if isinstance(con, CephList):
        return [to_json(con.subcon, item, parent) for item in value]
    if isinstance(con, Optional):
        return None if value is None else to_json(con.subcon, value, parent)
    if isinstance(con, IfThenElse):
        branch = con.thensubcon if con.condfunc(parent) else con.elsesubcon
        return to_json(branch, value, parent)
    if isinstance(con, Switch):
        key = con.keyfunc(parent)
        return to_json(con.cases.get(key, con.default), value, parent)
    if isinstance(con, Subconstruct):
        return to_json(con.subcon, value, parent)
    if isinstance(value, bytes):
        return b64(value)
    return value


def from_json(con: Construct, data: Any, parent: Any = None, where: str = "$") -> Any:
    """Convert JSON-able ``data`` back into a value ``con`` can build; errors name the JSON path."""
    if isinstance(con, Renamed):
        return from_json(con.subcon, data, parent, where)
    if isinstance(con, Versioned):
        if not isinstance(data, dict):
            raise FormatError(f"{where}: expected an object")
        v, c = con.version, con.compat
        if "_version" in data:
            pair = data["_version"]
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) and 0 <= x < 256 for x in pair)):
                raise FormatError(f"{where}._version: expected [struct_v, struct_compat]")
            v, c = pair
        ctx = build_context(parent, _struct_v=v, _struct_compat=c)
        out = from_json(con.body, data, ctx, where)
        out["_struct_v"], out["_struct_compat"] = v, c
        out["_tail"] = unb64(data["_tail"], f"{where}._tail") if "_tail" in data else b""
        return out
    if isinstance(con, Struct):
        if not isinstance(data, dict):
            raise FormatError(f"{where}: expected an object, got {type(data).__name__}")
        ctx = build_context(parent)
        out = Container()
        for sub in con.subcons:
            name = getattr(sub, "name", None)
            if name is None or _is_hidden(sub):
                continue
            if _is_conditional(sub) and not _condition(sub, ctx):
                out[name] = ctx[name] = None
                continue
            if name not in data:
                raise FormatError(f"{where}: missing field {name!r}")
            out[name] = ctx[name] = from_json(sub, data[name], ctx, f"{where}.{name}")
        for key in _META:
            if key in data:
                out[key] = data[key]
        return out
    if isinstance(con, (Bufferlist, Bytes)):
        return unb64(data, where)
    if isinstance(con, CephString):
        if isinstance(data, dict) and "base64" in data:
            return unb64(data["base64"], f"{where}.base64").decode("utf-8", "surrogateescape")
        if not isinstance(data, str):
            raise FormatError(f"{where}: expected a string, got {type(data).__name__}")
        return data
    if isinstance(con, CephList):
        if not isinstance(data, list):
            raise FormatError(f"{where}: expected an array, got {type(data).__name__}")
        return [from_json(con.subcon, item, parent, f"{where}[{i}]") for i, item in enumerate(data)]
    if isinstance(con, Optional):
        return None if data is None else from_json(con.subcon, data, parent, where)
    if isinstance(con, IfThenElse):
        branch = con.thensubcon if con.condfunc(parent) else con.elsesubcon
        return from_json(branch, data, parent, where)
    if isinstance(con, Switch):
        key = con.keyfunc(parent)
        return from_json(con.cases.get(key, con.default), data, parent, where)
    if isinstance(con, FormatField):
        if isinstance(data, bool) or not isinstance(data, int):
            raise FormatError(f"{where}: expected an integer, got {type(data).__name__}")
        return data
    if isinstance(con, Subconstruct):
        return from_json(con.subcon, data, parent, where)
    return data


def _is_hidden(sub: Construct) -> bool:
    inner = sub.subcon if isinstance(sub, Renamed) else sub
    return isinstance(inner, (Const, Computed)) or inner is Pass


def _is_conditional(sub: Construct) -> bool:
    inner = sub.subcon if isinstance(sub, Renamed) else sub
    return isinstance(inner, IfThenElse) and inner.elsesubcon is Pass


def _condition(sub: Construct, ctx: Any) -> bool:
    inner = sub.subcon if isinstance(sub, Renamed) else sub
    return bool(inner.condfunc(ctx))
