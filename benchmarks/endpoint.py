"""A fast Kinesis-compatible HTTP endpoint for benchmarks and fault-injection tests.

What it does: serves the Kinesis JSON 1.1 protocol (ListShards, DescribeStreamSummary,
DescribeStream, CreateStream, PutRecord, PutRecords) over plain HTTP/1.1 on 127.0.0.1. Records
are routed to the open shards by MD5 of the partition key (or ExplicitHashKey), the real request
limits are enforced, and records can fail at random (`fail_rate`), by per-shard token buckets
(`shard_limits`) or by a script of faults. Every accepted record is counted by the unique id in
its data, so a benchmark can tell loss from duplication.

The layers: `KinesisModel` is the I/O-free core (requests in, `Reply` values out);
`HttpProtocol` parses keep-alive, pipelined, fragmented requests and writes the replies in order;
`EndpointServer` binds them to a socket; `serve_in_thread` runs one in a background thread for
tests; `main` is the program (`python -m benchmarks.endpoint`).

What it leaves out: signatures and credentials, TLS, chunked request bodies, CBOR, reading
records back through the Kinesis API (GetRecords, consumers), MergeShards and the other
management calls, on-demand streams, KMS. Scripted faults apply to PutRecords only. Data is
base64-decoded only as far as needed to find the id (the whole blob when `keep_records`), so
malformed base64 after the id goes unnoticed otherwise. The limits are restated here, not
imported from `streamer.limits`, so the endpoint stays an independent oracle.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import os
import random
import signal
import sys
import threading
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Final, NamedTuple, cast

import orjson

try:  # the builtin MD5 is about twice as fast as OpenSSL's for short keys
    from _md5 import md5 as _md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - interpreters built without it
    from hashlib import md5 as _md5

try:
    import uvloop
except ImportError:  # pragma: no cover - the program falls back to asyncio's loop
    uvloop = None  # type: ignore[assignment]

MiB: Final = 1024 * 1024
ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"
HASH_KEY_MAX: Final = (1 << 128) - 1
MAX_RECORDS_PER_REQUEST: Final = 500
MAX_PARTITION_KEY_CHARS: Final = 256
MAX_LIST_SHARDS_RESULTS: Final = 10_000
SHARD_RECORDS_PER_S: Final = 1000
SHARD_BYTES_PER_S: Final = 1 * MiB
AMZ_JSON: Final = b"application/x-amz-json-1.1"
PLAIN_JSON: Final = b"application/json"
TARGET_PREFIX: Final = "Kinesis_20131202."
THROTTLED: Final = "ProvisionedThroughputExceededException"
INTERNAL: Final = "InternalFailure"
FAULT_KINDS: Final = frozenset(
    {
        "status", "throttle", "expired_token", "access_denied", "reset", "stall",
        "wrong_count", "truncated", "garbage", "partial", "ok",
    }
)  # fmt: skip
Body = bytes | bytearray | memoryview
_SEQUENCE_BASE: Final = 49 * 10**54
_ID_WINDOW_CHARS: Final = 64
_DUPLICATE_SAMPLE: Final = 100


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Everything an endpoint is started with; validated on construction."""

    host: str = "127.0.0.1"
    port: int = 0
    stream: str = "bench"
    shards: int = 4
    fail_rate: float = 0.0
    shard_limits: bool = False
    keep_records: bool = False
    seed: int = 1
    id_field: str = "_id"
    max_record_bytes: int = 1 * MiB
    max_request_bytes: int = 5 * MiB

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"shards must be at least 1, not {self.shards}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within 0..1, not {self.fail_rate}")
        if self.max_record_bytes < 1 or self.max_request_bytes < 1:
            raise ValueError("max_record_bytes and max_request_bytes must be positive")
        if not self.id_field or '"' in self.id_field:
            raise ValueError(f"id_field must be a non-empty name without quotes: {self.id_field!r}")


class Reply(NamedTuple):
    """One HTTP answer; `delay_s` holds it back, `disconnect` is "reset" or "truncate"."""

    status: int
    body: bytes
    content_type: bytes = AMZ_JSON
    delay_s: float = 0.0
    disconnect: str | None = None


class ApiError(Exception):
    """A request-level Kinesis error: becomes `{"__type": ..., "message": ...}`."""

    def __init__(self, status: int, error_type: str, message: str | None = None) -> None:
        super().__init__(message or error_type)
        self.status = status
        self.error_type = error_type
        self.message = message

    def reply(self) -> Reply:
        body: dict[str, str] = {"__type": self.error_type}
        if self.message is not None:
            body["message"] = self.message
        return Reply(self.status, orjson.dumps(body))


def _invalid(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def _json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(value), PLAIN_JSON)


class _Shard:
    """One shard: hash range, lineage, sequence range, token buckets and accepted count."""

    __slots__ = (
        "accepted", "adjacent_parent", "byte_tokens", "end", "ending_sequence", "parent",
        "record_tokens", "refilled_at", "shard_id", "start", "starting_sequence",
    )  # fmt: skip

    def __init__(
        self, number: int, start: int, end: int, sequence: int, now: float,
        parent: str | None = None, adjacent_parent: str | None = None,
    ) -> None:  # fmt: skip
        self.shard_id = f"shardId-{number:012d}"
        self.start = start
        self.end = end
        self.starting_sequence = str(_SEQUENCE_BASE + sequence)
        self.ending_sequence: str | None = None
        self.parent = parent
        self.adjacent_parent = adjacent_parent
        self.record_tokens = float(SHARD_RECORDS_PER_S)
        self.byte_tokens = float(SHARD_BYTES_PER_S)
        self.refilled_at = now
        self.accepted = 0

    def admit(self, now: float, size: int) -> bool:
        """Take one record of `size` bytes from the buckets (one second's worth at most)."""
        elapsed = now - self.refilled_at
        if elapsed > 0:
            self.record_tokens = min(
                float(SHARD_RECORDS_PER_S), self.record_tokens + elapsed * SHARD_RECORDS_PER_S
            )
            self.byte_tokens = min(
                float(SHARD_BYTES_PER_S), self.byte_tokens + elapsed * SHARD_BYTES_PER_S
            )
            self.refilled_at = now
        if self.record_tokens >= 1.0 and self.byte_tokens >= size:
            self.record_tokens -= 1.0
            self.byte_tokens -= size
            return True
        return False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ShardId": self.shard_id}
        if self.parent is not None:
            out["ParentShardId"] = self.parent
        if self.adjacent_parent is not None:
            out["AdjacentParentShardId"] = self.adjacent_parent
        out["HashKeyRange"] = {"StartingHashKey": str(self.start), "EndingHashKey": str(self.end)}
        seq = {"StartingSequenceNumber": self.starting_sequence}
        if self.ending_sequence is not None:
            seq["EndingSequenceNumber"] = self.ending_sequence
        out["SequenceNumberRange"] = seq
        return out


def _even_ranges(count: int) -> list[tuple[int, int]]:
    space = HASH_KEY_MAX + 1
    return [(k * space // count, (k + 1) * space // count - 1) for k in range(count)]


class _Stream:
    """A stream's shards; `open` is sorted by hash range and `ends` indexes it for bisect."""

    def __init__(self, name: str, shard_count: int, sequence: int, now: float) -> None:
        self.name = name
        self.arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{name}"
        self.created_at = time.time()
        self.shards: list[_Shard] = []
        self.open: list[_Shard] = []
        self.ends: list[int] = []
        for start, end in _even_ranges(shard_count):
            self._add(_Shard(len(self.shards), start, end, sequence, now))
        self._reindex()

    def _add(self, shard: _Shard) -> None:
        self.shards.append(shard)
        self.open.append(shard)

    def _reindex(self) -> None:
        self.open = sorted((s for s in self.shards if s.ending_sequence is None), key=_start_of)
        self.ends = [s.end for s in self.open]

    def split(self, shard_id: str, sequence: int, now: float) -> None:
        parent = next((s for s in self.open if s.shard_id == shard_id), None)
        if parent is None:
            raise ValueError(f"{shard_id} is not an open shard of stream {self.name}")
        parent.ending_sequence = str(_SEQUENCE_BASE + sequence)
        middle = parent.start + (parent.end - parent.start) // 2
        for start, end in ((parent.start, middle), (middle + 1, parent.end)):
            self._add(_Shard(len(self.shards), start, end, sequence, now, parent.shard_id))
        self._reindex()

    def rescale(self, count: int, sequence: int, now: float) -> None:
        old = list(self.open)
        old_ends = [s.end for s in old]
        for shard in old:
            shard.ending_sequence = str(_SEQUENCE_BASE + sequence)
        for start, end in _even_ranges(count):
            first = old[bisect_left(old_ends, start)].shard_id
            last = old[bisect_left(old_ends, end)].shard_id
            adjacent = last if last != first else None
            self._add(_Shard(len(self.shards), start, end, sequence, now, first, adjacent))
        self._reindex()


def _start_of(shard: _Shard) -> int:
    return shard.start


def _parse_request(body: Body) -> dict[str, Any]:
    try:
        request = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "SerializationException", str(exc)) from exc
    if not isinstance(request, dict):
        raise ApiError(400, "SerializationException", "the body is not a JSON object")
    return request


def _explicit_hash(value: Any, index: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        if number <= HASH_KEY_MAX:
            return number
    raise _invalid(f"Record {index} has an ExplicitHashKey outside 0..2^128-1: {value!r}")


class KinesisModel:
    """The endpoint's state and request handling, without I/O; not thread-safe on its own."""

    def __init__(self, config: EndpointConfig, *, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        self._needle = b'"' + config.id_field.encode() + b'":"'
        self._sequence = 0
        self._ops: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "PutRecords": self._put_records,
            "PutRecord": self._put_record,
            "ListShards": self._list_shards,
            "DescribeStreamSummary": self._describe_stream_summary,
            "DescribeStream": self._describe_stream,
            "CreateStream": self._create_stream,
        }
        self._admin: dict[tuple[str, str], Callable[[Body], Reply]] = {
            ("GET", "/_stats"): lambda _body: _json_reply(self.stats()),
            ("POST", "/_reset"): self._admin_reset,
            ("GET", "/_records"): lambda _body: _json_reply(self.records()),
            ("POST", "/_script"): self._admin_script,
            ("POST", "/_reshard"): self._admin_reshard,
        }
        self.reset()

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Zero every counter, forget ids, records and pending faults, restore the streams."""
        self._rng = random.Random(self._config.seed)
        self._streams = {
            self._config.stream: _Stream(
                self._config.stream, self._config.shards, self._sequence, self._clock()
            )
        }
        self._ids: set[bytes] = set()
        self._duplicates: dict[bytes, int] = {}
        self._duplicate_count = 0
        self._no_id = 0
        self._accepted = 0
        self._bytes_accepted = 0
        self._failed: Counter[str] = Counter()
        self._requests: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._faults_applied: Counter[str] = Counter()
        self._faults: deque[dict[str, Any]] = deque()
        self._kept: list[tuple[str, bytes, bytes, str]] = []

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot of every counter."""
        sample = [i.decode(errors="replace") for i in list(self._duplicates)[:_DUPLICATE_SAMPLE]]
        return {
            "requests": sum(self._requests.values()),
            "requests_by_op": dict(self._requests),
            "records_accepted": self._accepted,
            "bytes_accepted": self._bytes_accepted,
            "records_failed": sum(self._failed.values()),
            "records_failed_by_code": dict(self._failed),
            "unique_ids": len(self._ids),
            "duplicates": self._duplicate_count,
            "duplicate_ids_distinct": len(self._duplicates),
            "duplicate_ids": sample,
            "no_id": self._no_id,
            "validation_errors": self._errors["ValidationException"],
            "errors_by_type": dict(self._errors),
            "faults_applied": dict(self._faults_applied),
            "faults_pending": len(self._faults),
            "shards": {
                name: {s.shard_id: s.accepted for s in stream.shards}
                for name, stream in self._streams.items()
            },
        }

    def records(self) -> list[dict[str, str]]:
        """Every accepted record (when `keep_records`), in acceptance order."""
        return [
            {
                "shard_id": shard_id,
                "partition_key": key.decode(),
                "data": data.decode(errors="replace"),
                "sequence_number": sequence,
            }
            for shard_id, key, data, sequence in self._kept
        ]

    def script(self, actions: Any) -> int:
        """Queue fault actions for the next PutRecords requests; returns how many are pending."""
        if not isinstance(actions, list):
            raise TypeError("a script is a JSON list of actions")
        checked = [_check_action(action) for action in actions]
        self._faults.extend(checked)
        return len(self._faults)

    def reshard(self, request: Any) -> dict[str, Any]:
        """`{"split": shard_id}` or `{"shard_count": n}`, optionally with "stream"."""
        if not isinstance(request, dict):
            raise TypeError("a reshard request is a JSON object")
        stream = self._streams.get(request.get("stream", self._config.stream))
        if stream is None:
            raise ValueError(f"no stream {request.get('stream')!r}")
        if "split" in request:
            stream.split(str(request["split"]), self._sequence, self._clock())
        elif isinstance(request.get("shard_count"), int) and request["shard_count"] >= 1:
            stream.rescale(request["shard_count"], self._sequence, self._clock())
        else:
            raise ValueError('give "split": shard id or "shard_count": a positive integer')
        return {"Shards": [s.describe() for s in stream.shards]}

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, path: str, target: str | None, body: Body) -> Reply:
        """Answer one request; never raises for bad input. `body` is only read during the call."""
        if target is None:
            admin = self._admin.get((method, path))
            if admin is not None:
                return admin(body)
            if path != "/":
                return _json_reply({"error": f"no such path {path}"}, 404)
        op = target[len(TARGET_PREFIX) :] if target and target.startswith(TARGET_PREFIX) else ""
        handler = self._ops.get(op)
        if handler is None or method != "POST":
            return self._error(ApiError(400, "UnknownOperationException", f"{target!r}"))
        self._requests[op] += 1
        try:
            return handler(_parse_request(body))
        except ApiError as exc:
            return self._error(exc)

    def _error(self, exc: ApiError) -> Reply:
        self._errors[exc.error_type] += 1
        return exc.reply()

    def _stream(self, request: dict[str, Any]) -> _Stream:
        name = request.get("StreamName")
        if name is None and isinstance(request.get("StreamARN"), str):
            name = request["StreamARN"].rpartition("/")[2]
        if not isinstance(name, str):
            raise _invalid("StreamName or StreamARN is required")
        stream = self._streams.get(name)
        if stream is None:
            raise ApiError(
                400,
                "ResourceNotFoundException",
                f"Stream {name} under account {ACCOUNT_ID} not found.",
            )
        return stream

    # -- admin -----------------------------------------------------------------------------

    def _admin_reset(self, _body: Body) -> Reply:
        self.reset()
        return _json_reply({"reset": True})

    def _admin_script(self, body: Body) -> Reply:
        try:
            pending = self.script(orjson.loads(body))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            return _json_reply({"error": str(exc)}, 400)
        return _json_reply({"pending": pending})

    def _admin_reshard(self, body: Body) -> Reply:
        try:
            return _json_reply(self.reshard(orjson.loads(body)))
        except (ValueError, TypeError) as exc:
            return _json_reply({"error": str(exc)}, 400)

    # -- management operations -------------------------------------------------------------

    def _create_stream(self, request: dict[str, Any]) -> Reply:
        name = request.get("StreamName")
        count = request.get("ShardCount", 1)
        if not isinstance(name, str) or not name:
            raise _invalid("StreamName is required")
        if not isinstance(count, int) or not 1 <= count <= MAX_LIST_SHARDS_RESULTS:
            raise _invalid(f"ShardCount must be an integer within 1..10000, not {count!r}")
        if name in self._streams:
            raise ApiError(
                400, "ResourceInUseException", f"Stream {name} under account {ACCOUNT_ID} exists."
            )
        self._streams[name] = _Stream(name, count, self._sequence, self._clock())
        return Reply(200, b"{}")

    def _describe_stream_summary(self, request: dict[str, Any]) -> Reply:
        stream = self._stream(request)
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

    def _describe_stream(self, request: dict[str, Any]) -> Reply:
        """The older call some clients (async-kinesis) start with; pages by `Limit` shards."""
        stream = self._stream(request)
        limit = request.get("Limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_SHARDS_RESULTS:
            raise _invalid(f"Limit must be within 1..10000, not {limit!r}")
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

    def _list_shards(self, request: dict[str, Any]) -> Reply:
        token = request.get("NextToken")
        if token is not None:
            try:
                state = orjson.loads(base64.urlsafe_b64decode(str(token)))
                stream = self._stream({"StreamName": state["stream"]})
                after, only_open = str(state["after"]), bool(state["open"])
            except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ApiError(400, "InvalidArgumentException", "NextToken is invalid") from exc
        else:
            stream = self._stream(request)
            after = str(request.get("ExclusiveStartShardId") or "")
            shard_filter = request.get("ShardFilter") or {}
            kind = shard_filter.get("Type") if isinstance(shard_filter, dict) else None
            only_open = kind == "AT_LATEST"
            if kind == "AFTER_SHARD_ID":
                after = max(after, str(shard_filter.get("ShardId") or ""))
        limit = request.get("MaxResults", MAX_LIST_SHARDS_RESULTS)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_SHARDS_RESULTS:
            raise _invalid(f"MaxResults must be within 1..10000, not {limit!r}")
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

    # -- writes ----------------------------------------------------------------------------

    def _put_record(self, request: dict[str, Any]) -> Reply:
        stream = self._stream(request)
        batch = self._decode([request])
        results, failed = self._accept(stream, batch, {})
        result = results[0]
        if failed:
            status = 400 if result["ErrorCode"] == THROTTLED else 500
            raise ApiError(status, result["ErrorCode"], result["ErrorMessage"])
        return Reply(200, orjson.dumps({**result, "EncryptionType": "NONE"}))

    def _put_records(self, request: dict[str, Any]) -> Reply:
        stream = self._stream(request)
        raw = request.get("Records")
        if not isinstance(raw, list):
            raise _invalid("Records is required and must be a list")
        if not 1 <= len(raw) <= MAX_RECORDS_PER_REQUEST:
            raise _invalid(
                "1 validation error detected: Value at 'records' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_RECORDS_PER_REQUEST} ({len(raw)})"
            )
        batch = self._decode(raw)
        action: dict[str, Any] = self._faults.popleft() if self._faults else {"kind": "ok"}
        kind = action["kind"]
        self._faults_applied[kind] += 1
        refused = _refusal(action)
        if refused is not None:
            return refused
        forced: dict[int, str] = {}
        if kind == "partial":
            fail_code = str(action.get("code", THROTTLED))
            indices: list[int] = action["fail"]
            forced = {i: fail_code for i in indices if 0 <= i < len(raw)}
        results, failed = self._accept(stream, batch, forced)
        if kind == "wrong_count":
            dropped = results.pop()
            failed -= "ErrorCode" in dropped
        body = orjson.dumps(
            {"FailedRecordCount": failed, "Records": results, "EncryptionType": "NONE"}
        )
        if kind == "stall":
            return Reply(200, body, delay_s=float(action["seconds"]))
        if kind == "truncated":
            return Reply(200, body, disconnect="truncate")
        return Reply(200, body)

    def _decode(self, raw: list[Any]) -> _Batch:
        """Validate every record; the whole request is rejected on the first problem."""
        batch = _Batch([], [], [], [])
        add_key, add_blob = batch.keys.append, batch.blobs.append
        add_hash, add_size = batch.hashes.append, batch.sizes.append
        keep = self._config.keep_records
        max_record = self._config.max_record_bytes
        total = 0
        index = 0
        try:
            for index, record in enumerate(raw):
                key = record["PartitionKey"]
                data = record["Data"]
                if not 1 <= len(key) <= MAX_PARTITION_KEY_CHARS:
                    raise _invalid(
                        f"1 validation error detected: Value at 'records.{index + 1}.member."
                        f"partitionKey' failed to satisfy constraint: Member must have length "
                        f"between 1 and {MAX_PARTITION_KEY_CHARS} ({len(key)})"
                    )
                key_bytes = key.encode()
                if keep:
                    data = binascii.a2b_base64(data, strict_mode=True)
                    size = len(data) + len(key_bytes)
                else:  # the decoded length, without decoding
                    length = len(data)
                    if length & 3:
                        raise ApiError(
                            400,
                            "SerializationException",
                            f"Record {index} Data is not base64: its length is not a multiple of 4",
                        )
                    size = (length >> 2) * 3 - data.count("=", length - 2) + len(key_bytes)
                if size > max_record:
                    raise _invalid(
                        f"Record {index} has {size} bytes of data and partition key, over the "
                        f"{max_record}-byte record limit"
                    )
                total += size
                explicit = record.get("ExplicitHashKey")
                add_hash(None if explicit is None else _explicit_hash(explicit, index))
                add_key(key_bytes)
                add_blob(data)
                add_size(size)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ApiError(
                400, "SerializationException", f"Record {index} is malformed: {exc!r}"
            ) from exc
        except binascii.Error as exc:
            raise ApiError(
                400, "SerializationException", f"Record {index} Data is not base64: {exc}"
            ) from exc
        if total > self._config.max_request_bytes:
            raise _invalid(
                f"Records total {total} bytes of data and partition keys, over the "
                f"{self._config.max_request_bytes}-byte request limit"
            )
        return batch

    def _accept(
        self, stream: _Stream, batch: _Batch, forced: dict[int, str]
    ) -> tuple[list[dict[str, str]], int]:
        """Fail or accept each record in order; the hot loop, so it trades beauty for speed."""
        rng, rate = self._rng, self._config.fail_rate
        limits = self._config.shard_limits
        now = self._clock() if limits else 0.0
        open_shards, ends = stream.open, stream.ends
        needle, skip = self._needle, len(self._needle)
        find_id = _id_in_bytes if self._config.keep_records else _id_in_base64
        kept = self._kept if self._config.keep_records else None
        ids = self._ids
        results: list[dict[str, str]] = []
        append = results.append
        failed = accepted_bytes = 0
        sequence = self._sequence
        index = -1
        for key, explicit_hash, blob, size in zip(
            batch.keys, batch.hashes, batch.blobs, batch.sizes, strict=True
        ):
            index += 1
            code = forced.get(index) if forced else None
            if code is None and rate and rng.random() < rate:
                code = INTERNAL if rng.random() < 0.5 else THROTTLED
            shard = None
            if code is None:
                hash_key = (
                    int.from_bytes(_md5(key).digest(), "big")
                    if explicit_hash is None
                    else explicit_hash
                )
                shard = open_shards[bisect_left(ends, hash_key)]
                if not limits or shard.admit(now, size):
                    sequence += 1
                    number = str(_SEQUENCE_BASE + sequence)
                    shard.accepted += 1
                    accepted_bytes += size
                    ident = find_id(blob, needle, skip)  # type: ignore[arg-type]
                    if ident is None:
                        self._no_id += 1
                    elif ident in ids:
                        self._duplicate_count += 1
                        self._duplicates[ident] = self._duplicates.get(ident, 1) + 1
                    else:
                        ids.add(ident)
                    if kept is not None:
                        kept.append((shard.shard_id, key, blob, number))  # type: ignore[arg-type]
                    append({"SequenceNumber": number, "ShardId": shard.shard_id})
                    continue
                code = THROTTLED
            failed += 1
            self._failed[code] += 1
            if code != THROTTLED:
                message = "Internal service failure."
            elif shard is not None:
                message = (
                    f"Rate exceeded for shard {shard.shard_id} in stream {stream.name} "
                    f"under account {ACCOUNT_ID}."
                )
            else:
                message = f"Rate exceeded for stream {stream.name} under account {ACCOUNT_ID}."
            append({"ErrorCode": code, "ErrorMessage": message})
        self._accepted += sequence - self._sequence
        self._bytes_accepted += accepted_bytes
        self._sequence = sequence
        return results, failed


class _Batch(NamedTuple):
    """A validated request's records as parallel lists (blobs stay base64 unless kept)."""

    keys: list[bytes]
    blobs: list[str | bytes]
    hashes: list[int | None]
    sizes: list[int]


def _id_in_bytes(data: bytes, needle: bytes, skip: int) -> bytes | None:
    start = data.find(needle)
    if start < 0:
        return None
    end = data.find(b'"', start + skip)
    return data[start + skip : end] if end >= 0 else None


def _id_in_base64(data: str, needle: bytes, skip: int) -> bytes | None:
    """Decode a growing prefix of the blob until it holds the id and its closing quote."""
    window = _ID_WINDOW_CHARS
    while True:
        try:
            chunk = binascii.a2b_base64(data[:window])
        except binascii.Error:
            return None
        start = chunk.find(needle)
        if start >= 0:
            end = chunk.find(b'"', start + skip)
            if end >= 0:
                return chunk[start + skip : end]
        if window >= len(data):
            return None
        window *= 4


def _check_action(action: Any) -> dict[str, Any]:
    if not isinstance(action, dict) or action.get("kind") not in FAULT_KINDS:
        raise ValueError(f"unknown fault action {action!r}; kinds: {sorted(FAULT_KINDS)}")
    kind = action["kind"]
    if kind == "status" and action.get("status") not in (500, 503):
        raise ValueError("a status fault needs status 500 or 503")
    if kind == "stall" and not isinstance(action.get("seconds"), int | float):
        raise ValueError("a stall fault needs seconds")
    if kind == "partial" and not (
        isinstance(action.get("fail"), list) and all(isinstance(i, int) for i in action["fail"])
    ):
        raise ValueError("a partial fault needs fail: a list of record indices")
    return action


def _refusal(action: dict[str, Any]) -> Reply | None:
    """The reply for a fault that accepts nothing, or None when records are to be processed."""
    kind = action["kind"]
    if kind == "status":
        error_type = INTERNAL if action["status"] == 500 else "ServiceUnavailable"
        return Reply(action["status"], orjson.dumps({"__type": error_type}))
    if kind in ("throttle", "expired_token", "access_denied"):
        error_type = {
            "throttle": THROTTLED,
            "expired_token": "ExpiredTokenException",
            "access_denied": "AccessDeniedException",
        }[kind]
        return ApiError(400, error_type, f"Scripted {error_type}.").reply()
    if kind == "reset":
        return Reply(0, b"", disconnect="reset")
    if kind == "garbage":
        return Reply(200, b"<html>this is not JSON</html>")
    if kind == "stall" and not action.get("accept", True):
        return Reply(500, orjson.dumps({"__type": INTERNAL}), delay_s=float(action["seconds"]))
    return None


_REASONS: Final = {
    100: b"Continue", 200: b"OK", 400: b"Bad Request", 404: b"Not Found",
    413: b"Content Too Large", 500: b"Internal Server Error", 501: b"Not Implemented",
    503: b"Service Unavailable",
}  # fmt: skip
_MAX_HEAD_BYTES: Final = 64 * 1024

Dispatch = Callable[[str, str, "str | None", Body], Reply]


class _Head(NamedTuple):
    method: str
    path: str
    target: str | None
    body_start: int
    body_end: int
    keep_alive: bool


class HttpProtocol(asyncio.Protocol):
    """One connection: parses requests as bytes arrive and answers them strictly in order.

    A stalled reply or a full write buffer pauses parsing; what is buffered meanwhile is parsed
    once the reply is written, so pipelined requests are never reordered.
    """

    def __init__(self, dispatch: Dispatch, max_body_bytes: int) -> None:
        self._dispatch = dispatch
        self._max_body = max_body_bytes
        self._buffer = bytearray()
        self._head: _Head | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stalled = False
        self._write_paused = False
        self._closed = False
        self._replies = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._process()

    def abort(self) -> None:
        """Drop the connection now (used when the server stops)."""
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._process()

    def _process(self) -> None:
        while not (self._stalled or self._write_paused or self._closed):
            head = self._next_head()
            if head is None or len(self._buffer) < head.body_end:
                return
            self._head = None
            with memoryview(self._buffer) as view, view[head.body_start : head.body_end] as body:
                reply = self._dispatch(head.method, head.path, head.target, body)
            del self._buffer[: head.body_end]  # the views are released: no copy of the body
            if reply.delay_s > 0:
                self._stalled = True
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(reply.delay_s, self._end_stall, reply, head)
                return
            self._respond(reply, head.keep_alive)

    def _end_stall(self, reply: Reply, head: _Head) -> None:
        self._stalled = False
        self._timer = None
        if not self._closed:
            self._respond(reply, head.keep_alive)
            self._process()

    def _next_head(self) -> _Head | None:
        if self._head is not None:
            return self._head
        buffer = self._buffer
        while buffer[:2] == b"\r\n":  # stray line breaks between pipelined requests
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD_BYTES:
                self._fail(400, "request head too large")
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "malformed request line")
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            self._fail(501, "chunked request bodies are not supported")
            return None
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            self._fail(400, "bad Content-Length")
            return None
        length = int(length_text)
        if length > self._max_body:
            self._fail(413, "body too large")
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (
            parts[2] == "HTTP/1.1" or connection == "keep-alive"
        )
        path = parts[1].partition("?")[0]
        self._head = _Head(
            parts[0], path, headers.get("x-amz-target"), end + 4, end + 4 + length, keep_alive
        )
        if headers.get("expect", "").lower() == "100-continue" and len(buffer) < end + 4 + length:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return self._head

    def _fail(self, status: int, message: str) -> None:
        self._respond(_json_reply({"error": message}, status), keep_alive=False)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _respond(self, reply: Reply, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        if reply.disconnect == "reset":
            self._closed = True
            transport.abort()
            return
        self._replies += 1
        body = reply.body
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            reply.status,
            _REASONS.get(reply.status, b"Unknown"),
            reply.content_type,
            len(body),
        )
        head += b"x-amzn-RequestId: 00000000-0000-4000-8000-%012x\r\n" % self._replies
        if not keep_alive or reply.disconnect == "truncate":
            head += b"Connection: close\r\n"
        if reply.disconnect == "truncate":
            body = body[: len(body) // 2]
        if len(body) > 65536:
            transport.writelines((head, b"\r\n", body))
        else:
            transport.write(head + b"\r\n" + body)
        if not keep_alive or reply.disconnect == "truncate":
            self._closed = True
            transport.close()


class EndpointServer:
    """The endpoint bound to a socket; its state is read and changed thread-safely."""

    def __init__(
        self, config: EndpointConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or EndpointConfig()
        self._model = KinesisModel(self.config, clock=clock)
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._connections: set[HttpProtocol] = set()
        self._max_body = 2 * self.config.max_request_bytes + 1 * MiB

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self.config.host, self.config.port, backlog=1024
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.abort()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> EndpointServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._model.stats()

    def records(self) -> list[dict[str, str]]:
        with self._lock:
            return self._model.records()

    def reset(self) -> None:
        with self._lock:
            self._model.reset()

    def script(self, actions: list[dict[str, Any]]) -> int:
        with self._lock:
            return self._model.script(actions)

    def reshard(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._model.reshard(request)

    def _dispatch(self, method: str, path: str, target: str | None, body: Body) -> Reply:
        with self._lock:
            return self._model.handle(method, path, target, body)

    def _protocol(self) -> HttpProtocol:
        protocol = _TrackedProtocol(self._dispatch, self._max_body, self._connections)
        self._connections.add(protocol)
        return protocol


class _TrackedProtocol(HttpProtocol):
    def __init__(self, dispatch: Dispatch, max_body: int, registry: set[HttpProtocol]) -> None:
        super().__init__(dispatch, max_body)
        self._registry = registry

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._registry.discard(self)


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop and uvloop is not None:
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


@contextlib.contextmanager
def serve_in_thread(
    config: EndpointConfig | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    use_uvloop: bool = False,
) -> Iterator[tuple[str, EndpointServer]]:
    """Run an endpoint on its own event loop in a daemon thread; yields (url, server)."""
    server = EndpointServer(config, clock=clock)
    ready = threading.Event()
    failures: list[BaseException] = []
    handles: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        await server.start()
        handles.append((asyncio.get_running_loop(), stop))
        ready.set()
        try:
            await stop.wait()
        finally:
            await server.stop()

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: _new_loop(use_uvloop)) as runner:
                runner.run(serve())
        except BaseException as exc:
            failures.append(exc)
            raise
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="kinesis-endpoint", daemon=True)
    thread.start()
    ready.wait()
    if not handles:
        thread.join()
        raise RuntimeError("the endpoint failed to start") from (failures[0] if failures else None)
    try:
        yield server.url, server
    finally:
        loop, stop = handles[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join()


def _parse_args(argv: list[str] | None) -> EndpointConfig:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.endpoint", description=__doc__.split("\n\n")[0]
    )
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
    with asyncio.Runner(loop_factory=lambda: _new_loop(use_uvloop=True)) as runner:
        runner.run(_serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
