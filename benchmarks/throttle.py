"""Throttling run: the streamer against real per-shard write limits with more load than fits.

What it does: starts the benchmark endpoint with `--shard-limits` (1,000 records/s and 1 MiB/s
per shard, token buckets), pipes more events into `streamer run` (default client-side rate
limiting) than the stream can take in the run, and reports the share of the stream's write
capacity used and the share of sent entries that were throttled, with exactly-once checked by
the endpoint's id accounting. Prints one JSON line.

Capacity counts the endpoint's initial one-second burst too, so the share is not flattered:
capacity = shards x 1,000 records x (elapsed seconds + 1).

What it leaves out: byte-bound workloads (600-byte events hit the record limit first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.procs import bench_env, start_endpoint, streamer_cmd
from benchmarks.workload import generate

RECORDS_PER_SHARD_S = 1000


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as resp:
        return dict(json.load(resp))


def run(shards: int, events: int, *, streamer_args: list[str]) -> dict[str, Any]:
    endpoint, url = start_endpoint(shards, "--shard-limits")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "events.ndjson"
            with data.open("wb") as fh:
                fh.writelines(generate(events, size="600"))
            with data.open("rb") as stdin:
                proc = subprocess.run(
                    streamer_cmd(
                        url,
                        Path(tmp) / "dl",
                        *("--record-budget-s", "600", "--max-attempts", "1000"),
                        *streamer_args,
                    ),
                    stdin=stdin,
                    capture_output=True,
                    env=bench_env(),
                    check=False,
                )
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr.decode()[-2000:])
            summary = json.loads(proc.stderr.splitlines()[-1])
        stats = _stats(url)
    finally:
        endpoint.terminate()
        endpoint.wait()
    elapsed = float(summary["elapsed_s"])
    accepted = int(stats["records_accepted"])
    failed = int(stats["records_failed"])
    capacity = shards * RECORDS_PER_SHARD_S * (elapsed + 1)
    return {
        "shards": shards,
        "events": events,
        "elapsed_s": elapsed,
        "delivered": summary["delivered"],
        "accepted_unique": stats["unique_ids"],
        "duplicates": stats["duplicates"],
        "exactly_once": stats["unique_ids"] == events and stats["duplicates"] == 0,
        "capacity_used": round(accepted / capacity, 4),
        "throttled_share": round(failed / (accepted + failed), 4) if accepted + failed else 0.0,
        "entries_sent": accepted + failed,
        "throttled_entries": failed,
        "requests": summary["requests"],
        "streamer_args": streamer_args,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("streamer_args", nargs="*", help="extra `streamer run` flags (after --)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.shards, args.events, streamer_args=args.streamer_args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
