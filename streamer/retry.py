"""Pure retry policy: after a failed attempt, retry an entry after a delay or give it up.

What it does: one readable condition decides. An entry is retried only when the error is
retriable, it has attempts left and time left in its budget; the delay is exponential backoff
with full jitter (uniform between 0 and min(cap, base * 2^attempt)), clipped so the last attempt
still falls inside the budget. Otherwise the decision names the reason the entry is given up.

What it leaves out: which errors are retriable (`errors.py` classifies them), sleeping, and
requeueing; the caller applies the decision. The random source is injected for tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from streamer.limits import (
    DEFAULT_BACKOFF_BASE_S,
    DEFAULT_BACKOFF_CAP_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RECORD_BUDGET_S,
)


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the entry again, no earlier than `delay_s` from now."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Dead-letter the entry; `reason` is a sentence for the dead-letter file."""

    reason: str


Decision = Retry | GiveUp


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Budgets and backoff shape shared by every entry."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    budget_s: float = DEFAULT_RECORD_BUDGET_S
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S

    def decide(
        self,
        *,
        attempts: int,
        first_seen: float,
        now: float,
        error: str,
        retriable: bool,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> Decision:
        """Decide after the `attempts`-th failed attempt of an entry accepted at `first_seen`."""
        if not retriable:
            return GiveUp(f"{error} (not retriable)")
        if attempts >= self.max_attempts:
            return GiveUp(f"{error}; gave up after {attempts} attempts (the attempt budget)")
        remaining = first_seen + self.budget_s - now
        if remaining <= 0:
            return GiveUp(
                f"{error}; gave up after {attempts} attempts in {now - first_seen:.1f} s "
                f"(the time budget is {self.budget_s:g} s)"
            )
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempts - 1)))
        return Retry(min(uniform(0.0, ceiling), remaining))
