"""How far each registered client is behind the newest entry of a journal."""

from __future__ import annotations

from .model import Journal


def client_lag(journal: Journal) -> dict[str, tuple[int, int]]:
    """Per client: (entries, bytes) physically present after its newest commit position."""
    fronts = {c.id: ((c.commit_position[0].tag_tid, c.commit_position[0].entry_tid) if c.commit_position else None)
              for c in journal.header.clients}
    lag = {cid: [0, 0] for cid in fronts}
    for entry in journal.walk(all_entries=True, check_events=False):
        key = (entry.tag_tid, entry.entry_tid)
        for cid, front in fronts.items():
            if front is None or key > front:
                lag[cid][0] += 1
                lag[cid][1] += entry.size
    return {cid: (v[0], v[1]) for cid, v in lag.items()}
