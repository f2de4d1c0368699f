"""Pure KPL aggregation at the batch builder: many user records of one shard in one Kinesis record.

What it does: `AggregatingBuilder` is a `BatchBuilder` whose `take` packs head entries of one
shard's queue into `Aggregate` entries of up to `target_bytes` each (the KPL format, `kpl.py`);
an aggregate that would hold one record goes out as that plain record. An aggregate keeps the
first user record's partition key and carries that record's hash key as its explicit hash key,
so it lands on the shard every one of its records hashes to (they were queued by that shard).
Per-key order: with `one_per_key`, a key is in at most one Kinesis record of a call (records of a
key packed into an earlier, closed aggregate of the call wait for the next call), and an
aggregate in backoff holds back every key it holds. A failed aggregate is requeued whole and
resent whole; `members` maps its fate back to each user record (`expand`), and `unpack` gives the
user records back, with the aggregate's attempts and errors, for resharding.

What it leaves out: the wire encoding of the explicit hash key (`wire.py`), queues
(`accumulator.py`) and what happens after a call (`settle.py`, `pipeline.py`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from operator import attrgetter

from streamer import kpl
from streamer.batcher import BACKOFF_SCAN_LIMIT, Batch, BatchBuilder
from streamer.record import Entry

_key_of = attrgetter("partition_key")
_pair_of = attrgetter("partition_key", "data")
_first_seen_of = attrgetter("first_seen")
_attempts_of = attrgetter("attempts")


class Aggregate(Entry):
    """A Kinesis record holding user records (`members`) in the KPL aggregated format."""

    __slots__ = ("base_attempts", "explicit_hash_key", "member_keys", "members")

    def __init__(
        self, members: list[Entry], data: bytes | None = None, keys: Iterable[str] = ()
    ) -> None:
        """`data` and `keys`: the encoding and the keys, when the packer already made them."""
        first = members[0]
        # Entry's own initialiser sets every slot it has (a slot added there is set here too).
        super().__init__(
            data if data is not None else kpl.encode(map(_pair_of, members)),
            first.partition_key,
            first.source,
            first.line_no,
            min(map(_first_seen_of, members)),
        )
        self.members = members
        self.member_keys = frozenset(keys or map(_key_of, members))
        self.hash_key = first.hash_key
        self.explicit_hash_key = str(first.hash_key)
        self.enqueued_at = first.enqueued_at
        self.base_attempts = self.attempts = max(map(_attempts_of, members))
        self.predicted_shard = first.predicted_shard

    def __repr__(self) -> str:
        return f"Aggregate({len(self.members)} records, key={self.partition_key!r}, {self.size}B)"


def keys_of(entry: Entry) -> Iterable[str]:
    """The partition keys a Kinesis record holds."""
    return entry.member_keys if type(entry) is Aggregate else (entry.partition_key,)


def user_count(entries: Sequence[Entry]) -> int:
    """User records in `entries` (an aggregate counts its members)."""
    return sum(len(e.members) if type(e) is Aggregate else 1 for e in entries)


def expand(entries: Sequence[Entry]) -> Sequence[Entry]:
    """The user records of `entries`, in order, each carrying its aggregate's history."""
    if not any(type(e) is Aggregate for e in entries):
        return entries
    out: list[Entry] = []
    for entry in entries:
        if type(entry) is Aggregate:
            out.extend(unpack(entry))
        else:
            out.append(entry)
    return out


def unpack(aggregate: Aggregate) -> list[Entry]:
    """The user records of `aggregate`, with the attempts and errors it added and its backoff."""
    added = aggregate.attempts - aggregate.base_attempts
    for member in aggregate.members:
        member.attempts += added
        for error in aggregate.errors or ():
            member.note_failure(error)
        member.not_before = aggregate.not_before
        member.predicted_shard = aggregate.predicted_shard
    aggregate.base_attempts = aggregate.attempts  # unpacking twice adds nothing twice
    aggregate.errors = None
    return aggregate.members


class AggregatingBuilder(BatchBuilder):
    """Cuts calls whose Kinesis records are KPL aggregates of one shard's user records."""

    __slots__ = ("target_bytes",)

    def __init__(
        self, *, max_records: int, max_bytes: int, one_per_key: bool, target_bytes: int
    ) -> None:
        super().__init__(max_records=max_records, max_bytes=max_bytes, one_per_key=one_per_key)
        self.target_bytes = target_bytes

    def take(
        self, entries: deque[Entry], batch: Batch, room: int, byte_allow: int, now: float
    ) -> tuple[int, int]:
        """Pack up to `room` Kinesis records (and `byte_allow` bytes) from the head of `entries`
        into `batch`; return the (entries, bytes) removed from the queue, as the queue counts
        them. `batch.entries` and `batch.size` grow by what is sent."""
        packer = _Packer(self, batch, room, byte_allow)
        blocked: set[str] = set()
        skipped: list[Entry] = []
        while entries and packer.fits(entries[0]):
            entry = entries.popleft()
            keys = keys_of(entry)
            if entry.not_before > now or not blocked.isdisjoint(keys):
                blocked.update(keys)  # in backoff, or behind a record of its keys in backoff
                skipped.append(entry)
                if len(skipped) >= BACKOFF_SCAN_LIMIT:
                    break
                continue
            whole = type(entry) is Aggregate
            added = packer.admits(keys, whole=whole) and (
                packer.add_whole(entry) if whole else packer.add(entry)
            )
            if added is None:
                # A key already in a closed record of this call: waits for the next call.
                skipped.append(entry)
                if len(skipped) >= self.max_records:
                    break
                continue
            if not added:
                entries.appendleft(entry)
                break
        packer.close()
        if skipped:
            entries.extendleft(reversed(skipped))
        return packer.taken, packer.used


_SLACK = 32 + kpl.OVERHEAD + 256
"""Most bytes a user record can cost beyond its own size in an aggregate: varints, its key's
table entry, and a new aggregate's magic, digest and partition key (keys are at most 256)."""


class _Packer:
    """The open aggregate of one `take`, and the call's closed records and keys."""

    __slots__ = (
        "allow", "batch", "builder", "keys", "open", "open_size", "records", "room", "start_size",
        "taken", "used", "writer",
    )  # fmt: skip

    def __init__(self, builder: AggregatingBuilder, batch: Batch, room: int, allow: int) -> None:
        self.builder = builder
        self.batch = batch
        self.room = room
        self.allow = allow
        self.start_size = batch.size
        self.keys: set[str] | None = set() if builder.one_per_key else None
        self.open: list[Entry] = []
        self.writer: kpl.Builder | None = None
        """The open aggregate's encoding, written as its records are added."""
        self.open_size = 0
        self.records = 0
        """Kinesis records this take closed into the batch."""
        self.taken = self.used = 0

    def fits(self, entry: Entry) -> bool:
        """Whether the request and byte allowance leave room to look at `entry`."""
        if self.records >= self.room:
            return False
        sending = self.batch.size + self.open_size
        if sending - self.start_size >= self.allow:
            return False
        if not (self.batch.entries or self.open):
            return True  # the first record of a call always fits (checked against the limit)
        cost = entry.size if type(entry) is Aggregate else entry.size + _SLACK
        return sending + cost <= self.builder.max_bytes

    def admits(self, keys: Iterable[str], *, whole: bool) -> bool | None:
        """True if a record of `keys` may join the call (None: a key is in a closed record)."""
        closed = self.keys
        if closed is None:
            return True
        if whole:
            writer = self.writer
            free = closed.isdisjoint(keys) and (
                writer is None or writer.keys.keys().isdisjoint(keys)
            )
        else:
            free = closed.isdisjoint(keys)
        return True if free else None

    def add(self, entry: Entry) -> bool | None:
        """Pack a user record into the open aggregate (closing it first when full): True if
        taken, False if the call has no room, None if closing the aggregate put its key in a
        closed record of the call (strict order: it waits for the next call)."""
        key = entry.partition_key
        data = entry.data
        key_len = len(key) if key.isascii() else len(key.encode())
        writer = self.writer
        cost = 0
        if writer is not None:
            cost = writer.cost(key, key_len, len(data))
            if self.open_size + cost > self.builder.target_bytes:
                self.close()
                if self.keys is not None and key in self.keys:
                    return None
                writer = None
        if writer is None:
            if self.records >= self.room:
                return False
            writer = self.writer = kpl.Builder()
            cost = writer.cost(key, key_len, len(data))
            self.open_size = kpl.OVERHEAD + key_len  # the aggregate's own partition key
        writer.add(key, data, cost)
        self.open.append(entry)
        self.open_size += cost
        self.taken += 1
        self.used += entry.size
        return True

    def add_whole(self, entry: Entry) -> bool:
        """Send an aggregate again as it was (a failed one, requeued whole)."""
        self.close()
        if self.records >= self.room:
            return False
        self._append(entry, keys_of(entry))
        self.taken += 1
        self.used += entry.size
        return True

    def close(self) -> None:
        """Close the open aggregate into the batch (one record alone goes out plain)."""
        members, writer = self.open, self.writer
        if writer is None:
            return
        if len(members) == 1:
            record = members[0]
        else:
            record = Aggregate(members, writer.finish(), writer.keys)
        self._append(record, writer.keys)
        self.open = []
        self.writer = None
        self.open_size = 0

    def _append(self, record: Entry, keys: Iterable[str]) -> None:
        batch = self.batch
        batch.entries.append(record)
        batch.size += record.size
        self.records += 1
        if self.keys is not None:
            self.keys.update(keys)
