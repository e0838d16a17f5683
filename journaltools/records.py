"""Plain records: ``__repr__`` and ``__eq__`` of a dataclass, without the dataclasses module.

The records a read command builds at start-up (journal.model, journal.problems, spec) are
written out on :class:`Record`: importing dataclasses costs a command ~9 ms (it imports
inspect), and each ``@dataclass`` another ~0.5 ms of generated code.  A subclass lists its
fields in ``__slots__`` order as ``_fields`` and writes its ``__init__``; equality compares
the fields of two records of the same class (as a dataclass's), records are unhashable
unless a subclass says otherwise, and ``repr`` leaves out the fields in ``_hidden``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Record:
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _hidden: ClassVar[frozenset[str]] = frozenset()  # neither shown nor compared (caches)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields if f not in self._hidden)
        return f"{type(self).__qualname__}({shown})"

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields if f not in self._hidden)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined, no-any-return]

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass without frozen=True


class FrozenRecord(Record):
    """A record that cannot change once made (a frozen dataclass): hashable as its fields.

    ``__init__`` sets the fields with ``object.__setattr__``.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._values())
