"""/readyz follows the destination: the stream deleted mid-run turns it 503 at the next call,
and it recovers by itself once calls succeed again (moto's server over HTTP)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from local_kinesis import REGION, _client, create_stream

from tests.support.events import client_event as event
from tests.support.processes import Daemon, get, send, until

pytestmark = pytest.mark.integration


async def delete_stream(url: str, name: str) -> None:
    async with _client(url) as client:
        await client.delete_stream(StreamName=name)


def test_readyz_turns_503_when_the_stream_is_deleted_and_recovers(
    moto_url: str, new_stream: Any, tmp_path: Path
) -> None:
    """Deleted stream: 503 naming it; recreated: 200 again, with no restart."""
    stream = new_stream(1)
    daemon = Daemon(
        [
            *("--stream", stream, "--region", REGION, "--endpoint-url", moto_url),
            *("--input", "tcp://127.0.0.1:0", "--metrics-address", "127.0.0.1:0"),
            *("--dead-letter", str(tmp_path / "dead.ndjson"), "--linger-ms", "0"),
            *("--shard-rate-factor", "0", "--max-attempts", "1"),
        ],
        tmp_path,
    )
    try:
        ready = daemon.wait_for("accepting input")
        (tcp,) = ready["inputs"]
        url = ready["status"] + "/readyz"
        send(tcp, event(1, 0) + b"\n")
        assert get(url) == (200, {"status": "ready"})

        asyncio.run(delete_stream(moto_url, stream))
        send(tcp, event(1, 1) + b"\n")
        _, body = until(lambda: (r := get(url))[0] == 503 and r, 20)
        assert "the stream does not exist" in body["reason"]
        assert "ResourceNotFoundException" in body["reason"]

        asyncio.run(create_stream(moto_url, stream, 1))

        def recovered() -> bool:
            send(tcp, event(1, 2) + b"\n")
            return get(url)[0] == 200

        until(recovered, 20)
    finally:
        daemon.kill()
    refresh_warnings = [e for e in daemon.events() if e.get("event") == "shard map refresh failed"]
    assert len(refresh_warnings) <= 1  # rate-limited: one line per 30 s, with a count
    dead = [orjson.loads(line) for line in (tmp_path / "dead.ndjson").read_bytes().splitlines()]
    assert dead
    assert all("ResourceNotFoundException" in e["reason"] for e in dead)
