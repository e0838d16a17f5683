"""The optional C extensions of the hot paths; everything else is in pyproject.toml.

journaltools/_native.c: the scanner's hot loop; journaltools/_native_json.c: the JSON/jsonl
export records of IO events (journaltools/export.py is the reference).

``optional=True``: without a C compiler or the Python headers the install goes on and
journaltools runs on its pure-Python path (journaltools/journal/scan.py, journaltools/export.py).
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra"]
setup(ext_modules=[Extension("journaltools._native", ["journaltools/_native.c"], optional=True,
                             extra_compile_args=_FLAGS),
                   Extension("journaltools._native_json", ["journaltools/_native_json.c"], optional=True,
                             extra_compile_args=_FLAGS)])
