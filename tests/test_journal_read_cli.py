"""journal info/status/inspect/export against what the real rbd printed for the same journals."""

from __future__ import annotations

import base64
import json

import jsonschema
import pytest

from journaltools.export import load_schema

from .cli_helpers import cli, golden, store_copy
from .journal_factory import FIXTURES

# (store, spec args, golden name suffix)
JOURNALS = [
    ("all_events", ["rbd/108bbb69e2b9"], "all_events/journal-{}"),
    ("small_objects", ["rbd/10abe81d9984"], "small_objects/journal-{}"),
    ("site-a", ["--pool", "rbd", "--image", "img2"], "site-a/journal-{}-img2"),
    ("site-b", ["rbd/1037b5716a50"], "site-b/journal-{}-img2"),
]
IDS = [j[0] for j in JOURNALS]


def store(name):
    return ["--store", str(FIXTURES / "stores" / name)]


@pytest.mark.parametrize(("name", "spec", "gold"), JOURNALS, ids=IDS)
def test_info_matches_rbd(capsys, name, spec, gold):
    code, out, err = cli(capsys, *store(name), "journal", "info", *spec)
    assert (code, err) == (0, "")
    assert out == golden(gold.format("info") + ".txt")
    if (FIXTURES / "golden" / (gold.format("info") + ".json")).exists():
        code, out, _ = cli(capsys, *store(name), "journal", "info", *spec, "--format", "json")
        assert out == golden(gold.format("info") + ".json")


@pytest.mark.parametrize(("name", "spec", "gold"), JOURNALS, ids=IDS)
def test_status_matches_rbd(capsys, name, spec, gold):
    code, out, err = cli(capsys, *store(name), "journal", "status", *spec, "--no-lag")
    assert (code, err) == (0, "")
    assert out == golden(gold.format("status") + ".txt")
    code, out, _ = cli(capsys, *store(name), "journal", "status", *spec)
    assert out.startswith(golden(gold.format("status") + ".txt") + "client lag (behind the newest entry): \n")
    gold_json = FIXTURES / "golden" / (gold.format("status") + ".json")
    if gold_json.exists():
        code, out, _ = cli(capsys, *store(name), "journal", "status", *spec, "--format", "json", "--no-lag")
        assert out == gold_json.read_text()


def test_status_lag_counts_entries_and_bytes(capsys):
    code, out, _ = cli(capsys, *store("all_events"), "journal", "status", "rbd/108bbb69e2b9", "--format", "json")
    clients = {c["id"]: c["lag"] for c in json.loads(out)["registered_clients"]}
    assert clients[""] == {"entries": 0, "bytes": 0}
    assert clients["lagging-peer"]["entries"] == 32
    assert clients["lagging-peer"]["bytes"] > 32 * 33


@pytest.mark.parametrize(("name", "spec", "gold"), JOURNALS, ids=IDS)
def test_inspect_verbose_matches_rbd(capsys, name, spec, gold):
    code, out, err = cli(capsys, *store(name), "journal", "inspect", "--verbose", *spec)
    assert (code, err) == (0, "")
    assert out == golden(gold.format("inspect") + ".txt")
    code, out, err = cli(capsys, *store(name), "journal", "inspect", *spec)
    assert out == "Summary:\n" + golden(gold.format("inspect") + ".txt").split("Summary:\n", 1)[1]


@pytest.mark.parametrize(("name", "spec", "gold"), JOURNALS, ids=IDS)
def test_export_rbd_format_is_byte_identical(capsys, tmp_path, name, spec, gold):
    out_file = tmp_path / "export.rbd"
    code, out, err = cli(capsys, *store(name), "journal", "export", *spec, "--path", str(out_file), "--format", "rbd")
    assert code == 0, err
    assert out_file.read_bytes() == (FIXTURES / "golden" / (gold.format("export") + ".rbd")).read_bytes()
    code, out, err = cli(capsys, *store(name), "journal", "export", *spec, "--path", "-", "--format", "rbd")
    assert out == (FIXTURES / "golden" / (gold.format("export") + ".rbd")).read_text()


@pytest.mark.parametrize(("name", "spec", "gold"), JOURNALS, ids=IDS)
def test_export_json_is_valid_and_complete(capsys, name, spec, gold):
    code, out, err = cli(capsys, *store(name), "journal", "export", *spec, "--path", "-")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    rbd_lines = (FIXTURES / "golden" / (gold.format("export") + ".rbd")).read_text().splitlines()[1:]
    rbd_records = [json.loads(line.split(" ", 1)[1]) for line in rbd_lines if line]
    assert [(e["tag_tid"], e["commit_tid"], e["type"]) for e in doc["entries"]] == [
        (r["tag_id"], r["commit_tid"], r["type"]) for r in rbd_records]
    assert doc["journal"]["fsid"]
    assert doc["summary"] == {"entries": len(rbd_records), "errors": 0, "problems": [], "complete": True}
    from journaltools.format import lookup

    record = lookup("librbd::journal::EventEntry")
    for item, r in zip(doc["entries"], rbd_records, strict=True):
        assert base64.b64encode(record.encode(record.from_json(item["event"]))).decode() == r["entry"]


def test_export_filters_are_anded(capsys):
    args = [*store("all_events"), "journal", "export", "rbd/108bbb69e2b9", "-"]
    _, out, _ = cli(capsys, *args, "--event-type", "AioWrite")
    writes = json.loads(out)["entries"]
    assert writes and {e["event_type"] for e in writes} == {"AioWrite"}
    _, out, _ = cli(capsys, *args, "--event-type", "AioWrite", "--from-tid", "3")
    assert [e["entry_tid"] for e in json.loads(out)["entries"]] == [e["entry_tid"] for e in writes if e["entry_tid"] >= 3]
    _, out, _ = cli(capsys, *args, "--tag", "7")
    assert json.loads(out)["entries"] == []
    first = writes[0]["timestamp"]
    _, out, _ = cli(capsys, *args, "--since", str(first + 1000))
    assert json.loads(out)["entries"] == []


def test_export_refuses_to_overwrite(capsys, tmp_path):
    target = tmp_path / "x.json"
    target.write_text("keep me")
    code, out, err = cli(capsys, *store("all_events"), "journal", "export", "rbd/108bbb69e2b9", str(target))
    assert code != 0 and "already exists" in err and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_missing_journal_and_bad_spec_are_one_line(capsys):
    for args in (["journal", "info", "rbd/nope"], ["journal", "inspect", "a/b/c/d"], ["journal", "status"]):
        code, out, err = cli(capsys, *store("all_events"), *args)
        assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_site_a_img2_by_spec_equals_rbd_for_all_four_commands(capsys, tmp_path):
    """The acceptance case: a copy of site-a, spec rbd/img2 (an image name: resolved through rbd_id.img2)."""
    site = store_copy(tmp_path, "site-a")
    s = ["--store", str(site), "journal"]
    assert cli(capsys, *s, "info", "rbd/img2") == (0, golden("site-a/journal-info-img2.txt"), "")
    assert cli(capsys, *s, "status", "rbd/img2", "--no-lag") == (0, golden("site-a/journal-status-img2.txt"), "")
    assert cli(capsys, *s, "inspect", "--verbose", "rbd/img2") == (0, golden("site-a/journal-inspect-img2.txt"), "")
    code, out, err = cli(capsys, *s, "export", "rbd/img2", "-", "--format", "rbd")
    assert (code, out) == (0, golden("site-a/journal-export-img2.rbd"))


def test_export_spec_and_path_combine_as_in_rbd(capsys, tmp_path):
    s = [*store("site-a"), "journal", "export", "--format", "rbd"]
    gold = golden("site-a/journal-export-img2.rbd")
    jid = gold.splitlines()[0].split(": ")[1]
    # --journal: the positional argument is the path
    assert cli(capsys, *s, "--journal", jid, "-p", "rbd", "-")[:2] == (0, gold)
    # --image: the positional argument is still the journal spec, the path comes from --path
    assert cli(capsys, *s, "--image", "img2", "-p", "rbd", "--path", "-")[:2] == (0, gold)
    code, out, err = cli(capsys, *s, "--image", "img2", "-p", "rbd", str(tmp_path / "x" / "y.rbd"))
    assert code == 22 and "invalid spec" in err and "--path" in err and out == ""
    code, out, err = cli(capsys, *s, f"rbd/{jid}")
    assert code == 22 and "path was not specified" in err


def test_image_without_journaling_is_einval(capsys, tmp_path):
    site = store_copy(tmp_path, "site-a")
    jid = golden("site-a/journal-export-img2.rbd").splitlines()[0].split(": ")[1]
    omap_file = site / "rbd" / "omap" / f"rbd_header.{jid}.json"
    omap = json.loads(omap_file.read_text())
    features = int.from_bytes(base64.b64decode(omap["features"]), "little") & ~64
    omap["features"] = base64.b64encode(features.to_bytes(8, "little")).decode()
    omap_file.write_text(json.dumps(omap))
    for spec in (["--pool", "rbd", "--image", "img2"], ["rbd/img2"]):
        code, out, err = cli(capsys, "--store", str(site), "journal", "info", *spec)
        assert (code, out, err) == (22, "", "journaltools: journaling is not enabled for image img2\n")
    # the journal itself is still readable by its id
    assert cli(capsys, "--store", str(site), "journal", "info", f"rbd/{jid}")[1] == golden("site-a/journal-info-img2.txt")


@pytest.mark.parametrize("fmt", [[], ["--format", "json"], ["--format", "json", "--pretty-format"]])
def test_inspect_stop_policy_ends_at_the_first_damaged_entry(capsys, tmp_path, fmt):
    site = store_copy(tmp_path, "small_objects")
    obj = site / "rbd" / "objects" / "journal_data.2.10abe81d9984.14"
    raw = bytearray(obj.read_bytes())
    raw[50] ^= 0x10
    obj.write_bytes(bytes(raw))
    s = ["--store", str(site), "journal", "inspect", "--all", "rbd/10abe81d9984", *fmt]
    skip = cli(capsys, *s)
    stop = cli(capsys, *s, "--on-error", "stop")
    assert skip[0] == stop[0] == 1
    if fmt:
        skipped, stopped = json.loads(skip[1]), json.loads(stop[1])
        assert stopped["summary"]["complete"] is False and skipped["summary"]["complete"] is True
        assert stopped["summary"]["entries"] < skipped["summary"]["entries"]
        assert stopped["problems"][0] == skipped["problems"][0]
        assert stopped["problems"][0]["object"] == "journal_data.2.10abe81d9984.14"
        exported = json.loads(cli(capsys, "--store", str(site), "journal", "export", "--all", "rbd/10abe81d9984", "-")[1])
        assert len(exported["entries"]) == stopped["summary"]["entries"]  # export stops at the same entry
    else:
        assert "Stopped at the first damaged entry (journal_data.2.10abe81d9984.14 at byte 0" in stop[1]
    assert cli(capsys, *s, "--no-error") == skip


def test_status_of_a_malformed_header_says_so_and_fails(capsys, tmp_path):
    site = store_copy(tmp_path, "small_objects")
    omap_file = site / "rbd" / "omap" / "journal.10abe81d9984.json"
    omap = json.loads(omap_file.read_text())
    omap["minimum_set"] = base64.b64encode(b"\x00\x01\x02").decode()
    omap_file.write_text(json.dumps(omap))
    code, out, err = cli(capsys, "--store", str(site), "journal", "status", "rbd/10abe81d9984", "--no-lag")
    assert code == 1 and out.startswith("minimum_set: unknown (malformed)\nactive_set: 10\n")
    assert err.splitlines() == ["journaltools: error: malformed_header: header key 'minimum_set' is 3 bytes, expected 8 "
                                "(journal.10abe81d9984)"]
    code, out, err = cli(capsys, "--store", str(site), "journal", "status", "rbd/10abe81d9984", "--format", "json")
    assert code == 1 and json.loads(out)["minimum_set"] is None and "malformed_header" in err


@pytest.mark.parametrize(("key", "shown"), [("order", "\torder: unknown (malformed) (unknown objects)\n"),
                                            ("splay_width", "\tsplay_width: unknown (malformed)\n"),
                                            ("pool_id", "\tsplay_width: 2\n")])
def test_info_of_a_malformed_geometry_says_so_and_fails(capsys, tmp_path, key, shown):
    site = store_copy(tmp_path, "small_objects")
    omap_file = site / "rbd" / "omap" / "journal.10abe81d9984.json"
    omap = json.loads(omap_file.read_text())
    omap[key] = base64.b64encode(b"\x00\x01\x02").decode()
    omap_file.write_text(json.dumps(omap))
    code, out, err = cli(capsys, "--store", str(site), "journal", "info", "rbd/10abe81d9984")
    assert code == 1 and shown in out
    assert err.startswith(f"journaltools: error: malformed_header: header key '{key}' is 3 bytes")
