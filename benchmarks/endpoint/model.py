"""The endpoint's state and request handling, without I/O: requests in, `Reply` values out.

What it does: `KinesisModel.handle(method, path, target, body)` dispatches a Kinesis operation
(or an admin path: /_stats, /_reset, /_records, /_script, /_reshard) and never raises for bad
input. PutRecords and PutRecord route each record to an open shard by MD5 of its partition key
(or ExplicitHashKey), fail it at random (`fail_rate`), by the shard's token buckets
(`shard_limits`) or by the next scripted fault, and count every accepted record by the unique id
in its data (in each user record of a KPL aggregate, decompressed when gzip or zstd:
`userrecords`), so a benchmark can tell loss from duplication. Time comes from the injected
clock.
What it leaves out: HTTP (`http11`), sockets and threads (`server`); it is not thread-safe on its
own (the server holds a lock around it). Request validation and the management operations live
in `records` and `management`.
"""

from __future__ import annotations

import binascii
import random
import time
import zlib
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from benchmarks.endpoint.api import (
    ACCOUNT_ID,
    INTERNAL,
    MAX_RECORDS_PER_REQUEST,
    SEQUENCE_BASE,
    TARGET_PREFIX,
    THROTTLED,
    ApiError,
    Body,
    EndpointConfig,
    Reply,
    invalid,
    json_reply,
    parse_request,
)
from benchmarks.endpoint.faults import check_action, refusal
from benchmarks.endpoint.management import (
    create_stream,
    describe_stream,
    describe_stream_summary,
    find_stream,
    list_shards,
)
from benchmarks.endpoint.records import Batch, decode, id_in_base64, id_in_bytes
from benchmarks.endpoint.streams import Stream
from benchmarks.endpoint.userrecords import deaggregate, decompress, looks_packed

try:  # the builtin MD5 is about twice as fast as OpenSSL's for short keys
    from _md5 import md5 as _md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - interpreters built without it
    from hashlib import md5 as _md5

_DUPLICATE_SAMPLE: Final = 100


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
            "ListShards": lambda request: list_shards(self._streams, request),
            "DescribeStreamSummary": lambda request: describe_stream_summary(
                self._streams, request
            ),
            "DescribeStream": lambda request: describe_stream(self._streams, request),
            "CreateStream": lambda request: create_stream(
                self._streams, request, self._sequence, self._clock()
            ),
        }
        self._admin: dict[tuple[str, str], Callable[[Body], Reply]] = {
            ("GET", "/_stats"): lambda _body: json_reply(self.stats()),
            ("POST", "/_reset"): self._admin_reset,
            ("GET", "/_records"): lambda _body: json_reply(self.records()),
            ("POST", "/_script"): self._admin_script,
            ("POST", "/_reshard"): self._admin_reshard,
        }
        self.reset()

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Zero every counter, forget ids, records and pending faults, restore the streams."""
        self._rng = random.Random(self._config.seed)
        self._streams = {
            self._config.stream: Stream(
                self._config.stream, self._config.shards, self._sequence, self._clock()
            )
        }
        self._ids: set[bytes] = set()
        self._duplicates: dict[bytes, int] = {}
        self._duplicate_count = 0
        self._no_id = 0
        self._accepted = 0
        self._user_records = 0
        self._aggregates = 0
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
            "user_records_accepted": self._user_records,
            "aggregated_records_accepted": self._aggregates,
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
        checked = [check_action(action) for action in actions]
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
                return json_reply({"error": f"no such path {path}"}, 404)
        op = target[len(TARGET_PREFIX) :] if target and target.startswith(TARGET_PREFIX) else ""
        handler = self._ops.get(op)
        if handler is None or method != "POST":
            return self._error(ApiError(400, "UnknownOperationException", f"{target!r}"))
        self._requests[op] += 1
        try:
            return handler(parse_request(body))
        except ApiError as exc:
            return self._error(exc)

    def _error(self, exc: ApiError) -> Reply:
        self._errors[exc.error_type] += 1
        return exc.reply()

    # -- admin -----------------------------------------------------------------------------

    def _admin_reset(self, _body: Body) -> Reply:
        self.reset()
        return json_reply({"reset": True})

    def _admin_script(self, body: Body) -> Reply:
        try:
            pending = self.script(orjson.loads(body))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            return json_reply({"error": str(exc)}, 400)
        return json_reply({"pending": pending})

    def _admin_reshard(self, body: Body) -> Reply:
        try:
            return json_reply(self.reshard(orjson.loads(body)))
        except (ValueError, TypeError) as exc:
            return json_reply({"error": str(exc)}, 400)

    # -- writes ----------------------------------------------------------------------------

    def _put_record(self, request: dict[str, Any]) -> Reply:
        stream = find_stream(self._streams, request)
        batch = self._decode([request])
        results, failed = self._accept(stream, batch, {})
        result = results[0]
        if failed:
            status = 400 if result["ErrorCode"] == THROTTLED else 500
            raise ApiError(status, result["ErrorCode"], result["ErrorMessage"])
        return Reply(200, orjson.dumps({**result, "EncryptionType": "NONE"}))

    def _put_records(self, request: dict[str, Any]) -> Reply:
        stream = find_stream(self._streams, request)
        raw = request.get("Records")
        if not isinstance(raw, list):
            raise invalid("Records is required and must be a list")
        if not 1 <= len(raw) <= MAX_RECORDS_PER_REQUEST:
            raise invalid(
                "1 validation error detected: Value at 'records' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_RECORDS_PER_REQUEST} ({len(raw)})"
            )
        batch = self._decode(raw)
        action: dict[str, Any] = self._faults.popleft() if self._faults else {"kind": "ok"}
        kind = action["kind"]
        self._faults_applied[kind] += 1
        refused = refusal(action)
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

    def _packed_ids(self, blob: str | bytes) -> list[bytes | None]:
        """The id of each user record in an aggregated or compressed record (None where a
        record holds none or cannot be read)."""
        try:
            data = blob if isinstance(blob, bytes) else binascii.a2b_base64(blob)
            packed = deaggregate(data)
            if packed is not None:
                self._aggregates += 1
            bodies = [data] if packed is None else [body for _key, body in packed]
            records = [decompress(body) for body in bodies]
        except (binascii.Error, zlib.error, ValueError):
            return [None]
        needle, skip = self._needle, len(self._needle)
        return [id_in_bytes(record, needle, skip) for record in records]

    def _decode(self, raw: list[Any]) -> Batch:
        config = self._config
        return decode(
            raw,
            keep=config.keep_records,
            max_record=config.max_record_bytes,
            max_request=config.max_request_bytes,
        )

    def _accept(
        self, stream: Stream, batch: Batch, forced: dict[int, str]
    ) -> tuple[list[dict[str, str]], int]:
        """Fail or accept each record in order; the hot loop, so it trades beauty for speed."""
        rng, rate = self._rng, self._config.fail_rate
        limits = self._config.shard_limits
        now = self._clock() if limits else 0.0
        open_shards, ends = stream.open, stream.ends
        needle, skip = self._needle, len(self._needle)
        find_id = id_in_bytes if self._config.keep_records else id_in_base64
        kept = self._kept if self._config.keep_records else None
        ids = self._ids
        results: list[dict[str, str]] = []
        append = results.append
        failed = accepted_bytes = user_records = 0
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
                    number = str(SEQUENCE_BASE + sequence)
                    shard.accepted += 1
                    accepted_bytes += size
                    idents: Sequence[bytes | None]
                    if looks_packed(blob):  # an aggregate or a compressed record
                        idents = self._packed_ids(blob)
                    else:
                        idents = (find_id(blob, needle, skip),)  # type: ignore[arg-type]
                    user_records += len(idents)
                    for ident in idents:
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
        self._user_records += user_records
        self._bytes_accepted += accepted_bytes
        self._sequence = sequence
        return results, failed
