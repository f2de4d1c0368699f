"""The seam between the pipeline and Kinesis: the `KinesisClient` protocol and its result types.

What it does: says what the pipeline needs from a Kinesis client (PutRecords with per-record
outcomes as data, ListShards, the stream's summary) so the real adapter (`aws.py`) and test
fakes are interchangeable.

What it leaves out: any I/O or AWS import; adapters implement the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamer.errors import MALFORMED_RESULT, RecordFault, RequestFailure, classify_record_error
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
