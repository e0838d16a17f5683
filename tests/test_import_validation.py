"""``journal import`` refuses what librbd could not replay as written, before the first write.

Each hostile input (issue 12 item 5, issue 13 items 7, 11, 13) must end in one line naming
the record and field, a non-zero exit that is not an internal error (70), nothing
written, and ``--dry-run`` must refuse it the same way.  An interrupted import, rerun,
must reach exactly the state of an uninterrupted one (no duplicated prefix).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from journaltools.format import lookup

from .journal_factory import FIXTURES

JID = "10abe81d9984"
RBD_EXPORT = FIXTURES / "golden" / "small_objects" / "journal-export.rbd"
EVENT = lookup("librbd::journal::EventEntry")


def journaltools(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "journaltools", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the store readers see (not locks, not the temporary files a kill leaves behind)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "/locks/" not in f"/{p.relative_to(root)}" and not p.name.startswith((".lock", ".tmp-"))}


@pytest.fixture
def store(tmp_path):
    """small_objects after a reset: tag 0 only, no entries (an import of its export would succeed)."""
    dest = tmp_path / "store"
    shutil.copytree(FIXTURES / "stores" / "small_objects", dest)
    assert journaltools("--store", dest, "journal", "reset", f"rbd/{JID}", "--no-backup",
                        "--yes-i-really-mean-it").returncode == 0
    return dest


def rbd_records() -> tuple[bytes, list[dict]]:
    lines = RBD_EXPORT.read_bytes().split(b"\n")
    return lines[0], [json.loads(line.split(b" ", 1)[1]) for line in lines[1:] if line]


def rbd_file(records: list[dict], head: bytes = b"# journal_id: x") -> bytes:
    out = [head]
    for record in records:
        text = json.dumps(record, separators=(",", ":")).encode()
        out.append(b"%d %s" % (len(text), text))
    return b"\n".join(out) + b"\n"


def with_event(record: dict, change) -> dict:
    value = EVENT.decode(base64.b64decode(record["entry"]))
    change(value)
    return {**record, "entry": base64.b64encode(EVENT.encode(value)).decode()}


def _rbd_case(change):
    def build(_json_doc):
        _, records = rbd_records()
        return rbd_file(change(copy.deepcopy(records)))
    return build


def _set(records, i, key, value):
    records[i][key] = value
    return records


def _json_case(change):
    def build(doc):
        doc = copy.deepcopy(doc)
        change(doc)
        return json.dumps(doc).encode()
    return build


def _length_mismatch(v):
    v["event"]["payload"]["length"] += 1


def _unknown_type(v):
    v["event"]["event_type"] = 0xFFFFFFFF


def _aio_type_999(doc):
    doc["entries"][1]["event"]["event"]["event_type"] = 999  # AioWrite's fields kept beside it


CASES = {
    "empty file": (lambda doc: b"", r"holds no entries"),
    "json array": (lambda doc: b"[]", r"record 1 \(byte 0: b'\['"),
    "garbage": (lambda doc: b"\x00\x01garbage\n", r"record 1 \(byte 0"),
    "aiowrite length != data": (_rbd_case(lambda r: [*r[:2], with_event(r[2], _length_mismatch), *r[3:]]),
                                r"entry 3 .*AioWrite field length is \d+ but its data holds"),
    "unknown inner event type": (_rbd_case(lambda r: [*r[:2], with_event(r[2], _unknown_type), *r[3:]]),
                                 r"entry 3 .*field event_type: 4294967295 is not an event type librbd knows"),
    "changed top-level type (rbd)": (_rbd_case(lambda r: _set(r, 3, "type", 0)),
                                     r"entry 4 .*field type says 0 but the entry holds a AioWrite"),
    "changed top-level event_type (json)": (_json_case(lambda d: d["entries"][1].update(event_type="AioDiscard")),
                                            r"entry 2 .*field event_type says 'AioDiscard'"),
    "event type 999 with AioWrite fields": (_json_case(_aio_type_999),
                                            r"entry 2 .*field event_type: 999 is not an event type librbd knows"),
    "tag without tag record (json)": (_json_case(lambda d: d.update(tags=[t for t in d["tags"] if t["tid"] != 2])),
                                      r"entry 1: field tag_tid: tag 2 has no tag record"),
    "tag without tag record (rbd)": (_rbd_case(lambda r: _set(r, 0, "tag_id", 7)),
                                     r"entry 1: field tag_tid: tag 7 has no tag record"),
    "negative tag_id": (_rbd_case(lambda r: _set(r, 3, "tag_id", -1)), r"entry 4\): field tag_id: -1 is out of range"),
    "negative offset (json)": (_json_case(lambda d: d["entries"][1]["event"]["event"]["payload"].update(offset=-5)),
                               r"entry 2 \(\$\.entries\[1\]\.event at event -> payload -> offset\)"),
    "tag_tid 1e19 (json)": (_json_case(lambda d: d["entries"][1].update(tag_tid=1e19)),
                            r"\$\.entries\[1\]\.tag_tid: 1e\+19 is not an integer"),
    "tag_id -1 (json)": (_json_case(lambda d: d["entries"][1].update(tag_tid=-1)), r"\$\.entries\[1\]\.tag_tid"),
    "bad base64 in tags[0].data": (_json_case(lambda d: d["tags"][0].update(data="AAA")),
                                   r"\$\.tags\[0\]\.data: not valid base64"),
    "size 99999999999999999999": (lambda doc: b"99999999999999999999 {}\n",
                                  r"record 1: size 99999999999999999999 bytes is larger than any entry"),
    "size 2^62": (lambda doc: b"%d {}\n" % (1 << 62), r"record 1: size 4611686018427387904 bytes is larger"),
}


@pytest.fixture(scope="module")
def json_doc(tmp_path_factory):
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(FIXTURES / "stores" / "small_objects", root / "store")
    out = root / "export.json"
    assert journaltools("--store", root / "store", "journal", "export", f"rbd/{JID}", out).returncode == 0
    return json.loads(out.read_bytes())


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_refuses_before_writing_and_dry_run_predicts_it(store, tmp_path, json_doc, case):
    build, pattern = CASES[case]
    source = tmp_path / "input"
    source.write_bytes(build(json_doc))
    before = snapshot(store)
    for extra in ((), ("--dry-run",)):
        result = journaltools("--store", store, "journal", "import", source, f"rbd/{JID}", "--yes-i-really-mean-it",
                              *extra)
        assert result.returncode not in (0, 70), (extra, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "internal error" not in lines[0] and "Traceback" not in result.stderr, lines
        assert re.search(pattern, lines[0]), lines[0]
        assert snapshot(store) == before, "something was written"


def _new_time(value):
    value["metadata"]["timestamp"] = {"sec": 1, "nsec": 2}


def test_dry_run_into_a_journal_with_entries_says_what_the_real_run_says(tmp_path):
    """The dry run refuses without --yes-i-really-mean-it exactly as the real run does."""
    store = tmp_path / "full"
    shutil.copytree(FIXTURES / "stores" / "small_objects", store)
    other = tmp_path / "other.rbd"
    _, records = rbd_records()
    other.write_bytes(rbd_file([with_event(r, _new_time) for r in records[:3]]))
    real = journaltools("--store", store, "journal", "import", other, f"rbd/{JID}")
    dry = journaltools("--store", store, "journal", "import", other, f"rbd/{JID}", "--dry-run")
    assert real.returncode == dry.returncode != 0
    assert real.stderr == dry.stderr and "--yes-i-really-mean-it" in real.stderr


def test_oversized_line_is_refused_before_it_is_read(store, tmp_path):
    """A 200 MB record (a sparse file: reading it would cost 200 MB and more) is refused from its size field."""
    source = tmp_path / "big.rbd"
    with open(source, "wb") as fh:
        fh.write(b"200000000 ")
        fh.truncate(10 + 200_000_000)
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stderr)")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "journaltools", "--store", str(store),
                          "journal", "import", str(source), f"rbd/{JID}", "--yes-i-really-mean-it"],
                         capture_output=True, text=True, timeout=120).stdout.splitlines()
    code, peak_kib = map(int, out[0].split())
    assert code != 0 and "record 1: size 200000000 bytes is larger than any entry" in out[1]
    assert peak_kib < 150_000, f"peak RSS {peak_kib} KiB"


# -- an interrupted import, rerun --------------------------------------------------------------
def _fsyncs(store: Path, source: Path) -> int:
    log = store.parent / "strace.log"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync", "-o", str(log), sys.executable, "-m", "journaltools",
                    "--store", str(store), "journal", "import", str(source), f"rbd/{JID}"],
                   capture_output=True, timeout=300, check=True)
    return sum(1 for line in log.read_text().splitlines() if "fsync(" in line)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_rerun_after_a_kill_at_any_fsync_equals_an_uninterrupted_import(tmp_path, json_doc):
    source = tmp_path / "export.json"
    source.write_text(json.dumps(json_doc))

    def reset_store(name: str) -> Path:
        dest = tmp_path / name / "store"
        shutil.copytree(FIXTURES / "stores" / "small_objects", dest)
        assert journaltools("--store", dest, "journal", "reset", f"rbd/{JID}", "--no-backup",
                            "--yes-i-really-mean-it").returncode == 0
        return dest

    reference = reset_store("reference")
    total = _fsyncs(reference, source)
    expected = snapshot(reference)
    assert total > 40
    for n in sorted({1, 2, 3, total // 3, total // 2, total - 2, total - 1, *range(5, total, max(1, total // 8))}):
        store = reset_store(f"kill{n}")
        killed = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"inject=fsync:signal=KILL:when={n}",
                                 sys.executable, "-m", "journaltools", "--store", str(store), "journal", "import",
                                 str(source), f"rbd/{JID}"], capture_output=True, timeout=300)
        assert killed.returncode != 0, f"not killed at fsync {n}"
        rerun = journaltools("--store", store, "journal", "import", source, f"rbd/{JID}")
        assert rerun.returncode == 0, (n, rerun.stderr)
        assert snapshot(store) == expected, f"killed at fsync {n} of {total}: the rerun differs from one whole run"


def test_a_large_record_is_decoded_chunk_by_chunk_to_the_same_entry():
    """rbd's record shape is read without holding its text; any other shape still parses, to the same entry."""
    import io
    import tracemalloc

    from journaltools.export import read_rbd_export
    from journaltools.format.librbd_journal import AIO_WRITE, make_event

    size = 3 << 20
    payload = make_event(AIO_WRITE, timestamp=(1, 2), offset=0, length=size, data=bytes(range(256)) * (size // 256))
    entry = base64.b64encode(payload).decode()
    standard = json.dumps({"tag_id": 5, "commit_tid": 9, "type": 1, "entry": entry}, separators=(",", ":")).encode()
    reordered = json.dumps({"entry": entry, "type": 1, "commit_tid": 9, "tag_id": 5}).encode()
    results = []
    for text in (standard, reordered):
        data = b"# journal_id: x\n%d %s\n" % (len(text), text)
        tracemalloc.start()
        (record,) = read_rbd_export(io.BytesIO(data), max_payload=16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        results.append((record.tag_tid, record.commit_tid, record.declared_type, record.payload, peak))
    (tag, commit, kind, got, streamed_peak), (*other, generic_peak) = results
    assert (tag, commit, kind, got) == (5, 9, 1, payload) and other == [5, 9, 1, payload]
    assert streamed_peak < 3 * len(payload) < generic_peak, (streamed_peak, generic_peak)
    broken = standard.replace(b'"entry":"B', b'"entry":"!', 1)
    with pytest.raises(Exception, match="field entry is not valid base64"):
        list(read_rbd_export(io.BytesIO(b"%d %s\n" % (len(broken), broken)), max_payload=16 << 20))
