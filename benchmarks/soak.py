"""Soak: the streamer at a steady input rate with injected partial failures, for minutes,
sampling its memory and queue depth every second.

What it does: starts the benchmark endpoint with `--fail-rate` and the streamer with a metrics
address, writes events into the streamer's stdin at `--rate` lines/s for `--minutes`, samples
RSS (from /proc) and `streamer_buffered_records` (from /metrics) every second, then closes stdin,
waits for the drain and checks with the endpoint's id accounting that every event was delivered
exactly once. The RSS trend is the least-squares slope over the second half of the run (the
first half includes warm-up), in MB per minute. Prints one JSON line; `--out FILE` also writes
the samples.

What it leaves out: real AWS, and a crash mid-run (see the SIGKILL notes in the README).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.procs import bench_env, start_endpoint, streamer_cmd
from benchmarks.workload import generate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _metric(url: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            for raw in resp.read().decode().splitlines():
                if raw.startswith(name + " ") or raw.startswith(name + "{"):
                    return float(raw.rsplit(" ", 1)[1])
    except OSError:
        return None
    return None


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def run(minutes: float, rate: int, fail_rate: float, shards: int) -> dict[str, Any]:
    endpoint, url = start_endpoint(shards, "--fail-rate", str(fail_rate))
    metrics_port = _free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    total = int(minutes * 60 * rate)
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            streamer_cmd(
                url,
                Path(tmp) / "dl",
                *("--shard-rate-factor", "0", "--max-attempts", "50"),
                *("--metrics-address", f"127.0.0.1:{metrics_port}"),
            ),
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=bench_env(),
        )
        assert proc.stdin is not None
        stderr = proc.stderr
        assert stderr is not None
        stderr_lines: list[bytes] = []
        reader = threading.Thread(target=lambda: stderr_lines.extend(stderr), daemon=True)
        reader.start()
        started = time.monotonic()

        def feed() -> None:
            assert proc.stdin is not None
            tick = 0.05
            per_tick = max(1, int(rate * tick))
            events = generate(total, size="600")
            sent = 0
            while sent < total:
                batch = [next(events) for _ in range(min(per_tick, total - sent))]
                proc.stdin.write(b"".join(batch))
                proc.stdin.flush()
                sent += len(batch)
                target = started + sent / rate
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the load generator, not synchronising a test
            proc.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        while feeder.is_alive():
            samples.append(
                {
                    "t": round(time.monotonic() - started, 2),
                    "rss_mb": round(_rss_mb(proc.pid), 1),
                    "buffered": _metric(metrics_url, "streamer_buffered_records") or 0.0,
                    "delivered": _metric(metrics_url, "streamer_records_delivered_total") or 0.0,
                }
            )
            feeder.join(timeout=1.0)
        code = proc.wait(timeout=120)
        reader.join(timeout=5)
        summary = json.loads(stderr_lines[-1]) if stderr_lines else {}
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as resp:
        stats = json.load(resp)
    endpoint.terminate()
    endpoint.wait()
    half = [s for s in samples if s["t"] >= samples[-1]["t"] / 2] if samples else []
    rss = [s["rss_mb"] for s in samples]
    return {
        "minutes": minutes,
        "rate": rate,
        "fail_rate": fail_rate,
        "events": total,
        "exit_code": code,
        "delivered": summary.get("delivered"),
        "retried": summary.get("retried"),
        "unique_ids": stats["unique_ids"],
        "duplicates": stats["duplicates"],
        "lost": total - stats["unique_ids"],
        "rss_mb_min": min(rss, default=0.0),
        "rss_mb_max": max(rss, default=0.0),
        "rss_slope_mb_per_min_second_half": round(
            _slope([s["t"] for s in half], [s["rss_mb"] for s in half]) * 60, 3
        ),
        "buffered_max": max((s["buffered"] for s in samples), default=0.0),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=2000, help="input lines per second")
    parser.add_argument("--fail-rate", type=float, default=0.05)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="also write the full result here")
    args = parser.parse_args(argv)
    result = run(args.minutes, args.rate, args.fail_rate, args.shards)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}), flush=True)
    return 0 if result["lost"] == 0 and result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
