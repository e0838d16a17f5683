"""``group ...`` (alias ``consistency-group``): consistency groups as ``rbd group ...`` manages them, plus ``info``."""

from __future__ import annotations

from typing import Any

import click

from ..cli import AppContext, main, pass_app
from ..errors import ConfirmationRequired, SpecError
from ..groups import (
    add_image,
    create_group,
    group_id,
    group_images,
    group_info,
    group_snapshots,
    list_groups,
    remove_group,
    remove_image,
    rename_group,
    snapshot_state_name,
)
from ..output import ceph_json, echo, format_options
from ..spec import combine_spec, image_id
from ..store.base import Pool
from ..write_guard import hold_pool
from .specs import resolve_pool


@main.group("group")
def group_group() -> None:
    """Consistency groups: create, rename, remove, list, info, add and remove images."""


main.add_command(group_group, "consistency-group")


def _group(app: AppContext, spec_text: str | None, pool: str | None = None, namespace: str | None = None,
           name: str | None = None) -> tuple[Pool, str]:
    spec = combine_spec(spec_text, pool=pool, namespace=namespace, name=name, what="group")
    return app.store().pool(spec.pool, spec.namespace), spec.name


def check_group_name(name: str) -> str:
    """A new group's name: not blank, no control characters (a name an operator can type and read)."""
    if not name.strip() or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise SpecError(f"invalid group name {name!r}: a group name must not be blank or contain control characters")
    return name


def group_spec_argument(func):  # type: ignore[no-untyped-def]
    func = click.option("--group", "group_name", metavar="GROUP", help="Group name.")(func)
    func = click.option("--namespace", metavar="NS", help="Namespace name.")(func)
    func = click.option("-p", "--pool", metavar="POOL", help="Pool name.")(func)
    return click.argument("group_spec", metavar="<group-spec>", required=False)(func)


@group_group.command("create")
@group_spec_argument
@pass_app
def create(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None, group_name: str | None) -> None:
    """Create a group."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    hold_pool(header_pool, "rbd_group_directory")
    create_group(header_pool, check_group_name(name))


@group_group.command("rename")
@click.argument("src", metavar="<group-spec>")
@click.argument("dest", metavar="<dest-group-spec>")
@pass_app
def rename(app: AppContext, src: str, dest: str) -> None:
    """Rename a group within its pool or namespace."""
    src_pool, src_name = _group(app, src)
    dest_pool, dest_name = _group(app, dest)
    if (src_pool.name, src_pool.namespace) != (dest_pool.name, dest_pool.namespace):
        raise SpecError(f"group rename across pools not supported (source pool: {src_pool.name}, dest pool: {dest_pool.name})")
    hold_pool(src_pool, "rbd_group_directory")
    rename_group(src_pool, src_name, check_group_name(dest_name))


@group_group.command("remove")
@group_spec_argument
@click.option("--yes-i-really-mean-it", "confirmed", is_flag=True, help="Confirm removing a group that has images.")
@pass_app
def remove(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None, group_name: str | None,
           confirmed: bool) -> None:
    """Delete a group (its images are detached first)."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    hold_pool(header_pool, "rbd_group_directory")
    images = group_images(header_pool, group_id(header_pool, name))
    if images and not confirmed:
        raise ConfirmationRequired(f"group {name} has {len(images)} images; rerun with --yes-i-really-mean-it to detach them and remove it")
    remove_group(header_pool, name)


group_group.add_command(remove, "rm")


@group_group.command("list")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.option("-p", "--pool", metavar="POOL", help="Pool name.")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@format_options
@pass_app
def list_cmd(app: AppContext, pool_spec: str | None, pool: str | None, namespace: str | None, output_format: str,
             pretty_format: bool) -> None:
    """List rbd groups."""
    names = list(list_groups(resolve_pool(app, pool_spec, pool, namespace)))
    echo(ceph_json(names, pretty_format) if output_format == "json" else "".join(f"{n}\n" for n in names))


group_group.add_command(list_cmd, "ls")


@group_group.command("info")
@group_spec_argument
@click.option("--verbose", is_flag=True, help="Also list images and snapshots (the default before Tentacle, "
                                              "whose rbd has no group info).")
@format_options
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
    if output_format == "json":
        echo(ceph_json(doc, pretty_format))
        return
    lines = [f"rbd group '{name}':", f"\tid: {doc['group_id']}", f"\timages: {len(doc['images'])}"]
    for image in doc["images"]:
        ns = f"{image['namespace']}/" if image["namespace"] else ""
        lines.append(f"\t\t{image['pool']}/{ns}{image['image']} ({image['image_id']}): {image['state_name']}")
    lines.append(f"\tsnapshots: {len(doc['snapshots'])}")
    for snap in doc["snapshots"]:
        lines.append(f"\t\t{snap['name']} ({snap['id']}): {snap['state']}, {len(snap['images'])} image snapshots")
    echo("\n".join(lines) + "\n")


@group_group.group("image")
def image_group() -> None:
    """Add, remove or list the images of a group."""


def _image_args(app: AppContext, group_spec: str, image_spec: str) -> tuple[Pool, str, Pool, str]:
    header_pool, name = _group(app, group_spec)
    hold_pool(header_pool, "rbd_group_directory")
    spec = combine_spec(image_spec, what="image")
    image_pool = app.store().pool(spec.pool, spec.namespace)
    if image_pool.namespace != header_pool.namespace:
        raise SpecError("group and image namespace must match")
    return header_pool, name, image_pool, image_id(image_pool, spec.name)


@image_group.command("add")
@click.argument("group_spec", metavar="<group-spec>")
@click.argument("image_spec", metavar="<image-spec>")
@pass_app
def image_add(app: AppContext, group_spec: str, image_spec: str) -> None:
    """Add an image to a group (librbd's order: incomplete link, image ref, attached)."""
    header_pool, name, image_pool, iid = _image_args(app, group_spec, image_spec)
    add_image(header_pool, name, image_pool, iid)


@image_group.command("remove")
@click.argument("group_spec", metavar="<group-spec>")
@click.argument("image_spec", metavar="<image-spec>")
@pass_app
def image_remove(app: AppContext, group_spec: str, image_spec: str) -> None:
    """Remove an image from a group."""
    header_pool, name, image_pool, iid = _image_args(app, group_spec, image_spec)
    remove_image(header_pool, name, image_pool, iid)


image_group.add_command(image_remove, "rm")
group_group.add_command(image_add, "attach")
group_group.add_command(image_remove, "detach")


@image_group.command("list")
@group_spec_argument
@format_options
@pass_app
def image_list(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
               group_name: str | None, output_format: str, pretty_format: bool) -> None:
    """List images in a group."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    images = group_images(header_pool, group_id(header_pool, name))
    if output_format == "json":
        echo(ceph_json([i.to_json() for i in images], pretty_format))
    else:
        echo("".join(f"{i.text()}\n" for i in images))


image_group.add_command(image_list, "ls")


@group_group.group("snap")
def snap_group() -> None:
    """Group snapshots."""


@snap_group.command("list")
@group_spec_argument
@format_options
@pass_app
def snap_list(app: AppContext, group_spec: str | None, pool: str | None, namespace: str | None,
              group_name: str | None, output_format: str, pretty_format: bool) -> None:
    """List snapshots of a group."""
    header_pool, name = _group(app, group_spec, pool, namespace, group_name)
    snaps = group_snapshots(header_pool, group_id(header_pool, name))
    if _since_tentacle(app):
        echo(_snap_table_since_tentacle(snaps, output_format, pretty_format))
        return
    rows = [{"snapshot": s.name, "state": snapshot_state_name(s.state)} for s in snaps]
    if output_format == "json":
        echo(ceph_json(rows, pretty_format))
        return
    width = max([len("NAME")] + [len(r["snapshot"]) for r in rows])
    echo(f"{'NAME':<{width}}  STATUS\n" + "".join(f"{r['snapshot']:<{width}}  {r['state']}\n" for r in rows))


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

