"""Idle socket clients against the in-process daemon with an injected clock: a connection that
completes no line for idle_timeout_s is closed (its partial line dead-lettered as cut), and at
max_connections the one longest without a complete line makes room for a new client after
10 s; senders of a line now and then are never cut."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from streamer.daemon import Daemon
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import settings
from tests.support.running import until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 10)
    try:
        yield
    finally:
        await close_all()
        daemon.stop()
        await asyncio.wait_for(task, 10)


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
OPENED: list[Conn] = []


async def connect(address: str) -> Conn:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    conn = await asyncio.open_connection(host, int(port))
    OPENED.append(conn)
    return conn


async def close_all() -> None:
    while OPENED:
        _, writer = OPENED.pop()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def closed_by_daemon(conn: Conn) -> bool:
    return await asyncio.wait_for(conn[0].read(), 10) == b""


async def write(conn: Conn, data: bytes) -> None:
    conn[1].write(data)
    await conn[1].drain()


def _received(daemon: Daemon, n: int) -> bool:
    return daemon.stats.received == n


def _daemon(tmp_path: Path, clock: Clock, **overrides: Any) -> Daemon:
    cfg = settings(tmp_path, inputs=["tcp://127.0.0.1:0"], shard_rate_factor=0, **overrides)
    return Daemon(cfg, FakeKinesis(shard_count=1), clock=clock, progress=False)


async def test_idle_connections_are_closed_line_senders_are_not(tmp_path: Path) -> None:
    """After 300 s without a complete line a silent client and a byte dripper are closed (the
    dripper's bytes dead-lettered as cut); a client sending a line every 200 s stays."""
    clock = Clock()
    daemon = _daemon(tmp_path, clock, idle_timeout_s=300)
    with capture_logs() as logged:
        async with running(daemon):
            [tcp] = daemon.inputs
            silent, drip, lines = await connect(tcp), await connect(tcp), await connect(tcp)
            await write(drip, b'{"_id"')
            await write(lines, profile(1) + b"\n")
            await until(lambda: daemon.stats.received == 1 and daemon.connections.open == 3)
            clock.now += 200
            await write(lines, profile(2) + b"\n")
            await write(drip, b": 1")
            await until(lambda: daemon.stats.received == 2)
            clock.now += 150
            assert await closed_by_daemon(silent)
            assert await closed_by_daemon(drip)
            await write(lines, profile(3) + b"\n")
            await until(lambda: daemon.stats.received == 4)
            assert daemon.connections.open == 1
    assert daemon.stats.delivered == 3
    [cut] = dead_letters(tmp_path / "dead.ndjson")
    assert cut["line"] == '{"_id": 1'
    assert cut["category"] == "cut"
    assert "no complete line for 300 s" in cut["reason"]
    assert sum(e["event"] == "idle connection closed" for e in logged) == 2
    assert daemon.stats.rejected_by_category["cut"] == 1


async def test_at_the_limit_the_longest_quiet_client_makes_room(tmp_path: Path) -> None:
    """With max_connections 3 held by two silent clients and one sending a line now and then,
    a new client is refused while they all sent a line within 10 s, and admitted after: the
    silent ones are closed for it, never the line sender."""
    clock = Clock()
    daemon = _daemon(tmp_path, clock, max_connections=3)
    with capture_logs() as logged:
        async with running(daemon):
            [tcp] = daemon.inputs
            a, b, sender = await connect(tcp), await connect(tcp), await connect(tcp)
            await write(sender, profile(0) + b"\n")
            await until(lambda: daemon.stats.received == 1 and daemon.connections.open == 3)
            clock.now += 5
            assert await closed_by_daemon(await connect(tcp)), "admitted under 10 s"
            assert daemon.connections.rejected == 1
            clock.now += 5.5
            await write(sender, profile(1) + b"\n")
            await until(lambda: daemon.stats.received == 2)
            clock.now += 0.5  # a and b quiet for 11 s, the sender for 0.5 s
            for i in (10, 20):  # each new client stays connected
                new = await connect(tcp)
                await write(new, profile(i) + b"\n")
                await until(functools.partial(_received, daemon, 3 if i == 10 else 4))
            assert await closed_by_daemon(a)
            assert await closed_by_daemon(b)
            await write(sender, profile(2) + b"\n")
            await until(lambda: daemon.stats.received == 5)
            assert daemon.connections.rejected == 1
            assert daemon.connections.open == 3
    assert daemon.stats.delivered == 5
    assert sum(e["event"] == "idle connection closed for a new client" for e in logged) == 2
