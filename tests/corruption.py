"""A corruption generator over the real fixture journals (hypothesis strategies), for repair and fuzz tests."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from hypothesis import strategies as st

from journaltools.format.journal_entry import encode_entry
from journaltools.store.memory import MemoryStore

from .journal_factory import load_fixture_store, write_event

JOURNALS = {"small_objects": "10abe81d9984", "all_events": "108bbb69e2b9"}
FAULTS = ["flip", "run", "truncate", "cut_entry", "duplicate", "delete", "extra_below", "extra_above",
          "stray", "omap_value", "omap_key", "geometry"]
#: faults that move valid entries without damaging any (repair must put them back in replay order)
MOVES = ["swap", "copy"]
#: a frame whose length runs past its object: the frames after it are intact (repair must keep them)
LENGTHS = ["bad_length"]


@dataclass
class Damage:
    store: MemoryStore
    journal_id: str
    fault: str
    object: str | None
    detail: str


@st.composite
def damaged_journals(draw, faults=FAULTS):
    name = draw(st.sampled_from(sorted(JOURNALS)))
    jid = JOURNALS[name]
    store = load_fixture_store(name)
    pool = store.pool("rbd")
    fault = draw(st.sampled_from(faults))
    objects = list(pool.list_objects(f"journal_data.2.{jid}."))
    target = draw(st.sampled_from(objects))
    data = bytearray(pool.read(target))
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    header = f"journal.{jid}"
    detail = ""
    if fault == "flip" and data:
        data[at] ^= 1 << draw(st.integers(0, 7))
        pool.write_full(target, bytes(data))
        detail = f"bit flip at byte {at}"
    elif fault == "run":
        run = draw(st.binary(min_size=1, max_size=64))
        data[at:at + len(run)] = run
        pool.write_full(target, bytes(data))
        detail = f"{len(run)} bytes overwritten at {at}"
    elif fault == "truncate":
        pool.write_full(target, bytes(data[:at]))
        detail = f"truncated to {at} bytes"
    elif fault == "cut_entry":
        pool.write_full(target, bytes(data[: max(len(data) - draw(st.integers(1, 40)), 0)]))
        detail = "torn tail"
    elif fault == "duplicate":
        pool.write_full(target, bytes(data + data[: min(len(data), 600)]))
        detail = "entries appended twice"
    elif fault == "delete":
        pool.remove(target)
        detail = "object deleted"
    elif fault in ("extra_below", "extra_above", "stray"):
        number = int(target.rsplit(".", 1)[1])
        width = int.from_bytes(pool.omap(header)["splay_width"], "little")
        extra = {"extra_below": number % width if number >= width * 7 else None,
                 "extra_above": number + 50 * width, "stray": None}[fault]
        name = f"journal_data.2.{jid}.{extra}" if extra is not None else f"journal_data.2.{jid}.x{at}"
        if not pool.exists(name):
            pool.write_full(name, encode_entry(0, extra or 0, write_event(at)))
        target, detail = name, "extra object"
    elif fault == "omap_value":
        omap = pool.omap(header)
        key = draw(st.sampled_from(sorted(omap)))
        pool.omap_set(header, {key: draw(st.binary(max_size=12))})
        target, detail = header, f"omap value {key} replaced"
    elif fault == "omap_key":
        pool.omap_set(header, {draw(st.sampled_from(["tag_zz", "bogus", "client_ghost", "tag_00000000000000ff"])): b"\x01"})
        target, detail = header, "bad omap key"
    elif fault == "swap":  # two objects' contents exchanged (between splay positions or object sets)
        other = draw(st.sampled_from([o for o in objects if o != target] or [target]))
        other_data = pool.read(other)
        pool.write_full(other, bytes(data))
        pool.write_full(target, other_data)
        detail = f"swapped with {other}"
    elif fault == "copy":  # one entry frame copied into another object
        from journaltools.journal.scan import Frame, scan_object

        frames = [f for f in scan_object(bytes(data), target) if isinstance(f, Frame)]
        if frames:
            frame = draw(st.sampled_from(frames))
            other = draw(st.sampled_from(objects))
            pool.write_full(other, pool.read(other) + bytes(data[frame.offset:frame.offset + frame.size]))
            detail = f"entry tag {frame.tag_tid} tid {frame.entry_tid} copied into {other}"
            target = other
    elif fault == "bad_length":  # one frame's length field runs past the object (e.g. 0xFFFFFFFF)
        from journaltools.journal.scan import Frame, scan_object

        frames = [f for f in scan_object(bytes(data), target) if isinstance(f, Frame)]
        if frames:
            frame = draw(st.sampled_from(frames))
            length = draw(st.sampled_from([0xFFFFFFFF, len(data) - frame.offset, len(data), 1 << 31]))
            data[frame.offset + 25:frame.offset + 29] = length.to_bytes(4, "little")
            pool.write_full(target, bytes(data))
            detail = f"length of tag {frame.tag_tid} tid {frame.entry_tid} (byte {frame.offset}) set to {length:#x}"
    elif fault == "geometry":
        pool.omap_set(header, {"splay_width": bytes([draw(st.integers(0, 9))])})
        target, detail = header, "wrong splay width"
    return Damage(store, jid, fault, target, detail)


def dump_store(store: MemoryStore) -> str:
    """A stable text form of a store (for comparing before/after)."""
    pool = store.pool("rbd")
    return json.dumps({o: [base64.b64encode(pool.read(o)).decode(), {k: base64.b64encode(v).decode()
                                                                     for k, v in pool.omap(o).items()}]
                       for o in pool.list_objects()}, sort_keys=True)
