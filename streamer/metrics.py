"""Prometheus metrics: the run's counters and live gauges, read at scrape time, plus call latency.

What it does: keeps a dedicated `CollectorRegistry` (never the global one) holding one custom
collector that reads `Stats` and the live gauges (buffer depth, records in flight, oldest
buffered record, shard map, connections, loop lag, and the per-shard rate limits summarized as
min/median/max, not one series per shard) only when scraped, so the hot path pays nothing for
metrics; and two histograms fed by the pipeline's per-call observer hook (one
observation per PutRecords call, never one per record): call latency and records per call.
Dead-letter reasons become a `reason` label (for bad input lines, their category:
`invalid_json`, `overlong`, ...); past `MAX_REASON_LABELS` distinct reasons the
rarest are summed under `other`, so an odd error message cannot explode the series count.

What it leaves out: serving HTTP (`status.py`); rates and quantiles (Prometheus computes them);
multi-process collection (one process, one registry).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from streamer.stats import Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which `generate_latest` writes and every Prometheus reads."""
MAX_REASON_LABELS = 50
CALL_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CALL_RECORDS_BUCKETS = (1, 5, 10, 50, 100, 250, 500)


def _zero() -> int:
    return 0


def _no_limits() -> Sequence[float]:
    return ()


@dataclass(frozen=True, slots=True)
class Gauges:
    """Live values, each read by calling it at scrape time."""

    buffered_records: Callable[[], int]
    buffered_bytes: Callable[[], int]
    buffer_capacity_records: int
    in_flight_records: Callable[[], int]
    oldest_buffered_age_s: Callable[[], float]
    shards: Callable[[], int]
    shard_map_age_s: Callable[[], float]
    loop_lag_s: Callable[[], float]
    connections_open: Callable[[], int] = _zero
    connections_accepted: Callable[[], int] = _zero
    connections_rejected: Callable[[], int] = _zero
    http_responses: Callable[[], Mapping[int, int]] = dict
    shard_rate_limits: Callable[[], Sequence[float]] = _no_limits
    """Each shard's current send limit in records/s (empty when rate limiting is off)."""
    shard_backgrounds: Callable[[], Sequence[float]] = _no_limits
    """Each shard's background of throttling found by rate limiting (empty when it is off)."""


class _RunCollector:
    """Builds every counter and gauge family from `Stats` and `Gauges` when collected."""

    def __init__(self, stats: Stats, info: Mapping[str, str]) -> None:
        self._stats = stats
        self._info = dict(info)
        self.gauges: Gauges | None = None

    def describe(self) -> list[Metric]:
        return []  # nothing to check for duplicates at registration

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        info = GaugeMetricFamily(
            "streamer_info", "The destination this daemon writes to.", labels=list(self._info)
        )
        info.add_metric(list(self._info.values()), 1)
        yield info
        for name, doc, value in (
            ("streamer_records_received", "Non-blank input lines read.", s.received),
            ("streamer_records_exported", "Lines turned into export records.", s.exported),
            ("streamer_records_filtered", "Profiles in none of the mapped segments.", s.filtered),
            ("streamer_records_delivered", "Records Kinesis acknowledged.", s.delivered),
            ("streamer_records_retried", "Record re-sends, one per record per retry.", s.retried),
            (
                "streamer_aggregated_records_sent",
                "KPL aggregated Kinesis records acknowledged (their user records count in "
                "streamer_records_delivered).",
                s.aggregates_sent,
            ),
            (
                "streamer_possible_duplicates",
                "Records re-sent after a call that may have written them.",
                s.possible_duplicates,
            ),
            ("streamer_put_records_calls", "PutRecords calls made.", s.requests),
            (
                "streamer_put_records_failures",
                "PutRecords calls that failed as a whole.",
                s.request_failures,
            ),
            ("streamer_shard_map_refreshes", "ListShards refreshes.", s.shard_map_refreshes),
            (
                "streamer_records_replayed",
                "Lines replayed from the spool at start-up.",
                s.replayed,
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield self._dead_lettered(s)
        throttled = CounterMetricFamily(
            "streamer_records_throttled",
            "Records answered ProvisionedThroughputExceeded, by predicted shard.",
            labels=["shard"],
        )
        for shard, count in sorted(s.throttled_by_shard.items()):
            throttled.add_metric([shard], count)
        yield throttled
        if self.gauges is not None:
            yield from self._live(self.gauges)

    def _dead_lettered(self, s: Stats) -> Metric:
        family = CounterMetricFamily(
            "streamer_records_dead_lettered",
            "Input lines and records written to the dead-letter file, by kind and reason.",
            labels=["kind", "reason"],
        )
        for category, count in sorted(s.rejected_by_category.items()):
            family.add_metric(["input", category], count)
        ranked = s.dead_letter_reasons.most_common()
        for reason, count in ranked[: MAX_REASON_LABELS - 1]:
            family.add_metric(["delivery", reason], count)
        rest = sum(count for _, count in ranked[MAX_REASON_LABELS - 1 :])
        if rest:
            family.add_metric(["delivery", "other"], rest)
        return family

    def _live(self, g: Gauges) -> Iterator[Metric]:
        for name, doc, value in (
            ("streamer_buffered_records", "Records waiting in the buffer.", g.buffered_records()),
            ("streamer_buffered_bytes", "Bytes waiting in the buffer.", g.buffered_bytes()),
            (
                "streamer_buffer_capacity_records",
                "Buffer bound in records; input waits when it is reached.",
                g.buffer_capacity_records,
            ),
            (
                "streamer_in_flight_records",
                "Records in PutRecords calls not yet answered.",
                g.in_flight_records(),
            ),
            (
                "streamer_oldest_buffered_record_age_seconds",
                "Age of the oldest buffered record (0 when empty).",
                g.oldest_buffered_age_s(),
            ),
            ("streamer_shards", "Open shards in the shard map.", g.shards()),
            (
                "streamer_shard_map_age_seconds",
                "Time since the shard map was loaded.",
                g.shard_map_age_s(),
            ),
            ("streamer_connections_open", "Open socket input connections.", g.connections_open()),
            (
                "streamer_event_loop_lag_seconds",
                "How late the last heartbeat ran: event loop responsiveness.",
                g.loop_lag_s(),
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        yield from _shard_summary(
            "streamer_shard_rate_limit_records_per_second",
            "Per-shard send limits found by congestion control, summarized over the shards.",
            g.shard_rate_limits(),
        )
        yield from _shard_summary(
            "streamer_shard_throttling_background_ratio",
            "Per-shard fraction of records throttled whatever the send rate (a background the "
            "congestion control found and no longer cuts for), summarized over the shards.",
            g.shard_backgrounds(),
        )
        yield CounterMetricFamily(
            "streamer_connections_accepted",
            "Socket input connections accepted.",
            value=g.connections_accepted(),
        )
        yield CounterMetricFamily(
            "streamer_connections_rejected",
            "Socket input connections closed at once (limit reached or shutting down).",
            value=g.connections_rejected(),
        )
        responses = CounterMetricFamily(
            "streamer_http_requests",
            "HTTP input requests answered, by status code.",
            labels=["code"],
        )
        for code, count in sorted(g.http_responses().items()):
            responses.add_metric([str(code)], count)
        yield responses


def _shard_summary(name: str, doc: str, values: Sequence[float]) -> Iterator[Metric]:
    """Min, median and max of a per-shard value: three series, whatever the shard count (none
    when there are no values)."""
    if not values:
        return
    family = GaugeMetricFamily(name, doc, labels=["stat"])
    family.add_metric(["min"], min(values))
    family.add_metric(["median"], statistics.median(values))
    family.add_metric(["max"], max(values))
    yield family


class Metrics:
    """The registry, its collector and the per-call histograms."""

    def __init__(self, stats: Stats, *, info: Mapping[str, str]) -> None:
        self.registry = CollectorRegistry()
        self._collector = _RunCollector(stats, info)
        self.registry.register(self._collector)
        self._call_seconds = Histogram(
            "streamer_put_records_duration_seconds",
            "PutRecords call latency, from send to answer (or failure).",
            registry=self.registry,
            buckets=CALL_SECONDS_BUCKETS,
        )
        self._call_records = Histogram(
            "streamer_put_records_records",
            "Records per PutRecords call.",
            registry=self.registry,
            buckets=CALL_RECORDS_BUCKETS,
        )

    def watch(self, gauges: Gauges) -> None:
        """Start reporting the live gauges (once the pieces they read exist)."""
        self._collector.gauges = gauges

    def observe_call(self, seconds: float, sent: int) -> None:
        """The pipeline's per-call hook: one observation per PutRecords call."""
        self._call_seconds.observe(seconds)
        self._call_records.observe(sent)

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)
