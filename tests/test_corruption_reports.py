"""Damaged copies of the fixture stores: every output format reports the same problems under one policy."""

from __future__ import annotations

import json
import shutil

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .cli_helpers import cli
from .journal_factory import FIXTURES

JOURNAL = "rbd/10abe81d9984"


def damaged_store(tmp_path, mutate):
    root = tmp_path / "store"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(FIXTURES / "stores" / "small_objects", root)
    mutate(root / "rbd")
    return root


def run_all_formats(capsys, store):
    s = ["--store", str(store), "journal"]
    plain = cli(capsys, *s, "inspect", "--all", JOURNAL)
    as_json = cli(capsys, *s, "inspect", "--all", JOURNAL, "--format", "json")
    exports = {fmt: cli(capsys, *s, "export", JOURNAL, "-", "--all", "--format", fmt, "--on-error", "skip")
               for fmt in ("json", "rbd")}
    return plain, as_json, exports


def test_bit_flip_is_reported_identically_everywhere(tmp_path, capsys):
    def flip(pool):
        obj = pool / "objects" / "journal_data.2.10abe81d9984.14"
        data = bytearray(obj.read_bytes())
        data[50] ^= 0x10
        obj.write_bytes(bytes(data))

    plain, as_json, exports = run_all_formats(capsys, damaged_store(tmp_path, flip))
    assert plain[0] == 1 and "crc_mismatch" in plain[1] and "journal_data.2.10abe81d9984.14 at byte 0" in plain[1]
    doc = json.loads(as_json[1])
    found = [(p["kind"], p["object"], p["offset"]) for p in doc["problems"]]
    assert found == [("crc_mismatch", "journal_data.2.10abe81d9984.14", 0)]  # one fault, one problem
    assert [f.split(":")[0] for f in doc["problems"][0]["follow_on"]] == ["tid_gap"]  # the gap it leaves: a detail
    assert doc["problems"][0]["affected_entries"] == 1
    json_export, rbd_export = exports["json"], exports["rbd"]
    assert json_export[0] == rbd_export[0] == 1
    assert [line for line in json_export[2].splitlines() if "crc_mismatch" in line] == \
        [line for line in rbd_export[2].splitlines() if "crc_mismatch" in line]
    exported = json.loads(json_export[1])["entries"]
    assert len(exported) == len(rbd_export[1].splitlines()) - 1 == doc["summary"]["entries"]


def test_stop_policy_ends_both_formats_at_the_same_entry(tmp_path, capsys):
    def truncate(pool):
        obj = pool / "objects" / "journal_data.2.10abe81d9984.16"
        obj.write_bytes(obj.read_bytes()[:-10])

    store = damaged_store(tmp_path, truncate)
    s = ["--store", str(store), "journal", "export", JOURNAL, "-", "--all"]
    j = cli(capsys, *s)
    r = cli(capsys, *s, "--format", "rbd")
    assert j[0] == r[0] == 1
    assert len(json.loads(j[1])["entries"]) == len(r[1].splitlines()) - 1
    assert json.loads(j[1])["summary"]["complete"] is False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_never_crashes_the_cli(tmp_path, capsys, data):
    names = sorted(p.name for p in (FIXTURES / "stores/small_objects/rbd/objects").iterdir())
    target = data.draw(st.sampled_from(names))
    action = data.draw(st.sampled_from(["flip", "truncate", "delete", "omap"]))
    position = data.draw(st.integers(0, 10_000))

    def mutate(pool):
        obj = pool / "objects" / target
        if action == "delete":
            obj.unlink()
        elif action == "omap":
            omap = pool / "omap" / "journal.10abe81d9984.json"
            doc = json.loads(omap.read_text())
            key = sorted(doc)[position % len(doc)]
            doc[key] = "AAEC"  # three bytes: wrong size/garbage for every key
            omap.write_text(json.dumps(doc))
        else:
            raw = bytearray(obj.read_bytes())
            if raw and action == "flip":
                raw[position % len(raw)] ^= 0x04
            elif action == "truncate":
                raw = raw[: position % (len(raw) + 1)]
            obj.write_bytes(bytes(raw))

    plain, as_json, exports = run_all_formats(capsys, damaged_store(tmp_path, mutate))
    for code, _out, err in (plain, as_json, *exports.values()):
        assert "Traceback" not in err and "internal error" not in err
        assert code in (0, 1, 2, 22, 74), (code, err)


STORES = {"small_objects": "10abe81d9984", "all_events": "108bbb69e2b9"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_format_reports_the_same_problems_under_skip(tmp_path, capsys, data):
    """inspect plain/json and export json/rbd: same entries, same problems (kind, object, offset, tids)."""
    name = data.draw(st.sampled_from(sorted(STORES)))
    journal = f"rbd/{STORES[name]}"
    source = FIXTURES / "stores" / name / "rbd"
    objects = sorted(p.name for p in (source / "objects").iterdir() if p.name.startswith("journal_data."))
    damages = data.draw(st.lists(st.tuples(st.sampled_from(objects), st.sampled_from(["flip", "truncate", "delete"]),
                                           st.integers(0, 1 << 20), st.integers(0, 7)), min_size=1, max_size=3))
    root = tmp_path / "store"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(FIXTURES / "stores" / name, root)
    for target, action, position, bit in damages:
        obj = root / "rbd" / "objects" / target
        if not obj.exists():
            continue
        raw = bytearray(obj.read_bytes())
        if action == "delete":
            obj.unlink()
        elif action == "flip" and raw:
            raw[position % len(raw)] ^= 1 << bit
            obj.write_bytes(bytes(raw))
        else:
            obj.write_bytes(bytes(raw[: position % (len(raw) + 1)]))
    s = ["--store", str(root), "journal"]
    plain = cli(capsys, *s, "inspect", "--all", journal)
    inspected = json.loads(cli(capsys, *s, "inspect", "--all", journal, "--format", "json")[1])
    exported = cli(capsys, *s, "export", "--all", journal, "-", "--on-error", "skip")
    rbd_export = cli(capsys, *s, "export", "--all", journal, "-", "--on-error", "skip", "--format", "rbd")
    errors = [p for p in inspected["problems"] if p["severity"] == "error"]
    event(f"errors found: {bool(errors)}")
    doc = json.loads(exported[1])

    def key(p):
        return json.dumps(p, sort_keys=True)

    assert sorted(map(key, doc["summary"]["problems"])) == sorted(map(key, errors))
    for p in errors:
        assert p["kind"] and p["detail"]
        if p["kind"] in ("crc_mismatch", "bad_magic", "truncated_entry", "garbage", "undecodable_event"):
            assert p["object"] is not None and p["offset"] is not None
    assert plain[0] == exported[0] == rbd_export[0] == (1 if errors else 0)
    assert inspected["summary"]["entries"] == len(doc["entries"]) == len(rbd_export[1].splitlines()) - 1
    # the plain report and the rbd export's stderr name the same problems, one line each
    plain_lines = {line.strip() for line in plain[1].splitlines() if line.startswith("  error: ")}
    rbd_lines = {line.removeprefix("journaltools: ").removeprefix("note: ").removesuffix(" (entries exported anyway)")
                 for line in rbd_export[2].splitlines() if line.startswith("journaltools: ")}
    assert plain_lines == rbd_lines
