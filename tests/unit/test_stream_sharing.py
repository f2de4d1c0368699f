"""Several daemons share a simulated stream of several shards (simulated clock, `stream_sim`).

Unlike `test_ratelimit_sharing.py` (one shard, endless demand per writer), each daemon here has a
bounded buffer over all its shards, so its slowest shard holds back its whole intake: a rate cut
too deep on one shard costs the daemon on every shard. Rates are averaged over the 10 s that
follow the first 10 s after a change; capacity is 1,000 records/s a shard.
"""

from __future__ import annotations

import pytest

from tests.support.shard_sim import SHARD_RECORDS_PER_S
from tests.support.stream_sim import Daemon, background_cost, simulate_stream

SEEDS = (1, 2, 3, 4, 5, 6)


def _throttled_share(daemons: list[Daemon]) -> float:
    return sum(d.throttled for d in daemons) / sum(d.sent for d in daemons)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_joining_daemon_and_the_others_converge_on_fair_shares(seed: int) -> None:
    """Three daemons on 4 shards, a fourth joins at 10 s, the first leaves at 30 s: from 10 s
    after each change, together at least 90% of the capacity and each at least 3/4 of its fair
    share, with at most 5% of the entries throttled."""
    daemons = [Daemon(stop_s=30.0), Daemon(), Daemon(), Daemon(start_s=10.0)]
    simulate_stream(daemons, 4, 45.0, seed=seed)
    capacity = 4 * SHARD_RECORDS_PER_S
    joined = [d.rate(20, 30) for d in daemons]
    assert sum(joined) >= 0.9 * capacity
    assert min(joined) >= 0.75 * capacity / 4
    stayed = [d.rate(40, 45) for d in daemons[1:]]
    assert sum(stayed) >= 0.9 * capacity
    assert min(stayed) >= 0.75 * capacity / 3
    assert _throttled_share(daemons) <= 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_after_a_resharding_the_new_shards_are_shared(seed: int) -> None:
    """Two daemons on 4 shards; at 10 s the stream becomes 8 new shards (new controllers, in slow
    start again): from 20 s on, together at least 90% of the new capacity and each at least 3/4
    of its fair share."""
    daemons = [Daemon(), Daemon()]
    simulate_stream(daemons, 4, 30.0, reshard_at=10.0, reshard_to=8, seed=seed)
    capacity = 8 * SHARD_RECORDS_PER_S
    rates = [d.rate(20, 30) for d in daemons]
    assert sum(rates) >= 0.9 * capacity
    assert min(rates) >= 0.75 * capacity / 2
    assert _throttled_share(daemons) <= 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_a_background_of_refusals_on_every_shard_costs_little(seed: int) -> None:
    """One daemon on 4 shards that each refuse 5% of records at any rate: from 5 s on it delivers
    at least 90% of what it delivers without them (at most 95% is possible: the refused records
    are sent again within the same limits)."""
    assert background_cost(4, 0.05, 30.0, 5.0, seed) >= 0.9


@pytest.mark.parametrize("seed", SEEDS)
def test_daemons_that_join_a_stream_with_a_background_get_their_share(seed: int) -> None:
    """Two daemons on 8 shards that refuse 5% of records at any rate, two more join at 10 s: from
    10 s later every daemon has at least 3/4 of its fair share (a joiner starts low, where a
    background takes longest to tell from overload)."""
    daemons = [Daemon(), Daemon(), Daemon(start_s=10.0), Daemon(start_s=10.0)]
    simulate_stream(daemons, 8, 30.0, seed=seed, refuse=0.05)
    rates = [d.rate(20, 30) for d in daemons]
    assert sum(rates) >= 0.9 * 8 * (1 - 0.05) * SHARD_RECORDS_PER_S
    assert min(rates) >= 0.75 * sum(rates) / 4


@pytest.mark.parametrize("seed", SEEDS)
def test_a_tenth_refused_on_many_shards_costs_no_more_than_the_resends(seed: int) -> None:
    """One daemon on 16 shards that each refuse 10% of records: from 10 s on at least 85% of its
    rate without them (90% is the most: a tenth is sent again). One shard's control that took the
    refusals for overload would hold back the whole daemon through its bounded buffer."""
    assert background_cost(16, 0.1, 20.0, 10.0, seed) >= 0.85
