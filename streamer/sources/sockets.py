"""Socket inputs: TCP and Unix-domain listeners whose connections each feed the ingest loop.

What it does: binds every `tcp://` and `unix://` input before any input is accepted (a bind
failure is a one-sentence `ListenError`), accepts many concurrent connections and hands each one,
as a source named like `tcp:127.0.0.1:5555#7`, to the intake's `feed` coroutine (the ingest
loop: framing, line numbers, dead-lettering, backpressure). One `SocketInputs` serves every
socket input (the `tcp` and `unix` rows of the input registry), so they share one connection
limit. Reading is pull-based: a connection
is read only when its consumer asks for the next chunk, and a stream reader pauses the socket
once `STREAM_BUFFER_BYTES` * 2 are buffered, so while the pipeline has no room the kernel
buffers fill and the clients block. A disconnect (even mid-line) ends only that connection; its
unterminated last line is handled by the consumer like any last line. A connection that
completes no line for `idle_timeout_s` is closed (`sweep`, decided by `idle.py`; time the daemon
was not reading it does not count). At `max_connections`, the connection longest without a
complete line is closed to admit a new one if that is over `EVICT_IDLE_MIN_S`; otherwise the
new one is closed at once, with one warning per interval (and the count).
Unix sockets are created owner-only (0600); a stale socket file is replaced, a live one or a
non-socket file is an error; the file is removed at close if it is still ours.

`close` stops the listeners and reads each open connection until its end of file or until
nothing has arrived for `shutdown_idle_s`, within a grace period (the drain deadline), so what a
client sent before the signal is delivered. A connection the daemon ends (idle, evicted,
shutdown) is marked `cut`, so its unterminated last line is dead-lettered with that reason, not
read as a line. At the end of the grace what is left is closed, then cancelled.

What it leaves out: standard input (`stdin.py`), TLS and authentication (put a proxy in front),
answering clients (the protocol is one-way: lines in, nothing out).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import structlog

from streamer.errors import StreamerError
from streamer.limits import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_SHUTDOWN_IDLE_MS,
    READ_CHUNK_BYTES,
    REPEATED_WARNING_INTERVAL_S,
)
from streamer.logthrottle import Every
from streamer.sources import idle
from streamer.sources.address import InputSpec
from streamer.sources.base import CUT_AT_SHUTDOWN, CuttableSource, Feed, InputContext, finish_or_cut

log = structlog.get_logger("streamer.sockets")

STREAM_BUFFER_BYTES = 64 * 1024
"""Per-connection read buffer bound; reading from the socket pauses at twice this."""
MIN_BACKLOG = 128


END_GRACE_S = 1.0
"""After the grace, how long closed connections get to process what they hold before they are
cancelled."""


class ListenError(StreamerError):
    """A socket input could not be bound."""


@dataclass(slots=True, eq=False)
class _Conn:
    writer: asyncio.StreamWriter
    source: CuttableSource
    quiet: idle.Quiet


class SocketInputs:
    """The listeners for every socket input and their open connections."""

    endless = True

    def __init__(
        self,
        specs: Sequence[InputSpec],
        *,
        max_connections: int,
        read_chunk_bytes: int = READ_CHUNK_BYTES,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        shutdown_idle_s: float = DEFAULT_SHUTDOWN_IDLE_MS / 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.specs = [s for s in specs if s.is_socket]
        self._feed: Feed | None = None
        self._max = max_connections
        self._chunk = read_chunk_bytes
        self._idle_s = idle_timeout_s
        self._shutdown_idle_s = shutdown_idle_s
        self._clock = clock
        self._sweeper: asyncio.Task[None] | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._unix_files: list[tuple[str, int]] = []
        self._conns: dict[asyncio.Task[object], _Conn] = {}
        self._seq = 0
        self._closing = False
        self.addresses: list[str] = []
        """Bound listeners, e.g. `tcp://127.0.0.1:40123` (the real port when 0 was asked)."""
        self.accepted = 0
        self.rejected = 0
        self._refused_warning = Every(REPEATED_WARNING_INTERVAL_S)
        """One `connection refused` line per interval, with the count since the last."""

    @classmethod
    def build(cls, specs: Sequence[InputSpec], context: InputContext) -> SocketInputs:
        return cls(
            specs,
            max_connections=context.max_connections,
            read_chunk_bytes=context.read_chunk_bytes,
            idle_timeout_s=context.idle_timeout_s,
            shutdown_idle_s=context.shutdown_idle_s,
            clock=context.clock,
        )

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    async def ended(self) -> None:
        """Listeners never end by themselves: the daemon stops them."""
        await asyncio.Event().wait()

    # -- start ---------------------------------------------------------------------------
    async def start(self, feed: Feed) -> list[str]:
        """Bind every socket input; raise `ListenError` (after unbinding the rest) on failure."""
        self._feed = feed
        try:
            for spec in self.specs:
                if spec.kind == "tcp":
                    await self._listen_tcp(spec)
                else:
                    await self._listen_unix(spec)
        except BaseException:
            await self.close(0)
            raise
        self._sweeper = asyncio.create_task(self._sweep_every(), name="idle-sweeper")
        return self.addresses

    async def _sweep_every(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._idle_s / 4))
            self.sweep()

    def sweep(self) -> list[str]:
        """Close the connections that completed no line for the idle timeout; return them."""
        now = self._clock()
        quiet = {task: conn.quiet for task, conn in self._conns.items()}
        closed = []
        for task in idle.expired(quiet, now, self._idle_s):
            conn = self._conns[task]
            reason = f"connection closed: no complete line for {self._idle_s:g} s"
            log.info("idle connection closed", source=conn.source.name, idle_s=self._idle_s)
            self._end(conn, reason)
            closed.append(conn.source.name)
        return closed

    def _end(self, conn: _Conn, reason: str) -> None:
        """End a connection from our side: its unterminated last line is dead-lettered."""
        conn.quiet.ending = True
        conn.source.cut = reason
        conn.writer.transport.abort()  # the reader sees what it holds, then end of file

    def _evict(self) -> bool:
        """At the limit: close the connection longest without a complete line, if over 10 s."""
        now = self._clock()
        victim = idle.evict({task: conn.quiet for task, conn in self._conns.items()}, now)
        if victim is None:
            return False
        conn = self._conns[victim]
        quiet_s = round(now - conn.quiet.last_line_at, 1)
        log.info(
            "idle connection closed for a new client", source=conn.source.name, quiet_s=quiet_s
        )
        self._end(conn, f"connection closed for a new client: no complete line for {quiet_s} s")
        return True

    async def _listen_tcp(self, spec: InputSpec) -> None:
        try:
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, label),
                spec.host,
                spec.port,
                limit=STREAM_BUFFER_BYTES,
                backlog=max(MIN_BACKLOG, self._max),
                reuse_address=True,
            )
        except OSError as exc:
            raise ListenError(f"cannot listen on {spec}: {exc.strerror or exc}") from exc
        self._servers.append(server)
        # `label` is bound before any connection can be served: no await since the bind.
        host, port = server.sockets[0].getsockname()[:2]
        label = f"tcp:{host}:{port}" if ":" not in host else f"tcp:[{host}]:{port}"
        self.addresses.append(f"tcp://{label[4:]}")

    async def _listen_unix(self, spec: InputSpec) -> None:
        label = f"unix:{spec.path}"
        try:
            sock, inode = _bind_unix(spec.path)
        except OSError as exc:
            raise ListenError(f"cannot listen on {spec}: {exc.strerror or exc}") from exc
        self._unix_files.append((spec.path, inode))
        server = await asyncio.start_unix_server(
            lambda r, w: self._serve(r, w, label),
            sock=sock,
            limit=STREAM_BUFFER_BYTES,
            backlog=max(MIN_BACKLOG, self._max),
        )
        self._servers.append(server)
        self.addresses.append(str(spec))

    # -- connections ---------------------------------------------------------------------
    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, label: str
    ) -> None:
        full = len([c for c in self._conns.values() if not c.quiet.ending]) >= self._max
        if self._closing or (full and not self._evict()):
            self.rejected += 1
            count = self._refused_warning.due(time.monotonic())
            if count is not None:
                log.warning(
                    "connection refused",
                    input=label,
                    reason="shutting down" if self._closing else "connection limit reached",
                    limit=self._max,
                    count=count,
                )
            writer.transport.abort()
            return
        self._seq += 1
        source = f"{label}#{self._seq}"
        task = asyncio.current_task()
        assert task is not None
        quiet = idle.Quiet(last_line_at=self._clock())
        conn = self._conns[task] = _Conn(
            writer,
            CuttableSource(
                source, lambda _: _chunks(reader, self._chunk, source, quiet, self._clock)
            ),
            quiet,
        )
        self.accepted += 1
        log.debug("connection opened", source=source, open=len(self._conns))
        lines: int | None = None
        try:
            assert self._feed is not None
            lines = await self._feed(conn.source)
        except Exception as exc:  # one bad connection must not stop the daemon
            log.exception("input connection failed", source=source, error=repr(exc))
        finally:
            del self._conns[task]
            writer.transport.abort()
            log.debug("connection closed", source=source, lines=lines, open=len(self._conns))

    # -- close ---------------------------------------------------------------------------
    async def close(self, grace_s: float, cut: asyncio.Event | None = None) -> None:
        """Stop listening; read each connection to its end or until it is quiet for the
        shutdown idle time, within `grace_s` (or until `cut` is set); then close what is left,
        and cancel it after `END_GRACE_S`. Safe to call more than once."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for server in self._servers:
            server.close()
        conns = list(self._conns)
        if grace_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace_s):
                    await self._read_out(cut)
        for task in conns:
            if not task.done() and (conn := self._conns.get(task)) is not None:
                self._end(conn, CUT_AT_SHUTDOWN)
        late = await finish_or_cut(conns, min(END_GRACE_S, grace_s), cut)
        if late:
            log.warning("connections cut at shutdown", connections=late)
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=1.0)
        self._servers.clear()
        for path, inode in self._unix_files:
            _remove_if_ours(path, inode)
        self._unix_files.clear()

    async def _read_out(self, cut: asyncio.Event | None) -> None:
        """Until every connection ended (or `cut`): end those quiet for the shutdown idle time."""
        tick = self._shutdown_idle_s / 4
        while self._conns and not (cut is not None and cut.is_set()):
            quiet = {task: conn.quiet for task, conn in self._conns.items()}
            for task in idle.shutdown_quiet(quiet, self._clock(), self._shutdown_idle_s):
                self._end(self._conns[task], CUT_AT_SHUTDOWN)
            await asyncio.wait(list(self._conns), timeout=tick)


async def _chunks(
    reader: asyncio.StreamReader,
    size: int,
    source: str,
    quiet: idle.Quiet,
    clock: Callable[[], float],
) -> AsyncIterator[bytes]:
    """The connection's bytes as chunks until EOF; a reset ends it like EOF (with a warning).
    Keeps `quiet` up to date: when a line last completed, whether a read is waiting."""
    while True:
        quiet.waiting_since = clock()
        try:
            chunk = await reader.read(size)
        except OSError as exc:
            log.warning("connection reset", source=source, error=str(exc))
            return
        finally:
            quiet.waiting_since = None
        if not chunk:
            return
        handed = clock()
        if b"\n" in chunk:
            quiet.last_line_at = handed
        yield chunk
        quiet.last_line_at += clock() - handed  # time not read (backpressure) is not quiet


def _bind_unix(path: str) -> tuple[socket.socket, int]:
    """A bound, owner-only Unix stream socket at `path`, and the socket file's inode."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise ListenError(
                f"cannot listen on unix://{path}: the file exists and is not a socket"
            )
        if _is_live(path):
            raise ListenError(f"cannot listen on unix://{path}: another process is listening on it")
        os.unlink(path)  # stale: left by a process that did not exit cleanly
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.setblocking(False)
    return sock, os.stat(path).st_ino


def _is_live(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
        return True


def _remove_if_ours(path: str, inode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
