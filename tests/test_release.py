"""Which release's output: names, versions, the mon's version line, what acquire recorded, --release."""

from __future__ import annotations

import pytest

from journaltools.errors import SpecError
from journaltools.release import PACIFIC, REEF, TENTACLE, parse_release, store_release
from journaltools.store.directory import DirectoryStore

from .cli_helpers import cli, store_copy


@pytest.mark.parametrize(("text", "release"), [
    ("pacific", PACIFIC), ("Reef", REEF), ("20", TENTACLE), ("18.2.7", REEF), ("v16.2.15", PACIFIC),
    ("ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)", TENTACLE),
    ("ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)", REEF),
])
def test_parse_release(text, release):
    assert parse_release(text) == release


def test_unknown_release_is_one_clear_error(capsys):
    with pytest.raises(SpecError, match="unknown Ceph release 'nautilusx'"):
        parse_release("nautilusx")
    code, out, err = cli(capsys, "--store", "fixtures/stores/site-a", "--release", "nautilusx", "mirror", "pool", "info")
    assert code == 22 and out == "" and len(err.splitlines()) == 1 and "Traceback" not in err


def test_newer_majors_compare_above_tentacle():
    assert parse_release("21.1.0") > TENTACLE and parse_release("15.2.17") < PACIFIC


def test_offline_release_is_what_acquire_recorded_unless_overridden(tmp_path, monkeypatch):
    monkeypatch.delenv("JOURNALTOOLS_RELEASE", raising=False)
    root = store_copy(tmp_path, "site-a")
    assert store_release(DirectoryStore(root)) == PACIFIC  # nothing recorded: Pacific's output
    (tmp_path / "new").mkdir()
    store = DirectoryStore(tmp_path / "new")
    store.create_pool("rbd", 2, "f" * 36, "ceph version 20.2.4 (7f79) tentacle (stable)")
    assert DirectoryStore(tmp_path / "new").ceph_version.startswith("ceph version 20.2.4")
    assert store_release(DirectoryStore(tmp_path / "new")) == TENTACLE
    assert store_release(DirectoryStore(tmp_path / "new"), "reef") == REEF
    monkeypatch.setenv("JOURNALTOOLS_RELEASE", "16")
    assert store_release(DirectoryStore(tmp_path / "new")) == PACIFIC


def test_release_option_changes_the_output(capsys):
    s = ("--store", "fixtures/stores/site-a")
    _, pacific, _ = cli(capsys, *s, "mirror", "pool", "info", "rbd")
    _, tentacle, _ = cli(capsys, *s, "--release", "tentacle", "mirror", "pool", "info", "rbd")
    assert "Mirror UUID: f12f0c70-1950-4141-ab52-f3ebb540bfb1\nRemote Namespace: \n" in tentacle
    assert "Remote Namespace" not in pacific
    assert pacific.replace("Site Name: afdbed7a-a85e-4f28-a5f1-6483cf0fff20\n", "") == tentacle.replace(
        "Site Name: afdbed7a-a85e-4f28-a5f1-6483cf0fff20\nMirror UUID: f12f0c70-1950-4141-ab52-f3ebb540bfb1\n"
        "Remote Namespace: \n", "")
