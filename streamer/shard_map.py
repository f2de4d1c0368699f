"""Pure shard prediction: a snapshot of a stream's open shards and hash key -> shard lookup.

What it does: builds a sorted table of the open shards' hash key ranges from ListShards pages
(closed shards, which carry an EndingSequenceNumber, take no writes and are left out), checks
that the open ranges cover the 128-bit key space without gaps, and finds a record's shard by
bisecting on the ranges' ending hash keys.

What it leaves out: calling ListShards and refreshing (`shard_refresh.py`, asked by the pipeline
when a record lands on an unpredicted shard or the stream is reported missing); the snapshot is
immutable and replaced whole.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamer import _compiled
from streamer.limits import HASH_KEY_MAX


class ShardMapError(ValueError):
    """The shard listing does not describe a usable stream."""


@dataclass(frozen=True, slots=True)
class Shard:
    """One open shard and its inclusive hash key range."""

    shard_id: str
    start: int
    end: int

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return _compiled.frozen_reduce(self)  # copies and pickles where compiled


class ShardMap:
    """Immutable snapshot of the open shards, sorted by ending hash key."""

    __slots__ = ("_ends", "_ids", "loaded_at", "shards")

    def __init__(self, shards: Sequence[Shard], *, loaded_at: float) -> None:
        ordered = sorted(shards, key=lambda s: s.end)
        if not ordered:
            raise ShardMapError("the stream has no open shards")
        expected = 0
        for shard in ordered:
            if shard.start != expected:
                raise ShardMapError(
                    f"open shards do not cover the hash key space: gap or overlap at {expected}"
                )
            expected = shard.end + 1
        if expected != HASH_KEY_MAX + 1:
            raise ShardMapError("open shards do not cover the hash key space up to 2^128-1")
        self.shards: tuple[Shard, ...] = tuple(ordered)
        self._ends = [s.end for s in ordered]
        self._ids = [s.shard_id for s in ordered]
        self.loaded_at = loaded_at

    @classmethod
    def from_listing(cls, listing: Iterable[Mapping[str, Any]], *, loaded_at: float) -> ShardMap:
        """Build from ListShards `Shards` entries, keeping only open shards."""
        open_shards = [
            Shard(
                shard_id=raw["ShardId"],
                start=int(raw["HashKeyRange"]["StartingHashKey"]),
                end=int(raw["HashKeyRange"]["EndingHashKey"]),
            )
            for raw in listing
            if "EndingSequenceNumber" not in raw.get("SequenceNumberRange", {})
        ]
        return cls(open_shards, loaded_at=loaded_at)

    def shard_for(self, hash_key: int) -> str:
        """The id of the open shard whose range holds `hash_key`."""
        return self._ids[bisect.bisect_left(self._ends, hash_key)]

    @property
    def shard_ids(self) -> tuple[str, ...]:
        return tuple(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, shard_id: object) -> bool:
        return shard_id in self._ids
