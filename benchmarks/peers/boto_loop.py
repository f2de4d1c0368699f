"""Peer "boto_loop": the plain aiobotocore PutRecords loop a user would write by hand.

What it does: one reader turns stdin lines into export records (`common.export`) and puts them
on a bounded queue; `--concurrency` writer tasks (8 by default) each take up to 500 records, at
most 5 MiB per request counting data and partition keys, and call `put_records`. Entries whose
result carries an `ErrorCode` are resubmitted, and only those (matched by index), after an
exponential backoff with full jitter, until none is left or `--max-attempts` is spent; so
partial failures cause no duplicates. A response holding a different number of results than
entries sent fails the whole batch rather than guessing. Request-level errors (throttling of
the call, 5xx, connection errors) are left to botocore's own standard-mode retries; a batch
whose request still fails is counted as failed. The connection pool holds at least one
connection per writer. Runs on uvloop.

    python -m benchmarks.peers.boto_loop --endpoint-url URL --stream NAME [--region us-east-1]
        [--concurrency 8] [--max-attempts 20] < events.ndjson

What it leaves out: any client-side rate limiting or shard awareness (it sends as fast as the
writers go and lets the server throttle), per-key ordering across retries (a resubmitted entry
can land after a later record of the same key), lingering to fill batches, aggregation, and
a dead-letter file (given-up records are only counted).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import Any, Final

import uvloop
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from benchmarks.peers.common import (
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    ExportError,
    Record,
    Tally,
    base_parser,
    export,
    open_stdin,
    read_line_batches,
    report,
)

PEER: Final = "boto_loop"
BACKOFF_BASE_S: Final = 0.05
BACKOFF_CAP_S: Final = 2.0
BOTOCORE_MAX_ATTEMPTS: Final = 5

_Queue = asyncio.Queue[Record | None]


def backoff_s(attempt: int) -> float:
    """Full-jitter delay before resubmission number `attempt` (1-based)."""
    return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


async def put_until_done(
    client: Any, stream: str, batch: list[Record], tally: Tally, max_attempts: int
) -> None:
    """Send `batch`, resubmitting only failed entries, and count every record's outcome."""
    pending = batch
    for attempt in range(max_attempts):
        if attempt:
            await asyncio.sleep(backoff_s(attempt))
        entries = [{"Data": r.data, "PartitionKey": r.partition_key} for r in pending]
        tally.requests += 1
        try:
            response = await client.put_records(StreamName=stream, Records=entries)
        except (ClientError, BotoCoreError) as exc:
            print(f"{PEER}: put_records failed for {len(pending)} records: {exc}", file=sys.stderr)
            break
        results = response["Records"]
        if len(results) != len(pending):
            print(f"{PEER}: {len(results)} results for {len(pending)} entries", file=sys.stderr)
            break
        retry: list[Record] = []
        for record, result in zip(pending, results, strict=True):
            code = result.get("ErrorCode")
            if code is None:
                continue
            tally.entry_errors[code] += 1
            retry.append(record)
        tally.sent_ok += len(pending) - len(retry)
        pending = retry
        if not pending:
            return
    tally.failed += len(pending)


async def writer(client: Any, stream: str, queue: _Queue, tally: Tally, max_attempts: int) -> None:
    """Take batches off the queue until its end marker (None) and send each."""
    carry: Record | None = None
    finished = False
    while not finished:
        first = carry if carry is not None else await queue.get()
        carry = None
        if first is None:
            return
        batch, size = [first], first.size
        while len(batch) < MAX_RECORDS_PER_REQUEST:
            try:
                record = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if record is None:
                finished = True
                break
            if size + record.size > MAX_REQUEST_BYTES:
                carry = record
                break
            batch.append(record)
            size += record.size
        await put_until_done(client, stream, batch, tally, max_attempts)


async def read_into(queue: _Queue, tally: Tally) -> None:
    """Export each stdin line onto the queue; lines that cannot be exported count as failed."""
    async for lines in read_line_batches(open_stdin()):
        for line in lines:
            tally.received += 1
            try:
                record = export(line)
            except ExportError:
                tally.failed += 1
                continue
            await queue.put(record)


async def run(
    endpoint_url: str | None, stream: str, region: str, concurrency: int, max_attempts: int
) -> tuple[Tally, float]:
    """Stream stdin to Kinesis; return the tally and the seconds spent after client setup."""
    config = AioConfig(
        max_pool_connections=max(concurrency, 10),
        retries={"mode": "standard", "max_attempts": BOTOCORE_MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=30,
    )
    tally = Tally()
    session = get_session()
    async with session.create_client(
        "kinesis", endpoint_url=endpoint_url, region_name=region, config=config
    ) as client:
        queue: _Queue = asyncio.Queue(maxsize=2 * concurrency * MAX_RECORDS_PER_REQUEST)
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(writer(client, stream, queue, tally, max_attempts))
            await read_into(queue, tally)
            for _ in range(concurrency):
                await queue.put(None)
        return tally, time.perf_counter() - started


def main() -> None:
    """Parse flags, run on uvloop, print the summary."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else PEER)
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent writer tasks")
    parser.add_argument(
        "--max-attempts", type=int, default=20, help="PutRecords attempts per record"
    )
    args = parser.parse_args()
    if args.concurrency < 1 or args.max_attempts < 1:
        parser.error("--concurrency and --max-attempts must be at least 1")
    tally, elapsed = uvloop.run(
        run(args.endpoint_url, args.stream, args.region, args.concurrency, args.max_attempts)
    )
    report(PEER, tally, elapsed)


if __name__ == "__main__":
    main()
