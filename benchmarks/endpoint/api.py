"""The Kinesis API as the endpoint speaks it: names, limits, the settings and the reply values.

What it does: the service limits and names (restated here, not imported from `streamer.limits`,
so the endpoint stays an independent oracle), `EndpointConfig` (validated on construction),
`Reply` (one HTTP answer as a value), `ApiError` (a request-level error that becomes a Kinesis
error body) and the JSON request parsing every operation starts with.
What it leaves out: state (`model`, `streams`), sockets (`http11`, `server`) and faults (`faults`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

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
Body = bytes | bytearray | memoryview
SEQUENCE_BASE: Final = 49 * 10**54


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


def invalid(message: str) -> ApiError:
    return ApiError(400, "ValidationException", message)


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(value), PLAIN_JSON)


def parse_request(body: Body) -> dict[str, Any]:
    try:
        request = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "SerializationException", str(exc)) from exc
    if not isinstance(request, dict):
        raise ApiError(400, "SerializationException", "the body is not a JSON object")
    return request
