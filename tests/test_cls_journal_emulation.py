"""The offline cls_journal emulation gives what the real class in a Ceph OSD gives, call for call."""

from __future__ import annotations

import struct

import pytest

from journaltools.cls import journal as cls
from journaltools.errors import JournalToolsError
from journaltools.store.memory import MemoryStore

OID = "journal.emul1"


def make_tag_data(mirror_uuid, pred_uuid="", commit_valid=False, tag_tid=0, entry_tid=0):
    def s(text):
        return struct.pack("<I", len(text)) + text.encode()

    return s(mirror_uuid) + s(pred_uuid) + struct.pack("<BQQ", commit_valid, tag_tid, entry_tid)


def run_sequence(pool):
    """A call sequence touching every method, ok paths and errors; returns what each call gave."""
    outcomes = []

    def call(name, *a):
        try:
            result = getattr(cls, name)(pool, *a)
            if isinstance(result, list):
                result = [(getattr(x, "id", None), getattr(x, "tid", None)) for x in result]
            elif result is not None and not isinstance(result, int):
                result = repr(dict((k, v) for k, v in result.items() if not k.startswith("_")))
            outcomes.append((name, "ok", result))
        except JournalToolsError as exc:
            outcomes.append((name, "errno", exc.errno))

    call("client_register", OID, "x")  # no journal yet
    call("create", OID, 12, 2, -1)
    call("create", OID, 12, 2, -1)
    call("create", "journal.bad", 9, 2, -1)
    for getter in ("get_order", "get_splay_width", "get_pool_id", "get_minimum_set", "get_active_set", "get_next_tag_tid"):
        call(getter, OID)
    call("client_register", OID, "", b"\x02\x01\x0d\x00\x00\x00" + bytes(13))
    call("client_register", OID, "", b"")
    call("tag_create", OID, 0, cls.TAG_CLASS_NEW, make_tag_data(""))
    call("tag_create", OID, 5, 0, b"")
    call("tag_create", OID, 1, 7, b"")
    call("tag_create", OID, 1, 0, make_tag_data("", "", True, 0, 3))
    call("client_commit", OID, "", [(1, 1, 5), (0, 1, 4)])
    call("client_commit", OID, "", [(1, 1, 5), (0, 1, 4), (2, 1, 3)])
    call("client_commit", OID, "nobody", [])
    call("client_register", OID, "peer", b"")
    call("get_client", OID, "peer")
    call("get_client", OID, "ghost")
    call("tag_create", OID, 2, 0, make_tag_data("<orphan>"))
    call("get_tag", OID, 0)
    call("get_tag", OID, 9)
    call("tag_list", OID, "")
    call("tag_list", OID, "peer", 0)
    call("set_active_set", OID, 2)
    call("set_active_set", OID, 1)
    call("set_minimum_set", OID, 3)
    call("set_minimum_set", OID, 1)
    call("set_minimum_set", OID, 0)
    call("client_update_state", OID, "peer", 1)
    call("client_update_data", OID, "peer", b"new data")
    call("client_list", OID)
    call("client_unregister", OID, "peer")
    call("client_unregister", OID, "peer")
    call("tag_list", OID, "")
    pool.append("journal_data.x.0", b"x" * 100)
    call("guard_append", "journal_data.x.0", 4096)
    call("guard_append", "journal_data.x.0", 100)
    call("guard_append", "journal_data.x.1", 100)
    return outcomes, pool.omap(OID)


def test_emulation_sequence_offline():
    store = MemoryStore()
    outcomes, omap = run_sequence(store.add_pool("rbd", 1))
    by_call = [o[1:] for o in outcomes]
    assert by_call[0] == ("errno", 2) and by_call[1][0] == "ok" and by_call[2] == ("errno", 17)
    assert set(omap) >= {"order", "splay_width", "pool_id", "minimum_set", "active_set", "next_tag_tid", "next_tag_class",
                         "client_"}


@pytest.mark.ceph
def test_emulation_matches_the_real_class(ceph_cluster):
    store = MemoryStore()
    offline, offline_omap = run_sequence(store.add_pool("rbd", 1))
    from journaltools.store.rados import RadosStore

    ceph_cluster.new_pool("clsemul")
    live_store = RadosStore(conf=ceph_cluster.conf)
    try:
        live, live_omap = run_sequence(live_store.pool("clsemul"))
    finally:
        live_store.close()
    assert offline == live
    assert offline_omap == live_omap
