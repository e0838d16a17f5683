"""journaltools: Ceph RBD journals and mirroring metadata, byte for byte."""

__version__ = "0.1.0"
