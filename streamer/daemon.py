"""Wiring and lifecycle: start-up checks, pipeline, inputs, status endpoint, signals, drain.

What it does: runs the start-up checks (`check.start_checks`: stream exists and is ACTIVE,
credentials accepted, shard map loaded) before binding or reading any input; builds exporter,
accumulator, retry policy and pipeline from the settings; builds the inputs through the input
registry (`sources/registry.py`), starts them (binding the listeners) and the status endpoint;
then feeds the pipeline until the inputs end (stdin only: at its end of file) or SIGTERM/SIGINT
(always, when an input is endless, as a listener is). Stopping closes the inputs (each reads
what its clients had sent, see `sources/`), drains, all within `drain_deadline_s`,
dead-letters what is left (reason `shutdown deadline ...`) and logs the summary. A second
SIGINT abandons the drain at once, still dead-lettering what is held, and marks the run
`interrupted`. A spool (`spool_dir`) is replayed before any input and keeps what is left.

What it leaves out: argument parsing and exit codes (`cli.py`); the pieces it wires.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import structlog

import streamer
from streamer import config, export, record, views, wire
from streamer.accumulator import Accumulator
from streamer.check import destination, start_checks
from streamer.compression import decompressor, exporter_for
from streamer.deadletter import DeadLetterFile
from streamer.health import DestinationHealth
from streamer.ingest import Ingest
from streamer.kinesis import KinesisClient
from streamer.pipeline import Pipeline, SenderFailed
from streamer.shard_map import ShardMap
from streamer.sources import lines
from streamer.sources.base import (
    ChunkSource,
    Feed,
    Input,
    InputContext,
    SingleSourceInput,
    Source,
)
from streamer.sources.registry import build_inputs
from streamer.sources.stdin import STOP_WAIT_S
from streamer.stats import Stats
from streamer.status import Heartbeat, StatusServer

if TYPE_CHECKING:
    from streamer.metrics import Gauges, Metrics
    from streamer.spool.spool import Spool

log = structlog.get_logger("streamer")

SOCKET_READ_CHUNK_BYTES = 64 * 1024
"""Per-connection chunk: a chunk is offered whole before waiting for room, so with N
connections the buffer can overshoot its bound by at most N chunks."""
INTERRUPTED = "interrupted before the record was delivered"
DEAD_LETTER_FLUSH_S = 0.5
"""How often dead letters of bad input lines reach the file (and a failing file is retried)."""

ChunkFactory = Callable[[], AsyncIterator[bytes]]
"""Opens an injected source's chunks (tests pass these in place of stdin)."""


class Daemon:
    """One run: checks, accept input until the inputs end or `stop`, drain, summary."""

    def __init__(
        self,
        settings: config.Settings,
        client: KinesisClient,
        *,
        sources: dict[str, ChunkFactory] | None = None,
        clock: Callable[[], float] = time.monotonic,
        install_signals: bool = True,
        progress: bool | None = None,
        dead_letters: DeadLetterFile | None = None,
    ) -> None:
        """`sources` replaces stdin and `dead_letters` the settings' file (tests)."""
        self.settings = settings
        self._client = client
        self.stopping = asyncio.Event()
        self._sources = sources
        self._clock = clock
        self._install_signals = install_signals
        self._progress = settings.progress if progress is None else progress
        self.stats = Stats()
        self.health = DestinationHealth(settings.unready_after_s)
        """PutRecords outcomes, for /readyz."""
        self.ready = asyncio.Event()
        """Set once input is accepted (listeners bound, status endpoint up)."""
        self._abandon = asyncio.Event()
        self._signals = 0
        self.interrupted = False
        """The drain was abandoned (second SIGINT): not a clean exit."""
        self.failed = False
        """The sender died: input stopped and everything held was dead-lettered."""
        self.inputs: list[str] = []
        """What the inputs listen on (or their names), once started."""
        self.status_url: str | None = None
        self._running: list[Input] = []
        self._dead = dead_letters

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
        dead = self._dead = self._dead or DeadLetterFile(
            s.dead_letter, clock=clock, decode=decompressor(s.compression)
        )
        dead.open()  # before any input is read: an unusable path is a start-up error (exit 2)
        ready = await start_checks(self._client, s, clock)
        s = self.settings = dataclasses.replace(s, max_record_bytes=ready.record_limit.max_bytes)
        metrics = self._metrics()
        pipeline = self._pipeline(ready.shard_map, dead, metrics)
        ingest = Ingest(
            exporter=exporter_for(s.activation(), s.compression, s.line_limit),
            pipeline=pipeline,
            dead_letters=dead,
            stats=self.stats,
            clock=clock,
            max_line_bytes=s.line_limit,
            spool=(spool := _open_spool(s, clock)),
        )
        pipeline.subscribe(ingest.settled)
        inputs = self._running = self._build_inputs(pipeline)
        heartbeat = Heartbeat(clock=clock)
        status: StatusServer | None = None
        background: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        try:
            async with pipeline:
                try:
                    background.append(asyncio.create_task(heartbeat.run(), name="heartbeat"))
                    background.append(
                        asyncio.create_task(
                            _flush_every(dead, self.stats, DEAD_LETTER_FLUSH_S), name="flush"
                        )
                    )
                    feed = self._consumer(ingest)
                    await _restore(spool, ingest)
                    for started_input in inputs:
                        self.inputs += await started_input.start(feed)
                    if metrics is not None and s.metrics_address is not None:
                        metrics.watch(self._gauges(pipeline, heartbeat))
                        status = StatusServer(
                            s.metrics_address,
                            metrics=metrics,
                            heartbeat=heartbeat,
                            not_ready=lambda: self._not_ready(pipeline, spool),
                            clock=clock,
                        )
                        self.status_url = await status.start()
                    if self._install_signals:
                        for sig in (signal.SIGTERM, signal.SIGINT):
                            loop.add_signal_handler(sig, self._on_signal, sig)
                    if self._progress:
                        background.append(self._start_progress(pipeline))
                    await self._accept(inputs, started)
                    await self._stop_and_drain(inputs, pipeline, dead)
                finally:
                    if self._install_signals:
                        for sig in (signal.SIGTERM, signal.SIGINT):
                            loop.remove_signal_handler(sig)
                    for task in background:
                        task.cancel()
                    await asyncio.gather(*background, return_exceptions=True)
                    for each in inputs:
                        await each.close(0)
                    if status is not None:
                        await status.close()
        finally:
            await _close_spool(spool)
            dead.close()
            self.stats.undeadlettered = dead.pending
            self.failed = self.failed or dead.pending > 0  # exit 1: entries written nowhere
        log.info("summary", **self.stats.summary(clock() - started))
        return self.stats

    def _metrics(self) -> Metrics | None:
        s = self.settings
        if s.metrics_address is None:
            return None
        info = {"destination": s.name, "stream": s.stream_name, "region": s.region}
        # prometheus_client only for a run that serves metrics (about 0.05 s of CPU otherwise)
        from streamer.metrics import Metrics  # noqa: PLC0415

        return Metrics(self.stats, info=info)

    def _pipeline(
        self, shard_map: ShardMap, dead: DeadLetterFile, metrics: Metrics | None
    ) -> Pipeline:
        s = self.settings
        accumulator = Accumulator(
            shard_map, config.batch_limits(s), config.rate_settings(s), now=self._clock()
        )
        return Pipeline(
            client=self._client,
            accumulator=accumulator,
            policy=config.retry_policy(s),
            dead_letters=dead,
            stats=self.stats,
            settings=config.pipeline_settings(s),
            clock=self._clock,
            observe_call=metrics.observe_call if metrics is not None else None,
            on_failure=self._on_pipeline_failure,
            on_result=self.health.observe_result,
        )

    def _build_inputs(self, pipeline: Pipeline) -> list[Input]:
        """The inputs of the settings (the injected `sources` in place of stdin)."""
        s = self.settings
        specs = s.inputs
        injected: list[Input] = []
        if self._sources is not None:
            specs = tuple(spec for spec in specs if spec.kind != "stdin")
            injected = [
                SingleSourceInput(name, functools.partial(_open, name, factory), STOP_WAIT_S)
                for name, factory in self._sources.items()
            ]
        context = InputContext(
            stop=self.stopping,
            max_connections=s.max_connections,
            read_chunk_bytes=SOCKET_READ_CHUNK_BYTES,
            wait_for_room=pipeline.wait_for_room,
            http=config.http_settings(s),
            idle_timeout_s=s.idle_timeout_s,
            shutdown_idle_s=s.shutdown_idle_ms / 1000,
            clock=self._clock,
        )
        return [*injected, *build_inputs(specs, context)]

    async def _accept(self, inputs: list[Input], started: float) -> None:
        """Accept input until `stop`, or until every input ended when none is endless."""
        s = self.settings
        startup_s = round(self._clock() - started, 3)
        log.info(
            "accepting input",
            **destination(s),
            inputs=self.inputs,
            status=self.status_url,
            startup_s=startup_s,
            compiled_body=wire.COMPILED,  # the C body builder, or its pure twin
            compiled_scans=lines.COMPILED,  # the C line scans, or their pure twins
            compiled_hash_key=record.HASH_KEY_COMPILED,  # the C MD5 hash key, or its pure twin
            compiled_head=export.HEAD_COMPILED,  # the C head reader, or its pure twin
            compiled_modules=streamer.MODULES_COMPILED,  # the mypyc-built hot modules, or pure
        )
        self.ready.set()
        stopper = asyncio.create_task(self.stopping.wait())
        waits: set[asyncio.Task[Any]] = {stopper}
        if not any(i.endless for i in inputs):
            waits.add(asyncio.create_task(_all_ended(inputs)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    def _consumer(self, ingest: Ingest) -> Feed:
        """`ingest.consume`, stopping the whole run if the sender has died (a socket input
        would otherwise keep accepting connections that can never be served)."""

        async def consume(source: Source) -> int:
            try:
                return await ingest.consume(source)
            except SenderFailed:
                if not self.failed:
                    self.failed = True
                    log.warning("stopping: the sender failed (logged above)", source=source.name)
                    self.stop()
                raise

        return consume

    async def _stop_and_drain(
        self, inputs: list[Input], pipeline: Pipeline, dead: DeadLetterFile
    ) -> None:
        """Close the inputs (reading what clients sent), drain, write the last dead letters:
        all within the drain deadline."""
        deadline = self._clock() + self.settings.drain_deadline_s
        for each in inputs:
            await each.close(max(0.001, deadline - self._clock()), self._abandon)
        await self._drain(pipeline, max(0.001, deadline - self._clock()))
        await dead.last_tries(deadline)

    async def _drain(self, pipeline: Pipeline, timeout_s: float) -> None:
        """Drain within `timeout_s`, unless a second SIGINT comes first."""
        if self._abandon.is_set():
            pipeline.abandon(INTERRUPTED)
            return
        drain = asyncio.create_task(pipeline.close(timeout_s))
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
    def _not_ready(self, pipeline: Pipeline, spool: Spool | None) -> str | None:
        return views.not_ready(
            failed=self.failed,
            stopping=self.stopping.is_set(),
            dead=self._dead,
            destination=self.health.problem(self._clock()),
            spool=spool,
            pipeline=pipeline,
        )

    @property
    def connections(self) -> views.ConnectionCounts:
        """Connections of the running inputs (open, accepted, rejected)."""
        return views.connection_counts(self._running)

    def _gauges(self, pipeline: Pipeline, heartbeat: Heartbeat) -> Gauges:
        return views.gauges(
            pipeline,
            heartbeat,
            lambda: self._running,
            buffer_capacity_records=self.settings.buffer_records,
            clock=self._clock,
        )

    def _start_progress(self, pipeline: Pipeline) -> asyncio.Task[None]:
        return views.start_progress(
            self.stats, pipeline, interval_s=self.settings.progress_interval_s, clock=self._clock
        )


# -- the spool: its package is imported only by a run that has one (`spool_dir`) -----------
def _open_spool(settings: config.Settings, clock: Callable[[], float]) -> Spool | None:
    """The settings' spool, locked and open (None without `spool_dir`)."""
    if settings.spool_dir is None:
        return None
    from streamer.spool.spool import open_spool  # noqa: PLC0415

    return open_spool(settings, clock)


async def _restore(spool: Spool | None, ingest: Ingest) -> None:
    """Replay what the spool holds (nothing without one)."""
    if spool is not None:
        from streamer.spool.restore import restore  # noqa: PLC0415 - see above

        await restore(spool, ingest)


async def _close_spool(spool: Spool | None) -> None:
    """Sync what is left and release the directory (nothing without a spool)."""
    if spool is not None:
        await spool.close()


def _open(name: str, factory: ChunkFactory) -> Source:
    return ChunkSource(name, factory())


async def _all_ended(inputs: list[Input]) -> None:
    await asyncio.gather(*(i.ended() for i in inputs))


async def _flush_every(dead: DeadLetterFile, stats: Stats, interval_s: float) -> None:
    """Flush dead letters written outside a PutRecords call (bad input lines) periodically;
    this also retries a failing file."""
    while True:
        await asyncio.sleep(interval_s)
        dead.flush()
        stats.undeadlettered = dead.pending
