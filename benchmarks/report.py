"""Turns the harness's results into BENCHMARKS.md and a PNG plot.

What it does: `render_markdown(results, plot_path)` writes the machine, the exact command, the
main table (records/s, CPU s per 100k records, peak RSS, exactly-once and the ratios to the
streamer), the endpoint ceiling, the issue's targets with the measured figures, and one table
per scaling suite. `plot(results, path)` draws the same figures with matplotlib's Agg backend.
Both read only the JSON-ready dict `benchmarks.harness.run_plan` returns, so a results file can
be re-rendered without rerunning anything (`python -m benchmarks --render FILE`).

What it leaves out: measuring anything, and prose that depends on a particular run beyond what
the numbers say (the profile notes live in the issue and the commit messages).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

TARGET_PEER_RATIO: Final = 3.0
TARGET_CEILING_SHARE: Final = 0.8
TARGET_CPU_S_PER_100K: Final = 0.5
TARGET_RSS_MB: Final = 100.0
TARGET_FAILURE_SHARE: Final = 0.85


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _once(entry: dict[str, Any]) -> str:
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


def _ratio(value: float, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


def _reference(entries: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((e for e in entries if e["producer"] == name), None)


def _startup_cpu(results: dict[str, Any], producer: str) -> float | None:
    entry = _reference(results.get("startup", []), producer)
    return entry["median"]["cpu_s"] if entry else None


def marginal_cpu(results: dict[str, Any], entry: dict[str, Any]) -> float | None:
    """CPU s per 100k events without the start-up cost measured on empty input."""
    startup = _startup_cpu(results, entry["producer"])
    if startup is None or not entry["events"]:
        return None
    return max(0.0, entry["median"]["cpu_s"] - startup) / entry["events"] * 100_000


def _main_table(results: dict[str, Any]) -> list[str]:
    main = results["main"]
    ref = _reference(main, results["reference"])
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
            f"| {e['label']} | {_n(m['records_per_s'])} "
            f"| {_n(spread['records_per_s_min'])}..{_n(spread['records_per_s_max'])} "
            f"| {_n(m['cpu_s_per_100k'], 2)} | {_n(marginal_cpu(results, e), 2)} "
            f"| {_n(m['peak_rss_mb'])} | {_once(e)} "
            f"| {_ratio(m['records_per_s'], ref_rate)} | {_ratio(m['cpu_s_per_100k'], ref_cpu)} |"
        )
    ceiling = results.get("ceiling")
    if ceiling:
        lines.append(
            f"| endpoint ceiling (trivial client, {ceiling['connections']} connections, "
            f"pre-built bodies) | {_n(ceiling['records_per_s'])} | | | | | | "
            f"{_ratio(ceiling['records_per_s'], ref_rate)} | |"
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
            f"| {e['label']} | {_n(e['median']['wall_s'], 2)} | {_n(e['median']['cpu_s'], 2)} "
            f"| {_n(e['median']['peak_rss_mb'])} |"
            for e in startup
        ]
    return lines


def _scaling_table(entries: list[dict[str, Any]], column: str) -> list[str]:
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
            "record size": f"{e['size_label']} (mean {_n(e['mean_record_bytes'])} B)",
            "injected failures": f"{e['fail_rate']:.0%}",
        }[column]
        lines.append(
            f"| {value + ' | ' if first else ''}{e['producer']} | {_n(e['events'])} "
            f"| {_n(m['records_per_s'])} | {_n(m['mb_per_s'], 1)} | {_n(m['cpu_s_per_100k'], 2)} "
            f"| {_n(m['peak_rss_mb'])} | {_once(e)} | {len(e['runs'])} |"
        )
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the issue that this run can judge."""
    main = results["main"]
    ref = _reference(main, results["reference"])
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
            f"{cpu:.2f} s ({_n(marginal, 2)} s without start-up)",
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
    failures = [e for e in scaling.get("failures", []) if e["producer"] == results["reference"]]
    clean = next((e for e in failures if e["fail_rate"] == 0), None)
    faulty = max(failures, key=lambda e: e["fail_rate"], default=None)
    if clean is not None and faulty is not None and faulty is not clean:
        share = faulty["median"]["records_per_s"] / clean["median"]["records_per_s"]
        met = share >= TARGET_FAILURE_SHARE and faulty["exactly_once"] is True
        out.append(
            (
                f"at {faulty['fail_rate']:.0%} failures: exactly-once and >= "
                f"{TARGET_FAILURE_SHARE:.0%} of the no-failure records/s",
                f"{share:.0%}, exactly-once {_once(faulty)}",
                met,
            )
        )
    return out


def render_markdown(
    results: dict[str, Any], markdown_path: Path, plot_path: Path, results_path: Path
) -> str:
    """The whole BENCHMARKS.md for `results`; files are linked relative to `markdown_path`."""
    here = markdown_path.parent
    machine, plan = results["machine"], results["plan"]
    git = machine.get("git", {})
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items())
    load_start = " / ".join(f"{x:.2f}" for x in machine["load_average"])
    load_end = " / ".join(f"{x:.2f}" for x in results["load_average_end"])
    out = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` (`scripts/bench.sh`) with the results in "
        f"[`{results_path.name}`]({os.path.relpath(results_path, here)}); do not edit by hand.",
        "",
        "Every producer reads the same pre-generated events file through a pipe (`cat file |`, "
        "so reading and parsing are its work) and sends to the same local Kinesis-compatible "
        "endpoint process (`benchmarks/endpoint.py`, reset between runs), in the same session, "
        "runs interleaved. **records/s** is events over the wall time from process start to "
        "exit (start-up and drain included); **CPU** is the producer's user + system seconds "
        "(`wait4` rusage), per 100k events; **peak RSS** is its `ru_maxrss` (checked against VmHWM "
        "sampled from /proc); **exactly-once** is "
        "the endpoint's count: one accepted record per event `_id`, no duplicates, none missing, "
        "in every run. Figures are medians over the runs; the machine is shared, so compare the "
        "ratios of one run rather than absolute figures across runs.",
        "",
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
        f"## Main table: {plan['events']:,} events of ~600 B, {plan['shards']} shards, "
        f"{plan['runs']} run{'s' if plan['runs'] > 1 else ''} each",
        "",
        *_main_table(results),
        "",
    ]
    out += _notes(results)
    goals = targets(results)
    if goals:
        out += ["## Targets (issue 3)", "", "| target | measured | met |", "|---|---|---|"]
        out += [
            f"| {goal} | {measured} | {'yes' if met else '**no**'} |"
            for goal, measured, met in goals
        ]
        out.append("")
    scaling = results.get("scaling", {})
    titles = {
        "shards": ("Shards", "shards"),
        "events": ("Events, and RSS over the run", "events"),
        "sizes": ("Record size", "record size"),
        "failures": ("Injected partial failures", "injected failures"),
    }
    if scaling:
        out += ["## Scaling", ""]
    for suite, entries in scaling.items():
        title, column = titles[suite]
        out += [f"### {title}", "", *_scaling_table(entries, column), ""]
        if suite == "events":
            out += _rss_lines(entries)
    relative = os.path.relpath(plot_path, here)
    out += ["## Plot", "", f"![throughput and scaling]({relative})", ""]
    return "\n".join(out)


def _notes(results: dict[str, Any]) -> list[str]:
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
            f"{_n(us, 2)} us of CPU per record. On 2 CPUs the producer and the endpoint "
            "share the machine, so a producer's CPU per record bounds its records/s."
        )
    out.append("")
    return out


def _rss_lines(entries: list[dict[str, Any]]) -> list[str]:
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


def plot(results: dict[str, Any], path: Path) -> Path:
    """Draw the main table and the scaling suites into one PNG at `path`."""
    # Imported here, after the runs: matplotlib would add ~40 MB to the harness, and a child's
    # ru_maxrss starts from its parent's high-water mark (exec keeps the larger of the two).
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(17, 9.5))  # no pyplot: no global state, Agg by file type
    axes = figure.subplots(2, 3)
    main = results["main"]
    names = [e["producer"] for e in main]
    rates = [e["median"]["records_per_s"] for e in main]
    colors = ["tab:blue" if n.startswith("streamer") else "tab:gray" for n in names]
    ax = axes[0][0]
    ax.barh(names, rates, color=colors)
    ceiling = results.get("ceiling")
    if ceiling:
        ax.axvline(ceiling["records_per_s"], color="tab:red", linestyle="--", label="ceiling")
        ax.legend(loc="lower right")
    ax.invert_yaxis()
    ax.set_title(f"records/s, {results['plan']['events']:,} events of ~600 B (median)")
    ax = axes[0][1]
    ax.barh(names, [e["median"]["cpu_s_per_100k"] for e in main], color=colors)
    ax.axvline(TARGET_CPU_S_PER_100K, color="tab:green", linestyle=":", label="target")
    ax.legend(loc="lower right")
    ax.invert_yaxis()
    ax.set_title("producer CPU s per 100k records (lower is better)")
    scaling = results.get("scaling", {})
    _lines(axes[0][2], scaling.get("shards", []), "shards", "records/s by shard count")
    _bars(axes[1][0], scaling.get("sizes", []), "size_label", "records/s by record size (log)")
    _bars(axes[1][1], scaling.get("failures", []), "fail_rate", "records/s by injected failures")
    ax = axes[1][2]
    for index, e in enumerate(scaling.get("events", [])):
        color = f"C{index}"
        for number, run in enumerate(e["runs"]):
            samples = run.get("rss_samples", [])
            label = f"{e['events']:,} events" if number == 0 else None
            ax.plot([t for t, _ in samples], [mb for _, mb in samples], color=color, label=label)
    ax.axhline(TARGET_RSS_MB, color="tab:green", linestyle=":", label="target")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds")
    ax.set_title("streamer RSS MB over time, every run")
    ax.legend()
    for row in axes:
        for ax in row:
            ax.grid(alpha=0.3)
    figure.suptitle(
        f"streamer benchmarks ({results['mode']}), {results['machine']['nproc']} CPUs, "
        f"{results['started_at']}"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    return path


def _series(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_producer: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_producer.setdefault(e["producer"], []).append(e)
    return by_producer


def _lines(ax: Any, entries: list[dict[str, Any]], key: str, title: str) -> None:
    for producer, unsorted in _series(entries).items():
        points = sorted(unsorted, key=lambda e: e[key])
        xs = [e[key] for e in points]
        ax.plot(xs, [e["median"]["records_per_s"] for e in points], marker="o", label=producer)
    ax.set_xscale("log", base=2)
    ticks = sorted({e[key] for e in entries})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    if entries:
        ax.legend()


def _bars(ax: Any, entries: list[dict[str, Any]], key: str, title: str) -> None:
    series = _series(entries)
    label = (lambda v: f"{v:.0%}") if key == "fail_rate" else str
    groups = list(dict.fromkeys(label(e[key]) for e in entries))
    width = 0.8 / max(1, len(series))
    for index, (producer, points) in enumerate(series.items()):
        values = {label(e[key]): e["median"]["records_per_s"] for e in points}
        xs = [g + index * width for g in range(len(groups))]
        ax.bar(xs, [values.get(g, 0) for g in groups], width, label=producer)
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups)
    if key == "size_label":
        ax.set_yscale("log")
    ax.set_title(title)
    if entries:
        ax.legend()
