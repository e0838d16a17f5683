"""``python -m journaltools``."""

from .fastpath import console_main

console_main()
