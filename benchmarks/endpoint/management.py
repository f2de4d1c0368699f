"""The management operations: CreateStream, DescribeStreamSummary, DescribeStream, ListShards.

What it does: each operation is a function of the streams and the parsed request that returns a
`Reply` or raises `ApiError`, as the service answers (ListShards pages with an opaque NextToken
and honours ShardFilter AT_LATEST and AFTER_SHARD_ID; DescribeStream pages by Limit).
What it leaves out: counting requests and errors (the model does), DeleteStream, MergeShards,
UpdateShardCount and the other management calls, on-demand streams, tags, consumers.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from benchmarks.endpoint.api import (
    ACCOUNT_ID,
    MAX_LIST_SHARDS_RESULTS,
    ApiError,
    Reply,
    invalid,
)
from benchmarks.endpoint.streams import Stream


def find_stream(streams: dict[str, Stream], request: dict[str, Any]) -> Stream:
    """The stream a request names by StreamName or StreamARN."""
    name = request.get("StreamName")
    if name is None and isinstance(request.get("StreamARN"), str):
        name = request["StreamARN"].rpartition("/")[2]
    if not isinstance(name, str):
        raise invalid("StreamName or StreamARN is required")
    stream = streams.get(name)
    if stream is None:
        raise ApiError(
            400,
            "ResourceNotFoundException",
            f"Stream {name} under account {ACCOUNT_ID} not found.",
        )
    return stream


def create_stream(
    streams: dict[str, Stream], request: dict[str, Any], sequence: int, now: float
) -> Reply:
    name = request.get("StreamName")
    count = request.get("ShardCount", 1)
    if not isinstance(name, str) or not name:
        raise invalid("StreamName is required")
    if not isinstance(count, int) or not 1 <= count <= MAX_LIST_SHARDS_RESULTS:
        raise invalid(f"ShardCount must be an integer within 1..10000, not {count!r}")
    if name in streams:
        raise ApiError(
            400, "ResourceInUseException", f"Stream {name} under account {ACCOUNT_ID} exists."
        )
    streams[name] = Stream(name, count, sequence, now)
    return Reply(200, b"{}")


def describe_stream_summary(streams: dict[str, Stream], request: dict[str, Any]) -> Reply:
    stream = find_stream(streams, request)
    summary = {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": stream.created_at,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
        "OpenShardCount": len(stream.open),
        "ConsumerCount": 0,
    }
    return Reply(200, orjson.dumps({"StreamDescriptionSummary": summary}))


def describe_stream(streams: dict[str, Stream], request: dict[str, Any]) -> Reply:
    """The older call some clients (async-kinesis) start with; pages by `Limit` shards."""
    stream = find_stream(streams, request)
    limit = request.get("Limit", 100)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_SHARDS_RESULTS:
        raise invalid(f"Limit must be within 1..10000, not {limit!r}")
    after = str(request.get("ExclusiveStartShardId") or "")
    chosen = [s for s in stream.shards if s.shard_id > after]
    description = {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "Shards": [s.describe() for s in chosen[:limit]],
        "HasMoreShards": len(chosen) > limit,
        "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": stream.created_at,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }
    return Reply(200, orjson.dumps({"StreamDescription": description}))


def list_shards(streams: dict[str, Stream], request: dict[str, Any]) -> Reply:
    token = request.get("NextToken")
    if token is not None:
        try:
            state = orjson.loads(base64.urlsafe_b64decode(str(token)))
            stream = find_stream(streams, {"StreamName": state["stream"]})
            after, only_open = str(state["after"]), bool(state["open"])
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ApiError(400, "InvalidArgumentException", "NextToken is invalid") from exc
    else:
        stream = find_stream(streams, request)
        after = str(request.get("ExclusiveStartShardId") or "")
        shard_filter = request.get("ShardFilter") or {}
        kind = shard_filter.get("Type") if isinstance(shard_filter, dict) else None
        only_open = kind == "AT_LATEST"
        if kind == "AFTER_SHARD_ID":
            after = max(after, str(shard_filter.get("ShardId") or ""))
    limit = request.get("MaxResults", MAX_LIST_SHARDS_RESULTS)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_SHARDS_RESULTS:
        raise invalid(f"MaxResults must be within 1..10000, not {limit!r}")
    chosen = [
        s
        for s in stream.shards
        if s.shard_id > after and not (only_open and s.ending_sequence is not None)
    ]
    page = chosen[:limit]
    out: dict[str, Any] = {"Shards": [s.describe() for s in page]}
    if len(chosen) > limit:
        state = {"stream": stream.name, "after": page[-1].shard_id, "open": only_open}
        out["NextToken"] = base64.urlsafe_b64encode(orjson.dumps(state)).decode()
    return Reply(200, orjson.dumps(out))
