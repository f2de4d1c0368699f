"""The progress line: every few seconds, throughput and backlog as one log line on stderr.

What it does: `ProgressMeter` (pure) turns the run's counters at successive instants into a
progress event: records delivered per second over the last interval, the totals delivered,
dead-lettered and retried, the queue depth and the records in flight. `report_progress` emits
one every `interval_s` through the log (so it is a JSON line or a console line, like the rest).
The daemon turns it on when stderr is a terminal or `--progress` is given.

What it leaves out: redrawing a terminal line in place (it would fight the other log lines),
and anything Prometheus already exposes (`metrics.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from streamer.stats import Stats

log = structlog.get_logger("streamer")


class ProgressMeter:
    """Remembers the previous reading so each event reports the rate since then."""

    def __init__(self, stats: Stats, now: float) -> None:
        self._stats = stats
        self._at = now
        self._delivered = stats.delivered
        self._received = stats.received

    def read(self, now: float, *, queue: int, in_flight: int) -> dict[str, Any]:
        s = self._stats
        elapsed = now - self._at
        rate = (s.delivered - self._delivered) / elapsed if elapsed > 0 else 0.0
        in_rate = (s.received - self._received) / elapsed if elapsed > 0 else 0.0
        self._at, self._delivered, self._received = now, s.delivered, s.received
        return {
            "records_per_s": round(rate, 1),
            "received_per_s": round(in_rate, 1),
            "delivered": s.delivered,
            "dead_lettered": s.dead_lettered,
            "retried": s.retried,
            "queue": queue,
            "in_flight": in_flight,
        }


async def report_progress(
    meter: ProgressMeter,
    *,
    interval_s: float,
    clock: Callable[[], float],
    queue: Callable[[], int],
    in_flight: Callable[[], int],
) -> None:
    """Log a progress event every `interval_s` until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        log.info("progress", **meter.read(clock(), queue=queue(), in_flight=in_flight()))
