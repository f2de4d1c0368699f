"""The async shell around the accumulator: the sender loop, concurrent writers and the
partial-failure loop.

What it does: `offer` puts entries into the accumulator; one sender task drains ready batches
into at most `writers` concurrent PutRecords calls (one batch in flight per shard) and sleeps
until the next batch can be ready or something wakes it. Each finished call is settled record
by record: delivered, requeued at the head of its shard after the retry policy's delay, or
dead-lettered with its reason and attempt history. A record reported on a shard other than
predicted triggers a rate-limited ListShards refresh. `close` flushes everything and waits for
the buffer to empty, dead-lettering what is left at the deadline; nothing is dropped.

What it leaves out: reading input, transforms, AWS specifics (behind `KinesisClient`), and
metrics rendering.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from streamer.accumulator import Accumulator, Batch
from streamer.deadletter import DeadLetterFile
from streamer.errors import MALFORMED_RESULT, RequestFailure, is_retriable_record_error
from streamer.kinesis import KinesisClient, PutOutcome, PutResult
from streamer.limits import DEFAULT_SHARD_REFRESH_MIN_INTERVAL_S
from streamer.record import Entry
from streamer.retry import GiveUp, RetryPolicy
from streamer.shard_map import ShardMap
from streamer.stats import Stats

log = structlog.get_logger("streamer.pipeline")

THROTTLED = "ProvisionedThroughputExceededException"


class SenderFailed(RuntimeError):
    """The sender loop died; no more input is accepted."""


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    writers: int = 16
    shard_refresh_min_interval_s: float = DEFAULT_SHARD_REFRESH_MIN_INTERVAL_S


class Pipeline:
    """Sender loop plus settle logic; use as an async context manager."""

    def __init__(
        self,
        *,
        client: KinesisClient,
        accumulator: Accumulator,
        policy: RetryPolicy,
        dead_letters: DeadLetterFile,
        stats: Stats,
        settings: PipelineSettings,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        observe_call: Callable[[float, int, int], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._acc = accumulator
        self._policy = policy
        self._dead = dead_letters
        self._stats = stats
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._observe_call = observe_call
        self._on_failure = on_failure
        """Called once if the sender loop or a writer dies (the daemon then stops, exit 1)."""
        """Called after each PutRecords call with (seconds, records sent, records failed)."""
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], Batch] = {}
        self._sender: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._refresh_wanted = asyncio.Event()
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._failure: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Pipeline:
        self._sender = asyncio.create_task(self._send_loop(), name="streamer-sender")
        self._sender.add_done_callback(self._sender_done)
        self._refresher = asyncio.create_task(self._refresh_loop(), name="streamer-shard-refresh")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._acc.is_empty() or self._inflight:
            # Left without close() (an error or cancellation in the caller): nothing is dropped.
            self.abandon("the daemon stopped before the record was delivered")
        tasks = [t for t in (self._sender, self._refresher, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        # gather, not a suppressed await: a cancellation of this task itself still propagates.
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- input side ----------------------------------------------------------------------
    @property
    def offer(self) -> Callable[[Entry, float], None]:
        """Accept one entry: `offer(entry, now)`; never blocks (call `wait_for_room` after a
        chunk of offers). This is the accumulator's own `add`, with no wrapper on the hot path."""
        return self._acc.add

    def kick(self) -> None:
        """Tell the sender new entries may be ready."""
        self._wake.set()

    async def wait_for_room(self) -> None:
        """Backpressure: return once the buffer is below its bounds.

        Raises `SenderFailed` if the sender loop died, so input stops instead of piling up."""
        while not self._acc.has_room() or self._failure is not None:
            if self._failure is not None:
                raise SenderFailed(self._failure)
            self._room.clear()
            self._wake.set()
            await self._room.wait()

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._fail(str(task.exception()), "sender loop failed")

    def _fail(self, error: str, what: str) -> None:
        """An internal failure: stop input (wait_for_room raises) and tell the daemon."""
        first = self._failure is None
        if first:
            self._failure = error
        log.error(f"{what}; input stops and held records are dead-lettered", error=error)
        self._room.set()
        if first and self._on_failure is not None:
            self._on_failure(error)

    @property
    def failure(self) -> str | None:
        """Why the pipeline failed internally, or None."""
        return self._failure

    @property
    def in_flight_records(self) -> int:
        return sum(len(b.entries) for b in self._inflight.values())

    @property
    def accumulator(self) -> Accumulator:
        return self._acc

    async def close(self, deadline_s: float) -> None:
        """Flush and wait until every record is delivered or dead-lettered, or the deadline."""
        self._closing = True
        self._acc.flush()
        self._wake.set()
        sender = self._sender
        if sender is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(sender), timeout=deadline_s)
        except TimeoutError:
            self.abandon("shutdown deadline reached before the record was delivered")
        except Exception:  # noqa: BLE001 - the sender's own failure, logged by _sender_done
            self.abandon(f"internal error in the sender: {self._failure}")
        finally:
            self._dead.flush()

    def abandon(self, reason: str) -> None:
        """Dead-letter everything held (buffered and in flight) and stop sending."""
        for task, batch in list(self._inflight.items()):
            if task.done():
                continue  # its call finished and _send settled every record already
            task.cancel()
            for entry in batch.entries:
                self._give_up(
                    entry,
                    f"{reason}; a PutRecords call holding it was in flight and may have written it",
                )
        self._inflight.clear()
        for entry in self._acc.take_all():
            self._give_up(entry, reason)
        if self._sender is not None:
            self._sender.cancel()

    # -- sender --------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        try:
            await self._send_forever()
        except Exception as exc:  # surfaced by _sender_done and close()
            raise SenderFailed(repr(exc)) from exc

    async def _send_forever(self) -> None:
        loop = asyncio.get_running_loop()
        acc = self._acc
        writers = self._settings.writers
        while True:
            self._wake.clear()
            now = self._clock()
            for batch in acc.drain(now, writers - len(self._inflight)):
                task = asyncio.create_task(self._send(batch))
                self._inflight[task] = batch
                task.add_done_callback(self._done)
            if acc.has_room():
                self._room.set()
            if self._closing and acc.is_empty() and not self._inflight:
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if len(self._inflight) < writers:
                at = acc.next_ready_at(now)
                if at is not None:
                    self._timer = loop.call_later(max(at - now, 0.0), self._wake.set)
            await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            self._fail(repr(task.exception()), "writer task failed while settling a call")

    async def _send(self, batch: Batch) -> None:
        self._stats.requests += 1
        started = self._clock()
        try:
            result: PutResult = await self._client.put_records(batch.entries)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not lose the batch
            result = RequestFailure("ClientError", repr(exc), retriable=True)
        now = self._clock()
        self._acc.release(batch)
        self._settle(batch, result, now)
        self._dead.flush()
        if self._observe_call is not None:
            failed = (
                len(batch.entries) if isinstance(result, RequestFailure) else len(result.failures)
            )
            self._observe_call(now - started, len(batch.entries), failed)

    # -- settling ------------------------------------------------------------------------
    def _settle(self, batch: Batch, result: PutResult, now: float) -> None:
        entries = batch.entries
        if isinstance(result, RequestFailure):
            if result.code == THROTTLED:
                self._acc.observe(batch, now, Counter(e.predicted_shard for e in entries))
            self._settle_request_failure(entries, result, now)
            return
        self._acc.observe(batch, now, self._settle_outcome(entries, result, now))

    def _settle_outcome(
        self, entries: list[Entry], outcome: PutOutcome, now: float
    ) -> Counter[str]:
        """Settle each record by its result; return the throttled records by predicted shard."""
        stats = self._stats
        throttled: Counter[str] = Counter()
        failures = outcome.failures
        mispredicted = 0
        retry: list[Entry] = []
        delay = 0.0
        for i, (entry, shard_id) in enumerate(zip(entries, outcome.shard_ids, strict=True)):
            if shard_id is not None:
                if shard_id != entry.predicted_shard:
                    mispredicted += 1
                continue
            code, message = failures.get(i, (MALFORMED_RESULT, "neither ShardId nor ErrorCode"))
            if code == MALFORMED_RESULT:
                stats.possible_duplicates += 1
            if code == THROTTLED:
                stats.throttled += 1
                stats.throttled_by_shard[entry.predicted_shard] += 1
                throttled[entry.predicted_shard] += 1
            wait = self._failed_attempt(
                entry,
                f"{code}: {message}" if message else code,
                code,
                retriable=is_retriable_record_error(code),
                now=now,
            )
            if wait is not None:
                retry.append(entry)
                delay = max(delay, wait)
        stats.delivered += len(entries) - len(failures)
        if retry:
            stats.retried += len(retry)
            self._acc.requeue(retry, now + delay)
        if failures:
            log.debug(
                "partial failure", records=len(entries), failed=len(failures), retry=len(retry)
            )
        if mispredicted:
            log.info("records landed on unpredicted shards", records=mispredicted)
            self._refresh_wanted.set()
        return throttled

    def _settle_request_failure(
        self, entries: list[Entry], failure: RequestFailure, now: float
    ) -> None:
        stats = self._stats
        stats.request_failures += 1
        description = failure.describe()
        retry: list[Entry] = []
        delay = 0.0
        for entry in entries:
            wait = self._failed_attempt(
                entry, description, description, retriable=failure.retriable, now=now
            )
            if wait is not None:
                retry.append(entry)
                delay = max(delay, wait)
        if retry:
            stats.retried += len(retry)
            if failure.maybe_written:
                stats.possible_duplicates += len(retry)
            self._acc.requeue(retry, now + delay, pause=True)
        log.warning(
            "PutRecords failed",
            code=failure.code,
            error=failure.message,
            records=len(entries),
            retrying=len(retry),
            maybe_written=failure.maybe_written,
        )
        if failure.code == "ResourceNotFoundException":
            self._refresh_wanted.set()

    def _failed_attempt(
        self, entry: Entry, note: str, error: str, *, retriable: bool, now: float
    ) -> float | None:
        """Record a failed attempt; return the retry delay, or None once it is dead-lettered."""
        entry.attempts += 1
        entry.note_failure(note)
        decision = self._policy.decide(
            attempts=entry.attempts,
            first_seen=entry.first_seen,
            now=now,
            error=error,
            retriable=retriable,
            uniform=self._rng.uniform,
        )
        if isinstance(decision, GiveUp):
            self._give_up(entry, decision.reason)
            return None
        return decision.delay_s

    def _give_up(self, entry: Entry, reason: str) -> None:
        self._stats.dead_lettered_delivery += 1
        self._stats.dead_letter_reasons[reason.split(";", 1)[0][:80]] += 1
        self._dead.undelivered(entry, reason)

    # -- shard map refresh ---------------------------------------------------------------
    async def _refresh_loop(self) -> None:
        interval = self._settings.shard_refresh_min_interval_s
        while True:
            await self._refresh_wanted.wait()
            self._refresh_wanted.clear()
            try:
                listing = await self._client.list_shards()
                new_map = ShardMap.from_listing(listing, loaded_at=self._clock())
            except Exception as exc:  # noqa: BLE001 - any refresh failure is retried later
                log.warning("shard map refresh failed", error=str(exc))
                self._refresh_wanted.set()
            else:
                if new_map.shard_ids != self._acc.shard_map.shard_ids:
                    self._acc.reshard(new_map, self._clock())
                    log.info("shard map refreshed", shards=len(new_map))
                self._stats.shard_map_refreshes += 1
                self._wake.set()
            await asyncio.sleep(interval)

    def request_refresh(self) -> None:
        self._refresh_wanted.set()
