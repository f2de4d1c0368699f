"""The tables and figures of the report, each computed from the results dict alone.

What it does: the main table (with the endpoint ceiling and start-up alone), one table per
scaling suite, the RSS-over-the-run lines, and the small pieces they share: number formatting,
the exactly-once cell, ratios to the reference producer, CPU without start-up (`marginal_cpu`).
What it leaves out: which sections the page has and in what order (`report.py`), the targets
(`report.targets`), and the plot (`plots.py`).
"""

from __future__ import annotations

from typing import Any


def number(value: float | None, digits: int = 0) -> str:
    """`value` with thousands separators and `digits` decimals; "n/a" for None."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def exactly_once(entry: dict[str, Any]) -> str:
    """The exactly-once cell: yes/NO with the runs that were, or why it is not checkable."""
    runs = len(entry["runs"])
    if entry["exactly_once"] is None:
        sent = [(r.get("summary") or {}).get("sent_ok") for r in entry["runs"]]
        records = sorted(r["accepted_records"] for r in entry["runs"])
        if entry["events"] and sent and all(n == entry["events"] for n in sent):
            return (
                f"not checkable (the peer counts all {entry['events']:,} sent, "
                f"in ~{records[len(records) // 2]:,} records)"
            )
        return "not checkable"
    return f"{'yes' if entry['exactly_once'] else '**NO**'} ({entry['exactly_once_runs']}/{runs})"


def ratio(value: float, reference: float | None) -> str:
    """`value` as a multiple of `reference`."""
    return f"{value / reference:.2f}x" if reference else "n/a"


def find_entry(entries: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The entry of producer `name`, if it ran."""
    return next((e for e in entries if e["producer"] == name), None)


def _startup_cpu(results: dict[str, Any], producer: str) -> float | None:
    entry = find_entry(results.get("startup", []), producer)
    return entry["median"]["cpu_s"] if entry else None


def marginal_cpu(results: dict[str, Any], entry: dict[str, Any]) -> float | None:
    """CPU s per 100k events without the start-up cost measured on empty input."""
    startup = _startup_cpu(results, entry["producer"])
    if startup is None or not entry["events"]:
        return None
    cpu_s: float = entry["median"]["cpu_s"]
    events: int = entry["events"]
    return max(0.0, cpu_s - startup) / events * 100_000


def main_table(results: dict[str, Any]) -> list[str]:
    """The main table, the ceiling row and the start-up table."""
    main = results["main"]
    ref = find_entry(main, results["reference"])
    ref_rate = ref["median"]["records_per_s"] if ref else None
    ref_cpu = ref["median"]["cpu_s_per_100k"] if ref else None
    lines = [
        "| producer | records/s (median) | min..max | CPU s / 100k records | same, without "
        "start-up | peak RSS MB | exactly-once | records/s vs streamer | CPU vs streamer |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for e in main:
        m, spread = e["median"], e["spread"]
        lines.append(
            f"| {e['label']} | {number(m['records_per_s'])} "
            f"| {number(spread['records_per_s_min'])}..{number(spread['records_per_s_max'])} "
            f"| {number(m['cpu_s_per_100k'], 2)} | {number(marginal_cpu(results, e), 2)} "
            f"| {number(m['peak_rss_mb'])} | {exactly_once(e)} "
            f"| {ratio(m['records_per_s'], ref_rate)} | {ratio(m['cpu_s_per_100k'], ref_cpu)} |"
        )
    ceiling = results.get("ceiling")
    if ceiling:
        lines.append(
            f"| endpoint ceiling (trivial client, {ceiling['connections']} connections, "
            f"pre-built bodies) | {number(ceiling['records_per_s'])} | | | | | | "
            f"{ratio(ceiling['records_per_s'], ref_rate)} | |"
        )
    startup = results.get("startup", [])
    if startup:
        lines += [
            "",
            "Start-up and exit alone (empty input; included in the figures above):",
            "",
            "| producer | wall s | CPU s | peak RSS MB |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {e['label']} | {number(e['median']['wall_s'], 2)} "
            f"| {number(e['median']['cpu_s'], 2)} | {number(e['median']['peak_rss_mb'])} |"
            for e in startup
        ]
    return lines


def scaling_table(entries: list[dict[str, Any]], column: str) -> list[str]:
    """One scaling suite's table; `column` names what varies."""
    first = "" if column == "events" else f"{column} | "
    lines = [
        f"| {first}producer | events | records/s | MB/s | CPU s / 100k | peak RSS MB "
        "| exactly-once | runs |",
        "|" + ("---|" if first else "") + "---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for e in entries:
        m = e["median"]
        value = {
            "shards": str(e["shards"]),
            "events": "",
            "record size": f"{e['size_label']} (mean {number(e['mean_record_bytes'])} B)",
            "injected failures": f"{e['fail_rate']:.0%}",
            "shards, injected failures": f"{e['shards']}, {e['fail_rate']:.0%}",
        }[column]
        lines.append(
            f"| {value + ' | ' if first else ''}{e['producer']} | {number(e['events'])} "
            f"| {number(m['records_per_s'])} | {number(m['mb_per_s'], 1)} "
            f"| {number(m['cpu_s_per_100k'], 2)} | {number(m['peak_rss_mb'])} | {exactly_once(e)} "
            f"| {len(e['runs'])} |"
        )
    return lines


def rss_lines(entries: list[dict[str, Any]]) -> list[str]:
    """Per run of the events suite: RSS in the first and second half of the run, and its max."""
    out = []
    for e in entries:
        parts = []
        for run in e["runs"]:
            values = [mb for _, mb in run.get("rss_samples", [])]
            if len(values) < 4:
                continue
            half = len(values) // 2
            first, second = sorted(values[:half]), sorted(values[half:])
            parts.append(
                f"{first[len(first) // 2]:.0f} / {second[len(second) // 2]:.0f} / {max(values):.0f}"
            )
        if parts:
            out.append(
                f"- {e['events']:,} events, RSS sampled every 0.25 s, per run (median of the "
                f"first half / of the second half / max, MB): {'; '.join(parts)}."
            )
    return [*out, ""] if out else []
