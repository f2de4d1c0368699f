"""Peer "async_kinesis": the published async-kinesis library's Producer, tuned for throughput.

What it does: parses each stdin line with orjson (`common.parse_event`), takes its partition key
(`common.partition_key`) and hands the event dict to `await producer.put(...)` inside
`async with Producer(...)`, whose exit flushes everything still queued or aggregated. Runs on
uvloop, like the other peers.

    python -m benchmarks.peers.async_kinesis_peer --endpoint-url URL --stream NAME
        [--region us-east-1] [--aggregation off|on] [--throttle capacity|off] < events.ndjson

What is sent. The processor is built, as the library's README suggests, from its own aggregator
classes and a serializer whose `serialize` is `orjson.dumps`, so each event's bytes are exactly
the export record of the other peers (the stock `JsonSerializer` would send stdlib
`json.dumps` output: with spaces, about 8% larger for these events, and 20x slower to make).
- `--aggregation off` (SimpleAggregator): one Kinesis record per event, data = the compact JSON
  of the event, partition key = `identityMap.ecid[0].id` (fallback: first id of the first
  namespace).
- `--aggregation on` (NewlineAggregator, i.e. `JsonLineProcessor` with orjson): one Kinesis
  record = many events, each followed by b"\\n", up to 1,024,000 bytes (40 x 25 KiB, its
  default). No partition key is passed: its aggregators cut a record whenever the key changes,
  so with one key per profile each record would hold one event (and its KPL aggregator rejects
  custom keys). The library then keys each record with str(time.perf_counter()) +
  str(time.time()), which spreads records over shards but drops per-profile shard affinity.

Configuration chosen, from reading kinesis/producer.py, base.py and utils.py (3.0.1):
- `batch_size=499`: `get_batch` admits `num <= batch_size`, i.e. batch_size + 1 records, so the
  default 500 sends 501, which the server rejects; the library then shrinks the batch 10% at a
  time. 499 gives full 500-record requests. It also caps a request at 1024 KiB, counting every
  record as ceil(bytes / 1024) KiB, so aggregated records go one per request.
- Throttle (`--throttle capacity`, the default): records/s = open shards (DescribeStreamSummary)
  x 1,000 and KiB/s = open shards x 1,024, the stream's real write capacity. Both are passed as
  the *per-shard* arguments because the Producer multiplies them by len(self.shards) in its
  constructor, before it has described the stream, i.e. by 1 (asserted below). The KiB count
  rounds each record up to 1 KiB, so unaggregated small events are held to about the same
  ~1,000/s per shard either way. It logs a warning for bandwidth above 1024; that is expected.
  Its record-count limit holds (about 2,000 records/s on 2 shards); its KiB limit does not: it
  discounts the whole window by the age of the oldest entry, so 13 records of 1,000 KiB pass
  a 2,048 KiB/s limit in under a second. With aggregation on, the real service would answer
  with throttled entries, which it then resubmits (below).
  `--throttle off` passes 10**9 for both, to measure the library's own ceiling against a local
  server that does not enforce shard limits (its throttle still does its bookkeeping per record).
- `max_queue_size=10_000` (default) and `buffer_time=0.5` (default): `put()` flushes inline
  once `batch_size` records are queued, so the queue never grows near the cap; the background
  flush every `buffer_time` only ships partial batches and partial aggregates, and at exit the
  flush is immediate.

Partial failures: it resubmits them, without limit. `process_result` puts every entry whose
result has an `ErrorCode` back on its overflow queue (only those, by index, so no duplicates)
when the codes include ProvisionedThroughputExceededException (then sleeps a fixed 0.25 s) or
InternalFailure (then calls get_conn, which, once 120 s have passed since the client was made,
closes and rebuilds it: a 5 s sleep, plus 10 s when its flush task ends up waiting for
itself in close()). When no entry has either code (e.g. only KMS errors) it raises
UnknownException from the flush task, which stops the producer. A failed request (5xx,
connection error; botocore retries are off) is resent at once, with no backoff and no limit.
Requests go out one at a time: flushes hold one lock, and `put()` awaits the flush.

Counting: the library reports no per-record outcome (`after_flush_fun` runs only for batches
without failures), so a subclass observes `process_result` (without changing what it does) to
count delivered events; `failed` is every received event not counted as delivered.

What it leaves out: consumers, checkpointing and metrics of the library; creating the stream
(the Producer describes it on entry and raises StreamDoesNotExist if it is missing).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Final

import orjson
import uvloop
from aiobotocore.session import AioSession
from kinesis import Producer, exceptions
from kinesis.aggregators import NewlineAggregator, SimpleAggregator
from kinesis.processors import Processor
from kinesis.serializers import Serializer

from benchmarks.peers.common import (
    ExportError,
    Tally,
    base_parser,
    open_stdin,
    parse_event,
    partition_key,
    read_line_batches,
    report,
)

PEER: Final = "async_kinesis"
SHARD_RECORDS_PER_S: Final = 1_000
SHARD_KIB_PER_S: Final = 1_024
UNTHROTTLED: Final = 10**9
BATCH_SIZE: Final = 499
"""Sends 500 records per request: the library admits batch_size + 1."""


class OrjsonSerializer(Serializer):  # type: ignore[misc]
    """Serializes with orjson, so the bytes sent are the compact export record."""

    def serialize(self, item: Any) -> bytes:
        """Compact JSON bytes of `item`."""
        return orjson.dumps(item)

    def deserialize(self, data: bytes) -> Any:
        """The object encoded in `data`."""
        return orjson.loads(data)


class OrjsonProcessor(Processor, SimpleAggregator, OrjsonSerializer):  # type: ignore[misc]
    """One Kinesis record per event (the library's JsonProcessor, with orjson)."""


class OrjsonLineProcessor(Processor, NewlineAggregator, OrjsonSerializer):  # type: ignore[misc]
    """Newline-joined events per Kinesis record (the library's JsonLineProcessor, with orjson)."""


class CountingProducer(Producer):  # type: ignore[misc]
    """The library's Producer, observing PutRecords results to count delivered events."""

    def __init__(self, stream_name: str, *, tally: Tally, **kwargs: Any) -> None:
        super().__init__(stream_name, **kwargs)
        self.tally = tally

    async def process_result(self, result: Any, items: list[Any]) -> None:
        """Count outcomes per event, then let the library act on the result unchanged."""
        self.tally.requests += 1
        if not result:
            self.tally.sent_ok += sum(item.n for item in items)
        else:
            for item, entry in zip(items, result["Records"], strict=False):
                if "ErrorCode" in entry:
                    self.tally.entry_errors[entry["ErrorCode"]] += item.n
                else:
                    self.tally.sent_ok += item.n
        await super().process_result(result, items)


async def open_shard_count(
    session: AioSession, endpoint_url: str | None, stream: str, region: str
) -> int:
    """The stream's open shard count, from DescribeStreamSummary."""
    async with session.create_client(
        "kinesis", endpoint_url=endpoint_url, region_name=region
    ) as client:
        summary = await client.describe_stream_summary(StreamName=stream)
    return int(summary["StreamDescriptionSummary"]["OpenShardCount"])


async def feed(producer: CountingProducer, tally: Tally, keyed: bool) -> None:
    """Put every stdin event; events the library or the export rejects count as failed."""
    async for lines in read_line_batches(open_stdin()):
        for line in lines:
            tally.received += 1
            try:
                event = parse_event(line)
                key = partition_key(event) if keyed else None
                await producer.put(event, partition_key=key)
            except (ExportError, exceptions.ExceededPutLimit, exceptions.ValidationError):
                tally.failed += 1


async def run(
    endpoint_url: str | None, stream: str, region: str, aggregation: bool, throttle: bool
) -> tuple[Tally, float, bool]:
    """Stream stdin through the Producer; return the tally, seconds after setup, success."""
    session = AioSession()
    shards = await open_shard_count(session, endpoint_url, stream, region)
    records_per_s = shards * SHARD_RECORDS_PER_S if throttle else UNTHROTTLED
    kib_per_s = shards * SHARD_KIB_PER_S if throttle else UNTHROTTLED
    processor = OrjsonLineProcessor() if aggregation else OrjsonProcessor()
    tally = Tally()
    producer = CountingProducer(
        stream,
        tally=tally,
        session=session,
        endpoint_url=endpoint_url,
        region_name=region,
        batch_size=BATCH_SIZE,
        max_queue_size=10_000,
        buffer_time=0.5,
        put_rate_limit_per_shard=records_per_s,
        put_bandwidth_limit_per_shard=kib_per_s,
        processor=processor,
    )
    if producer.put_rate_throttle.rate_limit != records_per_s:
        raise RuntimeError("this async-kinesis version scales its throttle by shard count")
    started = time.perf_counter()
    try:
        async with producer:
            started = time.perf_counter()  # after it has described the stream
            await feed(producer, tally, keyed=not aggregation)
    except (exceptions.UnknownException, exceptions.StreamDoesNotExist, ConnectionError) as exc:
        print(f"{PEER}: producer failed: {exc!r}", file=sys.stderr)
        ok = False
    else:
        ok = True
    elapsed = time.perf_counter() - started
    tally.failed = tally.received - tally.sent_ok
    return tally, elapsed, ok


def main() -> None:
    """Parse flags, run on uvloop, print the summary; exit 1 if the producer failed."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else PEER)
    parser.add_argument("--aggregation", choices=("on", "off"), default="off")
    parser.add_argument(
        "--throttle",
        choices=("capacity", "off"),
        default="capacity",
        help="capacity: the stream's shard limits; off: effectively unlimited",
    )
    args = parser.parse_args()
    tally, elapsed, ok = uvloop.run(
        run(
            args.endpoint_url,
            args.stream,
            args.region,
            aggregation=args.aggregation == "on",
            throttle=args.throttle == "capacity",
        )
    )
    report(PEER, tally, elapsed)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
