"""A fast Kinesis-compatible HTTP endpoint for benchmarks and fault-injection tests.

What it does: serves the Kinesis JSON 1.1 protocol (ListShards, DescribeStreamSummary,
DescribeStream, CreateStream, PutRecord, PutRecords) over plain HTTP/1.1 on 127.0.0.1. Records
are routed to the open shards by MD5 of the partition key (or ExplicitHashKey), the real request
limits are enforced, and records can fail at random (`fail_rate`), by per-shard token buckets
(`shard_limits`) or by a script of faults. Every accepted record is counted by the unique id in
its data, so a benchmark can tell loss from duplication.

The modules, one role each:
- `api`: limits, names, `EndpointConfig`, the `Reply` value and `ApiError`;
- `streams`: shards, their token buckets, splitting and rescaling;
- `records`: PutRecords entries validated and decoded, ids found in the data;
- `faults`: the scripted fault kinds, checked and rendered;
- `management`: CreateStream, DescribeStreamSummary, DescribeStream, ListShards;
- `model`: `KinesisModel`, the I/O-free core (requests in, `Reply` values out);
- `http11`: `HttpProtocol`, keep-alive, pipelined, fragmented requests answered in order;
- `server`: `EndpointServer` on a socket, `serve_in_thread` for tests;
- `cli`: the program, `python -m benchmarks.endpoint`.
This package re-exports their public names, so `from benchmarks.endpoint import X` is enough.

What it leaves out: signatures and credentials, TLS, chunked request bodies, CBOR, reading
records back through the Kinesis API (GetRecords, consumers), MergeShards and the other
management calls, on-demand streams, KMS. Scripted faults apply to PutRecords only. Data is
base64-decoded only as far as needed to find the id (the whole blob when `keep_records`), so
malformed base64 after the id goes unnoticed otherwise. The limits are restated here, not
imported from `streamer.limits`, so the endpoint stays an independent oracle.
"""

from benchmarks.endpoint.api import (
    ACCOUNT_ID,
    AMZ_JSON,
    HASH_KEY_MAX,
    INTERNAL,
    MAX_LIST_SHARDS_RESULTS,
    MAX_PARTITION_KEY_CHARS,
    MAX_RECORDS_PER_REQUEST,
    PLAIN_JSON,
    REGION,
    SHARD_BYTES_PER_S,
    SHARD_RECORDS_PER_S,
    TARGET_PREFIX,
    THROTTLED,
    ApiError,
    Body,
    EndpointConfig,
    MiB,
    Reply,
)
from benchmarks.endpoint.cli import main
from benchmarks.endpoint.faults import FAULT_KINDS
from benchmarks.endpoint.http11 import Dispatch, HttpProtocol
from benchmarks.endpoint.model import KinesisModel
from benchmarks.endpoint.server import EndpointServer, serve_in_thread

__all__ = [
    "ACCOUNT_ID",
    "AMZ_JSON",
    "FAULT_KINDS",
    "HASH_KEY_MAX",
    "INTERNAL",
    "MAX_LIST_SHARDS_RESULTS",
    "MAX_PARTITION_KEY_CHARS",
    "MAX_RECORDS_PER_REQUEST",
    "PLAIN_JSON",
    "REGION",
    "SHARD_BYTES_PER_S",
    "SHARD_RECORDS_PER_S",
    "TARGET_PREFIX",
    "THROTTLED",
    "ApiError",
    "Body",
    "Dispatch",
    "EndpointConfig",
    "EndpointServer",
    "HttpProtocol",
    "KinesisModel",
    "MiB",
    "Reply",
    "main",
    "serve_in_thread",
]
