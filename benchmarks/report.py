"""Turns the harness's results into BENCHMARKS.md: every section of it, nothing by hand.

What it does: `render_markdown(results, ...)` renders the sections listed in `SECTIONS`, in
order: the method, the machine and the exact command, the main table (records/s, CPU s per 100k
records, peak RSS, exactly-once and the ratios to the streamer, the endpoint ceiling, start-up
alone), notes on the setup, the issue's targets with the measured figures, the comparison with
the AWS SDK for JavaScript v3 loop, one table per scaling suite, the record formats and
per-shard limits runs (`format_tables.py`), the spool's cost, and the plot (drawn by
`plots.py`). It reads only the JSON-ready dict `benchmarks.harness.run_plan` returns, so a
results file can be re-rendered without rerunning anything (`python -m benchmarks --render
benchmarks/results/full.json`); a test checks that re-rendering the stored results reproduces
the committed BENCHMARKS.md.

Adding a section (a new figure asked for by an issue goes in this way, never by hand):
1. have the harness put the figures in the results dict (a new key; old results files lack it);
2. write `def _my_section(page: Page) -> list[str]` returning its Markdown lines, each section
   ending with a blank line, and `[]` when `page.results` holds nothing for it;
3. add it to `SECTIONS` where it belongs in the page; then re-render.

What it leaves out: measuring anything, the plot (`plots.py`), and prose that depends on a
particular run beyond what the numbers say (the profile notes live in the issue and the commit
messages).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.format_tables import formats_lines, limits_lines
from benchmarks.tables import (
    exactly_once,
    find_entry,
    main_table,
    marginal_cpu,
    number,
    rss_lines,
    scaling_table,
)

TARGET_PEER_RATIO: Final = 3.0
TARGET_CEILING_SHARE: Final = 0.8
TARGET_CPU_S_PER_100K: Final = 0.5
TARGET_RSS_MB: Final = 100.0
TARGET_FAILURE_SHARE: Final = 0.85


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the issue that this run can judge."""
    main = results["main"]
    ref = find_entry(main, results["reference"])
    if ref is None:
        return []
    rate, cpu = ref["median"]["records_per_s"], ref["median"]["cpu_s_per_100k"]
    out: list[tuple[str, str, bool | None]] = []
    peers = [e for e in main if not e["producer"].startswith("streamer")]
    checkable = [e for e in peers if e["exactly_once"] is not None]
    for chosen, which in ((peers, "alternative"), (checkable, "one-record-per-event alternative")):
        if not chosen or (which != "alternative" and len(chosen) == len(peers)):
            continue
        best = max(chosen, key=lambda e: e["median"]["records_per_s"])
        ratio = rate / best["median"]["records_per_s"]
        out.append(
            (
                f"records/s >= {TARGET_PEER_RATIO:g}x the best {which}",
                f"{ratio:.2f}x ({best['label']})",
                ratio >= TARGET_PEER_RATIO,
            )
        )
    ceiling = results.get("ceiling")
    if ceiling and ceiling["records_per_s"]:
        share = rate / ceiling["records_per_s"]
        out.append(
            (
                f"records/s >= {TARGET_CEILING_SHARE:.0%} of the endpoint ceiling",
                f"{share:.0%}",
                share >= TARGET_CEILING_SHARE,
            )
        )
    marginal = marginal_cpu(results, ref)
    out.append(
        (
            f"CPU <= {TARGET_CPU_S_PER_100K} s per 100k records of ~600 B",
            f"{cpu:.2f} s ({number(marginal, 2)} s without start-up)",
            cpu <= TARGET_CPU_S_PER_100K,
        )
    )
    scaling = results.get("scaling", {})
    largest = max(scaling.get("events", []), key=lambda e: e["events"], default=None)
    if largest is not None:
        rss = largest["median"]["peak_rss_mb"]
        out.append(
            (
                f"peak RSS <= {TARGET_RSS_MB:g} MB streaming {largest['events']:,} events",
                f"{rss:.0f} MB",
                rss <= TARGET_RSS_MB,
            )
        )
    for entries in _failure_pairs(scaling.get("limited_failures", [])):
        clean, faulty = entries
        share = faulty["median"]["records_per_s"] / clean["median"]["records_per_s"]
        met = share >= TARGET_FAILURE_SHARE and faulty["exactly_once"] is True
        out.append(
            (
                f"at {faulty['fail_rate']:.0%} failures, {faulty['shards']} shards, real shard "
                f"limits, rate limiter on: exactly-once and >= {TARGET_FAILURE_SHARE:.0%} of "
                "the no-failure records/s",
                f"{share:.0%}, exactly-once {exactly_once(faulty)}",
                met,
            )
        )
    return out


def _failure_pairs(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(no failures, most failures) of each shard count of the limited-failures suite."""
    pairs = []
    for shards in sorted({e["shards"] for e in entries}):
        group = [e for e in entries if e["shards"] == shards]
        clean = next((e for e in group if e["fail_rate"] == 0), None)
        faulty = max(group, key=lambda e: e["fail_rate"])
        if clean is not None and faulty is not clean:
            pairs.append((clean, faulty))
    return pairs


@dataclass(frozen=True, slots=True)
class Page:
    """What every section is rendered from: the results, and where the files it links are."""

    results: dict[str, Any]
    markdown_path: Path
    plot_path: Path
    results_path: Path

    def link(self, path: Path) -> str:
        """`path` relative to the report's directory."""
        return os.path.relpath(path, self.markdown_path.parent)


def _intro(page: Page) -> list[str]:
    return [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` (`scripts/bench.sh`) with the results in "
        f"[`{page.results_path.name}`]({page.link(page.results_path)}); do not edit by hand.",
        "",
        "Every producer reads the same pre-generated events file through a pipe (`cat file |`, "
        "so reading and parsing are its work) and sends to the same local Kinesis-compatible "
        "endpoint process (`benchmarks/endpoint/`, reset between runs), in the same session, "
        "runs interleaved. **records/s** is events over the wall time from process start to "
        "exit (start-up and drain included); **CPU** is the producer's user + system seconds "
        "(`wait4` rusage), per 100k events; **peak RSS** is its `ru_maxrss` (checked against VmHWM "
        "sampled from /proc); **exactly-once** is "
        "the endpoint's count: one accepted record per event `_id`, no duplicates, none missing, "
        "in every run. Figures are medians over the runs; the machine is shared, so compare the "
        "ratios of one run rather than absolute figures across runs.",
        "",
    ]


def _machine(page: Page) -> list[str]:
    results = page.results
    machine = results["machine"]
    git = machine.get("git", {})
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items())
    load_start = " / ".join(f"{x:.2f}" for x in machine["load_average"])
    load_end = " / ".join(f"{x:.2f}" for x in results["load_average_end"])
    return [
        "## Machine and command",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['nproc']} CPUs (`nproc`); "
        f"memory {machine['memory_gb']} GB",
        f"- Python {machine['python']} on {machine['platform']}; {packages}",
        f"- load average (1/5/15 min) at start: {load_start}; at end: {load_end}",
        f"- commit `{git.get('commit', '?')}`"
        + (" with uncommitted changes under `streamer/`" if git.get("streamer_dirty") else "")
        + f"; every run used one snapshot of `streamer/` and `benchmarks/` "
        f"(sha256 `{machine.get('code_sha256', '?')}`)",
        f"- started {results['started_at']}, took {results['duration_s'] / 60:.1f} min "
        f"({results['mode']} mode)",
        "",
        "```sh",
        results["command"],
        "```",
        "",
    ]


def _main(page: Page) -> list[str]:
    plan = page.results["plan"]
    return [
        f"## Main table: {plan['events']:,} events of ~600 B, {plan['shards']} shards, "
        f"{plan['runs']} run{'s' if plan['runs'] > 1 else ''} each",
        "",
        *main_table(page.results),
        "",
    ]


def _targets(page: Page) -> list[str]:
    goals = targets(page.results)
    if not goals:
        return []
    out = ["## Targets (issue 3)", "", "| target | measured | met |", "|---|---|---|"]
    out += [
        f"| {goal} | {measured} | {'yes' if met else '**no**'} |" for goal, measured, met in goals
    ]
    out.append("")
    return out


def _put_phase(entry: dict[str, Any]) -> tuple[float, float] | None:
    """(records/s, CPU s per 100k) of a peer over its put phase, from its own summaries."""
    runs = [r.get("summary") or {} for r in entry.get("runs", [])]
    elapsed = sorted(float(r["elapsed_s"]) for r in runs if r.get("elapsed_s"))
    cpu = sorted(float(r["put_cpu_s"]) for r in runs if r.get("put_cpu_s") is not None)
    if not elapsed or not cpu or not entry["events"]:
        return None
    median_elapsed, median_cpu = elapsed[len(elapsed) // 2], cpu[len(cpu) // 2]
    return entry["events"] / median_elapsed, median_cpu / entry["events"] * 100_000


def _node(page: Page) -> list[str]:
    entries = page.results.get("node") or []
    ref = find_entry(entries, page.results["reference"])
    peer = find_entry(entries, "node_sdk")
    if ref is None or peer is None:
        return []
    put = _put_phase(peer)
    rate, cpu = ref["median"]["records_per_s"], ref["median"]["cpu_s_per_100k"]
    out = [
        f"## Against the AWS SDK for JavaScript v3: {ref['events']:,} events, "
        f"{ref['shards']} shards",
        "",
        "The streamer is timed as a whole process (start-up, reading the pipe, parsing and "
        "transforming every line included); the Node loop (`benchmarks/peers/node/`) reads and "
        "builds every record first and is timed, in wall and CPU time, from its first put to its "
        "last answer (its whole process in the last columns).",
        "",
        "| producer | records/s | CPU s / 100k | whole process: records/s | CPU s / 100k | "
        "peak RSS MB | exactly-once |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| {ref['label']} | {rate:,.0f} | {cpu:.2f} | {rate:,.0f} | {cpu:.2f} | "
        f"{ref['median']['peak_rss_mb']:.0f} | {exactly_once(ref)} |",
        f"| {peer['label']} | {number(put[0] if put else None)} | "
        f"{number(put[1] if put else None, 2)} | {peer['median']['records_per_s']:,.0f} | "
        f"{peer['median']['cpu_s_per_100k']:.2f} | {peer['median']['peak_rss_mb']:.0f} | "
        f"{exactly_once(peer)} |",
        "",
    ]
    if put is not None:
        faster, leaner = rate > put[0], cpu < put[1]
        out += [
            f"The streamer, whole process, against the Node loop's put phase: "
            f"{rate / put[0]:.2f}x the records/s at {cpu / put[1]:.2f}x the CPU per record "
            f"(issue 12's target, faster with less CPU per record: "
            f"{'met' if faster and leaner else '**not met**'}).",
            "",
        ]
    return out


_SCALING_TITLES: Final = {
    "shards": ("Shards", "shards"),
    "events": ("Events, and RSS over the run", "events"),
    "sizes": ("Record size", "record size"),
    "failures": (
        "Injected partial failures (no shard limits, rate limiter off)",
        "injected failures",
    ),
    "limited_failures": (
        "Injected partial failures against real shard limits (rate limiter on)",
        "shards, injected failures",
    ),
}


def _scaling(page: Page) -> list[str]:
    scaling = page.results.get("scaling", {})
    out = ["## Scaling", ""] if scaling else []
    for suite, entries in scaling.items():
        title, column = _SCALING_TITLES[suite]
        out += [f"### {title}", "", *scaling_table(entries, column), ""]
        if suite == "events":
            out += rss_lines(entries)
    return out


def _plot(page: Page) -> list[str]:
    return ["## Plot", "", f"![throughput and scaling]({page.link(page.plot_path)})", ""]


def _notes(page: Page) -> list[str]:
    results = page.results
    plan = results["plan"]
    limits = plan.get("shard_limits")
    ceiling = results.get("ceiling")
    out = ["Notes:", ""]
    out.append(
        "- The endpoint enforces the per-shard write limits (1,000 records/s, 1 MiB/s); the "
        "streamer runs with its default `--shard-rate-factor 1` and async-kinesis with its "
        "throttle at the stream's capacity."
        if limits
        else "- The endpoint enforces no per-shard write limits, so every producer runs "
        "unthrottled: the streamer with `--shard-rate-factor 0`, async-kinesis with "
        "`--throttle off` (with its throttle at the stream's real capacity it is held to "
        "1,000 records/s per shard)."
    )
    out.append(
        "- async-kinesis with aggregation on packs many events, newline-joined, into each "
        "Kinesis record (~1 MB), so consumers must split them and the partition key is a "
        "timestamp, not the profile's: a different product. The endpoint counts the first "
        "`_id` of each record only, so its exactly-once is *not checkable* here (the peer's own "
        "count of delivered events is in the results file)."
    )
    out.append(
        "- The peers send the whole event re-encoded; the streamer does its export transform "
        "(here: all attributes, every segment mapped), so all send about the same bytes."
    )
    if ceiling:
        us = ceiling.get("endpoint_cpu_us_per_record")
        out.append(
            f"- Endpoint ceiling: `benchmarks.ceiling` against the same endpoint process with "
            f"{ceiling['record_bytes']}-byte records; the endpoint then spends "
            f"{number(us, 2)} us of CPU per record. On 2 CPUs the producer and the endpoint "
            "share the machine, so a producer's CPU per record bounds its records/s."
        )
    out.append("")
    return out


TARGET_SPOOL_RATE_SHARE: Final = 0.8
TARGET_SPOOL_RSS_RATIO: Final = 1.1
SPOOL_PRODUCER: Final = "streamer_spool"


def spool_section(page: Page) -> list[str]:
    """The spool's cost (issue 11): the same run with and without `--spool-dir`."""
    main = page.results["main"]
    off = find_entry(main, page.results["reference"])
    on = find_entry(main, SPOOL_PRODUCER)
    if off is None or on is None:
        return []
    rate = on["median"]["records_per_s"] / off["median"]["records_per_s"]
    rss = on["median"]["peak_rss_mb"] / off["median"]["peak_rss_mb"]
    rows = [
        (
            f"records/s with the spool >= {TARGET_SPOOL_RATE_SHARE:.0%} of without",
            f"{rate:.0%} ({number(on['median']['records_per_s'], 0)} vs "
            f"{number(off['median']['records_per_s'], 0)})",
            rate >= TARGET_SPOOL_RATE_SHARE,
        ),
        (
            f"peak RSS with the spool within {TARGET_SPOOL_RSS_RATIO - 1:.0%} of without",
            f"{rss - 1:+.0%} ({on['median']['peak_rss_mb']:.0f} vs "
            f"{off['median']['peak_rss_mb']:.0f} MB)",
            rss <= TARGET_SPOOL_RSS_RATIO,
        ),
    ]
    return [
        "## The spool's cost (issue 11)",
        "",
        "The main table's streamer run again with `--spool-dir` (`spool_sync = interval`, "
        "every line written to a segment file and synced every 50 ms, settled lines noted "
        "and finished segments deleted), on the same disk as the work directory.",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *(f"| {goal} | {value} | {'yes' if met else '**no**'} |" for goal, value, met in rows),
        "",
    ]


Section = Callable[[Page], list[str]]


def _formats(page: Page) -> list[str]:
    return formats_lines(page.results)


def _limits(page: Page) -> list[str]:
    return limits_lines(page.results)


SECTIONS: Final[tuple[Section, ...]] = (
    _intro,
    _machine,
    _main,
    _notes,
    _targets,
    spool_section,
    _node,
    _scaling,
    _formats,
    _limits,
    _plot,
)
"""BENCHMARKS.md, in order: each section's lines end with a blank line (or are empty)."""


def render_markdown(
    results: dict[str, Any], markdown_path: Path, plot_path: Path, results_path: Path
) -> str:
    """The whole BENCHMARKS.md for `results`; files are linked relative to `markdown_path`."""
    page = Page(results, markdown_path, plot_path, results_path)
    return "\n".join(line for section in SECTIONS for line in section(page))
