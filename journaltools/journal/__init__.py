"""The journal model: header, geometry, replay-order walk and structural problems."""

from .model import ClientRecord, Journal, JournalHeader, Position, TagRecord
from .problems import DATA_KINDS, ERROR, KINDS, WARNING, CorruptionPolicy, Problem
from .walk import JournalEntry, JournalWalk

__all__ = [
    "DATA_KINDS",
    "ERROR",
    "KINDS",
    "WARNING",
    "ClientRecord",
    "CorruptionPolicy",
    "Journal",
    "JournalEntry",
    "JournalHeader",
    "JournalWalk",
    "Position",
    "Problem",
    "TagRecord",
]
