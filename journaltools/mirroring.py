"""RBD mirroring state of a pool (object ``rbd_mirroring``) and of an image's journal.

Reads the cls_rbd records (src/cls/rbd/cls_rbd.cc, namespace ``mirror``) and
derives what ``rbd mirror pool info|status`` and ``rbd mirror image status`` show.
The image role comes from the journal (src/librbd/Journal.cc ``is_tag_owner``): the
newest tag of the image client's tag class owns the image; its TagData mirror uuid
is ``""`` for a primary, ``<orphan>`` for a demoted image, else the remote pool's
mirror uuid an rbd-mirror daemon replays from.  That tag's tid is the epoch.

Offline nothing can tell whether a status writer is still watching ``rbd_mirroring``,
so every site status reads ``down+`` (as Ceph shows stale statuses) and daemon
health is UNKNOWN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .errors import FormatError, JournalToolsError, NotFoundError
from .format import lookup
from .format.cls_rbd import (
    DIRECTION_NAMES,
    IMAGE_ENABLED,
    IMAGE_MODE_NAMES,
    IMAGE_STATE_NAMES,
    MIRROR_MODE_DISABLED,
    MIRROR_MODE_NAMES,
    RBD_MIRRORING,
    STATUS_STATE_NAMES,
)
from .format.librbd_journal import (
    IMAGE_CLIENT,
    LOCAL_MIRROR_UUID,
    MIRROR_PEER_CLIENT,
    MIRROR_PEER_STATE_NAMES,
    MIRROR_PEER_SYNCING,
    ORPHAN_MIRROR_UUID,
    decode_client_data,
    decode_tag_data,
)
from .format.primitives import CephString, decode, encode, u32
from .format.snapshot_namespace import MIRROR as MIRROR_NAMESPACE
from .journal import Journal
from .release import PACIFIC, TENTACLE, Release
from .spec import image_name
from .store.base import OfflinePool, Pool

HEALTH = ["OK", "UNKNOWN", "WARNING", "ERROR"]
MIRROR_SNAPSHOT_PRIMARY, MIRROR_SNAPSHOT_PRIMARY_DEMOTED = 0, 1  # cls::rbd::MirrorSnapshotState


def timestr(sec: int) -> str:
    """``utils::timestr``: local ``YYYY-MM-DD HH:MM:SS``, empty for 0."""
    return "" if not sec else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec))


@dataclass
class SiteStatus:
    state: int
    description: str
    last_update: int
    up: bool = False

    def state_text(self) -> str:
        return ("up+" if self.up else "down+") + STATUS_STATE_NAMES.get(self.state, f"unknown ({self.state})")


@dataclass
class MirrorPool:
    """Everything ``rbd_mirroring`` says about a pool (or namespace)."""

    mode: int = MIRROR_MODE_DISABLED
    mirror_uuid: str = ""
    remote_namespace: str | None = None  # omap ``remote_namespace`` (Tentacle's rbd mirror pool enable --remote-namespace)
    peers: list[Any] = field(default_factory=list)
    peer_records: list[bytes] = field(default_factory=list)  # the peers' stored encodings (cls inputs)
    images: dict[str, Any] = field(default_factory=dict)  # image id -> MirrorImage
    local_status: dict[str, SiteStatus] = field(default_factory=dict)  # global id -> status
    remote_status: dict[str, dict[str, SiteStatus]] = field(default_factory=dict)

    @property
    def mode_name(self) -> str:
        return MIRROR_MODE_NAMES.get(self.mode, f"unknown ({self.mode})")


def _status(raw: bytes) -> SiteStatus:
    value = lookup("cls::rbd::MirrorImageSiteStatusOnDisk").decode(raw)
    st = value.status
    return SiteStatus(st.state, st.description, st.last_update.sec, False)


def read_mirror_pool(pool: Pool) -> MirrorPool:
    try:
        omap = pool.omap(RBD_MIRRORING)
    except NotFoundError:
        return MirrorPool()
    state = MirrorPool()
    if "mirror_mode" in omap:
        state.mode = int(decode(u32, omap["mirror_mode"], type_name="mirror_mode"))
    state.mirror_uuid = omap.get("mirror_uuid", b"").decode("utf-8", "replace")
    if "remote_namespace" in omap:
        state.remote_namespace = str(decode(CephString(), omap["remote_namespace"], type_name="remote_namespace"))
    peer_type, image_type = lookup("cls::rbd::MirrorPeer"), lookup("cls::rbd::MirrorImage")
    for key in sorted(omap):
        raw = omap[key]
        if key.startswith("mirror_peer_"):
            state.peers.append(peer_type.decode(raw))
            state.peer_records.append(bytes(raw))
        elif key.startswith("image_map_"):
            continue
        elif key.startswith("image_"):
            state.images[key[len("image_"):]] = image_type.decode(raw)
        elif key.startswith("remote_status_global_"):
            gid, _, uuid = key[len("remote_status_global_"):].rpartition("_")
            state.remote_status.setdefault(gid, {})[uuid] = _status(raw)
        elif key.startswith("status_global_"):
            state.local_status[key[len("status_global_"):]] = _status(raw)
    if not isinstance(pool, OfflinePool):
        _live_up(pool, state)
    return state


def _live_up(pool: Pool, state: MirrorPool) -> None:
    """Which stored statuses are up: cls_rbd's ``mirror_image_status_get`` marks a status up while its writer
    (the rbd-mirror daemon that stored it) still watches ``rbd_mirroring``, the way rbd learns it."""
    status_type = lookup("cls::rbd::MirrorImageStatus")
    for gid in sorted(set(state.local_status) | set(state.remote_status)):
        try:
            raw = pool.execute(RBD_MIRRORING, "rbd", "mirror_image_status_get", encode(CephString(), gid))
            live = status_type.decode(raw)
        except (JournalToolsError, FormatError):
            continue
        local = state.local_status.get(gid)
        if local is not None and live.local_status_valid is not False:
            local.up = bool(live.up)
        for remote in live.remote_statuses or []:
            site = state.remote_status.get(gid, {}).get(remote.mirror_uuid)
            if site is not None:
                site.up = bool(remote.up)


def image_instance_id(pool: Pool, global_id: str) -> str:
    """The rbd-mirror instance that replays the image (cls ``mirror_image_instance_get``: its entity number)."""
    try:
        raw = pool.execute(RBD_MIRRORING, "rbd", "mirror_image_instance_get", encode(CephString(), global_id))
    except JournalToolsError:
        return ""
    if len(raw) < 9:
        return ""
    return str(int.from_bytes(raw[1:9], "little", signed=True))  # entity_name_t: u8 type, i64 num


@dataclass
class MirrorService:
    """One rbd-mirror daemon as the service map and its status report it (what rbd's DAEMONS section shows)."""

    service_id: str
    client_id: str = ""
    hostname: str = ""
    ceph_version: str = ""
    instance_id: str = ""
    leader: bool = False
    health: str = "OK"
    callouts: list[str] = field(default_factory=list)

    def image_description(self) -> str:
        name = self.client_id or self.service_id
        return f"{name} on {self.hostname}" if self.hostname else name

    def image_json(self) -> dict[str, Any]:
        return {"service_id": self.service_id, "instance_id": self.instance_id, "daemon_id": self.client_id,
                "hostname": self.hostname}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"service_id": self.service_id, "instance_id": self.instance_id,
                               "client_id": self.client_id, "hostname": self.hostname,
                               "ceph_version": self.ceph_version, "leader": self.leader, "health": self.health}
        if self.callouts:
            doc["callouts"] = list(self.callouts)
        return doc

    def text(self) -> str:
        lines = [f"service {self.service_id}:", f"  instance_id: {self.instance_id}", f"  client_id: {self.client_id}",
                 f"  hostname: {self.hostname}", f"  version: {self.ceph_version}",
                 f"  leader: {'true' if self.leader else 'false'}", f"  health: {self.health}"]
        if self.callouts:
            lines.append(f"  callouts: {','.join(self.callouts)}")
        return "\n".join(lines) + "\n"


@dataclass
class MirrorDaemons:
    services: list[MirrorService]
    health: str  # daemon health of the pool

    def by_instance(self, instance_id: str) -> MirrorService | None:
        return next((s for s in self.services if instance_id and s.instance_id == instance_id), None)


def _cluster_command(store: Any, prefix: str) -> dict[str, Any] | None:
    import json

    cluster = getattr(store, "cluster", None)
    if cluster is None:
        return None
    cmd = json.dumps({"prefix": prefix, "format": "json"})
    for send in ("mon_command", "mgr_command"):
        try:
            code, out, _ = getattr(cluster, send)(cmd, b"", timeout=15)
        except Exception:  # noqa: BLE001 - an older cluster without the command: try the other daemon
            continue
        if code == 0:
            try:
                doc = json.loads(out or b"{}")
            except ValueError:
                return None
            return doc if isinstance(doc, dict) else None
    return None


def mirror_daemons(pool: Pool) -> MirrorDaemons:
    """The rbd-mirror daemons of a live cluster and the pool's daemon health (UNKNOWN offline or without any)."""
    dump = _cluster_command(pool.store, "service dump") if not isinstance(pool, OfflinePool) else None
    daemons = (((dump or {}).get("services") or {}).get("rbd-mirror") or {}).get("daemons") or {}
    services = {}
    for service_id, daemon in daemons.items():
        if not isinstance(daemon, dict) or not isinstance(daemon.get("metadata"), dict):
            continue
        meta = daemon["metadata"]
        services[service_id] = MirrorService(service_id, str(meta.get("id", "")), str(meta.get("hostname", "")),
                                             str(meta.get("ceph_version_short", "")))
    if not services:
        return MirrorDaemons([], "UNKNOWN")
    import json

    status = (_cluster_command(pool.store, "service status") or {}).get("rbd-mirror") or {}
    found_pool = found_leader = False
    for service_id, daemon in status.items():
        service = services.get(service_id)
        if service is None or not isinstance(daemon, dict):
            continue
        report = (daemon.get("status") or {}).get("json")
        if not report:
            service.callouts.append("not reporting status")
            service.health = "WARNING"
            continue
        try:
            pool_report = json.loads(report).get(str(pool.pool_id))
        except (ValueError, AttributeError):
            continue
        if not isinstance(pool_report, dict):
            service.callouts.append("not reporting status for pool")
            service.health = "WARNING"
            continue
        found_pool = True
        service.instance_id = str(pool_report.get("instance_id", ""))
        if pool_report.get("leader"):
            service.leader = found_leader = True
        health = "OK"
        for callout in (pool_report.get("callouts") or {}).values():
            level = callout.get("level") if isinstance(callout, dict) else None
            if level == "error":
                health = "ERROR"
            elif level == "warning" and health == "OK":
                health = "WARNING"
            if isinstance(callout, dict) and "text" in callout:
                service.callouts.append(str(callout["text"]))
        service.health = health
    overall = "OK" if found_pool and found_leader else ("WARNING" if found_pool else "ERROR")
    for service in services.values():
        overall = max(overall, service.health, key=HEALTH.index)
    return MirrorDaemons([services[k] for k in sorted(services)], overall)


def direction_name(peer: Any) -> str:
    direction = peer.mirror_peer_direction if peer.mirror_peer_direction is not None else 2
    return DIRECTION_NAMES.get(direction, f"unknown ({direction})")


def pool_info(pool: Pool, state: MirrorPool, release: Release = PACIFIC) -> dict[str, Any]:
    """``rbd mirror pool info``'s JSON, as ``release``'s rbd prints it.

    A namespace has neither site name nor peers (they belong to the pool).  From Tentacle on rbd adds
    the mirror uuid (librbd reads the pool's, that of the default namespace) and the remote namespace
    (the stored one, else the namespace's own name: the same-named namespace on the peer).
    """
    doc: dict[str, Any] = {"mode": state.mode_name}
    if state.mode == MIRROR_MODE_DISABLED:
        return doc
    if not pool.namespace:
        from .mirror_config import site_name

        doc["site_name"] = site_name(pool.store)  # the config-key rbd/mirror/site_name, else the fsid
    if release >= TENTACLE:
        pool_uuid = read_mirror_pool(pool.with_namespace("")).mirror_uuid if pool.namespace else state.mirror_uuid
        if not pool_uuid:  # rbd fails (ENOENT) without a word
            raise NotFoundError(f"no mirror uuid in {RBD_MIRRORING} of pool {pool.name}")
        doc["mirror_uuid"] = pool_uuid
        doc["remote_namespace"] = state.remote_namespace if state.remote_namespace is not None else pool.namespace
    if not pool.namespace:
        doc["peers"] = [{"uuid": p.uuid, "direction": direction_name(p), "site_name": p.site_name,
                         "mirror_uuid": p.mirror_uuid or "", "client_name": p.client_name} for p in state.peers]
    return doc


def pool_info_text(doc: dict[str, Any], all_attributes: bool = False) -> str:
    lines = [f"Mode: {doc['mode']}"]
    if "site_name" in doc:
        lines.append(f"Site Name: {doc['site_name']}")
    if "mirror_uuid" in doc:
        lines += [f"Mirror UUID: {doc['mirror_uuid']}", f"Remote Namespace: {doc['remote_namespace']}"]
    if len(lines) > 1:
        lines.append("")
    if "peers" not in doc:
        return "\n".join(lines) + "\n"
    if not doc["peers"]:
        return "\n".join(lines) + "\nPeer Sites: none\n"
    blocks = []
    for peer in doc["peers"]:
        block = ["", f"UUID: {peer['uuid']}", f"Name: {peer['site_name']}"]
        if not (peer["direction"] == "rx-only" and not peer["mirror_uuid"]):
            block.append(f"Mirror UUID: {peer['mirror_uuid']}")
        block.append(f"Direction: {peer['direction']}")
        if not (peer["direction"] == "tx-only" and not peer["client_name"]):
            block.append(f"Client: {peer['client_name']}")
        if all_attributes:  # rbd mirror pool info --all: the peer's config-key attributes, empty when not set
            block += [f"Mon Host: {peer.get('mon_host', '')}", f"Key: {peer.get('key', '')}"]
        blocks.append("\n".join(block) + "\n")
    return "\n".join(lines) + "\nPeer Sites: \n" + "\n".join(blocks)


@dataclass
class MirrorSnapshot:
    """An image snapshot in the mirror snapshot namespace (snapshot-based mirroring)."""

    id: int
    name: str
    state: int  # MIRROR_SNAPSHOT_PRIMARY ... (snapshot_namespace.MIRROR_STATE_NAMES)
    peer_uuids: list[str]
    complete: bool

    @property
    def primary(self) -> bool:
        return self.state in (MIRROR_SNAPSHOT_PRIMARY, MIRROR_SNAPSHOT_PRIMARY_DEMOTED)


def mirror_snapshots(pool: Pool, image_id: str) -> list[MirrorSnapshot]:
    """The image's mirror snapshots (``rbd_header.<id>`` ``snapshot_<id>`` records of namespace mirror), by id."""
    record = lookup("cls_rbd_snap")
    snaps = []
    try:
        items = list(pool.omap_items(f"rbd_header.{image_id}", prefix="snapshot_"))
    except NotFoundError:
        return []
    for _, raw in items:
        try:
            snap = record.decode(raw)
        except FormatError:
            continue
        ns = snap.snapshot_namespace
        if ns is None or ns.snapshot_namespace_type != MIRROR_NAMESPACE:
            continue
        body = ns.namespace
        snaps.append(MirrorSnapshot(int(snap.id), str(snap.name), int(body.state), sorted(body.mirror_peer_uuids),
                                    bool(body.complete)))
    return sorted(snaps, key=lambda s: s.id)


def snapshot_mode_primary(snaps: list[MirrorSnapshot]) -> bool:
    """librbd's promotion state of a snapshot-mode image: primary when its newest mirror snapshot is primary."""
    return not snaps or snaps[-1].state == MIRROR_SNAPSHOT_PRIMARY


@dataclass
class PeerSite:
    """One peer site's status of an image, as rbd lists it under ``peer_sites``."""

    site_name: str  # "" when no peer of the pool has the status's mirror uuid
    mirror_uuid: str
    status: SiteStatus

    def to_json(self) -> dict[str, Any]:
        return {"site_name": self.site_name, "mirror_uuids": self.mirror_uuid, "state": self.status.state_text(),
                "description": self.status.description, "last_update": timestr(self.status.last_update)}

    def text(self) -> str:
        return (f"    name: {self.site_name or self.mirror_uuid}\n    state: {self.status.state_text()}\n"
                f"    description: {self.status.description}\n    last_update: {timestr(self.status.last_update)}\n")


def site_statuses(peers: list[Any], local: SiteStatus | None,
                  remote: dict[str, SiteStatus]) -> tuple[SiteStatus | None, list[PeerSite]]:
    """The local status and the peer sites rbd shows for an image, given the pool's peers.

    As rbd's ``populate_unknown_mirror_image_site_statuses``: a stored status is shown only for a
    peer that receives (not tx-only) and has a mirror uuid; every such peer without a status, and the
    local site unless every peer is tx-only, gets "down+unknown, status not found".  Stored statuses
    come first (by mirror uuid), the missing ones after them (by mirror uuid).
    """
    from .format.cls_rbd import DIRECTION_RX_TX, DIRECTION_TX

    wanted: set[str] = set()
    names: dict[str, str] = {}
    direction = None
    for peer in peers:
        peer_direction = peer.mirror_peer_direction if peer.mirror_peer_direction is not None else DIRECTION_RX_TX
        if direction is None:
            direction = peer_direction
        elif direction != DIRECTION_RX_TX and direction != peer_direction:
            direction = DIRECTION_RX_TX
        uuid = peer.mirror_uuid or ""
        if uuid:
            names[uuid] = peer.site_name or ""
            if peer_direction != DIRECTION_TX:
                wanted.add(uuid)
    if direction != DIRECTION_TX and local is None:
        local = SiteStatus(0, "status not found", 0, False)  # MIRROR_IMAGE_STATUS_STATE_UNKNOWN
    elif direction == DIRECTION_TX:
        local = None
    sites = [PeerSite(names.get(uuid, ""), uuid, status) for uuid, status in sorted(remote.items()) if uuid in wanted]
    sites += [PeerSite(names.get(uuid, ""), uuid, SiteStatus(0, "status not found", 0, False))
              for uuid in sorted(wanted - set(remote))]
    return local, sites


@dataclass
class ImageStatus:
    name: str
    global_id: str
    local: SiteStatus | None
    remote: dict[str, SiteStatus]
    snapshots: list[MirrorSnapshot] | None = None  # a primary snapshot-mode image's primary mirror snapshots
    service: MirrorService | None = None  # the rbd-mirror daemon replaying it (live, while its status is up)
    peers: list[Any] | None = None  # the pool's peers (those of the default namespace): rbd's peer_sites

    def shown(self) -> tuple[SiteStatus | None, list[PeerSite]]:
        """The local status and peer sites as rbd prints them (rbd's view needs the pool's peers)."""
        return site_statuses(self.peers or [], self.local, self.remote)

    def to_json(self) -> dict[str, Any]:
        local, sites = self.shown()
        doc: dict[str, Any] = {"name": self.name, "global_id": self.global_id}
        if local is not None:
            doc["state"] = local.state_text()
            doc["description"] = local.description
            if self.service is not None:
                doc["daemon_service"] = self.service.image_json()
            doc["last_update"] = timestr(local.last_update)
        if sites:
            doc["peer_sites"] = [site.to_json() for site in sites]
        if self.snapshots:
            doc["snapshots"] = [{"id": s.id, "name": s.name, "demoted": s.state == MIRROR_SNAPSHOT_PRIMARY_DEMOTED,
                                 "mirror_peer_uuids": s.peer_uuids} for s in self.snapshots]
        return doc

    def text(self) -> str:
        doc = self.to_json()
        text = f"{doc['name']}:\n  global_id:   {doc['global_id']}\n"
        if "state" in doc:
            text += f"  state:       {doc['state']}\n  description: {doc['description']}\n"
            if self.service is not None:
                text += f"  service:     {self.service.image_description()}\n"
            text += f"  last_update: {doc['last_update']}\n"
        _, sites = self.shown()
        if sites:
            text += "  peer_sites:\n" + "\n".join(site.text() for site in sites)
        if self.snapshots:
            text += "  snapshots:\n" + "".join(
                f"    {s.id} {s.name} ({'demoted ' if s.state == MIRROR_SNAPSHOT_PRIMARY_DEMOTED else ''}"
                f"peer_uuids:[{','.join(s.peer_uuids)}])\n" for s in self.snapshots)
        return text

    def summary_state(self, peers: list[Any]) -> str:
        """The state ``mirror pool status`` counts this image under (offline: no daemon is known to be up)."""
        if self.local is None or not self.local.up:
            return "unknown"
        for peer in peers:
            if direction_name(peer) != "rx-only" and peer.mirror_uuid not in self.remote:
                return "unknown"
        return STATUS_STATE_NAMES.get(self.local.state, "unknown")


def image_statuses(pool: Pool, state: MirrorPool, daemons: MirrorDaemons | None = None) -> list[ImageStatus]:
    """Every mirrored image's status; with ``daemons`` (live), an up image names the daemon replaying it."""
    out = []
    peers = state.peers if not pool.namespace else read_mirror_pool(pool.with_namespace("")).peers
    for image_id, record in state.images.items():
        try:
            name = image_name(pool, image_id)
        except NotFoundError:
            name = image_id
        gid = record.global_image_id
        status = ImageStatus(name, gid, state.local_status.get(gid), state.remote_status.get(gid, {}), peers=peers)
        if record.state != IMAGE_ENABLED:  # e.g. creating: rbd shows no status for it
            status.local, status.remote = None, {}
        if daemons is not None and daemons.services and status.local is not None and status.local.up:
            status.service = daemons.by_instance(image_instance_id(pool, gid))
        out.append(status)
    return sorted(out, key=lambda s: s.name)


def pool_status(pool: Pool, state: MirrorPool, daemons: MirrorDaemons | None = None) -> dict[str, Any]:
    """``rbd mirror pool status --verbose``'s JSON (daemons unknown offline)."""
    daemons = daemons if daemons is not None else MirrorDaemons([], "UNKNOWN")
    images = image_statuses(pool, state, daemons)
    states = _live_summary(pool, state)
    if states is None:
        states = {}
        for image in images:
            key = image.summary_state(state.peers)
            states[key] = states.get(key, 0) + 1
    image_health = "OK"
    if any(k not in ("replaying", "stopped") for k in states):
        image_health = "WARNING"
    if "error" in states:
        image_health = "ERROR"
    daemon_health = daemons.health
    health = max(image_health, daemon_health, key=HEALTH.index)
    return {"summary": {"health": health, "daemon_health": daemon_health, "image_health": image_health,
                        "states": states},
            "daemons": [d.to_json() for d in daemons.services], "images": [i.to_json() for i in images]}


def _live_summary(pool: Pool, state: MirrorPool) -> dict[str, int] | None:
    """A live pool's state counts as rbd gets them: cls_rbd's ``mirror_image_status_get_summary`` given the
    pool's peers (it knows which statuses are up); None offline or when the OSD does not answer."""
    if isinstance(pool, OfflinePool):
        return None
    request = len(state.peer_records).to_bytes(4, "little") + b"".join(state.peer_records)
    try:
        raw = pool.execute(RBD_MIRRORING, "rbd", "mirror_image_status_get_summary", request)
        count = int.from_bytes(raw[:4], "little")
        counts = {raw[4 + 5 * i]: int.from_bytes(raw[5 + 5 * i:9 + 5 * i], "little", signed=True) for i in range(count)}
    except (JournalToolsError, IndexError):
        return None
    return {STATUS_STATE_NAMES.get(k, f"unknown ({k})"): v for k, v in sorted(counts.items())}


def pool_status_text(doc: dict[str, Any], images: list[ImageStatus], verbose: bool,
                     daemons: MirrorDaemons | None = None, release: Release = PACIFIC) -> str:
    s = doc["summary"]
    lines = [f"health: {s['health']}", f"daemon health: {s['daemon_health']}", f"image health: {s['image_health']}",
             f"images: {len(doc['images'])} total"]
    lines += [f"    {count} {name}" for name, count in sorted(s["states"].items(), key=lambda kv: _state_order(kv[0]))]
    text = "\n".join(lines) + "\n"
    if verbose:
        services = daemons.services if daemons is not None else []
        if not services:
            listing = "  none\n"
        elif release >= TENTACLE:
            listing = "".join(d.text() for d in services)
        else:  # Pacific, Reef: a blank line after each daemon too
            listing = "".join(d.text() + "\n" for d in services)
        text += "\nDAEMONS\n" + listing + "\nIMAGES"
        for image in images:
            text += "\n" + image.text()
    return text


def _state_order(name: str) -> int:
    for num, text in STATUS_STATE_NAMES.items():
        if text == name:
            return num
    return 99


# -- image role from the journal -----------------------------------------------------------
@dataclass
class TagInfo:
    tid: int
    tag_class: int | None
    mirror_uuid: str | None
    predecessor: dict[str, Any] | None


@dataclass
class ImageRole:
    role: str  # "primary", "secondary (consistent)", "secondary (inconsistent)", "not journaled"
    epoch: int | None
    owner: str | None
    tags: list[TagInfo]
    peers: list[dict[str, Any]]
    reason: str = ""


def image_role(pool: Pool, image_id: str, local_status: SiteStatus | None = None) -> ImageRole:
    """Primary or secondary (consistent / inconsistent), the epoch, the tag chain and peer sync state."""
    try:
        journal = Journal.open(pool, image_id)
    except NotFoundError:
        return ImageRole("not journaled", None, None, [], [], "the image has no journal")
    tag_class = None
    resync = False
    image_client = journal.header.client("")
    if image_client is not None and image_client.data:
        try:
            data = decode_client_data(image_client.data)
            if data.client_meta_type == IMAGE_CLIENT:
                tag_class = data.client_meta.tag_class
                resync = bool(data.client_meta.resync_requested)
        except FormatError:
            pass
    tags = []
    for tag in journal.header.tags:
        if tag_class is not None and tag.tag_class != tag_class:
            continue
        try:
            td = decode_tag_data(tag.data) if tag.data else None
        except FormatError:
            td = None
        tags.append(TagInfo(tag.tid, tag.tag_class, td.mirror_uuid if td else None,
                            dict((k, v) for k, v in td.predecessor.items() if not k.startswith("_")) if td else None))
    peers = []
    lag = None
    for client in journal.header.clients:
        if not client.data or client.id == "":
            continue
        try:
            data = decode_client_data(client.data)
        except FormatError:
            continue
        if data.client_meta_type != MIRROR_PEER_CLIENT:
            continue
        if lag is None:
            from .journal.lag import client_lag

            lag = client_lag(journal)
        meta = data.client_meta
        peers.append({"mirror_uuid": client.id, "image_id": meta.image_id,
                      "sync_state": MIRROR_PEER_STATE_NAMES.get(meta.state, f"Unknown ({meta.state})"),
                      "consistent": meta.state != MIRROR_PEER_SYNCING,
                      "commit_position": [p.to_json() for p in client.commit_position],
                      "lag_entries": lag[client.id][0], "lag_bytes": lag[client.id][1]})
    if not tags:
        return ImageRole("unknown", None, None, tags, peers, "no tag of the image's tag class")
    newest = tags[-1]
    owner = newest.mirror_uuid
    if owner == LOCAL_MIRROR_UUID:
        return ImageRole("primary", newest.tid, owner, tags, peers)
    inconsistent = []
    if resync:
        inconsistent.append("resync requested")
    if local_status is not None and STATUS_STATE_NAMES.get(local_status.state) in ("syncing", "error"):
        inconsistent.append(f"mirror status {STATUS_STATE_NAMES[local_status.state]}")
    reason = "demoted" if owner == ORPHAN_MIRROR_UUID else f"replaying from {owner}"
    role = "secondary (inconsistent)" if inconsistent else "secondary (consistent)"
    return ImageRole(role, newest.tid, owner, tags, peers, ", ".join([reason, *inconsistent]))


def image_mirror_record(pool: Pool, image_id: str) -> Any | None:
    state = read_mirror_pool(pool)
    return state.images.get(image_id)


def describe_mode(record: Any) -> str:
    mode = record.mode if record.mode is not None else 0
    return IMAGE_MODE_NAMES.get(mode, f"unknown ({mode})")


def describe_state(record: Any) -> str:
    return IMAGE_STATE_NAMES.get(record.state, f"unknown ({record.state})")

