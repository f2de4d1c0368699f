"""Pure producer buffer: per-shard queues drained into size- and count-bounded PutRecords batches.

What it does: holds accepted entries in one FIFO queue per predicted shard, bounded in records
and bytes as a whole (the async shell waits on `has_room` for backpressure). `drain(now)` returns
the batches ready to send: a shard holding a full request's worth goes out alone; shards whose
oldest record has lingered long enough (or all of them, when a full request's worth is pending in
total or the buffer is flushing) are packed together. Every batch obeys the request limits. A shard
is muted while a batch holding its records is in flight, so at most one batch per shard is ever in
flight, which is what keeps per-key order. Failed entries go back to the head of their shard's
queue, ahead of newer records, and may hold that shard back until a retry time.

What it leaves out: clocks (time is passed in), I/O, retry decisions and shard discovery. It
never rejects an entry: oversize records are refused before they get here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streamer.limits import MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES
from streamer.record import Entry
from streamer.shard_map import ShardMap


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Bounds of one PutRecords request and of the whole buffer."""

    max_records: int = MAX_RECORDS_PER_REQUEST
    max_bytes: int = MAX_REQUEST_BYTES
    linger_s: float = 0.05
    buffer_records: int = 20_000
    buffer_bytes: int = 32 * 1024 * 1024


@dataclass(slots=True)
class Batch:
    """Entries for one PutRecords call and the shards it mutes while in flight."""

    entries: list[Entry] = field(default_factory=list)
    size: int = 0
    shard_ids: list[str] = field(default_factory=list)


class _ShardQueue:
    __slots__ = ("entries", "muted", "ready_at", "shard_id", "size")

    def __init__(self, shard_id: str) -> None:
        self.shard_id = shard_id
        self.entries: deque[Entry] = deque()
        self.size = 0
        self.muted = False
        self.ready_at = 0.0


class Accumulator:
    """Per-shard queues with bounded total size; see the module docstring."""

    def __init__(self, shard_map: ShardMap, limits: BatchLimits) -> None:
        self._limits = limits
        self._queues: dict[str, _ShardQueue] = {}
        self._map = shard_map
        self._records = 0
        self._bytes = 0
        self._flushing = False
        self._rotation = 0
        self._install(shard_map)

    # -- state ---------------------------------------------------------------------------
    @property
    def shard_map(self) -> ShardMap:
        return self._map

    @property
    def buffered_records(self) -> int:
        return self._records

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    def has_room(self) -> bool:
        """False once the buffer holds its bound of records or bytes: the reader must wait."""
        return (
            self._records < self._limits.buffer_records and self._bytes < self._limits.buffer_bytes
        )

    def is_empty(self) -> bool:
        return self._records == 0

    def flush(self) -> None:
        """From now on everything pending is ready regardless of linger (used at drain)."""
        self._flushing = True

    def oldest_age(self, now: float) -> float:
        """Age in seconds of the oldest buffered record (0 when empty)."""
        oldest = min(
            (q.entries[0].first_seen for q in self._queues.values() if q.entries), default=now
        )
        return now - oldest

    # -- input ---------------------------------------------------------------------------
    def add(self, entry: Entry, now: float) -> None:
        """Append a new entry to the tail of its predicted shard's queue."""
        entry.enqueued_at = now
        self._append(entry)

    def requeue(self, entries: Sequence[Entry], retry_at: float) -> None:
        """Put failed entries back at the head of their shards' queues, in their original order.

        Their shards send nothing before `retry_at`: throttling slows that shard, not the rest.
        """
        for entry in reversed(entries):
            shard_id = self._map.shard_for(entry.hash_key)
            entry.predicted_shard = shard_id
            queue = self._queues[shard_id]
            queue.entries.appendleft(entry)
            queue.size += entry.size
            queue.ready_at = max(queue.ready_at, retry_at)
            self._records += 1
            self._bytes += entry.size

    def take_all(self) -> list[Entry]:
        """Remove and return every buffered entry (for dead-lettering at a shutdown deadline)."""
        out: list[Entry] = []
        for queue in self._queues.values():
            out.extend(queue.entries)
            queue.entries.clear()
            queue.size = 0
        self._records = 0
        self._bytes = 0
        return out

    # -- output --------------------------------------------------------------------------
    def drain(self, now: float, max_batches: int) -> list[Batch]:
        """Take up to `max_batches` ready batches; their shards stay muted until `release`."""
        if max_batches <= 0 or self._records == 0:
            return []
        limits = self._limits
        queues = list(self._queues.values())
        start = self._rotation % len(queues)
        self._rotation += 1
        candidates = [
            q
            for q in queues[start:] + queues[:start]
            if q.entries and not q.muted and q.ready_at <= now
        ]
        if not candidates:
            return []
        if not self._flushing:
            pending = sum(len(q.entries) for q in candidates)
            pending_bytes = sum(q.size for q in candidates)
            if pending < limits.max_records and pending_bytes < limits.max_bytes:
                deadline = now - limits.linger_s
                candidates = [q for q in candidates if q.entries[0].enqueued_at <= deadline]
        batches: list[Batch] = []
        packable: list[_ShardQueue] = []
        for queue in candidates:
            if len(queue.entries) >= limits.max_records or queue.size >= limits.max_bytes:
                if len(batches) < max_batches:
                    batch = Batch()
                    self._take(queue, batch)
                    batches.append(batch)
            else:
                packable.append(queue)
        current: Batch | None = None
        for queue in packable:
            if current is not None and current.size + queue.entries[0].size > limits.max_bytes:
                current = None
            if current is None:
                if len(batches) >= max_batches:
                    break
                current = Batch()
                batches.append(current)
            self._take(queue, current)
            if len(current.entries) >= limits.max_records:
                current = None
        return batches

    def _take(self, queue: _ShardQueue, batch: Batch) -> None:
        limits = self._limits
        entries = queue.entries
        out = batch.entries
        size = batch.size
        before = len(out)
        while entries and len(out) < limits.max_records:
            entry = entries[0]
            if size + entry.size > limits.max_bytes and out:
                break
            entries.popleft()
            out.append(entry)
            size += entry.size
        queue.size -= size - batch.size
        self._bytes -= size - batch.size
        self._records -= len(out) - before
        batch.size = size
        queue.muted = True
        batch.shard_ids.append(queue.shard_id)

    def release(self, batch: Batch) -> None:
        """The batch's call has finished: its shards may send again."""
        for shard_id in batch.shard_ids:
            queue = self._queues.get(shard_id)
            if queue is not None:
                queue.muted = False

    def next_ready_at(self, now: float) -> float | None:
        """Earliest time a currently unmuted shard may become ready, or None if none can."""
        best: float | None = None
        linger = 0.0 if self._flushing else self._limits.linger_s
        for queue in self._queues.values():
            if not queue.entries or queue.muted:
                continue
            at = max(queue.ready_at, queue.entries[0].enqueued_at + linger)
            if best is None or at < best:
                best = at
        return best

    # -- resharding ----------------------------------------------------------------------
    def reshard(self, shard_map: ShardMap) -> None:
        """Adopt a new shard map; re-predict every buffered entry, keeping per-key order."""
        old = self._queues
        self._map = shard_map
        self._install(shard_map, previous=old)
        for queue in old.values():
            for entry in queue.entries:
                self._append(entry)

    def _install(self, shard_map: ShardMap, previous: dict[str, _ShardQueue] | None = None) -> None:
        self._queues = {}
        for shard_id in shard_map.shard_ids:
            queue = _ShardQueue(shard_id)
            if previous is not None and shard_id in previous:
                queue.muted = previous[shard_id].muted
                queue.ready_at = previous[shard_id].ready_at
            self._queues[shard_id] = queue
        self._records = 0
        self._bytes = 0

    def _append(self, entry: Entry) -> None:
        shard_id = self._map.shard_for(entry.hash_key)
        entry.predicted_shard = shard_id
        queue = self._queues[shard_id]
        queue.entries.append(entry)
        queue.size += entry.size
        self._records += 1
        self._bytes += entry.size

    def shard_ids_pending(self) -> Iterable[str]:
        return (q.shard_id for q in self._queues.values() if q.entries)
