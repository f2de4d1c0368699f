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


def _entry(producer: str, rate: float, rss: float) -> dict[str, object]:
    return {"producer": producer, "median": {"records_per_s": rate, "peak_rss_mb": rss}}


def test_the_spool_section_judges_the_spool_against_the_same_run_without() -> None:
    """Issue 11's targets: records/s >= 80% and peak RSS within 10% of the spool-off run."""
    paths = (REPO / "x.md", REPO / "x.png", REPO / "x.json")
    main = [_entry("streamer", 40_000, 80), _entry("streamer_spool", 30_000, 90)]
    lines = report.spool_section(report.Page({"main": main, "reference": "streamer"}, *paths))
    assert (
        "| records/s with the spool >= 80% of without | 75% (30,000 vs 40,000) | **no** |" in lines
    )
    assert any(
        line.startswith("| peak RSS with the spool within 10%") and "| **no** |" in line
        for line in lines
    )
    without = report.Page({"main": main[:1], "reference": "streamer"}, *paths)
    assert report.spool_section(without) == []
