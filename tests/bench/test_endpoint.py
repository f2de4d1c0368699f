"""The benchmark endpoint and workload: protocol, limits, routing, accounting, faults, resharding.

Everything goes over real HTTP to an endpoint running in a background thread, except the parser
test, which feeds bytes to `HttpProtocol` one at a time through a fake transport.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiobotocore.session import get_session

from benchmarks import ceiling
from benchmarks.endpoint import (
    AMZ_JSON,
    HASH_KEY_MAX,
    EndpointConfig,
    EndpointServer,
    HttpProtocol,
    KinesisModel,
    serve_in_thread,
)
from benchmarks.workload import SEGMENT_IDS, generate

MiB = 1024 * 1024
STREAM = "bench"


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[str, EndpointServer]]:
    with serve_in_thread(EndpointConfig(shards=4, stream=STREAM, keep_records=True)) as running:
        yield running


@pytest.fixture
def endpoint(shared: tuple[str, EndpointServer]) -> tuple[str, EndpointServer]:
    shared[1].reset()
    return shared


def request(
    url: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def kinesis(url: str, op: str, payload: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    headers = {"X-Amz-Target": f"Kinesis_20131202.{op}", "Content-Type": AMZ_JSON.decode()}
    status, got_headers, body = request(url, "POST", "/", orjson.dumps(payload), headers, **kw)
    assert got_headers["Content-Type"] == AMZ_JSON.decode()
    return status, orjson.loads(body)


def admin(url: str, method: str, path: str, payload: Any = None) -> Any:
    body = b"" if payload is None else orjson.dumps(payload)
    status, _, data = request(url, method, path, body)
    assert status == 200, data
    return orjson.loads(data)


def rec(data: bytes | str, key: str = "k", **extra: str) -> dict[str, str]:
    raw = data.encode() if isinstance(data, str) else data
    return {"Data": base64.b64encode(raw).decode(), "PartitionKey": key, **extra}


def event(i: int) -> bytes:
    return b'{"_id":"id%d","v":1}' % i


def put(url: str, records: list[dict[str, str]], **kw: Any) -> tuple[int, Any]:
    return kinesis(url, "PutRecords", {"StreamName": STREAM, "Records": records}, **kw)


def md5_int(key: str) -> int:
    return int.from_bytes(hashlib.md5(key.encode()).digest(), "big")


def shards_of(url: str, stream: str = STREAM) -> list[dict[str, Any]]:
    status, body = kinesis(url, "ListShards", {"StreamName": stream})
    assert status == 200
    shards: list[dict[str, Any]] = body["Shards"]
    return shards


def owner(shards: list[dict[str, Any]], hash_key: int) -> str:
    (shard_id,) = [
        str(s["ShardId"])
        for s in shards
        if "EndingSequenceNumber" not in s["SequenceNumberRange"]
        and int(s["HashKeyRange"]["StartingHashKey"])
        <= hash_key
        <= int(s["HashKeyRange"]["EndingHashKey"])
    ]
    return shard_id


# -- protocol -------------------------------------------------------------------------------


def test_list_shards_paginates_and_covers_the_hash_space(endpoint: tuple[str, Any]) -> None:
    """MaxResults pages through the shards with NextToken; the ranges tile 0..2^128-1."""
    url, _ = endpoint
    pages, token = [], None
    while True:
        payload = {"NextToken": token} if token else {"StreamName": STREAM}
        status, body = kinesis(url, "ListShards", {**payload, "MaxResults": 3})
        assert status == 200
        assert len(body["Shards"]) <= 3
        pages.append(body["Shards"])
        token = body.get("NextToken")
        if token is None:
            break
    shards = [s for page in pages for s in page]
    assert [len(p) for p in pages] == [3, 1]
    assert [s["ShardId"] for s in shards] == [f"shardId-{i:012d}" for i in range(4)]
    expected_start = 0
    for shard in shards:
        assert int(shard["HashKeyRange"]["StartingHashKey"]) == expected_start
        expected_start = int(shard["HashKeyRange"]["EndingHashKey"]) + 1
        assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]
        assert shard["SequenceNumberRange"]["StartingSequenceNumber"].isdigit()
    assert expected_start == HASH_KEY_MAX + 1


def test_describe_stream_summary_and_unknown_stream(endpoint: tuple[str, Any]) -> None:
    """The summary describes the stream; an unknown stream is ResourceNotFoundException."""
    url, _ = endpoint
    status, body = kinesis(url, "DescribeStreamSummary", {"StreamName": STREAM})
    summary = body["StreamDescriptionSummary"]
    assert status == 200
    assert summary["StreamName"] == STREAM
    assert summary["StreamARN"].endswith(f":stream/{STREAM}")
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 4
    assert summary["RetentionPeriodHours"] == 24
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    status, body = kinesis(url, "ListShards", {"StreamName": "nope"})
    assert (status, body) == (
        400,
        {
            "__type": "ResourceNotFoundException",
            "message": "Stream nope under account 123456789012 not found.",
        },
    )


def test_unknown_operation_and_create_stream(endpoint: tuple[str, Any]) -> None:
    """Unknown targets are rejected; CreateStream adds a stream, once."""
    url, _ = endpoint
    status, body = kinesis(url, "GetRecords", {})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    assert kinesis(url, "CreateStream", {"StreamName": "more", "ShardCount": 3})[0] == 200
    assert len(shards_of(url, "more")) == 3
    status, body = kinesis(url, "CreateStream", {"StreamName": "more", "ShardCount": 3})
    assert (status, body["__type"]) == (400, "ResourceInUseException")


def test_routing_follows_md5_of_the_partition_key(endpoint: tuple[str, Any]) -> None:
    """Each record lands on the open shard whose range holds MD5(key), or its ExplicitHashKey."""
    url, _ = endpoint
    shards = shards_of(url)
    keys = [f"key-{i}" for i in range(200)]
    status, body = put(url, [rec(event(i), k) for i, k in enumerate(keys)])
    assert status == 200
    assert body["FailedRecordCount"] == 0
    assert [r["ShardId"] for r in body["Records"]] == [owner(shards, md5_int(k)) for k in keys]
    assert len({r["ShardId"] for r in body["Records"]}) == 4
    numbers = [int(r["SequenceNumber"]) for r in body["Records"]]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    status, body = put(url, [rec(event(999), "any", ExplicitHashKey=str(HASH_KEY_MAX))])
    assert body["Records"][0]["ShardId"] == "shardId-000000000003"


def test_put_record_answers_one_result(endpoint: tuple[str, Any]) -> None:
    """PutRecord accepts one record and names its shard and sequence number."""
    url, server = endpoint
    status, body = kinesis(url, "PutRecord", {"StreamName": STREAM, **rec(event(1), "solo")})
    assert status == 200
    assert body["ShardId"] == owner(shards_of(url), md5_int("solo"))
    assert body["SequenceNumber"].isdigit()
    assert server.stats()["records_accepted"] == 1


# -- limits ---------------------------------------------------------------------------------


def assert_rejected(status: int, body: Any) -> None:
    assert status == 400
    assert body["__type"] == "ValidationException"


def test_record_count_limit_edges(endpoint: tuple[str, Any]) -> None:
    """500 records are accepted; 501 and 0 reject the whole request."""
    url, server = endpoint
    status, body = put(url, [rec(event(i), f"k{i}") for i in range(500)])
    assert (status, body["FailedRecordCount"], len(body["Records"])) == (200, 0, 500)
    assert_rejected(*put(url, [rec(event(i), f"k{i}") for i in range(1000, 1501)]))
    assert_rejected(*put(url, []))
    stats = server.stats()
    assert (stats["records_accepted"], stats["validation_errors"]) == (500, 2)


def test_record_size_limit_counts_data_and_key(endpoint: tuple[str, Any]) -> None:
    """Data plus key of exactly 1 MiB is accepted; one byte more rejects the request."""
    url, server = endpoint
    key = "kk"
    status, body = put(url, [rec(b"x" * (MiB - len(key)), key)])
    assert (status, body["FailedRecordCount"]) == (200, 0)
    assert_rejected(*put(url, [rec(b"x" * (MiB - len(key) + 1), key), rec(b"small", key)]))
    assert server.stats()["records_accepted"] == 1


def test_request_size_limit_edge(endpoint: tuple[str, Any]) -> None:
    """Five 1 MiB records (5 MiB in all) are accepted; one more byte rejects them all."""
    url, server = endpoint
    full = [rec(b"y" * (MiB - 1), str(i)) for i in range(5)]
    status, body = put(url, full)
    assert (status, body["FailedRecordCount"]) == (200, 0)
    assert_rejected(*put(url, [*full[:4], rec(b"y" * (MiB - 1), "5"), rec(b"", "6")]))
    assert server.stats()["records_accepted"] == 5


def test_partition_key_length_in_characters(endpoint: tuple[str, Any]) -> None:
    """256 characters (512 UTF-8 bytes here) are accepted; 257 and 0 are rejected."""
    url, server = endpoint
    status, body = put(url, [rec(event(1), "é" * 256)])
    assert (status, body["FailedRecordCount"]) == (200, 0)
    assert_rejected(*put(url, [rec(event(2), "é" * 257)]))
    assert_rejected(*put(url, [rec(event(3), "")]))
    assert server.stats()["records_accepted"] == 1


# -- accounting and random failures ---------------------------------------------------------


def test_fail_rate_fails_records_independently_and_they_are_not_counted() -> None:
    """With fail_rate both codes appear per record; only successes are counted and kept."""
    config = EndpointConfig(fail_rate=0.3, seed=7, keep_records=True)
    with serve_in_thread(config) as (url, server):
        status, body = put(url, [rec(event(i), f"k{i}") for i in range(500)])
        assert status == 200
        failed = [i for i, r in enumerate(body["Records"]) if "ErrorCode" in r]
        assert body["FailedRecordCount"] == len(failed)
        assert 100 < len(failed) < 200
        codes = {body["Records"][i]["ErrorCode"] for i in failed}
        assert codes == {"InternalFailure", "ProvisionedThroughputExceededException"}
        stats = server.stats()
        assert stats["records_accepted"] == stats["unique_ids"] == 500 - len(failed)
        assert stats["records_failed"] == len(failed)
        kept = {orjson.loads(r["data"])["_id"] for r in server.records()}
        assert kept == {f"id{i}" for i in range(500) if i not in failed}


def test_duplicates_and_missing_ids_are_counted(endpoint: tuple[str, Any]) -> None:
    """Ids accepted twice count as duplicates and are named; data without an id is no_id."""
    url, server = endpoint
    batch = [rec(event(i), f"k{i}") for i in range(10)]
    put(url, batch)
    put(url, batch[:3])
    put(url, [rec(b'{"other":"x"}', "k"), rec(b"not json at all", "k")])
    stats = server.stats()
    assert stats["unique_ids"] == 10
    assert stats["duplicates"] == 3
    assert sorted(stats["duplicate_ids"]) == ["id0", "id1", "id2"]
    assert stats["no_id"] == 2
    assert stats["records_accepted"] == 15


def test_id_far_into_the_data_is_found(endpoint: tuple[str, Any]) -> None:
    """The id is found wherever it first occurs, not only near the start of the blob."""
    url, server = endpoint
    late = rec(b'{"pad":"' + b"p" * 5000 + b'","_id":"late"}')
    put(url, [late])
    assert server.stats()["unique_ids"] == 1
    with serve_in_thread(EndpointConfig()) as (other_url, other):  # blobs stay base64 here
        assert put(other_url, [late])[0] == 200
        assert other.stats()["unique_ids"] == 1
        assert other.stats()["duplicate_ids"] == []


def test_records_read_back_and_reset(endpoint: tuple[str, Any]) -> None:
    """/_records returns what was accepted, in order; /_reset zeroes everything."""
    url, _ = endpoint
    put(url, [rec(event(1), "a"), rec(event(2), "b")])
    records = admin(url, "GET", "/_records")
    assert [r["partition_key"] for r in records] == ["a", "b"]
    assert [r["data"] for r in records] == [event(1).decode(), event(2).decode()]
    assert int(records[0]["sequence_number"]) < int(records[1]["sequence_number"])
    assert admin(url, "GET", "/_stats")["records_accepted"] == 2
    admin(url, "POST", "/_reset")
    stats = admin(url, "GET", "/_stats")
    assert (stats["records_accepted"], stats["unique_ids"], stats["requests"]) == (0, 0, 0)
    assert admin(url, "GET", "/_records") == []


def test_shard_limits_throttle_per_shard_with_token_buckets() -> None:
    """1000 records/s and 1 MiB/s per shard, one second of burst; refills with the clock."""
    now = [100.0]
    config = EndpointConfig(shards=2, shard_limits=True)
    with serve_in_thread(config, clock=lambda: now[0]) as (url, server):
        low, high = {"ExplicitHashKey": "0"}, {"ExplicitHashKey": str(HASH_KEY_MAX)}
        for start in (0, 500):
            _, body = put(url, [rec(event(i), "k", **low) for i in range(start, start + 500)])
            assert body["FailedRecordCount"] == 0
        _, body = put(url, [rec(event(2000), "k", **low), rec(event(2001), "k", **high)])
        assert body["FailedRecordCount"] == 1
        assert body["Records"][0]["ErrorCode"] == "ProvisionedThroughputExceededException"
        assert body["Records"][0]["ErrorMessage"].startswith(
            "Rate exceeded for shard shardId-000000000000"
        )
        assert body["Records"][1]["ShardId"] == "shardId-000000000001"
        now[0] += 0.25
        _, body = put(url, [rec(event(i), "k", **low) for i in range(3000, 3251)])
        assert body["FailedRecordCount"] == 1
        half = MiB // 2 - 1
        _, body = put(url, [rec(b"z" * half, "k", **high) for _ in range(3)])
        assert [("ErrorCode" in r) for r in body["Records"]] == [False, False, True]
        assert server.stats()["records_failed_by_code"] == {
            "ProvisionedThroughputExceededException": 3
        }


# -- scripted faults ------------------------------------------------------------------------

REFUSALS = [
    ({"kind": "status", "status": 500}, 500, "InternalFailure"),
    ({"kind": "status", "status": 503}, 503, "ServiceUnavailable"),
    ({"kind": "throttle"}, 400, "ProvisionedThroughputExceededException"),
    ({"kind": "expired_token"}, 400, "ExpiredTokenException"),
    ({"kind": "access_denied"}, 400, "AccessDeniedException"),
]


@pytest.mark.parametrize(("action", "status", "error_type"), REFUSALS)
def test_refusing_faults_accept_nothing(
    endpoint: tuple[str, Any], action: dict[str, Any], status: int, error_type: str
) -> None:
    """Whole-request errors answer with their status and type and accept no record."""
    url, server = endpoint
    admin(url, "POST", "/_script", [action])
    got_status, body = put(url, [rec(event(1))])
    assert (got_status, body["__type"]) == (status, error_type)
    assert server.stats()["records_accepted"] == 0
    assert put(url, [rec(event(1))])[0] == 200  # the script is used up


def test_garbage_answers_200_with_a_non_json_body(endpoint: tuple[str, Any]) -> None:
    """A garbage reply is a 200 whose body is not JSON, and nothing is accepted."""
    url, server = endpoint
    server.script([{"kind": "garbage"}])
    body = orjson.dumps({"StreamName": STREAM, "Records": [rec(event(1))]})
    headers = {"X-Amz-Target": "Kinesis_20131202.PutRecords"}
    status, _, data = request(url, "POST", "/", body, headers)
    assert status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(data)
    assert server.stats()["records_accepted"] == 0


def test_reset_closes_the_connection_without_accepting(endpoint: tuple[str, Any]) -> None:
    """A reset fault drops the connection after reading the request; nothing is accepted."""
    url, server = endpoint
    server.script([{"kind": "reset"}])
    with pytest.raises(ConnectionError):
        put(url, [rec(event(1))])
    assert server.stats()["records_accepted"] == 0


def test_truncated_accepts_then_cuts_the_body(endpoint: tuple[str, Any]) -> None:
    """A truncated reply promises the whole body, sends half and closes; records are kept."""
    url, server = endpoint
    server.script([{"kind": "truncated"}])
    with pytest.raises(http.client.IncompleteRead):
        put(url, [rec(event(i), f"k{i}") for i in range(20)])
    assert server.stats()["records_accepted"] == 20


def test_wrong_count_accepts_all_and_answers_one_fewer(endpoint: tuple[str, Any]) -> None:
    """wrong_count accepts every record but lists one result fewer."""
    url, server = endpoint
    server.script([{"kind": "wrong_count"}])
    status, body = put(url, [rec(event(i), f"k{i}") for i in range(5)])
    assert (status, len(body["Records"])) == (200, 4)
    assert server.stats()["records_accepted"] == 5


def test_partial_fails_exactly_the_named_entries(endpoint: tuple[str, Any]) -> None:
    """partial fails the listed indices with the given code and accepts the rest."""
    url, server = endpoint
    server.script([{"kind": "partial", "fail": [1, 3], "code": "InternalFailure"}, {"kind": "ok"}])
    _, body = put(url, [rec(event(i), f"k{i}") for i in range(5)])
    assert body["FailedRecordCount"] == 2
    assert [r.get("ErrorCode") for r in body["Records"]] == [
        None,
        "InternalFailure",
        None,
        "InternalFailure",
        None,
    ]
    _, body = put(url, [rec(event(i), f"k{i}") for i in range(10, 15)])
    assert body["FailedRecordCount"] == 0
    stats = server.stats()
    assert stats["records_accepted"] == 8
    assert stats["faults_applied"] == {"partial": 1, "ok": 1}


@pytest.mark.parametrize("accept", [True, False])
def test_stall_holds_the_answer(endpoint: tuple[str, Any], accept: bool) -> None:
    """A stall answers after the delay, having accepted the records or not (then a 500)."""
    url, server = endpoint
    server.script([{"kind": "stall", "seconds": 0.3, "accept": accept}])
    started = time.monotonic()
    status, _ = put(url, [rec(event(1))])
    assert time.monotonic() - started >= 0.3
    assert status == (200 if accept else 500)
    assert server.stats()["records_accepted"] == (1 if accept else 0)


def test_a_stalled_client_that_gives_up_leaves_the_records_accepted(
    endpoint: tuple[str, Any],
) -> None:
    """A client timing out during a stall has still had its records accepted (a duplicate risk)."""
    url, server = endpoint
    server.script([{"kind": "stall", "seconds": 30, "accept": True}])
    with pytest.raises(TimeoutError):
        put(url, [rec(event(1))], timeout=0.2)
    assert server.stats()["records_accepted"] == 1


def test_bad_scripts_are_refused(endpoint: tuple[str, Any]) -> None:
    """Unknown kinds and malformed actions are rejected before anything is queued."""
    url, server = endpoint
    status, _, _ = request(url, "POST", "/_script", orjson.dumps([{"kind": "explode"}]))
    assert status == 400
    with pytest.raises(ValueError, match="status 500 or 503"):
        server.script([{"kind": "status", "status": 404}])
    assert server.stats()["faults_pending"] == 0


# -- resharding -----------------------------------------------------------------------------


def test_split_closes_the_parent_and_routes_to_its_children(endpoint: tuple[str, Any]) -> None:
    """Splitting a shard closes it and halves its range between two children."""
    url, server = endpoint
    admin(url, "POST", "/_reshard", {"split": "shardId-000000000000"})
    shards = {s["ShardId"]: s for s in shards_of(url)}
    parent = shards["shardId-000000000000"]
    assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
    children = [shards["shardId-000000000004"], shards["shardId-000000000005"]]
    assert [c["ParentShardId"] for c in children] == ["shardId-000000000000"] * 2
    assert children[0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert int(children[0]["HashKeyRange"]["EndingHashKey"]) + 1 == int(
        children[1]["HashKeyRange"]["StartingHashKey"]
    )
    assert children[1]["HashKeyRange"]["EndingHashKey"] == parent["HashKeyRange"]["EndingHashKey"]
    end = int(parent["HashKeyRange"]["EndingHashKey"])
    _, body = put(
        url, [rec(event(1), "k", ExplicitHashKey="0"), rec(event(2), "k", ExplicitHashKey=str(end))]
    )
    assert [r["ShardId"] for r in body["Records"]] == [
        "shardId-000000000004",
        "shardId-000000000005",
    ]
    _, latest = kinesis(
        url, "ListShards", {"StreamName": STREAM, "ShardFilter": {"Type": "AT_LATEST"}}
    )
    assert len(latest["Shards"]) == 5
    assert server.stats()["shards"][STREAM]["shardId-000000000000"] == 0


def test_shard_count_replaces_every_open_shard(endpoint: tuple[str, Any]) -> None:
    """A new shard count closes all open shards and opens that many, with parents named."""
    url, _ = endpoint
    admin(url, "POST", "/_reshard", {"shard_count": 2})
    shards = shards_of(url)
    closed = [s for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]]
    opened = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    assert len(closed) == 4
    assert [s["ParentShardId"] for s in opened] == ["shardId-000000000000", "shardId-000000000002"]
    assert [s.get("AdjacentParentShardId") for s in opened] == [
        "shardId-000000000001",
        "shardId-000000000003",
    ]
    _, summary = kinesis(url, "DescribeStreamSummary", {"StreamName": STREAM})
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 2
    _, body = put(url, [rec(event(i), f"k{i}") for i in range(50)])
    assert {r["ShardId"] for r in body["Records"]} <= {s["ShardId"] for s in opened}


# -- HTTP -----------------------------------------------------------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.out += chunk

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def http_put(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
        b"Content-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)
    )


def test_parser_handles_byte_by_byte_pipelined_requests() -> None:
    """Two pipelined requests fed one byte at a time get two answers, in order."""
    model = KinesisModel(EndpointConfig())
    protocol = HttpProtocol(model.handle, 10 * MiB)
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    first = orjson.dumps({"StreamName": STREAM, "Records": [rec(event(1))]})
    second = orjson.dumps({"StreamName": "missing", "Records": [rec(event(2))]})
    wire = http_put(first) + b"GET /_stats HTTP/1.1\r\n\r\n" + http_put(second)
    for i in range(len(wire)):
        protocol.data_received(wire[i : i + 1])
    responses = transport.out.split(b"HTTP/1.1 ")[1:]
    assert [r[:3] for r in responses] == [b"200", b"200", b"400"]
    assert b'"FailedRecordCount":0' in responses[0]
    assert b'"records_accepted":1' in responses[1]
    assert b"ResourceNotFoundException" in responses[2]
    assert not transport.closed


def test_parser_answers_expect_continue_before_the_body() -> None:
    """A client that waits for 100 Continue gets it, then the real answer once the body is in."""
    protocol = HttpProtocol(KinesisModel(EndpointConfig()).handle, 10 * MiB)
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    body = orjson.dumps({"StreamName": STREAM, "Records": [rec(event(1))]})
    wire = http_put(body, b"Expect: 100-continue\r\n")
    protocol.data_received(wire[: -len(body)])
    assert bytes(transport.out) == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.data_received(wire[-len(body) :])
    assert transport.out.count(b"HTTP/1.1 200 OK") == 1


def test_malformed_requests_are_answered_not_crashed_on(endpoint: tuple[str, Any]) -> None:
    """Bad JSON, bad records and bad hash keys get 400s, and the endpoint keeps serving."""
    url, _ = endpoint
    headers = {"X-Amz-Target": "Kinesis_20131202.PutRecords"}
    assert request(url, "POST", "/", b"{not json", headers)[0] == 400
    for records in (
        ["x"],
        [{"Data": 5, "PartitionKey": "k"}],
        [{"Data": "abc", "PartitionKey": "k"}],
    ):
        status, body = put(url, records)  # type: ignore[arg-type]
        assert (status, body["__type"]) == (400, "SerializationException")
    status, body = put(url, [rec(event(1), "k", ExplicitHashKey="²")])
    assert (status, body["__type"]) == (400, "ValidationException")
    assert put(url, [rec(event(1))])[0] == 200


def test_keep_alive_and_pipelining_over_a_socket(endpoint: tuple[str, Any]) -> None:
    """Pipelined requests on one socket are answered in order; Connection: close is honoured."""
    url, server = endpoint
    port = int(url.rsplit(":", 1)[1])
    bodies = [orjson.dumps({"StreamName": STREAM, "Records": [rec(event(i))]}) for i in range(3)]
    wire = http_put(bodies[0]) + http_put(bodies[1]) + http_put(bodies[2], b"Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(wire)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 3
    assert server.stats()["unique_ids"] == 3


async def test_aiobotocore_speaks_to_the_endpoint(endpoint: tuple[str, Any]) -> None:
    """A real aiobotocore client lists shards, describes the stream and puts records."""
    url, server = endpoint
    session = get_session()
    async with session.create_client(
        "kinesis",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="x",
        aws_secret_access_key="y",
    ) as client:
        listed = await client.list_shards(StreamName=STREAM, MaxResults=2)
        assert len(listed["Shards"]) == 2
        assert "NextToken" in listed
        rest = await client.list_shards(NextToken=listed["NextToken"])
        assert len(rest["Shards"]) == 2
        summary = await client.describe_stream_summary(StreamName=STREAM)
        assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 4
        put_result = await client.put_records(
            StreamName=STREAM,
            Records=[{"Data": event(i), "PartitionKey": f"k{i}"} for i in range(3)],
        )
        assert put_result["FailedRecordCount"] == 0
        assert len(put_result["Records"]) == 3
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            await client.describe_stream_summary(StreamName="nope")
    assert server.stats()["unique_ids"] == 3


def test_program_prints_port_then_final_stats() -> None:
    """The program prints a JSON line once listening and its final stats on SIGTERM."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "benchmarks.endpoint", "--port", "0", "--shards", "2"]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE) as process:
        try:
            assert process.stdout is not None
            ready = orjson.loads(process.stdout.readline())
            url = f"http://127.0.0.1:{ready['port']}"
            assert len(shards_of(url)) == 2
            put(url, [rec(event(1))])
            process.terminate()
            out, _ = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
    assert orjson.loads(out)["final_stats"]["records_accepted"] == 1
    assert process.returncode == 0


async def test_ceiling_client_measures_against_a_running_endpoint(
    endpoint: tuple[str, Any],
) -> None:
    """The ceiling client sends its bodies and counts what the endpoint accepted."""
    url, server = endpoint
    result = await ceiling.measure(url=url, seconds=30.0, max_records=2000, connections=2)
    assert result.errors == 0
    assert result.records >= 2000
    assert server.stats()["records_accepted"] == result.records + 500  # plus the warm-up


# -- workload -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "low", "high"), [("100", 200, 260), ("600", 600, 1100), ("100k", 99_000, 102_000)]
)
def test_workload_sizes_shapes_and_unique_ids(size: str, low: int, high: int) -> None:
    """Each size class stays in its byte range, parses, and has unique _ids and ecids."""
    lines = list(generate(300 if size == "100k" else 5000, seed=3, size=size))
    assert all(line.endswith(b"\n") for line in lines)
    assert all(low <= len(line) <= high for line in lines)
    events = [orjson.loads(line) for line in lines]
    assert len({e["_id"] for e in events}) == len(events)
    assert len({e["identityMap"]["ecid"][0]["id"] for e in events}) == len(events)
    for e in events:
        ups = e["segmentMembership"]["ups"]
        assert set(ups) <= set(SEGMENT_IDS)
        assert all(v["status"] in {"realized", "existing", "exited"} for v in ups.values())
        assert all(v["lastQualificationTime"].startswith("2026-") for v in ups.values())
        assert all(len(i["id"]) == 38 for i in e["identityMap"]["ecid"])
    if size != "100":
        assert {len(e["segmentMembership"]["ups"]) for e in events} == {3, 4, 5}
        assert all(len(i["id"]) == 64 for e in events for i in e["identityMap"]["email_lc_sha256"])


def test_workload_is_deterministic_resumable_and_mixes_large_events() -> None:
    """Same seed, same lines; start continues a run; mix makes about 1 in 1000 large."""
    assert list(generate(50, seed=1)) == list(generate(50, seed=1))
    assert list(generate(50, seed=1)) != list(generate(50, seed=2))
    assert list(generate(20, seed=1, start=30)) == list(generate(50, seed=1))[30:]
    large = [len(line) for line in generate(20_000, seed=1, mix=True) if len(line) > 5000]
    assert 8 <= len(large) <= 40
    assert all(20_000 <= n <= 50_500 for n in large)


def test_workload_lines_spread_evenly_over_shards() -> None:
    """First ecids (the partition keys) spread evenly over four shards by MD5."""
    counts = [0] * 4
    for line in itertools.islice(generate(8000, seed=5), 8000):
        key = orjson.loads(line)["identityMap"]["ecid"][0]["id"]
        counts[md5_int(key) * 4 >> 128] += 1
    assert min(counts) > 1800


def test_thread_helper_works_under_a_running_loop() -> None:
    """serve_in_thread can be used from inside a running event loop's thread."""

    async def inside() -> int:
        with serve_in_thread() as (url, _):
            status, _, _ = await asyncio.to_thread(request, url, "GET", "/_stats")
            return status

    assert asyncio.run(inside()) == 200
