"""Running the CLI in-process and comparing with rbd's goldens."""

from __future__ import annotations

import shutil
from pathlib import Path

from journaltools.cli import run

from .journal_factory import FIXTURES


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``journaltools ARGS`` in process; returns (exit code, stdout, stderr)."""
    code = run([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def store_copy(tmp_path: Path, name: str) -> Path:
    """A writable copy of ``fixtures/stores/<name>``."""
    dest = tmp_path / name
    shutil.copytree(FIXTURES / "stores" / name, dest)
    return dest


def golden(path: str) -> str:
    return (FIXTURES / "golden" / path).read_text()
