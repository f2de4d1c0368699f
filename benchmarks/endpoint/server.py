"""The endpoint bound to a socket, in the caller's event loop or in a background thread.

What it does: `EndpointServer` serves a `KinesisModel` over `HttpProtocol` on host:port, reads
and changes the model's state under a lock (so tests and the benchmark harness can call
`stats`, `reset`, `script` and `reshard` from another thread), and drops every connection when
stopped. `serve_in_thread` runs one on its own event loop in a daemon thread for tests.
What it leaves out: the model's behaviour (`model`) and the program (`cli`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.endpoint.api import Body, EndpointConfig, MiB, Reply
from benchmarks.endpoint.http11 import Dispatch, HttpProtocol
from benchmarks.endpoint.model import KinesisModel

try:
    import uvloop
except ImportError:  # pragma: no cover - the program falls back to asyncio's loop
    uvloop = None  # type: ignore[assignment]


class EndpointServer:
    """The endpoint bound to a socket; its state is read and changed thread-safely."""

    def __init__(
        self, config: EndpointConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or EndpointConfig()
        self._model = KinesisModel(self.config, clock=clock)
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._connections: set[HttpProtocol] = set()
        self._max_body = 2 * self.config.max_request_bytes + 1 * MiB

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self.config.host, self.config.port, backlog=1024
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.abort()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> EndpointServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the endpoint is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._model.stats()

    def records(self) -> list[dict[str, str]]:
        with self._lock:
            return self._model.records()

    def reset(self) -> None:
        with self._lock:
            self._model.reset()

    def script(self, actions: list[dict[str, Any]]) -> int:
        with self._lock:
            return self._model.script(actions)

    def reshard(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._model.reshard(request)

    def _dispatch(self, method: str, path: str, target: str | None, body: Body) -> Reply:
        with self._lock:
            return self._model.handle(method, path, target, body)

    def _protocol(self) -> HttpProtocol:
        protocol = _TrackedProtocol(self._dispatch, self._max_body, self._connections)
        self._connections.add(protocol)
        return protocol


class _TrackedProtocol(HttpProtocol):
    def __init__(self, dispatch: Dispatch, max_body: int, registry: set[HttpProtocol]) -> None:
        super().__init__(dispatch, max_body)
        self._registry = registry

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._registry.discard(self)


def new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop and uvloop is not None:
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


@contextlib.contextmanager
def serve_in_thread(
    config: EndpointConfig | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    use_uvloop: bool = False,
) -> Iterator[tuple[str, EndpointServer]]:
    """Run an endpoint on its own event loop in a daemon thread; yields (url, server)."""
    server = EndpointServer(config, clock=clock)
    ready = threading.Event()
    failures: list[BaseException] = []
    handles: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        await server.start()
        handles.append((asyncio.get_running_loop(), stop))
        ready.set()
        try:
            await stop.wait()
        finally:
            await server.stop()

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: new_loop(use_uvloop)) as runner:
                runner.run(serve())
        except BaseException as exc:
            failures.append(exc)
            raise
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="kinesis-endpoint", daemon=True)
    thread.start()
    ready.wait()
    if not handles:
        thread.join()
        raise RuntimeError("the endpoint failed to start") from (failures[0] if failures else None)
    try:
        yield server.url, server
    finally:
        loop, stop = handles[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join()
