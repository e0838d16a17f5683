"""Hypothesis strategies derived from a construct declaration, so every registered record gets properties."""

from __future__ import annotations

from typing import Any

from construct import (
    Computed,
    Const,
    Construct,
    Container,
    Flag,
    FormatField,
    IfThenElse,
    Pass,
    Renamed,
    Struct,
    Subconstruct,
    Switch,
)
from hypothesis import strategies as st

from journaltools.format.jsonify import build_context
from journaltools.format.primitives import Bufferlist, CephList, CephString, Optional, Versioned

_TEXT = st.one_of(st.text(max_size=12), st.binary(max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape")))


def draw_value(draw: Any, con: Construct, parent: Any = None, depth: int = 0) -> Any:
    """Draw a value that ``con`` can build (and that decodes back to itself)."""
    if isinstance(con, Renamed):
        return draw_value(draw, con.subcon, parent, depth)
    if isinstance(con, Versioned):
        version = draw(st.integers(1, con.version + 2))
        ctx = build_context(parent, _struct_v=version, _struct_compat=1)
        value = draw_value(draw, con.body, ctx, depth + 1)
        value["_struct_v"], value["_struct_compat"] = version, 1
        value["_tail"] = draw(st.binary(max_size=6)) if version > con.version else b""
        return value
    if isinstance(con, Struct):
        ctx = build_context(parent)
        out = Container()
        for sub in con.subcons:
            name = getattr(sub, "name", None)
            inner = sub.subcon if isinstance(sub, Renamed) else sub
            if isinstance(inner, (Const, Computed)) or inner is Pass or name is None:
                continue
            out[name] = ctx[name] = draw_value(draw, sub, ctx, depth + 1)
        return out
    if isinstance(con, Bufferlist):
        return draw(st.binary(max_size=24))
    if isinstance(con, CephString):
        return draw(_TEXT)
    if isinstance(con, CephList):
        size = draw(st.integers(0, 0 if depth > 6 else 3))
        return [draw_value(draw, con.subcon, parent, depth + 1) for _ in range(size)]
    if isinstance(con, Optional):
        return None if draw(st.booleans()) else draw_value(draw, con.subcon, parent, depth + 1)
    if isinstance(con, IfThenElse):
        branch = con.thensubcon if con.condfunc(parent) else con.elsesubcon
        return None if branch is Pass else draw_value(draw, branch, parent, depth)
    if isinstance(con, Switch):
        key = con.keyfunc(parent)
        return draw_value(draw, con.cases.get(key, con.default), parent, depth)
    if isinstance(con, FormatField):
        if con.fmtstr[-1] == "?":
            return draw(st.booleans())
        bits = con.length * 8
        signed = con.fmtstr[-1].islower()
        return draw(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else st.integers(0, (1 << bits) - 1))
    if con is Flag:
        return draw(st.booleans())
    if isinstance(con, Subconstruct):
        return draw_value(draw, con.subcon, parent, depth)
    raise NotImplementedError(f"no strategy for {con!r}")


def values_of(con: Construct) -> st.SearchStrategy[Any]:
    return st.composite(lambda draw: draw_value(draw, con))()
