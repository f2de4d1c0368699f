"""Aggregation at the batch builder: user records of one shard packed into KPL aggregates within
the target size, routed by an explicit hash key inside the shard, resent whole after a failure,
re-packed after resharding, and per-key order kept inside and across aggregates."""

from __future__ import annotations

import base64
import itertools

import pytest
from aws_kinesis_agg.deaggregator import deaggregate_records

from streamer import config, kpl
from streamer.accumulator import Accumulator, BatchLimits
from streamer.aggregate import Aggregate, expand, unpack, user_count
from streamer.batcher import Batch
from streamer.errors import ConfigError
from streamer.limits import HASH_KEY_MAX
from streamer.ratelimit import RateSettings
from streamer.record import Entry
from streamer.shard_map import Shard, ShardMap
from tests.support.shards import even_map, keys_by_shard, make_entry

MAP4 = even_map(4)
S0, S1, S2, S3 = MAP4.shard_ids
TARGET = 2_000
KEYS = {shard: itertools.cycle(keys) for shard, keys in keys_by_shard(MAP4, 600).items()}


def accumulator(shard_map: ShardMap = MAP4, *, strict: bool = True, **extra: int) -> Accumulator:
    limits = BatchLimits(linger_s=0.0, one_per_key=strict, aggregation_bytes=TARGET, **extra)
    return Accumulator(shard_map, limits)


def fill(acc: Accumulator, shard_id: str, count: int, size: int = 100) -> list[Entry]:
    entries = [make_entry(next(KEYS[shard_id]), size) for _ in range(count)]
    for entry in entries:
        acc.add(entry, 0.0)
    return entries


def user_records(record: Entry) -> list[tuple[str, bytes]]:
    """What a consumer reads out of one Kinesis record (aggregated or not)."""
    raw = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "sequenceNumber": "1",
            "approximateArrivalTimestamp": 0,
            "partitionKey": record.partition_key,
            "data": base64.b64encode(record.data),
        }
    }
    return [
        (r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]))
        for r in deaggregate_records([raw])
    ]


def drain_all(acc: Accumulator, now: float = 0.0) -> list[Batch]:
    acc.flush()
    out: list[Batch] = []
    while not acc.is_empty():
        batches = acc.drain(now, 4)
        assert batches
        for batch in batches:
            out.append(batch)
            acc.release(batch)
    return out


def test_records_of_a_shard_are_packed_up_to_the_target() -> None:
    """100 records of 100 bytes become aggregates of at most the target, in order, each
    holding only its shard's records and routed by a hash key inside that shard."""
    acc = accumulator()
    entries = fill(acc, S1, 100)
    batches = drain_all(acc)
    records = [r for b in batches for r in b.entries]
    assert all(type(r) is Aggregate for r in records)
    assert all(r.size <= TARGET for r in records)
    assert len(records) == -(-100 * 106 // (TARGET - 30))  # about 18 records per aggregate
    shard = next(s for s in MAP4.shards if s.shard_id == S1)
    for record in records:
        assert record.explicit_hash_key is not None
        assert shard.start <= int(record.explicit_hash_key) <= shard.end
    read = [pair for r in records for pair in user_records(r)]
    assert read == [(e.partition_key, e.data) for e in entries]
    assert list(expand(records)) == entries
    assert user_count(records) == 100


def test_size_bookkeeping_is_exact() -> None:
    """An aggregate's size is its data plus partition key, and within the target."""
    acc = accumulator()
    fill(acc, S0, 50, size=90)
    for batch in drain_all(acc):
        assert batch.size == sum(r.size for r in batch.entries)
        for record in batch.entries:
            assert record.size == len(record.data) + len(record.partition_key.encode())
            assert record.size <= TARGET
    assert acc.buffered_bytes == 0
    assert acc.buffered_records == 0


def test_a_lone_record_goes_out_plain() -> None:
    """One record is not wrapped: consumers read it as it is."""
    acc = accumulator()
    (entry,) = fill(acc, S2, 1)
    (batch,) = drain_all(acc)
    assert batch.entries == [entry]
    assert entry.explicit_hash_key is None


def test_a_record_over_the_target_goes_out_alone() -> None:
    """A record bigger than the target is sent plain; its neighbours are still packed."""
    acc = accumulator()
    small = fill(acc, S0, 3)
    big = fill(acc, S0, 1, size=TARGET + 500)
    more = fill(acc, S0, 3)
    records = [r for b in drain_all(acc) for r in b.entries]
    assert [type(r) is Aggregate for r in records] == [True, False, True]
    assert records[1] is big[0]
    assert list(expand(records)) == small + big + more


def test_a_failed_aggregate_is_resent_whole_and_holds_back_its_keys() -> None:
    """Requeued at the head, the same aggregate goes out again after its backoff; records of its
    keys behind it wait (until the call after it), records of other keys may pass."""
    acc = accumulator()
    entries = fill(acc, S0, 10)
    (batch,) = acc.drain(0.0, 4)
    (aggregate,) = batch.entries
    acc.release(batch)
    same_key = make_entry(entries[3].partition_key)
    other = fill(acc, S0, 1)[0]
    acc.add(same_key, 0.0)
    acc.requeue([aggregate], retry_at=5.0)
    (first,) = acc.drain(1.0, 4)
    assert first.entries == [other]  # another key passes; the failed aggregate's key waits
    acc.release(first)
    assert acc.drain(1.0, 4) == []
    (again,) = acc.drain(5.0, 4)
    assert again.entries == [aggregate]  # whole, as it was; its key's next record waits
    acc.release(again)
    (last,) = acc.drain(5.0, 4)
    assert last.entries == [same_key]
    acc.release(last)
    assert acc.is_empty()
    assert acc.buffered_bytes == 0


def test_strict_order_puts_a_key_in_one_record_per_call() -> None:
    """With strict ordering, a key already in a closed aggregate of a call waits for the next
    call, so a partial failure can never let a later record of a key overtake an earlier one;
    inside the open aggregate a key may repeat (all of it succeeds or fails together)."""
    acc = accumulator()
    keys = list(itertools.islice(KEYS[S3], 40))
    first = [make_entry(k, 100) for k in keys]
    second = [make_entry(k, 100) for k in keys[:5]]
    for entry in [*first, *second]:
        acc.add(entry, 0.0)
    (batch,) = acc.drain(0.0, 4)
    sent = list(expand(batch.entries))
    assert sent == first  # the second round of keys waits for the next call
    per_record = [set(r.member_keys) if type(r) is Aggregate else {r.partition_key}
                  for r in batch.entries]  # fmt: skip
    assert sum(len(k) for k in per_record) == len(set().union(*per_record))
    acc.release(batch)
    (nxt,) = acc.drain(0.0, 4)
    assert list(expand(nxt.entries)) == second


def test_relaxed_order_packs_repeated_keys_freely() -> None:
    """Relaxed ordering packs every queued record, repeated keys too, in one call."""
    acc = accumulator(strict=False)
    key = next(KEYS[S3])
    entries = [make_entry(key, 100) for _ in range(60)]
    for entry in entries:
        acc.add(entry, 0.0)
    (batch,) = acc.drain(0.0, 4)
    assert list(expand(batch.entries)) == entries
    assert len(batch.entries) == 4


def test_the_request_and_rate_limits_count_kinesis_records() -> None:
    """`max_records` bounds the Kinesis records of a call, not the user records in them."""
    acc = accumulator(max_records=2)
    entries = fill(acc, S1, 100)
    (batch,) = acc.drain(0.0, 4)
    assert len(batch.entries) == 2
    assert user_count(batch.entries) == 36
    assert list(expand(batch.entries)) == entries[:36]
    assert acc.buffered_records == 64


def test_reshard_repacks_queued_and_failed_aggregates() -> None:
    """After a split, queued aggregates are unpacked and their records re-packed per new shard,
    keeping each key's order; a failed aggregate requeued after the split is unpacked too."""
    one = ShardMap([Shard("only", 0, HASH_KEY_MAX)], loaded_at=0.0)
    acc = accumulator(one)
    keys = [next(KEYS[s]) for s in (S0, S1, S2, S3) for _ in range(4)]
    entries = [make_entry(k) for k in keys]
    for entry in entries:
        acc.add(entry, 0.0)
    (batch,) = acc.drain(0.0, 4)
    (in_flight,) = batch.entries
    assert type(in_flight) is Aggregate
    acc.release(batch)
    in_flight.attempts += 1
    in_flight.note_failure("InternalFailure")
    acc.reshard(MAP4)
    acc.requeue([in_flight], retry_at=0.0)
    assert acc.buffered_records == len(entries)
    records = [r for b in drain_all(acc, now=1.0) for r in b.entries]
    for record in records:
        members = record.members if type(record) is Aggregate else [record]
        assert len({MAP4.shard_for(m.hash_key) for m in members}) == 1
        assert MAP4.shard_for(record.hash_key) == MAP4.shard_for(members[0].hash_key)
    assert sorted(expand(records), key=id) == sorted(entries, key=id)
    assert all(e.attempts == 1 and e.errors == ["InternalFailure"] for e in entries)


def test_unpack_carries_the_aggregates_history_once() -> None:
    """Each user record gets the attempts and errors its aggregate added, once."""
    members = [make_entry("a"), make_entry("b")]
    aggregate = Aggregate(members)
    aggregate.attempts = 2
    aggregate.note_failure("x")
    aggregate.not_before = 3.0
    assert unpack(aggregate) == members
    unpack(aggregate)
    assert [(m.attempts, m.errors, m.not_before) for m in members] == [(2, ["x"], 3.0)] * 2
    assert kpl.encode([("a", members[0].data), ("b", members[1].data)]) == aggregate.data


def test_settings_turn_aggregation_on_and_clamp_the_target() -> None:
    """Off by default; `kpl` aggregates at the target, never above the record limit; an unknown
    format or codec is refused naming the key."""
    base = {"stream": "s", "region": "eu-west-1"}
    assert config.batch_limits(config.build(base)).aggregation_bytes == 0
    on = config.build({**base, "aggregation": "kpl"})
    assert config.batch_limits(on).aggregation_bytes == 51_200
    small = config.build({**base, "aggregation": "kpl", "max_record_bytes": 4096})
    assert config.batch_limits(small).aggregation_bytes == 4096
    assert config.build({**base, "compression": "zstd"}).compression == "zstd"
    for key, value in (("aggregation", "gzip"), ("compression", "lz4")):
        with pytest.raises(ConfigError, match=key):
            config.build({**base, key: value})


def test_a_rate_limited_aggregating_shard_waits_for_a_window_of_bytes() -> None:
    """Bytes bind when aggregating: once the burst is spent the shard waits for a window's worth
    of bytes (the gate's batch window at its rate) instead of sending a record or two per call
    as the bytes trickle in."""
    acc = Accumulator(
        MAP4, BatchLimits(linger_s=0.0, aggregation_bytes=50_000), RateSettings(), now=0.0
    )
    fill(acc, S0, 3000, size=1000)  # 3 MB: more than any burst
    while batches := acc.drain(0.0, 4):
        for batch in batches:
            acc.release(batch)
    assert acc.drain(0.001, 4) == []  # a millisecond's worth of bytes is not worth a call
    ready = acc.next_ready_at(0.001)
    assert ready is not None
    assert ready >= 0.02
    (batch,) = acc.drain(ready + 0.001, 4)  # (a millisecond past: rounding)
    assert user_count(batch.entries) >= 5
