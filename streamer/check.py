"""The start-up checks, and `streamer check`, which runs them alone as a report.

What it does: `start_checks` is what `run` does before binding or reading any input: the stream
exists and is ACTIVE, the credentials are accepted, the record limit agrees with the stream's
(`destination.record_limit`), the shard map loads (each failure a `StreamerError` with its exit
code), and it logs the start-up line with the destination's name and description, the stream's
mode and the record limit. `check`, with settings already loaded and validated, opens the
Kinesis client (which finds the credentials), runs `start_checks` and writes one short line per
check, then opens the dead-letter file as `run` does (created 0600 or opened for append); a
failing check prints `FAILED` on its line and re-raises, so the caller exits with the same code
and sentence as `run`.

What it leaves out: binding the inputs or the status endpoint (a running daemon may hold them),
and sending any record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import structlog

from streamer.config import Settings
from streamer.deadletter import DeadLetterFile
from streamer.destination import RecordLimit, record_limit
from streamer.errors import StreamerError, StreamNotActiveError
from streamer.kinesis import KinesisClient, StreamSummary
from streamer.shard_map import ShardMap, ShardMapError

log = structlog.get_logger("streamer")

Connect = Callable[[], AbstractAsyncContextManager[KinesisClient]]


@dataclass(frozen=True, slots=True)
class StreamReady:
    """What the start-up checks found."""

    summary: StreamSummary
    shard_map: ShardMap
    record_limit: RecordLimit


async def start_checks(
    client: KinesisClient, settings: Settings, clock: Callable[[], float]
) -> StreamReady:
    """Stream exists and is ACTIVE, credentials work, the record limit fits the stream's, shard
    map loads; raises StreamerError."""
    summary = await client.describe_stream()
    limit = record_limit(
        settings.max_record_bytes,
        summary.max_record_kib,
        max_request_bytes=settings.max_request_bytes,
        buffer_bytes=settings.buffer_bytes,
    )
    listing = await client.list_shards()
    try:
        shard_map = ShardMap.from_listing(listing, loaded_at=clock())
    except ShardMapError as exc:
        raise StreamNotActiveError(f"stream {settings.stream_name!r}: {exc}") from exc
    log.info(
        "stream ready",
        **destination(settings),
        status=summary.status,
        mode=summary.mode or "unreported",
        shards=len(shard_map),
        max_record_bytes=limit.max_bytes,
        record_limit_from=limit.source,
        stream_max_record_kib=summary.max_record_kib,
    )
    return StreamReady(summary, shard_map, limit)


def destination(settings: Settings) -> dict[str, str]:
    """The fields that name the destination in the start-up log lines."""
    return {
        "destination": settings.name,
        "description": settings.description,
        "stream": settings.stream_name,
    }


def _line(name: str, verdict: str, detail: str = "") -> str:
    return f"{name:<12} {verdict:<6} {detail}".rstrip()


async def check(
    settings: Settings, config_path: Path | None, connect: Connect, out: Callable[[str], None]
) -> None:
    """Run the start-up checks, reporting each through `out`; raise on the first failure."""
    s = settings
    out(_line("config", "ok", str(config_path) if config_path else "(flags only)"))
    destination = f"{s.name}: {s.description}" if s.description else s.name
    out(_line("destination", "", destination))
    stage = "credentials"
    try:
        async with connect() as client:
            out(_line("credentials", "ok", "found"))
            stage = "stream"
            ready = await start_checks(client, s, time.monotonic)
    except StreamerError:
        out(_line(stage, "FAILED"))
        raise
    where = f"{s.region}" + (f" at {s.endpoint_url}" if s.endpoint_url else "")
    out(
        _line(
            "stream",
            "ok",
            f"{ready.summary.name} in {where}: {ready.summary.status}, "
            f"{ready.summary.open_shards} open shards, "
            f"{ready.summary.mode or 'mode unreported'}, credentials accepted",
        )
    )
    limit = ready.record_limit
    out(_line("records", "ok", f"up to {limit.max_bytes} bytes each ({limit.source})"))
    out(_line("shard map", "ok", f"{len(ready.shard_map)} shards cover the hash key space"))
    out(_line("inputs", "", ", ".join(str(i) for i in s.inputs)))
    out(_line("metrics", "", str(s.metrics_address) if s.metrics_address else "off"))
    dead = DeadLetterFile(s.dead_letter)
    try:
        dead.open()
    except StreamerError:
        out(_line("dead letter", "FAILED", str(s.dead_letter)))
        raise
    dead.close()
    out(_line("dead letter", "ok", f"{s.dead_letter} (appended to; created 0600)"))
    out("all checks passed")
