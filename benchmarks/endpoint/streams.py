"""A stream's shards: hash ranges, lineage, sequence ranges, per-shard token buckets, resharding.

What it does: `Stream` holds every shard ever opened and keeps the open ones sorted by hash range
for bisect routing; it splits one shard or rescales to N even shards (closing the parents, as
Kinesis does). `Shard.admit` takes a record from the shard's token buckets (1,000 records and
1 MiB a second, a second's worth at most) and `describe` renders it as ListShards does.
What it leaves out: routing itself (the model's hot loop bisects `ends`), MergeShards, retention
and reading records back.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

from benchmarks.endpoint.api import (
    ACCOUNT_ID,
    HASH_KEY_MAX,
    REGION,
    SEQUENCE_BASE,
    SHARD_BYTES_PER_S,
    SHARD_RECORDS_PER_S,
)


class Shard:
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
        self.starting_sequence = str(SEQUENCE_BASE + sequence)
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


def even_ranges(count: int) -> list[tuple[int, int]]:
    space = HASH_KEY_MAX + 1
    return [(k * space // count, (k + 1) * space // count - 1) for k in range(count)]


class Stream:
    """A stream's shards; `open` is sorted by hash range and `ends` indexes it for bisect."""

    def __init__(self, name: str, shard_count: int, sequence: int, now: float) -> None:
        self.name = name
        self.arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{name}"
        self.created_at = time.time()
        self.shards: list[Shard] = []
        self.open: list[Shard] = []
        self.ends: list[int] = []
        for start, end in even_ranges(shard_count):
            self._add(Shard(len(self.shards), start, end, sequence, now))
        self._reindex()

    def _add(self, shard: Shard) -> None:
        self.shards.append(shard)
        self.open.append(shard)

    def _reindex(self) -> None:
        self.open = sorted((s for s in self.shards if s.ending_sequence is None), key=_start_of)
        self.ends = [s.end for s in self.open]

    def split(self, shard_id: str, sequence: int, now: float) -> None:
        parent = next((s for s in self.open if s.shard_id == shard_id), None)
        if parent is None:
            raise ValueError(f"{shard_id} is not an open shard of stream {self.name}")
        parent.ending_sequence = str(SEQUENCE_BASE + sequence)
        middle = parent.start + (parent.end - parent.start) // 2
        for start, end in ((parent.start, middle), (middle + 1, parent.end)):
            self._add(Shard(len(self.shards), start, end, sequence, now, parent.shard_id))
        self._reindex()

    def rescale(self, count: int, sequence: int, now: float) -> None:
        old = list(self.open)
        old_ends = [s.end for s in old]
        for shard in old:
            shard.ending_sequence = str(SEQUENCE_BASE + sequence)
        for start, end in even_ranges(count):
            first = old[bisect_left(old_ends, start)].shard_id
            last = old[bisect_left(old_ends, end)].shard_id
            adjacent = last if last != first else None
            self._add(Shard(len(self.shards), start, end, sequence, now, first, adjacent))
        self._reindex()


def _start_of(shard: Shard) -> int:
    return shard.start
