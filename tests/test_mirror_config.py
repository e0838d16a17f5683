"""The mirroring settings of the monitors' config-key store, as rbd keeps them (journaltools/mirror_config.py).

``mirror pool enable --site-name``, ``mirror pool peer add --remote-mon-host --remote-key-file``,
``mirror pool info --all`` and ``mirror pool peer remove``: journaltools writes what rbd writes
(``rbd/mirror/site_name``, ``rbd/mirror/peer/<pool id>/<uuid>``), reads what rbd wrote, and prints
``mirror pool info [--all]`` as rbd does in every format, whichever tool made the state.  Collected
against Pacific, Reef and Tentacle too by tests/test_releases_live.py.
"""

from __future__ import annotations

import json

import pytest

from .rbd_failures import JOURNALTOOLS, runners

FORMATS = ((), ("--format", "json"), ("--format", "json", "--pretty-format"), ("--format", "xml"),
           ("--format", "xml", "--pretty-format"))


def _config_keys(ceph) -> dict[str, str]:
    dump = json.loads(ceph.ceph("config-key", "dump").stdout)
    return {k: v for k, v in dump.items() if k.startswith("rbd/mirror/")}


@pytest.mark.ceph
def test_site_name_and_peer_attributes_as_rbd(ceph_cluster, tmp_path):
    ceph = ceph_cluster
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "rbd").symlink_to(JOURNALTOOLS)
    ours, theirs = runners(ceph, tmp_path / "bin" / "rbd", tmp_path)
    (tmp_path / "key").write_text("AQBzZWNvbmRrZXlzZWNvbmRrZXlzZWNvbmQ9PQ==\n\n")
    key = str(tmp_path / "key")
    variants = {"both": ("--remote-mon-host", "10.1.1.1:6789", "--remote-key-file", key),
                "mon": ("--remote-mon-host", "10.0.0.2"), "key": ("--remote-key-file", key, "--direction", "rx-only"),
                "none": ()}
    try:
        states: dict[str, dict[str, str]] = {}
        for who, run in (("ours", ours), ("rbd", theirs)):
            site = f"site-{who}"
            for variant, options in variants.items():
                pool = ceph.new_pool(f"cfg{who}{variant}")
                proc = run("mirror", "pool", "enable", pool, "image", "--site-name", site)
                assert proc.returncode == 0, proc.stderr
                proc = run("mirror", "pool", "peer", "add", pool, f"client.m@remote-{variant}", *options)
                assert proc.returncode == 0, proc.stderr
                uuid = proc.stdout.decode().strip()
                keys = _config_keys(ceph)
                assert keys["rbd/mirror/site_name"] == site
                states[f"{who} {variant}"] = {k.rsplit("/", 1)[0].rsplit("/", 1)[0]: v for k, v in keys.items()
                                              if k.endswith("/" + uuid)}
                for fmt in FORMATS:
                    for extra in ((), ("--all",)):
                        a, b = ours("mirror", "pool", "info", pool, *extra, *fmt), \
                            theirs("mirror", "pool", "info", pool, *extra, *fmt)
                        assert (a.returncode, a.stdout) == (b.returncode, b.stdout), (variant, who, extra, fmt,
                                                                                      a.stdout, b.stdout, a.stderr)
                # a second rx peer is refused as librbd refuses it
                a, b = ours("mirror", "pool", "peer", "add", pool, "client.x@second"), \
                    theirs("mirror", "pool", "peer", "add", pool, "client.x@second")
                assert a.returncode == b.returncode == 22
                assert a.stderr == b.stderr == b"rbd: multiple RX peers are not currently supported\n"
                remover = ours if who == "rbd" else theirs  # each tool removes what the other wrote
                assert remover("mirror", "pool", "peer", "remove", pool, uuid).returncode == 0
                assert not [k for k in _config_keys(ceph) if k.endswith("/" + uuid)]
        assert states["ours both"] == states["rbd both"] and states["ours mon"] == states["rbd mon"]
        assert states["ours key"] == states["rbd key"] and states["ours none"] == states["rbd none"] == {}
        # an empty site name removes it: the fsid again
        assert ours("mirror", "pool", "enable", "cfgoursnone", "image", "--site-name", "").returncode == 0
        assert "rbd/mirror/site_name" not in _config_keys(ceph)
        assert f"Site Name: {ceph.fsid}\n" in theirs("mirror", "pool", "info", "cfgoursnone").stdout.decode()
        a, b = ours("mirror", "pool", "peer", "add", "cfgoursnone", "client.a@b", "--remote-key-file", "/nonexistent"), \
            theirs("mirror", "pool", "peer", "add", "cfgoursnone", "client.a@b", "--remote-key-file", "/nonexistent")
        assert (a.returncode, a.stderr) == (b.returncode, b.stderr) == (22, b"rbd: failed to open /nonexistent\n")
    finally:
        ceph.ceph("config-key", "rm", "rbd/mirror/site_name", check=False)
