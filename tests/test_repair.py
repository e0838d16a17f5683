"""Repair: every damage is either repaired to a clean journal or named as unrepairable; valid entries survive."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from journaltools.journal import ERROR, Journal
from journaltools.journal.repair import apply_plan, plan_repair

from .cli_helpers import cli, store_copy
from .corruption import damaged_journals
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
    intact = [(e.tag_tid, e.payload) for e in walk if e.object_number // width >= lo]
    plan = plan_repair(before)
    apply_plan(plan)
    after = Journal.open(pool, damage.journal_id)
    check = after.walk(all_entries=True)
    survived = [(e.tag_tid, e.payload) for e in check]
    errors = [p for p in check.problems if p.severity == ERROR]
    if plan.unrepairable:
        return  # said, not guessed
    assert errors == [], (damage.fault, damage.detail, [str(a) for a in plan.actions], [str(p) for p in errors])
    # every entry that checked out before the repair is still there, in the same order
    assert all(item in survived for item in intact), (damage.fault, damage.detail)


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
