"""Finding a journal's objects by name when listing the pool is too expensive (a big live pool).

A walk that probes object names must report exactly what a walk over a listing reports,
except what only a listing can see: objects with the data prefix but no object number, and
objects beyond an empty object set.
"""

from __future__ import annotations

from hypothesis import given, settings

from journaltools.journal import Journal, JournalWalk
from journaltools.store.memory import MemoryPool

from .corruption import FAULTS, damaged_journals
from .journal_factory import load_fixture_store

ONLY_A_LISTING_SEES = {"stray", "extra_below", "extra_above"}
GEOMETRY = {"geometry"}  # a well-formed but wrong splay width: the probe looks at other names


class BigPool(MemoryPool):
    """A pool that says listing is expensive, and fails the test if it is listed anyway."""

    allow_listing = False

    def listing_is_cheap(self) -> bool:
        return False

    def list_objects(self, prefix: str = ""):
        assert self.allow_listing, "a probing reader listed the pool"
        return super().list_objects(prefix)


def _big(pool: MemoryPool) -> BigPool:
    return BigPool(pool.store, pool.name, pool.pool_id, pool.namespace)


def _view(pool, journal_id: str, all_entries: bool) -> tuple[list[tuple], list[dict]]:
    walk = JournalWalk(Journal.open(pool, journal_id), all_entries=all_entries)
    entries = [(e.object_name, e.offset, e.tag_tid, e.entry_tid, e.commit_tid, bytes(e.payload)) for e in walk]
    return entries, [p.to_json() for p in walk.problems]


def test_healthy_journals_read_alike_without_a_listing():
    for name, journal_id in [("all_events", "108bbb69e2b9"), ("small_objects", "10abe81d9984")]:
        pool = load_fixture_store(name).pool("rbd")
        for all_entries in (False, True):
            assert _view(_big(pool), journal_id, all_entries) == _view(pool, journal_id, all_entries)


@settings(max_examples=60, deadline=None)
@given(damage=damaged_journals(faults=[f for f in FAULTS if f not in ONLY_A_LISTING_SEES | GEOMETRY]))
def test_damaged_journals_read_alike_without_a_listing(damage):
    pool = damage.store.pool("rbd")
    big = _big(pool)
    if Journal.open(pool, damage.journal_id).header.problems:
        big.allow_listing = True  # a header that cannot be trusted makes the reader list the pool
    for all_entries in (False, True):
        assert _view(big, damage.journal_id, all_entries) == _view(pool, damage.journal_id, all_entries)


@settings(max_examples=30, deadline=None)
@given(damage=damaged_journals(faults=sorted(ONLY_A_LISTING_SEES)))
def test_without_a_listing_only_far_and_stray_objects_go_unseen(damage):
    pool = damage.store.pool("rbd")
    probed = _view(_big(pool), damage.journal_id, False)
    listed = _view(pool, damage.journal_id, False)
    assert probed[0] == listed[0]
    unseen = [p for p in listed[1] if p not in probed[1]]
    assert all(p["object"] == damage.object for p in unseen)
    assert all(p in listed[1] for p in probed[1])


@settings(max_examples=20, deadline=None)
@given(damage=damaged_journals(faults=sorted(GEOMETRY)))
def test_a_wrong_splay_width_is_an_error_without_a_listing_too(damage):
    pool = damage.store.pool("rbd")
    listed = _view(pool, damage.journal_id, False)[1]
    big = _big(pool)
    big.allow_listing = bool(Journal.open(pool, damage.journal_id).header.problems)  # splay width 0: not trusted
    probed = _view(big, damage.journal_id, False)[1]
    has_error = [any(p["severity"] == "error" for p in problems) for problems in (listed, probed)]
    assert has_error[0] == has_error[1]


def test_untrimmed_sets_right_below_minimum_set_are_found_by_probing():
    pool = load_fixture_store("small_objects").pool("rbd")
    journal = Journal.open(pool, "10abe81d9984")
    assert journal.minimum_set > 0
    header = journal.header_oid
    # raise minimum_set by one: the objects of the old minimum set are now untrimmed leftovers below it
    pool.omap_set(header, {"minimum_set": (journal.minimum_set + 1).to_bytes(8, "little")})
    probed = _view(_big(pool), "10abe81d9984", False)[1]
    listed = _view(pool, "10abe81d9984", False)[1]
    assert [p for p in listed if p["kind"] == "object_outside_sets"]
    assert probed == listed
