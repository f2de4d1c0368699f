"""A tiny HTTP server in a thread that answers every POST with a given handler.

What it does: `serve_answers(answer)` runs an aiohttp app on a free loopback port in its own
thread and yields its URL (a generator: `yield from` it in a fixture), so a test can stand in
for a Kinesis or STS endpoint that answers with a chosen error (refused credentials, a stream
that reports a larger record limit, ...).

What it leaves out: the answers themselves (each test writes its handler).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web


def serve_answers(
    answer: Callable[[web.Request], Awaitable[web.Response]],
    *,
    max_body_bytes: int = 1024**2,
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Run an aiohttp app answering every POST with `answer`, in a thread (over TLS with the
    server context `tls`); yield its URL."""
    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post("/", answer)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
