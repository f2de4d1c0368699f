"""Wiring: start-up checks, the pipeline, the input sources, signals, drain and the summary.

What it does: validates the stream (exists, ACTIVE, credentials accepted) and loads the shard
map before reading any input; builds exporter, accumulator, retry policy and pipeline from the
settings; feeds them from stdin until end of input (or SIGTERM/SIGINT), then drains within the
deadline and returns the run's statistics. A second SIGINT abandons the drain at once, still
dead-lettering what is held.

What it leaves out: argument parsing and exit codes (`cli.py`); the pieces it wires.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog

from streamer.accumulator import Accumulator, BatchLimits
from streamer.config import Settings
from streamer.deadletter import DeadLetterFile
from streamer.errors import StreamNotActiveError
from streamer.export import Exporter
from streamer.ingest import Ingest
from streamer.kinesis import KinesisClient
from streamer.pipeline import Pipeline, PipelineSettings
from streamer.ratelimit import RateSettings
from streamer.retry import RetryPolicy
from streamer.shard_map import ShardMap, ShardMapError
from streamer.sources.stdin import read_fd_chunks
from streamer.stats import Stats

log = structlog.get_logger("streamer")


async def start_checks(
    client: KinesisClient, settings: Settings, clock: Callable[[], float]
) -> ShardMap:
    """Stream exists and is ACTIVE, credentials work, shard map loads; raises StreamerError."""
    summary = await client.describe_stream()
    listing = await client.list_shards()
    try:
        shard_map = ShardMap.from_listing(listing, loaded_at=clock())
    except ShardMapError as exc:
        raise StreamNotActiveError(f"stream {settings.stream!r}: {exc}") from exc
    log.info(
        "stream ready",
        destination=settings.name,
        description=settings.description,
        stream=summary.name,
        status=summary.status,
        shards=len(shard_map),
    )
    return shard_map


async def run(
    settings: Settings,
    client: KinesisClient,
    *,
    sources: dict[str, Callable[[], AsyncIterator[bytes]]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    install_signals: bool = True,
) -> Stats:
    """Run the daemon until its sources end (or a signal), drain, and return the stats."""
    started = clock()
    shard_map = await start_checks(client, settings, clock)
    stats = Stats()
    dead = DeadLetterFile(settings.dead_letter)
    accumulator = Accumulator(
        shard_map,
        BatchLimits(
            max_bytes=settings.max_request_bytes,
            linger_s=settings.linger_s,
            buffer_records=settings.buffer_records,
            buffer_bytes=settings.buffer_bytes,
            one_per_key=settings.ordering == "strict",
        ),
        RateSettings(factor=settings.shard_rate_factor),
        now=clock(),
    )
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        budget_s=settings.record_budget_s,
        backoff_base_s=settings.backoff_base_s,
        backoff_cap_s=settings.backoff_cap_s,
    )
    if sources is None:
        sources = {"stdin": read_fd_chunks}
    pipeline = Pipeline(
        client=client,
        accumulator=accumulator,
        policy=policy,
        dead_letters=dead,
        stats=stats,
        settings=PipelineSettings(writers=settings.writers),
        clock=clock,
    )
    ingest = Ingest(
        exporter=Exporter(settings.activation()),
        pipeline=pipeline,
        dead_letters=dead,
        stats=stats,
        clock=clock,
        max_line_bytes=settings.line_limit,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    interrupts = 0

    def on_signal(signum: int) -> None:
        nonlocal interrupts
        interrupts += 1
        log.info("signal received, draining", signal=signal.Signals(signum).name)
        stop.set()
        if interrupts > 1 and signum == signal.SIGINT:
            drain_task.cancel()

    drain_task: asyncio.Task[Any]
    try:
        async with pipeline:
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, on_signal, sig)
            readers = [
                asyncio.create_task(ingest.consume(name, factory()), name=f"source-{name}")
                for name, factory in sources.items()
            ]
            stopper = asyncio.create_task(stop.wait())
            pending: set[asyncio.Task[Any]] = set(readers)
            while pending and not stop.is_set():
                _, pending = await asyncio.wait(
                    pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stopper)
            for task in (*readers, stopper):
                task.cancel()
            for name, outcome in zip(
                sources, await asyncio.gather(*readers, return_exceptions=True), strict=True
            ):
                if isinstance(outcome, Exception):
                    log.error("input source failed", source=name, error=repr(outcome))
            drain_task = asyncio.create_task(pipeline.close(settings.drain_deadline_s))
            try:
                await drain_task
            except asyncio.CancelledError:
                pipeline.abandon("interrupted before the record was delivered")
    finally:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        dead.flush()
        dead.close()
    log.info("summary", **stats.summary(clock() - started))
    return stats
