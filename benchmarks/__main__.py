"""`python -m benchmarks`: run the benchmark harness and write the results, plot and report.

What it does: parses the flags into a `harness.Plan` (the full plan by default, `--quick` for a
two-minute one), runs it, writes `<output-dir>/<mode>.json` and `<output-dir>/throughput.png`,
and renders the Markdown report (BENCHMARKS.md for the full plan). `--render FILE` re-renders
the report and plot from a results file without measuring. Exits 1 when any run failed or lost
or duplicated a record, after writing everything.

What it leaves out: the measuring itself (`harness.py`) and the rendering (`report.py`,
`plots.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import orjson

from benchmarks import harness, plots, report
from benchmarks.producers import PRODUCERS, ROOT


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PRODUCERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown producer(s) {', '.join(unknown)}; choose from {', '.join(PRODUCERS)}"
        )
    return names


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(","))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="the two-minute plan")
    parser.add_argument("--events", type=int, help="events in the main table (full: 200000)")
    parser.add_argument("--runs", type=int, help="runs per main-table producer (default 3)")
    parser.add_argument("--shards", type=int, help="shards in the main table (default 4)")
    parser.add_argument(
        "--producers", type=_names, help=f"comma-separated, of: {', '.join(PRODUCERS)}"
    )
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the scaling suites (default: yes)",
    )
    parser.add_argument("--scaling-runs", type=int, help="runs per scaling point")
    parser.add_argument("--scaling-producers", type=_names, help="default streamer,boto_loop")
    parser.add_argument("--scaling-shards", type=_counts, help="default 1,4,64,512")
    parser.add_argument("--large-events", type=int, help="the large run (full: 2000000)")
    parser.add_argument("--large-runs", type=int, help="runs of the large run (default 3)")
    parser.add_argument(
        "--node-events", type=int, help="the Node SDK comparison (full: 500000; 0 skips it)"
    )
    parser.add_argument(
        "--formats", type=_names, help="record formats suite producers ('' skips it)"
    )
    parser.add_argument(
        "--limit-producers", type=_names, help="producers run against real shard limits"
    )
    parser.add_argument("--limit-events", type=int, help="events of each shard-limits run")
    parser.add_argument("--fail-rate", type=float, help="injected failure rate (default 0.1)")
    parser.add_argument("--ceiling-seconds", type=float, help="per ceiling run; 0 skips it")
    parser.add_argument(
        "--shard-limits",
        action="store_true",
        help="endpoint enforces 1,000 records/s and 1 MiB/s per shard; producers throttle",
    )
    parser.add_argument("--output-dir", type=Path, help="results JSON and plot directory")
    parser.add_argument("--markdown", type=Path, help="the report (full: BENCHMARKS.md)")
    parser.add_argument("--work-dir", type=Path, help="keep events files here (default: temp)")
    parser.add_argument("--render", type=Path, metavar="FILE", help="re-render a results file")
    return parser


_PLAN_FLAGS = (
    "events", "runs", "shards", "producers", "scaling", "scaling_runs", "scaling_producers",
    "scaling_shards", "large_events", "large_runs", "fail_rate", "node_events", "formats",
    "limit_producers", "limit_events",
)  # fmt: skip


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {
        flag: getattr(args, flag) for flag in _PLAN_FLAGS if getattr(args, flag) is not None
    }
    if args.ceiling_seconds is not None:
        out["ceiling_s"] = args.ceiling_seconds
    if args.shard_limits:
        out["shard_limits"] = True
    return out


def _write_outputs(
    results: dict[str, Any], results_path: Path, output_dir: Path, markdown: Path
) -> None:
    plot_path = plots.plot(results, output_dir / "throughput.png")
    markdown.parent.mkdir(parents=True, exist_ok=True)
    text = report.render_markdown(results, markdown, plot_path, results_path)
    markdown.write_text(text + "\n")
    sys.stderr.write(f"wrote {results_path}, {plot_path} and {markdown}\n")


def main(argv: list[str] | None = None) -> int:
    """Run (or re-render) the benchmark; 0 when every run was clean."""
    arguments = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(arguments)
    mode = "quick" if args.quick else "full"
    results_root = ROOT / "benchmarks" / "results"
    output_dir = args.output_dir or (results_root / "quick" if args.quick else results_root)
    default_markdown = output_dir / "BENCHMARKS.md" if args.quick else ROOT / "BENCHMARKS.md"
    markdown = args.markdown or default_markdown
    if args.render is not None:
        results = orjson.loads(args.render.read_bytes())
        _write_outputs(results, args.render, output_dir, markdown)
        return 0 if results.get("ok") else 1
    overrides = _overrides(args)
    plan = harness.quick_plan(**overrides) if args.quick else harness.full_plan(**overrides)
    if mode == "full" and set(overrides) - {"shard_limits"}:
        plan = dataclasses.replace(plan, mode="custom")  # not the reference figures
    command = os.environ.get("BENCH_COMMAND") or f"python -m benchmarks {shlex.join(arguments)}"
    results = harness.run_plan(plan, command=command, workdir=args.work_dir)
    path = harness.write_results(results, output_dir)
    _write_outputs(results, path, output_dir, markdown)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
