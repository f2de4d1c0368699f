"""HTTP/1.1 for the endpoint: one connection's requests parsed as bytes arrive, answered in order.

What it does: `HttpProtocol` parses keep-alive, pipelined and fragmented requests (Content-Length
bodies, `Expect: 100-continue`), hands each to a dispatch function without copying its body,
and writes the replies strictly in order; a stalled reply or a full write buffer pauses parsing.
A `Reply` can also reset the connection or cut its body short (scripted faults).
What it leaves out: chunked request bodies (501), TLS, HTTP/2, request timeouts, and anything
Kinesis-specific (the dispatch function answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, NamedTuple, cast

from benchmarks.endpoint.api import Body, Reply, json_reply

_REASONS: Final = {
    100: b"Continue", 200: b"OK", 400: b"Bad Request", 404: b"Not Found",
    413: b"Content Too Large", 500: b"Internal Server Error", 501: b"Not Implemented",
    503: b"Service Unavailable",
}  # fmt: skip
_MAX_HEAD_BYTES: Final = 64 * 1024

Dispatch = Callable[[str, str, "str | None", Body], Reply]


class _Head(NamedTuple):
    method: str
    path: str
    target: str | None
    body_start: int
    body_end: int
    keep_alive: bool


class HttpProtocol(asyncio.Protocol):
    """One connection: parses requests as bytes arrive and answers them strictly in order.

    A stalled reply or a full write buffer pauses parsing; what is buffered meanwhile is parsed
    once the reply is written, so pipelined requests are never reordered.
    """

    def __init__(self, dispatch: Dispatch, max_body_bytes: int) -> None:
        self._dispatch = dispatch
        self._max_body = max_body_bytes
        self._buffer = bytearray()
        self._head: _Head | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stalled = False
        self._write_paused = False
        self._closed = False
        self._replies = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._process()

    def abort(self) -> None:
        """Drop the connection now (used when the server stops)."""
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._process()

    def _process(self) -> None:
        while not (self._stalled or self._write_paused or self._closed):
            head = self._next_head()
            if head is None or len(self._buffer) < head.body_end:
                return
            self._head = None
            with memoryview(self._buffer) as view, view[head.body_start : head.body_end] as body:
                reply = self._dispatch(head.method, head.path, head.target, body)
            del self._buffer[: head.body_end]  # the views are released: no copy of the body
            if reply.delay_s > 0:
                self._stalled = True
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(reply.delay_s, self._end_stall, reply, head)
                return
            self._respond(reply, head.keep_alive)

    def _end_stall(self, reply: Reply, head: _Head) -> None:
        self._stalled = False
        self._timer = None
        if not self._closed:
            self._respond(reply, head.keep_alive)
            self._process()

    def _next_head(self) -> _Head | None:
        if self._head is not None:
            return self._head
        buffer = self._buffer
        while buffer[:2] == b"\r\n":  # stray line breaks between pipelined requests
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD_BYTES:
                self._fail(400, "request head too large")
            return None
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "malformed request line")
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            self._fail(501, "chunked request bodies are not supported")
            return None
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            self._fail(400, "bad Content-Length")
            return None
        length = int(length_text)
        if length > self._max_body:
            self._fail(413, "body too large")
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (
            parts[2] == "HTTP/1.1" or connection == "keep-alive"
        )
        path = parts[1].partition("?")[0]
        self._head = _Head(
            parts[0], path, headers.get("x-amz-target"), end + 4, end + 4 + length, keep_alive
        )
        if headers.get("expect", "").lower() == "100-continue" and len(buffer) < end + 4 + length:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return self._head

    def _fail(self, status: int, message: str) -> None:
        self._respond(json_reply({"error": message}, status), keep_alive=False)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _respond(self, reply: Reply, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        if reply.disconnect == "reset":
            self._closed = True
            transport.abort()
            return
        self._replies += 1
        body = reply.body
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            reply.status,
            _REASONS.get(reply.status, b"Unknown"),
            reply.content_type,
            len(body),
        )
        head += b"x-amzn-RequestId: 00000000-0000-4000-8000-%012x\r\n" % self._replies
        if not keep_alive or reply.disconnect == "truncate":
            head += b"Connection: close\r\n"
        if reply.disconnect == "truncate":
            body = body[: len(body) // 2]
        if len(body) > 65536:
            transport.writelines((head, b"\r\n", body))
        else:
            transport.write(head + b"\r\n" + body)
        if not keep_alive or reply.disconnect == "truncate":
            self._closed = True
            transport.close()
