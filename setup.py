"""The optional C extension of the scanner's hot loop (journaltools/_native.c); everything else is in pyproject.toml.

``optional=True``: without a C compiler or the Python headers the install goes on and
journaltools runs on its pure-Python path (journaltools/journal/scan.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("journaltools._native", ["journaltools/_native.c"], optional=True,
                             extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra"])])
