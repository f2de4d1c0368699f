"""Measures the HTTP input against a TCP input of the same daemon, on the same workload.

What it does: starts the benchmark endpoint and one `streamer run` with an `http://` and a
`tcp://` input (loopback, metrics on), sends 20,000 records to warm up, then N workload records
twice: over TCP on C connections, and as NDJSON bodies of B lines POSTed by C concurrent clients
(each sends its next body once the last one was answered). For each it reports records/s from
the first byte sent to the last record delivered (read from `/metrics`), and for HTTP the answer
latency of a body (p50, p99). One JSON line:

    python -m benchmarks.http_input --records 200000 --body-lines 500 --clients 8

What it leaves out: TLS, gzip, the token, `?wait=delivered`, other producers; CPU and memory
(the harness behind BENCHMARKS.md measures those for the whole daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.ceiling import endpoint_process
from benchmarks.producers import REGION, STREAM
from benchmarks.workload import generate

NDJSON = {"Content-Type": "application/x-ndjson"}
WARM_UP_RECORDS = 20_000


@contextlib.asynccontextmanager
async def streamer(url: str, workdir: Path) -> AsyncIterator[dict[str, Any]]:
    """`streamer run` with one HTTP and one TCP input; yields its `accepting input` log line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", "run", "--stream", STREAM, "--region", REGION,
        "--endpoint-url", url, "--input", "http://127.0.0.1:0", "--input", "tcp://127.0.0.1:0",
        "--metrics-address", "127.0.0.1:0", "--shard-rate-factor", "0",
        "--dead-letter", str(workdir / "dead.ndjson"),
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        while True:
            line = await process.stderr.readline()
            if not line:
                raise RuntimeError("streamer exited before accepting input")
            if line.startswith(b"{"):
                event = orjson.loads(line)
                if event.get("event") == "accepting input":
                    break
        drain = asyncio.create_task(process.stderr.read())
        yield event
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.wait()
        with contextlib.suppress(NameError):
            await drain


async def delivered(session: aiohttp.ClientSession, status_url: str) -> int:
    async with session.get(f"{status_url}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith("streamer_records_delivered_total "):
                return int(float(line.split()[1]))
    return 0


async def until_delivered(session: aiohttp.ClientSession, status_url: str, count: int) -> None:
    while await delivered(session, status_url) < count:
        await asyncio.sleep(0.01)


async def over_tcp(address: str, lines: list[bytes], clients: int) -> None:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)

    async def one(part: list[bytes]) -> None:
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"".join(part))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(one(lines[c::clients]) for c in range(clients)))


async def over_http(
    session: aiohttp.ClientSession, address: str, bodies: list[bytes], clients: int
) -> list[float]:
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def one() -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with session.post(f"{address}/v1/records", data=body, headers=NDJSON) as r:
                answer = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"answered {r.status}: {answer}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(clients)))
    return latencies


async def measure(records: int, body_lines: int, clients: int, shards: int) -> dict[str, Any]:
    lines = [line + b"\n" for line in generate(records)]
    bodies = [b"".join(lines[i : i + body_lines]) for i in range(0, records, body_lines)]
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            endpoint_process(shards, STREAM) as (url, _),
            streamer(url, Path(tmp)) as ready,
            aiohttp.ClientSession() as session,
        ):
            [tcp] = [i for i in ready["inputs"] if i.startswith("tcp://")]
            [http] = [i for i in ready["inputs"] if i.startswith("http://")]
            status = ready["status"]
            warm = lines[:WARM_UP_RECORDS]  # connections, pools and caches, not measured
            await over_tcp(tcp, warm, clients)
            await until_delivered(session, status, len(warm))
            started = time.perf_counter()
            await over_tcp(tcp, lines, clients)
            await until_delivered(session, status, len(warm) + records)
            tcp_s = time.perf_counter() - started
            started = time.perf_counter()
            latencies = await over_http(session, http, bodies, clients)
            await until_delivered(session, status, len(warm) + 2 * records)
            http_s = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "records": records,
        "body_lines": body_lines,
        "clients": clients,
        "tcp_records_per_s": round(records / tcp_s),
        "http_records_per_s": round(records / http_s),
        "http_vs_tcp": round(tcp_s / http_s, 3),
        "http_answer_p50_ms": round(cuts[49] * 1000, 2),
        "http_answer_p99_ms": round(cuts[98] * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_input")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--body-lines", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.records, args.body_lines, args.clients, args.shards))
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
