"""``journal report``: one self-contained HTML page (inline SVG and CSS, no script, no network).

Sections: a summary, the event timeline by type (entries binned over time), the
fill of every data object by splay offset and object set, every client's commit
position against the head of the journal, and every problem inspect finds, each
linked to its object (the object's cell in the fill grid and its row in the
object table) with its byte offset.

Data come from two walks (memory stays flat): :func:`journaltools.journal.stats.journal_stats`
(every entry present), then the timeline's binning once the time range is known;
the problems are those of inspect's walk, the lag that of ``journal status``.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..journal.lag import client_lag
from ..journal.model import Journal
from ..journal.problems import ERROR, Problem
from ..journal.stats import JournalStats, journal_stats
from ..journal.trimming import Trimming, is_disconnected, journal_trimming
from ..output import byte_units

BINS = 120
#: one color per event type (stable: by the type's name), a neutral one for the rest
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


@dataclass
class ClientView:
    id: str
    state: str
    behind_entries: int | None  # None: disconnected (left out)
    behind_bytes: int | None
    position: str


@dataclass
class ReportData:
    journal_id: str
    image: str | None
    pool: str
    stats: JournalStats
    timeline: dict[str, list[int]] = field(default_factory=dict)  # event type -> counts per bin
    time_range: tuple[float, float] | None = None
    clients: list[ClientView] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_objects: list[int | None] = field(default_factory=list)  # the data object number of each problem
    inspected: int = 0
    trimming: Trimming | None = None


def _object_number(journal: Journal, oid: str | None) -> int | None:
    if oid is None or not oid.startswith(journal.object_prefix):
        return None
    suffix = oid[len(journal.object_prefix):]
    return int(suffix) if suffix.isdigit() else None


def collect_report(journal: Journal, image: str | None = None) -> ReportData:
    """Everything the page shows, from the journal (three walks: stats, timeline, inspect)."""
    from ..errors import FormatError
    from ..export import decode_event

    stats = journal_stats(journal, all_entries=True)
    data = ReportData(journal.journal_id, image, journal.header_pool.describe(), stats)
    if stats.first_time is not None and stats.last_time is not None:
        start, end = stats.first_time, stats.last_time
        span = max(end - start, 1e-6)
        data.time_range = (start, end)
        bins: dict[str, list[int]] = defaultdict(lambda: [0] * BINS)
        for entry in journal.walk(all_entries=True, check_events=False):
            try:
                event = decode_event(entry.payload)
            except FormatError:
                continue
            if not event.timestamp:  # none, or zero (not set: rbd-mirror's demote/promote events)
                continue
            index = min(int((event.timestamp - start) / span * BINS), BINS - 1)
            bins[event.type_name][index] += 1
        data.timeline = dict(sorted(bins.items()))
    walk = journal.walk()
    data.inspected = walk.count()
    data.problems = list(walk.problems)
    data.problem_objects = [_object_number(journal, p.object) for p in data.problems]
    lag = client_lag(journal)
    for client in journal.header.clients:
        newest = client.commit_position[0] if client.commit_position else None
        where = ("nothing committed" if newest is None
                 else f"object {newest.object_number}, tag {newest.tag_tid}, entry {newest.entry_tid}")
        state = "disconnected" if is_disconnected(client) else "connected" if client.state == 0 else "unknown"
        entries, size = lag.get(client.id, (0, 0))
        data.clients.append(ClientView(client.id, state, None if state == "disconnected" else entries,
                                       None if state == "disconnected" else size, where))
    data.trimming = journal_trimming(journal)
    return data


# -- rendering ---------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _color(name: str, names: list[str]) -> str:
    return PALETTE[names.index(name) % len(PALETTE)] if name in names else "#999"


def _timeline_svg(data: ReportData) -> str:
    names = list(data.timeline)
    row, left, width = 26, 150, 720
    height = row * max(len(names), 1) + 40
    parts = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" '
             f'role="img" aria-label="event timeline by type">']
    if not names or data.time_range is None:
        parts.append('<text x="10" y="20">no timestamped events</text></svg>')
        return "".join(parts)
    peak = max(max(counts) for counts in data.timeline.values()) or 1
    step = width / BINS
    for i, name in enumerate(names):
        y = 10 + i * row
        total = sum(data.timeline[name])
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" class="label">{_e(name)} ({total})</text>')
        parts.append(f'<line x1="{left}" y1="{y + row - 4}" x2="{left + width}" y2="{y + row - 4}" class="axis"/>')
        for b, count in enumerate(data.timeline[name]):
            if not count:
                continue
            h = max(2.0, (row - 6) * count / peak)
            parts.append(f'<rect class="bin" data-type="{_e(name)}" x="{left + b * step:.1f}" y="{y + row - 4 - h:.1f}" '
                         f'width="{max(step - 0.5, 1):.1f}" height="{h:.1f}" fill="{_color(name, names)}">'
                         f'<title>{_e(name)}: {count}</title></rect>')
    start, end = data.time_range
    base = 10 + len(names) * row + 14
    parts.append(f'<text x="{left}" y="{base}" class="tick">{_e(_iso(start))}</text>')
    parts.append(f'<text x="{left + width}" y="{base}" text-anchor="end" class="tick">{_e(_iso(end))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fill_svg(data: ReportData, problem_objects: set[int]) -> str:
    stats = data.stats
    objects = stats.objects_json()
    width_splay = stats.splay_width
    sets = sorted({o["object_set"] for o in objects})
    cell, left, top = 34, 70, 24
    parts = [f'<svg id="fill" xmlns="http://www.w3.org/2000/svg" width="{left + cell * max(len(sets), 1) + 20}" '
             f'height="{top + cell * width_splay + 6}" role="img" aria-label="object fill by splay offset and set">']
    for s_index, object_set in enumerate(sets):
        parts.append(f'<text x="{left + s_index * cell + cell / 2}" y="{top - 8}" text-anchor="middle" '
                     f'class="tick">{object_set}</text>')
    for offset in range(width_splay):
        parts.append(f'<text x="{left - 8}" y="{top + offset * cell + cell / 2 + 4}" text-anchor="end" '
                     f'class="tick">splay {offset}</text>')
    for o in objects:
        x = left + sets.index(o["object_set"]) * cell
        y = top + o["splay_offset"] * cell
        fill = min(o["fill"] or 0.0, 1.0)
        shade = int(235 - 180 * fill)
        color = f"rgb({shade},{shade},255)"
        css = "cell bad" if o["object_number"] in problem_objects else "cell"
        size = "-" if o["object_bytes"] is None else f"{o['object_bytes']} bytes"
        parts.append(f'<a href="#object-{o["object_number"]}"><rect id="obj-{o["object_number"]}" class="{css}" '
                     f'x="{x + 1}" y="{y + 1}" width="{cell - 2}" height="{cell - 2}" fill="{color}">'
                     f'<title>object {o["object_number"]} (set {o["object_set"]}, splay {o["splay_offset"]}): {size}, '
                     f'{100 * fill:.1f}% full, {o["entries"]} entries</title></rect></a>')
    parts.append("</svg>")
    parts.append(f'<p class="tick">columns: object sets; rows: splay offsets; darker: fuller (objects of '
                 f'{_e(byte_units(stats.object_size))}); a red border: a problem in that object</p>')
    return "".join(parts)


def _clients_svg(data: ReportData) -> str:
    head = data.stats.entries.entries
    row, left, width = 30, 170, 600
    parts = [f'<svg id="clients" xmlns="http://www.w3.org/2000/svg" width="{left + width + 200}" '
             f'height="{row * max(len(data.clients), 1) + 30}" role="img" aria-label="client commit positions">']
    for i, c in enumerate(data.clients):
        y = 10 + i * row
        name = c.id or '"" (image)'
        short = name if len(name) <= 24 else name[:23] + "…"
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="label">{_e(short)}'
                     f'<title>{_e(name)}</title></text>')
        parts.append(f'<rect class="track" x="{left}" y="{y + 4}" width="{width}" height="12" fill="#eee"/>')
        if c.behind_entries is None:
            parts.append(f'<text x="{left + 6}" y="{y + 14}" class="tick">disconnected (left out)</text>')
            continue
        done = head - c.behind_entries
        w = width * done / head if head else width
        parts.append(f'<rect class="commit" data-client="{_e(c.id)}" x="{left}" y="{y + 4}" width="{w:.1f}" '
                     f'height="12" fill="{"#2ca02c" if not c.behind_entries else "#d62728"}">'
                     f'<title>{_e(name)}: {c.position}</title></rect>')
        parts.append(f'<text x="{left + width + 8}" y="{y + 14}" class="tick">{c.behind_entries} entries, '
                     f'{_e(byte_units(c.behind_bytes or 0))} behind the head</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.label { font-size: 12px; } .tick { font-size: 11px; fill: #555; } .axis { stroke: #ccc; }
.cell { stroke: #88a; } .cell.bad { stroke: #d62728; stroke-width: 3; }
tr.error td { color: #a00; } :target { background: #ffec99; }
"""


def render_html(data: ReportData) -> str:
    stats = data.stats
    doc = stats.to_json()
    by_object: dict[int, list[Problem]] = defaultdict(list)
    rows = []
    for i, (p, number) in enumerate(zip(data.problems, data.problem_objects, strict=True)):
        if number is not None:
            by_object[number].append(p)
        where = (f'<a class="object" href="#object-{number}">{_e(p.object)}</a>' if number is not None
                 else _e(p.object or "-"))
        rows.append(f'<tr id="problem-{i}" class="{_e(p.severity)}"><td>{_e(p.severity)}</td><td>{_e(p.kind)}</td>'
                    f'<td>{where}</td><td class="n">{_e("-" if p.offset is None else p.offset)}</td>'
                    f'<td class="n">{_e("-" if p.tag_tid is None else p.tag_tid)}</td>'
                    f'<td class="n">{_e("-" if p.entry_tid is None else p.entry_tid)}</td><td>{_e(p.detail)}</td></tr>')
    errors = sum(1 for p in data.problems if p.severity == ERROR)
    problems_table = ('<table id="problems"><tr><th>severity</th><th>kind</th><th>object</th><th>offset</th>'
                      '<th>tag</th><th>entry tid</th><th>detail</th></tr>' + "".join(rows) + "</table>"
                      if rows else '<p id="problems">no problems found</p>')
    object_rows = []
    for o in doc["by_object"]:
        found = by_object.get(o["object_number"], [])
        links = ", ".join(f'<a href="#problem-{data.problems.index(p)}">{_e(p.kind)} at byte {_e(p.offset)}</a>'
                          for p in found)
        object_rows.append(f'<tr id="object-{o["object_number"]}"><td class="n"><a href="#obj-{o["object_number"]}">'
                           f'{o["object_number"]}</a></td><td class="n">{o["object_set"]}</td>'
                           f'<td class="n">{o["splay_offset"]}</td><td class="n">{o["entries"]}</td>'
                           f'<td class="n">{_e("-" if o["object_bytes"] is None else o["object_bytes"])}</td>'
                           f'<td class="n">{_e(_percent(o["fill"]))}</td>'
                           f'<td>{links}</td></tr>')
    types = "".join(f'<tr><td>{_e(name)}</td><td class="n">{t["entries"]}</td><td class="n">{t["bytes"]}</td></tr>'
                    for name, t in sorted(doc["by_event_type"].items(), key=lambda kv: -kv[1]["bytes"]))
    trim = data.trimming
    trim_text = ""
    if trim is not None and trim.holder is None:
        trim_text = (f'<p id="trimming">minimum_set {trim.minimum_set} is held by no connected client '
                     f"(librbd trims up to set {trim.trimmable_now}).</p>")
    elif trim is not None:
        trim_text = (f'<p id="trimming">minimum_set {trim.minimum_set} is held by client '
                     f"{_e(trim.holder or '(the image)')}; a disconnect of it lets librbd trim {trim.freed_objects} "
                     f"objects ({_e(byte_units(trim.freed_bytes))}, {trim.freed_bytes} bytes).</p>")
    title = f"journal {data.journal_id}" + (f" (image {data.image})" if data.image else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="generator" content="journaltools {_e(__version__)}"><style>{_CSS}</style></head>
<body>
<h1 id="title">{_e(title)}</h1>
<table id="summary">
<tr><th>pool</th><td>{_e(data.pool)}</td></tr>
<tr><th>geometry</th><td>splay width {stats.splay_width}, objects of {_e(byte_units(stats.object_size))}</td></tr>
<tr><th>entries</th><td>{doc["entries"]} ({_e(byte_units(doc["bytes"]))}, {doc["bytes"]} bytes); {data.inspected} replayed</td></tr>
<tr><th>events</th><td>{_e(_iso(stats.first_time))} to {_e(_iso(stats.last_time))}</td></tr>
<tr><th>problems</th><td>{errors} errors, {len(data.problems) - errors} warnings</td></tr>
</table>
<h2>Event timeline by type</h2>
{_timeline_svg(data)}
<table id="event-types"><tr><th>type</th><th>entries</th><th>bytes</th></tr>{types}</table>
<h2>Object fill by splay offset and object set</h2>
{_fill_svg(data, set(by_object))}
<h2>Client commit positions against the head</h2>
{_clients_svg(data)}
{trim_text}
<h2>Problems</h2>
{problems_table}
<h2>Data objects</h2>
<table id="objects"><tr><th>object</th><th>set</th><th>splay</th><th>entries</th><th>bytes</th><th>fill</th><th>problems</th></tr>
{"".join(object_rows)}</table>
<p class="tick">journaltools {_e(__version__)}, generated {_e(_iso(datetime.now(UTC).timestamp()))}</p>
</body></html>
"""


def write_report(journal: Journal, path: str | Path, image: str | None = None) -> ReportData:
    """Collect and write the page to ``path`` (atomically)."""
    from ..store.directory import atomic_file

    data = collect_report(journal, image)
    with atomic_file(Path(path), mode=0o644) as fh:
        fh.write(render_html(data).encode("utf-8"))
    return data
