"""Accumulator: batch limits at their exact edges, linger, muting, requeue, backpressure and
resharding, all driven by an injected `now`."""

from __future__ import annotations

import itertools

import pytest

from streamer.accumulator import Accumulator, BatchLimits
from streamer.batcher import Batch
from streamer.limits import HASH_KEY_MAX, MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES
from streamer.record import Entry
from streamer.shard_map import Shard, ShardMap
from tests.support.shards import even_map, keys_by_shard, make_entry

MAP4 = even_map(4)
S0, S1, S2, S3 = MAP4.shard_ids
LINGER = 0.5
FRESH_KEYS = {
    shard: itertools.cycle(keys) for shard, keys in keys_by_shard(MAP4, per_shard=1200).items()
}
"""Distinct partition keys per shard, so batching is never limited by repeated keys."""


def accumulator(shard_map: ShardMap = MAP4, **limits: float | bool) -> Accumulator:
    kwargs: dict[str, float | bool] = {"linger_s": LINGER, **limits}
    return Accumulator(shard_map, BatchLimits(**kwargs))  # type: ignore[arg-type]


def fill(
    acc: Accumulator, shard_id: str, count: int, *, size: int = 100, now: float = 0.0
) -> list[Entry]:
    """Add `count` entries of `size` bytes, each with a fresh key predicted onto `shard_id`."""
    entries = [make_entry(next(FRESH_KEYS[shard_id]), size) for _ in range(count)]
    for entry in entries:
        acc.add(entry, now)
    return entries


def only(batches: list[Batch]) -> Batch:
    assert len(batches) == 1, batches
    return batches[0]


# -- linger and readiness --------------------------------------------------------------------


def test_nothing_is_ready_before_the_linger_time() -> None:
    """A lone small record waits for the linger time, then goes out."""
    acc = accumulator()
    (entry,) = fill(acc, S0, 1, now=1.0)
    assert acc.drain(1.25, 4) == []
    assert acc.drain(1.4375, 4) == []
    batch = only(acc.drain(1.5, 4))
    assert batch.entries == [entry]
    assert batch.shard_ids == [S0]
    assert batch.size == entry.size


def test_next_ready_at_is_the_linger_deadline_of_the_oldest_head() -> None:
    """next_ready_at reports the earliest head's linger deadline, and drain at it succeeds."""
    acc = accumulator()
    assert acc.next_ready_at(0.0) is None
    fill(acc, S0, 1, now=2.0)
    fill(acc, S1, 1, now=1.0)
    at = acc.next_ready_at(2.0)
    assert at == 1.5
    batch = only(acc.drain(at, 4))
    assert batch.shard_ids == [S1]
    assert acc.next_ready_at(2.0) == 2.5


def test_next_ready_at_ignores_muted_shards() -> None:
    """A shard with a batch in flight is not a reason to wake up."""
    acc = accumulator()
    fill(acc, S0, 2, now=0.0)
    batch = only(acc.drain(0.5, 1))
    fill(acc, S0, 1, now=0.5)
    assert acc.next_ready_at(0.5) is None
    acc.release(batch)
    assert acc.next_ready_at(0.5) == 1.0


def test_flush_makes_everything_ready_at_once() -> None:
    """After flush, records are sent without waiting for the linger time."""
    acc = accumulator()
    fill(acc, S0, 1, now=3.0)
    fill(acc, S2, 1, now=3.0)
    assert acc.drain(3.0, 4) == []
    acc.flush()
    assert acc.next_ready_at(3.0) == 3.0
    batch = only(acc.drain(3.0, 4))
    assert sorted(batch.shard_ids) == [S0, S2]
    assert acc.is_empty()


def test_a_full_request_pending_in_total_skips_the_linger() -> None:
    """Small shards whose records add up to a full request go out before the linger time."""
    acc = accumulator(max_records=10)
    fill(acc, S0, 4)
    fill(acc, S1, 5)
    assert acc.drain(0.0, 4) == []
    fill(acc, S2, 1)
    batch = only(acc.drain(0.0, 4))
    assert len(batch.entries) == 10
    assert set(batch.shard_ids) == {S0, S1, S2}


# -- count and byte edges ------------------------------------------------------------------


def test_500_records_fill_one_batch_and_the_501st_waits() -> None:
    """501 records of one shard make a batch of exactly 500; the last goes in the next batch."""
    acc = accumulator()
    entries = fill(acc, S0, MAX_RECORDS_PER_REQUEST + 1, size=10)
    first = only(acc.drain(0.0, 4))
    assert first.entries == entries[:MAX_RECORDS_PER_REQUEST]
    assert acc.buffered_records == 1
    acc.release(first)
    acc.flush()
    second = only(acc.drain(0.0, 4))
    assert second.entries == entries[MAX_RECORDS_PER_REQUEST:]


def test_exactly_500_records_go_out_without_lingering() -> None:
    """A shard holding exactly one full request is ready at once; 499 are not."""
    acc = accumulator()
    fill(acc, S0, MAX_RECORDS_PER_REQUEST - 1, size=10)
    assert acc.drain(0.0, 4) == []
    fill(acc, S0, 1, size=10)
    assert len(only(acc.drain(0.0, 4)).entries) == MAX_RECORDS_PER_REQUEST


def test_bytes_edge_exactly_max_bytes_is_one_batch() -> None:
    """Records adding up to exactly max_bytes fit one batch; one more byte starts another."""
    acc = accumulator(max_bytes=1000)
    entries = fill(acc, S0, 10, size=100)
    extra = fill(acc, S0, 1, size=10)
    first = only(acc.drain(0.0, 4))
    assert first.entries == entries
    assert first.size == 1000
    acc.release(first)
    acc.flush()
    assert only(acc.drain(0.0, 4)).entries == extra


def test_bytes_edge_one_byte_over_moves_the_record() -> None:
    """A record that would take the batch one byte over max_bytes is left for the next."""
    acc = accumulator(max_bytes=1000)
    acc.flush()
    head = fill(acc, S0, 9, size=100)
    tail = fill(acc, S0, 1, size=101)
    first = only(acc.drain(0.0, 4))
    assert first.entries == head
    assert first.size == 900
    acc.release(first)
    assert only(acc.drain(0.0, 4)).entries == tail


def test_default_limits_are_the_service_limits() -> None:
    """BatchLimits defaults to 500 records and 5 MiB per request."""
    limits = BatchLimits()
    assert (limits.max_records, limits.max_bytes) == (500, 5 * 1024 * 1024)
    assert limits.max_bytes == MAX_REQUEST_BYTES


# -- packing ---------------------------------------------------------------------------------


def test_full_shard_goes_alone() -> None:
    """A shard with a full request's worth gets its own batch, apart from lingered shards."""
    acc = accumulator(max_records=10)
    full = fill(acc, S0, 10, now=0.0)
    small = fill(acc, S1, 3, now=0.0)
    batches = acc.drain(LINGER, 4)
    assert [b.shard_ids for b in batches] == [[S0], [S1]]
    assert batches[0].entries == full
    assert batches[1].entries == small


def test_lingered_shards_are_packed_together_in_order() -> None:
    """Small lingered shards share one batch, each shard's records kept in queue order."""
    acc = accumulator()
    per_shard = {shard: fill(acc, shard, 2) for shard in MAP4.shard_ids}
    batch = only(acc.drain(LINGER, 4))
    assert sorted(batch.shard_ids) == sorted(MAP4.shard_ids)
    assert len(batch.entries) == 8
    for shard, entries in per_shard.items():
        assert [e for e in batch.entries if e.predicted_shard == shard] == entries


def test_packing_starts_a_new_batch_when_the_next_head_does_not_fit() -> None:
    """A shard whose head record would overflow the packed batch opens a second batch."""
    acc = accumulator(max_bytes=1000)
    fill(acc, S0, 6, size=100)
    fill(acc, S1, 2, size=500)
    batches = acc.drain(LINGER, 4)
    assert sorted(b.size for b in batches) == [600, 1000]
    assert all(len(b.shard_ids) == 1 for b in batches)
    assert acc.is_empty()


def test_packing_fills_up_to_max_bytes_and_leaves_the_rest_muted() -> None:
    """Packing stops at max_bytes; the partly taken shard waits, muted, for the release."""
    acc = accumulator(max_bytes=1000)
    fill(acc, S0, 6, size=100)
    rest = fill(acc, S1, 6, size=100)[4:]
    batch = only(acc.drain(LINGER, 4))
    assert batch.size == 1000
    assert acc.buffered_records == 2
    assert acc.drain(LINGER, 4) == []
    acc.release(batch)
    assert only(acc.drain(LINGER, 4)).entries == rest


def test_packing_stops_a_batch_at_max_records() -> None:
    """A packed batch that reaches max_records is closed; the next shard opens a new one."""
    acc = accumulator(max_records=4)
    fill(acc, S0, 2)
    fill(acc, S1, 2)
    fill(acc, S2, 1)
    acc.flush()
    batches = acc.drain(0.0, 4)
    assert [len(b.entries) for b in batches] == [4, 1]


def test_max_batches_bounds_one_drain() -> None:
    """drain returns at most max_batches batches and leaves the rest buffered."""
    acc = accumulator(max_records=2)
    for shard in MAP4.shard_ids:
        fill(acc, shard, 2)
    assert acc.drain(0.0, 0) == []
    batches = acc.drain(0.0, 2)
    assert len(batches) == 2
    assert acc.buffered_records == 4


def test_max_batches_bounds_packed_batches_too() -> None:
    """Lingered shards that need more packed batches than allowed wait for the next drain."""
    acc = accumulator(max_bytes=1000)
    for shard in MAP4.shard_ids:
        fill(acc, shard, 3, size=300)
    batches = acc.drain(LINGER, 2)
    assert [b.size for b in batches] == [900, 900]
    assert acc.buffered_records == 6


def test_rotation_does_not_starve_later_shards() -> None:
    """With one batch per drain, successive drains serve different full shards."""
    acc = accumulator(max_records=2)
    fill(acc, S0, 4)
    fill(acc, S1, 4)
    served = []
    for _ in range(2):
        batch = only(acc.drain(0.0, 1))
        served.append(batch.shard_ids[0])
        acc.release(batch)
    assert set(served) == {S0, S1}


@pytest.mark.parametrize(
    ("strict", "first_call"), [(True, ["a1", "b1", "c1"]), (False, ["a1", "a2", "b1", "c1"])]
)
def test_strict_ordering_passes_over_repeated_keys_only(
    strict: bool, first_call: list[str]
) -> None:
    """Strict mode sends one record per key per call, letting other keys past a hot one."""
    acc = accumulator(one_per_key=strict)
    key_a, key_b, key_c = (next(FRESH_KEYS[S0]) for _ in range(3))
    names = {}
    for name, key in [("a1", key_a), ("a2", key_a), ("b1", key_b), ("c1", key_c)]:
        entry = make_entry(key)
        names[id(entry)] = name
        acc.add(entry, 0.0)
    acc.flush()
    batch = only(acc.drain(0.0, 4))
    assert [names[id(e)] for e in batch.entries] == first_call
    acc.release(batch)
    rest = acc.drain(0.0, 4)
    assert [names[id(e)] for b in rest for e in b.entries] == (["a2"] if strict else [])


# -- muting ----------------------------------------------------------------------------------


def test_at_most_one_batch_in_flight_per_shard() -> None:
    """A shard is muted from drain until release, while other shards keep flowing."""
    acc = accumulator(max_records=2)
    fill(acc, S0, 6)
    first = only(acc.drain(0.0, 4))
    assert acc.drain(0.0, 4) == []
    fill(acc, S1, 2)
    other = only(acc.drain(0.0, 4))
    assert other.shard_ids == [S1]
    acc.release(first)
    second = only(acc.drain(0.0, 4))
    assert second.shard_ids == [S0]


def test_release_unmutes_every_shard_of_a_packed_batch() -> None:
    """Releasing a packed batch unmutes all the shards it held."""
    acc = accumulator()
    fill(acc, S0, 1)
    fill(acc, S1, 1)
    batch = only(acc.drain(LINGER, 4))
    fill(acc, S0, 1, now=LINGER)
    fill(acc, S1, 1, now=LINGER)
    assert acc.drain(2.0, 4) == []
    acc.release(batch)
    assert sorted(only(acc.drain(2.0, 4)).shard_ids) == [S0, S1]


# -- requeue ---------------------------------------------------------------------------------


def test_requeue_puts_entries_at_the_head_in_original_order() -> None:
    """Failed entries come back first, in their original order, before newer records."""
    acc = accumulator()
    a, b, c = fill(acc, S0, 3)
    batch = only(acc.drain(LINGER, 4))
    d, e = fill(acc, S0, 2, now=LINGER)
    acc.release(batch)
    a.attempts = c.attempts = 1  # as settle counts them
    acc.requeue([a, c], retry_at=1.0)
    assert acc.buffered_records == 4
    assert acc.buffered_bytes == 400
    assert only(acc.drain(1.0, 4)).entries == [a, c, d, e]
    assert b not in acc.take_all()


def test_requeue_delays_only_its_shard() -> None:
    """retry_at holds back the failed shard; another shard is drained meanwhile."""
    acc = accumulator()
    (a,) = fill(acc, S0, 1)
    batch = only(acc.drain(LINGER, 4))
    acc.release(batch)
    acc.requeue([a], retry_at=10.0)
    fill(acc, S1, 1, now=1.0)
    assert acc.next_ready_at(1.0) == 1.5
    assert only(acc.drain(1.5, 4)).shard_ids == [S1]
    assert acc.drain(10.25, 4) == []
    assert acc.next_ready_at(10.25) == 10.0 + LINGER
    assert only(acc.drain(10.0 + LINGER, 4)).entries == [a]


def test_requeued_entries_wait_their_own_retry_times() -> None:
    """Each requeued entry goes once its own retry time has come, not when the last one's has."""
    acc = accumulator()
    a, b = fill(acc, S0, 2)
    acc.flush()
    acc.release(only(acc.drain(0.0, 4)))
    a.not_before, b.not_before = 2.0, 1.0
    acc.requeue([a, b], retry_at=0.5)
    assert acc.next_ready_at(0.5) == 1.0
    batch = only(acc.drain(1.0, 4))
    assert batch.entries == [b]
    acc.release(batch)
    assert acc.drain(1.5, 4) == []
    assert only(acc.drain(2.0, 4)).entries == [a]


def test_a_lone_retry_lingers_from_its_requeue() -> None:
    """A requeued record is back in its queue at `retry_at` and lingers from then, as a new one
    does: past its backoff, alone, it waits for company instead of a call of its own."""
    acc = accumulator()
    (a,) = fill(acc, S0, 1)
    acc.release(only(acc.drain(LINGER, 4)))
    a.not_before = 0.7
    acc.requeue([a], retry_at=0.6)
    assert acc.drain(0.7, 4) == []
    assert acc.next_ready_at(0.7) == 0.6 + LINGER
    (b,) = fill(acc, S0, 1, now=0.9)
    assert only(acc.drain(0.6 + LINGER, 4)).entries == [a, b]


def test_a_retry_is_as_ready_as_the_queue_it_returns_to() -> None:
    """Retries returning to a queue whose records have lingered go out with them at once; a
    retry returning to a queue of retries whose linger passed does not start it again."""
    acc = accumulator()
    a, b = fill(acc, S0, 2)
    acc.release(only(acc.drain(LINGER, 4)))
    a.attempts = b.attempts = 1
    acc.requeue([a], retry_at=1.0)
    assert acc.drain(1.0 + LINGER / 2, 4) == []
    acc.requeue([b], retry_at=1.0 + LINGER / 2)
    assert acc.next_ready_at(1.0 + LINGER / 2) == 1.0 + LINGER
    assert only(acc.drain(1.0 + LINGER, 4)).entries == [b, a]


def test_requeue_delay_survives_flush() -> None:
    """Flushing skips the linger but never the retry time of a throttled shard."""
    acc = accumulator()
    (a,) = fill(acc, S0, 1)
    acc.flush()
    batch = only(acc.drain(0.0, 4))
    acc.release(batch)
    acc.requeue([a], retry_at=4.0)
    assert acc.drain(3.0, 4) == []
    assert only(acc.drain(4.0, 4)).entries == [a]


def test_requeue_spanning_shards_goes_to_each_entrys_shard() -> None:
    """Entries from a packed batch return to their own shards' queues."""
    acc = accumulator()
    a = fill(acc, S0, 1)[0]
    b = fill(acc, S2, 1)[0]
    batch = only(acc.drain(LINGER, 4))
    acc.release(batch)
    acc.requeue([a, b], retry_at=0.0)
    assert sorted(acc.shard_ids_pending()) == [S0, S2]
    assert a.predicted_shard == S0
    assert b.predicted_shard == S2


# -- backpressure ----------------------------------------------------------------------------


def test_has_room_bounds_records() -> None:
    """has_room turns false exactly at buffer_records and true again once drained."""
    acc = accumulator(buffer_records=3)
    fill(acc, S0, 2)
    assert acc.has_room()
    fill(acc, S0, 1)
    assert not acc.has_room()
    acc.flush()
    acc.drain(0.0, 1)
    assert acc.has_room()


def test_has_room_bounds_bytes() -> None:
    """has_room turns false exactly at buffer_bytes."""
    acc = accumulator(buffer_bytes=300)
    fill(acc, S0, 1, size=290)
    assert acc.has_room()
    fill(acc, S1, 1, size=10)
    assert not acc.has_room()
    assert acc.buffered_bytes == 300


# -- resharding ------------------------------------------------------------------------------


def test_reshard_repredicts_entries_keeping_per_key_order() -> None:
    """After a split every entry sits on its new shard and each key keeps its order."""
    one = ShardMap([Shard("only", 0, HASH_KEY_MAX)], loaded_at=0.0)
    acc = accumulator(one)
    keys = ["a", "b", "c", "d", "e", "a", "c", "a", "f", "b"]
    entries = [make_entry(key) for key in keys]
    for entry in entries:
        acc.add(entry, 0.0)
    assert {e.predicted_shard for e in entries} == {"only"}
    assert len({MAP4.shard_for(e.hash_key) for e in entries}) > 1
    acc.reshard(MAP4)
    assert acc.shard_map is MAP4
    assert acc.buffered_records == len(entries)
    assert acc.buffered_bytes == 100 * len(entries)
    assert all(e.predicted_shard == MAP4.shard_for(e.hash_key) for e in entries)
    acc.flush()
    drained: list[Entry] = []
    while not acc.is_empty():
        batches = acc.drain(0.0, 4)
        assert batches
        for batch in batches:
            drained.extend(batch.entries)
            acc.release(batch)
    assert sorted(drained, key=id) == sorted(entries, key=id)
    for key in set(keys):
        assert [e for e in drained if e.partition_key == key] == [
            e for e in entries if e.partition_key == key
        ]


def test_reshard_keeps_mute_and_retry_state_of_surviving_shards() -> None:
    """A shard that survives a reshard stays muted and keeps its retry time."""
    acc = accumulator()
    fill(acc, S0, 1)
    held = only(acc.drain(LINGER, 4))
    (b,) = fill(acc, S1, 1)
    failed = only(acc.drain(2 * LINGER, 4))
    acc.release(failed)
    acc.requeue([b], retry_at=8.0)
    (c,) = fill(acc, S0, 1)
    acc.reshard(even_map(4))
    acc.flush()
    assert acc.drain(7.0, 4) == []
    acc.release(held)
    assert only(acc.drain(7.0, 4)).entries == [c]
    assert only(acc.drain(8.0, 4)).entries == [b]


# -- odds and ends ---------------------------------------------------------------------------


def test_take_all_empties_the_buffer() -> None:
    """take_all returns every buffered entry and leaves the accumulator empty."""
    acc = accumulator()
    entries = fill(acc, S0, 2) + fill(acc, S3, 1)
    taken = acc.take_all()
    assert sorted(taken, key=id) == sorted(entries, key=id)
    assert acc.is_empty()
    assert acc.buffered_bytes == 0
    assert acc.drain(100.0, 4) == []


def test_oldest_age_uses_first_seen() -> None:
    """oldest_age measures from when the oldest buffered record was first accepted."""
    acc = accumulator()
    assert acc.oldest_age(5.0) == 0.0
    entry = make_entry(S0, now=1.0)
    acc.add(entry, 2.0)
    assert acc.oldest_age(5.0) == pytest.approx(4.0)
