"""Following a journal as librbd appends to it (``journal export --follow``), like ``pg_waldump --follow``.

The first poll yields what a walk yields now (the entries ``export`` would
export).  Every later poll re-reads the header (the sets and the commit
positions move) and walks every entry physically present, the objects of the
new sets included, yielding the entries after the last one yielded, in order.

Only whole, contiguous entries are yielded: the entry after ``(tag, tid)`` is
``(tag, tid + 1)``, or tid 0 of a newer tag (librbd starts every tag at 0).
An entry whose predecessor is not yet visible (librbd writes the objects of a
set in parallel, so entry 7 may land before entry 6) waits for the next poll,
and a truncated frame is not an entry yet.  So the entries come in the order,
and are the ones, a later export of the same journal gives (as long as nothing
was trimmed in between).

Each later poll reads only the objects from the set of the last entry yielded
on (older sets hold nothing new), so a journal that grows because a client is
stuck costs a poll no more than its newest sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from .model import Journal
from .walk import JournalEntry

Key = tuple[int, int]  # (tag tid, entry tid)


def _follows(previous: Key | None, key: Key) -> bool:
    if previous is None:
        return True
    tag, tid = key
    return (tag == previous[0] and tid == previous[1] + 1) or (tag > previous[0] and tid == 0)


def follow_entries(journal: Journal, *, all_entries: bool = False, poll_interval: float = 0.5,
                   should_stop: Callable[[], bool] = lambda: False,
                   after_poll: Callable[[], None] | None = None) -> Iterator[JournalEntry]:
    """Entries of ``journal`` now and as they are appended, until ``should_stop()`` returns True.

    ``should_stop`` is asked between entries and while waiting; ``after_poll`` runs after every poll
    (flush the output there).  ``commit_tid`` numbers the entries in the order yielded, from 1.
    """
    last: Key | None = None
    last_set = 0  # object set of the last entry yielded: newer entries are in it or after it
    emitted = 0
    first = True
    while not should_stop():
        walk = journal.walk(all_entries=all_entries if first else True, check_events=False)
        if not first:  # the objects of older sets hold nothing new: not read again
            width = journal.splay_width
            walk._existing = [n for n in walk._existing if n // width >= last_set]
        for entry in walk:
            key = (entry.tag_tid, entry.entry_tid)
            if not first and last is not None and key <= last:
                continue
            if not _follows(last, key):
                break  # a predecessor is not visible yet: wait for the next poll
            emitted += 1
            entry.commit_tid = emitted
            last = key
            last_set = entry.object_number // journal.splay_width
            yield entry
            if should_stop():
                return
        first = False
        if after_poll is not None:
            after_poll()
        deadline = time.monotonic() + poll_interval
        while time.monotonic() < deadline:
            if should_stop():
                return
            time.sleep(min(0.05, poll_interval))
        journal = journal.reload()
