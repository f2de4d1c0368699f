"""Many daemons, one stream: N `streamer run` processes (and an optional outside producer) share
a stream whose shards enforce the real write limits.

What it does: starts the benchmark endpoint with `--shard-limits` (1,000 records/s and 1 MiB/s
per shard, token buckets with one second of burst) and runs cases, each a few tens of seconds:
- N daemons (1, 2, 4, 8) started together, each fed its own events (600-byte class, unique ids)
  through stdin as fast as it takes them, so every daemon always has more than its part to send
  and writes to every shard; after `--seconds` their input ends and they drain;
- one daemon beside an outside producer that takes half of every shard's capacity: another
  `streamer run` with rate limiting off, fed at shards x 500 lines/s, retrying what is throttled;
- join and leave: three daemons, a fourth joins at 10 s, the first one's input ends at 30 s;
- resharding: two daemons, and at 10 s the stream is rescaled to twice as many shards.
The daemons are run and sampled by `fleet.py` (each daemon's /metrics and the endpoint's
accepted count every half second). Per case it reports the share of the stream's capacity used
from the first accepted record to the last (capacity counts the endpoint's initial second of
burst: shards x 1,000 x (seconds + 1)), the share of the daemons' entries throttled, each
daemon's rate over the contended window against its fair share, and exactly-once from the
endpoint's id accounting. Writes `benchmarks/results/shared_stream.json` and a plot of
per-daemon rate over time in the join/leave case (`shared_stream.png`).

What it leaves out: byte-bound workloads and real AWS.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fleet import Daemon, Starter, drive, reshard, start
from benchmarks.procs import start_endpoint

RECORDS_PER_SHARD_S = 1000
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    name: str
    daemons: int
    seconds: float
    join_at: float | None = None
    """The last daemon starts this late (join/leave case)."""
    leave_at: float | None = None
    """The first daemon's input ends this early (join/leave case)."""
    outside: bool = False
    reshard_at: float | None = None
    """At this time the stream is rescaled to `reshard_to` shards (resharding case)."""
    reshard_to: int = 0


def run_case(case: Case, shards: int) -> dict[str, Any]:
    endpoint, url = start_endpoint(shards, "--shard-limits")
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            plan: list[tuple[float, Starter]] = []
            for i in range(case.daemons):
                at = case.join_at if case.join_at is not None and i == case.daemons - 1 else 0
                stop = case.leave_at if case.leave_at is not None and i == 0 else case.seconds
                plan.append((at, functools.partial(start, f"d{i}", url, tmp, i, stop)))
            if case.outside:
                half = shards * RECORDS_PER_SHARD_S / 2
                outside = functools.partial(
                    start, "outside", url, tmp, 99, case.seconds, "--shard-rate-factor", "0",
                    rate_per_s=half,
                )  # fmt: skip
                plan.append((0.0, outside))
            if case.reshard_at is not None:
                plan.append((case.reshard_at, functools.partial(reshard, url, case.reshard_to)))
            daemons, timeline, final = drive(plan, url)
    finally:
        endpoint.terminate()
        endpoint.wait()
    outsider = next((d for d in daemons if d.name == "outside"), None)
    return _summarize(case, shards, daemons, outsider, timeline, final)


def _summarize(
    case: Case,
    shards: int,
    daemons: list[Daemon],
    outside: Daemon | None,
    timeline: list[tuple[float, int]],
    final: dict[str, Any],
) -> dict[str, Any]:
    unique, duplicates = int(final["unique_ids"]), int(final["duplicates"])
    total_accepted = int(final["records_accepted"])
    first = next(t for t, n in timeline if n > 0)
    last = next((t for t, n in timeline if n >= total_accepted), timeline[-1][0])
    capacity = shards * RECORDS_PER_SHARD_S
    ours = [d for d in daemons if d is not outside]
    sums = [d.summary() for d in daemons]
    delivered = sum(int(s.get("delivered", 0)) for s in sums)
    our_sums = [d.summary() for d in ours]
    our_delivered = sum(int(s.get("delivered", 0)) for s in our_sums)
    our_throttled = sum(int(s.get("throttled", 0)) for s in our_sums)
    result: dict[str, Any] = {
        "case": case.name,
        "daemons": len(ours),
        "shards": shards,
        "outside_producer": outside is not None,
        "seconds_fed": case.seconds,
        "elapsed_s": round(last - first, 2),
        "capacity_used": round(total_accepted / _capacity_records(case, shards, first, last), 4),
        "throttled_share": round(our_throttled / (our_delivered + our_throttled), 4),
        "delivered": delivered,
        "unique_ids": unique,
        "duplicates": duplicates,
        "dead_lettered": sum(int(s.get("dead_lettered", 0)) for s in sums),
        "exactly_once": unique == delivered and duplicates == 0,
        "exit_codes": [d.proc.returncode for d in daemons],
    }
    window = (first + 2.0, case.seconds)
    if case.reshard_at is not None:
        result.update(_resharded(case, ours))
    elif case.join_at is None:
        rates = [d.rate(*window) for d in ours]
        fair = (capacity / 2 if outside is not None else capacity) / len(ours)
        result["window_s"] = window
        result["rates"] = [round(r, 1) for r in rates]
        result["min_share_of_fair"] = round(min(rates) / fair, 3)
    if outside is not None:
        settled = (first + 10.0, case.seconds)
        result["settled_window_s"] = settled
        result["daemon_rate_settled"] = round(ours[0].rate(*settled), 1)
        result["daemon_rate_of_remaining_half"] = round(ours[0].rate(*settled) / (capacity / 2), 3)
        result["outside_rate_settled"] = round(outside.rate(*settled), 1)
    if case.join_at is not None and case.leave_at is not None:
        result.update(_join_leave(case, ours, capacity))
    result["series"] = {d.name: [list(sample) for sample in d.samples] for d in daemons}
    return result


def _capacity_records(case: Case, shards: int, first: float, last: float) -> float:
    """The stream's write capacity in records from `first` to `last`, plus the opening burst."""
    if case.reshard_at is None or not first < case.reshard_at < last:
        return shards * RECORDS_PER_SHARD_S * (last - first + 1)
    before = shards * RECORDS_PER_SHARD_S * (case.reshard_at - first + 1)
    return before + case.reshard_to * RECORDS_PER_SHARD_S * (last - case.reshard_at)


def _resharded(case: Case, daemons: list[Daemon]) -> dict[str, Any]:
    """Rates from 10 s after the resharding to the end of input, against the new capacity."""
    assert case.reshard_at is not None
    window = (case.reshard_at + 10.0, case.seconds)
    rates = [d.rate(*window) for d in daemons]
    capacity = case.reshard_to * RECORDS_PER_SHARD_S
    return {
        "reshard_at": case.reshard_at,
        "reshard_to": case.reshard_to,
        "after_reshard_window_s": window,
        "after_reshard_rates": [round(r, 1) for r in rates],
        "after_reshard_share_of_fair": [round(r / (capacity / len(daemons)), 3) for r in rates],
        "after_reshard_capacity_used": round(sum(rates) / capacity, 3),
    }


def _join_leave(case: Case, daemons: list[Daemon], capacity: float) -> dict[str, Any]:
    """Rates in the window from 10 s after each change to the next change, against fair share."""
    assert case.join_at is not None
    assert case.leave_at is not None
    joined = (case.join_at + 10.0, case.leave_at)
    left = (case.leave_at + 10.0, case.seconds)
    joined_rates = [d.rate(*joined) for d in daemons]
    left_rates = [d.rate(*left) for d in daemons[1:]]
    return {
        "after_join_window_s": joined,
        "after_join_rates": [round(r, 1) for r in joined_rates],
        "after_join_share_of_fair": [round(r / (capacity / 4), 3) for r in joined_rates],
        "after_join_capacity_used": round(sum(joined_rates) / capacity, 3),
        "after_leave_window_s": left,
        "after_leave_rates": [round(r, 1) for r in left_rates],
        "after_leave_share_of_fair": [round(r / (capacity / 3), 3) for r in left_rates],
        "after_leave_capacity_used": round(sum(left_rates) / capacity, 3),
    }


def plot(result: dict[str, Any], path: Path) -> Path:
    """Per-daemon delivered rate over time (1 s windows) in the join/leave case."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - only when plotting

    figure = Figure(figsize=(10, 5))
    ax = figure.subplots()
    capacity = result["shards"] * RECORDS_PER_SHARD_S
    for name, series in result["series"].items():
        times, rates = [], []
        for (t0, d0, *_), (t1, d1, *_) in zip(series, series[2:], strict=False):
            if t1 > t0:
                times.append((t0 + t1) / 2)
                rates.append((d1 - d0) / (t1 - t0))
        ax.plot(times, rates, label=name)
    ax.axhline(capacity, color="tab:red", linestyle="--", label="stream capacity")
    for n, label in ((4, "fair share of 4"), (3, "fair share of 3")):
        ax.axhline(capacity / n, color="tab:gray", linestyle=":", linewidth=1)
        ax.text(
            0.01, capacity / n, label, fontsize=8, color="tab:gray", va="bottom",
            transform=ax.get_yaxis_transform(),
        )  # fmt: skip
    ax.axvline(result["join_at"], color="black", linewidth=0.8)
    ax.axvline(result["leave_at"], color="black", linewidth=0.8)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("records/s delivered")
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"{result['daemons']} daemons on {result['shards']} shards: d3 is started at "
        f"{result['join_at']:g} s, d0's input ends at {result['leave_at']:g} s"
    )
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    return path


def _row(r: dict[str, Any]) -> str:
    share = r.get("min_share_of_fair")
    return (
        f"{r['case']:>12} daemons={r['daemons']} shards={r['shards']} "
        f"capacity_used={r['capacity_used']:.1%} throttled={r['throttled_share']:.2%} "
        f"min_share_of_fair={share if share is not None else '-'} "
        f"exactly_once={r['exactly_once']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=25.0, help="input time per case")
    parser.add_argument("--daemons", default="1,2,4,8", help="daemon counts to run")
    parser.add_argument("--skip-outside", action="store_true")
    parser.add_argument("--skip-join-leave", action="store_true")
    parser.add_argument("--skip-reshard", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "shared_stream.json")
    args = parser.parse_args(argv)
    cases = [Case(f"{n} daemons", n, args.seconds) for n in map(int, args.daemons.split(","))]
    if not args.skip_outside:
        cases.append(Case("outside half", 1, args.seconds, outside=True))
    if not args.skip_join_leave:
        cases.append(Case("join/leave", 4, 45.0, join_at=10.0, leave_at=30.0))
    if not args.skip_reshard:
        cases.append(Case("reshard", 2, args.seconds, reshard_at=10.0, reshard_to=2 * args.shards))
    results = []
    for case in cases:
        result = run_case(case, args.shards)
        if case.join_at is not None:
            result["join_at"], result["leave_at"] = case.join_at, case.leave_at
        results.append(result)
        print(_row(result), flush=True)
    out = {
        "command": "python -m benchmarks.shared_stream " + " ".join(argv or sys.argv[1:]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    joined = [r for r in results if r["case"] == "join/leave"]
    if joined:
        print(f"plot: {plot(joined[0], args.out.with_suffix('.png'))}")
    print(f"results: {args.out}")
    return 0 if all(r["exactly_once"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
