"""The rate control against a background of refusals and against many writers, simulated.

What it does: runs the simulated shard and stream of `tests/support/` (simulated clock, seeds 1
to 8) and prints, as Markdown tables for RELIABILITY.md: (1) N writers on one shard with no
background (real Kinesis): the share of sent records refused, each run's slowest writer as a
part of its fair share, and how many writers took some of the others' throttling for a
background; (2) one daemon on 4, 16 and 64 shards that refuse 5% or 10% of records at any rate:
its rate from 10 s on, as a part of its rate without them (at most 95% and 90%: the refused
records are sent again within the same limits).

What it leaves out: real processes and HTTP (`benchmarks.shared_stream` runs those).
Usage: python -m benchmarks.background_sim
"""

from __future__ import annotations

import statistics

from tests.support.shard_sim import Writer, simulate
from tests.support.stream_sim import background_cost

SEEDS = range(1, 9)


def _writers(count: int) -> str:
    refused, slowest, with_background = [], [], []
    for seed in SEEDS:
        writers = [Writer() for _ in range(count)]
        simulate(writers, 40.0, seed=seed)
        refused.append(sum(w.throttled for w in writers) / sum(w.sent for w in writers))
        fair = sum(w.rate(10, 40) for w in writers) / count
        slowest.append(min(w.rate(10, 40) for w in writers) / fair)
        with_background.append(
            sum(getattr(w.limiter, "background", 0.0) > 0 for w in writers) / count
        )
    return (
        f"| {count} | {statistics.mean(refused):.1%} | {statistics.mean(slowest):.2f} "
        f"(worst {min(slowest):.2f}) | {statistics.mean(with_background):.0%} |"
    )


def _daemon(shards: int, refuse: float) -> str:
    parts = [background_cost(shards, refuse, 30.0, 10.0, seed) for seed in SEEDS]
    return f"| {shards} | {refuse:.0%} | {statistics.mean(parts):.1%} (lowest {min(parts):.1%}) |"


def main() -> None:
    print("| writers on one shard | refused | slowest writer / fair | took a background |")
    print("|---:|---:|---:|---:|")
    for count in (2, 4, 8, 16):
        print(_writers(count), flush=True)
    print()
    print("| shards | background | rate from 10 s, part of the rate without |")
    print("|---:|---:|---:|")
    for shards in (4, 16, 64):
        for refuse in (0.05, 0.1):
            print(_daemon(shards, refuse), flush=True)


if __name__ == "__main__":
    main()
