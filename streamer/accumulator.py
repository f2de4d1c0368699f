"""Pure producer buffer: per-shard queues, their readiness, and the batches drained from them.

What it does: holds accepted entries in one FIFO queue per predicted shard, bounded in records
and bytes as a whole (the async shell waits on `has_room` for backpressure). `drain(now)` picks
the shards ready to send (not muted, out of backoff, allowed by their injected rate gate, and
lingered long enough, or all of them when a full request's worth is pending in total or the
buffer is flushing) and has `batcher.BatchBuilder` cut them into calls
(`aggregate.AggregatingBuilder` with KPL aggregation; resharding unpacks queued and failed
aggregates so their records are re-packed for their new shards). A shard is muted while a
batch holding its records is in flight, so at most one batch per shard is ever in flight, which
is what keeps per-key order. Failed entries go back to the head of their shard's
queue, ahead of newer records, and may hold that shard back until a retry time.

What it leaves out: cutting batches (`batcher.py`), the rate gates' control law
(`ratelimit.py`), clocks (time is passed in), I/O, retry decisions and shard discovery. It never
rejects an entry: oversize records are refused before they get here.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streamer import _compiled
from streamer.aggregate import Aggregate, AggregatingBuilder, unpack
from streamer.batcher import Batch, BatchBuilder, first_sendable, linger_start
from streamer.limits import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_BUFFER_RECORDS,
    DEFAULT_LINGER_MS,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    SHARD_WRITE_BYTES_PER_S,
    SHARD_WRITE_RECORDS_PER_S,
)
from streamer.ratelimit import GateFactory, RateGate, RateSettings, ShardLimiter
from streamer.record import Entry
from streamer.shard_map import ShardMap


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Bounds of one PutRecords request and of the whole buffer."""

    max_records: int = MAX_RECORDS_PER_REQUEST
    max_bytes: int = MAX_REQUEST_BYTES
    linger_s: float = DEFAULT_LINGER_MS / 1000
    buffer_records: int = DEFAULT_BUFFER_RECORDS
    buffer_bytes: int = DEFAULT_BUFFER_BYTES
    one_per_key: bool = True
    """At most one record per partition key in a call, so a failed record is always resent
    before any later record of its key is sent (see README, ordering)."""
    aggregation_bytes: int = 0
    """KPL aggregation: pack a shard's records into Kinesis records of up to this many bytes
    (`aggregate.py`); 0 sends each record on its own."""

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return _compiled.frozen_reduce(self)  # copies and pickles where compiled


BYTES_PER_RECORD_TOKEN: Final = SHARD_WRITE_BYTES_PER_S / SHARD_WRITE_RECORDS_PER_S
"""A shard's byte limit per unit of its record limit: turns the gate's records window into the
bytes window an aggregating shard waits for."""


class _ShardQueue:
    __slots__ = ("aggregating", "entries", "limiter", "muted", "ready_at", "shard_id", "size")

    def __init__(self, shard_id: str, limiter: RateGate | None, aggregating: bool) -> None:
        self.shard_id = shard_id
        self.aggregating = aggregating
        """Bytes bind, not records: wait for a window's worth of bytes before a call, as a
        plain shard waits for a window's worth of records (else calls shrink to a few records
        each as the bytes trickle in)."""
        self.entries: deque[Entry] = deque()
        self.size = 0
        self.muted = False
        self.ready_at = 0.0
        self.limiter = limiter

    def send_at(self, now: float) -> float:
        """Earliest time this shard may send (backoffs and rate limit), ignoring linger."""
        at = max(self.ready_at, self._first_sendable(now))
        limiter = self.limiter
        if limiter is None:
            return at
        want = min(len(self.entries), limiter.batch_records)
        if self.aggregating:
            size = min(self.size, int(limiter.batch_records * BYTES_PER_RECORD_TOKEN))
            return max(at, now + limiter.wait_s(now, records=1, size=size))
        return max(at, now + limiter.wait_s(now, records=want))

    def _first_sendable(self, now: float) -> float:
        return first_sendable(self.entries, now)


class Accumulator:
    """Per-shard queues with bounded total size; see the module docstring."""

    def __init__(
        self,
        shard_map: ShardMap,
        limits: BatchLimits,
        rate: RateSettings | GateFactory | None = None,
        *,
        now: float = 0.0,
    ) -> None:
        """`rate` is the per-shard rate limiting: settings for a `ShardLimiter` per shard, or
        any factory of `RateGate`s; None (or disabled settings) sends unlimited."""
        self._limits = limits
        self._builder = (
            AggregatingBuilder(
                max_records=limits.max_records,
                max_bytes=limits.max_bytes,
                one_per_key=limits.one_per_key,
                target_bytes=limits.aggregation_bytes,
            )
            if limits.aggregation_bytes
            else BatchBuilder(
                max_records=limits.max_records,
                max_bytes=limits.max_bytes,
                one_per_key=limits.one_per_key,
            )
        )
        self._new_gate: GateFactory | None
        if isinstance(rate, RateSettings):
            settings = rate
            self._new_gate = (lambda t: ShardLimiter(settings, t)) if settings.enabled else None
        else:
            self._new_gate = rate
        self._now = now
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
    def aggregating(self) -> bool:
        """Whether batches hold KPL aggregates (`aggregate.Aggregate`) of user records."""
        return self._limits.aggregation_bytes > 0

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
        shard_id = self._map.shard_for(entry.hash_key)
        entry.predicted_shard = shard_id
        queue = self._queues[shard_id]
        queue.entries.append(entry)
        queue.size += entry.size
        self._records += 1
        self._bytes += entry.size

    def add_many(self, entries: Iterable[Entry], now: float) -> None:
        """`add` each of `entries`, in order (one call per chunk of input, not per record)."""
        shard_map = self._map  # a direct call where compiled, not a bound method's
        queues = self._queues
        records = size = 0
        for entry in entries:
            entry.enqueued_at = now
            shard_id = entry.predicted_shard = shard_map.shard_for(entry.hash_key)
            queue = queues[shard_id]
            queue.entries.append(entry)
            queue.size += entry.size
            records += 1
            size += entry.size
        self._records += records
        self._bytes += size

    def requeue(self, entries: Sequence[Entry], retry_at: float, *, pause: bool = False) -> None:
        """Put failed entries back at the head of their shards' queues, in their original order.

        Each is not sent again before its own `not_before` (its backoff, set when its retry was
        decided) nor before `retry_at`, and holds back later records of its key until then;
        other keys of the shard keep flowing. With `pause` (a whole call failed) their shards
        send nothing at all before `retry_at`. A shard that held nothing else lingers from
        `retry_at`, as for a new record.
        """
        starts: dict[str, float] = {}
        for entry in reversed(self._repacked(entries)):
            shard_id = self._map.shard_for(entry.hash_key)
            entry.predicted_shard = shard_id
            entry.not_before = max(entry.not_before, retry_at)
            queue = self._queues[shard_id]
            # Back in its queue at `retry_at`, it is as ready as the queue already was; into an
            # empty one it lingers from then like a new record, waiting for company rather than
            # going out in a call of its own.
            start = starts.get(shard_id)
            if start is None:
                held = linger_start(queue.entries, retry_at) if queue.entries else retry_at
                start = starts[shard_id] = min(held, retry_at)
            entry.enqueued_at = start
            queue.entries.appendleft(entry)
            queue.size += entry.size
            if pause:
                queue.ready_at = max(queue.ready_at, retry_at)
            self._records += 1
            self._bytes += entry.size

    def _repacked(self, entries: Sequence[Entry]) -> Sequence[Entry]:
        """`entries`, with each aggregate whose records no longer share one shard (the shard
        map changed while it was in flight) unpacked into its records, to be packed anew."""
        shard_for = self._map.shard_for
        out: list[Entry] = []
        for entry in entries:
            if type(entry) is Aggregate:
                shard = shard_for(entry.hash_key)
                if any(shard_for(m.hash_key) != shard for m in entry.members):
                    out.extend(unpack(entry))
                    continue
            out.append(entry)
        return out

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
        order = queues[start:] + queues[:start]
        if not self._flushing and (
            self._records < limits.max_records and self._bytes < limits.max_bytes
        ):
            # Less than a request's worth held in all: only lingered shards can be ready, and
            # checking that first is cheaper than the backoff and rate checks of send_at.
            linger = limits.linger_s  # the same sum next_ready_at uses, so it agrees
            order = [q for q in order if q.entries and linger_start(q.entries, now) + linger <= now]
        candidates = [q for q in order if q.entries and not q.muted and q.send_at(now) <= now]
        if not candidates:
            return []
        if not self._flushing:
            pending = sum(len(q.entries) for q in candidates)
            pending_bytes = sum(q.size for q in candidates)
            if pending < limits.max_records and pending_bytes < limits.max_bytes:
                # The same sum next_ready_at reports, so waking at that time finds it ready.
                linger = limits.linger_s
                candidates = [q for q in candidates if linger_start(q.entries, now) + linger <= now]
        return self._builder.pack(candidates, max_batches, lambda q, b: self._take(q, b, now))

    def _take(self, queue: _ShardQueue, batch: Batch, now: float) -> bool:
        """Move head entries of `queue` into `batch` within the request and rate limits; return
        whether any was taken (then the shard is muted until the batch is released).

        The rate limiter may go into debt by one record's bytes, so a record larger than the
        shard's burst still goes out.
        """
        limits = self._limits
        room = limits.max_records - len(batch.entries)
        byte_allow = limits.max_bytes
        limiter = queue.limiter
        if limiter is not None:
            rec_allow, byte_allow = limiter.allowance(now)
            room = min(room, rec_allow)
        records, size = len(batch.entries), batch.size
        taken, used = self._builder.take(queue.entries, batch, room, byte_allow, now)
        if not taken:
            return False
        if limiter is not None:  # what is sent (aggregated, it differs from what left the queue)
            limiter.spend(len(batch.entries) - records, batch.size - size)
        queue.size -= used
        self._bytes -= used
        self._records -= taken
        queue.muted = True
        batch.shard_ids.append(queue.shard_id)
        return True

    def release(self, batch: Batch) -> None:
        """The batch's call has finished: its shards may send again."""
        for shard_id in batch.shard_ids:
            queue = self._queues.get(shard_id)
            if queue is not None:
                queue.muted = False

    def observe(
        self,
        batch: Batch,
        now: float,
        throttled: Mapping[str, int],
        unwritten: Sequence[Entry] = (),
    ) -> None:
        """A call for `batch` was answered; `throttled` counts its records refused for
        throughput, by predicted shard, and `unwritten` are its records that failed without
        being written for another reason (InternalFailure). Each shard's limiter adjusts its
        rate from the share of what it sent that was throttled, and takes back the tokens of
        its unwritten records (see `ratelimit`)."""
        if self._new_gate is None:
            return
        entries = batch.entries
        if len(batch.shard_ids) == 1:  # a full shard's call: no per-record count needed
            sent: Mapping[str, int] = {batch.shard_ids[0]: len(entries)}
        else:
            sent = Counter(entry.predicted_shard for entry in entries)
        for shard_id, count in sent.items():
            queue = self._queues.get(shard_id)
            if queue is not None and queue.limiter is not None:
                queue.limiter.observe(now, sent=count, throttled=throttled.get(shard_id, 0))
        if unwritten:  # what the shard did not write: its tokens come back
            refunds: dict[str, list[int]] = {}
            for entry in unwritten:
                tally = refunds.setdefault(entry.predicted_shard, [0, 0])
                tally[0] += 1
                tally[1] += entry.size
            for shard_id, (records, size) in refunds.items():
                queue = self._queues.get(shard_id)
                if queue is not None and queue.limiter is not None:
                    queue.limiter.refund(records, size)

    def shard_rate_limits(self) -> list[float]:
        """Each shard's current send limit in records/s (empty without limiting)."""
        return [q.limiter.records_per_s for q in self._queues.values() if q.limiter is not None]

    def shard_backgrounds(self) -> list[float]:
        """Each shard's background of throttling found by its limiter (empty without limiting)."""
        return [q.limiter.background for q in self._queues.values() if q.limiter is not None]

    def shard_share(self, shard_id: str) -> float:
        """The adaptive share of the configured rate a shard is at (1.0 without limiting)."""
        queue = self._queues.get(shard_id)
        return 1.0 if queue is None or queue.limiter is None else queue.limiter.share

    def next_ready_at(self, now: float) -> float | None:
        """Earliest time a currently unmuted shard may become ready, or None if none can."""
        best: float | None = None
        linger = 0.0 if self._flushing else self._limits.linger_s
        for queue in self._queues.values():
            if not queue.entries or queue.muted:
                continue
            lingered_at = linger_start(queue.entries, now) + linger
            if best is not None and lingered_at >= best:
                continue  # cannot beat the best so far: skip the costlier send_at
            at = max(queue.send_at(now), lingered_at)
            if best is None or at < best:
                best = at
        return best

    # -- resharding ----------------------------------------------------------------------
    def reshard(self, shard_map: ShardMap, now: float = 0.0) -> None:
        """Adopt a new shard map; re-predict every buffered entry, keeping per-key order."""
        old = self._queues
        self._now = now
        self._map = shard_map
        self._install(shard_map, previous=old)
        for queue in old.values():
            for entry in queue.entries:
                if type(entry) is Aggregate:  # re-packed: its records may go to other shards
                    for member in unpack(entry):
                        self.add(member, entry.enqueued_at)
                else:
                    self.add(entry, entry.enqueued_at)  # re-predicted, keeping its linger time

    def _install(self, shard_map: ShardMap, previous: dict[str, _ShardQueue] | None = None) -> None:
        self._queues = {}
        for shard_id in shard_map.shard_ids:
            kept = previous.get(shard_id) if previous is not None else None
            if kept is not None:
                queue = _ShardQueue(shard_id, kept.limiter, self.aggregating)
                queue.muted = kept.muted
                queue.ready_at = kept.ready_at
            else:
                limiter = None if self._new_gate is None else self._new_gate(self._now)
                queue = _ShardQueue(shard_id, limiter, self.aggregating)
            self._queues[shard_id] = queue
        self._records = 0
        self._bytes = 0

    def shard_ids_pending(self) -> Iterable[str]:
        return (q.shard_id for q in self._queues.values() if q.entries)
