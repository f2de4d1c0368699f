"""Pure per-shard write limiting: a shard-capacity ceiling and, below it, a rate that is found.

What it does: each shard gets two token buckets (records and bytes) refilled at the shard's write
limit times a configured factor (the ceiling), with one second's worth of burst, scaled by an
adaptive `share` of that ceiling. `allowance(now)` says how many records and bytes the shard may
send now; `spend` takes them, and `refund` gives back those of records answered InternalFailure
(not written, they are not counted against the shard's rate). The share is a congestion
controller that assumes nothing about who else writes to the shard (other daemons, other
producers): `observe(now, sent, throttled)` counts what each call sent to the shard and how much
of it was throttled, and once per `interval_s`:
- overload (refusals beyond the shard's background, as `refusals.Refusals` judges them: with no
  background found, any refusal; in slow start, more than about a tenth, or fewer surely growing
  as the share doubles): share *= max(min_kept, 1 - beta * overload) * (1 - backoff): with beta 1
  the share falls to what the shard actually accepted from this writer, in proportion to the
  overload (so a little throttling costs a little rate, and N writers that overshoot together fall
  back to about their part), but once out of slow start by at most half in one interval (one call
  that met an empty bucket is mostly refused, which says little about the writer's part), then a
  further `backoff` to leave room (Flink AsyncSinkWriter's AIMD, with a proportional decrease); a
  series of cuts that finds the refusals staying at the lower rate has found a background instead,
  and the share starts a slow start from where the cuts left it;
- no overload: in slow start (a new shard starts at `initial_share`, until its first
  overload) the share doubles, so a lone writer reaches the full rate within about a second;
  after that it grows by `increase_step` per interval (TCP congestion avoidance), and after
  `increase_grace` clean intervals in a row by one more step per further clean interval (up to
  `increase_max_steps`), so freed capacity is taken back quickly (CUBIC's probing away from the
  last loss, in its simplest form). An interval in which the gate did not hold the writer back
  (its bucket overflowed: tokens went unused) does not raise the share: a writer held back by
  something else (its own slowest shard, its input) learns nothing about this shard's room, and
  a share that grew unused would overshoot all at once when the demand comes (TCP's congestion
  window validation).
Multiplicative cuts with additive growth converge on equal shares for writers that see the same
throttled fraction (Chiu and Jain's argument for AIMD); the send times are jittered so that
writers do not fall into a lockstep in which one of them takes most of the throttling.

What it leaves out: clocks (time is passed in) and randomness (an `rng` may be passed in, as
the simulated-shard tests do), which shard a record goes to, and sending. It knows nothing of
the other writers: shares come out equal on average, each writer's own rate wanders around it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from streamer.limits import SHARD_WRITE_BYTES_PER_S, SHARD_WRITE_RECORDS_PER_S
from streamer.refusals import BackgroundSettings, Refusals


class RateGate(Protocol):
    """A shard's send-rate gate, as the accumulator uses it (`ShardLimiter` implements it)."""

    @property
    def batch_records(self) -> int: ...

    @property
    def share(self) -> float: ...

    @property
    def records_per_s(self) -> float: ...

    @property
    def background(self) -> float: ...

    def allowance(self, now: float) -> tuple[int, int]: ...

    def spend(self, records: int, size: int) -> None: ...

    def refund(self, records: int, size: int) -> None: ...

    def wait_s(self, now: float, records: int = 1, size: int = 1) -> float: ...

    def observe(self, now: float, sent: int, throttled: int) -> None: ...


GateFactory = Callable[[float], RateGate]
"""Makes the rate gate of a new shard at time `now`."""


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Shared by all shards. `factor` 0 turns limiting off."""

    factor: float = 1.0
    records_per_s: float = SHARD_WRITE_RECORDS_PER_S
    bytes_per_s: float = SHARD_WRITE_BYTES_PER_S
    initial_share: float = 0.125
    """Where a new shard's share starts; slow start doubles it per clean interval."""
    min_share: float = 0.01
    """The adaptive share never drops below this fraction of the ceiling."""
    interval_s: float = 0.25
    """At most one change of share per interval (about the time a cut takes to show)."""
    beta: float = 1.0
    """Decrease in proportion: share *= (1 - beta * throttled fraction) * (1 - backoff)."""
    min_kept: float = 0.5
    """...keeping at least this part of the share before the backoff (at most halved at once)."""
    backoff: float = 0.2
    """The cut beyond the overload: writers leave a little room, and unequal shares draw
    closer by this much at every cut (so a joining writer catches up within seconds)."""
    increase_step: float = 0.004
    """Additive increase per clean interval, as a fraction of the ceiling (4 records/s)."""
    increase_grace: int = 10
    """Clean intervals in a row (2.5 s) after which the increase starts to accelerate..."""
    increase_max_steps: int = 8
    """...by one more step per further clean interval, up to this many steps per interval: near
    the rate of the last throttling the probing stays gentle, while capacity that was freed
    (a writer left, another producer slowed down) is taken back within seconds."""
    batch_window_s: float = 0.1
    """A rate-limited shard waits until it may send this long's worth of records (or all it
    holds), so limiting yields fewer, fuller calls instead of a call per token."""
    refusals: BackgroundSettings = field(default_factory=BackgroundSettings)
    """How a shard's refusals are told apart: a background, or overload (`refusals.py`)."""
    batch_jitter: float = 0.5
    """Each wait is drawn within batch_window_s * (1 +- batch_jitter): writers that share a shard
    would otherwise call in lockstep, and the one that always comes just after another would
    take most of the throttling."""

    @property
    def enabled(self) -> bool:
        return self.factor > 0


class _Bucket:
    __slots__ = ("capacity", "level", "overflowed", "rate", "updated")

    def __init__(self, rate: float, now: float, share: float) -> None:
        self.rate = rate
        self.capacity = rate  # one second of burst
        self.level = rate * share
        self.updated = now
        self.overflowed = False
        """Tokens were thrown away since the flag was last cleared: the gate held nothing back."""

    def ceiling(self, share: float) -> float:
        """The burst at `share`: at least one unit, so a tiny rate still lets a record through
        in time."""
        return max(self.capacity * share, 1.0)

    def refill(self, now: float, share: float) -> float:
        elapsed = now - self.updated
        ceiling = self.ceiling(share)
        if elapsed > 0:
            level = self.level + elapsed * self.rate * share
            if level > ceiling:
                level = ceiling
                self.overflowed = True
            self.level = level
            self.updated = now
        elif self.level > ceiling:
            self.level = ceiling  # the share was just cut: no burst at the old rate
        return self.level


class ShardLimiter:
    """Records and bytes buckets for one shard, with an adaptive share of the ceiling."""

    __slots__ = (
        "_bytes",
        "_clean_streak",
        "_interval_started",
        "_records",
        "_refusals",
        "_rng",
        "_sent",
        "_settings",
        "_throttled",
        "_window_s",
        "share",
        "slow_start",
    )

    def __init__(
        self, settings: RateSettings, now: float, rng: random.Random | None = None
    ) -> None:
        self._settings = settings
        self._rng = rng or random.Random()
        self._window_s = settings.batch_window_s
        self.share = min(1.0, max(settings.min_share, settings.initial_share))
        self.slow_start = self.share < 1.0
        self._records = _Bucket(settings.records_per_s * settings.factor, now, self.share)
        self._bytes = _Bucket(settings.bytes_per_s * settings.factor, now, self.share)
        self._interval_started = now
        self._sent = 0
        self._throttled = 0
        self._clean_streak = 0
        self._refusals = Refusals(settings.refusals, settings.min_share)

    @property
    def records_per_s(self) -> float:
        """The current record rate limit (ceiling times share)."""
        return self._records.rate * self.share

    def allowance(self, now: float) -> tuple[int, int]:
        """(records, bytes) the shard may send now."""
        return (
            int(self._records.refill(now, self.share)),
            int(self._bytes.refill(now, self.share)),
        )

    def spend(self, records: int, size: int) -> None:
        self._records.level -= records
        self._bytes.level -= size
        jitter = self._settings.batch_jitter
        if jitter:
            self._window_s = self._settings.batch_window_s * self._rng.uniform(
                1.0 - jitter, 1.0 + jitter
            )

    def refund(self, records: int, size: int) -> None:
        """`records` of `size` bytes sent were answered InternalFailure: not written, they are
        not counted against the shard's rate here, and their tokens come back (up to the burst:
        if the shard counted them after all, its throttling cuts the rate as usual). Throttled
        records are not refunded: whether this writer's load or others' filled the shard, it
        was full."""
        for bucket, amount in ((self._records, records), (self._bytes, size)):
            bucket.level = min(bucket.level + amount, bucket.ceiling(self.share))

    @property
    def batch_records(self) -> int:
        """Records worth waiting for before a call: `batch_window_s` at the current rate."""
        return max(1, int(self.records_per_s * self._window_s))

    def wait_s(self, now: float, records: int = 1, size: int = 1) -> float:
        """Seconds until at least `records` records and `size` bytes are allowed."""
        rec_level, byte_level = self.allowance(now)
        waits = [0.0]
        if rec_level < records:
            waits.append((records - rec_level) / (self._records.rate * self.share))
        if byte_level < size:
            waits.append((size - byte_level) / (self._bytes.rate * self.share))
        return max(waits)

    def observe(self, now: float, sent: int, throttled: int) -> None:
        """A call answered: `sent` records went to this shard, `throttled` of them were refused
        for throughput. Adjusts the share once per interval from what the interval saw."""
        self._sent += sent
        self._throttled += throttled
        s = self._settings
        if now - self._interval_started < s.interval_s or self._sent == 0:
            return
        records, size = self._records, self._bytes
        idle = records.overflowed and size.overflowed
        records.overflowed = size.overflowed = False
        sent, throttled = self._sent, self._throttled
        refusals = self._refusals
        overload = refusals.overload(sent, throttled, slow_start=self.slow_start)
        if refusals.watch(sent, throttled, self.share, overload=overload is not None):
            self.slow_start = True  # the cuts were for a background: find the rate again
        elif overload is not None:
            if refusals.may_cut(sent, throttled, self.share):
                self._cut(overload)
        else:
            refusals.follow(sent, throttled)
            self._grow(idle)
        self._interval_started = now
        self._sent = 0
        self._throttled = 0

    @property
    def background(self) -> float:
        """The shard's refused fraction found to be a background (see `refusals.py`)."""
        return self._refusals.background

    def _cut(self, overload: float) -> None:
        """An interval with overload: cut in proportion to it (the refused fraction beyond the
        background)."""
        s = self._settings
        self._clean_streak = 0
        # Leaving slow start, the whole overshoot is cut: the writers that doubled together
        # were refused alike, so what the shard took from each is its part.
        kept = 0.0 if self.slow_start else s.min_kept
        self.slow_start = False
        took = max(kept, 1.0 - s.beta * overload)
        self.share = max(s.min_share, self.share * took * (1.0 - s.backoff))

    def _grow(self, idle: bool) -> None:
        """An interval without overload: slow start doubles, then additive probing."""
        s = self._settings
        if self.slow_start:
            self.share = min(1.0, self.share * 2.0)
            self.slow_start = self.share < 1.0
        elif not idle:  # an idle gate held nothing back: nothing learned about more room
            self._clean_streak += 1
            steps = min(max(1, self._clean_streak - s.increase_grace), s.increase_max_steps)
            self.share = min(1.0, self.share + s.increase_step * steps)
