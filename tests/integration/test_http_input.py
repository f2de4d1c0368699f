"""The real daemon process with an HTTP input against moto's Kinesis server: bodies POSTed by
concurrent clients (plain and gzip, with a bearer token) are each answered 200 with their
counts, and every event of every answered body is read back from the stream exactly once."""

from __future__ import annotations

import asyncio
import gzip
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from local_kinesis import REGION, read_all

from tests.support.processes import Daemon

pytestmark = pytest.mark.integration

BODIES, PER_BODY = 24, 500


def event(body: int, i: int) -> bytes:
    return orjson.dumps(
        {
            "_id": f"b{body}-{i}",
            "segmentMembership": {
                "ups": {
                    "seg-a": {"lastQualificationTime": "2026-11-28T10:00:00Z", "status": "realized"}
                }
            },
            "identityMap": {"ecid": [{"id": f"k{body}-{i % 50}"}]},
        }
    )


async def post_all(url: str, token: str) -> list[tuple[int, dict[str, Any]]]:
    """POST every body at once: even ones gzipped, every third waiting for delivery."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    async def one(session: aiohttp.ClientSession, b: int) -> tuple[int, dict[str, Any]]:
        data = b"".join(event(b, i) + b"\n" for i in range(PER_BODY)) + b"not json\n"
        headers = dict(auth)
        if b % 2 == 0:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        target = f"{url}?wait=delivered" if b % 3 == 0 else url
        async with session.post(target, data=data, headers=headers) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(one(session, b) for b in range(BODIES)))
        async with session.post(url, data=b"{}\n") as refused:
            assert refused.status == 401
    return list(answers)


def test_http_bodies_read_back_from_the_stream(
    moto_url: str, new_stream: Any, tmp_path: Path
) -> None:
    """24 concurrent bodies of 500 events (and one bad line each) over HTTP: each answered 200
    with 500 accepted and 1 rejected (line 501); every event is in the stream exactly once;
    SIGTERM then exits 0 with the summary agreeing."""
    stream = new_stream(2)
    token = tmp_path / "token"
    token.write_text("integration-token\n")
    token.chmod(0o600)
    dead = tmp_path / "dead.ndjson"
    daemon = Daemon(
        [
            *("--stream", stream, "--region", REGION, "--endpoint-url", moto_url),
            *("--input", "http://127.0.0.1:0", "--http-token-file", str(token)),
            *("--dead-letter", str(dead), "--shard-rate-factor", "0", "--linger-ms", "5"),
        ],
        tmp_path,
    )
    try:
        ready = daemon.wait_for("accepting input")
        [address] = ready["inputs"]
        answers = asyncio.run(post_all(f"{address}/v1/records", "integration-token"))
        daemon.proc.send_signal(signal.SIGTERM)
        rc, summary = daemon.finish(60)
    finally:
        daemon.kill()
    assert rc == 0
    for b, (status, answer) in enumerate(answers):
        assert status == 200, answer
        assert (answer["accepted"], answer["rejected"]) == (PER_BODY, 1)
        assert answer["errors"][0]["line"] == PER_BODY + 1
        if b % 3 == 0:
            assert (answer["delivered"], answer["dead_lettered"]) == (PER_BODY, 0)
    assert summary["delivered"] == BODIES * PER_BODY
    assert summary["rejected"] == BODIES
    records = asyncio.run(read_all(moto_url, stream))
    seen = Counter(orjson.loads(r["data"])["_id"] for r in records)
    assert set(seen) == {f"b{b}-{i}" for b in range(BODIES) for i in range(PER_BODY)}
    assert max(seen.values()) == 1
    sources = {orjson.loads(line)["source"] for line in dead.read_bytes().splitlines()}
    assert len(sources) == BODIES, "each request is its own source"
    assert all(s.startswith(f"http:{address.removeprefix('http://')}#") for s in sources)
