"""What rbd prints when a command journaltools implements fails: the lines, as data.

Run as ``rbd``, a failure is reported with rbd's own lines, so that scripts that grep rbd's
``rbd: ...`` messages keep working.  Two kinds of lines come from two places:

* opening: a missing pool, image, or an image whose journal is asked for
  (``rbd: error opening pool 'p': (2) No such file or directory``, ``rbd: error opening image x: ...``,
  ``rbd: failed to open image x to get journal name: ...``) are set where the pool or image is
  opened (:func:`journaltools.rbd_cli.rbd_step`);
* the command's own failure after that: :data:`RULES` below, matched on the command, the error's
  errno and our message; the first matching rule gives the lines.

A line is ``text`` (printed ``rbd: text: (errno) strerror``), ``=text`` (printed as it is, on
stderr), ``>text`` (on stdout: what rbd prints there before it fails), or ``librbd::...`` (librbd's
error log line, printed with a time stamp and thread as librbd's log prints it), or ``~`` (rbd prints
nothing: only its exit code tells).  ``{error}`` is
``(errno) strerror``; ``{1}``... are the groups of the message pattern.  A rule with lines ``None``
keeps our message (it is rbd's own wording already).  Without a matching rule the message is ours.

Measured with tests/rbd_failures.py against rbd 16.2.15 (Pacific), 18.2.7 (Reef) and 20.2.4
(Tentacle): the lines are the same in the three releases, but where a rule says ``since``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ENOENT, EEXIST, EINVAL = 2, 17, 22
_GROUP = r"^group \S+ does not exist"
_IMAGE = r"^image \S+ does not exist"
_JOURNAL = r"^journal \S+ does not exist"


@dataclass(frozen=True)
class Rule:
    command: tuple[str, ...]
    errno: int | None  # None: any
    pattern: str | None  # a regular expression searched in our message; None: any
    lines: tuple[str, ...] | None
    since: int = 0  # the first release (major version) the rule holds for


def _r(command: str, errno: int | None, pattern: str | None, *lines: str, since: int = 0) -> Rule:
    return Rule(tuple(command.split()), errno, pattern, lines, since)


def _keep(command: str, pattern: str) -> Rule:
    return Rule(tuple(command.split()), None, pattern, None)


def _group_lookup(command: str, function: str, *then: str) -> Rule:
    """A missing group, as librbd's api::Group reports it (then rbd's own line)."""
    return _r(command, ENOENT, _GROUP, f"librbd::api::Group: {function}: error reading group id object: {{error}}",
              *then)


RULES: tuple[Rule, ...] = (
    # Tentacle's info of a namespace whose pool (default namespace) has no mirror uuid: exit 2, no words
    _r("mirror pool info", ENOENT, r"^no mirror uuid in ", "~", since=20),
    # journal: rbd's own words already
    *(_keep(f"journal {c}", r"^journaling is not enabled for image ")
      for c in ("info", "status", "inspect", "export", "import", "reset", "client disconnect")),
    _r("journal info", ENOENT, None, "journal info"),
    _r("journal status", ENOENT, None, "journal status"),
    _r("journal inspect", ENOENT, _JOURNAL, "=failed to register client: {error}",
       ">Summary:\n  0 entries inspected, 0 errors", "failed to unregister journal client", "journal inspect"),
    _r("journal inspect", ENOENT, None, "journal inspect"),
    _r("journal export", ENOENT, _JOURNAL, "=failed to register client: {error}", ">0 entries processed, 0 errors",
       "failed to unregister journal client", "journal export"),
    _r("journal export", ENOENT, None, "journal export"),
    _r("journal import", None, r"^error opening (.+): [^:]+$", "=rbd: error opening {1}", "journal import"),
    _r("journal import", ENOENT, None, "journal import"),
    _r("journal reset", ENOENT, None, "journal reset"),
    _r("journal client disconnect", ENOENT, r"^client (.+) is not registered$", "=warning: client {1} is not registered",
       "journal client disconnect"),
    _r("journal client disconnect", ENOENT, r"^no registered clients to disconnect$",
       "=no registered clients to disconnect", "journal client disconnect"),
    _r("journal client disconnect", ENOENT, None, "journal client disconnect"),
    # features
    _r("feature enable", EINVAL, r" is already enabled on image ",
       "librbd::Operations: one or more requested features are already enabled", "failed to update image features"),
    _r("feature disable", EINVAL, r" is not enabled on image ",
       "librbd::Operations: one or more requested features are already disabled", "failed to update image features"),
    # groups
    _r("group create", EEXIST, None, "librbd::api::Group: create: error adding group to directory: {error}",
       "create error"),
    _r("group rename", EEXIST, None, "librbd::api::Group: rename: error renaming group from directory",
       "failed to rename group"),
    _r("group rename", ENOENT, None, "failed to rename group"),
    _group_lookup("group image add", "image_add", "add image error"),
    _r("group image add", ENOENT, _IMAGE, "librbd::api::Group: image_add: error reading image id object: {error}",
       "add image error"),
    _group_lookup("group image remove", "image_remove", "remove image error"),
    _r("group image remove", ENOENT, _IMAGE,
       "librbd::api::Group: image_remove: error reading image id object: {error}", "remove image error"),
    _group_lookup("group snap create", "snap_create"),
    _group_lookup("group snap remove", "snap_remove", "failed to remove group snapshot"),
    _r("group snap remove", ENOENT, None, "failed to remove group snapshot"),
    _r("group snap rename", ENOENT, None, "failed to rename group snapshot"),
    _group_lookup("group snap rollback", "snap_rollback", "rollback group to snapshot failed"),
    _r("group snap rollback", ENOENT, None, "rollback group to snapshot failed"),
    # mirroring
    _r("mirror pool disable", EINVAL, r"^mirroring is enabled on \d+ images",
       "librbd::api::Mirror: mode_set: failed to disable mirror mode: there are still images with mirroring enabled"),
    _r("mirror image enable", EINVAL, r"^mirroring not enabled on the pool$",
       "librbd::api::Mirror: image_enable: cannot enable mirroring: mirroring is not enabled on a pool"),
    _r("mirror image disable", EINVAL, r"^cannot disable mirroring in the current pool mirroring mode$",
       "librbd::api::Mirror: image_disable: cannot disable mirroring in the current pool mirroring mode"),
    _r("mirror image promote", EINVAL, r"^image is already primary$",
       "librbd::mirror::PromoteRequest: 0x{pointer} handle_get_info: image is already primary",
       "librbd::api::Mirror: image_promote: failed to promote image", "=rbd: error promoting image to primary"),
    _r("mirror image resync", EINVAL, r"^image is primary, cannot resync to itself$",
       "librbd::api::Mirror: image_resync: image is primary, cannot resync to itself",
       "=rbd: error flagging image resync"),
    _r("mirror image snapshot", EINVAL, r"^snapshot based mirroring not enabled",
       "=rbd: snapshot based mirroring not enabled on the image"),
)


def rbd_lines(command: Sequence[str], errno: int, message: str,
              release: Callable[[], int] = lambda: 16) -> tuple[str, ...] | None:
    """The lines rbd of ``release()`` (a major version; asked only when a rule depends on it) prints for this
    failure of ``command`` (see the module docstring), None: our message."""
    import os

    for rule in sorted(RULES, key=lambda r: -r.since):  # a release's own rule before the older releases' one
        if rule.command != tuple(command) or (rule.errno is not None and rule.errno != errno):
            continue
        if rule.since and rule.since > release():
            continue
        match = re.search(rule.pattern, message) if rule.pattern is not None else None
        if rule.pattern is not None and match is None:
            continue
        if rule.lines is None:
            return None
        groups = (message, *(match.groups() if match else ()))
        error = f"({errno}) {os.strerror(errno)}"
        pointer = f"{id(rule) & 0xFFFFFFFFFFFF:x}"
        out = []
        for line in rule.lines:
            text = line.format(*groups, error=error, pointer=pointer)
            plain = line.startswith(("=", ">", "librbd::", "~")) or "{error}" in line
            out.append(text if plain else f"rbd: {text}: {error}")
        return tuple(out)
    return None
