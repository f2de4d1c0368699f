"""A scripted in-memory `KinesisClient` for pipeline tests at the client seam.

It routes records like Kinesis (MD5 over its shard ranges, or the explicit hash key), accepts
or fails each call as a script says, records every accepted record once per acceptance (so
duplicates show), and checks that no two concurrent calls carry records of the same shard.
`break_drain` makes the sender loop fail on purpose.
What it leaves out: HTTP, the wire format and the real adapter (integration tests cover those).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamer.accumulator import Accumulator
from streamer.errors import RequestFailure
from streamer.kinesis import PutOutcome, PutResult, StreamSummary
from streamer.record import Entry, hash_key
from streamer.shard_map import Shard, ShardMap
from tests.support.shards import even_shards


def listing(shards: Sequence[Shard], closed: Sequence[Shard] = ()) -> list[dict[str, Any]]:
    out = []
    for s, is_closed in [*((s, False) for s in shards), *((s, True) for s in closed)]:
        seq = {"StartingSequenceNumber": "0"}
        if is_closed:
            seq["EndingSequenceNumber"] = "9"
        out.append(
            {
                "ShardId": s.shard_id,
                "HashKeyRange": {"StartingHashKey": str(s.start), "EndingHashKey": str(s.end)},
                "SequenceNumberRange": seq,
            }
        )
    return out


def route(entry: Entry) -> int:
    """The hash key Kinesis routes a record by: its explicit hash key, else its key's MD5."""
    explicit = entry.explicit_hash_key
    return hash_key(entry.partition_key) if explicit is None else int(explicit)


# A step decides the answer to one call: it gets the entries and returns
# - None: accept everything
# - a set of indices to fail with ProvisionedThroughputExceededException
# - a dict index -> error code
# - a RequestFailure (nothing accepted unless .maybe_written and accept_on_failure)
# - an Exception instance to raise
Step = Callable[[Sequence[Entry]], Any]


@dataclass
class FakeKinesis:
    shard_count: int = 4
    script: list[Step] = field(default_factory=list)
    accepted: list[tuple[str, str, bytes]] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    list_shards_calls: int = 0
    block: asyncio.Event | None = None
    accept_on_failure: bool = False

    def __post_init__(self) -> None:
        self.shards = even_shards(self.shard_count)
        self.map = ShardMap(self.shards, loaded_at=0.0)
        self._in_flight: set[str] = set()
        self.overlap = False

    def reshard(self, count: int, prefix: str) -> None:
        """Close every shard and open `count` new ones (records route to the new ones)."""
        self.closed = self.shards
        self.shards = even_shards(count, prefix)
        self.map = ShardMap(self.shards, loaded_at=0.0)

    async def describe_stream(self) -> StreamSummary:
        return StreamSummary("s", "ACTIVE", len(self.shards))

    async def list_shards(self) -> list[dict[str, Any]]:
        self.list_shards_calls += 1
        return listing(self.shards, getattr(self, "closed", ()))

    async def put_records(self, entries: Sequence[Entry]) -> PutResult:
        shards = {e.predicted_shard for e in entries}
        if shards & self._in_flight:
            self.overlap = True
        self._in_flight |= shards
        try:
            self.calls.append(len(entries))
            step = self.script.pop(0) if self.script else None
            answer = step(entries) if step is not None else None
            await asyncio.sleep(0)
            if self.block is not None:
                await self.block.wait()
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, RequestFailure):
                if self.accept_on_failure:
                    self._accept(entries)
                return answer
            failures: dict[int, str] = {}
            if isinstance(answer, set):
                failures = dict.fromkeys(answer, "ProvisionedThroughputExceededException")
            elif isinstance(answer, dict):
                failures = answer
            shard_ids: list[str | None] = []
            for i, entry in enumerate(entries):
                if i in failures:
                    shard_ids.append(None)
                else:
                    shard_id = self.map.shard_for(route(entry))
                    self.accepted.append((shard_id, entry.partition_key, entry.data))
                    shard_ids.append(shard_id)
            return PutOutcome(shard_ids, {i: (c, "scripted") for i, c in failures.items()})
        finally:
            self._in_flight -= shards

    def _accept(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            shard_id = self.map.shard_for(route(entry))
            self.accepted.append((shard_id, entry.partition_key, entry.data))


def break_drain(monkeypatch: Any, after_calls: int) -> None:
    """Make Accumulator.drain raise from its (after_calls + 1)-th call: a sender-loop bug."""
    original = Accumulator.drain
    calls = 0

    def failing_drain(self: Accumulator, now: float, max_batches: int) -> Any:
        nonlocal calls
        calls += 1
        if calls > after_calls:
            raise RuntimeError("bug in drain")
        return original(self, now, max_batches)

    monkeypatch.setattr(Accumulator, "drain", failing_drain)
