"""Printing as the ``rbd`` CLI prints: Ceph's JSONFormatter, ``--format``/``--pretty-format``, progress.

Checked against the real ``rbd`` 16.2: compact JSON has no spaces and ends with
one newline; ``--pretty-format`` indents by 4 spaces with ``": "`` and ends with a
newline; empty arrays print as ``[]``.  Ceph dumps may repeat a key (OpFinish's
``op_tid``), so dumps are ordered lists of pairs (:class:`Pairs`), not dicts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import orjson

F = TypeVar("F", bound=Callable[..., Any])


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object as an ordered list of (key, value) pairs; keys may repeat."""


def _plain(value: Any) -> Any:
    if isinstance(value, Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _has_pairs(value: Any) -> bool:
    if isinstance(value, Pairs):
        return True
    if isinstance(value, dict):
        return any(_has_pairs(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_pairs(v) for v in value)
    return False


def _encode_pretty(value: Any, level: int) -> str:
    pad = "    " * (level + 1)
    end = "    " * level
    if isinstance(value, Pairs | dict):
        items = list(value) if isinstance(value, Pairs) else list(value.items())
        if not items:
            return "{}"
        body = ",\n".join(f"{pad}{json.dumps(k, ensure_ascii=False)}: {_encode_pretty(v, level + 1)}" for k, v in items)
        return "{\n" + body + "\n" + end + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(pad + _encode_pretty(v, level + 1) for v in value) + "\n" + end + "]"
    return json.dumps(value, ensure_ascii=False)


def _encode_compact(value: Any) -> str:
    if isinstance(value, Pairs | dict):
        items = list(value) if isinstance(value, Pairs) else list(value.items())
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_encode_compact(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ceph_json(value: Any, pretty: bool = False) -> str:
    """``value`` as Ceph's JSONFormatter prints it, trailing newline included."""
    if pretty:
        return _encode_pretty(value, 0) + "\n"
    if not _has_pairs(value):
        return orjson.dumps(value).decode("utf-8") + "\n"
    return _encode_compact(value) + "\n"


def pretty_block(value: Any) -> str:
    """A pretty JSON block without the trailing newline (``rbd journal inspect --verbose`` entries)."""
    return _encode_pretty(value, 0)


def format_options(func: F) -> F:
    """``--format plain|json`` and ``--pretty-format``, as rbd offers them."""
    func = click.option("--pretty-format", is_flag=True, help="Pretty formatting (json).")(func)
    func = click.option("--format", "output_format", type=click.Choice(["plain", "json"]), default="plain",
                        show_default=True, help="Output format.")(func)
    return func


def echo(text: str) -> None:
    """Write ``text`` to stdout exactly (no newline added)."""
    click.echo(text, nl=False)


@contextmanager
def progress(total: int | None, description: str) -> Iterator[Callable[[int], None]]:
    """A byte-progress callback: a rich bar on a terminal's stderr, nothing in pipes."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=True, console=_stderr_console()) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)

