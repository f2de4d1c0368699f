"""Retry policy: one table row per outcome, with the jitter source injected."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.retry import Decision, GiveUp, Retry, RetryPolicy

POLICY = RetryPolicy(max_attempts=5, budget_s=8.0, backoff_base_s=0.25, backoff_cap_s=2.0)


def upper(lo: float, hi: float) -> float:
    """A jitter source that always picks the top of the range."""
    return hi


def lower(lo: float, hi: float) -> float:
    """A jitter source that always picks the bottom of the range."""
    return lo


@pytest.mark.parametrize(
    ("attempts", "now", "retriable", "uniform", "expected"),
    [
        pytest.param(1, 0.0, False, upper, GiveUp("E: boom (not retriable)"), id="not-retriable"),
        pytest.param(
            5,
            0.0,
            True,
            upper,
            GiveUp("E: boom; gave up after 5 attempts (the attempt budget)"),
            id="attempts-exhausted",
        ),
        pytest.param(
            2,
            8.0,
            True,
            upper,
            GiveUp("E: boom; gave up after 2 attempts in 8.0 s (the time budget is 8 s)"),
            id="budget-exactly-spent",
        ),
        pytest.param(
            2,
            9.5,
            True,
            upper,
            GiveUp("E: boom; gave up after 2 attempts in 9.5 s (the time budget is 8 s)"),
            id="budget-overspent",
        ),
        pytest.param(1, 0.0, True, upper, Retry(0.25), id="first-retry-at-base"),
        pytest.param(3, 0.0, True, upper, Retry(1.0), id="third-retry-doubles-twice"),
        pytest.param(4, 0.0, True, upper, Retry(2.0), id="fourth-retry-hits-cap"),
        pytest.param(4, 0.0, True, lower, Retry(0.0), id="full-jitter-down-to-zero"),
        pytest.param(4, 7.5, True, upper, Retry(0.5), id="clipped-to-remaining-budget"),
        pytest.param(4, 7.5, True, lower, Retry(0.0), id="clip-keeps-small-delays"),
    ],
)
def test_retry_decision_table(
    attempts: int,
    now: float,
    retriable: bool,
    uniform: object,
    expected: Decision,
) -> None:
    """Each outcome of the policy: give up for a named reason, or retry after a bounded delay."""
    decision = POLICY.decide(
        attempts=attempts,
        first_seen=0.0,
        now=now,
        error="E: boom",
        retriable=retriable,
        uniform=uniform,  # type: ignore[arg-type]
    )
    assert decision == expected


def test_non_retriable_wins_over_every_budget() -> None:
    """A non-retriable error gives up even on the first attempt with the whole budget left."""
    decision = POLICY.decide(
        attempts=1, first_seen=5.0, now=5.0, error="X", retriable=False, uniform=upper
    )
    assert isinstance(decision, GiveUp)


def test_last_attempt_inside_budget_still_retries() -> None:
    """One attempt short of the budget with time left is a retry, not a give-up."""
    decision = POLICY.decide(
        attempts=4, first_seen=0.0, now=1.0, error="X", retriable=True, uniform=upper
    )
    assert decision == Retry(2.0)


def test_jitter_range_asked_of_the_random_source() -> None:
    """The random source is asked for [0, min(cap, base * 2^(n-1))]."""
    asked: list[tuple[float, float]] = []

    def record(lo: float, hi: float) -> float:
        asked.append((lo, hi))
        return hi / 2

    policy = RetryPolicy(max_attempts=10, budget_s=8.0, backoff_base_s=0.25, backoff_cap_s=2.0)
    for attempts in range(1, 7):
        policy.decide(
            attempts=attempts, first_seen=0.0, now=0.0, error="X", retriable=True, uniform=record
        )
    assert asked == [(0.0, 0.25), (0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 2.0), (0.0, 2.0)]


@settings(max_examples=300, deadline=None)
@given(
    attempts=st.integers(1, 40),
    elapsed=st.floats(0.0, 40.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_delay_stays_within_jitter_and_budget(attempts: int, elapsed: float, seed: int) -> None:
    """Any retry delay lies in [0, min(cap, base * 2^(n-1), time left)]."""
    policy = RetryPolicy(max_attempts=50, budget_s=30.0, backoff_base_s=0.1, backoff_cap_s=5.0)
    decision = policy.decide(
        attempts=attempts,
        first_seen=100.0,
        now=100.0 + elapsed,
        error="X",
        retriable=True,
        uniform=random.Random(seed).uniform,
    )
    remaining = (100.0 + 30.0) - (100.0 + elapsed)  # the budget's end minus now
    if remaining <= 0:
        assert isinstance(decision, GiveUp)
    else:
        assert isinstance(decision, Retry)
        assert 0.0 <= decision.delay_s <= min(5.0, 0.1 * 2 ** (attempts - 1), remaining)
