"""rbd's command-line conventions, for every command: journaltools as a drop-in for ``rbd``.

rbd (src/tools/rbd/shell.cc, boost::program_options) differs from click in ways
scripts rely on; this module gives every journaltools command rbd's behaviour,
whatever module defines it (:class:`RbdCommand` is the command class of every
group, see :mod:`journaltools.cli`):

* cluster options anywhere on the line: ``-c/--conf``, ``--cluster``, ``--id``,
  ``--user``, ``-n/--name``, ``-m/--mon-host/--mon_host``, ``-K/--keyfile``,
  ``-k/--keyring`` (and ours: ``--store``, ``--release``, ``--debug``), also from ``$CEPH_ARGS``;
* command options before the command (``rbd --format xml journal info ...``);
* usage errors as rbd words them, with rbd's exit codes: a missing positional
  argument ``<what> was not specified`` (22), an unknown option ``unrecognised
  option '--x'`` (1), too many arguments (1), an invalid or missing option value
  (1), an option given twice (1);
* invoked as ``rbd`` (argv[0]'s basename), messages start with ``rbd:`` and the
  commands journaltools does not implement run the real rbd (:func:`real_rbd`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from .rbd_mode import (  # noqa: F401  (re-exported: the click-free half of rbd's conventions)
    CLUSTER_OPTIONS,
    FLAG_OPTIONS,
    RBD_OPTIONS,
    SAFETY_OPTIONS,
    exec_real_rbd,
    invoked_as_rbd,
    print_rbd_lines,
    program_name,
    rbd_errno_text,
    rbd_mode,
    rbd_step,
    real_rbd,
    release_major,
    reword_failure,
    set_rbd_mode,
)

#: AppContext field -> the option of journaltools' top level that sets it
MAIN_OPTION = {"conf": "--conf", "cluster": "--cluster", "client_id": "--id", "name": "--name",
               "mon_host": "--mon-host", "keyfile": "--keyfile", "keyring": "--keyring", "store_dir": "--store",
               "release_name": "--release"}

#: what rbd says when a required positional argument is missing, by the argument's metavar
MISSING_ARGUMENT: dict[str, str] = {
    "<image-spec>": "image name was not specified",
    "<journal-spec>": "journal was not specified",
    "<group-spec>": "group name was not specified",
    "<source-group-spec>": "group name was not specified",
    "<dest-group-spec>": "destination group name was not specified",
    "<group-snap-spec>": "group name was not specified",
    "<dest-snap>": "destination snapshot name was not specified",
    "<path-name>": "path was not specified",
    "<features>...": "at least one feature name must be specified",
    "<remote-cluster-spec>": "remote cluster was not specified",
    "<uuid>": "must specify peer uuid",
    "<mode>": "must specify 'image' or 'pool' mode.",
}

EINVAL = 22



def command_path(ctx: click.Context) -> tuple[str, ...]:
    """The canonical names of the command words (aliases resolved), the program name left out."""
    words: list[str] = []
    while ctx.parent is not None:
        words.append(ctx.command.name or ctx.info_name or "")
        ctx = ctx.parent
    return tuple(reversed(words))


#: options a later release's rbd added to a command of :data:`RBD_OPTIONS`: (command) -> {major: names}
RBD_OPTIONS_SINCE: dict[tuple[str, ...], dict[int, frozenset[str]]] = {
    ("mirror", "pool", "enable"): {20: frozenset({"remote-namespace"})},
}


def _check_rbd_options(args: Sequence[str], allowed: frozenset[str], path: tuple[str, ...] = (),
                       release_major: Callable[[], int] | None = None) -> None:
    """Run as rbd: an option rbd's command does not have is refused as boost refuses it (the release is asked
    for only when an option is one a later rbd added)."""
    for token in args:
        if token == "--":
            return
        if token.startswith("--") and len(token) > 2:
            name = _split_option(token)[0][2:]
            if name not in allowed and name not in SAFETY_OPTIONS and name != "help":
                later = [major for major, names in RBD_OPTIONS_SINCE.get(path, {}).items() if name in names]
                if later and release_major is not None and release_major() >= min(later):
                    continue
                raise RbdUsageError(f"unrecognised option '{token}'")
        elif (token.startswith("-") and len(token) > 1 and token[1] != "-" and not token[1:].isdigit()
              and (token[:2] not in ("-p", "-h") or ("pool" not in allowed and token[:2] == "-p"))):
            raise RbdUsageError(f"unrecognised option '{token}'")


class RbdUsageError(click.UsageError):
    """A usage error worded as rbd words it; printed as ``<prog>: <message>`` with rbd's exit code."""

    def __init__(self, message: str, exit_code: int = 1, ctx: click.Context | None = None) -> None:
        super().__init__(message, ctx)
        self.rbd_exit_code = exit_code


class DelegateToRbd(Exception):
    """Raised by a command for a case only the real rbd handles (e.g. features journaltools does not manage).

    Invoked as ``rbd``, the real rbd then runs the whole command line; invoked as
    journaltools, the message is the error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


# -- the command line, rearranged for click ------------------------------------------------
@dataclass
class Arranged:
    """A command line split as rbd reads it."""

    cluster: dict[str, str] = field(default_factory=dict)  # AppContext field -> value
    flags: set[str] = field(default_factory=set)
    path: list[str] = field(default_factory=list)  # the command words (journal, info)
    args: list[str] = field(default_factory=list)  # click's argv, global options first
    leaf: click.Command | None = None  # the command the words name (None: not one of ours)
    notes: list[str] = field(default_factory=list)


def _split_option(token: str) -> tuple[str, str | None]:
    if token.startswith("--") and "=" in token:
        name, _, value = token.partition("=")
        return name, value
    return token, None


def _take_cluster_options(tokens: list[str], found: Arranged, keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove the cluster options (with their values) from ``tokens``; the rest, in order.

    Names in ``keep`` are the command's own options and stay.
    """
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            rest.extend(tokens[i:])
            break
        name, value = _split_option(token)
        if name in CLUSTER_OPTIONS and name not in keep:
            if value is None:
                if i + 1 >= len(tokens):
                    raise RbdUsageError(f"the required argument for option '{name}' is missing")
                value = tokens[i + 1]
                i += 1
            if name == "--user":
                found.notes.append("--user is deprecated, use --id")
            found.cluster[CLUSTER_OPTIONS[name]] = value
        elif token in FLAG_OPTIONS:
            found.flags.add(FLAG_OPTIONS[token])
        elif name.startswith("--") and name not in keep and (kind := ceph_config_option(name[2:])) is not None:
            if value is None and kind != "bool":  # rbd (global_init) takes "--debug-rbd 30" as "--debug-rbd=30"
                if i + 1 >= len(tokens):
                    raise RbdUsageError(f"the required argument for option '{name}' is missing")
                i += 1  # taken as rbd takes it; it tunes librados/librbd (logging), nothing journaltools does
        else:
            rest.append(token)
        i += 1
    return rest


def ceph_config_option(name: str) -> str | None:
    """``"bool"`` or ``"value"`` when ``name`` (``debug-rbd``, ``rbd_default_clone_format``) is a Ceph config
    option, which rbd accepts anywhere on its line as ``--name value``; None for anything else.

    Asked of librados (python3-rados), and only for a name that no command of ours or of rbd's takes.
    """
    if name in _KNOWN_OPTION_NAMES or not name:
        return None
    try:
        import rados
    except ImportError:
        return None
    try:
        current = rados.Rados().conf_get(name.replace("-", "_"))
    except Exception:  # noqa: BLE001 - a librados that cannot even build a handle: not a config option then
        return None
    if current is None:
        return None
    return "bool" if current in ("true", "false") else "value"


_KNOWN_OPTION_NAMES = frozenset({o for names in RBD_OPTIONS.values() for o in names} | SAFETY_OPTIONS | {
    "help", "version", "debug", "store", "release", "format", "pretty-format", "verbose", "force"})


def _option_takes_value(root: click.Group, name: str) -> bool:
    """Whether option ``name`` of some journaltools command takes a value (every command module is loaded)."""
    from .cli import load_command_modules

    load_command_modules()
    stack: list[click.Command] = [root]
    while stack:
        command = stack.pop()
        for param in command.params:
            if isinstance(param, click.Option) and name in param.opts + param.secondary_opts:
                return not (param.is_flag or param.count)
        if isinstance(command, click.Group):
            stack.extend(command.commands.values())
    return False


def arrange(argv: Sequence[str], root: click.Group, env_args: str | None = None) -> Arranged:
    """Cluster options from anywhere (and ``$CEPH_ARGS``) to the front; options before the command after it."""
    found = _arrange(argv, root, env_args, frozenset())
    if found.leaf is not None:  # a command's own option of a cluster option's name (say -n) stays the command's
        own = frozenset(o for p in found.leaf.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts)
        if own & set(CLUSTER_OPTIONS):
            found = _arrange(argv, root, env_args, own & frozenset(CLUSTER_OPTIONS))
    return found


def _arrange(argv: Sequence[str], root: click.Group, env_args: str | None, keep: frozenset[str]) -> Arranged:
    found = Arranged()
    if env_args:
        _take_cluster_options(shlex.split(env_args), found)
    tokens = _take_cluster_options(list(argv), found, keep)
    ctx = click.Context(root, resilient_parsing=True)
    command: click.Command | None = root
    moved: list[str] = []
    i = 0
    while isinstance(command, click.Group) and i < len(tokens):
        token = tokens[i]
        if token in ("-h", "--help", "--version", "--"):
            break
        if token.startswith("-") and token != "-":
            name, value = _split_option(token)
            moved.append(token)
            if value is None and _option_takes_value(root, name) and i + 1 < len(tokens):
                moved.append(tokens[i + 1])
                i += 1
            i += 1
            continue
        sub = command.get_command(ctx, token)
        if sub is None:
            command = None
            break
        found.path.append(token)
        command = sub
        i += 1
    found.leaf = command if command is not None and not isinstance(command, click.Group) else None
    front: list[str] = []
    for dest, value in found.cluster.items():
        front += [MAIN_OPTION[dest], value]
    front += [f"--{flag}" for flag in sorted(found.flags)]
    found.args = front + found.path + moved + tokens[i:]
    return found


# -- usage errors ---------------------------------------------------------------------------
def _option_label(param: click.Parameter | None, fallback: str = "") -> str:
    if isinstance(param, click.Option):
        longs = [o for o in param.opts if o.startswith("--")]
        return (longs or param.opts)[0]
    return fallback


def _missing_message(param: click.Parameter) -> str:
    metavar = param.metavar or f"<{param.name}>"
    return MISSING_ARGUMENT.get(metavar) or f"{metavar.strip('<>.')} was not specified"


def _check_repeated(command: click.Command, args: Sequence[str]) -> None:
    """rbd refuses an option given twice (boost: ``option '--x' cannot be specified more than once``)."""
    by_name: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts + param.secondary_opts:
                by_name[opt] = param
    seen: set[str] = set()
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break
        name, value = _split_option(token)
        option = by_name.get(name)
        if option is not None:
            takes_value = not (option.is_flag or option.count)
            if not option.multiple and not option.count:
                key = option.name or name
                if key in seen:
                    raise RbdUsageError(f"option '{_option_label(option, name)}' cannot be specified more than once")
                seen.add(key)
            if takes_value and value is None:
                i += 1
        i += 1


class RbdCommand(click.Command):
    """A click command that parses its line as rbd does and words usage errors as rbd does."""

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import JournalToolsError

        try:
            return super().invoke(ctx)
        except JournalToolsError as exc:  # run as rbd: the command's failure in rbd's lines (rbd_messages)
            reword_failure(exc, command_path(ctx), ctx.find_root().obj)
            raise

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["rbd_cli.args"] = list(args)
        if not ctx.resilient_parsing and not any(a in ("-h", "--help") for a in args):
            allowed = RBD_OPTIONS.get(command_path(ctx)) if rbd_mode() else None
            if allowed is not None:
                _check_rbd_options(args, allowed, command_path(ctx), lambda: _release_major(ctx))
            _check_repeated(self, args)
        try:
            return super().parse_args(ctx, args)
        except click.MissingParameter as exc:
            if isinstance(exc.param, click.Argument):
                raise RbdUsageError(_missing_message(exc.param), EINVAL, ctx) from None
            raise RbdUsageError(f"the required argument for option '{_option_label(exc.param)}' is missing",
                                1, ctx) from None
        except click.NoSuchOption as exc:
            raise RbdUsageError(f"unrecognised option '{exc.option_name}'", 1, ctx) from None
        except click.BadOptionUsage as exc:
            if "requires an argument" in exc.message:
                raise RbdUsageError(f"the required argument for option '{exc.option_name}' is missing", 1, ctx) from None
            raise RbdUsageError(exc.message, 1, ctx) from None
        except click.BadParameter as exc:
            raise _bad_value(exc, ctx) from None
        except click.UsageError as exc:
            if "unexpected extra argument" in exc.message:
                raise RbdUsageError("too many arguments", 1, ctx) from None
            raise


def _release_major(ctx: click.Context) -> int:
    """The major version of the release the command speaks for (Pacific's when it cannot be told)."""
    return release_major(ctx.find_root().obj)


def _bad_value(exc: click.BadParameter, ctx: click.Context) -> RbdUsageError:
    param = exc.param
    if isinstance(param, click.Option):
        label = _option_label(param)
        if isinstance(param.type, click.Choice):
            return RbdUsageError(f"the argument for option '{label}' is invalid", 1, ctx)
        value = _given_value(ctx, param)
        shown = f"('{value}') " if value is not None else ""
        return RbdUsageError(f"the argument {shown}for option '{label}' is invalid", 1, ctx)
    return RbdUsageError("the argument for option is invalid", 1, ctx)


def _given_value(ctx: click.Context, param: click.Option) -> str | None:
    args = list(ctx.meta.get("rbd_cli.args", []))
    for i, token in enumerate(args):
        name, value = _split_option(token)
        if name in param.opts + param.secondary_opts:
            return value if value is not None else (args[i + 1] if i + 1 < len(args) else None)
    return None


class RbdGroup(click.Group):
    """A command group whose commands and subgroups follow rbd's conventions."""

    command_class = RbdCommand
    group_class = type  # subgroups are RbdGroups too


def attach(group: type[click.Group]) -> Any:
    """Make ``group`` (a click.Group subclass) create rbd-style commands and groups."""
    group.command_class = RbdCommand
    group.group_class = RbdGroup
    return group
