"""`streamer check`: the daemon's start-up checks alone, reported one line per check.

What it does: with settings that already loaded and validated, opens the Kinesis client (which
finds the credentials), then runs exactly the checks `run` does before accepting input
(`daemon.start_checks`: the stream exists and is ACTIVE, the credentials are accepted, the shard
map loads), writing one short line per check. A failing check prints `FAILED` on its line and
re-raises its `StreamerError`, so the caller exits with the same code and sentence as `run`.

What it leaves out: binding the inputs or the status endpoint (a running daemon may hold them),
and sending any record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from streamer.config import Settings
from streamer.daemon import start_checks
from streamer.errors import StreamerError
from streamer.kinesis import KinesisClient

Connect = Callable[[], AbstractAsyncContextManager[KinesisClient]]


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
            f"{ready.summary.open_shards} open shards, credentials accepted",
        )
    )
    out(_line("shard map", "ok", f"{len(ready.shard_map)} shards cover the hash key space"))
    out(_line("inputs", "", ", ".join(str(i) for i in s.inputs)))
    out(_line("metrics", "", str(s.metrics_address) if s.metrics_address else "off"))
    out("all checks passed")
