"""Pure per-shard write limiting: token buckets for records/s and bytes/s with adaptive rate.

What it does: each shard gets two token buckets (records and bytes) refilled at the shard's write
limit times a configured factor, with one second's worth of burst. `allowance(now)` says how many
records and bytes the shard may send now; `spend` takes them. On a throttling answer for that
shard the rate is halved (at most once per `decrease_interval_s`, so one burst of throttles is one
decrease), and every call without throttling adds back a fixed step: additive increase,
multiplicative decrease, per shard, so a hot shard slows down alone.

What it leaves out: clocks (time is passed in), which shard a record goes to, and sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.limits import SHARD_WRITE_BYTES_PER_S, SHARD_WRITE_RECORDS_PER_S


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Shared by all shards. `factor` 0 turns limiting off."""

    factor: float = 1.0
    records_per_s: float = SHARD_WRITE_RECORDS_PER_S
    bytes_per_s: float = SHARD_WRITE_BYTES_PER_S
    min_share: float = 0.05
    """The adaptive share never drops below this fraction of the configured rate."""
    increase_step: float = 0.05
    decrease_interval_s: float = 0.5
    batch_window_s: float = 0.1
    """A rate-limited shard waits until it may send this long's worth of records (or all it
    holds), so limiting yields fewer, fuller calls instead of a call per token."""

    @property
    def enabled(self) -> bool:
        return self.factor > 0


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = rate  # one second of burst
        self.level = rate
        self.updated = now

    def refill(self, now: float, share: float) -> float:
        elapsed = now - self.updated
        if elapsed > 0:
            # At least one unit of burst, so a tiny rate still lets a record through in time.
            ceiling = max(self.capacity * share, 1.0)
            self.level = min(ceiling, self.level + elapsed * self.rate * share)
            self.updated = now
        return self.level


class ShardLimiter:
    """Records and bytes buckets for one shard, with an adaptive share of the full rate."""

    __slots__ = ("_bytes", "_last_decrease", "_records", "_settings", "share")

    def __init__(self, settings: RateSettings, now: float) -> None:
        self._settings = settings
        self._records = _Bucket(settings.records_per_s * settings.factor, now)
        self._bytes = _Bucket(settings.bytes_per_s * settings.factor, now)
        self.share = 1.0
        self._last_decrease = -1e18

    def allowance(self, now: float) -> tuple[int, int]:
        """(records, bytes) the shard may send now."""
        return (
            int(self._records.refill(now, self.share)),
            int(self._bytes.refill(now, self.share)),
        )

    def spend(self, records: int, size: int) -> None:
        self._records.level -= records
        self._bytes.level -= size

    def refund(self, records: int, size: int) -> None:
        """Give back tokens for records the service refused (they did not use capacity)."""
        self._records.level = min(self._records.capacity, self._records.level + records)
        self._bytes.level = min(self._bytes.capacity, self._bytes.level + size)

    @property
    def batch_records(self) -> int:
        """Records worth waiting for before a call: `batch_window_s` at the current rate."""
        return max(1, int(self._records.rate * self.share * self._settings.batch_window_s))

    def wait_s(self, now: float, records: int = 1, size: int = 1) -> float:
        """Seconds until at least `records` records and `size` bytes are allowed."""
        rec_level, byte_level = self.allowance(now)
        waits = [0.0]
        if rec_level < records:
            waits.append((records - rec_level) / (self._records.rate * self.share))
        if byte_level < size:
            waits.append((size - byte_level) / (self._bytes.rate * self.share))
        return max(waits)

    def throttled(self, now: float) -> None:
        """The service throttled this shard: halve its share (once per decrease interval)."""
        if now - self._last_decrease >= self._settings.decrease_interval_s:
            self.share = max(self._settings.min_share, self.share / 2)
            self._last_decrease = now

    def succeeded(self) -> None:
        """A call for this shard went through without throttling: recover a step."""
        if self.share < 1.0:
            self.share = min(1.0, self.share + self._settings.increase_step)
