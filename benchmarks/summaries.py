"""Summaries of measured points: medians over runs, and what was sent per event.

What it does: `summarize` turns a point's runs into its JSON-ready entry (records/s as events
over the median wall time, CPU per 100k events, peak RSS, exactly-once, the spread; bytes and
Kinesis records sent per event; against real shard limits, the share of the shards' byte limit
used, counting the endpoint's one-second burst, and the share of entries throttled).
`ceiling_summary` does the same for the endpoint ceiling runs.
What it leaves out: running anything (`harness.py`, `runner.py`) and rendering (`report.py`).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

from benchmarks.producers import PRODUCERS
from benchmarks.runner import EventsFile, Run

if TYPE_CHECKING:
    from benchmarks.harness import Point

SIZE_LABELS: Final = {"100": "100 B", "600": "600 B", "100k": "100 KB"}
SHARD_BYTES_PER_S: Final = 1024 * 1024


def summarize(point: Point, runs: list[Run], events: EventsFile) -> dict[str, Any]:
    """The point, its runs and their medians (records/s is events over the median wall time;
    bytes and Kinesis records sent per event; against shard limits, the share of the shards'
    byte limit used and of entries throttled)."""
    walls = [r.wall_s for r in runs]
    cpus = [r.cpu_s for r in runs]
    endpoint = [r.endpoint_cpu_s for r in runs if r.endpoint_cpu_s is not None]
    checks = [r.exactly_once for r in runs]
    wall = statistics.median(walls)
    cpu = statistics.median(cpus)
    exactly_once = None if any(c is None for c in checks) else all(checks)
    return {
        **asdict(point),
        "label": PRODUCERS[point.producer].label,
        "size_label": SIZE_LABELS[point.size],
        "mean_record_bytes": round(events.mean_record_bytes, 1),
        "ok": all(r.exit_code == 0 for r in runs) and exactly_once is not False,
        "exactly_once": exactly_once,
        "exactly_once_runs": sum(1 for c in checks if c),
        "median": {
            "wall_s": round(wall, 4),
            "records_per_s": round(point.events / wall, 1),
            "mb_per_s": round(events.bytes / wall / 1e6, 2),
            "cpu_s": round(cpu, 4),
            "cpu_s_per_100k": round(cpu / point.events * 100_000, 4) if point.events else 0.0,
            "peak_rss_mb": statistics.median(r.peak_rss_mb for r in runs),
            "endpoint_cpu_s": round(statistics.median(endpoint), 4) if endpoint else None,
            **_sent(point, runs, events),
        },
        "spread": {
            "records_per_s_min": round(point.events / max(walls), 1),
            "records_per_s_max": round(point.events / min(walls), 1),
        },
        "runs": [asdict(r) for r in runs],
    }


def _sent(point: Point, runs: list[Run], events: EventsFile) -> dict[str, Any]:
    """Medians of what was sent per event, and of the use of the shards' limits."""
    if not point.events:
        return {}
    out: dict[str, Any] = {
        "bytes_sent_per_event": round(
            statistics.median(r.accepted_bytes for r in runs) / point.events, 1
        ),
        "kinesis_records_per_event": round(
            statistics.median(r.accepted_records for r in runs) / point.events, 4
        ),
    }
    if point.limits:
        shares, throttled = [], []
        for run in runs:
            elapsed = float((run.summary or {}).get("elapsed_s") or run.wall_s)
            capacity = point.shards * SHARD_BYTES_PER_S * (elapsed + 1)  # + the 1 s burst
            shares.append(point.events * events.mean_record_bytes / capacity)
            entries = run.accepted_records + run.failed_entries
            throttled.append(run.failed_entries / entries if entries else 0.0)
        out["byte_limit_share"] = round(statistics.median(shares), 4)
        out["throttled_share"] = round(statistics.median(throttled), 4)
    return out


def ceiling_summary(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not runs:
        return None
    rates = [float(r.get("records_per_s") or 0.0) for r in runs]
    per_record = [
        r["endpoint_cpu_us_per_record"] for r in runs if "endpoint_cpu_us_per_record" in r
    ]
    return {
        "records_per_s": round(statistics.median(rates), 1),
        "endpoint_cpu_us_per_record": round(statistics.median(per_record), 3)
        if per_record
        else None,
        "record_bytes": runs[0].get("record_bytes"),
        "connections": runs[0].get("connections"),
        "runs": runs,
    }
