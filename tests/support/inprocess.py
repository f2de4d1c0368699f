"""The daemon run in-process: test settings, a chunked source factory, one call to run it all.

What it does: builds `Settings` with test defaults (no linger, no backoff, a dead letter under the
test's tmp_path), turns lines into a source factory, and runs `daemon.run` on a given client.
What it leaves out: the client (pass a `fakes.FakeKinesis` or a real adapter) and subprocesses
(`processes`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from streamer import config
from streamer.daemon import Daemon
from streamer.kinesis import KinesisClient
from streamer.stats import Stats


def chunks_of(lines: Iterable[bytes], size: int = 64 * 1024) -> Callable[[], AsyncIterator[bytes]]:
    """A source factory yielding the lines (newline-joined) in chunks of `size` bytes."""
    data = b"".join(line + b"\n" for line in lines)

    async def gen() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return gen


def settings(tmp_path: Path, **overrides: Any) -> config.Settings:
    """Settings for stream "s" with no linger or backoff, dead letters under `tmp_path`."""
    raw: dict[str, Any] = {
        "stream": "s",
        "region": "eu-west-1",
        "dead_letter": str(tmp_path / "dead.ndjson"),
        "linger_ms": 0,
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
    """Run the daemon on `client` with `lines` as its only source until they are all handled."""
    kwargs: dict[str, Any] = {"sources": {"test": chunks_of(lines)}, "install_signals": False}
    if clock is not None:
        kwargs["clock"] = clock
    return await Daemon(cfg, client, **kwargs).run()
