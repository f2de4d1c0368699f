"""The benchmark harness: every producer, same session, same endpoint process, same events.

What it does: `Plan` lists the measurement points (`full_plan`, `quick_plan`): the main table
(every main producer, 600-byte events, no faults), the start-up cost of each (empty input), the
Node comparison (the streamer against the AWS SDK for JavaScript v3 loop, 500k events, 64
shards; skipped when node or its npm packages are missing), the scaling suites (shards; events,
with RSS over time; record sizes; injected failures), the record formats (aggregation,
compression) and the per-shard limits (an endpoint enforcing them).
`run_plan` snapshots the code under test, writes each workload once, starts one endpoint per
endpoint configuration (shard count, failure rate, shard limits), measures the endpoint's ceiling
with `benchmarks.ceiling` against the main one, and runs the points against it through
`runner.run_once`, interleaving the runs of different producers so a noisy neighbour hurts them
alike. A point seen in two suites is measured once. Each point is summarised by the median of its
runs (`summaries.py`); the result is a JSON-ready dict with the machine (CPUs, model, memory,
Python, load average at start and end) and the command, which `benchmarks.report` turns into
BENCHMARKS.md and the plot.

What it leaves out: measuring a single run (`runner.py`), describing the machine (`machine.py`),
rendering (`report.py`), statistics
beyond the median and range of a few runs, and isolating the machine: the load average is
recorded instead, and the ratios within one session are the figures to compare.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from benchmarks.machine import machine
from benchmarks.producers import (
    FORMAT_PRODUCERS,
    LIMIT_PRODUCERS,
    MAIN_PRODUCERS,
    PRODUCERS,
    REFERENCE,
    STREAM,
    node_peer_ready,
    snapshot,
)
from benchmarks.runner import (
    Endpoint,
    Run,
    Workloads,
    last_json,
    run_once,
)
from benchmarks.summaries import ceiling_summary, summarize

Key = tuple[str, int, int, str, float, bool]


@dataclass(frozen=True, slots=True)
class Point:
    """One measurement: a producer, an endpoint configuration and a workload, `runs` times."""

    suite: str
    producer: str
    shards: int
    events: int
    size: str = "600"
    fail_rate: float = 0.0
    runs: int = 3
    sample_rss: bool = False
    limits: bool = False
    """The endpoint enforces the per-shard write limits for this point (whatever the plan)."""

    @property
    def key(self) -> Key:
        return (self.producer, self.shards, self.events, self.size, self.fail_rate, self.limits)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to run. The main table is every producer at `shards`, `events`, 600 B, no faults."""

    mode: str = "full"
    events: int = 200_000
    runs: int = 3
    shards: int = 4
    producers: tuple[str, ...] = MAIN_PRODUCERS
    shard_limits: bool = False
    ceiling_s: float = 5.0
    scaling: bool = True
    scaling_runs: int = 3
    scaling_producers: tuple[str, ...] = ("streamer", "boto_loop")
    scaling_shards: tuple[int, ...] = (1, 4, 64, 512)
    large_events: int = 2_000_000
    large_runs: int = 3
    big_record_events: int = 5_000
    small_record_events: int = 200_000
    fail_rate: float = 0.1
    limited_failures: tuple[tuple[int, int], ...] = ((4, 100_000), (64, 1_000_000))
    """(shards, events) of the injected-failure runs against real per-shard limits with the
    streamer's rate limiter on (the issue's condition for its 10% target): 4 shards, ceiling-
    bound at 4,000 records/s for about 25 s; and 64 shards, where the streamer is bound by its
    CPU, not the ceiling, for about 20 s. Each shard's rate control meets the injected
    throttling alone and takes a second or two to find it is a background (see
    `streamer.refusals`), so a shorter run would measure mostly that."""
    startup: bool = True
    formats: tuple[str, ...] = FORMAT_PRODUCERS
    """The record formats suite (aggregation, compression), at the main table's size."""
    limit_producers: tuple[str, ...] = LIMIT_PRODUCERS
    """The runs against real per-shard limits; empty (like `formats`) skips the suite."""
    limit_events: int = 300_000
    """Events of each run against real per-shard limits: about a minute of them, so the rate
    control's start (each shard's slow start, and the shards' one-second opening burst, which
    the capacity counts) weighs little against the steady state the targets are about."""
    node_events: int = 500_000
    """The Node comparison: the streamer's whole process against the AWS SDK for JavaScript v3
    loop with pre-built records, at `node_shards` shards (0 events skips it)."""
    node_shards: int = 64
    node_runs: int = 3

    def points(self) -> list[Point]:
        """Every measurement point, main table first; the harness merges repeated ones."""
        main = [Point("main", p, self.shards, self.events, runs=self.runs) for p in self.producers]
        if self.startup:  # empty input: the fixed cost of starting, connecting and exiting
            main += [Point("startup", p, self.shards, 0, runs=self.runs) for p in self.producers]
        if self.node_events > 0:
            main += [
                Point("node", p, self.node_shards, self.node_events, runs=self.node_runs)
                for p in (REFERENCE, "node_sdk")
            ]
        main += self._format_points()
        if not self.scaling:
            return main
        scalers = [p for p in self.scaling_producers if p in PRODUCERS]
        runs, shards, events = self.scaling_runs, self.shards, self.events
        points: list[Point] = []
        for count in self.scaling_shards:
            points += [Point("shards", p, count, events, runs=runs) for p in scalers]
        points += [
            Point("events", REFERENCE, shards, events, runs=runs, sample_rss=True),
            Point(
                "events",
                REFERENCE,
                shards,
                self.large_events,
                runs=self.large_runs,
                sample_rss=True,
            ),
        ]
        sizes = (
            ("100", self.small_record_events),
            ("600", events),
            ("100k", self.big_record_events),
        )
        for size, count in sizes:
            points += [Point("sizes", p, shards, count, size, runs=runs) for p in scalers]
        for rate in (0.0, self.fail_rate):
            points += [
                Point("failures", p, shards, events, fail_rate=rate, runs=runs) for p in scalers
            ]
        for count, limited_events in self.limited_failures:
            points += [
                Point(
                    "limited_failures",
                    REFERENCE,
                    count,
                    limited_events,
                    fail_rate=rate,
                    runs=runs,
                    limits=True,
                )
                for rate in (0.0, self.fail_rate)
            ]
        return main + points

    def _format_points(self) -> list[Point]:
        """The record formats suite and the runs against real shard limits (issue 14)."""
        shards = self.shards
        points = [Point("formats", p, shards, self.events, runs=self.runs) for p in self.formats]
        points += [
            Point("limits", p, shards, self.limit_events, runs=self.runs, limits=True)
            for p in self.limit_producers
        ]
        return points


def full_plan(**overrides: Any) -> Plan:
    """The reference run: about 23 minutes on a 2-core machine."""
    return replace(Plan(), **overrides)


def quick_plan(**overrides: Any) -> Plan:
    """A two-minute version: fewer events, one run per scaling point, no 2M run."""
    plan = Plan(
        mode="quick",
        events=20_000,
        runs=3,
        ceiling_s=2.0,
        scaling_runs=1,
        large_events=200_000,
        big_record_events=500,
        small_record_events=20_000,
        limit_events=40_000,
        limited_failures=((4, 20_000), (64, 60_000)),
        node_events=50_000,
        node_runs=1,
    )
    return replace(plan, **overrides)


# -- summaries ---------------------------------------------------------------------------------


# -- the plan ----------------------------------------------------------------------------------


def _ceiling(endpoint: Endpoint, seconds: float, record_bytes: int, cwd: Path) -> dict[str, Any]:
    """One `benchmarks.ceiling` run against `endpoint`, with the endpoint's CPU over it."""
    options = ["--url", endpoint.url, "--stream", STREAM, "--seconds", str(seconds)]
    argv = [
        sys.executable,
        "-m",
        "benchmarks.ceiling",
        *options,
        "--record-bytes",
        str(record_bytes),
    ]
    before = endpoint.cpu_s()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    after = endpoint.cpu_s()
    endpoint.reset()
    result = last_json(done.stdout) or {"error": done.stderr[-2000:], "records_per_s": 0.0}
    if before is not None and after is not None and result.get("records"):
        result["endpoint_cpu_s"] = round(after - before, 3)
        result["endpoint_cpu_us_per_record"] = round((after - before) / result["records"] * 1e6, 3)
    return result


def _log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _groups(points: list[Point]) -> dict[tuple[int, float, bool], list[Point]]:
    """Points merged by key (most runs, RSS sampling if any asks), grouped by endpoint config."""
    unique: dict[Key, Point] = {}
    for point in points:
        seen = unique.get(point.key, point)
        runs, sample_rss = max(point.runs, seen.runs), point.sample_rss or seen.sample_rss
        unique[point.key] = replace(seen, runs=runs, sample_rss=sample_rss)
    groups: dict[tuple[int, float, bool], list[Point]] = {}
    for point in unique.values():
        groups.setdefault((point.shards, point.fail_rate, point.limits), []).append(point)
    return groups


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="streamer-bench-") as made:
        yield Path(made)


@dataclass(slots=True)
class _Session:
    """What every group of a plan shares: the plan, directories, workloads and progress."""

    plan: Plan
    work: Path
    code: Path
    workloads: Workloads
    total: int
    done: int = 0
    ceiling: list[dict[str, Any]] = field(default_factory=list)

    def run_group(
        self, shards: int, fail_rate: float, limits: bool, group: list[Point]
    ) -> dict[Key, Any]:
        """One endpoint for the group; its points' runs interleaved; returns their summaries."""
        plan = self.plan
        files = {p.key: self.workloads.get(p.events, p.size) for p in group}
        runs: dict[Key, list[Run]] = {p.key: [] for p in group}
        shard_limits = plan.shard_limits or limits
        with Endpoint(shards, fail_rate, shard_limits, cwd=self.code) as endpoint:
            main = shards == plan.shards and fail_rate == 0.0 and not limits
            if main and plan.ceiling_s > 0:
                record_bytes = round(self.workloads.get(plan.events, "600").mean_record_bytes)
                for _ in range(plan.runs):
                    self.ceiling.append(_ceiling(endpoint, plan.ceiling_s, record_bytes, self.code))
                    _log(f"ceiling: {self.ceiling[-1].get('records_per_s', 0):,.0f} records/s")
            for attempt in range(max(p.runs for p in group)):
                for point in (p for p in group if attempt < p.runs):
                    run = run_once(
                        PRODUCERS[point.producer], files[point.key], endpoint, self.work,
                        shard_limits=shard_limits, sample_rss=point.sample_rss, cwd=self.code,
                    )  # fmt: skip
                    runs[point.key].append(run)
                    self._progress(point, attempt, run)
        return {p.key: summarize(p, runs[p.key], files[p.key]) for p in group}

    def _progress(self, point: Point, attempt: int, run: Run) -> None:
        self.done += 1
        check = {True: "yes", False: "NO", None: "not checkable"}[run.exactly_once]
        _log(
            f"[{self.done}/{self.total}] {point.producer} shards={point.shards} "
            f"fail={point.fail_rate} events={point.events} size={point.size} "
            f"run {attempt + 1}/{point.runs}: {run.records_per_s:,.0f} rec/s, "
            f"cpu {run.cpu_s_per_100k:.2f} s/100k, rss {run.peak_rss_mb:.0f} MB, "
            f"exactly-once {check}, exit {run.exit_code}"
        )


def run_plan(plan: Plan, *, command: str, workdir: Path | None = None) -> dict[str, Any]:
    """Run every point of `plan` and the ceiling; return the JSON-ready results."""
    started_at = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    info = machine()
    points = plan.points()
    if not node_peer_ready() and any(p.producer == "node_sdk" for p in points):
        _log("node or its npm packages are missing (scripts/bench.sh installs them): no Node peer")
        points = [p for p in points if p.producer != "node_sdk"]
    groups = _groups(points)
    measured: dict[Key, dict[str, Any]] = {}
    with _workdir(workdir) as work:
        code, info["code_sha256"] = snapshot(work)
        _log(f"{plan.mode} plan on {info['nproc']} CPUs, load average {info['load_average']}")
        total = sum(p.runs for group in groups.values() for p in group)
        session = _Session(plan, work, code, Workloads(work, cwd=code), total)
        for (shards, fail_rate, limits), group in groups.items():
            measured.update(session.run_group(shards, fail_rate, limits, group))

    def suite(name: str) -> list[dict[str, Any]]:
        return [{**measured[p.key], "suite": name} for p in points if p.suite == name]

    results = {
        "mode": plan.mode,
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - clock, 1),
        "machine": info,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "plan": asdict(plan),
        "reference": REFERENCE,
        "main": suite("main"),
        "startup": suite("startup"),
        "node": suite("node"),
        "ceiling": ceiling_summary(session.ceiling),
        "scaling": {
            name: suite(name)
            for name in ("shards", "events", "sizes", "failures", "limited_failures")
            if any(p.suite == name for p in points)
        },
        "formats": suite("formats"),
        "limits": suite("limits"),
        "ok": all(m["ok"] for m in measured.values()),
    }
    _log(f"done in {results['duration_s']:.0f} s; all runs ok: {results['ok']}")
    return results


def write_results(results: dict[str, Any], directory: Path) -> Path:
    """Write the results as `<mode>.json` under `directory`; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{results['mode']}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    return path
