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
        import orjson  # here: plain-text commands do not pay for importing it at start-up

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


# -- XML, as Ceph's XMLFormatter prints it --------------------------------------------------
_XML_ESCAPES = {"<": "&lt;", "&": "&amp;", ">": "&gt;", "'": "&apos;", '"': "&quot;"}
_XML_NEEDS_ESCAPE = re.compile("[<&>'\"\x00-\x08\x0b-\x1f\x7f]")


def _xml_escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _XML_ESCAPES.get(char) or f"&#x{ord(char):02x};"


def xml_escape(text: str) -> str:
    """A string value as Ceph escapes XML text (src/common/escape.cc ``xml_stream_escaper``).

    ``< & > ' "`` become entities; control characters other than tab and newline,
    and DEL, become ``&#xNN;`` (lowercase hex); everything else (non-ASCII bytes
    included) is written as it is.
    """
    return _XML_NEEDS_ESCAPE.sub(_xml_escape_char, text)


def _xml_name(name: str) -> str:
    return name.replace(" ", "_")  # XMLFormatter(underscored=true): spaces in element names become "_"


def _xml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return xml_escape(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return _scalar(value)
    raise TypeError(f"cannot print {type(value).__name__} as XML")


def ceph_xml(value: Any, root: str, items: dict[str, str] | None = None, pretty: bool = False) -> str:
    """``value`` (a JSON document) as Ceph's XMLFormatter prints it, with rbd's final newline.

    XML names what JSON leaves anonymous: the document is the section ``root``, and
    the elements of an array are named by ``items[<the array's name>]`` (the names
    rbd's commands give to ``open_object_section``/``dump_string`` inside their
    ``open_array_section``).  Objects and arrays are sections ``<name>...</name>``;
    pretty output indents every element by one space per open section and ends each
    element with a newline; rbd ends the output with one more newline either way.
    """
    names = items or {}
    out: list[str] = []

    def element(name: str, item: Any, depth: int) -> None:
        pad = " " * depth if pretty else ""
        end = "\n" if pretty else ""
        tag = _xml_name(name)
        if isinstance(item, Pairs | dict):
            out.append(f"{pad}<{tag}>{end}")
            for key, child in _items(item):
                element(key, child, depth + 1)
            out.append(f"{pad}</{tag}>{end}")
        elif isinstance(item, list | tuple):
            if item and name not in names:
                raise KeyError(f"no XML element name for the items of array {name!r}")
            out.append(f"{pad}<{tag}>{end}")
            for child in item:
                element(names[name], child, depth + 1)
            out.append(f"{pad}</{tag}>{end}")
        else:
            out.append(f"{pad}<{tag}>{_xml_scalar(item)}</{tag}>{end}")

    element(root, value, 0)
    return "".join(out) + "\n"


# -- --format / --pretty-format ---------------------------------------------------------------
PRETTY_FORMAT_ERROR = "--pretty-format only works when --format is json or xml"


def _format_decorator(func: F, formats: list[str], pretty_help: str) -> F:
    import click

    func = click.option("--pretty-format", is_flag=True, help=pretty_help)(func)
    func = click.option("--format", "output_format", type=click.Choice(formats), default="plain",
                        show_default=True, help="Output format.")(func)
    return func


def format_options(func: F | None = None, *, xml: bool = False) -> Any:
    """``--format plain|json[|xml]`` and ``--pretty-format``, as rbd offers them.

    ``@format_options`` offers plain and json; ``@format_options(xml=True)`` adds
    xml, for the commands rbd can print as XML (print them with :func:`emit`).
    """
    formats = ["plain", "json", "xml"] if xml else ["plain", "json"]
    pretty_help = "Pretty formatting (json and xml)." if xml else "Pretty formatting (json)."
    if func is None:
        return lambda f: _format_decorator(f, formats, pretty_help)
    return _format_decorator(func, formats, pretty_help)


def check_pretty_format() -> None:
    """rbd's refusal of ``--pretty-format`` without ``--format json|xml`` (EINVAL, exit 22).

    rbd checks it once the positional specs are parsed, before it opens anything:
    the spec helpers call this; :func:`emit` calls it too for commands without a spec.
    """
    if _plain_options is not None:  # a command run without click (journaltools.fastpath)
        chain = [_plain_options]
    else:
        click = sys.modules.get("click")  # without click imported there is no click context either
        ctx = click.get_current_context(silent=True) if click is not None else None
        chain = []
        while ctx is not None:
            chain.append(ctx.params)
            ctx = ctx.parent
    for params in chain:
        if params.get("pretty_format") and params.get("output_format") not in ("json", "xml"):
            from .errors import SpecError

            raise SpecError(PRETTY_FORMAT_ERROR)


#: the options of the command run by journaltools.fastpath (click's context holds them otherwise)
_plain_options: dict[str, Any] | None = None


@contextmanager
def plain_options(params: dict[str, Any]) -> Iterator[None]:
    """While a command runs without click, :func:`check_pretty_format` reads its options from ``params``."""
    global _plain_options
    _plain_options = params
    try:
        yield
    finally:
        _plain_options = None


def emit(doc: Any, output_format: str, pretty: bool, *, plain: str | Callable[[], str] | None = None,
         xml_root: str | None = None, xml_items: dict[str, str] | None = None) -> None:
    """Print ``doc`` as rbd prints it: JSON, XML (root and array item names as rbd names them) or plain text."""
    check_pretty_format()
    if output_format == "json":
        echo(ceph_json(doc, pretty))
    elif output_format == "xml":
        if xml_root is None:
            raise TypeError("this command has no XML form")
        echo(ceph_xml(doc, xml_root, xml_items, pretty))
    else:
        echo(plain() if callable(plain) else (plain or ""))


def text_table(columns: list[tuple[str, str, str]], rows: list[list[str]]) -> str:
    """Rows as Ceph's TextTable prints them (rbd's tables): ``columns`` are (heading, heading align, cell align).

    Every column is as wide as its widest cell or heading, cells are padded to it
    (``"left"`` or ``"right"``), the last column too, and columns are joined by two
    spaces; an empty table is still its heading line (callers print nothing instead).
    """
    widths = [max([len(heading)] + [len(row[i]) for row in rows]) for i, (heading, _, _) in enumerate(columns)]

    def line(cells: list[str], aligns: list[str]) -> str:
        return "  ".join(cell.rjust(w) if align == "right" else cell.ljust(w)
                         for cell, w, align in zip(cells, widths, aligns, strict=True)) + "\n"

    out = [line([c[0] for c in columns], [c[1] for c in columns])]
    out += [line(row, [c[2] for c in columns]) for row in rows]
    return "".join(out)


_SURROGATES = re.compile("[\udc80-\udcff]")


def say(text: str = "", err: bool = False) -> None:
    """One line as ``click.echo`` prints it (a newline added, the stream flushed), without importing click.

    Text click would change (ANSI escapes, stripped off a stream that is not a terminal) or
    encode its own way (anything but ASCII) goes through ``click.echo`` itself.
    """
    if not text.isascii() or "\x1b" in text:
        import click

        click.echo(text, err=err)
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


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

