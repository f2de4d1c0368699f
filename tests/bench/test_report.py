"""BENCHMARKS.md is generated: re-rendering the stored results reproduces it byte for byte."""

from __future__ import annotations

from pathlib import Path

import orjson

from benchmarks import report

REPO = Path(__file__).resolve().parents[2]


def test_stored_results_render_the_committed_benchmarks_md() -> None:
    """Every section of BENCHMARKS.md comes from the generator, none is written by hand."""
    results_path = REPO / "benchmarks" / "results" / "full.json"
    markdown_path = REPO / "BENCHMARKS.md"
    results = orjson.loads(results_path.read_bytes())
    plot_path = REPO / "benchmarks" / "results" / "throughput.png"
    rendered = report.render_markdown(results, markdown_path, plot_path, results_path) + "\n"
    assert rendered == markdown_path.read_text()
