"""The read commands' command lines parsed without click: start-up is part of every command's time.

``journal info|status|inspect|export`` and ``journal client list``, run as journaltools or as
``rbd``, are what scripts and operators run most, often on small journals where start-up is
most of the time.  Click (~10 ms to import) and the rearranging of rbd's command line
(:mod:`journaltools.rbd_cli`) are then a large share.  :func:`attempt` parses such a line by
hand, **only when it understands every word of it** -- the cluster options (anywhere, also
from ``$CEPH_ARGS``), the command words, the command's own options in their plain forms
(``--opt value``, ``--opt=value``, ``-p value``) -- and runs the same implementation the click
command runs (:mod:`journaltools.commands.journal_read`).  Anything else (help, ``-h``
anywhere, ``--version``, ``--``, an unknown, repeated or misplaced option, a value that starts
with ``-`` or is empty, a bad choice or number, shell completion, ``$JOURNALTOOLS_NO_FASTPATH``)
returns None, before anything was printed or opened, and the click path runs the line as
always: what is printed and the exit code are the same either way (tests/test_fastpath.py
runs a table of command lines both ways).

:func:`console_main` is the console script: after a read command it flushes stdout and
stderr and ends the process with ``os._exit``, skipping the interpreter's teardown and
librados' shutdown (nothing is buffered any more and nothing was written to the cluster).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import Any

from .rbd_mode import CLUSTER_OPTIONS, FLAG_OPTIONS, RBD_OPTIONS, invoked_as_rbd, program_name, set_rbd_mode

#: an option's kind: a value (str), a flag (bool), a whole number (int), a choice among words (a tuple),
#: or a repeatable one (a list: [kind], its values gathered in a tuple)
Kind = Any

_SPEC: dict[str, tuple[str, Kind]] = {"-p": ("pool", str), "--pool": ("pool", str), "--namespace": ("namespace", str),
                                      "--image": ("image", str), "--journal": ("journal_name", str)}
_FILTERS: dict[str, tuple[str, Kind]] = {"--tag": ("tags", [int]), "--from-tid": ("from_tid", int),
                                         "--to-tid": ("to_tid", int), "--event-type": ("event_types", [str]),
                                         "--since": ("since", str), "--until": ("until", str)}


def _format(*choices: str) -> dict[str, tuple[str, Kind]]:
    return {"--format": ("output_format", choices), "--pretty-format": ("pretty_format", bool)}


class _Command:
    """A read command as the fast path knows it: its options (as click declares them) and defaults."""

    def __init__(self, function: str, positionals: tuple[str, ...], options: dict[str, tuple[str, Kind]],
                 defaults: dict[str, Any]) -> None:
        self.function = function  # in journaltools.commands.journal_read
        self.positionals = positionals
        self.options = {**_SPEC, **options}
        self.defaults = {**dict.fromkeys(positionals), **{dest: None for dest, _ in self.options.values()}, **defaults}
        for dest, kind in self.options.values():
            if kind is bool:
                self.defaults[dest] = False
            elif isinstance(kind, list):
                self.defaults[dest] = ()


_INSPECT_EXPORT = {"--verbose": ("verbose", bool), "--all": ("all_entries", bool),
                   "--on-error": ("on_error", ("stop", "skip")), "--no-error": ("no_error", bool), **_FILTERS}
COMMANDS: dict[tuple[str, ...], _Command] = {
    ("journal", "info"): _Command("info", ("journal_spec",), _format("plain", "json", "xml"),
                                  {"output_format": "plain"}),
    ("journal", "status"): _Command("status", ("journal_spec",),
                                    {**_format("plain", "json", "xml"), "--no-lag": ("no_lag", bool)},
                                    {"output_format": "plain"}),
    ("journal", "inspect"): _Command("inspect", ("journal_spec",), {**_INSPECT_EXPORT, **_format("plain", "json")},
                                     {"output_format": "plain", "on_error": "skip"}),
    ("journal", "export"): _Command("export", ("journal_spec", "path_arg"),
                                    {"--path": ("path_opt", str), "--format": ("export_format", ("json", "jsonl", "rbd")),
                                     **_INSPECT_EXPORT, "--force": ("force", bool)},
                                    {"on_error": "stop", "follow": False, "poll_interval": 0.5}),
    ("journal", "client", "list"): _Command("client_list", ("journal_spec",), _format("plain", "json"),
                                            {"output_format": "plain"}),
}
#: words that make the line the click path's (help and version anywhere, rbd's ``help``, end of options)
_NOT_OURS = frozenset({"-h", "--help", "--version", "--", "help"})


class Parsed:
    """A command line the fast path understands."""

    def __init__(self, path: tuple[str, ...], command: _Command, params: dict[str, Any], cluster: dict[str, str],
                 debug: bool, notes: list[str]) -> None:
        self.path = path
        self.command = command
        self.params = params
        self.cluster = cluster
        self.debug = debug
        self.notes = notes


def _cluster_options(tokens: Sequence[str], cluster: dict[str, str], notes: list[str]) -> list[str] | None:
    """Take the cluster options (and ``--debug``) out of ``tokens`` as rbd_cli does; None when unsure."""
    rest: list[str] = []
    flags = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, has_value, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in CLUSTER_OPTIONS:
            if not has_value:
                if i + 1 >= len(tokens):
                    return None
                i += 1
                value = tokens[i]
            if not value or (value.startswith("-") and value != "-"):
                return None
            if name == "--user":
                notes.append("--user is deprecated, use --id")
            cluster[CLUSTER_OPTIONS[name]] = value
        elif token in FLAG_OPTIONS:
            flags = True
        else:
            rest.append(token)
        i += 1
    if flags:
        cluster["--debug"] = ""
    return rest


def _value(kind: Kind, text: str) -> Any:
    """``text`` as an option of ``kind`` takes it, or raises ValueError where click would refuse or differ."""
    if not text or (text.startswith("-") and text != "-"):  # "-" is a value (stdout); "-x" may be an option
        raise ValueError(text)
    if kind is int:
        if not (text.isascii() and text.isdigit()):
            raise ValueError(text)
        return int(text)
    if isinstance(kind, tuple) and text not in kind:
        raise ValueError(text)
    return text


def parse(argv: Sequence[str], as_rbd: bool, env: dict[str, str] | os._Environ[str]) -> Parsed | None:
    """The command line as the click path would take it, or None when the fast path is not sure."""
    if any(t in _NOT_OURS for t in argv):
        return None
    cluster: dict[str, str] = {}
    notes: list[str] = []
    ceph_args = env.get("CEPH_ARGS")
    if ceph_args:
        if not (ceph_args.isascii() and ceph_args.isprintable()) or any(c in ceph_args for c in "\"'\\#"):
            return None  # shlex's quoting: the click path
        if _cluster_options(ceph_args.split(), cluster, notes) != []:
            return None  # anything but cluster options there (rbd's config options): the click path
    tokens = _cluster_options(argv, cluster, notes)
    if tokens is None:
        return None
    words: list[str] = []
    command: _Command | None = None
    i = 0
    while command is None and i < len(tokens):
        if tokens[i].startswith("-"):
            return None  # an option before the command words: the click path moves it
        words.append(tokens[i])
        command = COMMANDS.get(tuple(words))
        i += 1
    if command is None:
        return None
    path = tuple(words)
    allowed = RBD_OPTIONS.get(path) if as_rbd else None
    params = dict(command.defaults)
    given: set[str] = set()
    positionals: list[str] = []
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "-" or not token.startswith("-"):
            positionals.append(token)
            continue
        name, has_value, text = token.partition("=") if token.startswith("--") else (token, "", "")
        option = command.options.get(name)
        if option is None:
            return None
        if allowed is not None and (name[2:] if name.startswith("--") else "pool") not in allowed:
            return None  # rbd does not have it: refused as rbd refuses it, by the click path
        dest, kind = option
        repeatable = isinstance(kind, list)
        if dest in given and not repeatable:
            return None
        given.add(dest)
        if kind is bool:
            if has_value:
                return None
            params[dest] = True
            continue
        if not has_value:
            if i >= len(tokens):
                return None
            text = tokens[i]
            i += 1
        try:
            value = _value(kind[0] if repeatable else kind, text)
        except ValueError:
            return None
        params[dest] = (*params[dest], value) if repeatable else value
    if len(positionals) > len(command.positionals):
        return None
    params.update(zip(command.positionals, positionals, strict=False))
    debug = cluster.pop("--debug", None) is not None
    return Parsed(path, command, params, cluster, debug, notes)


def attempt(argv: Sequence[str], argv0: str | None = None, *, exiting: bool = False) -> int | None:
    """Run ``argv`` on the fast path and return the exit code, or None (nothing done: the click path's line).

    ``exiting``: the process ends right after (:func:`console_main`); the store is then left open.
    """
    env = os.environ
    if env.get("JOURNALTOOLS_NO_FASTPATH") or "_JOURNALTOOLS_COMPLETE" in env or "_RBD_COMPLETE" in env:
        return None
    as_rbd = invoked_as_rbd(argv0)
    parsed = parse(argv, as_rbd, env)
    if parsed is None:
        return None
    prog = program_name(argv0)
    set_rbd_mode(as_rbd)
    try:
        return _run(parsed, prog, as_rbd, "--debug" in argv, exiting)
    finally:
        set_rbd_mode(False)


def _run(parsed: Parsed, prog: str, as_rbd: bool, debug: bool, exiting: bool) -> int:
    from .output import say

    try:
        for note in parsed.notes:
            say(f"{prog}: {note}", err=True)
        return _invoke(parsed, exiting)
    except BaseException as exc:  # noqa: BLE001 - each as the click path reports it (cli._run)
        if isinstance(exc, SystemExit):
            raise
        code = failure_code(exc, prog, as_rbd, debug)  # --debug on the line (cli._run: not $CEPH_ARGS')
        if code is None:
            raise
        return code


def _invoke(parsed: Parsed, exiting: bool) -> int:
    """The global options' callback (cli.main), then the command, with what click's main does around it."""
    from .app import AppContext
    from .errors import JournalToolsError
    from .output import plain_options, say
    from .rbd_mode import reword_failure

    cluster = parsed.cluster
    release_name = cluster.get("release_name") or os.environ.get("JOURNALTOOLS_RELEASE") or None
    app = AppContext(store_dir=cluster.get("store_dir") or os.environ.get("JOURNALTOOLS_STORE") or None,
                     conf=cluster.get("conf"), client_id=cluster.get("client_id"), cluster=cluster.get("cluster"),
                     debug=parsed.debug, name=cluster.get("name"), mon_host=cluster.get("mon_host"),
                     keyring=cluster.get("keyring"), keyfile=cluster.get("keyfile"), release_name=release_name)
    if release_name:
        from .release import parse_release

        parse_release(release_name)  # a bad name fails before any work
    from .commands import journal_read

    function = getattr(journal_read, parsed.command.function)
    done = False
    try:
        try:
            with plain_options(parsed.params):
                result = function(app, **parsed.params)
            done = True
        except JournalToolsError as exc:
            reword_failure(exc, parsed.path, app)
            raise
        finally:
            if not (done and exiting):  # the process ends now: librados' shutdown is not waited for
                app.close()
    except (EOFError, KeyboardInterrupt) as exc:  # click's main: a blank line, then Abort
        say("", err=True)
        raise _Aborted from exc
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        from click.utils import _PacifyFlushWrapper  # as click's main: quiet about the broken pipe, exit 1

        sys.stdout = _PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
        sys.stderr = _PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
        sys.exit(1)
    return int(result) if isinstance(result, int) else 0


class _Aborted(Exception):
    """click's Abort: reported as ``<prog>: aborted``, exit 1."""


def failure_code(exc: BaseException, prog: str, as_rbd: bool, debug: bool) -> int | None:
    """The exit code of a command that raised ``exc``, its message printed as the CLI prints it; None: re-raise
    (``--debug``).  The click path (journaltools.cli) and the fast path report failures here."""
    from .errors import JournalToolsError
    from .output import say

    if isinstance(exc, _Aborted):
        say(f"{prog}: aborted", err=True)
        return 1
    if isinstance(exc, JournalToolsError):
        if as_rbd and exc.rbd_lines:  # rbd's own lines for this failure (rbd_cli.rbd_step)
            from .rbd_mode import print_rbd_lines

            print_rbd_lines(exc.rbd_lines)
        else:
            say(f"{prog}: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):
        return 0
    if isinstance(exc, KeyboardInterrupt):
        say(f"{prog}: interrupted", err=True)
        return 130
    if isinstance(exc, OSError):
        if debug:
            return None
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        say(f"{prog}: {exc.strerror or exc}{':' if where else ''}{where}", err=True)
        return exc.errno if exc.errno and exc.errno < 256 else errno.EIO
    if isinstance(exc, Exception):  # never a traceback unless asked for
        if debug:
            return None
        say(f"{prog}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)", err=True)
        return 70
    return None


def console_main() -> None:
    """The ``journaltools`` console script (also as ``rbd``): the fast path, else the click path."""
    args = sys.argv[1:]
    code = attempt(args, exiting=True)
    if code is None:
        from .cli import run

        sys.exit(run(args, fast=False))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - a flush that fails (a closed pipe): the interpreter's exit reports it
        sys.exit(code)
    os._exit(code)
