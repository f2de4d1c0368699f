"""Pure settling: the fate of every record of a finished PutRecords call, as one value.

What it does: `settle(entries, shard_ids, result, now=, policy=, uniform=)` reads the call's result
(per-record outcomes, or a whole-request failure, both already classified by the adapter) and
returns a `Settlement`: the entries delivered, the entries to requeue (when, and whether their
shards pause), the entries to dead-letter with their reasons, the shards that were throttled or
went through, whether the shard map needs a refresh, and the counters to bump. Each failed entry
gets its attempt counted and noted on it, and a retried one its own retry time (`not_before`,
bookkeeping that travels with the record); the retry policy decides between retry and
give-up. This is the one function that decides a record's fate after a call.

What it leaves out: carrying the actions out (the pipeline requeues, dead-letters, tells the
accumulator, publishes settled events), clocks and randomness (passed in), and vendor error
codes (`errors.py` classifies them; nothing here branches on one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streamer.errors import RecordFault, RequestFailure, RequestKind
from streamer.kinesis import PutResult
from streamer.record import Entry
from streamer.retry import GiveUp, RetryPolicy


@dataclass(slots=True)
class Settlement:
    """What to do after one call; the shell carries it out in this order: requeue, dead-letter,
    rate feedback, refresh, counters."""

    delivered: Sequence[Entry] = ()
    requeue: list[Entry] = field(default_factory=list)
    """Back to the head of their shards, in order, each not before its own `not_before` (its
    delay from the retry policy) nor before `retry_at`."""
    retry_at: float = 0.0
    """`now` when records failed one by one (each waits its own delay, not the call's longest);
    when the whole call failed, the latest retry time of its entries."""
    pause: bool = False
    """A whole call failed: the requeued entries' shards send nothing before `retry_at`."""
    dead: list[tuple[Entry, str]] = field(default_factory=list)
    """Entries given up, each with its dead-letter reason."""
    throttled_shards: list[str] = field(default_factory=list)
    succeeded_shards: list[str] = field(default_factory=list)
    throttled_by_shard: Counter[str] = field(default_factory=Counter)
    """Records refused for throughput, by predicted shard: the rate limiter's feedback (given
    with every answered call and every throttled request)."""
    refresh_shard_map: bool = False
    # counters
    request_failed: bool = False
    throttled_records: list[str] = field(default_factory=list)
    """The predicted shard of each record answered with throttling."""
    unwritten: list[Entry] = field(default_factory=list)
    """Records answered InternalFailure (or another retriable code that is not throttling):
    not written, so their shards' rate tokens are given back."""
    possible_duplicates: int = 0
    mispredicted: int = 0
    failed: int = 0
    """Records of the call that were not delivered (for the per-call metrics and log line)."""


Uniform = Callable[[float, float], float]


def settle(
    entries: Sequence[Entry],
    shard_ids: Sequence[str],
    result: PutResult,
    *,
    now: float,
    policy: RetryPolicy,
    uniform: Uniform,
) -> Settlement:
    """Decide the fate of `entries` (sent to the shards `shard_ids`) after `result`."""
    if isinstance(result, RequestFailure):
        judge = _Judge(Settlement(), now, policy, uniform)
        return _request_failed(entries, shard_ids, result, judge)
    if not result.failures and None not in result.shard_ids:
        out = Settlement(delivered=entries, succeeded_shards=list(shard_ids))
        out.mispredicted = sum(
            sid != e.predicted_shard for e, sid in zip(entries, result.shard_ids, strict=True)
        )
        out.refresh_shard_map = out.mispredicted > 0
        return out
    out = Settlement()
    judge = _Judge(out, now, policy, uniform)
    delivered: list[Entry] = []
    throttled: set[str] = set()
    failures = result.failures
    # Each distinct error of the call is classified once: a call's failures share a few.
    faults: dict[tuple[str, str] | None, tuple[RecordFault, str, str]] = {}
    for i, (entry, shard_id) in enumerate(zip(entries, result.shard_ids, strict=True)):
        if shard_id is not None:
            delivered.append(entry)
            if shard_id != entry.predicted_shard:
                out.mispredicted += 1
            continue
        error = failures.get(i)
        known = faults.get(error)
        if known is None:
            known = faults[error] = result.fault(i)
        fault, code, description = known
        if fault is RecordFault.MAYBE_WRITTEN:
            out.possible_duplicates += 1
        elif fault is RecordFault.THROTTLED:
            out.throttled_records.append(entry.predicted_shard)
            throttled.add(entry.predicted_shard)
        elif fault is RecordFault.RETRIABLE:
            out.unwritten.append(entry)
        judge.failed(entry, description, code, retriable=fault is not RecordFault.FATAL)
    out.delivered = delivered
    out.failed = len(entries) - len(delivered)
    out.throttled_by_shard = Counter(out.throttled_records)
    out.throttled_shards = [s for s in shard_ids if s in throttled]
    out.succeeded_shards = [s for s in shard_ids if s not in throttled]
    out.refresh_shard_map = out.mispredicted > 0
    return out


def _request_failed(
    entries: Sequence[Entry],
    shard_ids: Sequence[str],
    failure: RequestFailure,
    judge: _Judge,
) -> Settlement:
    out = judge.out
    out.request_failed = out.pause = True
    out.failed = len(entries)
    kind = failure.kind
    if kind is RequestKind.THROTTLED:
        out.throttled_shards = list(shard_ids)
        out.throttled_by_shard = Counter(entry.predicted_shard for entry in entries)
    out.refresh_shard_map = kind is RequestKind.STREAM_MISSING
    description = failure.describe()
    for entry in entries:
        judge.failed(entry, description, description, retriable=failure.retriable)
    out.retry_at = judge.latest
    if failure.maybe_written:
        out.possible_duplicates = len(out.requeue)
    return out


class _Judge:
    """Applies the retry policy to each failed entry of one call, filling `out`."""

    __slots__ = ("latest", "now", "out", "policy", "uniform")

    def __init__(self, out: Settlement, now: float, policy: RetryPolicy, uniform: Uniform) -> None:
        self.out = out
        self.now = now
        self.policy = policy
        self.uniform = uniform
        self.latest = now
        """The latest retry time given so far."""
        out.retry_at = now

    def failed(self, entry: Entry, note: str, error: str, *, retriable: bool) -> None:
        """Count a failed attempt on `entry`; requeue it after its own delay, or give it up."""
        entry.attempts += 1
        entry.note_failure(note)
        decision = self.policy.decide(
            attempts=entry.attempts,
            first_seen=entry.first_seen,
            now=self.now,
            error=error,
            retriable=retriable,
            uniform=self.uniform,
        )
        out = self.out
        if isinstance(decision, GiveUp):
            out.dead.append((entry, decision.reason))
        else:
            out.requeue.append(entry)
            entry.not_before = retry_at = self.now + decision.delay_s
            self.latest = max(self.latest, retry_at)
