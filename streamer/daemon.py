"""Wiring and lifecycle: start-up checks, pipeline, inputs, status endpoint, signals, drain.

What it does: runs the start-up checks (`check.start_checks`: stream exists and is ACTIVE,
credentials accepted, shard map loaded) before binding or reading any input; builds exporter,
accumulator, retry policy and pipeline from the settings; binds the socket inputs and the
status endpoint; then feeds the pipeline until the inputs end (stdin only: at its end of file)
or SIGTERM/SIGINT (always, when there is a socket input). Stopping closes the listeners and
connections (what was already read is still processed), drains within `drain_deadline_s`,
dead-letters what is left (reason `shutdown deadline ...`) and logs the summary. A second
SIGINT abandons the drain at once, still dead-lettering what is held, and marks the run
`interrupted`.

What it leaves out: argument parsing and exit codes (`cli.py`); the pieces it wires.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog

from streamer.accumulator import Accumulator, BatchLimits
from streamer.check import start_checks
from streamer.config import Settings
from streamer.deadletter import DeadLetterFile
from streamer.export import Exporter
from streamer.ingest import Ingest
from streamer.kinesis import KinesisClient
from streamer.limits import SHARD_WRITE_RECORDS_PER_S
from streamer.metrics import Gauges, Metrics
from streamer.pipeline import Pipeline, PipelineSettings, SenderFailed
from streamer.progress import ProgressMeter, report_progress
from streamer.ratelimit import RateSettings
from streamer.retry import RetryPolicy
from streamer.shard_map import ShardMap
from streamer.sources.sockets import SocketInputs
from streamer.sources.stdin import STOP_GRACE_S, read_fd_chunks
from streamer.stats import Stats
from streamer.status import Heartbeat, StatusServer

log = structlog.get_logger("streamer")

INPUT_CLOSE_GRACE_S = 2.0
"""At shutdown, how long connections may take to process what was already read from them."""
SOCKET_READ_CHUNK_BYTES = 64 * 1024
"""Per-connection chunk: a chunk is offered whole before waiting for room, so with N
connections the buffer can overshoot its bound by at most N chunks."""
INTERRUPTED = "interrupted before the record was delivered"

ChunkSource = Callable[[], AsyncIterator[bytes]]


class Daemon:
    """One run: checks, accept input until the inputs end or `stop`, drain, summary."""

    def __init__(
        self,
        settings: Settings,
        client: KinesisClient,
        *,
        sources: dict[str, ChunkSource] | None = None,
        clock: Callable[[], float] = time.monotonic,
        install_signals: bool = True,
        progress: bool | None = None,
    ) -> None:
        """`sources` replaces stdin (tests); socket inputs come from the settings either way."""
        self.settings = settings
        self._client = client
        self.stopping = asyncio.Event()
        if sources is None:
            reads_stdin = any(i.kind == "stdin" for i in settings.inputs)
            sources = (
                {"stdin": functools.partial(read_fd_chunks, stop=self.stopping)}
                if reads_stdin
                else {}
            )
        self._sources = sources
        self._clock = clock
        self._install_signals = install_signals
        self._progress = settings.progress if progress is None else progress
        self.stats = Stats()
        self.ready = asyncio.Event()
        """Set once input is accepted (listeners bound, status endpoint up)."""
        self._abandon = asyncio.Event()
        self._signals = 0
        self.interrupted = False
        """The drain was abandoned (second SIGINT): not a clean exit."""
        self.failed = False
        """The sender died: input stopped and everything held was dead-lettered."""
        self.inputs: list[str] = []
        self.status_url: str | None = None
        self.sockets: SocketInputs | None = None

    # -- control -------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop accepting input and drain (SIGTERM, or a first SIGINT)."""
        self.stopping.set()

    def _on_pipeline_failure(self, error: str) -> None:
        """The sender or a writer died: stop at once (even with no input arriving), exit 1."""
        if not self.failed:
            self.failed = True
            log.warning("stopping: the pipeline failed (logged above)", error=error)
            self.stop()

    def interrupt(self) -> None:
        """Abandon the drain at once, dead-lettering everything held (a second SIGINT)."""
        self.interrupted = True
        self.stopping.set()
        self._abandon.set()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            log.info("signal received, draining", signal=name)
            self.stop()
        elif signum == signal.SIGINT:
            log.warning("second interrupt, abandoning the drain", signal=name)
            self.interrupt()
        else:
            log.info("signal received again, still draining", signal=name)

    # -- the run -------------------------------------------------------------------------
    async def run(self) -> Stats:
        s = self.settings
        clock = self._clock
        started = clock()
        ready = await start_checks(self._client, s, clock)
        dead = DeadLetterFile(s.dead_letter)
        metrics = None
        if s.metrics_address is not None:
            metrics = Metrics(
                self.stats, info={"destination": s.name, "stream": s.stream, "region": s.region}
            )
        pipeline = self._pipeline(ready.shard_map, dead, metrics)
        ingest = Ingest(
            exporter=Exporter(s.activation()),
            pipeline=pipeline,
            dead_letters=dead,
            stats=self.stats,
            clock=clock,
            max_line_bytes=s.line_limit,
        )
        sockets = SocketInputs(
            s.inputs,
            self._consumer(ingest),
            max_connections=s.max_connections,
            read_chunk_bytes=SOCKET_READ_CHUNK_BYTES,
        )
        self.sockets = sockets
        heartbeat = Heartbeat(clock=clock, on_tick=dead.flush)
        status: StatusServer | None = None
        background: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        try:
            async with pipeline:
                try:
                    background.append(asyncio.create_task(heartbeat.run(), name="heartbeat"))
                    self.inputs = [*self._sources, *await sockets.start()]
                    if metrics is not None and s.metrics_address is not None:
                        metrics.watch(self._gauges(pipeline, sockets, heartbeat))
                        status = StatusServer(
                            s.metrics_address,
                            metrics=metrics,
                            heartbeat=heartbeat,
                            not_ready=lambda: self._not_ready(pipeline.accumulator),
                            clock=clock,
                        )
                        self.status_url = await status.start()
                    if self._install_signals:
                        for sig in (signal.SIGTERM, signal.SIGINT):
                            loop.add_signal_handler(sig, self._on_signal, sig)
                    if self._progress:
                        background.append(self._start_progress(pipeline))
                    await self._accept(ingest, sockets, started)
                    await sockets.close(min(INPUT_CLOSE_GRACE_S, s.drain_deadline_s), self._abandon)
                    await self._drain(pipeline)
                finally:
                    if self._install_signals:
                        for sig in (signal.SIGTERM, signal.SIGINT):
                            loop.remove_signal_handler(sig)
                    for task in background:
                        task.cancel()
                    await asyncio.gather(*background, return_exceptions=True)
                    await sockets.close(0)
                    if status is not None:
                        await status.close()
        finally:
            dead.flush()
            dead.close()
        log.info("summary", **self.stats.summary(clock() - started))
        return self.stats

    def _pipeline(
        self, shard_map: ShardMap, dead: DeadLetterFile, metrics: Metrics | None
    ) -> Pipeline:
        s = self.settings
        accumulator = Accumulator(
            shard_map,
            BatchLimits(
                max_bytes=s.max_request_bytes,
                linger_s=s.linger_s,
                buffer_records=s.buffer_records,
                buffer_bytes=s.buffer_bytes,
                one_per_key=s.ordering == "strict",
            ),
            RateSettings(factor=s.shard_rate_factor),
            now=self._clock(),
        )
        policy = RetryPolicy(
            max_attempts=s.max_attempts,
            budget_s=s.record_budget_s,
            backoff_base_s=s.backoff_base_s,
            backoff_cap_s=s.backoff_cap_s,
        )
        return Pipeline(
            client=self._client,
            accumulator=accumulator,
            policy=policy,
            dead_letters=dead,
            stats=self.stats,
            settings=PipelineSettings(writers=s.writers),
            clock=self._clock,
            observe_call=metrics.observe_call if metrics is not None else None,
            on_failure=self._on_pipeline_failure,
        )

    async def _accept(self, ingest: Ingest, sockets: SocketInputs, started: float) -> None:
        """Feed the pipeline until `stop`, or until every chunk source ends when no socket
        input is configured; then cancel the chunk sources still running."""
        consume = self._consumer(ingest)
        readers = {
            asyncio.create_task(consume(name, factory()), name=f"source-{name}"): name
            for name, factory in self._sources.items()
        }
        s = self.settings
        log.info(
            "accepting input",
            destination=s.name,
            description=s.description,
            stream=s.stream,
            inputs=self.inputs,
            status=self.status_url,
            startup_s=round(self._clock() - started, 3),
        )
        self.ready.set()
        stopper = asyncio.create_task(self.stopping.wait())
        pending: set[asyncio.Task[Any]] = set(readers)
        try:
            while not self.stopping.is_set() and (pending or sockets.specs):
                done, pending = await asyncio.wait(
                    pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stopper)
                for task in done & readers.keys():
                    _log_source_end(readers[task], task)
        finally:
            stopper.cancel()
            if pending and self.stopping.is_set():
                # Stop-aware sources finish the chunk they are reading, then end by themselves.
                _, pending = await asyncio.wait(pending, timeout=STOP_GRACE_S + 0.5)
            for task in pending:
                task.cancel()
            await asyncio.gather(stopper, *pending, return_exceptions=True)

    def _consumer(self, ingest: Ingest) -> Callable[[str, AsyncIterator[bytes]], Any]:
        """`ingest.consume`, stopping the whole run if the sender has died (a socket input
        would otherwise keep accepting connections that can never be served)."""

        async def consume(source: str, chunks: AsyncIterator[bytes]) -> int:
            try:
                return await ingest.consume(source, chunks)
            except SenderFailed:
                if not self.failed:
                    self.failed = True
                    log.warning("stopping: the sender failed (logged above)", source=source)
                    self.stop()
                raise

        return consume

    async def _drain(self, pipeline: Pipeline) -> None:
        """Drain within the deadline, unless a second SIGINT comes first."""
        if self._abandon.is_set():
            pipeline.abandon(INTERRUPTED)
            return
        drain = asyncio.create_task(pipeline.close(self.settings.drain_deadline_s))
        cutter = asyncio.create_task(self._abandon.wait())
        await asyncio.wait({drain, cutter}, return_when=asyncio.FIRST_COMPLETED)
        cutter.cancel()
        if not drain.done():
            drain.cancel()
            await asyncio.wait({drain})
            pipeline.abandon(INTERRUPTED)
        elif (exc := drain.exception()) is not None:
            log.error("drain failed", error=repr(exc))
            pipeline.abandon(f"drain failed: {exc!r}")

    # -- observability -------------------------------------------------------------------
    def _not_ready(self, acc: Accumulator) -> str | None:
        if self.failed:
            return "the pipeline failed: see the error log"
        if self.stopping.is_set():
            return "shutting down: not accepting input"
        if len(acc.shard_map) == 0:
            return "shard map not loaded"
        if not acc.has_room():
            return (
                f"buffer saturated: {acc.buffered_records} records buffered, input is waiting "
                "for room"
            )
        return None

    def _gauges(self, pipeline: Pipeline, sockets: SocketInputs, heartbeat: Heartbeat) -> Gauges:
        acc = pipeline.accumulator
        clock = self._clock
        return Gauges(
            buffered_records=lambda: acc.buffered_records,
            buffered_bytes=lambda: acc.buffered_bytes,
            buffer_capacity_records=self.settings.buffer_records,
            in_flight_records=lambda: pipeline.in_flight_records,
            oldest_buffered_age_s=lambda: acc.oldest_age(clock()),
            shards=lambda: len(acc.shard_map),
            shard_map_age_s=lambda: clock() - acc.shard_map.loaded_at,
            loop_lag_s=lambda: heartbeat.lag_s,
            connections_open=lambda: sockets.open_connections,
            connections_accepted=lambda: sockets.accepted,
            connections_rejected=lambda: sockets.rejected,
            shard_rate_limits=lambda: self._rate_limits(acc),
        )

    def _rate_limits(self, acc: Accumulator) -> list[float]:
        """Each shard's current send limit in records/s; empty when limiting is off."""
        ceiling = SHARD_WRITE_RECORDS_PER_S * self.settings.shard_rate_factor
        if ceiling <= 0:
            return []
        return [acc.shard_share(shard_id) * ceiling for shard_id in acc.shard_map.shard_ids]

    def _start_progress(self, pipeline: Pipeline) -> asyncio.Task[None]:
        acc = pipeline.accumulator
        meter = ProgressMeter(self.stats, self._clock())
        return asyncio.create_task(
            report_progress(
                meter,
                interval_s=self.settings.progress_interval_s,
                clock=self._clock,
                queue=lambda: acc.buffered_records,
                in_flight=lambda: pipeline.in_flight_records,
            ),
            name="progress",
        )


def _log_source_end(name: str, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("input source failed", source=name, error=repr(exc))
    else:
        log.info("input ended", source=name, lines=task.result())


async def run(
    settings: Settings,
    client: KinesisClient,
    *,
    sources: dict[str, ChunkSource] | None = None,
    clock: Callable[[], float] = time.monotonic,
    install_signals: bool = True,
) -> Stats:
    """Run the daemon until its inputs end (or a signal), drain, and return the stats."""
    daemon = Daemon(settings, client, sources=sources, clock=clock, install_signals=install_signals)
    return await daemon.run()
