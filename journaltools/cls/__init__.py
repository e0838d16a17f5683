"""Object-class (cls) methods: argument encodings and their offline emulation.

:mod:`journaltools.cls.journal` and :mod:`journaltools.cls.rbd` encode a method's
input with the format layer and call ``Pool.execute``; on a live cluster the OSD
runs Ceph's own class, offline :mod:`journaltools.cls.emulation` runs ours with
the same checks and errors.
"""
