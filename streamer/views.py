"""What the daemon shows of itself: the readiness reason, the gauges, the progress line.

What it does: pure readings of the running parts, for `/readyz` (the first reason not to be
ready, or None), `/metrics` (the gauges read at scrape time: buffer, in-flight records, shard
map, loop lag, connections, HTTP answers, per-shard rate limits) and the progress task.

What it leaves out: serving them (`status.py`, `metrics.py`) and deciding the destination's
health (`health.py`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from streamer.deadletter import DeadLetterFile
from streamer.pipeline import Pipeline
from streamer.progress import ProgressMeter, report_progress
from streamer.sources.base import Input
from streamer.stats import Stats
from streamer.status import Heartbeat

if TYPE_CHECKING:
    from streamer.metrics import Gauges
    from streamer.spool.spool import Spool


class ConnectionCounts(NamedTuple):
    open: int
    accepted: int
    rejected: int


def not_ready(
    *,
    failed: bool,
    stopping: bool,
    dead: DeadLetterFile | None,
    destination: str | None,
    spool: Spool | None,
    pipeline: Pipeline,
) -> str | None:
    """Why the daemon should not get input now (`/readyz` 503), or None."""
    if failed:
        return "the pipeline failed: see the error log"
    if stopping:
        return "shutting down: not accepting input"
    if dead is not None and dead.problem is not None:
        return f"{dead.problem}: input stopped, retrying"
    problem = destination or (spool.problem if spool else None)
    if problem is not None:
        return problem
    if not pipeline.has_room():
        return (
            f"buffer saturated: {pipeline.buffered_records} records buffered, input is "
            "waiting for room"
        )
    return None


def connection_counts(inputs: Sequence[Input]) -> ConnectionCounts:
    """Connections of the running inputs (open, accepted, rejected)."""
    return ConnectionCounts(
        open=sum(i.open_connections for i in inputs),
        accepted=sum(i.accepted for i in inputs),
        rejected=sum(i.rejected for i in inputs),
    )


def http_responses(inputs: Sequence[Input]) -> Counter[int]:
    """HTTP input answers by status code."""
    # at scrape time, not at start-up: a run without an HTTP input does not load it
    from streamer.sources.http import HttpInputs  # noqa: PLC0415

    return sum((i.responses for i in inputs if isinstance(i, HttpInputs)), Counter())


def gauges(
    pipeline: Pipeline,
    heartbeat: Heartbeat,
    inputs: Callable[[], Sequence[Input]],
    *,
    buffer_capacity_records: int,
    clock: Callable[[], float],
) -> Gauges:
    """The gauges `/metrics` reads at scrape time."""
    from streamer.metrics import Gauges  # noqa: PLC0415 - only with metrics, see `daemon._metrics`

    return Gauges(
        buffered_records=lambda: pipeline.buffered_records,
        buffered_bytes=lambda: pipeline.buffered_bytes,
        buffer_capacity_records=buffer_capacity_records,
        in_flight_records=lambda: pipeline.in_flight_records,
        oldest_buffered_age_s=lambda: pipeline.oldest_age(clock()),
        shards=lambda: len(pipeline.shard_map),
        shard_map_age_s=lambda: clock() - pipeline.shard_map.loaded_at,
        loop_lag_s=lambda: heartbeat.lag_s,
        connections_open=lambda: connection_counts(inputs()).open,
        connections_accepted=lambda: connection_counts(inputs()).accepted,
        connections_rejected=lambda: connection_counts(inputs()).rejected,
        http_responses=lambda: http_responses(inputs()),
        shard_rate_limits=pipeline.shard_rate_limits,
        shard_backgrounds=pipeline.shard_backgrounds,
    )


def start_progress(
    stats: Stats, pipeline: Pipeline, *, interval_s: float, clock: Callable[[], float]
) -> asyncio.Task[None]:
    """The task that logs a progress line every `interval_s`."""
    meter = ProgressMeter(stats, clock())
    return asyncio.create_task(
        report_progress(
            meter,
            interval_s=interval_s,
            clock=clock,
            queue=lambda: pipeline.buffered_records,
            in_flight=lambda: pipeline.in_flight_records,
        ),
        name="progress",
    )
