"""Running the daemon in-process for a test: start it, wait until it takes input, stop it.

What it does: `running(daemon)` runs `Daemon.run()` in a task until the daemon is ready (raising
its start-up failure if it fails first) and, on exit, stops it and waits for its drain;
`until(condition)` polls a condition on the loop with a bound (no fixed sleeps).

What it leaves out: building the daemon (`inprocess.settings`, the tests' own `cfg`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from streamer.daemon import Daemon


@contextlib.asynccontextmanager
async def running(daemon: Daemon, stop_timeout_s: float = 20.0) -> AsyncIterator[asyncio.Task[Any]]:
    """Run the daemon in a task until ready; stop it (and wait for it) on exit."""
    task = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if task.done():
        task.result()  # raise the start-up failure
    try:
        yield task
    finally:
        daemon.stop()
        await asyncio.wait_for(asyncio.shield(task), stop_timeout_s)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once `condition()` holds; TimeoutError after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)
