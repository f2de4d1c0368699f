"""What consumers read: the daemon process with KPL aggregation (and compression) against moto's
Kinesis server over HTTP, read back with GetRecords and de-aggregated with `aws-kinesis-agg`
exactly as the README's "Consumers" snippet does: every user record once, unchanged, with its
own partition key, on the shard that key hashes to, on both send paths."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from pathlib import Path

import orjson
import pytest
import zstandard
from local_kinesis import REGION, _client

from tests.support.processes import run_streamer

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"

# -- the README snippet, verbatim (test_the_readme_shows_this_snippet keeps them equal) --------
import base64  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

from aws_kinesis_agg.deaggregator import iter_deaggregate_records  # noqa: E402


def user_records(records: list[dict[str, Any]]) -> Iterator[tuple[str, bytes]]:
    """(partition key, data) of each user record in a GetRecords answer's Records."""
    for record in iter_deaggregate_records(records, data_format="Boto3"):
        kinesis = record["kinesis"]
        data = kinesis["data"]  # base64 inside an aggregate, raw bytes in a plain record
        yield kinesis["partitionKey"], base64.b64decode(data) if kinesis.get("aggregated") else data


# -- end of the README snippet ------------------------------------------------------------------


def test_the_readme_shows_this_snippet() -> None:
    """The README's snippet is the one tested here, line for line."""
    source = Path(__file__).read_text()
    start = source.index("import base64  # noqa")
    end = source.index("# -- end of the README snippet")
    snippet = source[start:end].replace("  # noqa: E402", "").strip()
    assert snippet in README.read_text()


async def get_all(url: str, stream: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(shard, its Records as boto3 returns them) for every shard."""
    out = []
    async with _client(url) as client:
        for shard in (await client.list_shards(StreamName=stream))["Shards"]:
            it = (
                await client.get_shard_iterator(
                    StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            records: list[dict[str, Any]] = []
            while it:
                page = await client.get_records(ShardIterator=it, Limit=10000)
                records.extend(page["Records"])
                if not page["Records"]:
                    break
                it = page.get("NextShardIterator")
            out.append((shard, records))
    return out


def in_range(shard: dict[str, Any], key: str) -> bool:
    h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    hash_range = shard["HashKeyRange"]
    return int(hash_range["StartingHashKey"]) <= h <= int(hash_range["EndingHashKey"])


def event(i: int) -> bytes:
    return orjson.dumps(
        {
            "_id": f"e{i}",
            "segmentMembership": {
                "ups": {
                    "seg-a": {"lastQualificationTime": "2026-11-28T10:00:00Z", "status": "realized"}
                }
            },
            "identityMap": {"ecid": [{"id": f"ecid-{i % 700}"}]},
        }
    )


@pytest.mark.parametrize(
    ("transport", "compression"),
    [("fast", "none"), ("botocore", "none"), ("fast", "zstd"), ("fast", "gzip")],
)
def test_consumers_read_every_user_record_once_on_its_shard(
    moto_url: str, new_stream: Any, tmp_path: Path, transport: str, compression: str
) -> None:
    """5,000 events through `--aggregation kpl`: far fewer Kinesis records, and the de-aggregated
    (and decompressed) user records are the events, once each, on their keys' shards, in order
    per key."""
    n = 5000
    stream = new_stream(4)
    args = ["run", "--stream", stream, "--region", REGION, "--endpoint-url", moto_url]
    args += ["--dead-letter", str(tmp_path / "dead.ndjson"), "--shard-rate-factor", "0"]
    args += ["--aggregation", "kpl", "--transport", transport, "--compression", compression]
    proc = run_streamer(args, b"\n".join(event(i) for i in range(n)) + b"\n")
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = orjson.loads(proc.stderr.splitlines()[-1])
    assert summary["delivered"] == n
    assert 0 < summary["aggregates_sent"] < n / 20
    decompress: Any = {
        "none": lambda data: data,
        "zstd": zstandard.ZstdDecompressor().decompress,
        "gzip": __import__("gzip").decompress,
    }[compression]
    seen: Counter[bytes] = Counter()
    kinesis_records = 0
    for shard, records in asyncio.run(get_all(moto_url, stream)):
        kinesis_records += len(records)
        per_key: dict[str, list[int]] = {}
        for key, data in user_records(records):
            body = decompress(data)
            seen[body] += 1
            assert in_range(shard, key)
            i = int(orjson.loads(body)["_id"][1:])
            assert key == f"ecid-{i % 700}"
            per_key.setdefault(key, []).append(i)
        assert all(ids == sorted(ids) for ids in per_key.values())
    assert summary["aggregates_sent"] <= kinesis_records < n / 20
    assert seen == Counter(event(i) for i in range(n))
