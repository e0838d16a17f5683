"""``journal stats``: entries and bytes by event type, tag, object and splay offset; times; write sizes."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..cli import AppContext, pass_app
from ..journal.problems import ERROR
from ..journal.stats import JournalStats, journal_stats
from ..output import byte_units, ceph_json, echo
from .journal_spec import journal_group, journal_spec_options, resolve_journal


@journal_group.command("stats")
@journal_spec_options
@click.option("--replay", is_flag=True, help="Count only the entries replay would play (default: every entry present).")
@click.option("--format", "output_format", type=click.Choice(["plain", "json"]), default="plain", show_default=True,
              help="Output format (json: schemas/journal-stats.schema.json).")
@click.option("--pretty-format", is_flag=True, help="Pretty formatting (json).")
@pass_app
def stats(app: AppContext, journal_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
          journal_name: str | None, replay: bool, output_format: str, pretty_format: bool) -> int:
    """Summarise a journal: entries and bytes by event type, by tag (owner, predecessor), by data
    object and splay offset (fill), first/last event time, write-size histogram, discard and
    write-same totals, client positions.  Exit status 1 when the walk found an error.
    """
    journal = resolve_journal(app, journal_spec, pool, namespace, image, journal_name).journal
    result = journal_stats(journal, all_entries=not replay)
    if output_format == "json":
        echo(ceph_json(result.to_json(), pretty_format))
    else:
        echo(stats_text(result))
    return 1 if any(p.severity == ERROR for p in result.problems) else 0


def iso_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return ["  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
            for r in table]


def stats_text(s: JournalStats) -> str:
    doc = s.to_json()
    total = doc["bytes"]
    lines = [f"journal {s.journal_id}: {doc['entries']} entries, {byte_units(total)} ({total} bytes)"
             f"{'' if s.all_entries else ' (replayed entries only)'}",
             f"first event: {iso_time(s.first_time)}", f"last event:  {iso_time(s.last_time)}", "", "by event type:"]
    lines += _table(["TYPE", "ENTRIES", "BYTES", "SHARE"],
                    [[name, str(t["entries"]), str(t["bytes"]), f"{100 * t['bytes'] / total:.1f}%" if total else "-"]
                     for name, t in sorted(doc["by_event_type"].items(), key=lambda kv: -kv[1]["bytes"])])
    lines += ["", "by tag:"]
    lines += _table(["TAG", "CLASS", "OWNER", "PREDECESSOR", "ENTRIES", "BYTES"],
                    [[str(t["tag_tid"]), str(t["tag_class"]), _owner(t["owner"]),
                      _predecessor(t["predecessor"]), str(t["entries"]), str(t["bytes"])] for t in doc["by_tag"]])
    lines += ["", f"by data object (objects of {byte_units(s.object_size)}):"]
    lines += _table(["OBJECT", "SET", "SPLAY", "ENTRIES", "BYTES", "SIZE", "FILL"],
                    [[str(o["object_number"]), str(o["object_set"]), str(o["splay_offset"]), str(o["entries"]),
                      str(o["bytes"]), "-" if o["object_bytes"] is None else str(o["object_bytes"]),
                      "-" if o["fill"] is None else f"{100 * o['fill']:.1f}%"] for o in doc["by_object"]])
    lines += ["", "by splay offset:"]
    lines += _table(["SPLAY", "OBJECTS", "ENTRIES", "BYTES", "OBJECT BYTES"],
                    [[str(o["splay_offset"]), str(o["objects"]), str(o["entries"]), str(o["bytes"]),
                      str(o["object_bytes"])] for o in doc["by_splay_offset"]])
    lines += ["", "write sizes:"]
    lines += _table(["UP TO", "WRITES"], [[byte_units(h["up_to"]), str(h["writes"])] for h in doc["write_size_histogram"]])
    lines += ["", f"writes: {s.writes.events} events, {byte_units(s.writes.bytes)} ({s.writes.bytes} bytes)",
              f"discards: {s.discards.events} events, {byte_units(s.discards.bytes)} ({s.discards.bytes} bytes)",
              f"write-same: {s.write_same.events} events, {byte_units(s.write_same.bytes)} ({s.write_same.bytes} bytes)",
              "", "clients:"]
    for c in s.clients:
        newest = c["commit_position"][0] if c["commit_position"] else None
        where = ("nothing committed" if newest is None else
                 f"object {newest['object_number']}, tag {newest['tag_tid']}, entry {newest['entry_tid']}")
        lines.append(f"  {c['id'] or chr(34) * 2} ({c['state']}): {where}")
    if s.problems:
        lines += ["", f"problems ({len(s.problems)}):"] + [f"  {p}" for p in s.problems]
    return "\n".join(lines) + "\n"


def _owner(mirror_uuid: object) -> str:
    """The tag's owner: the local image (empty mirror uuid) or a peer's mirror uuid."""
    if mirror_uuid is None:
        return "-"
    return "local" if mirror_uuid == "" else str(mirror_uuid)


def _predecessor(pred: dict[str, object] | None) -> str:
    if not pred:
        return "-"
    owner = _owner(pred.get("mirror_uuid"))
    if not pred.get("commit_valid"):
        return "-" if owner == "local" else owner
    return f"{owner} tag {pred.get('tag_tid')} entry {pred.get('entry_tid')}"
