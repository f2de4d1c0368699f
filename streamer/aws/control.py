"""The control plane over signed posts: DescribeStreamSummary and ListShards without botocore.

What it does: `Control` asks the `fast` transport's `Poster` for the stream's summary and every
page of its shards on the direct route, tried like botocore's standard retry mode: up to
`CONTROL_ATTEMPTS` tries, with the pipeline's full-jitter backoff (`retry.RetryPolicy`, here
from 0.5 s and with no time budget: each try is bounded by the request timeout), of a request
whose answer is throttled, a 429 or 5xx, another transient error (`RETRIABLE`: also expired
tokens and a stream in use, which botocore does not retry), not a JSON object, or that met a
network failure or timeout. A
refusal, and the last failure, become one-sentence `StreamerError`s with the exit codes the
botocore route gives (credentials 5, stream missing 3, invalid request 2, else 6).
`summary_of` reads a DescribeStreamSummary answer, whichever client got it.

What it leaves out: credentials (given), the data plane (`Poster.put_records`) and the pipeline's
own refresh policy (`shard_refresh.py`).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from streamer.aws.poster import Credentials, Poster
from streamer.errors import (
    RETRIABLE_REQUEST_ERRORS,
    STREAM_MISSING_CODE,
    StreamerError,
    StreamMissingError,
    StreamNotActiveError,
    UnreachableError,
    refusal_error,
)
from streamer.kinesis import AwsSettings, StreamSummary
from streamer.retry import GiveUp, RetryPolicy
from streamer.wire import error_code

CONTROL_ATTEMPTS: Final = 3
"""Tries of one control-plane request (botocore's standard mode: three)."""
RETRIABLE: Final = RETRIABLE_REQUEST_ERRORS | {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
}
"""Error codes tried again: the pipeline's retriable ones and botocore's other transient ones."""
BACKOFF_BASE_S: Final = 0.5
"""Full-jitter backoff: a random wait up to this, doubled each try, at most `BACKOFF_CAP_S`."""
BACKOFF_CAP_S: Final = 5.0
CONTROL_RETRY: Final = RetryPolicy(
    max_attempts=CONTROL_ATTEMPTS,
    budget_s=math.inf,
    backoff_base_s=BACKOFF_BASE_S,
    backoff_cap_s=BACKOFF_CAP_S,
)


@dataclass(frozen=True, slots=True)
class _Failed:
    """A try that failed: the error to raise, and whether another try may succeed."""

    error: StreamerError
    retriable: bool


def summary_of(answer: Any, stream: str) -> StreamSummary:
    """The summary in a DescribeStreamSummary answer; raises when the stream cannot take
    records (not ACTIVE or UPDATING) or the answer is not one."""
    try:
        summary = answer["StreamDescriptionSummary"]
        max_kib = summary.get("MaxRecordSizeInKiB")
        result = StreamSummary(
            name=str(summary["StreamName"]),
            status=str(summary["StreamStatus"]),
            open_shards=int(summary.get("OpenShardCount", 0)),
            arn=str(summary.get("StreamARN", "")),
            mode=str((summary.get("StreamModeDetails") or {}).get("StreamMode", "")),
            max_record_kib=int(max_kib) if max_kib else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnreachableError(
            f"describing stream {stream!r} failed: the answer is not a stream summary ({exc!r})"
        ) from exc
    if result.status not in {"ACTIVE", "UPDATING"}:
        raise StreamNotActiveError(
            f"stream {stream!r} is {result.status}, not ACTIVE, so it cannot take records"
        )
    return result


class Control:
    """DescribeStreamSummary and ListShards for one stream, over a `Poster`."""

    def __init__(
        self,
        settings: AwsSettings,
        poster: Poster,
        credentials: Callable[[], Awaitable[Credentials]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._s = settings
        self._poster = poster
        self._credentials = credentials
        self._sleep = sleep
        self._uniform = uniform

    async def describe_stream(self) -> StreamSummary:
        s = self._s
        doing = f"describing stream {s.stream_label!r}"
        try:
            answer = await self._call("DescribeStreamSummary", s.stream_ref, doing)
        except StreamMissingError as exc:
            raise StreamMissingError(
                f"stream {s.stream_label!r} does not exist in region {s.region}"
            ) from exc
        return summary_of(answer, s.stream_label)

    async def list_shards(self) -> list[dict[str, Any]]:
        doing = f"listing the shards of stream {self._s.stream_label!r}"
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = dict(self._s.stream_ref)
        while True:
            page = await self._call("ListShards", request, doing)
            got = page.get("Shards", [])
            if not isinstance(got, list) or not all(isinstance(x, dict) for x in got):
                raise UnreachableError(
                    f"{doing} failed: the answer's Shards is not a list of shards"
                )
            shards.extend(got)
            token = page.get("NextToken")
            if not token:
                return shards
            request = {"NextToken": token}

    async def _call(self, action: str, request: dict[str, Any], doing: str) -> dict[str, Any]:
        """The JSON answer to one request, tried up to `CONTROL_ATTEMPTS` times."""
        body = orjson.dumps(request)
        attempts = 0
        while True:
            result = await self._try(action, body, doing)
            if not isinstance(result, _Failed):
                return result
            attempts += 1
            decision = CONTROL_RETRY.decide(
                attempts=attempts,
                first_seen=0.0,  # no time budget: the times only measure it
                now=0.0,
                error=str(result.error),
                retriable=result.retriable,
                uniform=self._uniform,
            )
            if isinstance(decision, GiveUp):
                raise result.error
            await self._sleep(decision.delay_s)

    async def _try(self, action: str, body: bytes, doing: str) -> dict[str, Any] | _Failed:
        proxy = self._poster.proxy
        where = self._poster.url + (f" (through the proxy {proxy})" if proxy else "")
        credentials = await self._credentials()
        try:
            status, raw = await self._poster.post(action, body, credentials)
        except TimeoutError:
            limit = f"no answer within {self._poster.request_timeout_s:g} s"
            return _Failed(
                UnreachableError(f"the endpoint {where} timed out when {doing}: {limit}"), True
            )
        except OSError as exc:
            detail = str(exc) or type(exc).__name__
            unreachable = f"the endpoint {where} is unreachable when {doing}: {detail}"
            return _Failed(UnreachableError(unreachable), True)
        try:
            answer = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            answer = None
        if status == 200 and isinstance(answer, dict):
            return answer
        if status == 200:
            return _Failed(
                UnreachableError(f"{doing} failed: the answer is not a JSON object"), True
            )
        code, message = error_code(answer)
        if code == "UnknownError":
            code = f"HTTP {status}"
        retriable = code in RETRIABLE or status >= 500 or status == 429
        return _Failed(
            refusal_error(code, message, doing), retriable and code != STREAM_MISSING_CODE
        )
