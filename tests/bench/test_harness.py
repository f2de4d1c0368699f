"""The benchmark harness end to end on a tiny workload, and its plan and endpoint additions.

The end-to-end test runs `python -m benchmarks` as a user would (2,000 events, one run, the
streamer and the aiobotocore loop, a half-second ceiling) into a temporary directory and checks
the results file, the report and the plot.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import orjson

from benchmarks import harness
from benchmarks.endpoint import EndpointConfig, KinesisModel
from benchmarks.producers import snapshot

REPO = Path(__file__).resolve().parents[2]
EVENTS = 2_000


def test_tiny_run_writes_results_report_and_plot(tmp_path: Path) -> None:
    """Every run delivers each event exactly once and every output has the expected shape."""
    markdown = tmp_path / "BENCHMARKS.md"
    command = [
        sys.executable, "-m", "benchmarks", "--events", str(EVENTS), "--runs", "1",
        "--producers", "streamer,boto_loop", "--no-scaling", "--ceiling-seconds", "0.5",
        "--node-events", "0", "--output-dir", str(tmp_path), "--markdown", str(markdown),
        "--formats", "streamer_kpl,streamer_zstd", "--limit-producers", "streamer_kpl",
        "--limit-events", "3000",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = orjson.loads((tmp_path / "custom.json").read_bytes())
    assert results["ok"] is True
    assert results["machine"]["nproc"] >= 1
    assert len(results["machine"]["code_sha256"]) == 16
    assert len(results["machine"]["load_average"]) == 3
    assert [e["producer"] for e in results["main"]] == ["streamer", "boto_loop"]
    for entry in results["main"]:
        assert entry["events"] == EVENTS
        assert entry["exactly_once"] is True
        (run,) = entry["runs"]
        assert run["exit_code"] == 0
        assert (run["unique_ids"], run["duplicates"], run["missing"]) == (EVENTS, 0, 0)
        assert run["cpu_s"] > 0
        assert run["wall_s"] > 0
        assert not run["rss_from_harness"]
        assert (
            0 < run["sampled_high_water_mb"] <= run["ru_maxrss_mb"] + 1
        )  # sampling: a lower bound
        assert run["peak_rss_mb"] >= run["ru_maxrss_mb"]
        assert entry["median"]["records_per_s"] == round(EVENTS / run["wall_s"], 1)
    assert [e["events"] for e in results["startup"]] == [0, 0]
    assert results["ceiling"]["records_per_s"] > 0
    assert results["scaling"] == {}
    formats = {e["producer"]: e for e in results["formats"]}
    assert set(formats) == {"streamer_kpl", "streamer_zstd"}
    assert all(e["exactly_once"] is True for e in formats.values())
    assert formats["streamer_kpl"]["median"]["kinesis_records_per_event"] < 0.1
    (limited,) = results["limits"]
    assert limited["limits"] is True
    assert limited["exactly_once"] is True
    assert 0 < limited["median"]["byte_limit_share"] <= 1

    text = markdown.read_text()
    assert "| streamer (fast transport) |" in text
    assert "| aiobotocore loop (500/call, 8 tasks) |" in text
    assert "![throughput and scaling](throughput.png)" in text
    assert "## Record formats" in text
    assert "| streamer --aggregation kpl |" in text
    assert "## Against real per-shard limits" in text
    assert (tmp_path / "throughput.png").read_bytes().startswith(b"\x89PNG")


def test_full_plan_covers_every_suite_and_merges_repeated_points() -> None:
    """The full plan has each scaling axis; a point in two suites is measured once."""
    plan = harness.full_plan()
    points = plan.points()
    suites = {p.suite for p in points}
    assert suites == {
        "main", "startup", "node", "shards", "events", "sizes", "failures", "limited_failures",
        "formats", "limits",
    }  # fmt: skip
    node = {(p.producer, p.events, p.shards) for p in points if p.suite == "node"}
    assert node == {("streamer", 500_000, 64), ("node_sdk", 500_000, 64)}
    assert {p.shards for p in points if p.suite == "shards"} == {1, 4, 64, 512}
    assert {p.events for p in points if p.suite == "events"} == {200_000, 2_000_000}
    assert {p.size for p in points if p.suite == "sizes"} == {"100", "600", "100k"}
    assert {p.fail_rate for p in points if p.suite == "failures"} == {0.0, 0.1}
    limited = {(p.shards, p.fail_rate, p.limits) for p in points if p.suite == "limited_failures"}
    assert limited == {(n, rate, True) for n in (4, 64) for rate in (0.0, 0.1)}
    assert all(p.runs >= 3 for p in points if p.suite == "main")
    groups = harness._groups(points)
    merged = [p for group in groups.values() for p in group]
    assert len({p.key for p in merged}) == len(merged)
    streamer_main = next(p for p in merged if p.key == ("streamer", 4, 200_000, "600", 0.0, False))
    assert streamer_main.sample_rss
    assert streamer_main.runs == 3


def test_endpoint_answers_describe_stream_for_clients_that_start_with_it() -> None:
    """DescribeStream lists the shards a page at a time (async-kinesis calls it on start)."""
    model = KinesisModel(EndpointConfig(shards=3))
    reply = model.handle(
        "POST", "/", "Kinesis_20131202.DescribeStream", b'{"StreamName":"bench","Limit":2}'
    )
    assert reply.status == 200
    description = orjson.loads(reply.body)["StreamDescription"]
    assert description["StreamStatus"] == "ACTIVE"
    assert [s["ShardId"] for s in description["Shards"]] == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]
    assert description["HasMoreShards"] is True
    missing = model.handle("POST", "/", "Kinesis_20131202.DescribeStream", b'{"StreamName":"x"}')
    assert missing.status == 400


def test_snapshot_runs_the_compiled_module_when_it_is_built(tmp_path: Path) -> None:
    """The benchmark's copy of the code uses the compiled body builder exactly when the working
    tree does (the in-place build travels with the package)."""
    code, _ = snapshot(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "from streamer import wire; print(wire.__file__, wire.COMPILED)"],
        cwd=code,
        env={"PATH": "/usr/bin:/bin", "PYTHONSAFEPATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    where, compiled = done.stdout.split()
    assert Path(where).is_relative_to(code)
    assert compiled == str(importlib.util.find_spec("streamer._native") is not None)
