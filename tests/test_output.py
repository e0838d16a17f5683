"""Ceph JSONFormatter compatibility of journaltools.output, against bytes the real rbd 16.2 printed.

The literals below were captured from ``rbd image-meta list`` / ``rbd journal status``
on a sandbox cluster (metadata key ``k"e/y``, value ``v\\x01\\x7f\\b\\f\\ré``; a client
registered with id ``pe"er\\\\\\t\\x01\\x7fé/☃``).
"""

from __future__ import annotations

import json
import sys

from hypothesis import given
from hypothesis import strategies as st

from journaltools.output import Pairs, ceph_json, echo, quote

META_VALUE = "v\x01\x7f\b\x0c\ré"
RBD_META_COMPACT = b'{"k"e/y":"v\\u0001\\u007f\\u0008\\u000c\\u000d\xc3\xa9"}\n'
RBD_META_PRETTY = b'{\n    "k"e/y": "v\\u0001\\u007f\\u0008\\u000c\\u000d\xc3\xa9"\n}\n'
RBD_CLIENT_ID = b'"pe\\"er\\\\\\t\\u0001\\u007f\xc3\xa9/\xe2\x98\x83"'


def test_values_are_escaped_and_keys_are_not_as_rbd_prints_them():
    doc = {'k"e/y': META_VALUE}
    assert ceph_json(doc).encode() == RBD_META_COMPACT
    assert ceph_json(doc, pretty=True).encode() == RBD_META_PRETTY
    assert ceph_json(Pairs(doc.items())).encode() == RBD_META_COMPACT  # the slow path agrees


def test_client_id_escaping_equals_rbd_journal_status():
    assert quote('pe"er\\\t\x01\x7fé/\u2603').encode() == RBD_CLIENT_ID
    assert ceph_json({"id": 'pe"er\\\t\x01\x7fé/\u2603'}).encode() == b'{"id":' + RBD_CLIENT_ID + b"}\n"


def test_empty_containers_and_nesting_as_rbd_info_prints_them():
    doc = {"features": ["exclusive-lock", "journaling"], "op_features": [], "flags": [], "mirroring": {},
           "n": 1, "ok": True}
    assert ceph_json(doc) == '{"features":["exclusive-lock","journaling"],"op_features":[],"flags":[],"mirroring":{},"n":1,"ok":true}\n'
    assert ceph_json(doc, pretty=True) == (
        '{\n    "features": [\n        "exclusive-lock",\n        "journaling"\n    ],\n    "op_features": [],\n'
        '    "flags": [],\n    "mirroring": {},\n    "n": 1,\n    "ok": true\n}\n')


def test_repeated_keys_survive():
    assert ceph_json(Pairs([("op_tid", 1), ("op_tid", 1)])) == '{"op_tid":1,"op_tid":1}\n'


def test_non_utf8_bytes_are_written_back_raw(capsysbinary):
    text = b"bad\xff\xfe".decode("utf-8", "surrogateescape")
    echo(ceph_json({"id": text}))
    assert capsysbinary.readouterr().out == b'{"id":"bad\xff\xfe"}\n'


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), kids, max_size=4),
    max_leaves=20))
def test_fast_and_slow_paths_agree_and_parse_back(value):
    fast = ceph_json(value)
    slow = ceph_json(Pairs([("v", value)]))
    assert slow == '{"v":' + fast[:-1] + "}\n"
    assert json.loads(fast) == value
    assert json.loads(ceph_json(value, pretty=True)) == value


def test_progress_is_silent_in_pipes_and_draws_on_a_terminal_stderr(capsys, monkeypatch):
    from journaltools.output import progress

    with progress(100, "walk") as advance:
        advance(50)
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress(100, "walk") as advance:
        advance(100)
    out, err = capsys.readouterr()
    assert out == "" and "walk" in err
