"""The shard-map refresh loop: reload the shard map when asked, at most once per interval.

What it does: waits until `request()` is called (a record landed on a shard other than predicted,
or the stream was reported missing), lists the shards through the `KinesisClient`, builds a new
`ShardMap` and hands it to `adopt`; a failed listing is retried after the interval and logged
at most once per `REPEATED_WARNING_INTERVAL_S`, with the count of failures since the last line.

What it leaves out: what adopting a map means (the pipeline reshards its buffer), and the map
itself (`shard_map.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from streamer.kinesis import KinesisClient
from streamer.limits import REPEATED_WARNING_INTERVAL_S
from streamer.logthrottle import Every
from streamer.shard_map import ShardMap

log = structlog.get_logger("streamer.shard_refresh")


class ShardRefresher:
    """Run `run()` as a task; call `request()` to ask for a refresh."""

    def __init__(
        self,
        client: KinesisClient,
        *,
        adopt: Callable[[ShardMap], None],
        clock: Callable[[], float],
        min_interval_s: float,
    ) -> None:
        self._client = client
        self._adopt = adopt
        self._clock = clock
        self._interval = min_interval_s
        self._wanted = asyncio.Event()
        self._warning = Every(REPEATED_WARNING_INTERVAL_S)

    def request(self) -> None:
        self._wanted.set()

    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                listing = await self._client.list_shards()
                new_map = ShardMap.from_listing(listing, loaded_at=self._clock())
            except Exception as exc:  # noqa: BLE001 - any refresh failure is retried later
                count = self._warning.due(self._clock())
                if count is not None:
                    log.warning("shard map refresh failed", error=str(exc), count=count)
                self._wanted.set()
            else:
                self._adopt(new_map)
            await asyncio.sleep(self._interval)
