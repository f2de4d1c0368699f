"""Builders shared by the unit and pipeline tests: entries of exact sizes, evenly split shards.

What it does: shards splitting the hash key space as CreateStream does, shard maps over them,
entries whose size is exact, and partition keys known to land on each shard.
What it leaves out: anything asynchronous or any client (`fakes`).
"""

from __future__ import annotations

import itertools

from streamer.limits import HASH_KEY_MAX
from streamer.record import Entry, hash_key
from streamer.shard_map import Shard, ShardMap

_line_numbers = itertools.count(1)


def even_shards(count: int, prefix: str = "shardId-") -> list[Shard]:
    """`count` shards splitting the 128-bit hash key space evenly, as CreateStream does."""
    step = (HASH_KEY_MAX + 1) // count
    return [
        Shard(
            shard_id=f"{prefix}{i:012d}",
            start=i * step,
            end=HASH_KEY_MAX if i == count - 1 else (i + 1) * step - 1,
        )
        for i in range(count)
    ]


def even_map(count: int) -> ShardMap:
    """A shard map of `count` evenly split open shards."""
    return ShardMap(even_shards(count), loaded_at=0.0)


def make_entry(key: str, size: int = 100, *, now: float = 0.0) -> Entry:
    """An entry whose data plus UTF-8 partition key is exactly `size` bytes."""
    data_len = size - len(key.encode())
    assert data_len >= 0, "size must cover the partition key"
    return Entry(b"x" * data_len, key, source="test", line_no=next(_line_numbers), now=now)


def keys_by_shard(shard_map: ShardMap, per_shard: int = 3) -> dict[str, list[str]]:
    """At least `per_shard` distinct partition keys predicted onto each shard of `shard_map`."""
    found: dict[str, list[str]] = {shard_id: [] for shard_id in shard_map.shard_ids}
    counter = itertools.count()
    while not all(len(v) >= per_shard for v in found.values()):
        key = f"key-{next(counter)}"
        keys = found[shard_map.shard_for(hash_key(key))]
        if len(keys) < per_shard:
            keys.append(key)
    return found
