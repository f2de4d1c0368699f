"""An embedded local Kinesis for the demo and the integration tests: moto in server mode.

What it does: starts moto's ThreadedMotoServer on 127.0.0.1 (a free port), creates streams,
and reads every record of a stream back (all shards, from TRIM_HORIZON) through aiobotocore
over real HTTP. `patch_moto_shard_put()` fixes moto's shard append for concurrent writers (why:
its docstring); the demo and the integration fixture call it before starting the server.

What it leaves out: anything moto does not model (real throughput limits, auth).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiobotocore.session import get_session
from moto.kinesis.models import Record, Shard
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


_append_lock = threading.Lock()


def patch_moto_shard_put() -> None:
    """Replace moto's `Shard.put_record` with a thread-safe O(1) one, in this process; idempotent.

    moto's shard append is not safe under concurrent requests: two server threads can take the
    same sequence number, so one record silently replaces another. It also lists every key on
    each append, which is quadratic in the shard's size. The replacement takes a lock and keeps
    a running sequence counter, so concurrent writers are counted exactly and large tests stay
    fast. Call it before the server takes requests (the server runs in this process).
    """
    Shard.put_record = _put_record  # type: ignore[method-assign]  # the patch itself


def _put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    """Thread-safe, O(1) replacement for moto's Shard.put_record (see `patch_moto_shard_put`)."""
    with _append_lock:
        last = getattr(self, "_last_sequence", None)
        if last is None:
            last = self.get_max_sequence_number()
        sequence = last + 1
        self.records[sequence] = Record(partition_key, data, sequence, explicit_hash_key)
        self._last_sequence = sequence
        return str(sequence)


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto on a free loopback port; yield its URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _client(url: str) -> Any:
    return get_session().create_client(
        "kinesis", region_name=REGION, endpoint_url=url, **DUMMY_CREDENTIALS
    )


async def create_stream(url: str, name: str, shards: int) -> None:
    async with _client(url) as client:
        await client.create_stream(StreamName=name, ShardCount=shards)
        await client.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )


async def read_all(url: str, name: str) -> list[dict[str, Any]]:
    """Every record of every shard: {"shard_id", "partition_key", "data", "sequence_number"}."""
    out: list[dict[str, Any]] = []
    async with _client(url) as client:
        shards = (await client.list_shards(StreamName=name))["Shards"]
        for shard in shards:
            it = (
                await client.get_shard_iterator(
                    StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            while it:
                page = await client.get_records(ShardIterator=it, Limit=10000)
                out.extend(
                    {
                        "shard_id": shard["ShardId"],
                        "partition_key": r["PartitionKey"],
                        "data": r["Data"],
                        "sequence_number": r["SequenceNumber"],
                    }
                    for r in page["Records"]
                )
                if not page["Records"]:
                    break
                it = page.get("NextShardIterator")
    return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)
