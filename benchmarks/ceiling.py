"""Measures the benchmark endpoint's own ceiling with the cheapest possible client.

What it does: starts `benchmarks.endpoint` as a subprocess (or uses `--url`), pre-builds a few
PutRecords bodies of 500 workload records cut to the record size, with random partition keys,
and sends them over C raw keep-alive connections (asyncio streams, one request in flight per
connection, no signing) for N seconds or M records. It reports records/s and, when it started
the endpoint, the endpoint's CPU time per record (psutil), as one JSON line. A producer measured
against the endpoint cannot go faster than this figure.

What it leaves out: everything a real producer does (batching, signing, retries), latency
percentiles, and HTTP features the endpoint does not need (chunking, TLS, redirects).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from benchmarks.workload import generate

try:
    import psutil
except ImportError:  # pragma: no cover - CPU figures are then left out
    psutil = None

try:
    import uvloop
except ImportError:  # pragma: no cover - the client then runs on asyncio's own loop
    uvloop = None  # type: ignore[assignment]

_REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class CeilingResult:
    """What one run measured; CPU figures are None when the endpoint is not our subprocess."""

    records: int
    requests: int
    failed_records: int
    errors: int
    seconds: float
    records_per_s: float
    connections: int
    record_bytes: int
    endpoint_cpu_s: float | None = None
    endpoint_cpu_us_per_record: float | None = None
    endpoint_cpu_utilisation: float | None = None
    client_cpu_utilisation: float = 0.0


def build_bodies(
    stream: str, *, bodies: int = 4, records: int = 500, record_bytes: int = 600, seed: int = 0
) -> list[bytes]:
    """PutRecords bodies of `records` workload lines padded or cut to `record_bytes` each."""
    rng = random.Random(seed)
    lines = generate(bodies * records, seed=seed, size="600")
    out = []
    for _ in range(bodies):
        entries = []
        for _ in range(records):
            data = next(lines).rstrip(b"\n")[:record_bytes].ljust(record_bytes, b" ")
            entries.append(
                {
                    "Data": base64.b64encode(data).decode(),
                    "PartitionKey": f"{rng.getrandbits(128):032x}",
                }
            )
        out.append(orjson.dumps({"StreamName": stream, "Records": entries}))
    return out


@dataclass(slots=True)
class _Tally:
    records: int = 0
    requests: int = 0
    failed: int = 0
    errors: int = 0


async def _connection(
    host: str, port: int, requests: list[bytes], counts: list[int], tally: _Tally, deadline: float,
    max_records: int | None,
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    try:
        turn = 0
        while time.perf_counter() < deadline and (
            max_records is None or tally.records < max_records
        ):
            index = turn % len(requests)
            turn += 1
            writer.write(requests[index])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            tally.requests += 1
            if status != 200:
                tally.errors += 1
                continue
            failed = orjson.loads(body)["FailedRecordCount"]
            tally.failed += failed
            tally.records += counts[index] - failed
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def blast(
    url: str, bodies: list[bytes], *, connections: int = 8, seconds: float = 5.0,
    max_records: int | None = None,
) -> tuple[_Tally, float]:  # fmt: skip
    """Send the bodies round-robin over `connections` until time or records run out."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        b"POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"X-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: %d\r\n\r\n%s"
        % (host.encode(), port, len(body), body)
        for body in bodies
    ]
    counts = [len(orjson.loads(body)["Records"]) for body in bodies]
    tally = _Tally()
    started = time.perf_counter()
    deadline = started + seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(connections):
            group.create_task(
                _connection(host, port, requests, counts, tally, deadline, max_records)
            )
    return tally, time.perf_counter() - started


@contextlib.asynccontextmanager
async def endpoint_process(shards: int, stream: str) -> AsyncIterator[tuple[str, int]]:
    """Start `python -m benchmarks.endpoint`; yields (url, pid); SIGTERM and reap on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.endpoint", "--port", "0",
        "--shards", str(shards), "--stream", stream,
        cwd=_REPO_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the endpoint exited before it was listening")
        ready: dict[str, Any] = orjson.loads(line)
        yield ready["url"], process.pid
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.communicate()


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def measure(
    *, url: str | None = None, shards: int = 4, stream: str = "bench", connections: int = 8,
    seconds: float = 5.0, max_records: int | None = None, record_bytes: int = 600,
) -> CeilingResult:  # fmt: skip
    """Run one measurement, starting an endpoint subprocess unless `url` is given."""
    bodies = build_bodies(stream, record_bytes=record_bytes)
    async with contextlib.AsyncExitStack() as stack:
        pid: int | None = None
        if url is None:
            target, pid = await stack.enter_async_context(endpoint_process(shards, stream))
        else:
            target = url
        await blast(target, bodies[:1], connections=1, seconds=60.0, max_records=1)  # warm up
        cpu_before = _cpu_seconds(pid) if pid is not None and psutil is not None else None
        client_before = time.process_time()
        tally, elapsed = await blast(
            target, bodies, connections=connections, seconds=seconds, max_records=max_records
        )
        client_cpu = time.process_time() - client_before
        cpu = None if cpu_before is None or pid is None else _cpu_seconds(pid) - cpu_before
    return CeilingResult(
        records=tally.records,
        requests=tally.requests,
        failed_records=tally.failed,
        errors=tally.errors,
        seconds=round(elapsed, 3),
        records_per_s=round(tally.records / elapsed, 1) if elapsed else 0.0,
        connections=connections,
        record_bytes=record_bytes,
        endpoint_cpu_s=None if cpu is None else round(cpu, 3),
        endpoint_cpu_us_per_record=(
            round(cpu / tally.records * 1e6, 3) if cpu is not None and tally.records else None
        ),
        endpoint_cpu_utilisation=None if cpu is None else round(cpu / elapsed, 3),
        client_cpu_utilisation=round(client_cpu / elapsed, 3) if elapsed else 0.0,
    )


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line with the measured ceiling."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling", description=__doc__)
    parser.add_argument("--url", help="an endpoint already running (no CPU figures then)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--stream", default="bench")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--records", type=int, help="stop after this many accepted records")
    parser.add_argument("--record-bytes", type=int, default=600)
    args = parser.parse_args(argv)
    run = asyncio.run if uvloop is None else uvloop.run
    result = run(
        measure(
            url=args.url,
            shards=args.shards,
            stream=args.stream,
            connections=args.connections,
            seconds=args.seconds if args.records is None else float("inf"),
            max_records=args.records,
            record_bytes=args.record_bytes,
        )
    )
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
