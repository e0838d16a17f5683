r"""Printing as the ``rbd`` CLI prints: Ceph's JSONFormatter, ``--format``/``--pretty-format``, progress.

Ceph's JSONFormatter (src/common/Formatter.cc, string escaping in
src/common/escape.c ``escape_json_attr``), checked against the real ``rbd`` 16.2
on a sandbox cluster (``rbd info``, ``image-meta list``, ``journal status``):

* compact JSON has no spaces; rbd ends it with one newline;
* ``--pretty-format`` indents by 4 spaces with ``": "`` and ends with a newline;
  empty arrays and objects print as ``[]`` and ``{}`` in both modes;
* string *values* escape ``"`` ``\\`` ``\n`` ``\t`` as two characters and every
  other control character and DEL (0x7f) as ``\u00XX`` (lowercase hex, so ``\r``
  is ``\u000d``); ``/`` and non-ASCII bytes are written as they are;
* *keys* are written between quotes without any escaping (``print_name``);
* Ceph dumps may repeat a key (OpFinish's ``op_tid``), so dumps are ordered
  lists of pairs (:class:`Pairs`), not dicts.

Strings decoded from Ceph encodings keep non-UTF-8 bytes as surrogates
(``surrogateescape``); :func:`echo` writes them back as the original bytes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import orjson

F = TypeVar("F", bound=Callable[..., Any])


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object as an ordered list of (key, value) pairs; keys may repeat."""


_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\\x7f]')
_TWO_CHAR = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _TWO_CHAR.get(char) or f"\\u{ord(char):04x}"


def quote(text: str) -> str:
    """A string value as Ceph's JSONFormatter quotes it."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


# orjson writes \b \f \r as two characters and DEL raw; Ceph writes \u00XX for them
_ORJSON_FIXUPS = re.compile(rb'\\[bfr]|\\.|\x7f')
_ORJSON_FIXED = {b"\\b": b"\\u0008", b"\\f": b"\\u000c", b"\\r": b"\\u000d", b"\x7f": b"\\u007f"}


def _fix_orjson(match: re.Match[bytes]) -> bytes:
    found = match.group()
    return _ORJSON_FIXED.get(found, found)


def _orjson_safe(value: Any) -> bool:
    """True when orjson's compact output, after :data:`_ORJSON_FIXUPS`, is exactly Ceph's."""
    if isinstance(value, Pairs):
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and not _NEEDS_ESCAPE.search(k) and _orjson_safe(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_orjson_safe(v) for v in value)
    return True


def _items(value: Pairs | dict[str, Any]) -> list[tuple[str, Any]]:
    return list(value) if isinstance(value, Pairs) else list(value.items())


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # no Ceph dump we reproduce prints a float; this is orjson's form
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def _encode_pretty(value: Any, level: int) -> str:
    pad = "    " * (level + 1)
    end = "    " * level
    if isinstance(value, Pairs | dict):
        items = _items(value)
        if not items:
            return "{}"
        body = ",\n".join(f'{pad}"{k}": {_encode_pretty(v, level + 1)}' for k, v in items)
        return "{\n" + body + "\n" + end + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(pad + _encode_pretty(v, level + 1) for v in value) + "\n" + end + "]"
    return _scalar(value)


def _encode_compact(value: Any) -> str:
    if isinstance(value, Pairs | dict):
        return "{" + ",".join(f'"{k}":{_encode_compact(v)}' for k, v in _items(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode_compact(v) for v in value) + "]"
    return _scalar(value)


def ceph_json(value: Any, pretty: bool = False) -> str:
    """``value`` as Ceph's JSONFormatter prints it (rbd adds the trailing newline in compact mode)."""
    if pretty:
        return _encode_pretty(value, 0) + "\n"
    if _orjson_safe(value):
        try:
            return _ORJSON_FIXUPS.sub(_fix_orjson, orjson.dumps(value)).decode("utf-8") + "\n"
        except TypeError:
            pass  # strings holding non-UTF-8 bytes (surrogates): the slow path keeps them
    return _encode_compact(value) + "\n"


def pretty_block(value: Any) -> str:
    """A pretty JSON block without the trailing newline (``rbd journal inspect --verbose`` entries)."""
    return _encode_pretty(value, 0)


_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]


def byte_units(value: int) -> str:
    """Ceph's ``byte_u_t`` printer (exact multiples print as integers)."""
    n, index = value, 0
    while n >= 1024 and index < len(_UNITS) - 1:
        n //= 1024
        index += 1
    if index == 0 or value % (1 << (10 * index)) == 0:
        return f"{n} {_UNITS[index]}"
    return f"{value / (1 << (10 * index)):.2f} {_UNITS[index]}"


def format_options(func: F) -> F:
    """``--format plain|json`` and ``--pretty-format``, as rbd offers them."""
    func = click.option("--pretty-format", is_flag=True, help="Pretty formatting (json).")(func)
    func = click.option("--format", "output_format", type=click.Choice(["plain", "json"]), default="plain",
                        show_default=True, help="Output format.")(func)
    return func


_SURROGATES = re.compile("[\udc80-\udcff]")


def echo(text: str, err: bool = False) -> None:
    """Write ``text`` to stdout (or stderr) exactly: no newline added, non-UTF-8 bytes restored.

    Text without such bytes goes through the text stream (buffered, no flush per call).
    """
    stream = sys.stderr if err else sys.stdout
    if _SURROGATES.search(text) is None:
        stream.write(text)
        return
    raw = text.encode("utf-8", "surrogateescape")
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (e.g. io.StringIO): the bytes cannot be kept
        stream.write(raw.decode("utf-8", "replace"))
        return
    stream.flush()  # keep the order of what was written as text before
    buffer.write(raw)
    buffer.flush()


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

