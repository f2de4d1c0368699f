"""The status endpoint (`/metrics`, `/healthz`, `/readyz`) and the loop heartbeat behind it.

What it does: `Heartbeat` ticks every `interval_s` on the event loop and measures how late each
tick ran (loop lag). `StatusServer` serves, with aiohttp on the daemon's own loop (so scrapes
read the counters without locks):
- `/metrics`: the Prometheus text exposition of `Metrics`;
- `/healthz`: 200 while the heartbeat's last tick is recent (the loop is responsive), else 503;
- `/readyz`: 200 when the daemon's readiness check names no problem, else 503 with the reason.
Bodies of the health endpoints are small JSON objects with `status` and, on 503, `reason`.

What it leaves out: deciding readiness (the daemon passes a callable), TLS and authentication
(bind it to loopback or put a proxy in front), any other route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import structlog

if TYPE_CHECKING:
    from aiohttp import web

    from streamer.metrics import Metrics

from streamer.sources.address import HostPort
from streamer.sources.sockets import ListenError

log = structlog.get_logger("streamer.status")

HEARTBEAT_INTERVAL_S = 0.5
HEARTBEAT_STALE_S = 5.0
"""/healthz fails once the last heartbeat tick is older than this."""
SHUTDOWN_TIMEOUT_S = 1.0


class Heartbeat:
    """Ticks on the loop; `problem(now)` says why the loop looks unresponsive, if it does."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = HEARTBEAT_INTERVAL_S,
        stale_s: float = HEARTBEAT_STALE_S,
    ) -> None:
        self._clock = clock
        self._interval = interval_s
        self._stale = stale_s
        self.last_tick = clock()
        self.lag_s = 0.0

    def tick(self, now: float, expected: float) -> None:
        self.lag_s = max(0.0, now - expected)
        self.last_tick = now

    def problem(self, now: float) -> str | None:
        silent = now - self.last_tick
        if silent > self._stale:
            return f"event loop unresponsive: no heartbeat for {silent:.1f} s"
        return None

    async def run(self) -> None:
        while True:
            expected = self._clock() + self._interval
            await asyncio.sleep(self._interval)
            self.tick(self._clock(), expected)


# aiohttp's server side and prometheus_client (`metrics.py`) are imported where they are used:
# a run without --metrics-address does not pay for them at start-up (about 0.1 s of CPU).


def _json(status: int, body: dict[str, Any]) -> web.Response:
    from aiohttp import web  # noqa: PLC0415 - lazily, see above

    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class StatusServer:
    """aiohttp server for the three routes; `start` binds, `close` stops within a second."""

    def __init__(
        self,
        address: HostPort,
        *,
        metrics: Metrics,
        heartbeat: Heartbeat,
        not_ready: Callable[[], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address = address
        self._metrics = metrics
        self._heartbeat = heartbeat
        self._not_ready = not_ready
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        """Bind and serve; return the base URL (with the real port when 0 was asked)."""
        import streamer.aws.quiet_aiohttp  # noqa: F401, PLC0415 - first: see there

        # isort: split
        from aiohttp import web  # noqa: PLC0415 - lazily, see above

        app = web.Application()
        app.router.add_get("/metrics", self._get_metrics)
        app.router.add_get("/healthz", self._get_healthz)
        app.router.add_get("/readyz", self._get_readyz)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        self._runner = runner
        host, port = self._address
        try:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        except OSError as exc:
            await self.close()
            raise ListenError(
                f"cannot serve metrics on {self._address}: {exc.strerror or exc}"
            ) from exc
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{HostPort(bound_host, bound_port)}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _get_metrics(self, _: web.Request) -> web.Response:
        from aiohttp import web  # noqa: PLC0415 - lazily, see above

        from streamer.metrics import CONTENT_TYPE  # noqa: PLC0415 - lazily, see above

        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _get_healthz(self, _: web.Request) -> web.Response:
        problem = self._heartbeat.problem(self._clock())
        if problem is not None:
            return _json(503, {"status": "unhealthy", "reason": problem})
        return _json(200, {"status": "ok", "loop_lag_s": round(self._heartbeat.lag_s, 4)})

    async def _get_readyz(self, _: web.Request) -> web.Response:
        reason = self._not_ready()
        if reason is not None:
            return _json(503, {"status": "not ready", "reason": reason})
        return _json(200, {"status": "ready"})
