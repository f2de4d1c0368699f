"""Telling a shard's background of refusals from overload (`streamer.refusals`), pure."""

from __future__ import annotations

import pytest

from streamer.refusals import BackgroundSettings, Refusals

MIN_SHARE = 0.01


def _refusals(**settings: float) -> Refusals:
    return Refusals(BackgroundSettings(**settings), MIN_SHARE)  # type: ignore[arg-type]


def _interval(r: Refusals, share: float, sent: int, throttled: int) -> tuple[float, bool]:
    """One interval as the limiter runs it: (the share after it, whether a background was
    found). A cut takes the share to 0.76 of itself, as a 5% overload with the backoff does."""
    overload = r.overload(sent, throttled, slow_start=False)
    if r.watch(sent, throttled, share, overload=overload is not None):
        return share, True
    if overload is not None and r.may_cut(sent, throttled, share):
        return share * 0.76, False
    if overload is None:
        r.follow(sent, throttled)
    return share, False


def test_with_no_background_any_refusal_is_overload() -> None:
    r = _refusals()
    assert r.overload(200, 0, slow_start=False) is None
    assert r.overload(200, 1, slow_start=False) == pytest.approx(1 / 200)


def test_in_slow_start_only_more_than_a_background_is_overload() -> None:
    """Up to a tenth, give or take `slow_start_noise` standard deviations: of 200 records,
    20 + sqrt(200 * 0.1 * 0.9) = 24.2."""
    r = _refusals(slow_start_tolerance=0.1, slow_start_noise=1.0)
    assert r.overload(200, 24, slow_start=True) is None
    r = _refusals(slow_start_tolerance=0.1, slow_start_noise=1.0)
    assert r.overload(200, 25, slow_start=True) == pytest.approx(25 / 200)


def test_refusals_that_stay_at_the_lower_rate_are_the_background() -> None:
    """5% refused at every rate: the cuts take the share below 0.7 of where it was, the 5% stays
    there, and the refusals are found to be the background (the cuts were for nothing)."""
    r = _refusals()
    share, found, intervals = 1.0, False, 0
    while not found:
        intervals += 1
        assert intervals < 10
        share, found = _interval(r, share, 200, 10)
    assert r.background == pytest.approx(0.05)
    assert not r.testing
    assert r.overload(200, 10, slow_start=False) is None  # the background costs no more cuts
    assert r.overload(200, 22, slow_start=False) is None  # ...nor its noise (10 + 4 sd: 22.6)
    assert r.overload(200, 40, slow_start=False) == pytest.approx(30 / 200)  # beyond: cut


def test_refusals_that_fall_away_after_the_cuts_are_overload() -> None:
    """5% refused until the cuts took the share to 0.58, then none: the cuts relieved the shard,
    so they stand, and no background is taken."""
    r = _refusals()
    share = 1.0
    for _ in range(6):
        share, found = _interval(r, share, 200, 10 if share > 0.7 else 0)
        assert not found
    assert share == pytest.approx(0.76**2)
    assert r.background == 0.0
    assert not r.testing


def test_a_first_cut_that_goes_below_the_test_rate_is_overload() -> None:
    """Refusals so many that one cut halves the share (writers leaving slow start together):
    never a background, however they go on."""
    r = _refusals()
    assert r.may_cut(200, 80, 1.0)
    for _ in range(5):
        assert not r.watch(200, 10, 0.4, overload=True)
    assert r.background == 0.0
    assert not r.testing


def test_cuts_that_come_now_and_then_end_the_series() -> None:
    """Overload every other interval never takes the share to the test rate within
    `halve_within` intervals: the series ends and its cuts stand."""
    r = _refusals(halve_within=4)
    r.may_cut(200, 10, 1.0)
    for i in range(4):
        r.watch(200, 10 if i % 2 else 0, 0.76, overload=bool(i % 2))
    assert not r.testing
    assert r.background == 0.0


def test_quiet_intervals_end_the_series() -> None:
    r = _refusals(relieved=3)
    r.may_cut(200, 10, 1.0)
    for _ in range(3):
        assert r.testing
        r.watch(200, 0, 0.76, overload=False)
    assert not r.testing


def test_a_found_background_follows_the_refusals_slowly() -> None:
    r = _refusals(smoothing=0.5)
    share, found = 1.0, False
    while not found:
        share, found = _interval(r, share, 200, 10)
    r.follow(200, 0)
    assert r.background == pytest.approx(0.025)
    fresh = _refusals()
    fresh.follow(200, 10)  # no background found: nothing to follow
    assert fresh.background == 0.0


def test_in_slow_start_refusals_that_grow_with_the_share_are_overload() -> None:
    """A steady 5% stays tolerated while the share doubles; refusals that surely grow with each
    doubling (writers overshooting together) end slow start even below the tolerance."""
    steady = _refusals(slow_start_tolerance=0.1)
    for sent in (100, 200, 400):
        assert steady.overload(sent, sent // 20, slow_start=True) is None
    growing = _refusals(slow_start_tolerance=0.1, growth_noise=3.0)
    assert growing.overload(400, 4, slow_start=True) is None
    assert growing.overload(800, 72, slow_start=True) == pytest.approx(72 / 800)
    after_none = _refusals(slow_start_tolerance=0.1, quiet_evidence=3.0)
    assert after_none.overload(100, 0, slow_start=True) is None
    assert after_none.overload(200, 8, slow_start=True) == pytest.approx(8 / 200)
    by_chance = _refusals(slow_start_tolerance=0.1, quiet_evidence=3.0)
    assert by_chance.overload(40, 0, slow_start=True) is None
    assert by_chance.overload(80, 4, slow_start=True) is None, "none of 40 at 5%: chance"


def test_in_slow_start_growth_is_judged_against_the_noise_of_both_intervals() -> None:
    """7 of 170 then 11 of 92: a background's chance (it looks like growth only against the
    first fraction taken as exact). Of 64 shards starting together, some see this at every
    start; cutting there left a shard at a tenth of its rate for seconds."""
    r = _refusals(slow_start_tolerance=0.1, slow_start_noise=1.0, growth_noise=3.0)
    assert r.overload(170, 7, slow_start=True) is None
    assert r.overload(92, 11, slow_start=True) is None


def test_refusals_that_come_in_waves_are_not_a_background() -> None:
    """Refusals that stay on average but come and go (other writers' cuts and probing) vary far
    more than one steady probability's would: they stay overload."""
    r = _refusals(lower=0.7, evidence=10.0)
    assert r.may_cut(200, 10, 1.0)
    ended = False
    for sent, throttled in [(200, 20), (200, 0)] * 6:
        assert not r.watch(sent, throttled, 0.6, overload=bool(throttled))
        if not r.testing:
            ended = True  # with a verdict of overload
            break
    assert ended
    assert r.background == 0.0


def test_a_background_that_meets_overload_on_the_way_back_was_none() -> None:
    """After a background is found the share finds its rate again; overload on the way back,
    below the rate the cuts began at, means the refusals were others' after all: the background
    before (none) is restored."""
    r = _refusals()
    share, found = 1.0, False
    while not found:
        share, found = _interval(r, share, 200, 10)
    assert r.background > 0
    r.watch(200, 40, 0.8, overload=True)  # 0.8 < 1.0, where the cuts began
    assert r.background == 0.0


def test_a_found_background_never_follows_above_the_maximum() -> None:
    r = _refusals(smoothing=1.0, max_background=0.15)
    share, found = 1.0, False
    while not found:
        share, found = _interval(r, share, 200, 10)
    r.follow(200, 100)
    assert r.background == 0.15
    r.follow(0, 0)  # nothing sent: nothing learned
    assert r.background == 0.15
    assert r.overload(0, 0, slow_start=True) is None


def test_a_writer_at_a_low_rate_can_still_find_a_background() -> None:
    """A writer sending 20 records an interval, one of them refused each time (5%): its first cut
    may already go below the test rate, and the background is still found."""
    r = _refusals()
    share, found = 0.1, False
    for _ in range(200):
        share, found = _interval(r, share, 20, 1)
        if found:
            break
    assert found
    assert r.background == pytest.approx(0.05)
