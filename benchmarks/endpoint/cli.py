"""The endpoint as a program: `python -m benchmarks.endpoint [--port N] [--shards N] ...`.

What it does: parses the options into an `EndpointConfig`, serves on uvloop until SIGTERM or
SIGINT, and prints one JSON line when listening (its settings, port, url and pid) and one with
the final stats when stopped.
What it leaves out: everything the endpoint does (`server`, `model`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import asdict

import orjson

from benchmarks.endpoint.api import EndpointConfig, MiB
from benchmarks.endpoint.server import EndpointServer, new_loop

_DESCRIPTION = "A fast Kinesis-compatible HTTP endpoint for benchmarks and fault-injection tests."


def _parse_args(argv: list[str] | None) -> EndpointConfig:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.endpoint", description=_DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--stream", default="bench")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--shard-limits", action="store_true", help="1000 rec/s, 1 MiB/s a shard")
    parser.add_argument("--keep-records", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--id-field", default="_id")
    parser.add_argument("--max-record-bytes", type=int, default=1 * MiB)
    parser.add_argument("--max-request-bytes", type=int, default=5 * MiB)
    args = parser.parse_args(argv)
    try:
        return EndpointConfig(
            host=args.host, port=args.port, stream=args.stream, shards=args.shards,
            fail_rate=args.fail_rate, shard_limits=args.shard_limits,
            keep_records=args.keep_records, seed=args.seed, id_field=args.id_field,
            max_record_bytes=args.max_record_bytes, max_request_bytes=args.max_request_bytes,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


async def _serve(config: EndpointConfig) -> None:
    server = EndpointServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ready = {**asdict(config), "port": server.port, "url": server.url, "pid": os.getpid()}
    sys.stdout.write(orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()
        sys.stdout.write(orjson.dumps({"final_stats": server.stats()}).decode() + "\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; one JSON line when listening, one with the final stats."""
    config = _parse_args(argv)
    with asyncio.Runner(loop_factory=lambda: new_loop(use_uvloop=True)) as runner:
        runner.run(_serve(config))
    return 0
