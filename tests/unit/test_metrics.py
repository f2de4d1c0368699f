"""Metrics collector, progress meter, heartbeat and the status endpoint, without a server."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from streamer.metrics import MAX_REASON_LABELS, Gauges, Metrics
from streamer.progress import ProgressMeter
from streamer.sources.address import HostPort
from streamer.stats import Stats
from streamer.status import Heartbeat, StatusServer


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def gauges(**overrides: Any) -> Gauges:
    values: dict[str, Any] = {
        "buffered_records": lambda: 7,
        "buffered_bytes": lambda: 700,
        "buffer_capacity_records": 100,
        "in_flight_records": lambda: 3,
        "oldest_buffered_age_s": lambda: 1.5,
        "shards": lambda: 4,
        "shard_map_age_s": lambda: 60.0,
        "loop_lag_s": lambda: 0.002,
        "connections_open": lambda: 2,
        "connections_accepted": lambda: 5,
        "connections_rejected": lambda: 1,
    }
    values.update(overrides)
    return Gauges(**values)


def test_counters_and_gauges_read_at_scrape_time() -> None:
    """Every counter comes from Stats as it is when scraped; gauges call their sources."""
    stats = Stats(received=10, exported=8, filtered=1, delivered=6, retried=2)
    stats.reject("overlong")
    stats.dead_lettered_delivery = 2
    stats.dead_letter_reasons["shutdown deadline reached before the record was delivered"] = 2
    stats.throttled_by_shard["shardId-1"] = 4
    stats.requests = 3
    metrics = Metrics(stats, info={"destination": "d", "stream": "s", "region": "r"})
    metrics.watch(gauges())
    stats.delivered = 7  # changed after registration: the scrape sees it
    got = samples(metrics)
    assert got[("streamer_records_received_total", ())] == 10
    assert got[("streamer_records_delivered_total", ())] == 7
    assert got[("streamer_records_retried_total", ())] == 2
    assert got[("streamer_put_records_calls_total", ())] == 3
    dead = {k[1]: v for k, v in got.items() if k[0] == "streamer_records_dead_lettered_total"}
    assert sum(dead.values()) == stats.dead_lettered
    assert dead[(("kind", "input"), ("reason", "overlong"))] == 1
    assert got[("streamer_records_throttled_total", (("shard", "shardId-1"),))] == 4
    assert got[("streamer_buffered_records", ())] == 7
    assert got[("streamer_in_flight_records", ())] == 3
    assert got[("streamer_oldest_buffered_record_age_seconds", ())] == 1.5
    assert got[("streamer_shards", ())] == 4
    assert got[("streamer_connections_open", ())] == 2
    assert got[("streamer_connections_rejected_total", ())] == 1
    assert got[("streamer_info", (("destination", "d"), ("region", "r"), ("stream", "s")))] == 1


def test_shard_rate_limits_summarized_not_one_series_per_shard() -> None:
    """The per-shard rate limits appear as min, median and max; none when limiting is off."""
    limits = [1000.0, 250.0, 400.0, 125.0, 900.0]
    metrics = Metrics(Stats(), info={})
    metrics.watch(gauges(shard_rate_limits=lambda: limits))
    got = samples(metrics)
    name = "streamer_shard_rate_limit_records_per_second"
    series = {dict(k[1])["stat"]: v for k, v in got.items() if k[0] == name}
    assert series == {"min": 125.0, "median": 400.0, "max": 1000.0}
    limits.clear()
    assert not [k for k in samples(metrics) if k[0] == name]


def test_shard_throttling_backgrounds_summarized() -> None:
    """The per-shard backgrounds of throttling the rate limiting found: min, median and max."""
    metrics = Metrics(Stats(), info={})
    metrics.watch(gauges(shard_backgrounds=lambda: [0.0, 0.05, 0.04]))
    name = "streamer_shard_throttling_background_ratio"
    series = {dict(k[1])["stat"]: v for k, v in samples(metrics).items() if k[0] == name}
    assert series == {"min": 0.0, "median": 0.04, "max": 0.05}


def test_call_histograms_fed_by_the_hook() -> None:
    """observe_call feeds the latency and records-per-call histograms, once per call."""
    metrics = Metrics(Stats(), info={})
    metrics.observe_call(0.02, 500)
    metrics.observe_call(0.3, 20)
    got = samples(metrics)
    assert got[("streamer_put_records_duration_seconds_count", ())] == 2
    assert abs(got[("streamer_put_records_duration_seconds_sum", ())] - 0.32) < 1e-9
    assert got[("streamer_put_records_duration_seconds_bucket", (("le", "0.025"),))] == 1
    assert got[("streamer_put_records_records_sum", ())] == 520
    assert ("streamer_buffered_records", ()) not in got, "no gauges before watch()"


def test_reason_labels_are_capped() -> None:
    """Past the cap, the rarest dead-letter reasons are summed under `other`; totals hold."""
    stats = Stats()
    for i in range(MAX_REASON_LABELS + 10):
        stats.dead_letter_reasons[f"reason {i}"] = i + 1
    stats.dead_lettered_delivery = sum(stats.dead_letter_reasons.values())
    got = samples(Metrics(stats, info={}))
    delivery = {
        dict(k[1])["reason"]: v
        for k, v in got.items()
        if k[0] == "streamer_records_dead_lettered_total" and dict(k[1])["kind"] == "delivery"
    }
    assert len(delivery) == MAX_REASON_LABELS
    assert sum(delivery.values()) == stats.dead_lettered_delivery
    assert "reason 0" not in delivery
    assert "other" in delivery


def test_progress_rate_over_the_last_interval() -> None:
    """The progress rate is deliveries since the previous reading over the time since."""
    stats = Stats()
    meter = ProgressMeter(stats, now=100.0)
    stats.delivered, stats.received, stats.retried = 5000, 6000, 3
    first = meter.read(105.0, queue=10, in_flight=2)
    assert first["records_per_s"] == 1000.0
    assert first["received_per_s"] == 1200.0
    assert (first["delivered"], first["retried"], first["queue"], first["in_flight"]) == (
        5000,
        3,
        10,
        2,
    )
    stats.delivered = 5500
    assert meter.read(110.0, queue=0, in_flight=0)["records_per_s"] == 100.0


def test_heartbeat_problem_when_stale() -> None:
    """The loop counts as unresponsive once no tick ran for `stale_s`; lag is measured."""
    now = [0.0]
    beat = Heartbeat(clock=lambda: now[0], stale_s=5.0)
    assert beat.problem(4.9) is None
    assert "no heartbeat for 6.0 s" in (beat.problem(6.0) or "")
    beat.tick(7.25, expected=7.0)
    assert beat.lag_s == 0.25
    assert beat.problem(8.0) is None


async def test_status_endpoints() -> None:
    """/metrics serves the exposition; /healthz and /readyz answer 200 or 503 with a reason."""
    now = [0.0]
    reason: list[str | None] = [None]
    beat = Heartbeat(clock=lambda: now[0])
    metrics = Metrics(Stats(received=3), info={})
    server = StatusServer(
        HostPort("127.0.0.1", 0),
        metrics=metrics,
        heartbeat=beat,
        not_ready=lambda: reason[0],
        clock=lambda: now[0],
    )
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                assert "streamer_records_received_total 3.0" in await resp.text()
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "ok"
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 200
            now[0] = 30.0
            reason[0] = "buffer saturated"
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 503
                assert "unresponsive" in (await resp.json())["reason"]
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 503
                assert await resp.json() == {"status": "not ready", "reason": "buffer saturated"}
    finally:
        await server.close()
