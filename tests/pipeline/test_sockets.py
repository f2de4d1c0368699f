"""Socket inputs in-process: TCP and Unix listeners feeding the real daemon wiring, against the
scripted fake client (no server): sources, disconnects, overlong lines, the connection limit,
backpressure, socket files, and stop/drain/interrupt."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from streamer.config import Settings
from streamer.daemon import Daemon
from streamer.sources.sockets import ListenError
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis, break_drain
from tests.support.inprocess import chunks_of, settings
from tests.support.running import running, until


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for Unix sockets (sun_path is limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="st-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def cfg(tmp_path: Path, *inputs: str, **overrides: Any) -> Settings:
    return settings(tmp_path, inputs=list(inputs), shard_rate_factor=0, **overrides)


async def connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if address.startswith("unix://"):
        return await asyncio.open_unix_connection(address.removeprefix("unix://"))
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def send(address: str, data: bytes) -> None:
    """Connect, send everything, close (FIN)."""
    _, writer = await connect(address)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def lines(start: int, stop: int, **kw: Any) -> bytes:
    return b"".join(profile(i, **kw) + b"\n" for i in range(start, stop))


async def test_tcp_and_unix_clients_each_a_source(tmp_path: Path, sock_dir: Path) -> None:
    """Concurrent TCP and Unix clients all arrive once; each connection is its own source."""
    fake = FakeKinesis(shard_count=4)
    path = sock_dir / "in.sock"
    daemon = Daemon(cfg(tmp_path, "tcp://127.0.0.1:0", f"unix://{path}"), fake, progress=False)
    async with running(daemon):
        tcp, unix = daemon.inputs
        assert tcp.startswith("tcp://127.0.0.1:")
        assert not tcp.endswith(":0")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        await asyncio.gather(
            *(send(tcp, lines(i * 1000, (i + 1) * 1000)) for i in range(3)),
            *(send(unix, lines(i * 1000, (i + 1) * 1000)) for i in range(3, 5)),
            send(tcp, b"not json\n"),
        )
        await until(lambda: daemon.stats.received == 5001)
    assert daemon.stats.delivered == 5000
    assert sorted(key for _, key, _ in fake.accepted) == sorted(f"ecid-{i}" for i in range(5000))
    [bad] = dead_letters(tmp_path / "dead.ndjson")
    assert bad["source"].startswith("tcp:127.0.0.1:")
    assert "#" in bad["source"]
    assert bad["line_no"] == 1
    assert not path.exists(), "the socket file is removed at exit"


async def test_disconnect_mid_line(tmp_path: Path) -> None:
    """A client cut mid-line: its partial last line is dead-lettered; a complete unterminated
    last line is delivered; the daemon keeps serving."""
    fake = FakeKinesis(shard_count=1)
    daemon = Daemon(cfg(tmp_path, "tcp://127.0.0.1:0"), fake, progress=False)
    async with running(daemon):
        [tcp] = daemon.inputs
        await send(tcp, lines(0, 3) + profile(3)[:25])
        await send(tcp, lines(10, 12) + profile(12))
        await send(tcp, lines(20, 21))
        await until(lambda: daemon.stats.received == 3 + 1 + 3 + 1)
    assert daemon.stats.delivered == 3 + 3 + 1
    [cut] = dead_letters(tmp_path / "dead.ndjson")
    assert cut["line_no"] == 4
    assert "not valid JSON" in cut["reason"]
    assert "ecid-12" in {key for _, key, _ in fake.accepted}


async def test_overlong_line_dead_lettered_connection_continues(tmp_path: Path) -> None:
    """A line over max_line_bytes is dead-lettered with its size; the next line still arrives."""
    fake = FakeKinesis(shard_count=1)
    config = cfg(tmp_path, "tcp://127.0.0.1:0", max_line_bytes=2048)
    daemon = Daemon(config, fake, progress=False)
    async with running(daemon):
        [tcp] = daemon.inputs
        await send(tcp, profile(0) + b"\n" + b"x" * 300_000 + b"\n" + profile(1) + b"\n")
        await until(lambda: daemon.stats.received == 3)
    assert daemon.stats.delivered == 2
    [long] = dead_letters(tmp_path / "dead.ndjson")
    assert long["line_no"] == 2
    assert "over the maximum line length of 2048 bytes" in long["reason"]
    assert long["line_bytes"] >= 300_000


async def test_connection_limit(tmp_path: Path) -> None:
    """Past max_connections a client is closed at once; a freed slot takes the next one."""
    fake = FakeKinesis(shard_count=1)
    daemon = Daemon(cfg(tmp_path, "tcp://127.0.0.1:0", max_connections=2), fake, progress=False)
    async with running(daemon):
        [tcp] = daemon.inputs
        first = await connect(tcp)
        second = await connect(tcp)
        await until(lambda: _open(daemon) == 2)
        third = await connect(tcp)
        assert await asyncio.wait_for(third[0].read(), 5) == b""  # closed by the daemon
        assert daemon.connections.rejected == 1
        first[1].close()
        await until(lambda: _open(daemon) == 1)
        await send(tcp, lines(0, 1))
        second[1].write(lines(1, 2))
        await second[1].drain()
        await until(lambda: daemon.stats.received == 2)
        for _, writer in (first, second, third):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    assert daemon.stats.delivered == 2


async def test_refused_connections_warned_once_per_interval(tmp_path: Path) -> None:
    """Many clients refused at the limit give one warning line (with a count), not one each."""
    fake = FakeKinesis(shard_count=1)
    daemon = Daemon(cfg(tmp_path, "tcp://127.0.0.1:0", max_connections=1), fake, progress=False)
    with capture_logs() as logged:
        async with running(daemon):
            [tcp] = daemon.inputs
            held = await connect(tcp)
            await until(lambda: _open(daemon) == 1)
            refused = [await connect(tcp) for _ in range(5)]
            for reader, _ in refused:
                assert await asyncio.wait_for(reader.read(), 5) == b""
            assert daemon.connections.rejected == 5
            for _, writer in (held, *refused):
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
    warnings = [e for e in logged if e["event"] == "connection refused"]
    assert len(warnings) == 1
    assert warnings[0]["count"] == 1


def _open(daemon: Daemon) -> int:
    return daemon.connections.open


async def test_backpressure_stops_reading_until_room(tmp_path: Path) -> None:
    """With Kinesis stalled and the buffer full, the daemon stops reading: the client blocks,
    memory stays bounded; once calls complete, everything arrives."""
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    config = cfg(tmp_path, "tcp://127.0.0.1:0", buffer_records=200, writers=1)
    daemon = Daemon(config, fake, progress=False)
    total = 40_000  # about 5 MB: more than the socket buffers and the reader buffer hold
    async with running(daemon):
        [tcp] = daemon.inputs
        _, writer = await connect(tcp)
        writer.transport.set_write_buffer_limits(high=64 * 1024)
        writer.write(lines(0, total, pad=60))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(writer.drain(), 0.5)
        assert daemon.stats.received < 5_000, "reading did not stop while the buffer was full"
        fake.block.set()  # type: ignore[union-attr]
        await asyncio.wait_for(writer.drain(), 20)
        writer.close()
        await until(lambda: daemon.stats.received == total, timeout=30)
    assert daemon.stats.delivered == total


async def test_stdin_end_does_not_stop_socket_inputs(tmp_path: Path) -> None:
    """With a socket input, the end of a chunk source does not end the run; `stop` does."""
    fake = FakeKinesis(shard_count=1)
    config = cfg(tmp_path, "stdin", "tcp://127.0.0.1:0")
    daemon = Daemon(config, fake, sources={"stdin": chunks_of([profile(0)])}, progress=False)
    async with running(daemon) as task:
        await until(lambda: daemon.stats.delivered == 1)
        await asyncio.sleep(0.05)
        assert not task.done()
        await send(daemon.inputs[1], lines(1, 2))
        await until(lambda: daemon.stats.received == 2)
    assert daemon.stats.delivered == 2


async def test_unix_socket_files(tmp_path: Path, sock_dir: Path) -> None:
    """A stale socket file is replaced; a live socket or a regular file is refused."""
    stale = sock_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))  # bound, never listening: what a killed process leaves behind
    daemon = Daemon(cfg(tmp_path, f"unix://{stale}"), FakeKinesis(1), progress=False)
    async with running(daemon):
        await send(daemon.inputs[0], lines(0, 1))
        await until(lambda: daemon.stats.received == 1)
        other = Daemon(cfg(tmp_path, f"unix://{stale}"), FakeKinesis(1), progress=False)
        with pytest.raises(ListenError, match="another process is listening"):
            await other.run()
    assert not stale.exists()
    regular = sock_dir / "file"
    regular.write_text("keep me")
    daemon = Daemon(cfg(tmp_path, f"unix://{regular}"), FakeKinesis(1), progress=False)
    with pytest.raises(ListenError, match="exists and is not a socket"):
        await daemon.run()
    assert regular.read_text() == "keep me"


async def test_port_in_use_is_a_listen_error(tmp_path: Path) -> None:
    """A TCP port already taken fails start-up with one sentence naming the input."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = Daemon(cfg(tmp_path, f"tcp://127.0.0.1:{port}"), FakeKinesis(1), progress=False)
        with pytest.raises(ListenError, match=f"cannot listen on tcp://127.0.0.1:{port}"):
            await daemon.run()


async def test_drain_deadline_dead_letters_the_rest(tmp_path: Path) -> None:
    """Stopped with Kinesis stalled, the drain gives up at the deadline: all dead-lettered."""
    fake = FakeKinesis(shard_count=2, block=asyncio.Event())
    config = cfg(tmp_path, "tcp://127.0.0.1:0", drain_deadline_s=0.2)
    daemon = Daemon(config, fake, progress=False)
    async with running(daemon):
        await send(daemon.inputs[0], lines(0, 50))
        await until(lambda: daemon.stats.received == 50)
    assert daemon.stats.dead_lettered_delivery == 50
    assert not daemon.interrupted
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert len(dead) == 50
    assert all(d["reason"].startswith("shutdown deadline") for d in dead)


async def test_second_interrupt_abandons_the_drain(tmp_path: Path) -> None:
    """`interrupt` during a stalled drain returns at once, dead-lettering what is held."""
    fake = FakeKinesis(shard_count=2, block=asyncio.Event())
    config = cfg(tmp_path, "tcp://127.0.0.1:0", drain_deadline_s=30)
    daemon = Daemon(config, fake, progress=False)
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    await send(daemon.inputs[0], lines(0, 50))
    await until(lambda: daemon.stats.received == 50)
    daemon.stop()
    await asyncio.sleep(0.1)
    assert not task.done(), "the drain waits for the stalled calls"
    daemon.interrupt()
    await asyncio.wait_for(task, 2)
    assert daemon.interrupted
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert len(dead) == 50
    assert all(d["reason"].startswith("interrupted") for d in dead)


async def test_sender_failure_stops_a_socket_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the sender dies, a socket daemon stops by itself (marked failed) instead of accepting
    connections it can never serve; what it held is dead-lettered."""
    break_drain(monkeypatch, after_calls=3)
    fake = FakeKinesis(shard_count=2)
    daemon = Daemon(cfg(tmp_path, "tcp://127.0.0.1:0", buffer_records=100), fake, progress=False)
    task = asyncio.create_task(daemon.run())
    await daemon.ready.wait()
    _, writer = await connect(daemon.inputs[0])
    writer.write(lines(0, 5000))
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    await asyncio.wait_for(task, 10)
    writer.close()
    assert daemon.failed
    assert daemon.stats.delivered + daemon.stats.dead_lettered_delivery == daemon.stats.exported
    assert dead_letters(tmp_path / "dead.ndjson")
