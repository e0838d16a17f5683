"""The small exception tree of journaltools.

Every error the library raises on purpose derives from :class:`JournalToolsError`;
the CLI turns one into a single line on stderr and a non-zero exit code, never a
traceback.  Errors carry the errno Ceph would use, so that ``exit_code`` matches
what ``rbd`` returns for the same failure where there is one.
"""

from __future__ import annotations

import errno as _errno


class JournalToolsError(Exception):
    """Base of all expected errors.  ``errno`` is a positive errno value."""

    errno: int = _errno.EINVAL
    #: run as rbd, the lines rbd prints for this failure instead of the message (journaltools.rbd_cli.rbd_step)
    rbd_lines: tuple[str, ...] = ()

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        if errno is not None:
            self.errno = errno

    @property
    def exit_code(self) -> int:
        return self.errno if 0 < self.errno < 256 else 1


class FormatError(JournalToolsError):
    """Bytes that do not decode as the Ceph type asked for (or a value that cannot be encoded).

    ``offset`` is the byte offset inside the decoded buffer where decoding failed,
    ``path`` the field path (``struct -> field``) as construct reports it.
    """

    errno = _errno.EBADMSG

    def __init__(self, message: str, *, offset: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.path = path


class SpecError(JournalToolsError):
    """A malformed or incomplete journal/image/pool specification."""

    errno = _errno.EINVAL


class NotFoundError(JournalToolsError):
    """A pool, object, image, journal, client or key that does not exist."""

    errno = _errno.ENOENT


class ExistsError(JournalToolsError):
    """Something that must not exist yet already does."""

    errno = _errno.EEXIST


class StaleError(JournalToolsError):
    """An update based on an outdated view (Ceph's ESTALE)."""

    errno = _errno.ESTALE


class BusyError(JournalToolsError):
    """The object is in a state that forbids the change (Ceph's EBUSY)."""

    errno = _errno.EBUSY


class StoreError(JournalToolsError):
    """The object store failed (I/O error, unreadable layout, cluster error)."""

    errno = _errno.EIO


class ConfirmationRequired(JournalToolsError):
    """A destructive command was run without its confirmation flag."""

    errno = _errno.EPERM
