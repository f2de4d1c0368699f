"""Hypothesis invariants of the accumulator under random input, drains, releases and requeues.

The ordering guarantee checked here, stated precisely (the `Model` checks it on every batch):
- a shard's queue is FIFO. In relaxed mode every batch takes a prefix of each of its shards'
  queues. In strict mode (`one_per_key`) a call holds at most one record per key, and it may
  pass over a queued record only when that record's key is already in the call; so the entries
  of one partition key are always taken in the order they were added;
- requeued entries go back to the head of their shard's queue in their original order, so a
  requeued entry precedes every entry of its shard that was not yet taken (in strict mode,
  unless an earlier requeued entry of the same key is in the call);
- a shard has at most one batch in flight, so batches of one shard settle in the order taken.
Together: per-key delivery order equals add order whenever a batch fails as a whole. With
partial failures it also does in strict mode (a later record of the failed record's key is
still queued behind it); in relaxed mode a retried entry may land after a later entry of its
key that succeeded in the same call (as with Kinesis itself), but never after an entry that
was still queued.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st

from streamer.accumulator import Accumulator, BatchLimits
from streamer.batcher import Batch
from streamer.record import Entry
from tests.support.shards import even_map, make_entry

MAP4 = even_map(4)
KEYS = [f"k{i}" for i in range(10)]
UNIQUE = -1
"""A run with this key index gives every entry its own key, so strict batches can fill up."""
MAX_FAILURES_PER_ENTRY = 3
MAX_STEPS = 50_000

entry_sizes = st.one_of(st.sampled_from([10, 50, 100, 250, 300]), st.integers(8, 300))
entry_runs = st.lists(
    st.one_of(
        st.tuples(st.integers(0, len(KEYS) - 1), entry_sizes, st.integers(1, 120)),
        st.tuples(
            st.just(UNIQUE), entry_sizes, st.one_of(st.integers(1, 120), st.integers(450, 650))
        ),
    ),
    max_size=12,
)
"""Runs of (key index, entry size, repeat count): long runs of distinct keys pass 500 records
pending, and round sizes and limits make batches hit the byte limit exactly."""

batch_limits = st.builds(
    lambda records, size, strict: BatchLimits(
        max_records=records,
        max_bytes=size,
        linger_s=1.0,
        buffer_records=10**9,
        one_per_key=strict,
    ),
    st.sampled_from([1, 3, 16, 500, 500]),
    st.one_of(
        st.sampled_from([300, 499, 500, 999, 1000]),
        st.integers(300, 2000),
        st.integers(50_000, 200_000),
    ),
    st.booleans(),
)


def expand(runs: list[tuple[int, int, int]]) -> list[Entry]:
    unique = iter(range(10**9))
    return [
        make_entry(f"u{next(unique)}" if k == UNIQUE else KEYS[k], size)
        for k, size, repeat in runs
        for _ in range(repeat)
    ]


@dataclass
class Outcome:
    delivered: list[Entry]
    failures: Counter[int]


class Model:
    """The expected content of every shard queue, checked against each drained batch."""

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits
        self.queues: dict[str, deque[Entry]] = {s: deque() for s in MAP4.shard_ids}
        self.in_flight_shards: set[str] = set()

    def add(self, entry: Entry) -> None:
        self.queues[MAP4.shard_for(entry.hash_key)].append(entry)

    def requeue(self, entries: list[Entry]) -> None:
        for entry in reversed(entries):
            self.queues[MAP4.shard_for(entry.hash_key)].appendleft(entry)

    def take(self, batch: Batch, now: float) -> None:
        assert batch.entries, "an empty batch was drained"
        assert len(batch.entries) <= self.limits.max_records
        assert batch.size == sum(e.size for e in batch.entries)
        assert batch.size <= self.limits.max_bytes
        assert len(set(batch.shard_ids)) == len(batch.shard_ids)
        assert {e.predicted_shard for e in batch.entries} == set(batch.shard_ids)
        assert not self.in_flight_shards & set(batch.shard_ids), "a shard has two batches"
        for shard_id in batch.shard_ids:
            taken = [e for e in batch.entries if e.predicted_shard == shard_id]
            self._take_from(shard_id, taken, now)
        self.in_flight_shards.update(batch.shard_ids)
        if len(batch.entries) == self.limits.max_records:
            event(f"a batch holds exactly max_records={self.limits.max_records}")
        if batch.size == self.limits.max_bytes:
            event("a batch holds exactly max_bytes")

    def _take_from(self, shard_id: str, taken: list[Entry], now: float) -> None:
        """Check that `taken` is the queue's head minus allowed skips, then remove it.

        Allowed skips: a record in backoff, a record behind one of its key in backoff, and (in
        strict mode) a record whose key is already in the call."""
        queue = self.queues[shard_id]
        taken_ids = {id(e) for e in taken}
        keys_in_call: set[str] = set()
        blocked: set[str] = set()
        skipped: list[Entry] = []
        for entry in taken:
            while True:
                assert queue, "a batch took entries out of their shard's queue order"
                head = queue.popleft()
                if head is entry:
                    break
                assert id(head) not in taken_ids, "a batch took entries out of queue order"
                if head.not_before > now or head.partition_key in blocked:
                    blocked.add(head.partition_key)
                else:
                    assert head.partition_key in keys_in_call, (
                        "a record was passed over although it could have gone"
                    )
                skipped.append(head)
            assert entry.not_before <= now, "a record in backoff was sent"
            assert entry.partition_key not in blocked, "a record passed one of its key in backoff"
            assert entry.partition_key not in keys_in_call or not self.limits.one_per_key, (
                "a strict call carries two records of one key"
            )
            keys_in_call.add(entry.partition_key)
        queue.extendleft(reversed(skipped))
        if not self.limits.one_per_key:
            assert all(e.partition_key in blocked for e in skipped), (
                "a relaxed batch passed over a record that was not held back by a backoff"
            )

    def settle(self, batch: Batch) -> None:
        self.in_flight_shards.difference_update(batch.shard_ids)


def simulate(
    entries: list[Entry],
    limits: BatchLimits,
    rng: random.Random,
    *,
    fail_rate: float,
    whole_batches: bool,
) -> Outcome:
    """Feed, drain, fail and release at random until every entry is delivered."""
    acc = Accumulator(MAP4, limits)
    model = Model(limits)
    pending = deque(entries)
    in_flight: list[Batch] = []
    outcome = Outcome([], Counter())
    now = 0.0
    for _ in range(MAX_STEPS):
        if not pending and not in_flight and acc.is_empty():
            return outcome
        for _ in range(min(len(pending), rng.randint(0, rng.choice([10, 60, 700])))):
            entry = pending.popleft()
            acc.add(entry, now)
            model.add(entry)
        if not pending and rng.random() < 0.3:
            acc.flush()
        max_batches = rng.randint(1, 4)
        batches = acc.drain(now, max_batches)
        assert len(batches) <= max_batches
        for batch in batches:
            model.take(batch, now)
            in_flight.append(batch)
        rng.shuffle(in_flight)
        for _ in range(rng.randint(1, len(in_flight)) if in_flight else 0):
            batch = in_flight.pop()
            acc.release(batch)
            model.settle(batch)
            if whole_batches:
                fail = rng.random() < fail_rate
                failed = [
                    e
                    for e in batch.entries
                    if fail and outcome.failures[id(e)] < MAX_FAILURES_PER_ENTRY
                ]
            else:
                failed = [
                    e
                    for e in batch.entries
                    if outcome.failures[id(e)] < MAX_FAILURES_PER_ENTRY and rng.random() < fail_rate
                ]
            for entry in failed:
                outcome.failures[id(entry)] += 1
            failed_ids = {id(e) for e in failed}
            outcome.delivered.extend(e for e in batch.entries if id(e) not in failed_ids)
            if failed:
                acc.requeue(failed, retry_at=now + rng.choice([0.0, 0.5, 2.0]))
                model.requeue(failed)
        now += rng.choice([0.0, 0.25, 0.5, 1.5])
    raise AssertionError("the accumulator stopped making progress")


def assert_exactly_once(entries: list[Entry], delivered: list[Entry]) -> None:
    counts = Counter(id(e) for e in delivered)
    assert len(delivered) == len(entries)
    assert set(counts) == {id(e) for e in entries}
    assert max(counts.values(), default=1) == 1


def per_key(entries: list[Entry]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for entry in entries:
        out.setdefault(entry.partition_key, []).append(id(entry))
    return out


@settings(max_examples=60, deadline=None)
@given(runs=entry_runs, limits=batch_limits, seed=st.integers(0, 2**32 - 1))
def test_every_entry_delivered_once_in_key_order_within_limits(
    runs: list[tuple[int, int, int]], limits: BatchLimits, seed: int
) -> None:
    """Without failures every entry is delivered exactly once, in per-key order, within limits."""
    entries = expand(runs)
    outcome = simulate(entries, limits, random.Random(seed), fail_rate=0.0, whole_batches=True)
    assert_exactly_once(entries, outcome.delivered)
    assert per_key(outcome.delivered) == per_key(entries)


@settings(max_examples=60, deadline=None)
@given(
    runs=entry_runs,
    limits=batch_limits,
    seed=st.integers(0, 2**32 - 1),
    fail_rate=st.sampled_from([0.1, 0.5, 0.9]),
)
def test_partial_failures_requeued_are_delivered_once_in_queue_order(
    runs: list[tuple[int, int, int]], limits: BatchLimits, seed: int, fail_rate: float
) -> None:
    """Requeued failed subsets are delivered once each, in key order when strict."""
    entries = expand(runs)
    outcome = simulate(
        entries, limits, random.Random(seed), fail_rate=fail_rate, whole_batches=False
    )
    assert_exactly_once(entries, outcome.delivered)
    first_try = [e for e in outcome.delivered if outcome.failures[id(e)] == 0]
    assert per_key(first_try) == per_key([e for e in entries if outcome.failures[id(e)] == 0])
    if limits.one_per_key:
        assert per_key(outcome.delivered) == per_key(entries)


@settings(max_examples=60, deadline=None)
@given(
    runs=entry_runs,
    limits=batch_limits,
    seed=st.integers(0, 2**32 - 1),
    fail_rate=st.sampled_from([0.2, 0.6]),
)
def test_whole_batch_failures_keep_per_key_delivery_order(
    runs: list[tuple[int, int, int]], limits: BatchLimits, seed: int, fail_rate: float
) -> None:
    """When batches fail as a whole and are requeued, per-key delivery order equals add order."""
    entries = expand(runs)
    outcome = simulate(
        entries, limits, random.Random(seed), fail_rate=fail_rate, whole_batches=True
    )
    assert_exactly_once(entries, outcome.delivered)
    assert per_key(outcome.delivered) == per_key(entries)


@settings(max_examples=300, deadline=None)
@given(
    added_at=st.floats(0.0, 1e6, allow_nan=False),
    linger=st.floats(0.0, 10.0, allow_nan=False),
    retry_in=st.one_of(st.none(), st.floats(0.0, 100.0, allow_nan=False)),
)
def test_drain_at_next_ready_at_always_yields(
    added_at: float, linger: float, retry_in: float | None
) -> None:
    """Draining at the time next_ready_at names never comes back empty (no busy wake-ups)."""
    acc = Accumulator(MAP4, BatchLimits(linger_s=linger))
    entry = make_entry("k0", 50)
    acc.add(entry, added_at)
    if retry_in is not None:
        taken = acc.drain(added_at + linger + retry_in + 1.0, 1)
        acc.release(taken[0])
        acc.requeue(taken[0].entries, retry_at=added_at + retry_in)
    at = acc.next_ready_at(added_at)
    assert at is not None
    assert at >= added_at
    assert [e for b in acc.drain(at, 1) for e in b.entries] == [entry]
