"""Pure PutRecords wire format (JSON 1.1): encode a request body, decode its answer.

What it does: builds the request body straight from the entries' bytes (base64 data, JSON-escaped
partition key, and the explicit hash key of an aggregate) without botocore's generic serializer
and validator, and turns the answer into a `PutOutcome` aligned by index or a `RequestFailure`.
An answer whose record count differs from the request, or that is not valid JSON, fails the
whole request explicitly. The records part of the body is built by the C twin of
`records_body` (`_native.c`: one pass, one buffer) when it is built and STREAMER_PURE is unset.
An answer is read by msgspec into typed structs (in C, skipping the sequence numbers); one of
any other shape is read by `careful_decode`, the reference the typed reading must agree with.

What it leaves out: signing and HTTP (`aws/`), and deciding what to do with failures.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Sequence
from typing import Any, Final

import msgspec
import orjson

from streamer import _compiled
from streamer.errors import MALFORMED_RESULT, RequestFailure, classify_request_error
from streamer.kinesis import PutOutcome, PutResult
from streamer.record import Entry

CONTENT_TYPE: Final = "application/x-amz-json-1.1"
TARGET_PREFIX: Final = "Kinesis_20131202."


def encode_put_records(stream: str, entries: Sequence[Entry], *, by_arn: bool = False) -> bytes:
    """The PutRecords request body for `entries`, in order; `by_arn`: `stream` is the stream's
    ARN (sent as StreamARN, e.g. for a stream in another account)."""
    head = b'{"StreamARN":' if by_arn else b'{"StreamName":'
    return _records_body(b"".join((head, orjson.dumps(stream), b',"Records":[')), entries)


def records_body(prefix: bytes, entries: Sequence[Entry]) -> bytes:
    """`prefix`, then the body's records and its closing brackets (the pure reference of the
    compiled `streamer._native.records_body`, which builds the same bytes in one buffer)."""
    parts = [prefix]
    append = parts.append
    dumps = orjson.dumps
    b64 = b2a_base64
    opening = b'{"Data":"'
    for entry in entries:
        append(opening)
        append(b64(entry.data, newline=False))
        append(b'","PartitionKey":')
        append(dumps(entry.partition_key))
        if entry.explicit_hash_key is not None:  # an aggregate: routed to its shard's range
            append(b',"ExplicitHashKey":"')
            append(entry.explicit_hash_key.encode())
            append(b'"')
        opening = b'},{"Data":"'
    append(b"}]}" if entries else b"]}")
    return b"".join(parts)


_records_body = _compiled.twin("_native", "records_body", records_body)
COMPILED: Final = _records_body is not records_body
"""Whether the compiled body builder is in use (for the start-up log and tests)."""


def error_code(body: Any) -> tuple[str, str]:
    """(code, message) from a JSON error body such as {"__type": "ns#Code", "message": "..."}."""
    if not isinstance(body, dict):
        return "UnknownError", ""
    raw = str(body.get("__type") or body.get("code") or "UnknownError")
    message = str(body.get("message") or body.get("Message") or "")
    return raw.rsplit("#", 1)[-1], message


class _Result(msgspec.Struct, gc=False):
    """One record's result, as much of it as is read (the sequence number is skipped); the
    fields are named as the API names them."""

    ShardId: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


class _Answer(msgspec.Struct, gc=False):
    Records: list[_Result]
    FailedRecordCount: int | None = None


_read_answer = msgspec.json.Decoder(_Answer).decode


def decode_put_records(status: int, raw: bytes, sent: int) -> PutResult:
    """Interpret an HTTP answer to a PutRecords request of `sent` records.

    A well-formed answer is read into typed structs; anything else (an error status, a body
    that is not JSON or not of that shape, a count mismatch) by `careful_decode`, with the
    same result for every answer (a property test holds the two together)."""
    if status == 200:
        try:
            answer = _read_answer(raw)
        except msgspec.DecodeError:  # not JSON, or another shape: read carefully below
            pass
        else:
            if len(answer.Records) == sent:
                return _typed_outcome(answer)
    return careful_decode(status, raw, sent)


def _typed_outcome(answer: _Answer) -> PutOutcome:
    """`outcome_from_records` for results already known to be objects with string fields."""
    records = answer.Records
    shard_ids: list[str | None] = [rec.ShardId for rec in records]
    if answer.FailedRecordCount == 0 and all(shard_ids):
        return PutOutcome(shard_ids)  # the common case: every record written
    failures: dict[int, tuple[str, str]] = {}
    for i, rec in enumerate(records):
        if rec.ErrorCode:
            failures[i] = (rec.ErrorCode, rec.ErrorMessage or "")
            shard_ids[i] = None
        elif not rec.ShardId:
            failures[i] = (MALFORMED_RESULT, "result has neither ShardId nor ErrorCode")
            shard_ids[i] = None
    return PutOutcome(shard_ids, failures)


def careful_decode(status: int, raw: bytes, sent: int) -> PutResult:
    """`decode_put_records` for any answer at all, checking every shape with plain JSON: the
    reference of the typed reading, and the reading of error and malformed answers."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return RequestFailure(
            "MalformedResponse",
            f"HTTP {status} answer is not JSON ({len(raw)} bytes)",
            retriable=True,
            maybe_written=status == 200,
        )
    if status != 200:
        code, message = error_code(body)
        return classify_request_error(code, message, status=status)
    records = body.get("Records") if isinstance(body, dict) else None
    if not isinstance(records, list) or len(records) != sent:
        got = len(records) if isinstance(records, list) else "no"
        return RequestFailure(
            "ResponseMismatch",
            f"answer holds {got} results for {sent} records",
            retriable=True,
            maybe_written=True,
        )
    if isinstance(body, dict) and body.get("FailedRecordCount") == 0:
        try:  # the common case: every record written, no per-record error to look for
            shard_ids = [rec["ShardId"] for rec in records]
        except (KeyError, TypeError):
            pass  # malformed entries: the careful path below reports them
        else:
            if all(type(sid) is str and sid for sid in shard_ids):
                return PutOutcome(shard_ids)
    return outcome_from_records(records)


def outcome_from_records(records: Sequence[Any]) -> PutOutcome:
    """Per-record results from the answer's `Records` list (already checked for length).

    A result is a success only with a string ShardId; one with neither that nor an ErrorCode is
    reported as a `MalformedResult` failure, never taken as delivered."""
    shard_ids: list[str | None] = []
    failures: dict[int, tuple[str, str]] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            failures[i] = (MALFORMED_RESULT, f"result is a {type(rec).__name__}")
            shard_ids.append(None)
            continue
        code = rec.get("ErrorCode")
        shard_id = rec.get("ShardId")
        if code:
            failures[i] = (str(code), str(rec.get("ErrorMessage") or ""))
            shard_ids.append(None)
        elif isinstance(shard_id, str) and shard_id:
            shard_ids.append(shard_id)
        else:
            failures[i] = (MALFORMED_RESULT, "result has neither ShardId nor ErrorCode")
            shard_ids.append(None)
    return PutOutcome(shard_ids, failures)
