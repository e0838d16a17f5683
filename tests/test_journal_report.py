"""journal report: the page rendered by headless Chromium (Debian's `chromium`), its DOM and its pixels checked."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .cli_helpers import cli, store_copy
from .journal_factory import FIXTURES

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        message = "chromium is not installed (make ceph-deps installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return exe


def run_chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"  # a fresh --user-data-dir each run
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,1800",
                           *args, page.as_uri()], capture_output=True, timeout=120, check=True)


class Elements(HTMLParser):
    """Every element of the rendered DOM: (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def having(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def render(tmp_path: Path, page: Path) -> tuple[Elements, tuple[int, int, list[bytes]]]:
    dom = run_chromium(tmp_path, page, "--dump-dom").stdout.decode()
    elements = Elements()
    elements.feed(dom)
    shot = tmp_path / "page.png"
    run_chromium(tmp_path, page, f"--screenshot={shot}")
    return elements, png_pixels(shot.read_bytes())


def test_report_renders_every_section(tmp_path, capsys):
    page = tmp_path / "small.html"
    code, _, err = cli(capsys, "--store", str(FIXTURES / "stores" / "site-a"), "journal", "report", "rbd/small", page)
    assert code == 0 and "45 entries, 0 problems" in err
    assert "http" not in page.read_text().replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    dom, (width, height, rows) = render(tmp_path, page)
    assert [a["id"] for a in dom.having("svg")] == ["timeline", "fill", "clients"]
    bins = dom.having("rect", class_="bin")
    assert {b["data-type"] for b in bins} == {"AioWrite", "AioFlush"}
    cells = [a["id"] for t, a in dom.found if t == "rect" and a.get("id", "").startswith("obj-")]
    assert cells == [f"obj-{n}" for n in range(12, 22)]
    assert [a["data-client"] for a in dom.having("rect", class_="commit")] == ["", "late-peer"]
    assert dom.having("p", id="problems")  # "no problems found"
    assert [a["id"] for a in dom.having("tr") if a.get("id", "").startswith("object-")] == [
        f"object-{n}" for n in range(12, 22)]
    # the screenshot: the window's size, and drawn (many non-white pixels, the fill grid's blue among them)
    assert (width, height) == (1200, 1800)
    step = len(rows[0]) // width
    pixels = [row[i:i + 3] for row in rows[::4] for i in range(0, len(row), step * 4)]
    inked = [p for p in pixels if p != b"\xff\xff\xff"]
    assert len(inked) > len(pixels) // 50
    assert any(p[2] == 255 and p[0] < 120 and p[1] < 120 for p in inked)  # a full object's cell (deep blue)


def test_report_links_every_problem_to_its_object_and_offset(tmp_path, capsys):
    root = store_copy(tmp_path, "site-a")
    victim = root / "rbd" / "objects" / "journal_data.2.10556543e48c.1"
    data = bytearray(victim.read_bytes())
    data[60] ^= 0xFF
    victim.write_bytes(bytes(data))
    page = tmp_path / "img2.html"
    code, _, err = cli(capsys, "--store", str(root), "journal", "report", "--pool", "rbd", "--image", "img2", page)
    assert code == 1 and "errors)" in err
    code, inspect_out, _ = cli(capsys, "--store", str(root), "journal", "inspect", "--format", "json", "--pool", "rbd",
                               "--image", "img2")
    import json

    problems = json.loads(inspect_out)["problems"]
    assert problems
    dom, _ = render(tmp_path, page)
    rows = [a for a in dom.having("tr") if a.get("id", "").startswith("problem-")]
    assert len(rows) == len(problems)
    links = [a["href"] for a in dom.having("a", class_="object")]
    assert "#object-1" in links
    assert dom.having("tr", id="object-1")
    assert dom.having("rect", id="obj-1", class_="cell bad")  # the object's cell is marked
    text = page.read_text()
    for p in problems:
        if p["offset"] is not None:
            assert f'<td class="n">{p["offset"]}</td>' in text
    code, _, err = cli(capsys, "--store", str(root), "journal", "report", "--pool", "rbd", "--image", "img2", page)
    assert code != 0 and "already exists" in err
