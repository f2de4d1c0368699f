"""The HTTP input in-process: the real daemon wiring against the scripted fake client, a real
aiohttp client over loopback: answers and their counts, every status, the token, TLS, gzip,
the buffer staying full, shutting down, and the per-status metrics."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streamer.daemon import Daemon
from streamer.errors import ConfigError
from streamer.record import Entry
from streamer.sources.sockets import ListenError
from tests.support.certs import self_signed
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import settings
from tests.support.running import running, until

NDJSON = {"Content-Type": "application/x-ndjson"}


def cfg(tmp_path: Path, *inputs: str, **overrides: Any) -> Any:
    return settings(
        tmp_path, inputs=list(inputs or ["http://127.0.0.1:0"]), shard_rate_factor=0, **overrides
    )


async def post(
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Send one request; return the status, the JSON body and the headers."""
    connector = aiohttp.TCPConnector(ssl=ssl_context) if ssl_context is not None else None
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(method, url, data=body, headers=headers or NDJSON) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


def body(*lines: bytes) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def lines(start: int, stop: int, **kw: Any) -> bytes:
    return body(*(profile(i, **kw) for i in range(start, stop)))


def unmapped(i: int) -> bytes:
    return b'{"_id":"u%d","identityMap":{"ecid":[{"id":"u%d"}]}}' % (i, i)


async def test_answer_counts_lines_and_names_bad_ones(tmp_path: Path) -> None:
    """A 200 counts taken lines (exported or filtered) and bad ones with their line numbers;
    blank lines count as neither; each request is its own source in dead-letter entries."""
    fake = FakeKinesis(shard_count=2)
    daemon = Daemon(cfg(tmp_path), fake, progress=False)
    async with running(daemon):
        [address] = daemon.inputs
        url = f"{address}/v1/records"
        sent = body(profile(1), b"", b"{broken", unmapped(4), b"   ", profile(6), b"[1]")
        status, answer, _ = await post(url, sent)
        assert status == 200
        assert answer["accepted"] == 3
        assert answer["rejected"] == 2
        assert [e["line"] for e in answer["errors"]] == [3, 7]
        assert "not valid JSON" in answer["errors"][0]["reason"]
        status, second, _ = await post(url, profile(7))  # no final newline
        assert (status, second) == (200, {"accepted": 1, "rejected": 0, "errors": []})
        await until(lambda: daemon.stats.delivered == 3)
    assert sorted(key for _, key, _ in fake.accepted) == ["ecid-1", "ecid-6", "ecid-7"]
    entries = dead_letters(tmp_path / "dead.ndjson")
    assert {e["source"] for e in entries} == {f"http:{address.removeprefix('http://')}#1"}
    assert [e["line_no"] for e in entries] == [3, 7]


def fail_key(key: str, code: str) -> Callable[[Sequence[Entry]], Any]:
    def step(entries: Sequence[Entry]) -> Any:
        return {i: code for i, e in enumerate(entries) if e.partition_key == key}

    return step


async def test_wait_delivered_counts_a_dead_lettered_record(tmp_path: Path) -> None:
    """`?wait=delivered` answers once every line settled: delivered, dead-lettered (a record
    the stream refuses for good) and filtered, besides the accepted counts."""
    fake = FakeKinesis(shard_count=1, script=[fail_key("ecid-2", "KMSDisabledException")] * 5)
    daemon = Daemon(cfg(tmp_path), fake, progress=False)
    async with running(daemon):
        [address] = daemon.inputs
        sent = lines(1, 5) + body(unmapped(9), b"nope")
        status, answer, _ = await post(f"{address}/v1/records?wait=delivered", sent)
    assert status == 200
    assert answer == {
        "accepted": 5,
        "rejected": 1,
        "errors": [{"line": 6, "reason": answer["errors"][0]["reason"]}],
        "delivered": 3,
        "dead_lettered": 1,
        "filtered": 1,
    }
    [undelivered] = [e for e in dead_letters(tmp_path / "dead.ndjson") if e.get("line_no") == 2]
    assert "KMSDisabledException" in undelivered["reason"]


def bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(b"\n" * size) + packer.flush()


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked transfer encoding)."""
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


async def test_every_refusal_status_and_the_metrics(tmp_path: Path) -> None:
    """404, 405, 415, 400 (broken gzip, unknown wait), 413 (declared, streamed, gzip bomb) each
    take nothing in; a gzip body is taken; /metrics counts the answers by status code."""
    fake = FakeKinesis(shard_count=1)
    config = cfg(tmp_path, max_body_bytes=64 * 1024, metrics_address="127.0.0.1:0")
    daemon = Daemon(config, fake, progress=False)
    async with running(daemon):
        [address] = daemon.inputs
        url = f"{address}/v1/records"
        big = lines(0, 1000)
        assert len(big) > 64 * 1024
        gz = {**NDJSON, "Content-Encoding": "gzip"}
        cases: list[tuple[int, str, Any, dict[str, str], str]] = [
            (404, f"{address}/v1/other", b"", NDJSON, "no such path"),
            (405, url, None, NDJSON, "GET is not allowed"),
            (415, url, lines(0, 1), {"Content-Type": "text/plain"}, "Content-Type"),
            (415, url, lines(0, 1), {**NDJSON, "Content-Encoding": "br"}, "Content-Encoding"),
            (400, url, b"\x1f\x8b not really", gz, "not valid gzip"),
            (400, url, gzip.compress(lines(0, 100))[:-20], gz, "ends early"),
            (400, f"{url}?wait=soon", lines(0, 1), NDJSON, "wait='soon'"),
            (413, url, big, NDJSON, "over the limit of 65536 bytes"),
            (413, url, chunked(big), NDJSON, "over the limit of 65536 bytes"),
            (413, url, bomb(10 * 1024 * 1024), gz, "decompresses to over the limit"),
        ]
        for code, target, data, headers, reason in cases:
            method = "GET" if code == 405 else "POST"
            status, answer, response_headers = await post(target, data, headers, method=method)
            assert (status, reason in answer["error"]) == (code, True), (code, answer)
            if code == 405:
                assert response_headers["Allow"] == "POST"
        status, answer, _ = await post(url, gzip.compress(lines(0, 200)), gz)
        assert (status, answer["accepted"]) == (200, 200)
        assert daemon.stats.received == 200, "no refused body was taken in"
        async with aiohttp.ClientSession() as session:
            assert daemon.status_url is not None
            async with session.get(f"{daemon.status_url}/metrics") as response:
                text = await response.text()
    for code, count in ((200, 1), (400, 3), (404, 1), (405, 1), (413, 3), (415, 2)):
        assert f'streamer_http_requests_total{{code="{code}"}} {count}.0' in text


async def test_buffer_full_answers_503_and_takes_nothing(tmp_path: Path) -> None:
    """While the buffer stays full for http_wait_s the answer is 503 with Retry-After: 1 and
    nothing of that body is taken; the body that filled the buffer was answered 200."""
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    config = cfg(tmp_path, buffer_records=2, http_wait_s=0.2)
    daemon = Daemon(config, fake, progress=False)
    assert fake.block is not None
    async with running(daemon):
        [address] = daemon.inputs
        url = f"{address}/v1/records"
        same_key = lines(0, 5, key="k")  # strict ordering: one per call, the rest stay buffered
        status, first, _ = await post(url, same_key)
        assert (status, first["accepted"]) == (200, 5)
        status, refused, headers = await post(url, lines(100, 103))
        assert status == 503
        assert headers["Retry-After"] == "1"
        assert "nothing of this body was taken" in refused["error"]
        fake.block.set()
        await until(lambda: daemon.stats.delivered == 5)
    assert daemon.stats.received == 5
    assert {key for _, key, _ in fake.accepted} == {"k"}


async def test_shutting_down_answers_503(tmp_path: Path) -> None:
    """Once the daemon stops accepting input, a new request is answered 503 (and a request
    already waiting for delivery still gets its answer after the drain)."""
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    daemon = Daemon(cfg(tmp_path), fake, progress=False)
    assert fake.block is not None
    async with running(daemon):
        [address] = daemon.inputs
        url = f"{address}/v1/records"
        waiting = asyncio.create_task(post(f"{url}?wait=delivered", lines(0, 3)))
        await until(lambda: daemon.stats.exported == 3)
        daemon.stop()
        status, answer, headers = await post(url, lines(10, 11))
        assert (status, headers["Retry-After"]) == (503, "1")
        assert "shutting down" in answer["error"]
        fake.block.set()
        status, settled, _ = await waiting
    assert (status, settled["delivered"]) == (200, 3)
    assert daemon.stats.received == 3


async def test_token_missing_wrong_and_rotated(tmp_path: Path) -> None:
    """Without the bearer token, or with a wrong one, the answer is 401; a token replaced in its
    file is the only one taken from the next request on."""
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    token_file.chmod(0o600)
    fake = FakeKinesis(shard_count=1)
    daemon = Daemon(cfg(tmp_path, http_token_file=str(token_file)), fake, progress=False)
    async with running(daemon):
        [address] = daemon.inputs
        url = f"{address}/v1/records"
        status, answer, headers = await post(url, lines(0, 1))
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer")
        assert "Authorization: Bearer" in answer["error"]
        wrong = {**NDJSON, "Authorization": "Bearer second-token"}
        assert (await post(url, lines(0, 1), wrong))[0] == 401
        right = {**NDJSON, "Authorization": "Bearer first-token"}
        assert (await post(url, lines(0, 1), right))[0] == 200
        new = tmp_path / "token.new"
        new.write_text("second-token")
        new.chmod(0o600)
        os.replace(new, token_file)
        assert (await post(url, lines(1, 2), right))[0] == 401
        assert (await post(url, lines(1, 2), wrong))[0] == 200
        await until(lambda: daemon.stats.delivered == 2)
    assert daemon.stats.received == 2


async def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    """An https:// input serves TLS with the configured certificate: a client trusting it is
    answered; a plain-HTTP client gets nothing taken in."""
    cert, key = self_signed(tmp_path)
    config = cfg(tmp_path, "https://127.0.0.1:0", tls_cert_file=str(cert), tls_key_file=str(key))
    fake = FakeKinesis(shard_count=1)
    daemon = Daemon(config, fake, progress=False)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with running(daemon):
        [address] = daemon.inputs
        assert address.startswith("https://127.0.0.1:")
        url = f"{address}/v1/records?wait=delivered"
        status, answer, _ = await post(url, lines(0, 4), ssl_context=trusting)
        assert (status, answer["delivered"]) == (200, 4)
        with pytest.raises(aiohttp.ClientError):
            await post(url.replace("https://", "http://"), lines(4, 5))
    assert daemon.stats.received == 4


async def test_too_many_requests_being_read_answers_503(tmp_path: Path) -> None:
    """With max_connections requests still sending their bodies, the next one is answered 503;
    once the slow one finishes, it is answered 200."""
    fake = FakeKinesis(shard_count=1)
    daemon = Daemon(cfg(tmp_path, max_connections=1), fake, progress=False)
    go_on = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield profile(1) + b"\n"
        await go_on.wait()
        yield profile(2) + b"\n"

    async with running(daemon):
        [address] = daemon.inputs
        url = f"{address}/v1/records"
        reading = asyncio.create_task(post(url, slow()))
        await until(lambda: daemon.connections.open == 1)
        status, answer, headers = await post(url, lines(10, 11))
        assert (status, headers["Retry-After"]) == (503, "1")
        assert "too many requests" in answer["error"]
        go_on.set()
        status, taken, _ = await reading
        assert (status, taken["accepted"]) == (200, 2)
    assert daemon.stats.received == 2


async def test_a_certificate_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    """An https:// input whose certificate file is not a certificate stops the start (exit 2)."""
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    config = cfg(tmp_path, "https://127.0.0.1:0", tls_cert_file=str(cert), tls_key_file=str(cert))
    daemon = Daemon(config, FakeKinesis(shard_count=1), install_signals=False, progress=False)
    with pytest.raises(ConfigError, match="cannot load the TLS certificate") as info:
        await daemon.run()
    assert info.value.exit_code == 2
    assert not daemon.ready.is_set()


async def test_body_cut_at_shutdown_says_how_far_it_was_taken(tmp_path: Path) -> None:
    """A body still being taken in when the shutdown grace period ends is answered 503 with
    `accepted_through_line`; the lines taken are dead-lettered at the drain deadline, not lost,
    and a line the cut fell in is dead-lettered as cut."""
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    config = cfg(tmp_path, buffer_records=2, drain_deadline_s=0.3)
    daemon = Daemon(config, fake, progress=False)
    async with running(daemon):
        [address] = daemon.inputs
        big = lines(0, 1000, key="k")  # several 64 KiB chunks; the first fills the buffer
        cut = asyncio.create_task(post(f"{address}/v1/records", big))
        await until(lambda: daemon.stats.exported > 0)
        daemon.stop()
        status, answer, headers = await cut
    assert (status, headers["Retry-After"]) == (503, "1")
    through = answer["accepted_through_line"]
    assert 0 < through < 1000
    assert daemon.stats.exported == through
    assert daemon.stats.delivered + daemon.stats.dead_lettered_delivery == through
    # the line the cut fell in (after `through`) is dead-lettered as cut, never lost
    assert daemon.stats.rejected_by_category["cut"] <= 1
    assert daemon.stats.rejected == daemon.stats.rejected_by_category["cut"]


async def test_a_port_in_use_is_a_listen_error(tmp_path: Path) -> None:
    """An http:// input on a port another socket listens on stops the start with one sentence."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        daemon = Daemon(
            cfg(tmp_path, f"http://127.0.0.1:{port}"),
            FakeKinesis(shard_count=1),
            install_signals=False,
            progress=False,
        )
        with pytest.raises(ListenError, match=f"cannot listen on http://127.0.0.1:{port}"):
            await daemon.run()
