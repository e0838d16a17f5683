"""The table of Ceph type names (as ``ceph-dencoder`` and the corpus name them) -> declarations.

Format modules call :func:`register` at import time; :mod:`journaltools.format`
imports all of them, so ``lookup`` sees every record the project knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from construct import Construct

from ..errors import NotFoundError
from .jsonify import from_json, to_json
from .primitives import BytesLike, decode, encode


@dataclass(frozen=True)
class RecordType:
    """One Ceph type: its dencoder name, declaration and a one-line description."""

    name: str
    construct: Construct
    description: str

    def decode(self, data: BytesLike) -> Any:
        return decode(self.construct, data, type_name=self.name)

    def encode(self, value: Any) -> bytes:
        return encode(self.construct, value, type_name=self.name)

    def to_json(self, value: Any) -> Any:
        return to_json(self.construct, value)

    def from_json(self, data: Any) -> Any:
        return from_json(self.construct, data)


_REGISTRY: dict[str, RecordType] = {}


def register(name: str, construct: Construct, description: str) -> Construct:
    """Register ``construct`` under the Ceph type ``name``; returns the construct."""
    if name in _REGISTRY:
        raise ValueError(f"type {name} registered twice")
    _REGISTRY[name] = RecordType(name, construct, description)
    return construct


def lookup(name: str) -> RecordType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(f"unknown type {name!r} (see 'journaltools decode --list')") from None


def all_types() -> list[RecordType]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
