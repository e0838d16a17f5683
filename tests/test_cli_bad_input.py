"""Every command, fed bad input: one clear line on stderr, a non-zero exit, never a traceback.

Commands are found by walking the click tree, so new commands are covered automatically.
"""

from __future__ import annotations

import click
import pytest

from journaltools.cli import load_command_modules, main

from .cli_helpers import cli, store_copy


def leaves(group: click.Group, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if name != cmd.name:
            continue  # aliases share the command
        if isinstance(cmd, click.Group):
            yield from leaves(cmd, path + (name,))
        else:
            yield path + (name,)


load_command_modules()  # the walk below sees every command
LEAVES = list(leaves(main))
BAD_SPECS = ["a/b/c/d", "nopool/thing", "rbd/does-not-exist", "@@@"]


@pytest.fixture(scope="module")
def site_a(tmp_path_factory):
    return store_copy(tmp_path_factory.mktemp("bad"), "site-a")


def assert_one_clean_line(code, out, err, what):
    assert code != 0, f"{what}: exit 0 with out={out!r}"
    assert "Traceback" not in err and "internal error" not in err, f"{what}: {err}"
    assert err.strip(), f"{what}: nothing on stderr"
    assert len([line for line in err.strip().splitlines() if line.startswith("journaltools:") or "Error" in line]) <= 2, err


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_bad_specs(capsys, site_a, path):
    if path in (("decode",),):
        pytest.skip("decode takes a type and files (tested with bad input in test_decode_cli)")
    for spec in BAD_SPECS:
        extra = ["x"] if path[-1] in ("rename", "add", "remove", "import", "export", "enable") else []
        args = ["--store", str(site_a), *path, spec, *extra]
        if path[-1] == "acquire":
            args = ["--store", str(site_a), "acquire", "--pool", spec, "--journal", "x", str(site_a.parent / "acq")]
        code, out, err = cli(capsys, *args)
        if code == 0:
            continue  # some specs are valid for some commands (e.g. a pool name); errors are what is checked here
        assert "Traceback" not in err and "internal error" not in err, (path, spec, err)
        assert len(err.strip().splitlines()) <= 3, (path, spec, err)


@pytest.mark.parametrize("path", LEAVES, ids=[" ".join(p) for p in LEAVES])
def test_missing_store_and_unreadable_store(capsys, tmp_path, path):
    code, out, err = cli(capsys, "--store", str(tmp_path / "nope"), *path, "rbd/x", *(["x"] if path[-1] in ("rename", "add", "remove", "import", "enable") else []))
    if path == ("decode",):
        return
    assert code != 0 and "Traceback" not in err
    broken = tmp_path / "broken"
    (broken / "rbd").mkdir(parents=True)
    (broken / "rbd" / "meta.json").write_text("{not json")
    code, out, err = cli(capsys, "--store", str(broken), *path, "rbd/x", *(["x"] if path[-1] in ("rename", "add", "remove", "import", "enable") else []))
    assert code != 0 and "Traceback" not in err and "internal error" not in err, (path, err)


def test_malformed_import_files(capsys, tmp_path):
    store = store_copy(tmp_path, "all_events")
    cases = {"garbage.rbd": b"hello", "truncated.rbd": b"# journal_id: x\n100 {\"tag_id\":1", "zero.rbd": b"0 {}",
             "badjson.rbd": b"5 {xx}}\n", "badb64.rbd": b'28 {"tag_id":1,"entry":"%%%%"}\n',
             "badevent.rbd": b'25 {"tag_id":1,"entry":"AA=="}\n', "doc.json": b'{"format": "nope"}',
             "broken.json": b"{", "empty.json": b"{}"}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        code, out, err = cli(capsys, "--store", str(store), "journal", "import", str(path), "rbd/108bbb69e2b9",
                             "--yes-i-really-mean-it")
        assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (name, err)
    code, out, err = cli(capsys, "--store", str(store), "journal", "import", str(tmp_path / "missing.rbd"),
                         "rbd/108bbb69e2b9")
    assert code != 0 and "missing.rbd" in err
    path = tmp_path / "schema.json"
    path.write_text('{"format": "journaltools-journal-export", "version": 1, "journal": {}, "clients": [], "tags": [], '
                    '"entries": [{"object": 1}], "summary": {}}')
    code, out, err = cli(capsys, "--store", str(store), "journal", "import", str(path), "rbd/108bbb69e2b9")
    assert code != 0 and "$" in err  # the schema error names the JSON path

