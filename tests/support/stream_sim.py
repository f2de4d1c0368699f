"""A simulated stream of several shards shared by several daemons, on a simulated clock.

What it does: each daemon has one rate controller (`ShardLimiter`) and one queue per shard, and a
bounded buffer over all of them, as a daemon's accumulator: new records (endless demand, spread
evenly over the shards, as uniformly hashed partition keys are) enter only while the buffer has
room, so a daemon's slowest shard holds back its intake, as backpressure does in the daemon.
Each shard queue has at most one call in flight; it waits until its limiter allows a window's
worth, sends up to 500 records, and hears one round trip later how many the shard took (the
rest stay at the head of its queue). Shards are `SimShard`s (the service's limits). Daemons join
and leave at given times; a resharding replaces every shard with `reshard_to` new ones (the
queued records are spread over the new shards; every daemon starts new controllers for them).

What it leaves out: record sizes that vary, retry delays, calls that carry several shards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from streamer.ratelimit import RateSettings, ShardLimiter
from tests.support.shard_sim import SimShard, call


@dataclass
class _Lane:
    """One daemon's queue, controller and call in flight for one shard."""

    limiter: ShardLimiter
    queued: int = 0
    answer_at: float | None = None
    in_flight: tuple[int, int] = (0, 0)


@dataclass
class Daemon:
    """One daemon: a lane per shard, a buffer bound and its tallies."""

    start_s: float = 0.0
    stop_s: float = float("inf")
    buffer_records: int = 20_000
    lanes: list[_Lane] = field(default_factory=list)
    sent: int = 0
    throttled: int = 0
    accepted_at: list[tuple[float, int]] = field(default_factory=list)

    def rate(self, t0: float, t1: float) -> float:
        return sum(n for t, n in self.accepted_at if t0 <= t < t1) / (t1 - t0)


def simulate_stream(
    daemons: list[Daemon],
    shards: int,
    seconds: float,
    *,
    settings: RateSettings | None = None,
    reshard_at: float | None = None,
    reshard_to: int = 0,
    rtt_s: float = 0.03,
    step_s: float = 0.005,
    seed: int = 7,
    refuse: float = 0.0,
) -> list[SimShard]:
    """Run the daemons against a stream of `shards` shards for `seconds`; `refuse`: each
    shard's background of refusals (see `SimShard`)."""
    rate = settings or RateSettings()
    rng = random.Random(seed)
    stream = [SimShard(refuse, random.Random(seed + i)) for i in range(shards)]
    order = list(daemons)
    for tick in range(int(seconds / step_s)):
        now = tick * step_s
        if reshard_at is not None and now >= reshard_at:
            reshard_at = None
            stream = [SimShard(refuse, random.Random(seed + i)) for i in range(reshard_to)]
            for shard in stream:
                shard.updated = now
            for d in daemons:
                if d.lanes:
                    held = sum(lane.queued for lane in d.lanes)
                    d.lanes = [_new_lane(rate, now, rng) for _ in stream]
                    for i in range(held):
                        d.lanes[i % len(stream)].queued += 1
        rng.shuffle(order)
        for d in order:
            _step(d, now, stream, rate, rng, rtt_s)
    return stream


def _new_lane(rate: RateSettings, now: float, rng: random.Random) -> _Lane:
    return _Lane(ShardLimiter(rate, now, random.Random(rng.random())))


def _step(
    d: Daemon,
    now: float,
    stream: list[SimShard],
    rate: RateSettings,
    rng: random.Random,
    rtt: float,
) -> None:
    for lane in d.lanes:
        if lane.answer_at is not None and now >= lane.answer_at:
            sent, accepted = lane.in_flight
            lane.limiter.observe(now, sent=sent, throttled=sent - accepted)
            lane.answer_at = None
    if not d.start_s <= now < d.stop_s:
        return
    if not d.lanes:
        d.lanes = [_new_lane(rate, now, rng) for _ in stream]
    room = d.buffer_records - sum(lane.queued for lane in d.lanes)
    if room > 0:  # endless demand, hashed evenly over the shards
        first = rng.randrange(len(d.lanes))
        for i in range(room):
            d.lanes[(first + i) % len(d.lanes)].queued += 1
    for lane, shard in zip(d.lanes, stream, strict=True):
        if lane.answer_at is not None or not lane.queued:
            continue
        made = call(lane.limiter, shard, now, lane.queued)
        if made is None:
            continue
        count, accepted = made
        lane.queued -= accepted
        d.sent += count
        d.throttled += count - accepted
        d.accepted_at.append((now, accepted))
        lane.in_flight = (count, accepted)
        lane.answer_at = now + rtt * rng.uniform(0.5, 1.5)


def background_cost(shards: int, refuse: float, seconds: float, since: float, seed: int) -> float:
    """One daemon's rate from `since` to `seconds` on `shards` shards that each refuse `refuse` of
    records at any rate, as a part of its rate on the same shards without (same seed)."""
    rates = []
    for background in (0.0, refuse):
        daemon = Daemon()
        simulate_stream([daemon], shards, seconds, seed=seed, refuse=background)
        rates.append(daemon.rate(since, seconds))
    return rates[1] / rates[0]
