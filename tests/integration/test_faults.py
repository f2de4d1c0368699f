"""Fault injection over real HTTP: the daemon (real aiobotocore/aiohttp adapter) against the
scriptable Kinesis endpoint. One test per row of the whole-request policy table, plus partial
failures, real per-shard limits and live resharding.

Invariant checked in every test: each valid input line ends exactly once as delivered (the
endpoint saw its id) or dead-lettered with a reason; duplicates appear only after a fault where
the request may have been applied, and never more than the daemon counted as possible."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.endpoint import EndpointConfig, EndpointServer, serve_in_thread
from streamer import config
from streamer.aws import AwsKinesis
from streamer.config import aws_settings
from streamer.daemon import Daemon
from streamer.stats import Stats
from tests.support.events import dead_letters, profile

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint() -> Iterator[tuple[str, EndpointServer]]:
    with serve_in_thread(EndpointConfig(shards=4, stream="faults", keep_records=True)) as pair:
        yield pair


def _settings(url: str, tmp_path: Path, **extra: Any) -> config.Settings:
    raw: dict[str, Any] = {
        "stream": "faults",
        "region": "us-east-1",
        "endpoint_url": url,
        "access_key_id": "AKIDTEST",
        "secret_access_key": "test-secret",
        "dead_letter": str(tmp_path / "dead.ndjson"),
        "linger_ms": 0,
        "backoff_base_s": 0.001,
        "backoff_cap_s": 0.01,
        "shard_rate_factor": 0.0,
        "request_timeout_s": 2.0,
    }
    raw.update(extra)
    return config.build(raw)


def _source(
    lines: list[bytes], between: Callable[[int], None] | None = None, per_chunk: int = 200
) -> Callable[[], AsyncIterator[bytes]]:
    async def gen() -> AsyncIterator[bytes]:
        for n, start in enumerate(range(0, len(lines), per_chunk)):
            if between is not None:
                between(n)
            yield b"".join(line + b"\n" for line in lines[start : start + per_chunk])

    return gen


async def _run(
    cfg: config.Settings, lines: list[bytes], between: Callable[[int], None] | None = None
) -> Stats:
    async with AwsKinesis(aws_settings(cfg)) as client:
        return await Daemon(
            cfg, client, sources={"test": _source(lines, between)}, install_signals=False
        ).run()


def _check_invariant(
    server: EndpointServer, stats: Stats, n: int, dead: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every line delivered once or dead-lettered; duplicates only as counted."""
    s = server.stats()
    dead_ids = {d["record"]["_id"] for d in dead if d["kind"] == "delivery"}
    delivered_ids = {r["data"].split('"_id":"')[1].split('"')[0] for r in server.records()}
    assert delivered_ids | dead_ids == {f"e{i}" for i in range(n)}
    assert not delivered_ids & dead_ids or s["duplicates"] > 0
    assert stats.delivered + stats.dead_lettered_delivery == n
    assert s["unique_ids"] == len(delivered_ids)
    assert s["duplicates"] <= stats.possible_duplicates
    assert all(d["reason"] for d in dead)
    return s


N = 1200


@pytest.mark.parametrize(
    ("fault", "may_duplicate"),
    [
        pytest.param({"kind": "status", "status": 500}, False, id="http-500"),
        pytest.param({"kind": "status", "status": 503}, False, id="http-503"),
        pytest.param({"kind": "throttle"}, False, id="request-throttled"),
        pytest.param({"kind": "expired_token"}, False, id="expired-token"),
        pytest.param({"kind": "reset"}, False, id="connection-reset"),
        pytest.param({"kind": "garbage"}, False, id="malformed-answer"),
        pytest.param({"kind": "wrong_count"}, True, id="wrong-record-count"),
        pytest.param({"kind": "truncated"}, True, id="truncated-answer"),
        pytest.param({"kind": "stall", "seconds": 1.5, "accept": True}, True, id="stall-timeout"),
    ],
)
async def test_retriable_request_faults_deliver_everything(
    endpoint: tuple[str, EndpointServer], tmp_path: Path, fault: dict[str, Any], may_duplicate: bool
) -> None:
    """A retriable whole-request fault (three in a row) is retried until every record arrives."""
    url, server = endpoint
    server.script([fault, fault, fault])
    cfg = _settings(url, tmp_path, request_timeout_s=0.5)
    stats = await _run(cfg, [profile(i) for i in range(N)])
    dead = dead_letters(cfg.dead_letter)
    assert dead == []
    s = _check_invariant(server, stats, N, dead)
    assert s["unique_ids"] == N
    assert s["faults_pending"] == 0
    assert s["faults_applied"][fault["kind"]] == 3
    # each fault counted; on a loaded machine a call may also outlast the 0.5 s timeout
    assert stats.request_failures >= 3
    if may_duplicate:
        assert stats.possible_duplicates > 0
        assert s["duplicates"] > 0
    else:  # duplicates only from a call that also timed out (a loaded machine), counted as such
        assert s["duplicates"] == 0 or stats.request_failures > 3
        assert s["duplicates"] <= stats.possible_duplicates


async def test_access_denied_dead_letters_the_call(
    endpoint: tuple[str, EndpointServer], tmp_path: Path
) -> None:
    """AccessDenied is not retried: that call's records are dead-lettered, the rest delivered."""
    url, server = endpoint
    server.script([{"kind": "access_denied"}])
    cfg = _settings(url, tmp_path)
    stats = await _run(cfg, [profile(i) for i in range(N)])
    dead = dead_letters(cfg.dead_letter)
    assert dead
    assert all("AccessDeniedException" in d["reason"] for d in dead)
    s = _check_invariant(server, stats, N, dead)
    assert s["unique_ids"] == N - len(dead)


async def test_partial_failures_resubmit_only_failed(
    endpoint: tuple[str, EndpointServer], tmp_path: Path
) -> None:
    """Scripted per-record failures are resent alone; nothing is duplicated."""
    url, server = endpoint
    server.script(
        [
            {"kind": "partial", "fail": [0, 3, 5], "code": "InternalFailure"},
            {"kind": "partial", "fail": [1], "code": "ProvisionedThroughputExceededException"},
        ]
    )
    cfg = _settings(url, tmp_path)
    stats = await _run(cfg, [profile(i) for i in range(N)])
    s = _check_invariant(server, stats, N, dead_letters(cfg.dead_letter))
    assert s["unique_ids"] == N
    assert s["duplicates"] == 0
    assert stats.retried == 4
    assert stats.throttled == 1


async def test_random_partial_failures_exactly_once(tmp_path: Path) -> None:
    """At a 20% per-record failure rate every record is still delivered exactly once."""
    with serve_in_thread(
        EndpointConfig(shards=4, stream="faults", fail_rate=0.2, keep_records=True)
    ) as (url, server):
        cfg = _settings(url, tmp_path, max_attempts=30)
        stats = await _run(cfg, [profile(i) for i in range(3000)])
        s = _check_invariant(server, stats, 3000, dead_letters(cfg.dead_letter))
    assert s["unique_ids"] == 3000
    assert s["duplicates"] == 0
    assert stats.retried >= s["records_failed"]


async def test_live_resharding_loses_nothing(
    endpoint: tuple[str, EndpointServer], tmp_path: Path
) -> None:
    """Shards split and the count changes mid-stream: the map is refreshed, nothing is lost."""
    url, server = endpoint

    def reshard(chunk: int) -> None:
        if chunk == 2:
            server.reshard({"split": "shardId-000000000000"})
        if chunk == 5:
            server.reshard({"shard_count": 6})

    cfg = _settings(url, tmp_path)
    stats = await _run(cfg, [profile(i) for i in range(3000)], between=reshard)
    s = _check_invariant(server, stats, 3000, dead_letters(cfg.dead_letter))
    assert s["unique_ids"] == 3000
    assert stats.shard_map_refreshes >= 1
    open_shards = [sid for sid, count in s["shards"]["faults"].items() if count]
    assert len(open_shards) > 4  # records reached the children


async def test_real_shard_limits_with_client_rate_limiting(tmp_path: Path) -> None:
    """Against real per-shard limits, the limiter keeps throttling low and delivers everything."""
    with serve_in_thread(
        EndpointConfig(shards=2, stream="faults", shard_limits=True, keep_records=True)
    ) as (url, server):
        cfg = _settings(url, tmp_path, shard_rate_factor=1.0, max_attempts=50)
        stats = await _run(cfg, [profile(i) for i in range(3000)])
        s = _check_invariant(server, stats, 3000, dead_letters(cfg.dead_letter))
    assert s["unique_ids"] == 3000
    # Without the limiter about half of all entries are throttled (RELIABILITY.md); the measured
    # figure with it is about 0.1%. The bound here is loose because a loaded machine skews timing.
    assert stats.throttled < 0.25 * 3000
