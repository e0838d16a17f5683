"""``journal export --follow``: the export loop that keeps polling, stopped by SIGINT/SIGTERM or ``--until``."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from typing import IO, Any

from ..errors import FormatError
from ..export import EntryFilter, ExportResult, ExportWriter, decode_event
from ..journal.follow import follow_entries
from ..journal.model import Journal


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """Collect SIGINT/SIGTERM in a list instead of dying (the loop ends cleanly, the output is complete)."""
    received: list[int] = []
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def follow_export(journal: Journal, writer: ExportWriter, fh: IO[bytes], entry_filter: EntryFilter,
                  all_entries: bool, poll_interval: float) -> ExportResult:
    """Write entries as they come until a signal, or ``--until`` (its time passed, or an event at or after it)."""
    result = ExportResult()
    until = entry_filter.until
    seen_until = False

    polled = False

    def after_poll() -> None:
        nonlocal polled
        polled = True
        fh.flush()

    with stop_on_signals() as received:
        def should_stop() -> bool:  # the entries present at the start are written whatever the clock says
            return bool(received) or seen_until or (polled and until is not None and time.time() >= until)

        for entry in follow_entries(journal, all_entries=all_entries, poll_interval=poll_interval,
                                    should_stop=should_stop, after_poll=after_poll):
            try:
                event = decode_event(entry.payload)
            except FormatError:
                result.undecodable += 1
                continue
            if until is not None and event.timestamp is not None and event.timestamp >= until:
                seen_until = True
                continue
            if entry_filter.active and not entry_filter.match(entry, event):
                continue
            writer.write(entry, event)
            result.written += 1
        fh.flush()
    return result
