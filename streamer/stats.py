"""Run counters and the end-of-run summary.

What it does: plain integer counters bumped where each event happens (the ingest loop counts
lines, the pipeline counts calls, retries and throttling), `count_settled` (a subscriber of the
pipeline's settled events: delivered and dead-lettered records and their reasons),
`undeadlettered` (set by the daemon from the dead-letter file: entries decided but not written,
which `dead_lettered` leaves out), and the
summary dict printed as the last log line. Metrics exporters read these counters; nothing here
does I/O.

What it leaves out: rates over windows and histograms (see `metrics.py`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamer.record import Outcome, Settled


@dataclass(slots=True)
class Stats:
    """Counts since start; `delivered + dead_lettered_delivery + spooled` equals `exported`
    after a drain."""

    received: int = 0
    """Non-blank input lines."""
    exported: int = 0
    """Lines turned into export records and accepted into the buffer."""
    filtered: int = 0
    """Valid profiles in none of the mapped segments."""
    rejected: int = 0
    """Input lines dead-lettered as bad input."""
    rejected_by_category: Counter[str] = field(default_factory=Counter)
    """Bad input lines by category (the exporter's `Rejected.category`, or "overlong");
    sums to `rejected`."""
    delivered: int = 0
    """Exported records the service took (counted from the pipeline's settled events)."""
    dead_lettered_delivery: int = 0
    """Exported records given up after sending (attempts, time budget, fatal error, shutdown),
    counted from the pipeline's settled events."""
    retried: int = 0
    """Record re-sends (one per record per retry)."""
    aggregates_sent: int = 0
    """Kinesis records in the KPL aggregated format the service took (their user records are
    counted in `delivered`)."""
    throttled: int = 0
    """Per-record ProvisionedThroughputExceeded answers."""
    requests: int = 0
    """PutRecords calls made."""
    request_failures: int = 0
    """Calls that failed as a whole (no per-record answer)."""
    possible_duplicates: int = 0
    """Records re-sent after a request that may have been applied (timeout, reset)."""
    replayed: int = 0
    """Lines an earlier run left in the spool, exported and sent again at start-up."""
    spooled: int = 0
    """Records left in the spool at exit (drain deadline or interrupt), sent at the next start."""
    shard_map_refreshes: int = 0
    """Shard maps loaded after start-up (a record landed on an unpredicted shard)."""
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    """Dead-lettered records by short reason (the reason's first clause)."""
    throttled_by_shard: Counter[str] = field(default_factory=Counter)
    undeadlettered: int = 0
    """Entries meant for the dead-letter file that are not (yet) in it: the file could not be
    written. At exit, what could be written nowhere."""

    def count_settled(self, event: Settled) -> None:
        """Count records the pipeline settled (bad input is counted by intake as `rejected`)."""
        if event.outcome is Outcome.DELIVERED:
            self.delivered += event.count
        elif event.outcome is Outcome.DEAD_LETTERED:
            self.dead_lettered_delivery += event.count
            self.dead_letter_reasons[event.reason.split(";", 1)[0][:80]] += event.count
        elif event.outcome is Outcome.SPOOLED:
            self.spooled += event.count

    @property
    def dead_lettered(self) -> int:
        """Entries written to the dead-letter file (decided ones not yet written excluded)."""
        return self.rejected + self.dead_lettered_delivery - self.undeadlettered

    def reject(self, category: str) -> None:
        """Count one bad input line."""
        self.rejected += 1
        self.rejected_by_category[category] += 1

    def summary(self, elapsed_s: float) -> dict[str, Any]:
        return {
            "received": self.received,
            "exported": self.exported,
            "filtered": self.filtered,
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
            "undeadlettered": self.undeadlettered,
            "rejected": self.rejected,
            "retried": self.retried,
            "aggregates_sent": self.aggregates_sent,
            "throttled": self.throttled,
            "requests": self.requests,
            "request_failures": self.request_failures,
            "possible_duplicates": self.possible_duplicates,
            "shard_map_refreshes": self.shard_map_refreshes,
            "replayed": self.replayed,
            "spooled": self.spooled,
            "elapsed_s": round(elapsed_s, 3),
            "records_per_s": round(self.delivered / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        }
