"""The shared-stream harness end to end on a tiny case, and its metrics reading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.fleet import Daemon, _metrics

REPO = Path(__file__).resolve().parents[2]


def test_metrics_reading_sums_labels_and_takes_the_median_and_min_limits() -> None:
    """Throttled counts are summed over shards; the median and min limits are read from their
    `stat`."""
    text = "\n".join(
        [
            "# HELP streamer_records_throttled_total x",
            'streamer_records_throttled_total{shard="a"} 3.0',
            'streamer_records_throttled_total{shard="b"} 4.0',
            "streamer_records_delivered_total 100.0",
            'streamer_shard_rate_limit_records_per_second{stat="min"} 10.0',
            'streamer_shard_rate_limit_records_per_second{stat="median"} 250.0',
        ]
    )
    assert _metrics(text) == {
        "streamer_records_throttled_total": 7.0,
        "streamer_records_delivered_total": 100.0,
        "median_limit": 250.0,
        "min_limit": 10.0,
    }


def test_rate_between_samples() -> None:
    """A daemon's rate over a window comes from the last samples at or before its ends."""
    daemon = Daemon("d0", proc=None, metrics_url="", stop_at=0.0)  # type: ignore[arg-type]
    daemon.samples = [(t, n, 0, 0, 0) for t, n in ((0.0, 0), (1.0, 100), (2.0, 300), (3.0, 600))]
    assert daemon.rate(1.0, 3.0) == 250.0
    assert daemon.rate(1.5, 2.5) == 200.0


def test_two_daemons_briefly(tmp_path: Path) -> None:
    """Two real daemons share a limited stream for a few seconds: every event exactly once."""
    out = tmp_path / "shared.json"
    command = [
        sys.executable, "-m", "benchmarks.shared_stream", "--daemons", "2", "--shards", "2",
        "--seconds", "3", "--skip-outside", "--skip-join-leave", "--skip-reshard",
        "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (case,) = json.loads(out.read_text())["cases"]
    assert case["daemons"] == 2
    assert case["exactly_once"] is True
    assert case["delivered"] > 0
    assert set(case["series"]) == {"d0", "d1"}
