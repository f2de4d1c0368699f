"""The async shell around the accumulator: the sender loop, concurrent writers and the
partial-failure loop.

What it does: `offer` puts entries into the accumulator; one sender task drains ready batches
into at most `writers` concurrent PutRecords calls (one batch in flight per shard) and sleeps
until the next batch can be ready or something wakes it. Each finished call is settled by the
pure `settle.settle`, and the pipeline carries its decision out: requeue at the head of the
shards after the retry policy's delay, dead-letter with reason and attempt history, rate
feedback, a shard-map refresh (`shard_refresh.py`). Every record's end is published as a
`Settled` event to the subscribers (the stats count them; intake can learn its lines' fate).
`close` flushes everything and waits for the buffer to empty, dead-lettering what is left at the
deadline; nothing is dropped.

What it leaves out: reading input, transforms, AWS specifics (behind `KinesisClient`), and
metrics rendering.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from streamer.accumulator import Accumulator
from streamer.aggregate import Aggregate, expand, user_count
from streamer.batcher import Batch
from streamer.deadletter import DeadLetterFile
from streamer.errors import RequestFailure
from streamer.kinesis import KinesisClient, PutResult
from streamer.limits import DEFAULT_SHARD_REFRESH_MIN_INTERVAL_S, DEFAULT_WRITERS
from streamer.record import Entry, Outcome, Settled
from streamer.retry import RetryPolicy
from streamer.settle import settle
from streamer.shard_map import ShardMap
from streamer.shard_refresh import ShardRefresher
from streamer.stats import Stats

log = structlog.get_logger("streamer.pipeline")


class SenderFailed(RuntimeError):
    """The sender loop died; no more input is accepted."""


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    writers: int = DEFAULT_WRITERS
    shard_refresh_min_interval_s: float = DEFAULT_SHARD_REFRESH_MIN_INTERVAL_S
    keep_spooled: bool = False
    """A spool holds the records: what is left when sending stops stays there for the next
    start (counted `spooled`) instead of being dead-lettered."""


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
        observe_call: Callable[[float, int], None] | None = None,
        on_failure: Callable[[str], None] | None = None,
        on_result: Callable[[float, PutResult], None] | None = None,
    ) -> None:
        """`observe_call(seconds, records)` is called after each PutRecords call; `on_failure`
        once if the sender loop or a writer dies (the daemon then stops, exit 1)."""
        self._client = client
        self._acc = accumulator
        self._policy = policy
        self._dead = dead_letters
        self._stats = stats
        self._settings = settings
        self._clock = clock
        self._uniform = (rng or random.Random()).uniform
        self._observe_call = observe_call
        self._on_failure = on_failure
        self._on_result = on_result
        """Called after each PutRecords call with (now, its result): destination health."""
        self._subscribers: list[Callable[[Settled], None]] = [stats.count_settled]
        self._refresher = ShardRefresher(
            client,
            adopt=self._adopt,
            clock=clock,
            min_interval_s=settings.shard_refresh_min_interval_s,
        )
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], Batch] = {}
        self._sender: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._failure: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> Pipeline:
        self._sender = asyncio.create_task(self._send_loop(), name="streamer-sender")
        self._sender.add_done_callback(self._sender_done)
        self._refresh_task = asyncio.create_task(
            self._refresher.run(), name="streamer-shard-refresh"
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._acc.is_empty() or self._inflight:
            # Left without close() (an error or cancellation in the caller): nothing is dropped.
            self.abandon("the daemon stopped before the record was delivered")
        tasks = [t for t in (self._sender, self._refresh_task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        # gather, not a suppressed await: a cancellation of this task itself still propagates.
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- input side ----------------------------------------------------------------------
    def offer(self, entries: list[Entry], now: float) -> None:
        """Accept entries (one chunk's worth); never blocks: call `wait_for_room` after it."""
        self._acc.add_many(entries, now)

    def shard_rate_limits(self) -> list[float]:
        """Each shard's current send limit in records/s (empty when rate limiting is off)."""
        return self._acc.shard_rate_limits()

    def shard_backgrounds(self) -> list[float]:
        """Each shard's fraction of records refused whatever the rate, as its rate limiting
        found it (0.0: none; empty when rate limiting is off)."""
        return self._acc.shard_backgrounds()

    def subscribe(self, subscriber: Callable[[Settled], None]) -> None:
        """Call `subscriber` with every `Settled` event: records delivered or dead-lettered."""
        self._subscribers.append(subscriber)

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
        return sum(user_count(b.entries) for b in self._inflight.values())

    # -- what the daemon observes --------------------------------------------------------
    @property
    def buffered_records(self) -> int:
        return self._acc.buffered_records

    @property
    def buffered_bytes(self) -> int:
        return self._acc.buffered_bytes

    def has_room(self) -> bool:
        return self._acc.has_room()

    def oldest_age(self, now: float) -> float:
        """Age in seconds of the oldest buffered record (0 when empty)."""
        return self._acc.oldest_age(now)

    @property
    def shard_map(self) -> ShardMap:
        return self._acc.shard_map

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
        """Dead-letter everything held (buffered and in flight) and stop sending; with
        `keep_spooled`, spooled records stay in the spool instead."""
        for task, batch in list(self._inflight.items()):
            if task.done():
                continue  # its call finished and _send settled every record already
            task.cancel()
            self._leave(
                batch.entries,
                f"{reason}; a PutRecords call holding it was in flight and may have written it",
            )
        self._inflight.clear()
        held = self._acc.take_all()
        if held:
            self._leave(held, reason)
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
        self._apply(batch, result, now, now - started)
        self._dead.flush()
        if self._on_result is not None:
            self._on_result(now, result)
        if self._observe_call is not None:
            self._observe_call(now - started, len(batch.entries))

    # -- settling ------------------------------------------------------------------------
    def _apply(self, batch: Batch, result: PutResult, now: float, seconds: float) -> None:
        """Carry out what `settle` decided for `batch`; log the call's one canonical line
        (debug), or a warning when the whole request failed."""
        out = settle(
            batch.entries,
            batch.shard_ids,
            result,
            now=now,
            policy=self._policy,
            uniform=self._uniform,
        )
        acc = self._acc
        stats = self._stats
        if out.requeue:
            stats.retried += user_count(out.requeue)
            acc.requeue(out.requeue, out.retry_at, pause=out.pause)
        if out.throttled_shards or out.succeeded_shards:
            acc.observe(batch, now, out.throttled_by_shard, out.unwritten)
        if out.delivered:
            delivered = out.delivered
            if acc.aggregating:  # the fate of each user record, never of an aggregate
                delivered = expand(delivered)
                stats.aggregates_sent += sum(type(e) is Aggregate for e in out.delivered)
            self._publish(Settled(Outcome.DELIVERED, entries=delivered))
        for entry, reason in out.dead:
            self._give_up([entry], reason)
        stats.possible_duplicates += out.possible_duplicates
        if out.throttled_records:
            stats.throttled += len(out.throttled_records)
            stats.throttled_by_shard.update(out.throttled_records)
        if out.request_failed:
            stats.request_failures += 1
            assert isinstance(result, RequestFailure)
            log.warning(
                "PutRecords failed",
                code=result.code,
                error=result.message,
                records=len(batch.entries),
                retrying=len(out.requeue),
                maybe_written=result.maybe_written,
            )
        else:
            log.debug(
                "PutRecords",
                shards=batch.shard_ids,
                records=len(batch.entries),
                bytes=batch.size,
                failed=out.failed,
                retrying=len(out.requeue),
                dead_lettered=len(out.dead),
                seconds=round(seconds, 4),
            )
        if out.mispredicted:
            log.info("records landed on unpredicted shards", records=out.mispredicted)
        if out.refresh_shard_map:
            self._refresher.request()

    def _leave(self, records: list[Entry], reason: str) -> None:
        """Records sending stopped for: kept in the spool if they are there, else dead-lettered
        (an aggregate as each of its user records, each kept by its own offset)."""
        entries = list(expand(records))
        if self._settings.keep_spooled:
            kept = [e for e in entries if e.offset >= 0]
            if kept:
                self._publish(Settled(Outcome.SPOOLED, entries=kept, reason=reason))
            entries = [e for e in entries if e.offset < 0]
        if entries:
            self._give_up(entries, reason)

    def _give_up(self, records: list[Entry], reason: str) -> None:
        """Dead-letter `records` (an aggregate as each of its user records) with one reason and
        announce them settled."""
        entries = expand(records)
        for entry in entries:
            self._dead.undelivered(entry, reason)
        self._publish(Settled(Outcome.DEAD_LETTERED, entries=entries, reason=reason))

    def _publish(self, event: Settled) -> None:
        for subscriber in self._subscribers:
            subscriber(event)

    def _adopt(self, new_map: ShardMap) -> None:
        """A refreshed shard map: reshard the buffer if the shards changed."""
        if new_map.shard_ids != self._acc.shard_map.shard_ids:
            self._acc.reshard(new_map, self._clock())
            log.info("shard map refreshed", shards=len(new_map))
        self._stats.shard_map_refreshes += 1
        self._wake.set()
