"""The work every benchmark peer shares: read stdin, make the export record, parse flags, report.

What it does: reads stdin in large binary chunks on a worker thread and yields its non-blank
lines; turns one line into the export record (the event re-encoded compactly by orjson, all of
it, with `identityMap.ecid[0].id` as partition key, falling back to the first id of the first
namespace); parses the flags common to all peers; prints the one JSON summary line on stdout and
a diagnostics line on stderr.

What it leaves out: sending, batching and retrying (each peer does those its own way, which is
what the benchmark compares), activation filtering and attribute selection (streamer's export
does those; the peers send the whole event), and line numbers or a dead-letter file.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

import orjson

MAX_RECORDS_PER_REQUEST: Final = 500
MAX_REQUEST_BYTES: Final = 5 * 1024 * 1024
"""PutRecords request limit, counting each entry's data and partition key."""
MAX_RECORD_BYTES: Final = 1024 * 1024
"""Per-record limit, data plus partition key."""
READ_CHUNK_BYTES: Final = 1024 * 1024
PARTITION_KEY_NAMESPACE: Final = "ecid"


class ExportError(ValueError):
    """A line that cannot become an export record; the message names the problem."""


class Record(NamedTuple):
    """An export record ready to send: compact JSON bytes and the partition key."""

    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        """Bytes this record counts against the Kinesis limits (data plus partition key)."""
        return len(self.data) + len(self.partition_key.encode())


def parse_event(line: bytes) -> dict[str, Any]:
    """Parse one line into a profile event object."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ExportError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ExportError("the event is not a JSON object")
    return event


def partition_key(event: dict[str, Any]) -> str:
    """`identityMap.ecid[0].id`, else the first id of the first namespace."""
    identity_map = event.get("identityMap")
    if not isinstance(identity_map, dict) or not identity_map:
        raise ExportError("the event has no identityMap")
    identities = identity_map.get(PARTITION_KEY_NAMESPACE)
    if not identities:
        identities = next(iter(identity_map.values()))
    if isinstance(identities, list) and identities and isinstance(identities[0], dict):
        key = identities[0].get("id")
        if isinstance(key, str) and key:
            return key
    raise ExportError("the identityMap's first identity has no id")


def export(line: bytes) -> Record:
    """Turn one line into its export record, enforcing the per-record size limit."""
    event = parse_event(line)
    record = Record(orjson.dumps(event), partition_key(event))
    if record.size > MAX_RECORD_BYTES:
        raise ExportError(f"record of {record.size} bytes exceeds {MAX_RECORD_BYTES}")
    return record


class Read1(Protocol):
    """A binary stream read in chunks of whatever is available (`io.BufferedReader`)."""

    def read1(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes, at most one raw read; b"" at end of stream."""
        ...


def open_stdin() -> Read1:
    """Stdin as a binary reader with a large buffer (stdin stays open afterwards)."""
    raw = io.FileIO(sys.stdin.fileno(), "rb", closefd=False)
    return io.BufferedReader(raw, buffer_size=READ_CHUNK_BYTES)


def split_lines(tail: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """Complete non-blank lines of `tail + chunk`, and the unfinished rest."""
    lines = (tail + chunk).split(b"\n")
    rest = lines.pop()
    return [line for line in lines if line.strip()], rest


async def read_line_batches(
    stream: Read1, chunk_bytes: int = READ_CHUNK_BYTES
) -> AsyncIterator[list[bytes]]:
    """Yield the non-blank lines of each chunk read; reads run on a thread, off the loop."""
    tail = b""
    while chunk := await asyncio.to_thread(stream.read1, chunk_bytes):
        lines, tail = split_lines(tail, chunk)
        if lines:
            yield lines
    if tail.strip():
        yield [tail]


@dataclass(slots=True)
class Tally:
    """What a peer counts: events read, delivered and given up on, plus diagnostics."""

    received: int = 0
    sent_ok: int = 0
    failed: int = 0
    requests: int = 0
    entry_errors: Counter[str] = field(default_factory=Counter)
    """Per-entry error codes seen in PutRecords responses (retried or not)."""


def base_parser(description: str) -> argparse.ArgumentParser:
    """Flags every peer takes; credentials come from the usual AWS environment variables."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--endpoint-url", default=None, help="Kinesis-compatible endpoint")
    parser.add_argument("--stream", required=True, help="stream name")
    parser.add_argument("--region", default="us-east-1", help="region name")
    return parser


def report(peer: str, tally: Tally, elapsed_s: float) -> None:
    """Print the summary line on stdout and a diagnostics line on stderr."""
    summary = {
        "peer": peer,
        "received": tally.received,
        "sent_ok": tally.sent_ok,
        "failed": tally.failed,
        "elapsed_s": round(elapsed_s, 4),
    }
    diagnostics = {
        "peer": peer,
        "requests": tally.requests,
        "entry_errors": dict(tally.entry_errors),
        "records_per_s": round(tally.sent_ok / elapsed_s) if elapsed_s > 0 else None,
    }
    sys.stderr.write(orjson.dumps(diagnostics).decode() + "\n")
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    sys.stdout.flush()
