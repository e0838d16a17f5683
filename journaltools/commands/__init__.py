"""Click commands, one module per command group; each module registers itself on ``journaltools.cli.main``."""
