"""``group ...`` (alias ``consistency-group``): consistency groups as ``rbd group ...`` manages them, plus ``info``.

Options, specs, messages, exit codes and output (plain, json, xml) are rbd 16.2's
(src/tools/rbd/action/Group.cc): a group spec is ``[<pool>/[<namespace>/]]<group>``
(``@<snap>`` for the snapshot commands), ``--group`` is a plain name, and a group
that does not exist lists as empty and removes as a success, as in rbd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import click

from ..cli import AppContext, main, pass_app
from ..errors import NotFoundError, SpecError
from ..groups import (
    add_image,
    create_group,
    create_group_snapshot,
    group_id,
    group_images,
    group_info,
    group_snapshots,
    list_groups,
    remove_group,
    remove_group_snapshot,
    remove_image,
    rename_group,
    rename_group_snapshot,
    rollback_group_snapshot,
)
from ..output import ceph_json, check_pretty_format, echo, emit, format_options, text_table
from ..spec import DEFAULT_POOL, image_id
from ..store.base import Pool
from ..write_guard import hold_pool
from .specs import resolve_pool

# rbd's spec with an optional snapshot (SPEC_VALIDATION_FULL): [pool/[namespace/]]name[@snap]
_SPEC = re.compile(r"^(?:([^/@]+)/(?:([^/@]+)/)?)?([^/@]+)(?:@([^/@]+))?$")


@main.group("group")
def group_group() -> None:
    """Consistency groups: create, rename, remove, list, info, images and snapshots."""


main.add_command(group_group, "consistency-group")


@dataclass
class GroupSpec:
    pool: str  # "" when neither the spec nor an option names one (rbd's default pool then)
    namespace: str
    name: str
    snap: str

    def open(self, app: AppContext) -> Pool:
        from ..rbd_cli import rbd_step

        with rbd_step(f"error opening pool '{self.pool or DEFAULT_POOL}'"):
            return app.store().pool(self.pool or DEFAULT_POOL, self.namespace)


def parse_generic_spec(positional: str | None, *, pool: str | None, namespace: str | None, name: str | None,
                       snap: str | None = None, what: str = "group", snapshot: str = "none",
                       name_required: bool = True) -> GroupSpec:
    """rbd's ``get_pool_generic_snapshot_names``, in our words.

    Options first; the positional spec only when no name option was given, its parts
    overriding the options; then "<what> name was not specified" and the snapshot
    checks: ``snapshot="required"`` needs one, ``"none"`` refuses one.
    """
    spec = GroupSpec(pool or "", namespace or "", name or "", snap or "")
    if not spec.name and positional:
        match = _SPEC.match(positional)
        if not match:
            raise SpecError(f"invalid spec '{positional}'")
        spec_pool, spec_ns, spec_name, spec_snap = match.groups()
        spec = GroupSpec(spec_pool or spec.pool, spec_ns or spec.namespace, spec_name, spec_snap or spec.snap)
    if not spec.name and name_required:
        raise SpecError(f"{what} name was not specified")
    if snapshot == "required" and not spec.snap:
        raise SpecError("snapshot name was not specified")
    if snapshot == "none" and spec.snap:
        raise SpecError("snapshot name specified for a command that doesn't use it")
    return spec


def group_spec_options(snap: bool = False, positional: str = "group_spec"):  # type: ignore[no-untyped-def]
    """``-p/--pool``, ``--namespace``, ``--group`` (``--snap`` too for snapshots) and the positional spec."""

    def decorate(func):  # type: ignore[no-untyped-def]
        if snap:
            func = click.option("--snap", metavar="SNAP", help="Snapshot name.")(func)
        func = click.option("--group", "group_name", metavar="GROUP", help="Group name.")(func)
        func = click.option("--namespace", metavar="NS", help="Namespace name.")(func)
        func = click.option("-p", "--pool", metavar="POOL", help="Pool name.")(func)
        metavar = "<group-snap-spec>" if snap else "<group-spec>"
        return click.argument(positional, metavar=metavar, required=False)(func)

    return decorate


def _group(app: AppContext, spec_text: str | None, pool: str | None = None, namespace: str | None = None,
           name: str | None = None) -> tuple[Pool, str]:
    spec = parse_generic_spec(spec_text, pool=pool, namespace=namespace, name=name)
    check_pretty_format()
    return spec.open(app), spec.name


def check_group_name(name: str) -> str:
    """A new group's name: not blank, no control characters (a name an operator can type and read)."""
    if not name.strip() or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise SpecError(f"invalid group name {name!r}: a group name must not be blank or contain control characters")
    return name


def _existing_group(header_pool: Pool, name: str, librbd_function: str) -> str | None:
    """The group's id, None when it does not exist (rbd then lists nothing and succeeds; run as rbd, only
    librbd's log line of ``librbd_function`` says so)."""
    try:
        return group_id(header_pool, name)
    except NotFoundError:
        _say_missing(f"{_prog()}: group {name} does not exist in pool {header_pool.describe()}",
                     _group_id_error(librbd_function))
        return None


def _group_id_error(function: str) -> str:
    """librbd's log line for a missing group (run as rbd, printed as librbd logs it)."""
    return f"librbd::api::Group: {function}: error reading group id object: (2) No such file or directory"


def _say_missing(message: str, *librbd_lines: str) -> None:
    from ..rbd_cli import print_rbd_lines, rbd_mode

    if rbd_mode():
        print_rbd_lines(librbd_lines)
    else:
        click.echo(message, err=True)


def _prog() -> str:
    from ..rbd_cli import program_name

    return program_name()


@group_group.command("create")
@group_spec_options()
@pass_app
def create(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
           group_name: str | None) -> None:
    """Create a group."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    hold_pool(header_pool, "rbd_group_directory")
    create_group(header_pool, check_group_name(name))


@group_group.command("rename")
@group_spec_options(positional="src")
@click.argument("dest", metavar="<dest-group-spec>", required=False)
@click.option("--dest-pool", metavar="POOL", help="Destination pool name.")
@click.option("--dest-namespace", metavar="NS", help="Destination namespace name.")
@click.option("--dest-group", metavar="GROUP", help="Destination group name.")
@pass_app
def rename(app: AppContext, src: str | None, dest: str | None, pool: str | None, namespace: str | None,
           group_name: str | None, dest_pool: str | None, dest_namespace: str | None, dest_group: str | None) -> None:
    """Rename a group within its pool and namespace."""
    source = parse_generic_spec(src, pool=pool, namespace=namespace, name=group_name)
    if group_name and src and not dest:  # rbd takes positionals in order: with --group the first is the destination
        dest = src
    target = parse_generic_spec(dest, pool=dest_pool, namespace=dest_namespace, name=dest_group,
                                what="destination group")
    if source.pool != target.pool:
        raise SpecError(f"group rename across pools not supported\nsource pool: {source.pool}, "
                        f"dest pool: {target.pool}")
    if source.namespace != target.namespace:
        raise SpecError(f"group rename across namespaces not supported\nsource namespace: {source.namespace}, "
                        f"dest namespace: {target.namespace}")
    header_pool = source.open(app)
    hold_pool(header_pool, "rbd_group_directory")
    rename_group(header_pool, source.name, check_group_name(target.name))


@group_group.command("remove")
@group_spec_options()
@click.option("--yes-i-really-mean-it", "confirmed", is_flag=True, hidden=True,
              help="Accepted for scripts of earlier journaltools versions; not needed.")
@pass_app
def remove(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None, group_name: str | None,
           confirmed: bool) -> None:
    """Delete a group, as rbd does: its snapshots are removed and its images unlinked (the images stay)."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    hold_pool(header_pool, "rbd_group_directory")
    if not remove_group(header_pool, name):
        snaps = ("librbd::group::ListSnapshotsRequest: 0x55d0c1a2b3c0 handle_list_snaps: failed to list group "
                 "snapshots: (2) No such file or directory" if _since_tentacle(app) else _group_id_error("group_snap_list"))
        _say_missing(f"{_prog()}: group {name} does not exist in pool {header_pool.describe()} (nothing removed)",
                     snaps, _group_id_error("group_image_list"))


group_group.add_command(remove, "rm")


@group_group.command("list")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.option("-p", "--pool", metavar="POOL", help="Pool name.")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@format_options(xml=True)
@pass_app
def list_cmd(app: AppContext, pool_spec: str | None, pool: str | None, namespace: str | None, output_format: str,
             pretty_format: bool) -> None:
    """List rbd groups."""
    names = list(list_groups(resolve_pool(app, pool_spec, pool, namespace)))
    emit(names, output_format, pretty_format, plain="".join(f"{n}\n" for n in names), xml_root="groups",
         xml_items={"groups": "name"})


group_group.add_command(list_cmd, "ls")


@group_group.command("info")
@group_spec_options()
@click.option("--verbose", is_flag=True, help="Also list images and snapshots (the default before Tentacle, "
                                              "whose rbd has no group info).")
@format_options(xml=True)
@pass_app
def info(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None, group_name: str | None,
         verbose: bool, output_format: str, pretty_format: bool) -> None:
    """Show a group: id, images with their link state, and snapshots.

    From Tentacle on, as rbd group info: the name and id only (--verbose adds the rest).
    """
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    if not verbose and _since_tentacle(app):
        short = {"group_name": name, "group_id": group_id(header_pool, name)}
        echo(ceph_json(short, pretty_format) if output_format == "json"
             else f"rbd group '{name}':\n\tid: {short['group_id']}\n")
        return
    doc = group_info(header_pool, name)

    def plain() -> str:
        lines = [f"rbd group '{name}':", f"\tid: {doc['group_id']}", f"\timages: {len(doc['images'])}"]
        for image in doc["images"]:
            ns = f"{image['namespace']}/" if image["namespace"] else ""
            lines.append(f"\t\t{image['pool']}/{ns}{image['image']} ({image['image_id']}): {image['state_name']}")
        lines.append(f"\tsnapshots: {len(doc['snapshots'])}")
        for snap in doc["snapshots"]:
            lines.append(f"\t\t{snap['name']} ({snap['id']}): {snap['state']}, {len(snap['images'])} image snapshots")
        return "\n".join(lines) + "\n"

    emit(doc, output_format, pretty_format, plain=plain, xml_root="group",
         xml_items={"images": "image", "snapshots": "snapshot"})


@group_group.group("image")
def image_group() -> None:
    """Add, remove or list the images of a group."""


def group_image_options(func):  # type: ignore[no-untyped-def]
    """rbd's options of ``group image add|remove``: --group-pool/--group-namespace/--group, --image-*, -p."""
    func = click.option("-p", "--pool", metavar="POOL", help="Pool name unless overridden.")(func)
    func = click.option("--image", "image_name", metavar="IMAGE", help="Image name.")(func)
    func = click.option("--image-namespace", metavar="NS", help="Image namespace name.")(func)
    func = click.option("--image-pool", metavar="POOL", help="Image pool name.")(func)
    func = click.option("--group", "group_name", metavar="GROUP", help="Group name.")(func)
    func = click.option("--group-namespace", metavar="NS", help="Group namespace name.")(func)
    func = click.option("--group-pool", metavar="POOL", help="Group pool name.")(func)
    func = click.argument("image_spec", metavar="<image-spec>", required=False)(func)
    return click.argument("group_spec", metavar="<group-spec>", required=False)(func)


def _image_args(app: AppContext, group_spec: str | None, image_spec: str | None, opts: dict[str, str | None],
                image_required: bool = True) -> tuple[Pool, str, Pool, GroupSpec]:
    positionals = [p for p in (group_spec, image_spec) if p]
    group = parse_generic_spec(None if opts["group_name"] else (positionals.pop(0) if positionals else None),
                               pool=opts["group_pool"] or opts["pool"], namespace=opts["group_namespace"],
                               name=opts["group_name"])
    image = parse_generic_spec(None if opts["image_name"] else (positionals.pop(0) if positionals else None),
                               pool=opts["image_pool"] or opts["pool"], namespace=opts["image_namespace"],
                               name=opts["image_name"], what="image", name_required=image_required)
    if positionals:
        from ..rbd_cli import RbdUsageError

        raise RbdUsageError("too many arguments")
    if group.namespace != image.namespace:
        raise SpecError("group and image namespace must match.")
    header_pool = group.open(app)
    hold_pool(header_pool, "rbd_group_directory")
    image_pool = GroupSpec(image.pool, group.namespace, image.name, "").open(app)
    return header_pool, group.name, image_pool, image


@image_group.command("add")
@group_image_options
@pass_app
def image_add(app: AppContext, group_spec: str | None, image_spec: str | None, **opts: str | None) -> None:
    """Add an image to a group (librbd's order: incomplete link, image ref, attached)."""
    header_pool, name, image_pool, image = _image_args(app, group_spec, image_spec, opts)
    add_image(header_pool, name, image_pool, image_id(image_pool, image.name))


@image_group.command("remove")
@group_image_options
@click.option("--image-id", metavar="ID", help="Image id.")
@pass_app
def image_remove(app: AppContext, group_spec: str | None, image_spec: str | None, **opts: str | None) -> None:
    """Remove an image from a group (by name, or by id with --image-id)."""
    iid_given = opts.pop("image_id", None)
    header_pool, name, image_pool, image = _image_args(app, group_spec, image_spec, opts,
                                                       image_required=not iid_given)
    if iid_given and image.name:
        raise SpecError("trying to access image using both name and id. ")
    iid = iid_given or image_id(image_pool, image.name)
    from ..rbd_cli import rbd_mode

    if rbd_mode() and not _in_group(header_pool, name, image_pool, iid):
        return  # rbd removes an image that is not in the group without a word, and succeeds
    remove_image(header_pool, name, image_pool, iid)


def _in_group(header_pool: Pool, name: str, image_pool: Pool, iid: str) -> bool:
    """Whether image ``iid`` of ``image_pool`` is in group ``name`` (a missing group fails as remove_image fails)."""
    gid = group_id(header_pool, name)
    return any(i.image_id == iid and i.pool_id == image_pool.pool_id for i in group_images(header_pool, gid))


image_group.add_command(image_remove, "rm")
group_group.add_command(image_add, "attach")
group_group.add_command(image_remove, "detach")


@image_group.command("list")
@format_options(xml=True)
@group_spec_options()
@pass_app
def image_list(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
               group_name: str | None, output_format: str, pretty_format: bool) -> None:
    """List images in a group (a group that does not exist lists as empty, as in rbd)."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    gid = _existing_group(header_pool, name, "group_image_list")
    images = group_images(header_pool, gid) if gid is not None else []
    emit([i.to_json() for i in images], output_format, pretty_format, plain="".join(f"{i.text()}\n" for i in images),
         xml_root="images", xml_items={"images": "image"})


image_group.add_command(image_list, "ls")


@group_group.group("snap")
def snap_group() -> None:
    """Group snapshots: create, remove, rename, rollback, list."""


def _group_snap(app: AppContext, spec_text: str | None, pool: str | None, namespace: str | None,
                name: str | None, snap: str | None) -> tuple[Pool, str, str]:
    spec = parse_generic_spec(spec_text, pool=pool, namespace=namespace, name=name, snap=snap, snapshot="required")
    return spec.open(app), spec.name, spec.snap


@snap_group.command("create")
@group_spec_options(snap=True)
@click.option("--skip-quiesce", is_flag=True, help="Do not run quiesce hooks.")
@click.option("--ignore-quiesce-error", is_flag=True, help="Ignore quiesce hook error.")
@pass_app
def snap_create(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
                group_name: str | None, snap: str | None, skip_quiesce: bool, ignore_quiesce_error: bool) -> None:
    """Make a snapshot of a group (a snapshot of every image, in the group snapshot namespace)."""
    if skip_quiesce and ignore_quiesce_error:
        raise SpecError("ignore-quiesce-error cannot be used together with skip-quiesce")
    header_pool, name, snap_name = _group_snap(app, group_spec, pool, namespace, group_name, snap)
    flags = (1 if skip_quiesce else 0) | (2 if ignore_quiesce_error else 0)  # RBD_SNAP_CREATE_SKIP/IGNORE_QUIESCE
    create_group_snapshot(header_pool, name, snap_name, flags)


@snap_group.command("remove")
@group_spec_options(snap=True)
@pass_app
def snap_remove(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
                group_name: str | None, snap: str | None) -> None:
    """Remove a snapshot from a group (and every image's snapshot of it)."""
    header_pool, name, snap_name = _group_snap(app, group_spec, pool, namespace, group_name, snap)
    remove_group_snapshot(header_pool, name, snap_name)


snap_group.add_command(snap_remove, "rm")


@snap_group.command("rename")
@group_spec_options(snap=True)
@click.argument("dest_snap_arg", metavar="<dest-snap>", required=False)
@click.option("--dest-snap", metavar="SNAP", help="Destination snapshot name.")
@pass_app
def snap_rename(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
                group_name: str | None, snap: str | None, dest_snap_arg: str | None, dest_snap: str | None) -> None:
    """Rename a group's snapshot."""
    if group_name and group_spec and not dest_snap_arg:  # with --group the first positional is the destination
        group_spec, dest_snap_arg = None, group_spec
    spec = parse_generic_spec(group_spec, pool=pool, namespace=namespace, name=group_name, snap=snap,
                              snapshot="required")
    dest = dest_snap or dest_snap_arg
    if not dest:  # rbd checks the destination before it connects
        raise SpecError("destination snapshot name was not specified")
    if "/" in dest or "@" in dest:
        raise SpecError(f"invalid destination snap name '{dest}'")
    rename_group_snapshot(spec.open(app), spec.name, spec.snap, dest)


@snap_group.command("rollback")
@click.option("--no-progress", is_flag=True, help="Disable progress output.")
@group_spec_options(snap=True)
@pass_app
def snap_rollback(app: AppContext, no_progress: bool, group_spec: str | None, pool: str | None,
                  namespace: str | None, group_name: str | None, snap: str | None) -> None:
    """Roll every image of the group back to the group snapshot."""
    header_pool, name, snap_name = _group_snap(app, group_spec, pool, namespace, group_name, snap)
    rollback_group_snapshot(header_pool, name, snap_name)


@snap_group.command("list")
@format_options(xml=True)
@group_spec_options()
@pass_app
def snap_list(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
              group_name: str | None, output_format: str, pretty_format: bool) -> None:
    """List snapshots of a group (as rbd 16.2: a NAME/STATUS table, nothing when there are none)."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    if _since_tentacle(app):  # rbd 20 fails on a group that does not exist
        from ..rbd_cli import rbd_step

        with rbd_step(_group_id_error("snap_list")):
            gid: str | None = group_id(header_pool, name)
    else:
        gid = _existing_group(header_pool, name, "group_snap_list")
    snaps = group_snapshots(header_pool, gid) if gid is not None else []
    if _since_tentacle(app):
        echo(_snap_table_since_tentacle(snaps, output_format, pretty_format))
        return
    rows = [{"snapshot": s.name, "state": pacific_snapshot_state(s.state)} for s in snaps]
    table = [[r["snapshot"], r["state"]] for r in rows]
    plain = text_table([("NAME", "left", "left"), ("STATUS", "left", "right")], table) if table else ""
    emit(rows, output_format, pretty_format, plain=plain, xml_root="group_snaps", xml_items={"group_snaps": "group_snap"})


def pacific_snapshot_state(state: int) -> str:
    """rbd 16.2's words: "incomplete" for state 0, "ok" for anything else."""
    return "incomplete" if state == 0 else "ok"


snap_group.add_command(snap_list, "ls")


# -- Tentacle (20.2) ----------------------------------------------------------------------
def _since_tentacle(app: AppContext) -> bool:
    from ..release import TENTACLE

    return bool(app.release() >= TENTACLE)


def _snap_table_since_tentacle(snaps: list[Any], output_format: str, pretty_format: bool) -> str:
    """Tentacle's rbd group snap list: ID, NAME and STATE (complete/incomplete), left-aligned; nothing when empty."""
    from ..format.cls_rbd import GROUP_SNAP_STATE_NAMES

    rows = [{"id": s.id, "snapshot": s.name, "state": GROUP_SNAP_STATE_NAMES.get(s.state, str(s.state))} for s in snaps]
    if output_format == "json":
        return ceph_json(rows, pretty_format)
    if not rows:
        return ""
    table = [("ID", "NAME", "STATE")] + [(r["id"], r["snapshot"], r["state"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "".join("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)) + "\n" for row in table)

