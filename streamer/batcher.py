"""Pure batch cutting: which queued entries go into which PutRecords call.

What it does: `BatchBuilder.take` moves head entries of one shard's queue into a `Batch` within
the request limits (records, bytes), a record and byte allowance (the shard's rate gate) and, in
strict ordering, one record per partition key per call; entries in backoff (and later records
of their keys) are passed over and stay in order. `BatchBuilder.pack` cuts the ready shards into
batches: a shard holding a request's worth goes out alone, smaller ones share a call.
`first_sendable` is the same backoff rule as a time, for readiness, and `linger_start` says from
when the entry that may go next has waited. This is where records are cut into calls, so it is
where aggregation (many user records in one Kinesis record) plugs in.

What it leaves out: the queues themselves, muting, linger and the rate gates' state
(`accumulator.py`); clocks (time is passed in).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from streamer.limits import MAX_RECORDS_PER_REQUEST
from streamer.record import Entry

BACKOFF_SCAN_LIMIT = 2 * MAX_RECORDS_PER_REQUEST
"""How far past entries in backoff a shard's queue is searched for records that may go now."""


@dataclass(slots=True)
class Batch:
    """Entries for one PutRecords call and the shards it mutes while in flight."""

    entries: list[Entry] = field(default_factory=list)
    size: int = 0
    shard_ids: list[str] = field(default_factory=list)


class Queued(Protocol):
    """What `pack` reads of a shard's queue."""

    @property
    def entries(self) -> deque[Entry]: ...

    @property
    def size(self) -> int: ...


Q = TypeVar("Q", bound=Queued)


def first_sendable(entries: deque[Entry], now: float) -> float:
    """A time <= `now` if some queued entry may go now, else when the first one may.

    An entry in backoff (failed, requeued at the head) holds back only its own key: later
    records of that key wait behind it, records of other keys may pass."""
    return _scan(entries, now)[0]


def linger_start(entries: deque[Entry], now: float) -> float:
    """When the linger of the queue's next call began: the enqueue time of the first entry that
    may go now (the head's if none may): an entry in backoff keeps no other key waiting."""
    found = _scan(entries, now)[1]
    return (entries[0] if found is None else found).enqueued_at


def _scan(entries: deque[Entry], now: float) -> tuple[float, Entry | None]:
    """(`first_sendable`'s time, the first entry that may go now or None)."""
    head = entries[0]
    if head.not_before <= now:
        return head.not_before, head
    blocked: set[str] = set()
    earliest = head.not_before
    for scanned, entry in enumerate(entries):
        if scanned >= BACKOFF_SCAN_LIMIT:
            break
        plain = type(entry) is Entry  # else an aggregate: it holds its members' keys
        if entry.not_before > now:
            if plain:
                blocked.add(entry.partition_key)
            else:
                blocked.update(keys_held(entry))
            earliest = min(earliest, entry.not_before)
        elif entry.partition_key not in blocked if plain else blocked.isdisjoint(keys_held(entry)):
            return entry.not_before, entry
    return earliest, None


def keys_held(entry: Entry) -> Iterable[str]:
    """The partition keys of a queued entry: its own, or an aggregate's members' (see
    `aggregate.py`)."""
    keys: Iterable[str] | None = getattr(entry, "member_keys", None)
    return (entry.partition_key,) if keys is None else keys


class BatchBuilder:
    """Cuts queued entries into calls within the request limits."""

    __slots__ = ("max_bytes", "max_records", "one_per_key")

    def __init__(self, *, max_records: int, max_bytes: int, one_per_key: bool) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.one_per_key = one_per_key

    def full(self, queue: Queued) -> bool:
        """Whether a queue holds a whole request's worth (it then goes out alone)."""
        return len(queue.entries) >= self.max_records or queue.size >= self.max_bytes

    def pack(
        self, ready: Sequence[Q], max_batches: int, fill: Callable[[Q, Batch], bool]
    ) -> list[Batch]:
        """Up to `max_batches` batches from the `ready` queues, in order. `fill(queue, batch)`
        takes what the queue may send into the batch (see `take`) and says whether it took any.
        """
        batches: list[Batch] = []
        packable: list[Q] = []
        for queue in ready:
            if self.full(queue):
                if len(batches) < max_batches:
                    batch = Batch()
                    if fill(queue, batch):
                        batches.append(batch)
            else:
                packable.append(queue)
        current: Batch | None = None
        for queue in packable:
            if current is not None and current.size + queue.entries[0].size > self.max_bytes:
                current = None
            if current is None:
                if len(batches) >= max_batches:
                    break
                current = Batch()
            if fill(queue, current) and len(current.shard_ids) == 1:
                batches.append(current)
            if len(current.entries) >= self.max_records:
                current = None
        return batches

    def take(
        self, entries: deque[Entry], batch: Batch, room: int, byte_allow: int, now: float
    ) -> tuple[int, int]:
        """Move up to `room` sendable entries (and `byte_allow` bytes) into `batch`, in queue
        order; return (records, bytes) moved. Entries passed over stay in place, in order.

        The first entry of an empty batch always fits the request limits (records are checked
        against the record limit before they get here)."""
        max_bytes = self.max_bytes
        out = batch.entries
        size = batch.size
        keys: set[str] | None = set() if self.one_per_key else None
        blocked: set[str] = set()
        skipped: list[Entry] = []
        taken = used = 0
        popleft = entries.popleft  # bound once: no method lookup per record where compiled
        while entries and taken < room:
            entry = popleft()
            if (size + entry.size > max_bytes and out) or used >= byte_allow:
                entries.appendleft(entry)
                break
            if entry.not_before > now or entry.partition_key in blocked:
                # In backoff, or behind a record of its key in backoff: stays, in order.
                blocked.add(entry.partition_key)
                skipped.append(entry)
                if len(skipped) >= BACKOFF_SCAN_LIMIT:
                    break
                continue
            if keys is not None:
                if entry.partition_key in keys:
                    # A later record of a key already in this call waits for the next call;
                    # records of other keys behind it may go now (a hot key does not stall them).
                    skipped.append(entry)
                    if len(skipped) >= self.max_records:
                        break
                    continue
                keys.add(entry.partition_key)
            out.append(entry)
            size += entry.size
            used += entry.size
            taken += 1
        if skipped:
            entries.extendleft(reversed(skipped))
        batch.size = size
        return taken, used
