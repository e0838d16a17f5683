"""Repair: every damage is either repaired to a clean journal or named as unrepairable; valid entries survive."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from journaltools.journal import ERROR, Journal
from journaltools.journal.repair import apply_plan, plan_repair, reported_problems

from .cli_helpers import cli, store_copy
from .corruption import LENGTHS, MOVES, damaged_journals
from .journal_factory import load_fixture_store

EXAMPLES = int(os.environ.get("JOURNALTOOLS_FUZZ_EXAMPLES", "0"))


def entries(journal):
    return [(e.tag_tid, e.payload) for e in journal.walk(all_entries=True)]


def check_repair(damage):
    pool = damage.store.pool("rbd")
    before = Journal.open(pool, damage.journal_id)
    walk = before.walk(all_entries=True)
    width, lo = before.splay_width, before.minimum_set
    # entries that checked out in the live sets (leftovers below minimum_set are trimmed by design)
    live = [e for e in walk if e.object_number // width >= lo]
    intact = [(e.tag_tid, e.payload) for e in live]
    intact_by_key = [(e.tag_tid, e.payload) for e in sorted(live, key=lambda e: (e.tag_tid, e.entry_tid))]
    plan = plan_repair(before)
    if plan.refused:
        return  # said, and nothing written
    apply_plan(plan)
    after = Journal.open(pool, damage.journal_id)
    check = after.walk(all_entries=True)
    survived = [(e.tag_tid, e.payload) for e in check]
    errors = [p for p in reported_problems(after) if p.severity == ERROR]
    if plan.unrepairable:
        return  # said, not guessed
    # clean in replay order (what rbd replays) and in the physical walk (inspect --all)
    assert errors == [], (damage.fault, damage.detail, [str(a) for a in plan.actions], [str(p) for p in errors])
    # every entry that checked out before the repair is still there, in the same order
    assert all(item in survived for item in intact), (damage.fault, damage.detail)
    # ... and in the same replay order: (tag, entry tid) before and after (renumbering keeps the order)
    rest = iter([(e.tag_tid, e.payload) for e in sorted(after.walk(all_entries=True), key=lambda e: (e.tag_tid, e.entry_tid))])
    assert all(item in rest for item in dict.fromkeys(intact_by_key)), ("order changed", damage.fault, damage.detail)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged_journals())
def test_repair_then_inspect_is_clean(damage):
    check_repair(damage)


@pytest.mark.slow
@settings(max_examples=EXAMPLES or 100_000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged_journals())
def test_repair_then_inspect_is_clean_long(damage):
    check_repair(damage)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged_journals())
def test_every_injected_fault_is_reported_on_its_object(damage):
    pool = damage.store.pool("rbd")
    journal = Journal.open(pool, damage.journal_id)
    walk = journal.walk(all_entries=True)
    list(walk)
    if damage.fault in ("flip", "run", "truncate", "cut_entry", "duplicate", "extra_above", "stray", "extra_below"):
        pristine = load_fixture_store("small_objects" if damage.journal_id == "10abe81d9984" else "all_events")
        old = pristine.pool("rbd").read(damage.object) if pristine.pool("rbd").exists(damage.object) else None
        if old is not None and old == pool.read(damage.object):
            return  # the fault happened to change nothing (e.g. an overwrite with the same bytes)
        objects = {p.object for p in walk.problems}
        named = [text for p in walk.problems for text in (p.detail or "", *p.follow_on)]  # the fault or its effects
        assert damage.object in objects or any(damage.object in text for text in named), \
            (damage.fault, damage.detail, [str(p) for p in walk.problems])


def test_nothing_to_repair_on_clean_journals():
    for name, jid in (("small_objects", "10abe81d9984"), ("all_events", "108bbb69e2b9")):
        plan = plan_repair(Journal.open(load_fixture_store(name).pool("rbd"), jid))
        assert plan.actions == []


def test_cli_dry_run_writes_nothing_and_apply_backs_up(capsys, tmp_path):
    store = store_copy(tmp_path, "small_objects")
    obj = store / "rbd" / "objects" / "journal_data.2.10abe81d9984.16"
    obj.write_bytes(obj.read_bytes()[:-7])
    before = obj.read_bytes()
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "rbd/10abe81d9984")
    assert code == 0 and "nothing written" in out and obj.read_bytes() == before
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "rbd/10abe81d9984", "--apply", "--no-backup")
    assert code != 0 and "--yes-i-really-mean-it" in err and obj.read_bytes() == before
    backup = tmp_path / "bk"
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "rbd/10abe81d9984", "--apply",
                         "--backup", str(backup))
    assert code == 0 and "inspect now finds 0 errors" in out, out + err
    assert (backup / "rbd" / "objects" / "journal_data.2.10abe81d9984.16").read_bytes() == before
    code, out, err = cli(capsys, "--store", str(store), "journal", "inspect", "--all", "rbd/10abe81d9984")
    assert code == 0


def test_unknown_geometry_is_said_not_guessed(capsys, tmp_path):
    store = store_copy(tmp_path, "all_events")
    import base64
    import json

    omap = store / "rbd" / "omap" / "journal.108bbb69e2b9.json"
    doc = json.loads(omap.read_text())
    doc["order"] = base64.b64encode(b"\x02\x00").decode()
    omap.write_text(json.dumps(doc))
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "rbd/108bbb69e2b9", "--apply", "--backup",
                         str(tmp_path / "b"))
    assert code == 1 and "unrepairable" in out and "geometry is unknown" in out


# -- issue 12 item 4, issue 13 items 1, 5, 6, 12 ------------------------------------------------------

JID = "10abe81d9984"
OBJ = f"journal_data.2.{JID}."


def _files(store):
    """Every file of a directory store (lock files aside)."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and not p.name.startswith((".lock", ".tmp-"))}


def _replayed(store):
    """(tag, payload) of the entries rbd replays (default inspect), and of every entry (--all)."""
    from journaltools.store.directory import DirectoryStore

    journal = Journal.open(DirectoryStore(store).pool("rbd"), JID)
    return ([(e.tag_tid, bytes(e.payload)) for e in journal.walk()],
            [(e.tag_tid, bytes(e.payload)) for e in journal.walk(all_entries=True)])


def _inspect_codes(capsys, store):
    return (cli(capsys, "--store", str(store), "journal", "inspect", f"rbd/{JID}")[0],
            cli(capsys, "--store", str(store), "journal", "inspect", "--all", f"rbd/{JID}")[0])


def _flip_crc(store):
    obj = store / "rbd" / "objects" / f"{OBJ}15"
    data = bytearray(obj.read_bytes())
    data[40] ^= 0x20
    obj.write_bytes(bytes(data))


def test_plan_cites_only_reported_problems_and_names_dropped_entries(capsys, tmp_path):
    """A journal whose only fault is a crc error: every change cites problems inspect reported, none of
    client_ahead/dangling_commit_position/malformed_client, and the dropped entry is named."""
    import json

    store = store_copy(tmp_path, "small_objects")
    _flip_crc(store)
    reported = []  # what `journal inspect` and `journal inspect --all` print
    for flag in ([], ["--all"]):
        code, out, _ = cli(capsys, "--store", str(store), "journal", "inspect", *flag, "--format", "json", f"rbd/{JID}")
        assert code == 1
        reported += json.loads(out)["problems"]
    def key(problem: dict) -> tuple:
        return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in problem.items()))

    known = {key(p) for p in reported}
    code, out, _ = cli(capsys, "--store", str(store), "journal", "repair", "--format", "json", f"rbd/{JID}")
    plan = json.loads(out)
    assert code == 0 and plan["actions"]
    kinds = {f["kind"] for a in plan["actions"] for f in a["fixes"]}
    assert not kinds & {"client_ahead", "dangling_commit_position", "malformed_client"}, kinds
    assert "crc_mismatch" in kinds
    for action in plan["actions"]:
        assert action["fixes"], action
        for fix in action["fixes"]:
            assert key(fix) in known, fix
        assert action["fixes"][0]["kind"] == "crc_mismatch", action  # the root cause first
    drops = [d for a in plan["actions"] for d in a["drops"]]
    assert [(d["tag_tid"], d["entry_tid"], d["object"], d["offset"]) for d in drops] == [(2, 7, f"{OBJ}15", 0)]
    crc = next(a for a in plan["actions"] if a["target"] == f"{OBJ}15")
    assert {(f["kind"], f["object"], f["offset"], f["tag_tid"], f["entry_tid"]) for f in crc["fixes"]} >= \
        {("crc_mismatch", f"{OBJ}15", 0, 2, 7)}
    code, out, _ = cli(capsys, "--store", str(store), "journal", "repair", f"rbd/{JID}")
    assert "drops: tag 2 entry tid 7 (" + f"{OBJ}15 at byte 0)" in out
    assert "fixes: crc_mismatch (" + f"{OBJ}15 at byte 0, tag 2, entry tid 7)" in out


def test_intact_frames_after_an_impossible_length_are_kept(capsys, tmp_path):
    """Issue 13 item 1: a length field of 0xFFFFFFFF; repair keeps every intact frame after it."""
    store = store_copy(tmp_path, "small_objects")
    _, before = _replayed(store)
    obj = store / "rbd" / "objects" / f"{OBJ}15"
    data = bytearray(obj.read_bytes())
    lost = data[777 + 29:777 + 29 + 4]  # noqa: F841 - the entry whose length is broken (tid 9)
    data[777 + 25:777 + 29] = b"\xff\xff\xff\xff"
    obj.write_bytes(bytes(data))
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    assert code == 0, out + err
    assert "drops: tag 2 entry tid 9 (" + f"{OBJ}15 at byte 777)" in out
    assert _inspect_codes(capsys, store) == (0, 0)
    _, after = _replayed(store)
    original_tid9 = [e for e in Journal.open(load_fixture_store("small_objects").pool("rbd"), JID).walk(all_entries=True)
                     if (e.tag_tid, e.entry_tid) == (2, 9)][0]
    expected = [item for item in before if item != (2, bytes(original_tid9.payload))]
    assert after == expected  # only the entry with the broken length is gone, the rest in order


def _swap(store, a, b):
    pa, pb = (store / "rbd" / "objects" / f"{OBJ}{n}" for n in (a, b))
    da, db = pa.read_bytes(), pb.read_bytes()
    pa.write_bytes(db)
    pb.write_bytes(da)


@pytest.mark.parametrize("a,b", [(14, 15), (16, 17), (14, 16), (15, 19), (14, 19)],
                         ids=["splay-set7", "splay-set8", "sets-7-8-offset0", "sets-7-9-offset1", "set7-off0-set9-off1"])
def test_swapped_objects_are_put_back_in_replay_order(capsys, tmp_path, a, b):
    """Issue 13 item 5: objects swapped between splay positions or sets: repair restores the original journal."""
    store = store_copy(tmp_path, "small_objects")
    pristine = _files(store)
    _swap(store, a, b)
    assert _inspect_codes(capsys, store) != (0, 0)
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    assert code == 0, out + err
    assert _inspect_codes(capsys, store) == (0, 0)
    assert _files(store) == pristine  # every entry back in its object, tids and commit positions unchanged


def test_a_copy_of_an_entry_in_another_set_is_dropped(capsys, tmp_path):
    store = store_copy(tmp_path, "small_objects")
    pristine = _files(store)
    first16 = (store / "rbd" / "objects" / f"{OBJ}16").read_bytes()[:777]  # entry tid 16, set 8
    with open(store / "rbd" / "objects" / f"{OBJ}14", "ab") as fh:  # a copy in set 7
        fh.write(first16)
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    assert code == 0, out + err
    assert "drops: tag 2 entry tid 16 (" + f"{OBJ}14 at byte 3885): a copy" in out
    assert _files(store) == pristine


def test_different_copies_of_one_entry_are_refused(capsys, tmp_path):
    from journaltools.format.journal_entry import encode_entry

    from .journal_factory import write_event

    store = store_copy(tmp_path, "small_objects")
    with open(store / "rbd" / "objects" / f"{OBJ}18", "ab") as fh:  # tag 2 entry 16 again, other data, set 9
        fh.write(encode_entry(2, 16, write_event(99, 700)))
    damaged = _files(store)
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    assert code == 1 and "different copies" in out and "nothing written" in out, out + err
    assert _files(store) == damaged


@pytest.mark.parametrize("number", range(12, 22))
def test_repair_after_a_deleted_object_is_clean_in_replay_order(capsys, tmp_path, number):
    """Issue 13 item 6: after deleting any object of the sets, repair's own check is the replay-order one:
    it never says clean while inspect (what rbd replays) reports a problem."""
    store = store_copy(tmp_path, "small_objects")
    (store / "rbd" / "objects" / f"{OBJ}{number}").unlink()
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    said_clean = code == 0 and "inspect now finds 0 errors" in out
    assert said_clean, out + err
    assert _inspect_codes(capsys, store) == (0, 0)


def test_empty_object_above_active_set_is_removed(capsys, tmp_path):
    store = store_copy(tmp_path, "small_objects")
    extra = store / "rbd" / "objects" / f"{OBJ}50"
    extra.write_bytes(b"")
    assert _inspect_codes(capsys, store)[0] == 1
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    assert code == 0 and f"remove_object: {OBJ}50" in out and "object_outside_sets" in out, out + err
    assert not extra.exists()
    assert _inspect_codes(capsys, store) == (0, 0)


def test_dry_run_and_apply_together_are_refused(capsys, tmp_path):
    store = store_copy(tmp_path, "small_objects")
    _flip_crc(store)
    before = _files(store)
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--dry-run", "--apply", "--no-backup",
                         "--yes-i-really-mean-it", f"rbd/{JID}")
    assert code == 22 and "--dry-run and --apply exclude each other" in err
    assert _files(store) == before
    code, out, err = cli(capsys, "--store", str(store), "journal", "repair", "--dry-run", f"rbd/{JID}")
    assert code == 0 and "nothing written" in out and _files(store) == before


def check_moves_put_back(damage):
    """Swapped objects or a copied entry: nothing is damaged, so repair must restore the pristine replay order
    (or refuse, writing nothing)."""
    pool = damage.store.pool("rbd")
    pristine = Journal.open(load_fixture_store("small_objects" if damage.journal_id == JID else "all_events").pool("rbd"),
                            damage.journal_id)
    expected = [(e.tag_tid, e.entry_tid, bytes(e.payload)) for e in pristine.walk()]
    expected_all = sorted((e.tag_tid, e.entry_tid, bytes(e.payload)) for e in pristine.walk(all_entries=True))
    plan = plan_repair(Journal.open(pool, damage.journal_id))
    assert not plan.refused, (damage.detail, [str(a) for a in plan.actions])
    apply_plan(plan)
    after = Journal.open(pool, damage.journal_id)
    assert [p for p in reported_problems(after) if p.severity == ERROR] == [], damage.detail
    assert [(e.tag_tid, e.entry_tid, bytes(e.payload)) for e in after.walk()] == expected, damage.detail
    assert sorted((e.tag_tid, e.entry_tid, bytes(e.payload)) for e in after.walk(all_entries=True)) == expected_all


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged_journals(faults=MOVES))
def test_moved_entries_are_put_back_in_replay_order(damage):
    check_moves_put_back(damage)


@pytest.mark.slow
@settings(max_examples=EXAMPLES or 100_000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged_journals(faults=MOVES))
def test_moved_entries_are_put_back_in_replay_order_long(damage):
    check_moves_put_back(damage)


# -- against the real rbd: what repair leaves, rbd replays ------------------------------------------------------


def _live_journal(ceph, name, tmp_path):
    """An image whose journal spans several object sets (splay 2, 64 KiB objects), a peer that committed nothing
    (so librbd trims nothing and rbd exports every entry), and rbd's own export of it."""
    import json as _json

    from .test_journal_write_live import register_client

    ceph.rbd("create", "--size", "16M", "--image-feature", "layering,exclusive-lock,journaling", "--journal-splay-width",
             "2", "--journal-object-size", "64K", f"rbd/{name}")
    jid = _json.loads(ceph.rbd("info", f"rbd/{name}", "--format", "json").stdout)["id"]
    register_client(ceph, "rbd", jid, "peer")
    ceph.rbd("bench", "--io-type", "write", "--io-size", "4K", "--io-total", "320K", "--io-pattern", "rand", f"rbd/{name}")
    objects = sorted((o for o in ceph.rados("-p", "rbd", "ls").stdout.split() if o.startswith("journal_data.")
                      and o.split(".")[2] == jid), key=lambda o: int(o.rsplit(".", 1)[1]))
    export = tmp_path / f"{name}-before.rbd"
    ceph.rbd("journal", "export", "--image", name, "--path", str(export))
    return jid, objects, export.read_text().splitlines()[1:]


def _rbd_export(ceph, name, tmp_path):
    path = tmp_path / f"{name}-after.rbd"
    ceph.rbd("journal", "export", "--image", name, "--path", str(path))
    return path.read_text().splitlines()[1:]


@pytest.mark.ceph
def test_live_swapped_objects_repaired_rbd_replays_the_original(ceph_cluster, tmp_path):
    """Objects swapped between object sets of a live journal: after repair, rbd's own export equals the export
    from before the swap, and rbd journal inspect finds no error."""
    ceph = ceph_cluster
    jid, objects, before = _live_journal(ceph, "rp-swap", tmp_path)
    assert len(objects) >= 6 and len(before) > 60
    a, b = objects[0], objects[4]  # offset 0 of set 0 and of set 2
    da, db = tmp_path / "a", tmp_path / "b"
    ceph.rados("-p", "rbd", "get", a, str(da))
    ceph.rados("-p", "rbd", "get", b, str(db))
    ceph.rados("-p", "rbd", "put", a, str(db))
    ceph.rados("-p", "rbd", "put", b, str(da))
    damaged = ceph.rbd("journal", "inspect", "--image", "rp-swap", check=False).stdout
    assert f"{len(before)} entries inspected, 0 errors" not in damaged  # rbd stops early (here: 1 entry, 0 errors)
    code, out, err = ceph.journaltools("journal", "repair", "--image", "rp-swap", "--apply", "--no-backup",
                                       "--yes-i-really-mean-it")
    assert code == 0 and "inspect now finds 0 errors" in out, out + err
    assert ceph.rbd("journal", "inspect", "--image", "rp-swap").stdout.endswith(" 0 errors\n")
    assert _rbd_export(ceph, "rp-swap", tmp_path) == before
    assert ceph.rados("-p", "rbd", "stat", f"journal_repair.{jid}", check=False).returncode != 0  # intent gone


@pytest.mark.ceph
def test_live_crc_error_repaired_rbd_replays_every_other_entry(ceph_cluster, tmp_path):
    """One flipped byte in a live journal: after repair rbd replays every entry but the damaged one, in order."""
    ceph = ceph_cluster
    jid, objects, before = _live_journal(ceph, "rp-crc", tmp_path)
    victim = tmp_path / "v"
    ceph.rados("-p", "rbd", "get", objects[3], str(victim))
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01  # inside the first entry's payload
    victim.write_bytes(bytes(data))
    ceph.rados("-p", "rbd", "put", objects[3], str(victim))
    code, out, err = ceph.journaltools("journal", "repair", "--image", "rp-crc", "--format", "json")
    import json as _json

    plan = _json.loads(out)
    drops = [d for a in plan["actions"] for d in a["drops"]]
    assert [(d["object"], d["offset"]) for d in drops] == [(objects[3], 0)], plan
    code, out, err = ceph.journaltools("journal", "repair", "--image", "rp-crc", "--apply", "--no-backup",
                                       "--yes-i-really-mean-it")
    assert code == 0 and "inspect now finds 0 errors" in out, out + err
    assert ceph.rbd("journal", "inspect", "--image", "rp-crc").stdout.endswith(" 0 errors\n")
    after = _rbd_export(ceph, "rp-crc", tmp_path)
    assert len(after) == len(before) - 1


def test_interrupted_apply_is_pending_then_finished_by_the_rerun(capsys, tmp_path, monkeypatch):
    """A repair stopped after its intent record is written: a dry run says so and writes nothing; --apply
    finishes the recorded steps and leaves exactly what an uninterrupted repair leaves; reset discards it."""
    from journaltools.journal import repair as repair_module

    reference = tmp_path / "ref"
    reference.mkdir()
    done = store_copy(reference, "small_objects")
    _flip_crc(done)
    apply = ["journal", "repair", "--apply", "--no-backup", "--yes-i-really-mean-it", f"rbd/{JID}"]
    assert cli(capsys, "--store", str(done), *apply)[0] == 0
    store = store_copy(tmp_path, "small_objects")
    _flip_crc(store)
    real = repair_module._run_intent

    def crash(journal, intent):
        raise KeyboardInterrupt  # stands in for a kill after the intent is in the store

    monkeypatch.setattr(repair_module, "_run_intent", crash)
    assert cli(capsys, "--store", str(store), *apply)[0] != 0
    monkeypatch.setattr(repair_module, "_run_intent", real)
    assert (store / "rbd" / "objects" / f"journal_repair.{JID}").exists()
    pending = _files(store)
    code, out, _ = cli(capsys, "--store", str(store), "journal", "repair", f"rbd/{JID}")
    assert code == 1 and "an interrupted repair is pending" in out and _files(store) == pending
    code, out, _ = cli(capsys, "--store", str(store), *apply)
    assert code == 0 and "finished an interrupted repair" in out and "inspect now finds 0 errors" in out, out
    assert _files(store) == _files(done)
    # a reset drops a pending repair: its steps were planned for entries the reset deletes
    monkeypatch.setattr(repair_module, "_run_intent", crash)
    _flip_crc(store)
    cli(capsys, "--store", str(store), *apply)
    monkeypatch.setattr(repair_module, "_run_intent", real)
    assert cli(capsys, "--store", str(store), "journal", "reset", "--no-backup", "--yes-i-really-mean-it",
               f"rbd/{JID}")[0] == 0
    assert not [n for n in _files(store) if "journal_repair." in n]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(damaged_journals(faults=LENGTHS))
def test_frames_after_an_impossible_length_survive_repair(damage):
    """Issue 13 item 1 over every frame of both fixture journals: only the frame with the broken length is lost."""
    pool = damage.store.pool("rbd")
    pristine = Journal.open(load_fixture_store("small_objects" if damage.journal_id == JID else "all_events").pool("rbd"),
                            damage.journal_id)
    before = Journal.open(pool, damage.journal_id)
    lo, width = before.minimum_set, before.splay_width
    expected = [(e.tag_tid, bytes(e.payload)) for e in sorted(pristine.walk(all_entries=True),
                                                              key=lambda e: (e.tag_tid, e.entry_tid))
                if e.object_number // width >= lo]
    plan = plan_repair(before)
    assert not plan.refused, (damage.detail, [str(a) for a in plan.actions])
    assert len(plan.dropped()) == 1, (damage.detail, [str(d) for d in plan.dropped()])
    apply_plan(plan)
    after = Journal.open(pool, damage.journal_id)
    assert [p for p in reported_problems(after) if p.severity == ERROR] == [], damage.detail
    survived = [(e.tag_tid, bytes(e.payload)) for e in sorted(after.walk(all_entries=True),
                                                              key=lambda e: (e.tag_tid, e.entry_tid))]
    assert len(survived) == len(expected) - 1, damage.detail
    rest = iter(expected)  # the survivors are the pristine entries, in order, with one left out
    assert all(item in rest for item in survived), damage.detail
