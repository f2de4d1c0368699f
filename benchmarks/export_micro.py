"""Micro-benchmark of the export transform: microseconds of CPU per line, old path against new.

What it does: times `Exporter.export` (parse, validate, select, encode, size check) on one
realistic ~610-byte profile event (the destination documentation's seed record plus an `_id`, a
name and a phone number) for a few activations, and the same work done the way the exporter did
it before msgspec (orjson: parse the whole line, validate in Python, re-encode everything), kept
below as `old_export`. It checks first that both give the same record. Time is CPU time of this
process (`time.process_time`), best of several repeats, so other load on the machine matters less.

What it leaves out: the rest of the pipeline (batching, base64, signing, sending) and reading
lines; see BENCHMARKS.md for whole-process numbers.

Run: `.venv/bin/python -m benchmarks.export_micro` (`--number N --repeat R` to change the loops).
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from streamer.export import (
    FILTERED,
    STATUSES,
    Activation,
    Exported,
    Exporter,
    Segment,
    stable_partition_key,
)
from streamer.selection import path_tree

SEG_A = "7841ba61-23c1-4bb3-a495-00d3g5fe1e93"
SEG_B = "59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae"
EVENT: dict[str, Any] = {
    "_id": "e000000042",
    "person": {
        "email": "yourstruly@adobe.con",
        "name": {"firstName": "Ada", "lastName": "Lovelace"},
    },
    "mobilePhone": {"number": "+31612345678"},
    "segmentMembership": {
        "ups": {
            SEG_A: {"lastQualificationTime": "2020-05-25T21:24:39Z", "status": "exited"},
            SEG_B: {"lastQualificationTime": "2020-05-25T23:37:33Z", "status": "existing"},
        }
    },
    "identityMap": {
        "ecid": [
            {"id": "14575006536349286404619648085736425115"},
            {"id": "66478888669296734530114754794777368480"},
        ],
        "email_lc_sha256": [
            {"id": "655332b5fa2aea4498bf7a290cff017cb4"},
            {"id": "66baf76ef9de8b42df8903f00e0e3dc0b7"},
        ],
    },
}
LINE = orjson.dumps(EVENT)

ACTIVATIONS: dict[str, Activation] = {
    "all attributes, all segments": Activation(),
    "selected attributes": Activation(attributes=("person.email", "mobilePhone")),
    "one mapped segment, named": Activation(
        segments={SEG_B: Segment(SEG_B, name="Gold")}, include_segment_names=True
    ),
    "selected + mapped": Activation(segments={SEG_B: Segment(SEG_B)}, attributes=("person.email",)),
}


# -- the previous export path (orjson), kept for comparison; happy path only ------------------


def _old_select(obj: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key not in obj:
            continue
        value = obj[key]
        if sub is None:
            out[key] = value
        elif isinstance(value, dict):
            picked = _old_select(value, sub)
            if picked:
                out[key] = picked
    return out


def old_exporter(activation: Activation) -> Callable[[bytes], Any]:
    """The export as it was: orjson parses everything, Python validates, orjson re-encodes."""
    tree = None if activation.attributes is None else path_tree(activation.attributes)
    mapped = None if activation.segments is None else frozenset(activation.segments)
    decorations: dict[str, dict[str, Any]] = {}
    for seg in (activation.segments or {}).values():
        if activation.include_segment_names and seg.name is not None:
            decorations[seg.id] = {"name": seg.name}

    def export(line: bytes) -> Any:
        profile = orjson.loads(line)
        if type(profile) is not dict:
            return None
        identity_map: dict[str, Any] = profile["identityMap"]
        first: str | None = None
        preferred: str | None = None
        for namespace, ids in identity_map.items():
            if type(ids) is not list:
                return None
            for entry in ids:
                ident = entry.get("id") if type(entry) is dict else None
                if type(ident) is not str or not ident:
                    return None
            if ids:
                if first is None:
                    first = ids[0]["id"]
                if preferred is None and namespace == activation.partition_key_namespace:
                    preferred = ids[0]["id"]
        chosen = preferred if preferred is not None else first
        if chosen is None:
            return None
        key = stable_partition_key(chosen)
        segments: dict[str, Any] = {}
        for seg_id, entry in profile["segmentMembership"]["ups"].items():
            status, when = entry.get("status"), entry.get("lastQualificationTime")
            if type(status) is not str or status not in STATUSES or type(when) is not str:
                return None
            if mapped is not None and seg_id not in mapped:
                continue
            extra = decorations.get(seg_id)
            if extra is None and len(entry) == 2:
                segments[seg_id] = entry
            else:
                segments[seg_id] = {
                    "lastQualificationTime": when,
                    "status": status,
                    **(extra or {}),
                }
        if not segments:
            return FILTERED
        if tree is None:
            record = profile.copy()
            record["segmentMembership"] = {"ups": segments}
        else:
            record = _old_select(profile, tree)
            record.pop("segmentMembership", None)
            record.pop("identityMap", None)
            record["segmentMembership"] = {"ups": segments}
            record["identityMap"] = identity_map
        data = orjson.dumps(record)
        if len(data) + len(key.encode()) > activation.max_record_bytes:
            return None
        return Exported(data, key)

    return export


def per_line_us(export: Callable[[bytes], Any], number: int, repeat: int) -> float:
    def run() -> Any:
        return export(LINE)

    best = min(timeit.repeat(run, number=number, repeat=repeat, timer=time.process_time))
    return best / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=15, help="timings; the best is kept")
    args = parser.parse_args(argv)
    print(f"event: {len(LINE)} bytes; CPU µs per line, best of {args.repeat} x {args.number}")
    print(f"{'activation':32} {'old (orjson)':>13} {'new (msgspec)':>14} {'new/old':>8}")
    for name, activation in ACTIVATIONS.items():
        old, new = old_exporter(activation), Exporter(activation).export
        old_result, new_result = old(LINE), new(LINE)
        assert isinstance(old_result, Exported)
        assert isinstance(new_result, Exported)
        assert orjson.loads(old_result.data) == orjson.loads(new_result.data), name
        assert old_result.partition_key == new_result.partition_key, name
        old_us = per_line_us(old, args.number, args.repeat)
        new_us = per_line_us(new, args.number, args.repeat)
        print(f"{name:32} {old_us:13.2f} {new_us:14.2f} {new_us / old_us:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
