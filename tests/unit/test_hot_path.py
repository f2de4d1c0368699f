"""The hot path's faster forms agree with the simple ones they replace.

`hash_key` (CPython's own MD5 when present) equals the MD5 of the key as hashlib computes it;
`Accumulator.add_many` leaves the buffer exactly as `add` one by one does; the request body
holds each entry's data and key, in order, as a JSON reader reads them back; the garbage
collector tuning sets the young threshold and keeps collecting; the whole-line export path
counts the partition key in UTF-8 bytes against the record limit.
"""

from __future__ import annotations

import base64
import gc
import hashlib

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streamer import runtime
from streamer.accumulator import Accumulator, BatchLimits
from streamer.export import TOO_LARGE, Activation, Exported, Exporter, Rejected
from streamer.record import Entry, hash_key
from streamer.wire import encode_put_records
from tests.support.shards import even_map

keys = st.text(min_size=1, max_size=256)
records = st.lists(st.tuples(st.binary(max_size=300), keys), max_size=40)


@given(keys)
def test_hash_key_is_the_md5_of_the_utf8_key_read_big_endian(key: str) -> None:
    """Routing reads the same 128-bit integer as the MD5 of hashlib."""
    expected = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    assert hash_key(key) == expected
    assert Entry(b"", key, "s", 1, 0.0).hash_key == expected


def _state(acc: Accumulator) -> tuple[int, int, list[tuple[str, list[int], int]]]:
    queues = [(q.shard_id, [id(e) for e in q.entries], q.size) for q in acc._queues.values()]
    return acc.buffered_records, acc.buffered_bytes, queues


@given(records, st.sampled_from([1, 3, 8]))
def test_add_many_leaves_the_buffer_as_adding_one_by_one(
    pairs: list[tuple[bytes, str]], shards: int
) -> None:
    """Same queues, order, sizes, predicted shards and enqueue times as `add` in a loop."""
    entries = [Entry(data, key, "s", i, 0.0) for i, (data, key) in enumerate(pairs)]
    one, many = (Accumulator(even_map(shards), BatchLimits()) for _ in range(2))
    for entry in entries:
        one.add(entry, 5.0)
    snapshot = [(e.predicted_shard, e.enqueued_at) for e in entries]
    for entry in entries:
        entry.predicted_shard, entry.enqueued_at = "", 0.0
    many.add_many(entries, 5.0)
    assert _state(many) == _state(one)
    assert [(e.predicted_shard, e.enqueued_at) for e in entries] == snapshot


@given(records, st.booleans())
def test_request_body_reads_back_as_the_entries(
    pairs: list[tuple[bytes, str]], by_arn: bool
) -> None:
    """Each record's base64 data and partition key come back in order, under the stream."""
    entries = [Entry(data, key, "s", i, 0.0) for i, (data, key) in enumerate(pairs)]
    body = orjson.loads(encode_put_records("s\u00e9", entries, by_arn=by_arn))
    assert body["StreamARN" if by_arn else "StreamName"] == "s\u00e9"
    got = [(base64.b64decode(r["Data"]), r["PartitionKey"]) for r in body["Records"]]
    assert got == pairs


def test_tune_gc_raises_the_young_threshold_and_still_collects_cycles() -> None:
    """The young generation is collected less often, and a reference cycle is still freed."""
    before = gc.get_threshold()
    try:
        runtime.tune_gc(12_345)
        assert gc.get_threshold()[0] == 12_345

        class Node:
            other: object = None

        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_whole_line_path_counts_the_key_in_utf8_bytes_at_the_record_limit() -> None:
    """A line that is its own record: data + UTF-8 key bytes at the limit passes, one over fails."""
    line = (
        b'{"segmentMembership":{"ups":{"s1":{"lastQualificationTime":"2026-01-01T00:00:00Z",'
        b'"status":"realized"}}},"identityMap":{"ecid":[{"id":"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"}]}}'
    )
    size = len(line) + 8  # the key "ключ": 4 characters, 8 bytes
    assert Exporter(Activation(max_record_bytes=size)).export(line) == Exported(line, "ключ")
    over = Exporter(Activation(max_record_bytes=size - 1)).export(line)
    assert isinstance(over, Rejected)
    assert over.category == TOO_LARGE
    assert f"is {size} bytes with its partition key" in over.reason
