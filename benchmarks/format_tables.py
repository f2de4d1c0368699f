"""The record formats sections of the report (issue 14): aggregation and compression measured.

What it does: `formats_lines` renders the record formats suite (the streamer with no
aggregation, KPL aggregation, gzip, zstd, and both) as records/s, CPU per 100k events (with the
start-up cost taken off), bytes and Kinesis records sent per event, with exactly-once counted by
the endpoint per user record. `limits_lines` renders the runs against real per-shard limits:
events/s, the share of the shards' byte limit used (events/s x bytes per event against 1 MiB/s a
shard, the endpoint's one-second burst counted as capacity) and of entries throttled, with the
targets of the issue. Both return `[]` for results that lack their suite.
What it leaves out: measuring (`harness.py`, `summaries.py`) and the page's order (`report.py`).
"""

from __future__ import annotations

from typing import Any, Final

from benchmarks.tables import exactly_once, find_entry, marginal_cpu, number, ratio

TARGET_BYTE_SHARE: Final = 0.9
TARGET_THROTTLED_SHARE: Final = 0.05
AGGREGATED: Final = "streamer_kpl"


def formats_lines(results: dict[str, Any]) -> list[str]:
    entries = results.get("formats") or []
    if not entries:
        return []
    plain = find_entry(entries, "streamer")
    base = plain["median"]["records_per_s"] if plain else None
    first = entries[0]
    out = [
        f"## Record formats: {first['events']:,} events of ~{first['mean_record_bytes']:.0f} B, "
        f"{first['shards']} shards, no shard limits",
        "",
        "| setting | records/s | vs none | CPU s per 100k (without start-up) | bytes sent "
        "per event | Kinesis records per event | exactly-once |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for entry in entries:
        median = entry["median"]
        marginal = marginal_cpu(results, entry) or marginal_cpu(
            results, {**entry, "producer": "streamer"}
        )
        out.append(
            f"| {entry['label']} | {number(median['records_per_s'])} "
            f"| {ratio(median['records_per_s'], base)} "
            f"| {median['cpu_s_per_100k']:.2f} ({number(marginal, 2)}) "
            f"| {number(median.get('bytes_sent_per_event'), 1)} "
            f"| {number(median.get('kinesis_records_per_event'), 4)} "
            f"| {exactly_once(entry)} |"
        )
    out += [
        "",
        "Bytes sent are the data and partition keys the endpoint accepted (KPL framing "
        "included), per event; the endpoint de-aggregates and decompresses each record to count "
        "every user record's `_id`. CPU without start-up subtracts the plain streamer's start-up "
        "(empty input) when this run has no start-up point of its own.",
        "",
    ]
    return out


def limits_lines(results: dict[str, Any]) -> list[str]:
    entries = results.get("limits") or []
    if not entries:
        return []
    first = entries[0]
    out = [
        f"## Against real per-shard limits: {first['events']:,} events of "
        f"~{first['mean_record_bytes']:.0f} B, {first['shards']} shards",
        "",
        "The endpoint enforces 1,000 records/s and 1 MiB/s per shard (token buckets with one "
        "second of burst); the streamer runs with its default `--shard-rate-factor 1`. "
        "**byte limit used** is events/s x bytes per event against 1 MiB/s per shard, the "
        "capacity counting the one-second burst (so it is not flattered); **throttled** is the "
        "share of Kinesis entries answered ProvisionedThroughputExceeded.",
        "",
        "| setting | events/s | byte limit used | entries throttled | exactly-once |",
        "|---|---:|---:|---:|---|",
    ]
    for entry in entries:
        median = entry["median"]
        out.append(
            f"| {entry['label']} | {number(median['records_per_s'])} "
            f"| {median.get('byte_limit_share', 0):.1%} "
            f"| {median.get('throttled_share', 0):.2%} | {exactly_once(entry)} |"
        )
    aggregated = find_entry(entries, AGGREGATED)
    if aggregated is not None:
        median = aggregated["median"]
        share, throttled = median.get("byte_limit_share", 0), median.get("throttled_share", 0)
        out += [
            "",
            "| target (aggregated) | measured | met |",
            "|---|---|---|",
            f"| byte limit used >= {TARGET_BYTE_SHARE:.0%} | {share:.1%} "
            f"| {'yes' if share >= TARGET_BYTE_SHARE else '**no**'} |",
            f"| entries throttled <= {TARGET_THROTTLED_SHARE:.0%} | {throttled:.2%} "
            f"| {'yes' if throttled <= TARGET_THROTTLED_SHARE else '**no**'} |",
        ]
    out.append("")
    return out
