"""Ceph's encoding corpus (ceph-dencoder instances from 15.2, 16.2 and 18.2): decode all, re-encode identically."""

from __future__ import annotations

from pathlib import Path

import pytest

from journaltools.format import all_types, lookup
from journaltools.format.jsonify import from_json, to_json

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
REGISTERED = {t.name for t in all_types()}
BLOBS = sorted(CORPUS.glob("*/*/*"))
# every type in the corpus must be declared
PENDING = {p.parent.name for p in BLOBS} - REGISTERED


def test_corpus_is_present():
    assert len(BLOBS) > 250


@pytest.mark.parametrize("blob", [b for b in BLOBS if b.parent.name in REGISTERED], ids=lambda p: f"{p.parts[-3]}/{p.parts[-2]}/{p.name[:8]}")
def test_blob_round_trips_byte_exactly(blob):
    record = lookup(blob.parent.name)
    data = blob.read_bytes()
    value = record.decode(data)  # decode() refuses trailing bytes: every byte is consumed
    assert record.encode(value) == data
    assert record.encode(from_json(record.construct, to_json(record.construct, value))) == data


def test_every_corpus_type_is_declared():
    assert not PENDING, PENDING
