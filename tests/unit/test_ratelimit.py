"""Per-shard token buckets and the congestion control below them (pure, explicit clock)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from streamer.accumulator import Accumulator, BatchLimits
from streamer.ratelimit import RateSettings, ShardLimiter
from streamer.record import Entry
from streamer.refusals import BackgroundSettings
from streamer.shard_map import Shard, ShardMap

FULL = RateSettings(
    factor=1.0, records_per_s=1000, bytes_per_s=1_000_000, initial_share=1.0, batch_jitter=0.0
)
"""Starting at the full rate, without jitter: the buckets' arithmetic is exact."""


def test_starts_with_one_second_of_burst() -> None:
    """A new shard at the full share may send one second's worth of records and bytes at once."""
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
    settings = RateSettings(factor=0.5, records_per_s=1000, bytes_per_s=1000, initial_share=1.0)
    assert ShardLimiter(settings, 0.0).allowance(0.0) == (500, 500)


def test_factor_zero_disables() -> None:
    """A factor of 0 means no limiting at all."""
    assert not RateSettings(factor=0).enabled
    assert RateSettings(factor=1.5).enabled


def test_slow_start_doubles_per_clean_interval_up_to_the_ceiling() -> None:
    """A new shard starts low and doubles each unthrottled interval until the full rate."""
    limiter = ShardLimiter(RateSettings(initial_share=0.125, interval_s=0.25), now=0.0)
    assert limiter.allowance(0.0)[0] == 125
    shares = []
    for step in range(1, 6):
        limiter.observe(0.25 * step, sent=100, throttled=0)
        shares.append(limiter.share)
    assert shares == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_throttling_cuts_in_proportion_once_per_interval() -> None:
    """A quarter throttled keeps 3/4 of the share, less the backoff; one change per interval."""
    settings = RateSettings(initial_share=1.0, interval_s=0.3, beta=1.0, backoff=0.2)
    limiter = ShardLimiter(settings, now=0.0)
    limiter.observe(0.1, sent=100, throttled=50)  # within the interval: counted, no change yet
    assert limiter.share == 1.0
    limiter.observe(0.3, sent=100, throttled=0)
    assert limiter.share == pytest.approx(0.75 * 0.8)
    limiter.observe(0.4, sent=100, throttled=100)  # a new interval has only just begun
    assert limiter.share == pytest.approx(0.6)


def test_a_little_throttling_costs_a_little_rate() -> None:
    """One record in a thousand throttled costs far less than the old halving did."""
    settings = RateSettings(initial_share=1.0, backoff=0.0)
    limiter = ShardLimiter(settings, now=0.0)
    limiter.observe(1.0, sent=1000, throttled=1)
    assert limiter.share == pytest.approx(0.999)


def test_additive_increase_after_the_first_throttling() -> None:
    """Once throttled, the share grows by one step per clean interval (no more doubling)."""
    settings = RateSettings(initial_share=0.5, interval_s=0.3, increase_step=0.01, backoff=0.0)
    limiter = ShardLimiter(settings, now=0.0)
    limiter.observe(0.3, sent=100, throttled=50)
    assert limiter.share == pytest.approx(0.25)
    limiter.observe(0.6, sent=100, throttled=0)
    limiter.observe(0.9, sent=100, throttled=0)
    assert limiter.share == pytest.approx(0.27)
    assert not limiter.slow_start


def test_increase_accelerates_after_a_grace_of_clean_intervals() -> None:
    """After `increase_grace` clean intervals in a row each adds one more step, up to a cap;
    a throttled interval starts the count again."""
    settings = RateSettings(
        initial_share=0.5, interval_s=1.0, increase_step=0.01, increase_grace=2,
        increase_max_steps=3, backoff=0.0,
    )  # fmt: skip
    limiter = ShardLimiter(settings, now=0.0)
    limiter.observe(1.0, sent=100, throttled=50)  # out of slow start at 0.25
    gains = []
    for t in range(2, 9):
        before = limiter.share
        limiter.observe(float(t), sent=100, throttled=0)
        gains.append(round((limiter.share - before) / 0.01))
    assert gains == [1, 1, 1, 2, 3, 3, 3]
    limiter.observe(9.0, sent=100, throttled=1)
    before = limiter.share
    limiter.observe(10.0, sent=100, throttled=0)
    assert limiter.share - before == pytest.approx(0.01)


def test_share_has_a_floor_and_a_ceiling() -> None:
    """All throttled, again and again, never goes below min_share; growth stops at 1.0."""
    limiter = ShardLimiter(RateSettings(initial_share=1.0, min_share=0.02), now=0.0)
    for step in range(1, 30):
        limiter.observe(float(step), sent=10, throttled=10)
    assert limiter.share == 0.02
    for step in range(30, 1000):
        limiter.observe(float(step), sent=10, throttled=0)
    assert limiter.share == 1.0


def test_idle_intervals_change_nothing() -> None:
    """With nothing sent, time passing neither raises nor lowers the share."""
    limiter = ShardLimiter(RateSettings(initial_share=0.5), now=0.0)
    limiter.observe(5.0, sent=0, throttled=0)
    assert limiter.share == 0.5


def test_a_cut_takes_away_the_burst_at_the_old_rate() -> None:
    """After a cut the bucket holds at most one second at the new rate."""
    limiter = ShardLimiter(FULL, now=0.0)
    limiter.observe(0.5, sent=100, throttled=50)
    assert limiter.allowance(0.5)[0] <= int(1000 * limiter.share)


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
    limiter.observe(1.0, sent=100, throttled=50)
    assert limiter.batch_records == int(1000 * limiter.share * 0.1)


def test_jitter_varies_the_window_within_its_bounds() -> None:
    """With jitter, each spend draws a new window within batch_window_s * (1 +- jitter)."""
    settings = RateSettings(initial_share=1.0, records_per_s=1000, batch_jitter=0.5)
    limiter = ShardLimiter(settings, now=0.0, rng=random.Random(3))
    seen = set()
    for _ in range(50):
        limiter.spend(0, 0)
        seen.add(limiter.batch_records)
    assert min(seen) >= 50
    assert max(seen) <= 150
    assert len(seen) > 10


def _one_shard() -> ShardMap:
    return ShardMap([Shard("s0", 0, (1 << 128) - 1)], loaded_at=0.0)


def _limited(records: int) -> Accumulator:
    """One shard limited to 100 records/s (a full second of burst), holding `records` records."""
    rate = RateSettings(records_per_s=100, bytes_per_s=10**9, initial_share=1.0, batch_jitter=0.0)
    acc = Accumulator(_one_shard(), BatchLimits(linger_s=0.0, one_per_key=False), rate, now=0.0)
    for i in range(records):
        acc.add(Entry(b"x", f"k{i}", "t", i, 0.0), 0.0)
    return acc


def test_accumulator_takes_no_more_than_the_allowance() -> None:
    """A batch holds at most the shard's record allowance; the rest waits for tokens."""
    acc = _limited(300)
    (batch,) = acc.drain(0.0, 4)
    assert len(batch.entries) == 100
    acc.release(batch)
    assert acc.drain(0.0, 4) == []
    ready = acc.next_ready_at(0.0)
    assert ready == pytest.approx(0.1)  # a window's worth (10 records) refills in 0.1 s
    (later,) = acc.drain(0.5, 4)
    assert len(later.entries) == 50


def test_a_refund_gives_tokens_back_up_to_the_burst() -> None:
    """Records the shard did not write come off what was spent, never beyond the burst."""
    limiter = ShardLimiter(FULL, now=0.0)
    limiter.spend(1000, 600_000)
    limiter.refund(100, 60_000)
    assert limiter.allowance(0.0) == (100, 460_000)
    limiter.refund(5000, 5_000_000)
    assert limiter.allowance(0.0) == (1000, 1_000_000)


def test_records_not_written_do_not_count_against_the_shard() -> None:
    """A call whose records failed with InternalFailure gives their tokens back, so the shard
    may send as many again at once; throttled records' tokens stay spent."""
    acc = _limited(200)
    (batch,) = acc.drain(0.0, 4)
    assert len(batch.entries) == 100
    acc.release(batch)
    shard = batch.shard_ids[0]
    acc.observe(batch, 0.0, {shard: 10}, batch.entries[10:40])
    (again,) = acc.drain(0.0, 4)
    assert len(again.entries) == 30


def test_throttled_shard_slows_alone() -> None:
    """The accumulator counts a call's records by shard; only the throttled shard slows."""
    half = (1 << 127) - 1
    shard_map = ShardMap([Shard("a", 0, half), Shard("b", half + 1, (1 << 128) - 1)], loaded_at=0)
    acc = Accumulator(shard_map, BatchLimits(linger_s=0.0, one_per_key=False), FULL, now=0.0)
    for i in range(400):
        acc.add(Entry(b"x", f"k{i}", "t", i, 0.0), 0.0)
    batches = acc.drain(0.0, 4)
    sent = Counter(e.predicted_shard for b in batches for e in b.entries)
    assert set(sent) == {"a", "b"}
    for batch in batches:
        acc.release(batch)
        acc.observe(batch, 1.0, {"a": sent["a"] // 2})
    kept = 1 - (sent["a"] // 2) / sent["a"]
    assert acc.shard_share("a") == pytest.approx(kept * (1 - FULL.backoff))
    assert acc.shard_share("b") == 1.0


def test_tiny_rate_never_stalls_a_shard() -> None:
    """Even at a tiny factor and the minimum share, a record is allowed after a finite wait."""
    limiter = ShardLimiter(RateSettings(factor=0.01, records_per_s=1000, bytes_per_s=10**6), 0.0)
    for t in range(10):
        limiter.observe(float(t), sent=1, throttled=1)
    limiter.spend(1, 100)
    wait = limiter.wait_s(100.0)
    assert wait < float("inf")
    assert limiter.allowance(100.0 + wait + 1.0)[0] >= 1


def test_a_heavy_throttling_at_most_halves_the_share() -> None:
    """After slow start, a call that met an empty bucket (nine tenths refused) keeps half of the
    share before the backoff, not a tenth: one unlucky call says little about the writer's part."""
    settings = RateSettings(initial_share=0.5, interval_s=1.0, backoff=0.2, min_kept=0.5)
    limiter = ShardLimiter(settings, now=0.0)
    limiter.observe(1.0, sent=100, throttled=20)  # leaves slow start
    share = limiter.share
    assert share == pytest.approx(0.5 * 0.8 * 0.8)
    limiter.observe(2.0, sent=100, throttled=90)
    assert limiter.share == pytest.approx(share * 0.5 * 0.8)


def test_leaving_slow_start_cuts_the_whole_overshoot() -> None:
    """The first throttling ends slow start with the full proportional cut: writers that doubled
    together were refused alike, so what the shard took is each one's part."""
    settings = RateSettings(initial_share=0.5, interval_s=1.0, backoff=0.2, min_kept=0.5)
    limiter = ShardLimiter(settings, now=0.0)
    limiter.observe(1.0, sent=100, throttled=75)
    assert limiter.share == pytest.approx(0.5 * 0.25 * 0.8)
    assert not limiter.slow_start


def _out_of_slow_start(settings: RateSettings) -> ShardLimiter:
    limiter = ShardLimiter(settings, now=0.0)
    limiter.spend(*limiter.allowance(0.0))
    limiter.observe(1.0, sent=100, throttled=50)
    assert not limiter.slow_start
    return limiter


def test_an_unused_rate_is_not_raised() -> None:
    """An interval in which the gate held nothing back (its buckets overflowed: the writer sent
    less than it was allowed) adds nothing; one in which it spent what it was allowed does."""
    settings = RateSettings(
        initial_share=0.5, interval_s=1.0, increase_step=0.01, backoff=0.0, batch_jitter=0.0
    )
    limiter = _out_of_slow_start(settings)
    share = limiter.share
    for t in (2.0, 3.0, 4.0):  # sends a tenth of what it may: the buckets fill and overflow
        records, size = limiter.allowance(t - 0.5)
        limiter.spend(records // 10, size // 10)
        limiter.allowance(t)
        limiter.observe(t, sent=records // 10, throttled=0)
    assert limiter.share == share
    # Then it sends all it may, 4 times a second: held back by the gate, it probes upward (from
    # the second such interval: the first began with full buckets, which overflowed).
    for t in (5.0, 6.0, 7.0):
        for quarter in (0.75, 0.5, 0.25, 0.0):
            limiter.spend(*limiter.allowance(t - quarter))
        limiter.observe(t, sent=100, throttled=0)
    assert limiter.share == pytest.approx(share + 0.02)


def test_an_unused_rate_is_still_cut_when_throttled() -> None:
    """Overflowing buckets do not shield a shard from a cut: throttling is throttling. (The
    series of cuts never holds here, `lower` 0: holding is `test_refusals.py`'s subject.)"""
    settings = RateSettings(
        initial_share=0.5,
        interval_s=1.0,
        backoff=0.2,
        batch_jitter=0.0,
        refusals=BackgroundSettings(lower=0.0),
    )
    limiter = _out_of_slow_start(settings)
    share = limiter.share
    limiter.allowance(1.9)  # nothing spent for a while: overflowed
    limiter.observe(2.0, sent=10, throttled=1)
    assert limiter.share == pytest.approx(share * 0.9 * 0.8)


def test_a_steady_background_of_refusals_costs_no_rate() -> None:
    """A shard that refuses 5% of what it is sent at any rate (a fault-injecting endpoint): the
    limiter finds that background within a few intervals and runs at the full ceiling again,
    where before it cut at every interval down to its floor."""
    settings = RateSettings(interval_s=1.0, batch_jitter=0.0)
    limiter = ShardLimiter(settings, now=0.0)
    shares = []
    for t in range(1, 21):
        records, size = limiter.allowance(float(t))
        limiter.spend(records, size)
        limiter.observe(float(t), sent=records, throttled=records // 20)
        shares.append(limiter.share)
    assert limiter.background == pytest.approx(0.05, abs=0.005)
    full = shares.index(1.0)  # slow start: 0.25, 0.5, 1.0
    assert full == 2
    assert min(shares[full:]) >= 0.5  # two cuts, a hold while the refusals are tested...
    assert shares[-10:] == [1.0] * 10  # ...then the full rate, the background found
