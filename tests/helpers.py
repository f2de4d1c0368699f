"""Shared test helpers: sample profile events and running the daemon in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from streamer import config
from streamer.daemon import Daemon
from streamer.kinesis import KinesisClient
from streamer.stats import Stats

SEGMENT = "7841ba61-23c1-4bb3-a495-00d3g5fe1e93"


def profile(i: int, *, key: str | None = None, status: str = "realized", pad: int = 0) -> bytes:
    """One valid profile event whose ecid (and so partition key) is `key` or unique per i."""
    event: dict[str, Any] = {
        "_id": f"e{i}",
        "person": {"email": f"user{i}@example.com"},
        "segmentMembership": {
            "ups": {SEGMENT: {"lastQualificationTime": "2026-11-28T10:00:00Z", "status": status}}
        },
        "identityMap": {"ecid": [{"id": key if key is not None else f"ecid-{i}"}]},
    }
    if pad:
        event["notes"] = "x" * pad
    return orjson.dumps(event)


def chunks_of(lines: Iterable[bytes], size: int = 64 * 1024) -> Callable[[], AsyncIterator[bytes]]:
    """A source factory yielding the lines (newline-joined) in chunks of `size` bytes."""
    data = b"".join(line + b"\n" for line in lines)

    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return gen


def settings(tmp_path: Path, **overrides: Any) -> config.Settings:
    raw: dict[str, Any] = {
        "stream": "s",
        "region": "eu-west-1",
        "dead_letter": str(tmp_path / "dead.ndjson"),
        "linger_s": 0.0,
        "backoff_base_s": 0.0,
        "backoff_cap_s": 0.001,
    }
    raw.update(overrides)
    return config.build(raw)


async def run_daemon(
    client: KinesisClient,
    cfg: config.Settings,
    lines: Iterable[bytes],
    *,
    clock: Callable[[], float] | None = None,
) -> Stats:
    kwargs: dict[str, Any] = {"sources": {"test": chunks_of(lines)}, "install_signals": False}
    if clock is not None:
        kwargs["clock"] = clock
    return await Daemon(cfg, client, **kwargs).run()


def dead_letters(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
