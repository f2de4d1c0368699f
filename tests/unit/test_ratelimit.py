"""Per-shard token buckets and adaptive rate (pure, driven by an explicit clock)."""

from __future__ import annotations

import pytest

from streamer.accumulator import Accumulator, BatchLimits
from streamer.ratelimit import RateSettings, ShardLimiter
from streamer.record import Entry
from streamer.shard_map import Shard, ShardMap

FULL = RateSettings(factor=1.0, records_per_s=1000, bytes_per_s=1_000_000)


def test_starts_with_one_second_of_burst() -> None:
    """A new shard may send one second's worth of records and bytes at once."""
    limiter = ShardLimiter(FULL, now=0.0)
    assert limiter.allowance(0.0) == (1000, 1_000_000)


def test_spend_and_refill_at_the_configured_rate() -> None:
    """Spent tokens come back at the rate, capped at the burst."""
    limiter = ShardLimiter(FULL, now=0.0)
    limiter.spend(1000, 500_000)
    assert limiter.allowance(0.0) == (0, 500_000)
    assert limiter.allowance(0.25) == (250, 750_000)
    assert limiter.allowance(10.0) == (1000, 1_000_000)


def test_factor_scales_the_rate() -> None:
    """factor 0.5 halves both buckets."""
    limiter = ShardLimiter(RateSettings(factor=0.5, records_per_s=1000, bytes_per_s=1000), 0.0)
    assert limiter.allowance(0.0) == (500, 500)


def test_factor_zero_disables() -> None:
    """A factor of 0 means no limiting at all."""
    assert not RateSettings(factor=0).enabled
    assert RateSettings(factor=1.5).enabled


def test_throttling_halves_once_per_interval_with_a_floor() -> None:
    """Multiplicative decrease: one halving per decrease interval, never below min_share."""
    limiter = ShardLimiter(FULL, now=0.0)
    limiter.throttled(1.0)
    limiter.throttled(1.1)  # same burst of throttles: no second decrease
    assert limiter.share == 0.5
    for t in range(2, 20):
        limiter.throttled(float(t))
    assert limiter.share == FULL.min_share


def test_success_recovers_additively() -> None:
    """Additive increase: each unthrottled call adds a step until the full rate."""
    limiter = ShardLimiter(FULL, now=0.0)
    limiter.throttled(1.0)
    limiter.succeeded()
    assert limiter.share == pytest.approx(0.55)
    for _ in range(100):
        limiter.succeeded()
    assert limiter.share == 1.0


def test_wait_is_the_time_to_refill_what_is_missing() -> None:
    """With an empty bucket, waiting for 100 records at 1,000/s takes 0.1 s."""
    limiter = ShardLimiter(FULL, now=0.0)
    limiter.spend(1000, 0)
    assert limiter.wait_s(0.0, records=100) == pytest.approx(0.1)
    assert limiter.wait_s(0.2, records=100) == 0.0


def test_batch_records_follow_the_adaptive_rate() -> None:
    """A limited shard waits for a window's worth of records; the window shrinks with share."""
    limiter = ShardLimiter(FULL, now=0.0)
    assert limiter.batch_records == 100
    limiter.throttled(1.0)
    assert limiter.batch_records == 50


def _one_shard() -> ShardMap:
    return ShardMap([Shard("s0", 0, (1 << 128) - 1)], loaded_at=0.0)


def test_accumulator_takes_no_more_than_the_allowance() -> None:
    """A batch holds at most the shard's record allowance; the rest waits for tokens."""
    rate = RateSettings(factor=1.0, records_per_s=100, bytes_per_s=10**9)
    acc = Accumulator(_one_shard(), BatchLimits(linger_s=0.0, one_per_key=False), rate, now=0.0)
    for i in range(300):
        acc.add(Entry(b"x", f"k{i}", "t", i, 0.0), 0.0)
    (batch,) = acc.drain(0.0, 4)
    assert len(batch.entries) == 100
    acc.release(batch)
    assert acc.drain(0.0, 4) == []
    ready = acc.next_ready_at(0.0)
    assert ready == pytest.approx(0.1)  # a window's worth (10 records) refills in 0.1 s
    (later,) = acc.drain(0.5, 4)
    assert len(later.entries) == 50


def test_throttled_shard_slows_alone() -> None:
    """Throttling one shard lowers its share and leaves the other shards at full rate."""
    half = (1 << 127) - 1
    shard_map = ShardMap([Shard("a", 0, half), Shard("b", half + 1, (1 << 128) - 1)], loaded_at=0)
    acc = Accumulator(shard_map, BatchLimits(), FULL, now=0.0)
    acc.throttled(["a"], now=1.0)
    assert acc.shard_share("a") == 0.5
    assert acc.shard_share("b") == 1.0
    acc.succeeded(["a"])
    assert acc.shard_share("a") == pytest.approx(0.55)


def test_tiny_rate_never_stalls_a_shard() -> None:
    """Even at a tiny factor and the minimum share, a record is allowed after a finite wait."""
    limiter = ShardLimiter(RateSettings(factor=0.01, records_per_s=1000, bytes_per_s=10**6), 0.0)
    for t in range(10):
        limiter.throttled(float(t))
    limiter.spend(1, 100)
    wait = limiter.wait_s(100.0)
    assert wait < float("inf")
    assert limiter.allowance(100.0 + wait + 1.0)[0] >= 1
