"""Draws the harness's results into one PNG: the main table and the scaling suites.

What it does: `plot(results, path)` draws records/s and CPU per producer (with the endpoint
ceiling and the CPU target), records/s by shard count, by record size and by injected failure
rate, and the streamer's RSS over time in every run of the events suite, with matplotlib's
object API and the Agg backend (no pyplot, no global state). It reads only the results dict, so
a results file can be re-drawn without rerunning anything.
What it leaves out: the Markdown report (`report.py`) and measuring anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.report import TARGET_CPU_S_PER_100K, TARGET_RSS_MB


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
