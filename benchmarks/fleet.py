"""Several `streamer run` processes at once: start, feed, sample and stop them.

What it does: `start` launches one daemon with its own metrics port and dead-letter file;
`Daemon.go` starts a thread that feeds it events (unique ids from its own block) through stdin
until its stop time, as fast as it takes them or at a given rate. `drive` launches each planned
daemon (or runs another action, such as `reshard`) at its time, feeds it once its status server
answers, reads every daemon's /metrics and the endpoint's accepted count every `SAMPLE_S`, and
returns when all daemons have exited. `Daemon.rate` turns
the samples into a delivered rate over a window.

What it leaves out: what a case is and what it reports (`shared_stream.py`).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.procs import bench_env, streamer_cmd
from benchmarks.soak import _free_port
from benchmarks.workload import generate

ID_BLOCK = 10_000_000
"""Each daemon's events start at its own multiple of this, so ids never collide."""
SAMPLE_S = 0.5
CHUNK_LINES = 200


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def _metrics(text: str) -> dict[str, float]:
    """The few series the harness reads, summed over their labels."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        if base == "streamer_shard_rate_limit_records_per_second":
            if 'stat="median"' in name:
                out["median_limit"] = float(value)
            elif 'stat="min"' in name:
                out["min_limit"] = float(value)
        elif base in ("streamer_records_delivered_total", "streamer_records_throttled_total"):
            out[base] = out.get(base, 0.0) + float(value)
    return out


@dataclass
class Daemon:
    """One `streamer run` process, its feeder thread and its samples."""

    name: str
    proc: subprocess.Popen[bytes]
    metrics_url: str
    stop_at: float
    rate_per_s: float | None = None
    samples: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    """(t, delivered, throttled, median and min per-shard limit)"""
    stderr: list[bytes] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    first_id: int = 0
    zero: float = 0.0
    """The run's time origin (monotonic), set when feeding starts."""

    def is_ready(self) -> bool:
        """Whether its status server answers (start-up checks done, about to read input)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited at start-up: {b''.join(self.stderr)[-2000:]!r}")
        return _get(self.metrics_url) is not None

    def go(self, zero: float) -> None:
        """Start feeding it; its stop time counts from `zero`."""
        assert self.proc.stdin is not None
        self.zero = zero
        feeder = threading.Thread(
            target=_feed, args=(self, self.proc.stdin, self.first_id), daemon=True
        )
        self.threads.append(feeder)
        feeder.start()

    def summary(self) -> dict[str, Any]:
        for raw in reversed(self.stderr):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and "delivered" in line and "elapsed_s" in line:
                return line
        return {}

    def delivered_at(self, t: float) -> float:
        """Records delivered by time `t` (the last sample at or before it)."""
        best = 0.0
        for at, delivered, *_ in self.samples:
            if at > t:
                break
            best = delivered
        return best

    def rate(self, t0: float, t1: float) -> float:
        return (self.delivered_at(t1) - self.delivered_at(t0)) / (t1 - t0)


def _feed(daemon: Daemon, stdin: IO[bytes], first_id: int) -> None:
    """Write events until `stop_at` (at `rate_per_s`, or as fast as the daemon takes them)."""
    clock_zero = daemon.zero
    events = generate(10**9, size="600", start=first_id)
    sent = 0
    try:
        while time.monotonic() - clock_zero < daemon.stop_at:
            stdin.write(b"".join(next(events) for _ in range(CHUNK_LINES)))
            stdin.flush()
            sent += CHUNK_LINES
            if daemon.rate_per_s is not None:
                ahead = sent / daemon.rate_per_s - (time.monotonic() - clock_zero)
                if ahead > 0:
                    time.sleep(ahead)  # pacing the load generator, not synchronising a test
    except BrokenPipeError:
        pass
    finally:
        stdin.close()


def start(
    name: str,
    url: str,
    tmp: Path,
    index: int,
    stop_at: float,
    *extra: str,
    rate_per_s: float | None = None,
) -> Daemon:
    """Launch one daemon; `Daemon.go` starts feeding it (events from `index * ID_BLOCK` on)."""
    port = _free_port()
    proc = subprocess.Popen(
        streamer_cmd(
            url,
            tmp / f"{name}.dead",
            *("--record-budget-s", "600", "--max-attempts", "1000"),
            *("--buffer-records", "2000", "--metrics-address", f"127.0.0.1:{port}"),
            *extra,
        ),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=bench_env(),
    )
    daemon = Daemon(name, proc, f"http://127.0.0.1:{port}/metrics", stop_at, rate_per_s)
    daemon.first_id = index * ID_BLOCK
    assert proc.stderr is not None
    err = proc.stderr
    reader = threading.Thread(target=lambda: daemon.stderr.extend(err), daemon=True)
    daemon.threads.append(reader)
    reader.start()
    return daemon


Starter = Callable[[], Daemon | None]
"""Starts a daemon at its time, or does something else then (a resharding) and returns None."""


def reshard(url: str, shard_count: int) -> None:
    """Rescale the endpoint's stream (all shards closed, `shard_count` children opened)."""
    request = urllib.request.Request(
        f"{url}/_reshard", data=json.dumps({"shard_count": shard_count}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()


def drive(
    plan: list[tuple[float, Starter]], url: str
) -> tuple[list[Daemon], list[tuple[float, int]], dict[str, Any]]:
    """Launch the daemons planned at 0 and, once all are ready, start feeding them together:
    that is time 0. Launch the later ones at their time and feed each once it is ready (so a
    slow start-up on a loaded machine does not count as sending time). Sample every `SAMPLE_S`
    until all have exited; return the daemons, the endpoint's accepted count over time and its
    final stats."""
    pending = sorted(plan, key=lambda p: p[0])
    running: list[Daemon] = []
    first = [d for at, starter in pending if at <= 0 for d in [starter()] if d is not None]
    pending = [(at, starter) for at, starter in pending if at > 0]
    deadline = time.monotonic() + 120
    while not all(d.is_ready() for d in first) and time.monotonic() < deadline:
        time.sleep(0.1)  # waiting for start-up, bounded; the measurement starts after
    zero = time.monotonic()
    for daemon in first:
        daemon.go(zero)
    running.extend(first)
    launching: list[Daemon] = []
    timeline: list[tuple[float, int]] = []
    while pending or launching or any(d.proc.poll() is None for d in running):
        now = time.monotonic() - zero
        while pending and pending[0][0] <= now:
            started = pending.pop(0)[1]()
            if started is not None:
                launching.append(started)
        for daemon in [d for d in launching if d.is_ready()]:
            daemon.go(zero)
            launching.remove(daemon)
            running.append(daemon)
        for daemon in running:
            _sample(daemon, now)
        stats = _get(f"{url}/_stats")
        if stats is not None:
            timeline.append((round(now, 2), int(json.loads(stats)["records_accepted"])))
        time.sleep(SAMPLE_S)  # the sampling period of a measurement, not synchronisation
    for daemon in running:
        daemon.proc.wait(timeout=120)
        for thread in daemon.threads:
            thread.join(timeout=10)
    final = json.loads(_get(f"{url}/_stats") or "{}")
    return running, timeline, final


def _sample(daemon: Daemon, now: float) -> None:
    text = _get(daemon.metrics_url)
    if text is not None:
        m = _metrics(text)
        daemon.samples.append(
            (
                round(now, 2),
                m.get("streamer_records_delivered_total", 0.0),
                m.get("streamer_records_throttled_total", 0.0),
                m.get("median_limit", 0.0),
                m.get("min_limit", 0.0),
            )
        )
