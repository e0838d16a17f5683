"""Opening a journal on a live cluster costs as few round trips as it can: an omap read is one read op
(no stat before it), ``omap_get`` reads only the keys asked for; a missing object is still a
NotFoundError that names it."""

from __future__ import annotations

import pytest

from journaltools.errors import NotFoundError
from journaltools.journal import Journal
from journaltools.store.rados import RadosStore

from .test_journal_write_live import image_id

pytestmark = pytest.mark.ceph


class CountingIoctx:
    """Counts the calls that go to the cluster (each one a round trip)."""

    CALLS = ("stat", "operate_read_op", "read", "execute", "get_stats", "list_objects")

    def __init__(self, ioctx) -> None:
        self._ioctx = ioctx
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._ioctx, name)
        if name in self.CALLS:
            def counted(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)
            return counted
        return attr


@pytest.fixture(scope="module")
def journaled(ceph_cluster):
    ceph_cluster.rbd("create", "--size", "4M", "--image-feature", "layering,exclusive-lock,journaling", "rbd/trips")
    return image_id(ceph_cluster, "rbd/trips")


@pytest.fixture
def pool(ceph_cluster):
    store = RadosStore(conf=ceph_cluster.conf)
    pool = store.pool("rbd")
    pool.ioctx = CountingIoctx(pool.ioctx)
    try:
        yield pool
    finally:
        store.close()


def test_journal_open_is_one_read_op(pool, journaled):
    journal = Journal.open(pool, journaled)
    assert journal.header.order is not None
    assert pool.ioctx.calls == ["operate_read_op"]


def test_omap_get_reads_only_the_keys_asked_for(pool, journaled):
    everything = pool.omap(f"rbd_header.{journaled}")
    pool.ioctx.calls.clear()
    wanted = sorted(everything)[:2]
    assert pool.omap_get(f"rbd_header.{journaled}", [*wanted, "no_such_key"]) == {k: everything[k] for k in wanted}
    assert pool.ioctx.calls == ["operate_read_op"]
    assert pool.omap_get(f"rbd_header.{journaled}", []) == {}


@pytest.mark.parametrize("read", [lambda p: p.omap("no_such_object"), lambda p: p.omap_get("no_such_object", ["a"]),
                                  lambda p: list(p.omap_items("no_such_object"))])
def test_a_missing_object_is_still_not_found(pool, read):
    with pytest.raises(NotFoundError, match="object no_such_object does not exist in pool rbd"):
        read(pool)
