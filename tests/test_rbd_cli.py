"""rbd's command-line conventions and Ceph's XMLFormatter, without a cluster (the live checks: test_rbd_dropin.py).

The expected strings are the real rbd 16.2's output, captured on a sandbox cluster.
"""

from __future__ import annotations

import pytest

from journaltools.cli import main, run
from journaltools.commands.feature import parse_object_size
from journaltools.output import ceph_xml, text_table, xml_escape
from journaltools.rbd_cli import RbdUsageError, arrange

# rbd mirror pool info --format xml --pretty-format (one peer), as rbd 16.2 printed it
MIRROR_INFO_PRETTY = """<mirror>
 <mode>image</mode>
 <site_name>46de8124-b995-4350-a9d7-5dbd0119be44</site_name>
 <peers>
  <peer>
   <uuid>e7410ebc-b192-4a6e-9323-84e0f941b4f7</uuid>
   <direction>rx-tx</direction>
   <site_name>site-b</site_name>
   <mirror_uuid></mirror_uuid>
   <client_name>client.admin</client_name>
  </peer>
 </peers>
</mirror>

"""
MIRROR_INFO = {"mode": "image", "site_name": "46de8124-b995-4350-a9d7-5dbd0119be44",
               "peers": [{"uuid": "e7410ebc-b192-4a6e-9323-84e0f941b4f7", "direction": "rx-tx", "site_name": "site-b",
                          "mirror_uuid": "", "client_name": "client.admin"}]}


def test_xml_pretty_as_rbd():
    assert ceph_xml(MIRROR_INFO, "mirror", {"peers": "peer"}, pretty=True) == MIRROR_INFO_PRETTY


def test_xml_compact_as_rbd():
    assert ceph_xml(["g1"], "groups", {"groups": "name"}) == "<groups><name>g1</name></groups>\n"
    assert ceph_xml([], "group_snaps", {"group_snaps": "group_snap"}) == "<group_snaps></group_snaps>\n"
    # an empty section, pretty: rbd group snap list --format xml --pretty-format of a group without snapshots
    assert ceph_xml([], "group_snaps", {}, pretty=True) == "<group_snaps>\n</group_snaps>\n\n"


def test_xml_escaping_as_ceph():
    assert xml_escape("a<b&c>d'e\"f") == "a&lt;b&amp;c&gt;d&apos;e&quot;f"
    assert xml_escape("\x01\x02\x7f") == "&#x01;&#x02;&#x7f;"
    assert xml_escape("tab\tnewline\n\u6c49") == "tab\tnewline\n\u6c49"  # kept, as escape_xml_attr keeps them
    assert ceph_xml({"a b": 1, "ok": True}, "x") == "<x><a_b>1</a_b><ok>true</ok></x>\n"


def test_xml_needs_item_names():
    with pytest.raises(KeyError):
        ceph_xml({"list": [1]}, "root")


def test_text_table_as_rbd_group_snap_list():
    rows = [["s1", "ok"], ["longersnapname", "ok"]]
    assert text_table([("NAME", "left", "left"), ("STATUS", "left", "right")], rows) == (
        "NAME            STATUS\ns1                  ok\nlongersnapname      ok\n")
    assert text_table([("NAME", "left", "left"), ("STATUS", "left", "right")], [["s9", "ok"]]) == (
        "NAME  STATUS\ns9        ok\n")


@pytest.mark.parametrize(("text", "order"), [("20M", 25), ("4K", 12), ("64M", 26), ("16M", 24), ("4097", 13),
                                             ("8KiB", 13), ("1M", 20), ("4096B", 12)])
def test_journal_object_size_rounds_up_as_rbd(text, order):
    assert parse_object_size(text) == order


@pytest.mark.parametrize("text", ["3K", "128M", "20Z", "x", "", "1G"])
def test_journal_object_size_refused_as_rbd(text):
    with pytest.raises(RbdUsageError, match="the argument for option '--journal-object-size' is invalid"):
        parse_object_size(text)


def test_arrange_moves_cluster_options_and_options_before_the_command():
    a = arrange(["--format", "xml", "journal", "info", "--image", "x", "-c", "/c.conf", "--id=admin"], main)
    assert a.path == ["journal", "info"]
    assert a.args == ["--conf", "/c.conf", "--id", "admin", "journal", "info", "--format", "xml", "--image", "x"]
    a = arrange(["--pool", "mirror", "mirror", "pool", "peer", "remove", "UUID"], main, env_args="--id mirror -k /k")
    assert a.args == ["--id", "mirror", "--keyring", "/k", "mirror", "pool", "peer", "remove", "--pool", "mirror",
                      "UUID"]
    assert arrange(["info", "img"], main).leaf is None  # not ours: the real rbd's
    assert arrange(["--user", "admin", "status", "img"], main).notes == ["--user is deprecated, use --id"]


@pytest.mark.parametrize(("argv", "message", "status"), [
    (["journal", "info"], "journal was not specified", 22),
    (["feature", "enable", "img"], "at least one feature name must be specified", 22),
    (["group", "snap", "rename", "g@s"], "destination snapshot name was not specified", 22),
    (["journal", "info", "a", "b"], "too many arguments", 1),
    (["journal", "info", "--bogus"], "unrecognised option '--bogus'", 1),
    (["journal", "info", "--journal", "j", "--journal", "j"], "option '--journal' cannot be specified more than once", 1),
    (["group", "list", "--format", "yaml"], "the argument for option '--format' is invalid", 1),
    (["group", "list", "--format"], "the required argument for option '--format' is missing", 1),
    (["feature", "enable", "i", "journaling", "--journal-splay-width", "x"],
     "the argument ('x') for option '--journal-splay-width' is invalid", 1),
])
def test_usage_errors_as_rbd(capsys, tmp_path, argv, message, status):
    store = ["--store", str(tmp_path)]
    assert run(store + argv, argv0="/usr/local/bin/journaltools") == status
    assert capsys.readouterr().err == f"journaltools: {message}\n"
    assert run(argv + store, argv0="/some/where/rbd") == status  # run as rbd: rbd's prefix, options anywhere
    assert capsys.readouterr().err == f"rbd: {message}\n"


def test_pretty_format_refused_without_json_or_xml(capsys, tmp_path):
    assert run(["--store", str(tmp_path), "group", "list", "--pretty-format"], argv0="journaltools") == 22
    assert capsys.readouterr().err == "journaltools: --pretty-format only works when --format is json or xml\n"


def test_features_journaltools_does_not_manage(capsys, tmp_path):
    """Run as journaltools: a clear refusal (run as rbd, the real rbd gets the command line)."""
    assert run(["--store", str(tmp_path), "feature", "enable", "img", "object-map"], argv0="journaltools") == 22
    assert "manages only the journaling and mirroring features" in capsys.readouterr().err


def test_rbd_mode_refuses_options_rbd_lacks(capsys, tmp_path):
    argv = ["journal", "inspect", "--journal", "j", "--format", "json", "--store", str(tmp_path)]
    assert run(argv, argv0="rbd") == 1
    assert capsys.readouterr().err == "rbd: unrecognised option '--format'\n"


def test_a_commands_own_option_keeps_a_cluster_options_name():
    """Another command's ``-n`` (say a count) is not taken for rbd's ``-n/--name``."""
    import click

    from journaltools.rbd_cli import RbdGroup

    @click.group(cls=RbdGroup)
    def root() -> None: ...

    @root.command("tail")
    @click.option("-n", "count", type=int)
    def tail(count: int) -> None: ...

    @root.command("show")
    def show() -> None: ...

    assert arrange(["tail", "-n", "5", "-c", "/c"], root).args == ["--conf", "/c", "tail", "-n", "5"]
    assert arrange(["show", "-n", "client.x"], root).args == ["--name", "client.x", "show"]
