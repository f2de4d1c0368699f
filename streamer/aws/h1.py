"""Keep-alive HTTP/1.1 POSTs to one origin, straight over asyncio: the signed posts' own client.

What it does: `Origin` keeps at most `limit` connections to one host and port (TLS with the
context given), reuses an idle one for up to `keepalive_s`, and `post`s a prepared head and a
body on it, one request at a time per connection. Answers are read by httptools (llhttp, the
parser Node and uvicorn use): Content-Length, chunked, or read to the close; informational 1xx
answers are skipped. A connection is kept only when the answer says so and came whole; one that
timed out, failed, was cut or sent more than its answer is closed, and one the peer is closing
is never taken again. New connections try the host's addresses as aiohttp does (happy
eyeballs: the next address 0.25 s after the last, `aiohappyeyeballs`). aiohttp's client spends
about 0.4 ms of CPU more than this on each PutRecords post of ~490 records (its request,
payload, timer and response objects, and one more copy of the body): most of a microsecond per
record.

Failures are exceptions a caller catches as OSError: `ConnectFailed` (nothing was sent: no
connection within the connect timeout or the request's, a connection the peer closed before
the request went, or a closed pool), `TimeoutError` (the request's time ran out after it was
sent), a `ConnectionError` (the connection ended before the answer did) and `BadAnswer` (not
HTTP, or too large).

What it leaves out: proxies (`poster.py` sends through aiohttp when the environment names one),
redirects (an answer like any other: never followed), compression (none is asked for), request
streaming, `Expect: 100-continue`, HTTP/2, and closing idle connections on a timer (one past
its keep-alive is closed when next met; the peer usually closes it first).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from typing import Final, cast

import aiohappyeyeballs
import httptools

MAX_ANSWER_BYTES: Final = 16 * 1024 * 1024
"""A larger answer is refused (`BadAnswer`): Kinesis answers a PutRecords of 500 records in
about 60 KiB."""


class ConnectFailed(OSError):
    """No connection could be made (refused, unresolvable, TLS refused, timed out): nothing was
    sent."""


class BadAnswer(OSError):
    """The other side did not answer in HTTP/1.x (or answered more than `MAX_ANSWER_BYTES`)."""


class _Connection(asyncio.Protocol):
    """One connection: a request is written whole, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._headers_done = False
        self._framed = False
        """The answer says where it ends (Content-Length or chunked), not at the close."""
        self.closed = False
        self.idle_until = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # uvloop's TLS: not a subclass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # spoken out of turn: never read as the next request's answer
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadAnswer("the answer switches protocols"))
        except httptools.HttpParserError as exc:
            self._fail(BadAnswer(f"the answer is not HTTP/1.1: {exc}"))

    def eof_received(self) -> bool:
        self.closed = True  # the peer is done: never reused (connection_lost follows)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._headers_done and not self._framed:  # an answer read to EOF
            waiter.set_result((self._parser.get_status_code(), b"".join(self._chunks), False))
            return
        error = ConnectionResetError("the connection closed before the answer ended")
        if exc is not None:
            error.__cause__ = exc
        waiter.set_exception(error)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # a second answer to one request: never read as the next one's

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_ANSWER_BYTES:
            self._fail(BadAnswer(f"the answer is over {MAX_ANSWER_BYTES} bytes"))
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational: the answer follows
            self._reset()
            return
        body = b"".join(self._chunks)
        self._reset()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body, self._parser.should_keep_alive()))

    # -- use -------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Open, and not closing (the peer's end of file may be read before the loss)."""
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    async def exchange(self, head: bytes, body: bytes) -> tuple[int, bytes, bool]:
        """Send one request; its answer's status, body and whether the connection is reusable."""
        if not self.usable:  # the peer closed it as it was taken
            raise ConnectFailed("the connection closed before the request was sent")
        transport = self._transport
        assert transport is not None
        self._reset()
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        transport.writelines((head, body))
        try:
            answer: tuple[int, bytes, bool] = await waiter
        finally:
            self._waiter = None
        return answer

    def close(self) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():  # never a cut answer read as a whole one
            waiter.set_exception(ConnectionResetError("the connection was closed mid-answer"))
        if self._transport is not None:
            self._transport.abort()

    def _reset(self) -> None:
        self._chunks = []
        self._size = 0
        self._headers_done = False
        self._framed = False

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.close()


class Origin:
    """A pool of keep-alive connections to one host and port."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        limit: int,
        keepalive_s: float,
        connect_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._clock = clock
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections open now (for tests and the logs)."""
        return sum(not c.closed for c in self._open)

    async def post(self, head: bytes, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """Send `head` (request line and headers, ending in an empty line) and `body`; the
        answer's status and body. Connecting and the exchange together have `timeout_s` (from
        when a connection is free: waiting for one of the `limit` is not counted); a connection
        not made within it, or within the connect timeout, is `ConnectFailed`."""
        async with self._slots:
            if self._closed:
                raise ConnectFailed("the pool is closed")
            deadline = asyncio.get_running_loop().time() + timeout_s
            connection = self._take() or await self._connect(
                min(self._connect_timeout_s, timeout_s)
            )
            try:
                async with asyncio.timeout_at(deadline):
                    status, answer, keep = await connection.exchange(head, body)
            except BaseException:
                self._drop(connection)
                raise
            if keep and not connection.closed:
                connection.idle_until = self._clock() + self._keepalive_s
                self._idle.append(connection)
            else:
                self._drop(connection)
            return status, answer

    def close(self) -> None:
        """Close every connection, idle or busy."""
        self._closed = True
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._idle.clear()

    def _take(self) -> _Connection | None:
        """The most recently used idle connection still open and within its keep-alive."""
        now = self._clock()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable and now < connection.idle_until:
                return connection
            self._drop(connection)
        return None

    async def _connect(self, timeout_s: float) -> _Connection:
        loop = asyncio.get_running_loop()
        server_hostname = self._host if self._tls is not None else None
        try:
            async with asyncio.timeout(timeout_s):
                infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
                sock = await aiohappyeyeballs.start_connection(infos, happy_eyeballs_delay=0.25)
                try:
                    _, connection = await loop.create_connection(
                        _Connection, sock=sock, ssl=self._tls, server_hostname=server_hostname
                    )
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError as exc:
            raise ConnectFailed(
                f"cannot connect to {self._host}:{self._port}: no connection within {timeout_s:g} s"
            ) from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        if self._closed:
            connection.close()
            raise ConnectFailed(f"cannot connect to {self._host}:{self._port}: the pool is closed")
        self._open.add(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)
