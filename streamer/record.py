"""The unit that moves through the pipeline: one export record and its delivery state.

An `Entry` carries the bytes to send, its partition key and 128-bit hash key (computed once),
where it came from (for dead-letter entries) and its retry history. It has no behaviour beyond
bookkeeping; the accumulator, writers and retry policy act on it.
"""

from __future__ import annotations

import hashlib

_md5 = hashlib.md5
_from_bytes = int.from_bytes


def hash_key(partition_key: str) -> int:
    """Kinesis routing: MD5 of the UTF-8 partition key read as a big-endian 128-bit integer."""
    return _from_bytes(_md5(partition_key.encode()).digest(), "big")


class Entry:
    """One export record on its way to Kinesis."""

    __slots__ = (
        "attempts",
        "data",
        "enqueued_at",
        "errors",
        "first_seen",
        "hash_key",
        "line_no",
        "not_before",
        "partition_key",
        "predicted_shard",
        "size",
        "source",
    )

    def __init__(
        self, data: bytes, partition_key: str, source: str, line_no: int, now: float
    ) -> None:
        self.data = data
        self.partition_key = partition_key
        key_bytes = partition_key.encode()
        self.size = len(data) + len(key_bytes)
        """Bytes this record counts against the per-record and per-request limits."""
        self.hash_key = _from_bytes(_md5(key_bytes).digest(), "big")
        self.source = source
        self.line_no = line_no
        self.first_seen = now
        """When the record was accepted; its time budget runs from here."""
        self.enqueued_at = now
        self.attempts = 0
        self.errors: list[str] | None = None
        """One short description per failed attempt, for the dead-letter file."""
        self.predicted_shard = ""
        self.not_before = 0.0
        """After a failed attempt: not to be sent again before this time (its backoff)."""

    def note_failure(self, description: str) -> None:
        """Record a failed attempt."""
        if self.errors is None:
            self.errors = []
        self.errors.append(description)

    def __repr__(self) -> str:
        return f"Entry({self.source}:{self.line_no}, key={self.partition_key!r}, {self.size}B)"
