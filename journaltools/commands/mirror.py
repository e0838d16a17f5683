"""``mirror pool info|status`` and ``mirror image status``, as ``rbd mirror ...`` prints them, plus ``status``."""

from __future__ import annotations

import re
from typing import Any

import click

from ..cli import AppContext, main, pass_app
from ..errors import SpecError
from ..format.cls_rbd import IMAGE_ENABLED, IMAGE_MODE_SNAPSHOT
from ..mirroring import (
    describe_mode,
    describe_state,
    image_role,
    image_statuses,
    mirror_daemons,
    mirror_snapshots,
    pool_info,
    pool_info_text,
    pool_status,
    pool_status_text,
    read_mirror_pool,
    snapshot_mode_primary,
)
from ..output import echo, emit, format_options
from ..rbd_cli import rbd_mode, rbd_step
from ..store.base import Pool
from ..write_guard import hold_image, hold_pool
from .specs import image_options, image_spec_names, pool_spec_names, resolve_image, resolve_pool


@main.group("mirror")
def mirror_group() -> None:
    """RBD mirroring: pool and image state."""


@mirror_group.group("pool")
def mirror_pool_group() -> None:
    """Mirroring configuration and status of a pool."""


@mirror_group.group("image")
def mirror_image_group() -> None:
    """Mirroring state of one image."""


@mirror_pool_group.command("info")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.option("-p", "--pool", "pool_opt", metavar="POOL", help="Pool name.")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@format_options(xml=True)
@click.option("--all", "all_attributes", is_flag=True,
              help="List all attributes: the peers' mon host and key too (kept in the monitors' config-key store).")
@pass_app
def pool_info_cmd(app: AppContext, pool_spec: str | None, pool_opt: str | None, namespace: str | None,
                  output_format: str, pretty_format: bool, all_attributes: bool) -> None:
    """Show mirroring configuration for a pool or namespace (as rbd mirror pool info)."""
    pool = resolve_pool(app, pool_spec, pool_opt, namespace)
    doc = pool_info(pool, read_mirror_pool(pool), app.release())
    if all_attributes:
        from ..mirror_config import peer_attributes

        for peer in doc.get("peers", []):
            peer.update(peer_attributes(pool, peer["uuid"]))
    emit(doc, output_format, pretty_format, plain=lambda: pool_info_text(doc, all_attributes), xml_root="mirror",
         xml_items={"peers": "peer"})


@mirror_pool_group.command("status")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.option("-p", "--pool", "pool_opt", metavar="POOL", help="Pool name.")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@click.option("--verbose", is_flag=True, help="List daemons and every mirrored image.")
@format_options(xml=True)
@pass_app
def pool_status_cmd(app: AppContext, pool_spec: str | None, pool_opt: str | None, namespace: str | None, verbose: bool,
                    output_format: str, pretty_format: bool) -> None:
    """Show status for all mirrored images in a pool or namespace (as rbd mirror pool status)."""
    pool = resolve_pool(app, pool_spec, pool_opt, namespace)
    state = read_mirror_pool(pool)
    if state.mode == 0:
        raise SpecError("mirroring not enabled on the pool")  # rbd's words, every release
    daemons = mirror_daemons(pool)
    doc = pool_status(pool, state, daemons)
    emit(doc if verbose else {"summary": doc["summary"]}, output_format, pretty_format,
         plain=lambda: pool_status_text(doc, image_statuses(pool, state, daemons), verbose, daemons, app.release()),
         xml_root="status",
         xml_items={"daemons": "daemon", "images": "image", "peer_sites": "peer_site", "callouts": "callout"})


@mirror_image_group.command("status")
@image_options
@format_options(xml=True)
@pass_app
def image_status_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                     image: str | None, output_format: str, pretty_format: bool) -> None:
    """Show RBD mirroring status for an image (as rbd mirror image status)."""
    header_pool, iid, name = resolve_image(app, image_spec, pool, namespace, image)
    state = read_mirror_pool(header_pool)
    if iid not in state.images or state.images[iid].state != IMAGE_ENABLED:
        raise SpecError("mirroring not enabled on the image")  # rbd names no image
    record = state.images[iid]
    local = state.local_status.get(record.global_image_id)
    daemons = mirror_daemons(header_pool) if local is not None and local.up else None  # as rbd: only for an up image
    status = next(s for s in image_statuses(header_pool, state, daemons) if s.global_id == record.global_image_id)
    if record.mode == IMAGE_MODE_SNAPSHOT and record.state == IMAGE_ENABLED:
        snaps = mirror_snapshots(header_pool, iid)
        if snapshot_mode_primary(snaps):  # rbd lists them for a primary only
            status.snapshots = [s for s in snaps if s.primary]
    emit(status.to_json(), output_format, pretty_format, plain=status.text, xml_root="image",
         xml_items={"peer_sites": "peer_site"})


@main.command("status")
@image_options
@format_options(xml=True)
@pass_app
def status_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None, image: str | None,
               output_format: str, pretty_format: bool) -> None:
    """Show the status of an image: watchers, and its mirroring role with the primary epoch.

    The role comes from the newest journal tag of the image's tag class (its
    mirror uuid: "" primary, "<orphan>" demoted, else the peer it follows), the
    epoch is that tag's tid; the tag chain, the mirror peer clients' sync state
    and lag, and the stored mirror status complete the picture.
    """
    header_pool, iid, name = resolve_image(app, image_spec, pool, namespace, image)
    watchers = header_pool.watchers(f"rbd_header.{iid}")
    watcher_lines = [f"\twatcher={w.get('address')} client.{w.get('client')} cookie={w.get('cookie')}"
                     for w in watchers]
    if rbd_mode():  # as rbd: exactly rbd status's output
        emit({"watchers": watchers}, output_format, pretty_format, xml_root="status", xml_items={"watchers": "watcher"},
             plain="Watchers:" + (" none\n" if not watchers else "\n" + "".join(f"{w}\n" for w in watcher_lines)))
        return
    state = read_mirror_pool(header_pool)
    record = state.images.get(iid)
    local = state.local_status.get(record.global_image_id) if record is not None else None
    role = image_role(header_pool, iid, local)
    doc: dict[str, Any] = {
        "watchers": watchers if header_pool.knows_watchers else None,
        "mirroring": {
            "state": describe_state(record) if record is not None else "disabled",
            "mode": describe_mode(record) if record is not None else None,
            "global_id": record.global_image_id if record is not None else None,
            "role": role.role,
            "primary": role.role == "primary",
            "epoch": role.epoch,
            "owner_mirror_uuid": role.owner,
            "reason": role.reason,
            "tags": [{"tid": t.tid, "tag_class": t.tag_class, "mirror_uuid": t.mirror_uuid, "predecessor": t.predecessor}
                     for t in role.tags],
            "peers": role.peers,
        },
    }
    if output_format != "plain":
        emit(doc, output_format, pretty_format, xml_root="status",
             xml_items={"watchers": "watcher", "tags": "tag", "peers": "peer", "commit_position": "object_position"})
        return
    known = header_pool.knows_watchers
    lines = ["Watchers:" + ((" none" if not watchers else "") if known else " unknown (this store cannot list watchers)")]
    lines += watcher_lines
    m = doc["mirroring"]
    lines.append("Mirroring:")
    lines.append(f"\tstate: {m['state']}" + (f" ({m['mode']})" if m["mode"] else ""))
    if m["global_id"]:
        lines.append(f"\tglobal id: {m['global_id']}")
    lines.append(f"\trole: {m['role']}" + (f" ({m['reason']})" if m["reason"] else ""))
    if role.epoch is not None:
        lines.append(f"\tprimary epoch: tag {role.epoch} (mirror uuid '{role.owner}')")
    for tag in role.tags:
        pred = tag.predecessor or {}
        link = (f"tag {pred.get('tag_tid')} entry {pred.get('entry_tid')}" if pred.get("commit_valid") else "no commit")
        lines.append(f"\ttag {tag.tid}: mirror uuid '{tag.mirror_uuid}', predecessor '{pred.get('mirror_uuid', '')}' {link}")
    for peer in role.peers:
        lines.append(f"\tpeer {peer['mirror_uuid']}: {peer['sync_state']} "
                     f"({'consistent' if peer['consistent'] else 'inconsistent'}), image {peer['image_id']}, "
                     f"{peer['lag_entries']} entries / {peer['lag_bytes']} bytes behind")
    echo("\n".join(lines) + "\n")




# -- changes ------------------------------------------------------------------------------
_PEER_SPEC = re.compile(r"^(?:(client\.[^@]+)@)?([^/@]+)$")
_PEER_POOL_SPEC = re.compile(r"^(?:([^/@]+)/)?([^/@]+)$")
_UUID = re.compile(r"^[A-F0-9]{8}-[A-F0-9]{4}-[A-F0-9]{4}-[A-F0-9]{4}-[A-F0-9]{12}$", re.IGNORECASE)


def _pool_and_next(pool_spec: str | None, second: str | None, pool_opt: str | None) -> tuple[str | None, str | None]:
    """rbd's positionals after ``-p``: with the option given, the first positional is the next argument."""
    if pool_opt and pool_spec and second is None:
        return None, pool_spec
    return pool_spec, second


@mirror_pool_group.command("enable")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.argument("mode", metavar="<mode>", required=False)
@click.option("-p", "--pool", "pool_opt", metavar="POOL", help="Pool name.")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@click.option("--site-name", metavar="NAME", help="Local site name (kept in the monitors' config-key store; empty: "
              "the cluster's fsid).")
@click.option("--remote-namespace", metavar="NS", help="Remote namespace name (Tentacle and later; default: this "
              "namespace's own name).")
@pass_app
def pool_enable_cmd(app: AppContext, pool_spec: str | None, mode: str | None, pool_opt: str | None,
                    namespace: str | None, site_name: str | None, remote_namespace: str | None) -> None:
    """Enable RBD mirroring in a pool or namespace (mode image or pool; Tentacle: also init-only).

    Pool mode also enables mirroring on every image with journaling.
    """
    from ..format.cls_rbd import MIRROR_MODE_IMAGE, MIRROR_MODE_INIT_ONLY, MIRROR_MODE_POOL
    from ..mirror_changes import pool_enable
    from ..release import TENTACLE

    tentacle = app.release() >= TENTACLE
    if remote_namespace is not None and not tentacle:
        if rbd_mode():
            from ..rbd_cli import RbdUsageError

            raise RbdUsageError("unrecognised option '--remote-namespace'")  # rbd before 20 has no such option
        raise SpecError("--remote-namespace needs Ceph Tentacle (20) or later")
    pool_spec, mode = _pool_and_next(pool_spec, mode, pool_opt)
    pool_spec_names(pool_spec, pool_opt, namespace, validate=True)  # as rbd: the pool before the mode
    modes = {"image": MIRROR_MODE_IMAGE, "pool": MIRROR_MODE_POOL, **({"init-only": MIRROR_MODE_INIT_ONLY}
                                                                     if tentacle else {})}
    if mode not in modes:
        if mode is not None and tentacle:  # rbd 20's words for a mode it does not know
            raise SpecError("mirror mode was not specified")
        raise SpecError("must specify 'image' or 'pool' mode.")
    if mode == "init-only" and remote_namespace is not None:
        raise SpecError("cannot specify remote namespace for init-only mode")
    target = _pool_change(app, pool_spec, pool_opt, namespace)
    if mode == "init-only" and target.namespace:
        with rbd_step("librbd::api::Mirror: mode_set: init-only mode cannot be set on a namespace"):
            raise SpecError("init-only mode cannot be set on a namespace")
    if site_name is not None:
        from ..mirror_config import set_site_name

        set_site_name(target.store, site_name)
    if tentacle and mode != "init-only":
        from ..mirror_changes import set_remote_namespace

        with rbd_step("librbd::api::Mirror: remote_namespace_set: failed to set remote mirror namespace: "
                      "(22) Invalid argument", "failed to set the remote namespace"):
            set_remote_namespace(target, remote_namespace)
    note = pool_enable(target, modes[mode])
    if note:
        click.echo(note)


@mirror_pool_group.command("disable")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.option("-p", "--pool", "pool_opt", metavar="POOL", help="Pool name.")
@click.option("--namespace", metavar="NS", help="Namespace name.")
@pass_app
def pool_disable_cmd(app: AppContext, pool_spec: str | None, pool_opt: str | None, namespace: str | None) -> None:
    """Disable RBD mirroring in a pool or namespace (refused while images are mirrored in image mode)."""
    from ..mirror_changes import pool_disable

    note = pool_disable(_pool_change(app, pool_spec, pool_opt, namespace))
    if note:
        click.echo(note)


@mirror_pool_group.group("peer")
def peer_group() -> None:
    """Add or remove mirroring peers."""


@peer_group.command("add")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.argument("remote_spec", metavar="<remote-cluster-spec>", required=False)
@click.option("-p", "--pool", "pool_opt", metavar="POOL", help="Pool name.")
@click.option("--direction", type=click.Choice(["rx-only", "rx-tx"]), default="rx-tx", show_default=True,
              help="Mirroring direction.")
@click.option("--remote-client-name", metavar="NAME", help="Remote client name (default client.admin).")
@click.option("--remote-cluster", metavar="NAME", help="Remote cluster name.")
@click.option("--remote-mon-host", metavar="HOSTS", help="Remote mon host(s) (kept in the monitors' config-key store).")
@click.option("--remote-key-file", metavar="PATH", help="Path to the remote key (kept in the monitors' config-key store).")
@pass_app
def peer_add_cmd(app: AppContext, pool_spec: str | None, remote_spec: str | None, pool_opt: str | None, direction: str,
                 remote_client_name: str | None, remote_cluster: str | None, remote_mon_host: str | None,
                 remote_key_file: str | None) -> None:
    """Add a mirroring peer: rbd's [client.<id>@]<cluster>, or the proposal's [<cluster>/]<pool>.

    Prints the new peer's UUID. Ceph keeps no remote pool name: the peer's pool is
    always the same-named pool, so a <cluster>/<pool> spec must name this pool.
    """
    from ..format.cls_rbd import DIRECTION_RX, DIRECTION_RX_TX, DIRECTION_TX
    from ..mirror_changes import peer_add

    key = None
    if remote_key_file:  # rbd reads it first
        from ..mirror_config import read_key_file

        key = read_key_file(remote_key_file)
    pool_spec, remote_spec = _pool_and_next(pool_spec, remote_spec, pool_opt)
    pool_spec_names(pool_spec, pool_opt, validate=True, namespaces=False)  # as rbd: the pool comes first
    remote = remote_spec or remote_cluster
    if not remote:
        raise SpecError("remote cluster was not specified")
    pool = _pool_change(app, pool_spec, pool_opt, None, namespaces=False)
    if read_mirror_pool(pool).mode == 0:
        raise SpecError("mirroring not enabled on the pool")
    match = _PEER_SPEC.match(remote)
    client = None
    if match:
        client, cluster = match.groups()
    else:
        pool_match = _PEER_POOL_SPEC.match(remote)
        if not pool_match or not pool_match.group(1):
            raise SpecError(f"invalid spec '{remote}'")
        cluster, remote_pool = pool_match.groups()
        if remote_pool != pool.name:
            raise SpecError(f"the remote pool must be the same-named pool {pool.name!r}: Ceph mirrors a pool to the "
                            f"pool of the same name on the peer (got {remote_pool!r})")
    if any(_direction(p) != DIRECTION_TX for p in read_mirror_pool(pool).peers):  # librbd's rule, EINVAL
        raise SpecError("multiple RX peers are not currently supported")
    attributes = {"mon_host": remote_mon_host or "", "key": key or ""}
    peer_uuid = peer_add(pool, cluster, client or remote_client_name or "client.admin",
                         DIRECTION_RX if direction == "rx-only" else DIRECTION_RX_TX)
    if remote_mon_host or remote_key_file:
        from ..mirror_config import set_peer_attributes

        set_peer_attributes(pool, peer_uuid, attributes)
    click.echo(peer_uuid)


def _direction(peer: Any) -> int:
    """A peer's direction (an old record without one is rx-tx)."""
    return peer.mirror_peer_direction if peer.mirror_peer_direction is not None else 2


@peer_group.command("remove")
@click.argument("pool_spec", metavar="<pool-spec>", required=False)
@click.argument("peer_uuid", metavar="<uuid>", required=False)
@click.option("-p", "--pool", "pool_opt", metavar="POOL", help="Pool name.")
@pass_app
def peer_remove_cmd(app: AppContext, pool_spec: str | None, peer_uuid: str | None, pool_opt: str | None) -> None:
    """Remove a mirroring peer from a pool."""
    from ..mirror_changes import peer_remove

    pool_spec, peer_uuid = _pool_and_next(pool_spec, peer_uuid, pool_opt)
    pool_spec_names(pool_spec, pool_opt, validate=True, namespaces=False)  # as rbd: the pool comes first
    if not peer_uuid:
        raise SpecError("must specify peer uuid")
    if not _UUID.match(peer_uuid):
        raise SpecError(f"invalid uuid '{peer_uuid}'")
    pool = _pool_change(app, pool_spec, pool_opt, None, namespaces=False)
    if read_mirror_pool(pool).mode == 0:
        raise SpecError("mirroring not enabled on the pool")  # rbd's words and EINVAL, every release
    peer_remove(pool, peer_uuid)
    from ..mirror_config import remove_peer_attributes

    remove_peer_attributes(pool, peer_uuid)


def _pool_change(app: AppContext, pool_spec: str | None, pool_opt: str | None = None,
                 namespace: str | None = None, namespaces: bool = True) -> Pool:
    """The pool of a mirroring change, its rbd_mirroring metadata held for the command (the write guard)."""
    pool = resolve_pool(app, pool_spec, pool_opt, namespace, validate=True, namespaces=namespaces)
    hold_pool(pool, "rbd_mirroring")
    return pool


def _image_change(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                  image: str | None, force: bool = False, snapshot_mode: bool | None = None) -> tuple[Pool, str]:
    """The image of a mirroring change, held for the command (the write guard; rbd-mirror may have it open).

    A snapshot-mode change goes through librbd, which takes the image's exclusive lock from its
    holder itself (a peer site's rbd-mirror watches a primary image): it is not refused as in use.
    """
    header_pool, iid, _ = resolve_image(app, image_spec, pool, namespace, image)
    if snapshot_mode is None:
        snapshot_mode = _snapshot_mode(header_pool, iid)
    hold_image(header_pool, iid, force or snapshot_mode, ignore_mirror_daemon=True)
    return header_pool, iid


@mirror_image_group.command("enable")
@image_options
@click.argument("mode", metavar="[<mode>]", required=False)
@click.option("--force", is_flag=True, help="Change the image even if a client other than rbd-mirror has it open.")
@pass_app
def image_enable_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                     image: str | None, mode: str | None, force: bool) -> None:
    """Enable RBD mirroring for an image: journal mode (the image needs journaling) or snapshot mode."""
    if image and image_spec and mode is None:  # rbd: with --image the positional is the mode
        image_spec, mode = None, image_spec
    # rbd opens the image before it reads the mode
    target = _image_change(app, image_spec, pool, namespace, image, force, snapshot_mode=mode == "snapshot")
    if mode not in (None, "journal", "snapshot"):
        raise SpecError(f"invalid mode name: {mode}")
    if mode == "snapshot":
        from .. import snapshot_mirroring

        snapshot_mirroring.enable(*target)
    else:
        from ..mirror_changes import enable_journaling, image_enable

        enable_journaling(*target)  # as librbd: journal mode brings the journaling feature
        image_enable(*target)
    click.echo("Mirroring enabled")


@mirror_image_group.command("snapshot")
@image_options
@click.option("--skip-quiesce", is_flag=True, help="Do not run quiesce hooks.")
@click.option("--ignore-quiesce-error", is_flag=True, help="Ignore quiesce hook error.")
@pass_app
def image_snapshot_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                       image: str | None, skip_quiesce: bool, ignore_quiesce_error: bool) -> None:
    """Create an RBD mirroring image snapshot (a snapshot-mode image; prints its snapshot id)."""
    from .. import snapshot_mirroring

    image_spec_names(image_spec, pool, namespace, image)  # as rbd: the spec before the quiesce flags
    if skip_quiesce and ignore_quiesce_error:
        raise SpecError("ignore-quiesce-error cannot be used together with skip-quiesce")
    header_pool, iid = _image_change(app, image_spec, pool, namespace, image)
    _snapshot_mode(header_pool, iid, required=True)
    flags = (1 if skip_quiesce else 0) | (2 if ignore_quiesce_error else 0)  # RBD_SNAP_CREATE_SKIP/IGNORE_QUIESCE
    click.echo(f"Snapshot ID: {snapshot_mirroring.create_snapshot(header_pool, iid, flags)}")


def _snapshot_mode(pool: Pool, image_id: str, required: bool = False) -> bool:
    """Whether the image is mirrored in snapshot mode (its changes go through librbd)."""
    record = read_mirror_pool(pool).images.get(image_id)
    if required and (record is None or record.state != IMAGE_ENABLED):
        raise SpecError("mirroring not enabled on the image")
    snapshot = record is not None and record.mode == IMAGE_MODE_SNAPSHOT
    if required and not snapshot:
        raise SpecError("snapshot based mirroring not enabled")
    return snapshot


@mirror_image_group.command("disable")
@image_options
@click.option("--force", is_flag=True, help="Disable even if not primary, or in use by a client other than rbd-mirror.")
@pass_app
def image_disable_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                      image: str | None, force: bool) -> None:
    """Disable RBD mirroring for an image."""
    from ..format.cls_rbd import MIRROR_MODE_IMAGE

    header_pool, iid = _image_change(app, image_spec, pool, namespace, image, force)
    state = read_mirror_pool(header_pool)
    if state.mode != MIRROR_MODE_IMAGE:  # librbd's rule (Mirror::image_disable), EINVAL
        raise SpecError("cannot disable mirroring in the current pool mirroring mode")
    if iid not in state.images and rbd_mode():  # rbd: nothing to disable is a success
        click.echo("Mirroring disabled")
        return
    if _snapshot_mode(header_pool, iid):
        from .. import snapshot_mirroring

        snapshot_mirroring.disable(header_pool, iid, force=force)
    else:
        from ..mirror_changes import image_disable

        image_disable(header_pool, iid, force=force)
    click.echo("Mirroring disabled")


@mirror_image_group.command("promote")
@image_options
@click.option("--force", is_flag=True, help="Promote even if not cleanly demoted by the remote cluster, or in use by "
              "a client other than rbd-mirror.")
@pass_app
def image_promote_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                      image: str | None, force: bool) -> None:
    """Promote an image to primary for RBD mirroring (journal mode: a new journal epoch, as librbd writes it;
    snapshot mode: a new primary mirror snapshot)."""
    header_pool, iid = _image_change(app, image_spec, pool, namespace, image, force)
    if _snapshot_mode(header_pool, iid):
        from .. import snapshot_mirroring

        snapshot_mirroring.promote(header_pool, iid, force=force)
    else:
        from ..mirror_changes import promote

        promote(header_pool, iid, force=force)
    click.echo("Image promoted to primary")


@mirror_image_group.command("demote")
@image_options
@click.option("--force", is_flag=True, help="Change the image even if a client other than rbd-mirror has it open.")
@pass_app
def image_demote_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                     image: str | None, force: bool) -> None:
    """Demote an image to non-primary for RBD mirroring (journal mode: an orphan epoch, as librbd writes it;
    snapshot mode: a demoted primary mirror snapshot)."""
    header_pool, iid = _image_change(app, image_spec, pool, namespace, image, force)
    if _snapshot_mode(header_pool, iid):
        from .. import snapshot_mirroring

        snapshot_mirroring.demote(header_pool, iid)
    else:
        from ..mirror_changes import demote

        demote(header_pool, iid)
    click.echo("Image demoted to non-primary")


@mirror_image_group.command("resync")
@image_options
@click.option("--force", is_flag=True, help="Change the image even if a client other than rbd-mirror has it open.")
@pass_app
def image_resync_cmd(app: AppContext, image_spec: str | None, pool: str | None, namespace: str | None,
                     image: str | None, force: bool) -> None:
    """Force resync to primary image for RBD mirroring (flags the image client's resync request)."""
    header_pool, iid = _image_change(app, image_spec, pool, namespace, image, force)
    if _snapshot_mode(header_pool, iid):
        from .. import snapshot_mirroring

        snapshot_mirroring.resync(header_pool, iid)
    else:
        from ..mirror_changes import resync

        resync(header_pool, iid)
    click.echo("Flagged image for resync from primary")
