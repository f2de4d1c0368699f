"""The seam between the pipeline and Kinesis: the `KinesisClient` protocol and its result types.

What it does: says what the pipeline needs from a Kinesis client (PutRecords with per-record
outcomes as data, ListShards, the stream's summary) so the real adapter (`aws/`) and test
fakes are interchangeable, and what the real adapter is configured with (`AwsSettings`, built
by `config.aws_settings`).

What it leaves out: any I/O or AWS import; adapters implement the protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from streamer.errors import MALFORMED_RESULT, RecordFault, RequestFailure, classify_record_error
from streamer.limits import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_WRITERS,
)
from streamer.record import Entry


@dataclass(slots=True)
class PutOutcome:
    """Per-record results of a PutRecords call that was answered, aligned by request index."""

    shard_ids: list[str | None]
    """Shard that took each record; None where the record failed."""
    failures: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Request index -> (ErrorCode, ErrorMessage) for the records that failed."""

    def fault(self, index: int) -> tuple[RecordFault, str, str]:
        """How the record at `index` (one with no shard id) failed: its class, the error's name
        and a description, the last two only for dead-letter reasons."""
        code, message = self.failures.get(
            index, (MALFORMED_RESULT, "neither ShardId nor ErrorCode")
        )
        return classify_record_error(code), code, f"{code}: {message}" if message else code


PutResult = PutOutcome | RequestFailure


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """What start-up needs to know about the stream."""

    name: str
    status: str
    open_shards: int
    arn: str = ""
    mode: str = ""
    """PROVISIONED or ON_DEMAND (StreamModeDetails.StreamMode); empty when not reported."""
    max_record_kib: int | None = None
    """MaxRecordSizeInKiB, when the endpoint reports it."""


Transport = Literal["fast", "botocore"]


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """What the adapter needs; secrets stay in here and are never logged."""

    stream: str
    region: str
    stream_arn: str | None = None
    """When set, requests name the stream by ARN (StreamARN) instead of by name."""
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    role_session_name: str = "streamer"
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    max_connections: int = DEFAULT_WRITERS
    transport: Transport = "fast"
    role_duration_s: int = 3600
    """How long each assumed-role session lasts (AssumeRole DurationSeconds)."""
    clock: Callable[[], datetime] | None = None
    """Wall clock the role's credentials are checked against for refresh (tests inject one)."""

    @property
    def stream_ref(self) -> dict[str, str]:
        """How requests name the stream: {"StreamARN": ...} or {"StreamName": ...}."""
        return {"StreamARN": self.stream_arn} if self.stream_arn else {"StreamName": self.stream}

    @property
    def stream_label(self) -> str:
        return self.stream_arn or self.stream

    def __repr__(self) -> str:  # keep secrets out of any accidental log line
        return (
            f"AwsSettings(stream={self.stream_label!r}, region={self.region!r}, "
            f"role_arn={self.role_arn!r}, transport={self.transport!r})"
        )


class KinesisClient(Protocol):
    """A Kinesis client bound to one stream."""

    async def put_records(self, entries: Sequence[Entry]) -> PutResult:
        """Send one PutRecords request; service and transport failures come back as data."""
        ...

    async def list_shards(self) -> list[dict[str, Any]]:
        """Every shard of the stream (all ListShards pages), raw as the API returns them."""
        ...

    async def describe_stream(self) -> StreamSummary:
        """The stream's summary; raises a `StreamerError` subclass when it cannot be used."""
        ...
