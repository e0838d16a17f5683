"""Issue 13 item 12: export's exit status agrees with inspect; filters and group names that mean nothing are refused."""

from __future__ import annotations

import errno
import json
import shutil

import pytest

from .cli_helpers import cli
from .journal_factory import FIXTURES

JID = "10abe81d9984"


@pytest.fixture
def store(tmp_path):
    dest = tmp_path / "store"
    shutil.copytree(FIXTURES / "stores" / "small_objects", dest)
    return dest


@pytest.mark.parametrize("export_format", ["rbd", "json"])
def test_export_exits_1_when_it_meets_an_error_inspect_reports(store, tmp_path, capsys, export_format):
    """A tag record missing from the header: inspect exits 1, and so must export (docs/journal.md)."""
    header = store / "rbd" / "omap" / f"journal.{JID}.json"
    omap = json.loads(header.read_text())
    del omap["tag_0000000000000002"]
    header.write_text(json.dumps(omap))
    code, out, _ = cli(capsys, "--store", store, "journal", "inspect", f"rbd/{JID}")
    assert code == 1 and "missing_tag" in out
    code, _, err = cli(capsys, "--store", store, "journal", "export", f"rbd/{JID}", tmp_path / "out",
                       "--format", export_format)
    assert code == 1 and "missing_tag" in err


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_since_and_until_must_be_times(store, capsys, value):
    for option in ("--since", "--until"):
        code, _, err = cli(capsys, "--store", store, "journal", "export", f"rbd/{JID}", "-", option, value)
        assert code == errno.EINVAL and "invalid time" in err, err


def test_unknown_event_type_is_refused_naming_the_valid_names(store, capsys):
    code, out, err = cli(capsys, "--store", store, "journal", "export", f"rbd/{JID}", "-", "--event-type", "NoSuchEvent")
    assert code == errno.EINVAL and out == ""
    assert "unknown event type 'NoSuchEvent'" in err and "AioWrite" in err and "SnapCreate" in err
    # names in any case and type numbers still select
    outputs = set()
    for good in ("aiowrite", "AioWrite", "1"):
        code, out, _ = cli(capsys, "--store", store, "journal", "export", f"rbd/{JID}", "-", "--event-type", good,
                           "--format", "rbd")
        assert code == 0 and len(out.splitlines()) > 30, good
        outputs.add(out)
    assert len(outputs) == 1


@pytest.mark.parametrize("name", ["\t", " ", "   ", "\x7f", "a\nb", "x\x1by"])
def test_group_create_refuses_names_that_are_not_names(tmp_path, capsys, name):
    dest = tmp_path / "site-a"
    shutil.copytree(FIXTURES / "stores" / "site-a", dest)
    before = sorted(p.name for p in (dest / "rbd" / "omap").iterdir())
    code, _, err = cli(capsys, "--store", dest, "group", "create", "--pool", "rbd", "--group", name)
    assert code == errno.EINVAL and "invalid group name" in err, err
    code, _, err = cli(capsys, "--store", dest, "group", "rename", "rbd/cg1", f"rbd/{name}")
    assert code == errno.EINVAL and "invalid group name" in err, err
    assert sorted(p.name for p in (dest / "rbd" / "omap").iterdir()) == before
