"""The endpoint reads user records the way consumers do: KPL aggregates made by `aws-kinesis-agg`
(not by the streamer) are de-aggregated and each user record's id counted, gzip and zstd records
decompressed, an aggregate routed by its ExplicitHashKey, and a corrupt aggregate counted as one
plain record, never as its user records."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import zstandard
from aws_kinesis_agg.aggregator import RecordAggregator

from benchmarks.endpoint import AMZ_JSON, EndpointConfig, EndpointServer, serve_in_thread
from benchmarks.endpoint.userrecords import deaggregate, looks_packed, user_records

STREAM = "bench"


def event(i: int) -> bytes:
    return b'{"_id":"id%d","v":1}' % i


def library_aggregate(records: list[tuple[str, bytes]], ehk: str | None = None) -> bytes:
    """An aggregate as the library's aggregator writes it (one explicit hash key for all)."""
    aggregator = RecordAggregator()
    for key, data in records:
        assert aggregator.add_user_record(key, data, ehk) is None
    record = aggregator.clear_and_get()
    assert record is not None
    _pk, _ehk, blob = record.get_contents()
    assert isinstance(blob, bytes)
    return blob


@pytest.fixture(scope="module", params=[False, True], ids=["base64", "kept"])
def running(request: pytest.FixtureRequest) -> Iterator[tuple[str, EndpointServer]]:
    config = EndpointConfig(shards=4, stream=STREAM, keep_records=request.param)
    with serve_in_thread(config) as served:
        yield served


def put(url: str, server: EndpointServer, records: list[dict[str, str]]) -> dict[str, Any]:
    """PutRecords over HTTP; returns the answer (the server is reset first)."""
    import http.client  # noqa: PLC0415

    server.reset()
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = orjson.dumps({"StreamName": STREAM, "Records": records})
        headers = {"X-Amz-Target": "Kinesis_20131202.PutRecords", "Content-Type": AMZ_JSON.decode()}
        conn.request("POST", "/", body=body, headers=headers)
        answer: dict[str, Any] = orjson.loads(conn.getresponse().read())
        return answer
    finally:
        conn.close()


def rec(data: bytes, key: str = "k", **extra: str) -> dict[str, str]:
    return {"Data": base64.b64encode(data).decode(), "PartitionKey": key, **extra}


def test_the_reader_matches_the_library() -> None:
    """What the library packs, the endpoint's own reader unpacks, keys and order kept."""
    records = [(f"ecid-{i % 3}", event(i)) for i in range(50)]
    assert deaggregate(library_aggregate(records)) == records
    assert deaggregate(event(1)) is None
    blob = bytearray(library_aggregate(records))
    blob[-1] ^= 1
    assert deaggregate(bytes(blob)) is None


def test_packed_records_are_recognised_from_their_first_bytes() -> None:
    """Aggregates, gzip and zstd are told from plain JSON by their magic, in base64 or not."""
    packed = [library_aggregate([("k", event(1))]), gzip.compress(event(1))]
    packed.append(zstandard.ZstdCompressor().compress(event(1)))
    for data in packed:
        assert looks_packed(data)
        assert looks_packed(base64.b64encode(data).decode())
    assert not looks_packed(event(1))
    assert not looks_packed(base64.b64encode(event(1)).decode())
    assert user_records(packed[2]) == [event(1)]


def test_aggregated_user_records_are_each_counted(running: tuple[str, EndpointServer]) -> None:
    """Two aggregates of 30 user records and one plain record: 3 Kinesis records, 61 ids."""
    url, server = running
    first = library_aggregate([(f"a{i}", event(i)) for i in range(30)])
    second = library_aggregate([(f"b{i}", event(100 + i)) for i in range(30)])
    answer = put(url, server, [rec(first, "a0"), rec(second, "b0"), rec(event(999))])
    assert answer["FailedRecordCount"] == 0
    stats = server.stats()
    assert stats["records_accepted"] == 3
    assert stats["aggregated_records_accepted"] == 2
    assert stats["user_records_accepted"] == 61
    assert stats["unique_ids"] == 61
    assert stats["no_id"] == 0


def test_a_resent_aggregate_shows_as_duplicates(running: tuple[str, EndpointServer]) -> None:
    """The same aggregate twice in one call: every user record counted as a duplicate once."""
    url, server = running
    blob = library_aggregate([(f"k{i}", event(i)) for i in range(10)])
    put(url, server, [rec(blob), rec(blob)])
    stats = server.stats()
    assert stats["unique_ids"] == 10
    assert stats["duplicates"] == 10


def test_compressed_records_are_counted(running: tuple[str, EndpointServer]) -> None:
    """gzip and zstd records, plain or inside an aggregate, are decompressed to find the id."""
    url, server = running
    zstd = zstandard.ZstdCompressor().compress
    inner = library_aggregate([("a", gzip.compress(event(1))), ("b", zstd(event(2)))])
    put(url, server, [rec(gzip.compress(event(3))), rec(zstd(event(4))), rec(inner)])
    stats = server.stats()
    assert stats["unique_ids"] == 4
    assert stats["no_id"] == 0


def test_a_corrupt_aggregate_is_one_plain_record(
    running: tuple[str, EndpointServer],
) -> None:
    """A bad digest: consumers read it as one plain record, so its user records are missing
    from the count (at most the first id shows), and exactly-once fails as it should."""
    url, server = running
    blob = bytearray(library_aggregate([(f"k{i}", event(i)) for i in range(5)]))
    blob[-1] ^= 1
    put(url, server, [rec(bytes(blob))])
    stats = server.stats()
    assert stats["aggregated_records_accepted"] == 0
    assert stats["user_records_accepted"] == 1
    assert stats["unique_ids"] + stats["no_id"] == 1


def test_an_aggregate_is_routed_by_its_explicit_hash_key(
    running: tuple[str, EndpointServer],
) -> None:
    """The explicit hash key, not the partition key, picks the shard."""
    url, server = running
    key = "some-key"
    own = int.from_bytes(hashlib.md5(key.encode()).digest(), "big") >> 126  # its shard of 4
    target = (own + 2) % 4
    ehk = str(target << 126)
    blob = library_aggregate([(key, event(1)), ("other", event(2))])
    answer = put(url, server, [rec(blob, key, ExplicitHashKey=ehk)])
    assert answer["Records"][0]["ShardId"] == f"shardId-{target:012d}"
