"""journaltools decode: dencoder-style decoding and the byte-exact round-trip check."""

from __future__ import annotations

import json

from .cli_helpers import cli
from .journal_factory import FIXTURES

CORPUS = FIXTURES / "corpus"


def test_check_roundtrip_passes_on_the_corpus(capsys):
    blobs = sorted(str(p) for p in CORPUS.glob("*/librbd::journal::EventEntry/*"))
    code, out, err = cli(capsys, "decode", "--check-roundtrip", "librbd::journal::EventEntry", *blobs)
    assert code == 0, err
    assert f"{len(blobs)} of {len(blobs)} blobs" in err


def test_check_roundtrip_names_the_failing_file_and_offset(capsys, tmp_path):
    good = next(CORPUS.glob("18.2.0/cls::journal::Tag/*")).read_bytes()
    bad = tmp_path / "bad"
    bad.write_bytes(good + b"\x00")
    code, out, err = cli(capsys, "decode", "--check-roundtrip", "cls::journal::Tag", str(bad))
    assert code == 1 and str(bad) in err and "trailing bytes" in err


def test_json_and_plain_output(capsys):
    blob = sorted(CORPUS.glob("18.2.0/librbd::journal::TagData/*"))[0]
    code, out, _ = cli(capsys, "decode", "librbd::journal::TagData", str(blob))
    doc = json.loads(out)
    assert code == 0 and doc["type"] == "librbd::journal::TagData" and "predecessor" in doc["value"]
    code, out, _ = cli(capsys, "decode", "--format", "plain", "librbd::journal::TagData", str(blob))
    assert '"commit_valid": ' in out


def test_list_and_bad_input(capsys, tmp_path):
    code, out, _ = cli(capsys, "decode", "--list")
    assert code == 0 and "librbd::journal::EventEntry" in out
    garbage = tmp_path / "g"
    garbage.write_bytes(b"\xff" * 7)
    for args in (["decode", "no::such", str(garbage)], ["decode", "cls::journal::Tag", str(garbage)],
                 ["decode", "cls::journal::Tag", str(tmp_path / "missing")]):
        code, out, err = cli(capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
