"""rbd's conventions that need no click: the mode flag, the program's name, the real rbd, rbd's lines.

The click-free half of :mod:`journaltools.rbd_cli` (which re-exports every name here):
the click commands and the fast path of the read commands (:mod:`journaltools.fastpath`)
share it, so that a command run either way prints the same lines.  Tables of the options
rbd takes (:data:`CLUSTER_OPTIONS`, :data:`RBD_OPTIONS`) are here for the same reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .output import say

if TYPE_CHECKING:
    from .errors import JournalToolsError

#: the cluster options rbd takes anywhere on the line -> the AppContext field they set
CLUSTER_OPTIONS: dict[str, str] = {
    "-c": "conf", "--conf": "conf",
    "--cluster": "cluster",
    "--id": "client_id", "--user": "client_id",
    "-n": "name", "--name": "name",
    "-m": "mon_host", "--mon-host": "mon_host", "--mon_host": "mon_host",
    "-K": "keyfile", "--keyfile": "keyfile",
    "-k": "keyring", "--keyring": "keyring",
    "--store": "store_dir",
    "--release": "release_name",
}
FLAG_OPTIONS = {"--debug": "debug"}

_SPEC_OPTS = ("pool", "namespace", "image")
_JOURNAL_OPTS = ("pool", "namespace", "image", "journal")
_GROUP_OPTS = ("pool", "namespace", "group")
_FORMAT_OPTS = ("format", "pretty-format")
#: rbd 16.2's options of the commands journaltools implements (``rbd help <command>``; -p is --pool):
#: run as rbd, any other option is refused as rbd refuses it, except journaltools' safety options
#: (:data:`SAFETY_OPTIONS`).  tests/test_rbd_dropin.py checks this table against the real ``rbd help``.
RBD_OPTIONS: dict[tuple[str, ...], frozenset[str]] = {k: frozenset(v) for k, v in {
    ("journal", "info"): _JOURNAL_OPTS + _FORMAT_OPTS,
    ("journal", "status"): _JOURNAL_OPTS + _FORMAT_OPTS,
    ("journal", "inspect"): _JOURNAL_OPTS + ("verbose",),
    ("journal", "export"): _JOURNAL_OPTS + ("path", "verbose", "no-error"),
    ("journal", "import"): ("path", "dest-pool", "dest-namespace", "dest", "dest-journal", "verbose", "no-error"),
    ("journal", "reset"): _JOURNAL_OPTS,
    ("journal", "client", "disconnect"): _JOURNAL_OPTS + ("client-id",),
    ("status",): _SPEC_OPTS + _FORMAT_OPTS,
    ("feature", "enable"): _SPEC_OPTS + ("journal-splay-width", "journal-object-size", "journal-pool"),
    ("feature", "disable"): _SPEC_OPTS,
    ("group", "create"): _GROUP_OPTS,
    ("group", "remove"): _GROUP_OPTS,
    ("group", "rename"): _GROUP_OPTS + ("dest-pool", "dest-namespace", "dest-group"),
    ("group", "list"): ("pool", "namespace") + _FORMAT_OPTS,
    ("group", "image", "add"): ("group-pool", "group-namespace", "group", "image-pool", "image-namespace", "image",
                                "pool"),
    ("group", "image", "remove"): ("group-pool", "group-namespace", "group", "image-pool", "image-namespace", "image",
                                   "pool", "image-id"),
    ("group", "image", "list"): _GROUP_OPTS + _FORMAT_OPTS,
    ("group", "snap", "create"): _GROUP_OPTS + ("snap", "skip-quiesce", "ignore-quiesce-error"),
    ("group", "snap", "remove"): _GROUP_OPTS + ("snap",),
    ("group", "snap", "rename"): _GROUP_OPTS + ("snap", "dest-snap"),
    ("group", "snap", "rollback"): _GROUP_OPTS + ("snap", "no-progress"),
    ("group", "snap", "list"): _GROUP_OPTS + _FORMAT_OPTS,
    ("mirror", "pool", "info"): ("pool", "namespace", "all") + _FORMAT_OPTS,
    ("mirror", "pool", "status"): ("pool", "namespace", "verbose") + _FORMAT_OPTS,
    ("mirror", "pool", "enable"): ("pool", "namespace", "site-name"),
    ("mirror", "pool", "disable"): ("pool", "namespace"),
    ("mirror", "pool", "peer", "add"): ("pool", "remote-client-name", "remote-cluster", "remote-mon-host",
                                        "remote-key-file", "direction"),
    ("mirror", "pool", "peer", "remove"): ("pool",),
    ("mirror", "image", "status"): _SPEC_OPTS + _FORMAT_OPTS,
    ("mirror", "image", "enable"): _SPEC_OPTS,
    ("mirror", "image", "disable"): _SPEC_OPTS + ("force",),
    ("mirror", "image", "promote"): _SPEC_OPTS + ("force",),
    ("mirror", "image", "demote"): _SPEC_OPTS,
    ("mirror", "image", "resync"): _SPEC_OPTS,
    ("mirror", "image", "snapshot"): _SPEC_OPTS + ("skip-quiesce", "ignore-quiesce-error"),
}.items()}
#: journaltools' options that stay available when run as rbd: the safety of destructive commands
SAFETY_OPTIONS = frozenset({"backup", "no-backup", "yes-i-really-mean-it", "keep-clients"})


_RBD_MODE = False


def rbd_mode() -> bool:
    """Whether this run is journaltools as ``rbd`` (set by :func:`journaltools.cli.run`): print only what rbd prints."""
    return _RBD_MODE


def set_rbd_mode(on: bool) -> None:
    global _RBD_MODE
    _RBD_MODE = on


def invoked_as_rbd(argv0: str | None = None) -> bool:
    return os.path.basename(argv0 if argv0 is not None else sys.argv[0]) == "rbd"


def program_name(argv0: str | None = None) -> str:
    """``rbd`` when run through a link named rbd, else ``journaltools``: the prefix of every message."""
    return "rbd" if invoked_as_rbd(argv0) else "journaltools"


def real_rbd(argv0: str | None = None) -> str | None:
    """The real rbd: ``$JOURNALTOOLS_REAL_RBD``, else the first ``rbd`` on PATH that is not this program."""
    configured = os.environ.get("JOURNALTOOLS_REAL_RBD")
    if configured:
        return configured
    me = os.path.realpath(argv0 if argv0 is not None else sys.argv[0])
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep) + ["/usr/bin"]:
        candidate = os.path.join(directory or ".", "rbd")
        if os.access(candidate, os.X_OK) and os.path.realpath(candidate) != me:
            return candidate
    return None


def exec_real_rbd(args: Sequence[str]) -> int:
    """Replace this process with the real rbd running ``args`` (returns only when there is none)."""
    target = real_rbd()
    if target is None:
        say("rbd: the real rbd was not found (set JOURNALTOOLS_REAL_RBD)", err=True)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(target, ["rbd", *args])
    return 127  # pragma: no cover - execv does not return


# -- failures worded as rbd words them -----------------------------------------------------
def rbd_errno_text(errno_value: int) -> str:
    """Ceph's cpp_strerror: ``(2) No such file or directory``."""
    return f"({errno_value}) {os.strerror(errno_value)}"


@contextlib.contextmanager
def rbd_step(*texts: str) -> Iterator[None]:
    """Run as rbd, a :class:`~journaltools.errors.JournalToolsError` raised inside is reported with rbd's lines.

    Each text is one line rbd prints when this step fails: ``rbd: <text>: (<errno>) <strerror>``
    (the error's errno), or a line of :func:`print_rbd_lines` when it starts with ``=``, ``>`` or
    ``librbd::``.  The lines of an inner step come first (``error opening pool 'p'``, then
    ``failed to open image x to get journal name``); a failure with lines is not worded again by
    the command (journaltools.rbd_messages).  Run as journaltools, the error keeps its message.
    """
    from .errors import JournalToolsError

    try:
        yield
    except JournalToolsError as exc:
        if rbd_mode():
            exc.rbd_lines = (*exc.rbd_lines, *(_rbd_line(t, exc.errno) for t in texts))
        raise


def _rbd_line(text: str, errno_value: int) -> str:
    if text.startswith(("librbd::", "=", ">")):
        return text
    return f"rbd: {text}: {rbd_errno_text(errno_value)}"


def release_major(app: Any) -> int:
    """The major version of the release ``app`` (an AppContext) speaks for (Pacific's when it cannot be told)."""
    try:
        return int(app.release().major)
    except Exception:  # noqa: BLE001 - no store, no cluster: the oldest release's wording
        return 16


def reword_failure(exc: JournalToolsError, command: tuple[str, ...], app: Any) -> None:
    """Run as rbd: give the command's failure rbd's lines (journaltools.rbd_messages), unless a step did."""
    if rbd_mode() and not exc.rbd_lines:
        from .rbd_messages import rbd_lines

        exc.rbd_lines = rbd_lines(command, exc.errno, str(exc), lambda: release_major(app)) or ()


def print_rbd_lines(lines: Sequence[str]) -> None:
    """rbd's lines: ``>text`` on stdout, ``=text`` and ``rbd: ...`` on stderr, a ``librbd::`` one as librbd logs
    an error (time stamp, thread, level -1)."""
    import threading
    import time

    for line in lines:
        if line == "~":  # rbd says nothing
            continue
        if line.startswith(">"):
            say(line[1:])
            continue
        if line.startswith("librbd::"):
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}+0000"
            line = f"{stamp} {threading.get_ident():x} -1 {line}"
        say(line.removeprefix("="), err=True)
