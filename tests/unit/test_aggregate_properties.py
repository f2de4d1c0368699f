"""Hypothesis invariants of aggregation at the builder, under random keys, sizes, limits and
failures (failed Kinesis records requeued whole, as the pipeline does):
- every user record is delivered exactly once, inside exactly one delivered Kinesis record;
- no Kinesis record is over the target unless it is one plain record, no call is over the
  request limits, and every user record of an aggregate predicts onto the aggregate's shard;
- in strict mode a key is in at most one Kinesis record of a call, and each key's user records
  are delivered in the order they were added, however records fail and are resent."""

from __future__ import annotations

import random
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.accumulator import Accumulator, BatchLimits
from streamer.aggregate import Aggregate, keys_of
from streamer.record import Entry
from tests.support.shards import even_map, make_entry

MAP2 = even_map(2)
KEYS = [f"k{i}" for i in range(12)]

records = st.lists(
    st.tuples(st.integers(0, len(KEYS) - 1), st.integers(4, 600)), min_size=1, max_size=300
)


@settings(max_examples=60, deadline=None)
@given(
    records,
    st.sampled_from([1_000, 2_500, 10_000]),
    st.sampled_from([2, 5, 500]),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_aggregated_records_arrive_once_in_key_order(
    items: list[tuple[int, int]], target: int, max_records: int, strict: bool, seed: int
) -> None:
    """Random input, random failures: each user record once, limits held, key order kept."""
    rng = random.Random(seed)
    limits = BatchLimits(
        max_records=max_records,
        max_bytes=20_000,
        linger_s=0.0,
        one_per_key=strict,
        aggregation_bytes=target,
    )
    acc = Accumulator(MAP2, limits)
    entries = [make_entry(KEYS[k], size) for k, size in items]
    for entry in entries:
        acc.add(entry, 0.0)
    acc.flush()
    delivered: list[Entry] = []
    now = 0.0
    for _ in range(10_000):
        if acc.is_empty():
            break
        now += 1.0
        for batch in acc.drain(now, 4):
            assert len(batch.entries) <= max_records
            assert batch.size <= 20_000 or len(batch.entries) == 1
            assert batch.size == sum(r.size for r in batch.entries)
            seen: set[str] = set()
            for record in batch.entries:
                keys = set(keys_of(record))
                if strict:
                    assert not keys & seen, "a key in two Kinesis records of one call"
                seen |= keys
                if type(record) is Aggregate:
                    assert record.size <= target
                    shards = {MAP2.shard_for(m.hash_key) for m in record.members}
                    assert shards == {MAP2.shard_for(int(record.explicit_hash_key or 0))}
            failed = [r for r in batch.entries if rng.random() < 0.3]
            acc.release(batch)
            for record in batch.entries:
                if not any(record is f for f in failed):
                    delivered.extend(record.members if type(record) is Aggregate else [record])
            if failed:
                acc.requeue(failed, retry_at=now + rng.choice([0.0, 1.0, 2.0]))
    assert acc.is_empty()
    assert sorted(map(id, delivered)) == sorted(map(id, entries)), "each user record once"
    if strict:
        by_key: dict[str, list[int]] = defaultdict(list)
        order = {id(e): i for i, e in enumerate(entries)}
        for entry in delivered:
            by_key[entry.partition_key].append(order[id(entry)])
        assert all(seq == sorted(seq) for seq in by_key.values())
