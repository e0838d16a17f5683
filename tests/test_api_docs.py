"""docs/api.md: every example runs, and passes `mypy --strict` as a user script importing the library."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs(index, tmp_path):
    script = tmp_path / f"example_{index}.py"
    script.write_text(EXAMPLES[index])
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_user_scripts_pass_mypy_strict(tmp_path):
    """As a user gets it: the installed package (py.typed) is analysed for its types, its own code is not checked."""
    scripts = []
    for index, code in enumerate(EXAMPLES):
        scripts.append(tmp_path / f"user_{index}.py")
        scripts[-1].write_text(code)
    bad = tmp_path / "user_bad.py"  # the check can fail: a wrong type against the library's annotations
    bad.write_text("from journaltools import api\n\nx: int = api.open_store('fixtures')\n")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {ROOT}\n\n[mypy-journaltools.*]\nfollow_imports = silent\n")
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file", str(config)]
    proc = subprocess.run([*mypy, *map(str, scripts)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([*mypy, str(bad)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'expression has type "Store", variable has type "int"' in proc.stdout
