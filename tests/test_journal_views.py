"""journal list, status's trimming section, stats, report and export --format jsonl on the fixture journals (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from .cli_helpers import cli, golden, store_copy
from .journal_factory import FIXTURES

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def store(name):
    return ["--store", str(FIXTURES / "stores" / name)]


def validate(doc, schema):
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / schema).read_text())).validate(doc)


# -- list -------------------------------------------------------------------------------
def test_list_names_every_journal_largest_first(capsys):
    code, out, err = cli(capsys, *store("site-a"), "journal", "list", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    validate(doc, "journal-list.schema.json")
    assert [j["image"] for j in doc] == ["img1", "img2", "small", "ev", "g1a"]
    assert [j["bytes"] for j in doc] == sorted((j["bytes"] for j in doc), reverse=True)
    small = doc[2]
    assert small["journal_id"] == "10abe81d9984" and (small["minimum_set"], small["active_set"]) == (6, 10)
    assert small["minimum_set_holder"] == "late-peer" and small["state"] == "lagging"
    assert small["worst_lag"] == {"client": "late-peer", "sets": 4, "entries": None}
    assert [j["state"] for j in doc if j["image"] != "small" and j["image"] != "ev"] == ["ok"] * 3
    ev = doc[3]  # a client registered with nothing committed holds minimum_set
    assert ev["minimum_set_holder"] == "lagging-peer" and ev["state"] == "lagging"


def test_list_plain_and_alias(capsys):
    code, out, _ = cli(capsys, *store("site-a"), "journal", "ls", "rbd")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["IMAGE", "JOURNAL", "OBJECTS", "SIZE", "BYTES", "SETS", "CLIENTS", "HOLDER", "LAG",
                                "STATE"]
    small = next(line for line in lines if line.startswith("small "))
    assert "6..10" in small and "late-peer: 4 sets" in small and small.endswith("lagging")


def test_list_check_and_entries_read_the_journals(capsys):
    code, out, _ = cli(capsys, *store("small_objects"), "journal", "list", "--check", "--entries", "--format", "json")
    doc = json.loads(out)
    validate(doc, "journal-list.schema.json")
    (journal,) = doc
    assert journal["problems"] == {"errors": 0, "warnings": 0}
    assert {c["id"]: c["lag"] for c in journal["clients"]} == {"": {"entries": 0, "bytes": 0},
                                                                "late-peer": {"entries": 41, "bytes": 31137}}
    assert journal["worst_lag"]["lag_entries"] == 41
    # a store holding no image records cannot tell an orphan: the image is unknown, the state comes from the lag
    assert journal["image"] is None and journal["state"] == "lagging"


def test_list_orphans_and_damage(tmp_path, capsys):
    root = store_copy(tmp_path, "site-a")
    objects = root / "rbd" / "objects"
    # the image of `small` is gone (its directory records and header), its journal stays
    from journaltools.store import DirectoryStore

    pool = DirectoryStore(root).pool("rbd")
    directory = pool.omap("rbd_directory")
    pool.omap_remove("rbd_directory", [k for k in directory if k in ("id_10abe81d9984", "name_small")])
    for name in list(pool.list_objects("rbd_header.10abe81d9984")) + list(pool.list_objects("rbd_id.small")):
        pool.remove(name)
    # data objects without a header
    (objects / "journal_data.2.deadbeef0001.0").write_bytes(b"x" * 100)
    # a damaged entry in img2's journal
    victim = objects / "journal_data.2.10556543e48c.1"
    data = bytearray(victim.read_bytes())
    data[60] ^= 0xFF
    victim.write_bytes(bytes(data))
    code, out, _ = cli(capsys, "--store", str(root), "journal", "list", "--check", "--format", "json")
    doc = {j["journal_id"]: j for j in json.loads(out)}
    validate(list(doc.values()), "journal-list.schema.json")
    assert doc["10abe81d9984"]["image"] is None and doc["10abe81d9984"]["state"] == "orphaned"
    assert doc["deadbeef0001"] == {**doc["deadbeef0001"], "image": None, "header": False, "objects": 1, "bytes": 100,
                                   "state": "orphaned"}
    assert doc["10556543e48c"]["state"] == "damaged" and doc["10556543e48c"]["problems"]["errors"] >= 1
    code, out, _ = cli(capsys, "--store", str(root), "journal", "list")
    orphan = next(line for line in out.splitlines() if "deadbeef0001" in line)
    assert orphan.startswith("-  ") and orphan.endswith("orphaned")


def test_list_all_namespaces(tmp_path, capsys):
    from journaltools.store import DirectoryStore

    root = store_copy(tmp_path, "small_objects")
    store_ = DirectoryStore(root)
    source = store_.pool("rbd")
    target = source.with_namespace("ns1")
    for oid in source.list_objects("journal"):
        target.write_full(oid, source.read(oid))
        omap = source.omap(oid)
        if omap:
            target.omap_set(oid, omap)
    code, out, _ = cli(capsys, "--store", str(root), "journal", "list", "rbd/ns1", "--format", "json")
    assert [j["namespace"] for j in json.loads(out)] == ["ns1"]
    code, out, _ = cli(capsys, "--store", str(root), "journal", "list", "--all-namespaces", "--format", "json")
    assert sorted(j["namespace"] for j in json.loads(out)) == ["", "ns1"]
    code, out, _ = cli(capsys, "--store", str(root), "journal", "list", "--all-namespaces")
    assert out.splitlines()[0].startswith("NAMESPACE  IMAGE")


def test_list_xml(capsys):
    code, out, _ = cli(capsys, *store("small_objects"), "journal", "list", "--format", "xml")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(out)
    assert root.tag == "journals"
    assert root.find("journal/journal_id").text == "10abe81d9984"
    assert root.find("journal/minimum_set_holder").text == "late-peer"


# -- status: trimming --------------------------------------------------------------------
def test_status_trimming_section_comes_after_rbds_output(capsys):
    code, out, _ = cli(capsys, *store("small_objects"), "journal", "status", "rbd/10abe81d9984")
    assert out.startswith(golden("small_objects/journal-status.txt"))
    tail = out[len(golden("small_objects/journal-status.txt")):]
    assert tail == ("client lag (behind the newest entry): \n"
                    "\t[id=, entries=0, bytes=0 (0 B)]\n"
                    "\t[id=late-peer, entries=41, bytes=31137 (30.41 KiB)]\n"
                    "trimming: \n"
                    "\tminimum_set 6 is held by client late-peer\n"
                    "\ta disconnect of late-peer lets librbd trim object sets 6..9: 8 objects, 31.62 KiB (32376 bytes)\n")
    code, out, _ = cli(capsys, *store("small_objects"), "journal", "status", "rbd/10abe81d9984", "--format", "json")
    doc = json.loads(out)
    validate(doc, "journal-status.schema.json")
    assert doc["trimming"]["minimum_set_holder"] == "late-peer"
    assert doc["trimming"]["disconnect_of_holder"] == {"trims_up_to_set": 10, "objects": 8, "bytes": 32376}


def test_status_leaves_disconnected_clients_out(tmp_path, capsys):
    root = store_copy(tmp_path, "small_objects")
    code, _, err = cli(capsys, "--store", str(root), "journal", "client", "disconnect", "rbd/10abe81d9984",
                       "--client-id", "late-peer")
    assert code == 0, err
    code, out, _ = cli(capsys, "--store", str(root), "journal", "status", "rbd/10abe81d9984")
    assert "\t[id=late-peer, disconnected (not counted)]\n" in out
    assert "minimum_set 6 is held by no connected client (librbd trims up to set 10)" in out
    assert "disconnected clients (left out of lag and trimming): late-peer" in out
    code, out, _ = cli(capsys, "--store", str(root), "journal", "status", "rbd/10abe81d9984", "--format", "json")
    doc = json.loads(out)
    validate(doc, "journal-status.schema.json")
    assert [("lag" in c) for c in doc["registered_clients"]] == [True, False]
    assert doc["trimming"]["disconnected_clients"] == ["late-peer"]


# -- stats --------------------------------------------------------------------------------
def test_stats_counts_by_type_tag_object_and_sizes(capsys):
    code, out, err = cli(capsys, *store("all_events"), "journal", "stats", "rbd/108bbb69e2b9", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    validate(doc, "journal-stats.schema.json")
    assert (doc["entries"], doc["bytes"]) == (32, 15266)
    assert sum(t["entries"] for t in doc["by_event_type"].values()) == 32
    assert doc["by_event_type"]["AioWrite"]["entries"] == 3 and doc["by_event_type"]["OpFinish"]["entries"] == 13
    assert sum(o["bytes"] for o in doc["by_object"]) == doc["bytes"] == sum(o["bytes"] for o in doc["by_splay_offset"])
    assert [o["object_bytes"] for o in doc["by_object"]] == [o["bytes"] for o in doc["by_object"]]  # nothing else in them
    assert doc["writes"] == {"events": 3, "bytes": 12800}
    assert doc["discards"] == {"events": 1, "bytes": 65536}
    assert sum(h["writes"] for h in doc["write_size_histogram"]) == 3
    assert doc["first_event_time"] <= doc["last_event_time"]
    assert [c["id"] for c in doc["clients"]] == ["", "lagging-peer"]
    code, text, _ = cli(capsys, *store("all_events"), "journal", "stats", "rbd/108bbb69e2b9")
    assert "journal 108bbb69e2b9: 32 entries, 14.91 KiB (15266 bytes)" in text
    assert "first event: 2026-11-25T01:30:25.519007Z" in text
    assert "discards: 1 events, 64 KiB (65536 bytes)" in text


def test_stats_tags_have_owner_and_predecessor(capsys):
    code, out, _ = cli(capsys, *store("small_objects"), "journal", "stats", "rbd/10abe81d9984", "--format", "json")
    doc = json.loads(out)
    tags = {t["tag_tid"]: t for t in doc["by_tag"]}
    assert tags[2]["predecessor"] == {"mirror_uuid": "", "commit_valid": True, "tag_tid": 1, "entry_tid": 39}
    assert tags[2]["owner"] == "" and tags[2]["entries"] == 41
    code, replayed, _ = cli(capsys, *store("small_objects"), "journal", "stats", "rbd/10abe81d9984", "--replay",
                            "--format", "json")
    assert json.loads(replayed)["entries"] < doc["entries"]  # committed entries are not replayed


# -- export: jsonl, times, ranges, follow; inspect's filters ------------------------------
def test_jsonl_is_the_documents_entries_with_iso_times(capsys):
    code, doc, _ = cli(capsys, *store("all_events"), "journal", "export", "rbd/108bbb69e2b9", "-")
    code, lines, err = cli(capsys, *store("all_events"), "journal", "export", "rbd/108bbb69e2b9", "-", "--format", "jsonl")
    assert (code, err) == (0, "")
    entries = json.loads(doc)["entries"]
    assert [json.loads(line) for line in lines.splitlines()] == entries
    validate(json.loads(doc), "journal-export.schema.json")
    assert entries[0]["time"] == "2026-11-25T01:30:25.519007Z" and entries[0]["timestamp"] == 1795570225.5190074


def test_times_without_a_zone_are_utc_and_reversed_ranges_are_refused(capsys, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # the local zone must not matter
    import time as _time

    _time.tzset()
    try:
        args = [*store("all_events"), "journal", "export", "rbd/108bbb69e2b9", "-", "--format", "jsonl"]
        _, naive, _ = cli(capsys, *args, "--since", "2026-11-25T01:30:27")
        _, zoned, _ = cli(capsys, *args, "--since", "2026-11-25T01:30:27+00:00")
        _, zulu, _ = cli(capsys, *args, "--since", "2026-11-25T01:30:27Z")
        assert naive == zoned == zulu and 0 < len(naive.splitlines()) < 32
    finally:
        monkeypatch.delenv("TZ")
        _time.tzset()
    for command in ("export", "inspect"):
        extra = ["-"] if command == "export" else []
        code, out, err = cli(capsys, *store("all_events"), "journal", command, "rbd/108bbb69e2b9", *extra,
                             "--from-tid", "6", "--to-tid", "5")
        assert code == 22 and "reversed entry tid range" in err and out == ""
        code, out, err = cli(capsys, *store("all_events"), "journal", command, "rbd/108bbb69e2b9", *extra,
                             "--since", "2026-11-25T01:30:27", "--until", "2026-11-25T01:30:26")
        assert code == 22 and "reversed or empty time range" in err


def test_inspect_takes_exports_filters(capsys):
    base = [*store("all_events"), "journal", "inspect", "rbd/108bbb69e2b9"]
    code, out, _ = cli(capsys, *base, "--event-type", "AioWrite")
    assert "3 entries inspected, 0 errors" in out
    code, out, _ = cli(capsys, *base, "--from-tid", "3", "--to-tid", "5", "--verbose", "--format", "json")
    assert [e["entry_tid"] for e in json.loads(out)["entries"]] == [3, 4, 5]
    code, out, _ = cli(capsys, *base, "--tag", "7")
    assert "0 entries inspected" in out


def test_follow_writes_appended_entries_and_stops_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from journaltools.journal import Journal
    from journaltools.journal.writer import JournalWriter
    from journaltools.store import DirectoryStore

    root = store_copy(tmp_path, "all_events")
    out = tmp_path / "follow.jsonl"
    with out.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "journaltools", "--store", str(root), "journal", "export",
                                 "rbd/108bbb69e2b9", "-", "--format", "jsonl", "--follow", "--poll-interval", "0.1"],
                                stdout=fh, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while len(out.read_bytes().splitlines()) < 32 and time.monotonic() < deadline:
                time.sleep(0.1)
            journal = Journal.open(DirectoryStore(root).pool("rbd"), "108bbb69e2b9")
            payloads = [e.payload for e in journal.walk(all_entries=True)][:3]
            writer = JournalWriter(journal)
            for payload in payloads:
                writer.append(1, bytes(payload))
            deadline = time.monotonic() + 30
            while len(out.read_bytes().splitlines()) < 35 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    followed = out.read_text().splitlines()
    code = subprocess.run([sys.executable, "-m", "journaltools", "--store", str(root), "journal", "export",
                           "rbd/108bbb69e2b9", "-", "--format", "jsonl"], capture_output=True, text=True)
    assert len(followed) == 35 and followed == code.stdout.splitlines()
    assert [json.loads(line)["entry_tid"] for line in followed[-3:]] == [32, 33, 34]


def test_list_a_malformed_header_is_damaged_without_check(tmp_path, capsys):
    from journaltools.store import DirectoryStore

    root = store_copy(tmp_path, "small_objects")
    pool = DirectoryStore(root).pool("rbd")
    pool.omap_set("journal.10abe81d9984", {"splay_width": b"\x00"})  # splay width 0
    code, out, _ = cli(capsys, "--store", str(root), "journal", "list", "--format", "json")
    (journal,) = json.loads(out)
    validate([journal], "journal-list.schema.json")
    assert journal["state"] == "damaged"
    assert journal["header_problems"] == ["error: malformed_header: splay_width is 0 (journal.10abe81d9984)"]


def test_stats_leaves_unset_timestamps_out_of_the_time_range(capsys):
    """img2 holds a Demote/Promote event with a zero timestamp (rbd-mirror's): not 1970 as the first event."""
    code, out, _ = cli(capsys, *store("site-a"), "journal", "stats", "--pool", "rbd", "--image", "img2", "--format", "json")
    doc = json.loads(out)
    assert "Demote/Promote" in doc["by_event_type"]
    assert doc["first_event_time"] > 1.7e9


def test_list_without_a_listing_finds_the_same_journals(capsys):
    """--no-scan (what a pool too big to list gets): journals through rbd_directory, objects by name."""
    code, scanned, _ = cli(capsys, *store("site-a"), "journal", "list", "--format", "json")
    code, probed, err = cli(capsys, *store("site-a"), "journal", "list", "--no-scan", "--format", "json")
    assert code == 0 and err == ""
    assert json.loads(probed) == json.loads(scanned)


def test_acquire_prints_the_journal_id_shows_a_total_and_copies_the_name_records(tmp_path, capsys):
    """On a terminal (a pty here) the progress bar has the journal's total; the copy answers by image name."""
    import os
    import pty
    import select
    import subprocess
    import sys

    dest = tmp_path / "acquired"
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "journaltools", *store("site-a"), "acquire", "--pool", "rbd",
                             "--image", "img1", str(dest)], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    while select.select([master], [], [], 30)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=30) == 0
    text = out.decode("utf-8", "replace")
    assert "journal id: 1020b67d46a1" in text
    assert "/6.4 MB" in text  # 6,356,056 bytes of data objects: the bar's total
    code, info, err = cli(capsys, "--store", str(dest), "journal", "info", "--pool", "rbd", "--image", "img1")
    assert (code, err) == (0, "") and info.startswith("rbd journal '1020b67d46a1':")
