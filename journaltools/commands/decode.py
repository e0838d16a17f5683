"""``decode``: ceph-dencoder-style decoding of raw encoded blobs, with a byte-exact round-trip check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from ..cli import main
from ..errors import FormatError, JournalToolsError
from ..format import all_types, lookup
from ..format.primitives import decode as decode_value

EXIT_BAD_INPUT = 2


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _plain(type_name: str, value: Any) -> str:
    from ..format import ceph_dump
    from ..output import Pairs, pretty_block

    dumps = {
        "librbd::journal::EventEntry": ceph_dump.event_dump,
        "librbd::journal::ClientData": ceph_dump.client_data_dump,
        "librbd::journal::TagData": ceph_dump.tag_data_dump,
    }
    if type_name in dumps:
        return pretty_block(_pairs(dumps[type_name](value), Pairs))
    return pretty_block(lookup(type_name).to_json(value))


def _pairs(pairs: Any, cls: Any) -> Any:
    if isinstance(pairs, list) and pairs and all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        return cls((k, _pairs(v, cls)) for k, v in pairs)
    if isinstance(pairs, list):
        return [_pairs(v, cls) for v in pairs]
    return pairs


@main.command("decode")
@click.argument("type_name", metavar="TYPE", required=False)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False), metavar="FILE...")
@click.option("--list", "list_types", is_flag=True, help="List the Ceph types this tool decodes.")
@click.option("--format", "output_format", type=click.Choice(["json", "plain"]), default="json", show_default=True,
              help="json: our plain JSON of every field; plain: Ceph's own dump where it has one.")
@click.option("--check-roundtrip", is_flag=True,
              help="Exit 1 unless every file decodes completely and re-encodes (also via JSON) to identical bytes.")
def decode(type_name: str | None, files: tuple[str, ...], list_types: bool, output_format: str,
           check_roundtrip: bool) -> int:
    """Decode raw encoded blobs (one per file) of a Ceph type, as ceph-dencoder names it.

    Example: journaltools decode librbd::journal::EventEntry blob.bin
    """
    if list_types:
        for record in all_types():
            click.echo(f"{record.name}\t{record.description}")
        return 0
    if not type_name or not files:
        raise click.UsageError("give a TYPE and at least one FILE (or --list)")
    try:
        record = lookup(type_name)
    except JournalToolsError as exc:
        click.echo(f"journaltools: {exc}", err=True)
        return EXIT_BAD_INPUT
    failures = 0
    for path in files:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            click.echo(f"journaltools: cannot read {path}: {exc.strerror}", err=True)
            return EXIT_BAD_INPUT
        try:
            value = decode_value(record.construct, data, type_name=type_name)
        except FormatError as exc:
            click.echo(f"journaltools: {path}: {exc}", err=True)
            if check_roundtrip:
                failures += 1
                continue
            return EXIT_BAD_INPUT
        if check_roundtrip:
            again = record.encode(value)
            via_json = record.encode(record.from_json(orjson.loads(orjson.dumps(record.to_json(value)))))
            for label, built in (("re-encoding", again), ("re-encoding through JSON", via_json)):
                if built != data:
                    failures += 1
                    click.echo(f"{path}: {label} differs from the input at byte {_first_difference(built, data)} "
                               f"({len(built)} vs {len(data)} bytes)", err=True)
                    break
            continue
        if output_format == "json":
            sys.stdout.write(orjson.dumps({"file": path, "type": type_name, "value": record.to_json(value)}).decode() + "\n")
        else:
            sys.stdout.write(f"{path}:\n{_plain(type_name, value)}\n")
    if check_roundtrip:
        ok = len(files) - failures
        click.echo(f"{ok} of {len(files)} blobs decode completely and re-encode identically", err=True)
        return 1 if failures else 0
    return 0
