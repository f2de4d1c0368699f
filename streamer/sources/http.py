"""The HTTP input: `POST /v1/records` with an NDJSON body, answered once its lines are durable.

What it does: serves every `http://` and `https://` input with aiohttp on the daemon's loop.
Each request is checked in this order: the path (404), the method (405), the bearer token when
`http_token_file` is set (401), the media type and encoding (415), shutting down or too many
requests in progress (503); then its body is read as a stream, gunzipped if it says so, and cut
off past `max_body_bytes` (413) or when broken (400). Only then does it wait, at most
`http_wait_s`, for room in the intake, and answers 503 with `Retry-After: 1` if none comes: so a
503 always means that nothing of that body was taken in. A body with room is taken in whole, as
its own source (`http:HOST:PORT#N`, the name its dead-letter entries carry), in chunks through
the intake's `feed` (framing, line numbers, dead-lettering, backpressure between chunks).

The answer is a 200 once `on_accepted` covers every line of the body, that is once they are
durable: in the spool when there is one, otherwise in the memory buffer (which survives
nothing). With `?wait=delivered` it waits until every line is settled too (bounded by the
record budget plus the drain deadline) and adds the counts; see `http_tally.py` for the body.
A body cut at shutdown (still being taken in when the input closes) is answered 503 with how
far it was taken (`accepted_through_line`): its earlier lines may still be delivered.

`close(grace)` with a grace period refuses new requests (503) and lets bodies being taken in
finish within it, cancelling the rest, but keeps serving, so `?wait=delivered` requests get
their answer after the drain; `close(0)` stops the servers.

What it leaves out: the health and metrics routes (they stay on the metrics address,
`status.py`); the pure parts (`http_request.py`, `http_tally.py`, `http_auth.py`); HTTP/2.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import structlog

import streamer.aws.quiet_aiohttp  # noqa: F401 - first: see there

# isort: split
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from streamer.errors import ConfigError
from streamer.pipeline import SenderFailed
from streamer.record import Settled
from streamer.sources.address import HostPort, InputSpec
from streamer.sources.base import Feed, InputContext, finish_or_cut
from streamer.sources.http_auth import TokenFile
from streamer.sources.http_request import BadBody, BodyDecoder, BodyTooLarge, check_media
from streamer.sources.http_tally import Tally
from streamer.sources.sockets import ListenError

log = structlog.get_logger("streamer.http")

RECORDS_PATH = "/v1/records"
READ_BYTES = 64 * 1024
"""How much of a request body is read from the connection at a time."""
SHUTDOWN_TIMEOUT_S = 2.0
"""At the final close, how long answers still being written may take."""
RETRY_AFTER = {"Retry-After": "1"}


class RequestSource:
    """One request's body as a source: its chunks, and a tally of what became of its lines."""

    __slots__ = ("_body", "_chunk", "name", "tally")
    wants_settled: ClassVar[bool] = True

    def __init__(self, name: str, body: bytes, chunk_bytes: int) -> None:
        self.name = name
        self._body = body
        self._chunk = chunk_bytes
        self.tally = Tally()

    async def chunks(self) -> AsyncIterator[bytes]:
        body, self._body = self._body, b""
        view = memoryview(body)
        for start in range(0, len(body), self._chunk):
            yield bytes(view[start : start + self._chunk])

    def on_accepted(self, through_seq: int) -> None:
        self.tally.accepted(through_seq)

    def on_settled(self, event: Settled) -> None:
        self.tally.settle(event)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def line_count(body: bytes) -> int:
    """The lines of a body as the intake numbers them: an unterminated last one counts."""
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def _error(status: int, reason: str, **extra: Any) -> web.Response:
    headers = RETRY_AFTER if status == 503 else None
    if status == 405:
        headers = {"Allow": "POST"}
    elif status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return _json(status, {"error": reason, **extra}, headers)


class HttpInputs:
    """The servers of every HTTP input and the requests they are taking in."""

    endless = True

    def __init__(self, specs: Sequence[InputSpec], context: InputContext) -> None:
        self.specs = list(specs)
        self._context = context
        self._http = context.http
        self._feed: Feed | None = None
        self._token: TokenFile | None = None
        self._runners: list[web.AppRunner] = []
        self._feeding: set[asyncio.Task[int]] = set()
        self._reading = 0
        """Requests reading or taking in a body (bounded by `max_connections`)."""
        self._in_progress = 0
        self._seq = 0
        self._closing = False
        self.addresses: list[str] = []
        self.accepted = 0
        """Requests whose body was taken in."""
        self.rejected = 0
        """Requests refused with a 503 (busy, no room, shutting down)."""
        self.responses: Counter[int] = Counter()
        """Answers by status code, for the metrics."""

    @classmethod
    def build(cls, specs: Sequence[InputSpec], context: InputContext) -> HttpInputs:
        return cls(specs, context)

    @property
    def open_connections(self) -> int:
        return self._in_progress

    async def ended(self) -> None:
        """Servers never end by themselves: the daemon stops them."""
        await asyncio.Event().wait()

    # -- start ---------------------------------------------------------------------------
    async def start(self, feed: Feed) -> list[str]:
        """Load the token and certificate, bind every HTTP input; unbind all on failure."""
        self._feed = feed
        http = self._http
        if http.token_file is not None:
            self._token = TokenFile(http.token_file)
        tls = _tls_context(http.tls_cert_file, http.tls_key_file) if self._wants_tls() else None
        try:
            for spec in self.specs:
                await self._serve(spec, tls if spec.kind == "https" else None)
        except BaseException:
            await self.close(0)
            raise
        return self.addresses

    def _wants_tls(self) -> bool:
        return any(spec.kind == "https" for spec in self.specs)

    async def _serve(self, spec: InputSpec, tls: ssl.SSLContext | None) -> None:
        try:
            family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
            sock = socket.create_server((spec.host, spec.port), family=family, backlog=128)
        except OSError as exc:
            raise ListenError(f"cannot listen on {spec}: {exc.strerror or exc}") from exc
        host, port = sock.getsockname()[:2]
        where = HostPort(host, port)
        label = f"{spec.kind}:{where}"  # the source name's stem, known before any request

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, label)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, auto_decompress=False
        )
        await runner.setup()
        self._runners.append(runner)
        await web.SockSite(runner, sock, ssl_context=tls).start()
        self.addresses.append(f"{spec.kind}://{where}")

    # -- requests ------------------------------------------------------------------------
    async def _handle(self, request: web.Request, label: str) -> web.StreamResponse:
        started = time.monotonic()
        self._in_progress += 1
        try:
            response = await self._answer(request, label)
        finally:
            self._in_progress -= 1
        self.responses[response.status] += 1
        if response.status == 503:
            self.rejected += 1
        log.debug(
            "http request",
            input=label,
            method=request.method,
            path=request.path,
            status=response.status,
            seconds=round(time.monotonic() - started, 4),
        )
        return response

    def _refusing(self) -> bool:
        return self._closing or self._context.stop.is_set()

    async def _answer(self, request: web.Request, label: str) -> web.Response:
        if request.path != RECORDS_PATH:
            return _error(404, f"no such path: POST NDJSON lines to {RECORDS_PATH}")
        if request.method != "POST":
            return _error(405, f"{request.method} is not allowed: POST NDJSON lines")
        if self._token is not None and not self._token.authorized(
            request.headers.get("Authorization")
        ):
            return _error(401, "send Authorization: Bearer TOKEN with a valid token")
        media = check_media(
            request.headers.get("Content-Type"), request.headers.get("Content-Encoding")
        )
        if media.problem is not None:
            return _error(415, media.problem)
        wait = request.query.get("wait", "")
        if wait not in ("", "accepted", "delivered"):
            return _error(400, f"wait={wait!r} is not known: use wait=delivered or leave it out")
        if self._refusing():
            return _error(503, "shutting down: not accepting records")
        if self._reading >= self._context.max_connections:
            return _error(503, "too many requests in progress: retry")
        self._reading += 1
        try:
            taken = await self._take(request, label, gzipped=media.gzipped)
        finally:
            self._reading -= 1
        if isinstance(taken, web.Response):
            return taken
        source, total = taken
        return await self._settle(source, total, delivered=wait == "delivered")

    async def _take(
        self, request: web.Request, label: str, *, gzipped: bool
    ) -> web.Response | tuple[RequestSource, int]:
        """Read the body, wait for room, take it in whole; or the answer that refuses it."""
        limit = self._http.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"the request body is over the limit of {limit} bytes")
        decoder = BodyDecoder(limit, gzipped=gzipped)
        try:
            async for data in request.content.iter_chunked(READ_BYTES):
                decoder.feed(data)
            body = decoder.finish()
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        except BadBody as exc:
            return _error(400, str(exc))
        except (OSError, HttpProcessingError) as exc:
            return _error(400, f"the request body could not be read: {exc}")
        refused = await self._wait_for_room()
        if refused is not None:
            return refused
        assert self._feed is not None
        self._seq += 1
        total = line_count(body)
        source = RequestSource(f"{label}#{self._seq}", body, self._context.read_chunk_bytes)
        del body
        tally = source.tally
        task = asyncio.create_task(self._feed(source), name=f"http-{source.name}")
        self._feeding.add(task)
        task.add_done_callback(self._feeding.discard)
        task.add_done_callback(lambda _: tally.changed.set())
        # Every line durable, or the feed ended (it may still wait for room after its last line;
        # a cancelled handler leaves the body to be taken in whole).
        await _until(tally, lambda: tally.through >= total or task.done(), None)
        if tally.through < total and task.done():
            if task.cancelled():
                return _error(
                    503,
                    "shutting down: the body was cut while being taken in; lines up to "
                    "accepted_through_line may still be delivered",
                    accepted_through_line=tally.through,
                )
            failure = task.exception()
            if isinstance(failure, SenderFailed):
                return _error(503, "the daemon is stopping after an internal failure")
            if failure is not None:
                log.error(
                    "HTTP input failed to take a body", source=source.name, error=repr(failure)
                )
                return _error(500, "internal error while taking the body in")
            total = task.result()  # the intake's own count is the one that holds
        self.accepted += 1
        return source, total

    async def _wait_for_room(self) -> web.Response | None:
        """None once the intake has room; a 503 if it stays full for `http_wait_s`."""
        room = self._context.wait_for_room
        wait_s = self._http.wait_s
        if room is not None:
            try:
                async with asyncio.timeout(wait_s):
                    await room()
            except TimeoutError:
                return _error(
                    503, f"the buffer stayed full for {wait_s:g} s: nothing of this body was taken"
                )
            except SenderFailed:
                return _error(503, "the daemon is stopping after an internal failure")
        if self._refusing():
            return _error(503, "shutting down: not accepting records")
        return None

    async def _settle(self, source: RequestSource, total: int, *, delivered: bool) -> web.Response:
        """The answer once the body's lines are durable (and settled, if asked)."""
        tally = source.tally
        if not await _until(tally, lambda: tally.through >= total, self._http.wait_s):
            return _error(
                503,
                f"the lines were not durable within {self._http.wait_s:g} s; lines up to "
                "accepted_through_line were",
                accepted_through_line=tally.through,
            )
        if delivered:
            await _until(tally, lambda: tally.settled >= total, self._http.settle_wait_s)
        return _json(200, tally.answer(total, delivered=delivered))

    # -- close ---------------------------------------------------------------------------
    async def close(self, grace_s: float, cut: asyncio.Event | None = None) -> None:
        """Refuse new requests; let bodies being taken in finish within `grace_s` (or until
        `cut`), then cut the rest. With a grace period the servers keep answering requests
        already taken in; `close(0)` stops them. Safe to call more than once."""
        self._closing = True
        late = await finish_or_cut(list(self._feeding), grace_s, cut)
        if late:
            log.warning("HTTP request bodies cut at shutdown", requests=late)
        if grace_s <= 0:
            runners, self._runners = self._runners, []
            for runner in runners:
                await runner.cleanup()


async def _until(tally: Tally, condition: Callable[[], bool], timeout_s: float | None) -> bool:
    """Wait until `condition()` holds, re-checking when the tally changes; False on timeout."""
    changed = tally.changed
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        return False
    return True


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """The server TLS context; a `ConfigError` if the files are missing or do not load."""
    if cert is None or key is None:
        raise ConfigError("an https:// input needs tls_cert_file and tls_key_file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {cert} with key {key}: {exc.strerror or exc}"
        ) from exc
    return context
