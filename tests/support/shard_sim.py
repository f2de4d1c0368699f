"""A simulated shard shared by several `ShardLimiter` controllers, on a simulated clock.

What it does: one shard with the service's write limits (1,000 records/s and 1 MiB/s as token
buckets with one second of burst, as the benchmark endpoint enforces them: a record over what the
last second allows is throttled). Each writer has endless demand and behaves like one daemon's
queue for that shard: it waits until its limiter allows a window's worth of records, sends up to
500 in one call, gets the answer one round trip later (a throttled record counts as sent and is
resent later; it cost the writer its tokens), and reports it with `observe`. An outside producer
may send at a fixed rate without any control. Writers join and leave at given times. Time moves
in small steps; within a step the writers act in a random order.

What it leaves out: several shards (each shard's controller is independent), record sizes that
vary, and the pipeline's retry delays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from streamer.ratelimit import RateSettings, ShardLimiter

SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024
RECORD_BYTES = 600
MAX_CALL_RECORDS = 500


class SimShard:
    """Token buckets with one second of burst, like the endpoint's `--shard-limits`; with
    `refuse`, each record is also refused for throughput with that probability whatever the
    load, like the endpoint's `--fail-rate` (a background of throttling no writer can relieve)."""

    def __init__(self, refuse: float = 0.0, rng: random.Random | None = None) -> None:
        self.records = float(SHARD_RECORDS_PER_S)
        self.bytes = float(SHARD_BYTES_PER_S)
        self.updated = 0.0
        self.refuse = refuse
        self._rng = rng or random.Random(0)

    def admit(self, now: float, count: int, size: int) -> int:
        """How many of `count` records of `size` bytes are accepted at `now`."""
        elapsed = now - self.updated
        self.records = min(SHARD_RECORDS_PER_S, self.records + elapsed * SHARD_RECORDS_PER_S)
        self.bytes = min(SHARD_BYTES_PER_S, self.bytes + elapsed * SHARD_BYTES_PER_S)
        self.updated = now
        accepted = min(count, int(self.records), int(self.bytes // size))
        if self.refuse:
            accepted -= sum(self._rng.random() < self.refuse for _ in range(accepted))
        self.records -= accepted
        self.bytes -= accepted * size
        return accepted


@dataclass
class Writer:
    """One controlled writer: a limiter, at most one call in flight, and its tallies."""

    start_s: float = 0.0
    stop_s: float = float("inf")
    limiter: ShardLimiter | None = None
    answer_at: float | None = None
    in_flight: tuple[int, int] = (0, 0)
    sent: int = 0
    throttled: int = 0
    accepted_at: list[tuple[float, int]] = field(default_factory=list)

    def accepted_between(self, t0: float, t1: float) -> int:
        return sum(n for t, n in self.accepted_at if t0 <= t < t1)

    def rate(self, t0: float, t1: float) -> float:
        return self.accepted_between(t0, t1) / (t1 - t0)


@dataclass
class Outside:
    """An uncontrolled producer: `records_per_s` new records, sent about every `every_s`
    (jittered) together with the ones throttled before: it retries, so it takes its rate."""

    records_per_s: float
    every_s: float = 0.1
    next_at: float = 0.0
    backlog: int = 0
    sent: int = 0
    accepted: int = 0


def simulate(
    writers: list[Writer],
    seconds: float,
    *,
    settings: RateSettings | None = None,
    outside: Outside | None = None,
    rtt_s: float = 0.03,
    step_s: float = 0.005,
    seed: int = 7,
    refuse: float = 0.0,
) -> SimShard:
    """Run the writers (and the outside producer) against one shard for `seconds`; `refuse`:
    the shard's background of refusals (see `SimShard`)."""
    rate = settings or RateSettings()
    rng = random.Random(seed)
    shard = SimShard(refuse, random.Random(seed + 1))
    order = list(writers)
    for tick in range(int(seconds / step_s)):
        now = tick * step_s
        if outside is not None and now >= outside.next_at:
            outside.backlog += int(outside.records_per_s * outside.every_s)
            count = min(outside.backlog, MAX_CALL_RECORDS)
            accepted = shard.admit(now, count, RECORD_BYTES)
            outside.sent += count
            outside.accepted += accepted
            outside.backlog -= accepted
            outside.next_at += outside.every_s * rng.uniform(0.5, 1.5)
        rng.shuffle(order)
        for w in order:
            _act(w, now, shard, rate, rng, rtt_s)
    return shard


def _act(
    w: Writer, now: float, shard: SimShard, rate: RateSettings, rng: random.Random, rtt: float
) -> None:
    if w.answer_at is not None and now >= w.answer_at:
        assert w.limiter is not None
        sent, accepted = w.in_flight
        w.limiter.observe(now, sent=sent, throttled=sent - accepted)
        w.answer_at = None
    if not w.start_s <= now < w.stop_s or w.answer_at is not None:
        return
    if w.limiter is None:
        w.limiter = ShardLimiter(rate, now, random.Random(rng.random()))
    made = call(w.limiter, shard, now)
    if made is None:
        return
    count, accepted = made
    w.sent += count
    w.throttled += count - accepted
    w.accepted_at.append((now, accepted))
    w.in_flight = (count, accepted)
    w.answer_at = now + rtt * rng.uniform(0.5, 1.5)


def call(
    limiter: ShardLimiter, shard: SimShard, now: float, queued: int = MAX_CALL_RECORDS
) -> tuple[int, int] | None:
    """One call as a daemon's shard queue makes it: once the limiter allows a window's worth
    (or all `queued`), up to 500 records it allows are sent; (sent, accepted), or None while it
    waits."""
    want = min(MAX_CALL_RECORDS, limiter.batch_records, queued)
    if limiter.wait_s(now, records=want, size=want * RECORD_BYTES) > 0:
        return None
    records, size = limiter.allowance(now)
    count = min(MAX_CALL_RECORDS, records, size // RECORD_BYTES, queued)
    limiter.spend(count, count * RECORD_BYTES)
    return count, shard.admit(now, count, RECORD_BYTES)
