"""The unit that moves through the pipeline, and the event that ends its journey.

What it does: an `Entry` carries the bytes to send, its partition key and 128-bit hash key
(computed once), where it came from (its intake `Ticket`, for dead-letter entries and settled
events), its spool offset and its retry history. A `Settled` event says that records reached
their end: delivered, dead-lettered, filtered out on purpose, rejected as bad input, or (with a
spool) left in it when sending stopped, for the next start; every input line ends in exactly
one per run.

What it leaves out: behaviour beyond bookkeeping (the accumulator, settle logic and retry policy
act on entries) and who listens to settled events (the daemon wires subscribers).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Final, NamedTuple

from streamer import _compiled


def _fastest_md5() -> Callable[[bytes], Any]:
    """CPython's own MD5 (for a short partition key about half the cost of OpenSSL's, whose
    per-call set-up dominates), else hashlib's."""
    try:
        md5: Callable[[bytes], Any] = importlib.import_module("_md5").md5
    except (ImportError, AttributeError):  # a Python built without it
        return hashlib.md5
    return md5


_md5 = _fastest_md5()
_from_bytes: Final = int.from_bytes


def hash_key(partition_key: str) -> int:
    """Kinesis routing: MD5 of the UTF-8 partition key read as a big-endian 128-bit integer
    (the pure reference of the compiled `streamer._hashkey.hash_key`, which hashes an ASCII
    key's own bytes and skips the hash object and the digest: about half the cost)."""
    return _from_bytes(_md5(partition_key.encode()).digest(), "big")


_hash_key: Final = _compiled.twin("_hashkey", "hash_key", hash_key)
HASH_KEY_COMPILED: Final = _hash_key is not hash_key
"""Whether the C hash key (`streamer._hashkey`) is in use (for the start-up log and tests)."""


class Ticket(NamedTuple):
    """The identity of one input line, from intake to its settled event.

    `source` names the stream of lines it came from (a connection, stdin, and later one HTTP
    request: a request is its own source, so waiting on a request is waiting on its tickets);
    `seq` is the line's number in that source (from 1); `offset` is where a spool keeps the line
    (-1: not spooled)."""

    source: str
    seq: int
    offset: int = -1


class Outcome(Enum):
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    FILTERED = "filtered"
    """A valid line in none of the mapped segments (or a blank line): nothing to send, settled
    at intake."""
    REJECTED = "rejected"
    """A bad input line (not exportable, or over the line limit): dead-lettered at intake, never
    offered; the event's reason says what is wrong with it."""
    SPOOLED = "spooled"
    """Not sent when sending stopped (drain deadline, interrupt) but kept in the spool: sent
    again at the next start. Ends the record's journey in this run, not in the spool."""


class Settled:
    """Records that reached their end, all with the same outcome and reason.

    Published once per group (per call, per chunk's filtered lines), never per delivered record
    (a rejected line has its own event, for its reason): a subscriber that only counts reads
    `count`; one that needs identities reads `tickets`."""

    __slots__ = ("_entries", "_tickets", "outcome", "reason")

    def __init__(
        self,
        outcome: Outcome,
        *,
        entries: Sequence[Entry] = (),
        tickets: Sequence[Ticket] = (),
        reason: str = "",
    ) -> None:
        self.outcome = outcome
        self.reason = reason
        self._entries = entries
        self._tickets = tickets

    @property
    def count(self) -> int:
        return len(self._entries) + len(self._tickets)

    @property
    def tickets(self) -> list[Ticket]:
        return [*self._tickets, *(e.ticket for e in self._entries)]

    @property
    def offsets(self) -> list[int]:
        """The spool offsets of the records that are spooled (for the spool; no tickets built)."""
        return [e.offset for e in self._entries if e.offset >= 0] + [
            t.offset for t in self._tickets if t.offset >= 0
        ]

    def __repr__(self) -> str:
        return f"Settled({self.outcome.value}, {self.count} records, reason={self.reason!r})"


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
        "offset",
        "partition_key",
        "predicted_shard",
        "size",
        "source",
    )

    explicit_hash_key: str | None = None
    """Routes the record instead of its partition key's hash (set by aggregates only; a class
    attribute here, so a plain entry carries nothing for it)."""

    def __init__(
        self, data: bytes, partition_key: str, source: str, line_no: int, now: float
    ) -> None:
        self.data = data
        self.partition_key = partition_key
        key_size = len(partition_key) if partition_key.isascii() else len(partition_key.encode())
        self.size = len(data) + key_size
        """Bytes this record counts against the per-record and per-request limits."""
        self.hash_key = _hash_key(partition_key)
        self.source = source
        self.line_no = line_no
        self.offset = -1
        """Where the spool keeps the line (-1: not spooled)."""
        self.first_seen = now
        """When the record was accepted; its time budget runs from here."""
        self.enqueued_at = now
        self.attempts = 0
        self.errors: list[str] | None = None
        """One short description per failed attempt, for the dead-letter file."""
        self.predicted_shard = ""
        self.not_before = 0.0
        """After a failed attempt: not to be sent again before this time (its backoff)."""

    @property
    def ticket(self) -> Ticket:
        """The intake ticket (kept as flat fields: no extra object per record on the hot path)."""
        return Ticket(self.source, self.line_no, self.offset)

    def note_failure(self, description: str) -> None:
        """Record a failed attempt."""
        if self.errors is None:
            self.errors = []
        self.errors.append(description)

    def __repr__(self) -> str:
        return f"Entry({self.source}:{self.line_no}, key={self.partition_key!r}, {self.size}B)"
