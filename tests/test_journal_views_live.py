"""journal list, status's trimming section, stats, export --follow and acquire on journals the real librbd wrote."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from .cli_helpers import cli
from .test_journal_write_live import image_id, register_client

pytestmark = pytest.mark.ceph
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EXE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "journaltools"


def validate(doc, schema):
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema).read_text())).validate(doc)


def data_objects(ceph, pool, jid):
    names = ceph.rados("-p", pool, "ls").stdout.split()
    return sorted(int(n.rsplit(".", 1)[1]) for n in names if n.startswith("journal_data.") and f".{jid}." in n)


@pytest.fixture(scope="module")
def views_pool(ceph_cluster):
    """Pool `views`: `stuck` (a registered peer that never commits, 8 KiB objects, splay 2, many sets) and `calm`."""
    ceph = ceph_cluster
    ceph.new_pool("views")
    for name in ("stuck", "calm"):
        ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", f"views/{name}")
        ceph.rbd("feature", "enable", f"views/{name}", "journaling", "--journal-splay-width", "2",
                 "--journal-object-size", "8K")
    ceph.new_pool("views-data")
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", "views/split")
    ceph.rbd("feature", "enable", "views/split", "journaling", "--journal-pool", "views-data")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "8K", "views/split")
    jid = image_id(ceph, "views/stuck")
    register_client(ceph, "views", jid, "stuck-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "200K", "views/stuck")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "16K", "views/calm")
    return {"stuck": jid, "calm": image_id(ceph, "views/calm"), "split": image_id(ceph, "views/split")}


def test_list_names_the_stuck_image_and_the_client(ceph_cluster, views_pool):
    code, out, err = ceph_cluster.journaltools("journal", "list", "views", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    validate(doc, "journal-list.schema.json")
    assert [j["image"] for j in doc] == ["stuck", "calm", "split"]  # largest first
    stuck, calm, split = doc
    assert split["data_pool"] == "views-data" and split["objects"] == 4 and split["bytes"] > 8192
    assert stuck["journal_id"] == views_pool["stuck"] and stuck["state"] == "lagging"
    assert stuck["minimum_set_holder"] == "stuck-peer" and stuck["worst_lag"]["client"] == "stuck-peer"
    assert stuck["minimum_set"] == 0 and stuck["active_set"] > 3
    assert stuck["objects"] == len(data_objects(ceph_cluster, "views", views_pool["stuck"]))
    sizes = ceph_cluster.rados("-p", "views", "ls").stdout.split()
    assert stuck["bytes"] == sum(int(ceph_cluster.rados("-p", "views", "stat", n).stdout.rsplit("size", 1)[1])
                                 for n in sizes if n.startswith("journal_data.") and views_pool["stuck"] in n)
    assert calm["state"] == "ok" and calm["minimum_set_holder"] is None
    # a pool too big to list: the journals through rbd_directory, their objects by name; the same answer
    code, probed, err = ceph_cluster.journaltools("journal", "list", "views", "--format", "json",
                                                  env={"JOURNALTOOLS_LISTING_LIMIT": "-1"})
    assert code == 0 and "too big to list" in err
    assert json.loads(probed) == doc
    code, out, _ = ceph_cluster.journaltools("journal", "ls", "views")
    line = next(x for x in out.splitlines() if x.startswith("stuck "))
    assert "stuck-peer" in line and line.endswith("lagging")


def test_status_says_what_a_disconnect_frees_and_librbd_trims_it(ceph_cluster, views_pool):
    ceph = ceph_cluster
    jid = views_pool["stuck"]
    theirs = ceph.rbd("journal", "status", "--pool", "views", "--image", "stuck").stdout
    code, ours, err = ceph.journaltools("journal", "status", "--pool", "views", "--image", "stuck")
    assert code == 0, err
    assert ours.startswith(theirs)  # rbd's part unchanged, ours after it
    assert "\tminimum_set 0 is held by client stuck-peer\n" in ours
    code, out, _ = ceph.journaltools("journal", "status", "--pool", "views", "--image", "stuck", "--format", "json")
    doc = json.loads(out)
    validate(doc, "journal-status.schema.json")
    trim = doc["trimming"]
    assert trim["minimum_set_holder"] == "stuck-peer"
    freed = trim["disconnect_of_holder"]
    upto = freed["trims_up_to_set"]
    assert upto > 0 and freed["objects"] > 0 and freed["bytes"] > 0
    before = data_objects(ceph, "views", jid)
    assert freed["objects"] == len([n for n in before if n // 2 < upto])
    assert f"{freed['objects']} objects" in ours and f"({freed['bytes']} bytes)" in ours
    # the disconnect, then librbd commits (a write) and trims what we said
    ceph.rbd("journal", "client", "disconnect", "--pool", "views", "--image", "stuck", "--client-id", "stuck-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "8K", "views/stuck")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = data_objects(ceph, "views", jid)
        if not [n for n in after if n // 2 < upto]:
            break
        time.sleep(0.5)
    assert not [n for n in after if n // 2 < upto], (upto, after)
    status = json.loads(ceph.rbd("journal", "status", "--pool", "views", "--image", "stuck", "--format", "json").stdout)
    assert status["minimum_set"] >= upto
    code, ours, _ = ceph.journaltools("journal", "status", "--pool", "views", "--image", "stuck")
    assert "\t[id=stuck-peer, disconnected (not counted)]\n" in ours
    assert "disconnected clients (left out of lag and trimming): stuck-peer" in ours
    code, out, _ = ceph.journaltools("journal", "list", "views", "--format", "json")
    stuck = next(j for j in json.loads(out) if j["image"] == "stuck")
    assert stuck["state"] == "ok" and stuck["minimum_set_holder"] != "stuck-peer"


def test_stats_live_and_offline_agree_with_rbd(ceph_cluster, views_pool, tmp_path, capsys):
    ceph = ceph_cluster
    # first: rbd's inspect registers and unregisters a client, and cls_journal then expires unused tags
    inspected = ceph.rbd("journal", "inspect", "--pool", "views", "--image", "calm").stdout
    code, out, err = ceph.journaltools("journal", "stats", "--pool", "views", "--image", "calm", "--format", "json")
    assert code == 0, err
    live = json.loads(out)
    validate(live, "journal-stats.schema.json")
    writes = live["by_event_type"]["AioWrite"]["entries"]
    assert writes == 4 and live["writes"] == {"events": 4, "bytes": 16384}
    assert live["write_size_histogram"] == [{"up_to": 4096, "writes": 4}]
    assert sum(o["object_bytes"] or 0 for o in live["by_object"]) == live["bytes"]
    code, out, _ = ceph.journaltools("journal", "stats", "--pool", "views", "--image", "calm", "--replay", "--format", "json")
    assert f"{json.loads(out)['entries']} entries inspected" in inspected
    store = tmp_path / "acquired"
    code, out, err = ceph.journaltools("acquire", "--pool", "views", "--image", "calm", str(store))
    assert code == 0, err
    assert out == f"journal id: {views_pool['calm']}\n"
    code, offline, _ = cli(capsys, "--store", str(store), "journal", "stats", "--pool", "views", "--image", "calm",
                           "--format", "json")
    assert json.loads(offline) == live


def test_acquire_copies_the_name_records(ceph_cluster, views_pool, tmp_path, capsys):
    ceph = ceph_cluster
    store = tmp_path / "acquired"
    code, out, err = ceph.journaltools("acquire", "--pool", "views", "--image", "calm", str(store))
    assert code == 0 and out == f"journal id: {views_pool['calm']}\n", err
    theirs = ceph.rbd("journal", "info", "--pool", "views", "--image", "calm").stdout
    code, ours, err = cli(capsys, "--store", str(store), "journal", "info", "--pool", "views", "--image", "calm")
    assert (code, err) == (0, "")
    assert ours == theirs
    code, listed, _ = cli(capsys, "--store", str(store), "journal", "list", "views", "--format", "json")
    assert [(j["image"], j["state"]) for j in json.loads(listed)] == [("calm", "ok")]
    # only this image's directory keys were copied
    from journaltools.store import DirectoryStore

    keys = set(DirectoryStore(store).pool("views").omap("rbd_directory"))
    assert keys == {"name_calm", f"id_{views_pool['calm']}"}


def test_follow_prints_what_a_later_export_prints_while_librbd_writes(ceph_cluster, tmp_path):
    ceph = ceph_cluster
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", "views/follow")
    ceph.rbd("feature", "enable", "views/follow", "journaling", "--journal-splay-width", "4",
             "--journal-object-size", "8K")
    jid = image_id(ceph, "views/follow")
    register_client(ceph, "views", jid, "keeper")  # nothing is trimmed: a later export sees every entry
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "8K", "views/follow")
    out = (tmp_path / "follow.jsonl").open("wb")
    proc = subprocess.Popen([str(EXE), "-c", ceph.conf, "journal", "export", "--pool", "views", "--image", "follow",
                             "--path", "-", "--format", "jsonl", "--follow", "--poll-interval", "0.2"],
                            stdout=out, stderr=subprocess.PIPE, env=ceph.env)
    try:
        time.sleep(2)
        # librbd writes while follow runs: several object sets of 8 KiB objects, random offsets and sizes
        ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "160K", "--io-threads", "4",
                 "--io-pattern", "rand", "views/follow")
        ceph.rbd("bench", "--io-type", "write", "--io-size", "512", "--io-total", "8K", "views/follow")
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        out.close()
    assert code == 0, proc.stderr.read().decode()
    followed = (tmp_path / "follow.jsonl").read_text().splitlines()
    code, later, err = ceph.journaltools("journal", "export", "--pool", "views", "--image", "follow", "--path", "-",
                                         "--format", "jsonl")
    assert code == 0, err
    assert len(followed) > 40  # 2 at the start, the rest appended while following
    assert followed == later.splitlines()
    sets = {json.loads(line)["object"].rsplit(".", 1)[1] for line in followed}
    assert len(sets) > 8  # it advanced over new objects and sets
    rbd_export = tmp_path / "rbd.export"
    ceph.rbd("journal", "export", "--pool", "views", "--image", "follow", "--path", str(rbd_export))
    records = [json.loads(line.split(" ", 1)[1]) for line in rbd_export.read_text().splitlines()[1:]]
    assert [(r["tag_id"], r["commit_tid"]) for r in records] == [
        (json.loads(x)["tag_tid"], json.loads(x)["commit_tid"]) for x in followed]


def test_report_live_equals_the_report_of_the_acquired_copy(ceph_cluster, views_pool, tmp_path, capsys):
    import re

    ceph = ceph_cluster
    live = tmp_path / "live.html"
    code, _, err = ceph.journaltools("journal", "report", "--pool", "views", "--image", "calm", str(live))
    assert code == 0, err
    store = tmp_path / "acquired"
    assert ceph.journaltools("acquire", "--pool", "views", "--image", "calm", str(store))[0] == 0
    offline = tmp_path / "offline.html"
    code, _, err = cli(capsys, "--store", str(store), "journal", "report", "--pool", "views", "--image", "calm", offline)
    assert code == 0, err

    def stable(path):
        return re.sub(r"generated [^<]*<", "generated <", path.read_text())

    assert stable(live) == stable(offline)
    text = live.read_text()
    assert '<svg id="timeline"' in text and 'data-type="AioWrite"' in text and 'id="obj-0"' in text


def test_the_library_on_a_live_cluster(ceph_cluster, views_pool):
    """docs/api.md's entry points with a cluster: open_store(conf=...), a journal by image name, events, trimming."""
    from journaltools import api

    with api.open_store(conf=ceph_cluster.conf) as store:
        journal = api.open_journal(store, "views", image="calm")
        assert journal.journal_id == views_pool["calm"]
        assert list(api.events(journal)) == []  # as export: everything is committed, nothing to replay
        writes = [e for e in api.events(journal, all_entries=True) if e.type_name == "AioWrite"]
        assert len(writes) == 4 and all(e.payload["length"] == 4096 and e.time for e in writes)
        assert api.problems(journal) == []
        assert api.stats(journal).writes.bytes == 16384
        assert [s.image for s in api.list_journals(store, "views")][-1] == "split"


def test_a_peer_that_stopped_committing(ceph_cluster, views_pool):
    """Like an rbd-mirror peer that committed once and then stopped: the header-only lag (entries behind the
    image's own client) equals what a full read counts, and the trimming prediction is what librbd does."""
    from journaltools.cls import journal as cls_journal
    from journaltools.store.rados import RadosStore

    ceph = ceph_cluster
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", "views/peer")
    ceph.rbd("feature", "enable", "views/peer", "journaling", "--journal-splay-width", "2", "--journal-object-size", "8K")
    jid = image_id(ceph, "views/peer")
    register_client(ceph, "views", jid, "mirror-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "40K", "views/peer")
    store = RadosStore(conf=ceph.conf)
    try:
        pool = store.pool("views")
        image_client = next(c for c in cls_journal.client_list(pool, f"journal.{jid}") if c.id == "")
        positions = [(p.object_number, p.tag_tid, p.entry_tid) for p in image_client.commit_position.object_positions]
        cls_journal.client_commit(pool, f"journal.{jid}", "mirror-peer", positions)  # caught up once...
    finally:
        store.close()
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "120K", "views/peer")  # ...then stuck
    code, out, err = ceph.journaltools("journal", "list", "views", "--entries", "--format", "json")
    assert code == 0, err
    peer = next(j for j in json.loads(out) if j["image"] == "peer")
    clients = {c["id"]: c for c in peer["clients"]}
    assert peer["minimum_set_holder"] == "mirror-peer" and peer["state"] == "lagging"
    assert clients["mirror-peer"]["sets_behind"] > 0
    exact = clients["mirror-peer"]["lag"]["entries"] - clients[""]["lag"]["entries"]
    assert exact > 20
    # every open of the image by librbd (each rbd bench) starts a new tag: tids restart, so the header alone
    # cannot count entries across tags; within one tag it can (the first bench's tag vs a second commit below)
    assert clients["mirror-peer"]["entries_behind"] is None
    status = json.loads(ceph.rbd("journal", "status", "--pool", "views", "--image", "peer", "--format", "json").stdout)
    fronts = {c["id"]: c["commit_position"]["object_positions"][0] for c in status["registered_clients"]}
    assert fronts["mirror-peer"]["tag_tid"] < fronts[""]["tag_tid"]
    code, out, _ = ceph.journaltools("journal", "status", "--pool", "views", "--image", "peer", "--format", "json")
    upto = json.loads(out)["trimming"]["disconnect_of_holder"]["trims_up_to_set"]
    predicted = json.loads(out)["trimming"]["disconnect_of_holder"]["objects"]
    before = data_objects(ceph, "views", jid)
    assert predicted == len([n for n in before if n // 2 < upto]) > 0
    ceph.rbd("journal", "client", "disconnect", "--pool", "views", "--image", "peer", "--client-id", "mirror-peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "8K", "views/peer")
    deadline = time.monotonic() + 30
    while [n for n in data_objects(ceph, "views", jid) if n // 2 < upto] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [n for n in data_objects(ceph, "views", jid) if n // 2 < upto]


def test_header_only_lag_counts_entries_within_one_tag(ceph_cluster, views_pool):
    """One librbd open (one tag): a peer committed after 10 writes; 25 more follow; list says 25 entries behind
    from the header alone, and a full read (--entries) agrees."""
    import rados
    import rbd

    from journaltools.cls import journal as cls_journal
    from journaltools.store.rados import RadosStore

    ceph = ceph_cluster
    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock", "views/onetag")
    ceph.rbd("feature", "enable", "views/onetag", "journaling", "--journal-splay-width", "2")
    jid = image_id(ceph, "views/onetag")
    register_client(ceph, "views", jid, "mirror-peer")
    store = RadosStore(conf=ceph.conf)
    try:
        with rados.Rados(conffile=ceph.conf) as cluster, cluster.open_ioctx("views") as ioctx, \
                rbd.Image(ioctx, "onetag") as image:
            for i in range(10):
                image.write(b"a" * 4096, i * 4096)
            image.flush()
            pool = store.pool("views")

            def own_front(at_least: int) -> list[tuple[int, int, int]]:
                deadline = time.monotonic() + 60
                while True:  # librbd records its commit position asynchronously (rbd_journal_commit_age)
                    own = next(c for c in cls_journal.client_list(pool, f"journal.{jid}") if c.id == "")
                    positions = [(p.object_number, p.tag_tid, p.entry_tid) for p in own.commit_position.object_positions]
                    if (positions and positions[0][2] >= at_least) or time.monotonic() > deadline:
                        return positions
                    time.sleep(0.2)

            positions = own_front(9)  # 10 writes: entry tids 0..9 (and a flush)
            cls_journal.client_commit(pool, f"journal.{jid}", "mirror-peer", positions)
            committed = positions[0][2]
            for i in range(25):
                image.write(b"b" * 4096, i * 4096)
            image.flush()
            own_front(committed + 25)
            code, out, err = ceph.journaltools("journal", "list", "views", "--entries", "--format", "json")
    finally:
        store.close()
    assert code == 0, err
    journal = next(j for j in json.loads(out) if j["image"] == "onetag")
    clients = {c["id"]: c for c in journal["clients"]}
    behind = clients["mirror-peer"]["entries_behind"]
    exact = clients["mirror-peer"]["lag"]["entries"] - clients[""]["lag"]["entries"]
    assert behind == exact and behind >= 25, (behind, exact, committed)
