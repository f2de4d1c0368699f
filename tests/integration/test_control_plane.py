"""The control plane and posts of the `fast` transport over real HTTP: DescribeStreamSummary and
ListShards without botocore give what botocore gives, retry as its standard mode does, fail
with the same sentences and exit codes, and every post goes through the environment's proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import uvloop
from aiohttp import web
from local_kinesis import REGION

from streamer.aws import AwsKinesis
from streamer.aws.control import BACKOFF_BASE_S, CONTROL_ATTEMPTS, Control
from streamer.aws.poster import Poster
from streamer.aws.route import StaticCredentials
from streamer.aws.tls import default_ca_bundle, tls_context
from streamer.errors import (
    ConfigError,
    CredentialsError,
    ExitCode,
    StreamMissingError,
    StreamNotActiveError,
    UnreachableError,
)
from streamer.kinesis import AwsSettings, PutOutcome
from streamer.record import Entry
from tests.support.answering import serve_answers
from tests.support.certs import self_signed
from tests.support.processes import aws_env, streamer_cmd

pytestmark = pytest.mark.integration

KEYS = StaticCredentials("AKIDTEST", "secret")
SHARD = {
    "ShardId": "shardId-000000000000",
    "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)},
    "SequenceNumberRange": {"StartingSequenceNumber": "1"},
}
SUMMARY = {
    "StreamName": "s",
    "StreamARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/s",
    "StreamStatus": "ACTIVE",
    "OpenShardCount": 2,
    "StreamModeDetails": {"StreamMode": "PROVISIONED"},
}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/x-amz-json-1.1"
    )


class Script:
    """An endpoint answering each request with the next scripted answer, recording requests."""

    def __init__(self) -> None:
        self.url = ""
        self.answers: list[tuple[int, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, *answers: tuple[int, Any]) -> str:
        """Script these answers; the endpoint's URL."""
        self.answers = list(answers)
        return self.url

    async def answer(self, request: web.Request) -> web.Response:
        action = request.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        self.requests.append((action, orjson.loads(await request.read())))
        status, body = self.answers.pop(0)
        if 300 <= status < 400:  # to itself: a followed redirect would be a second request
            return web.Response(status=status, headers={"Location": self.url + "/"})
        if isinstance(body, bytes):
            return web.Response(status=status, body=body)
        return _json(body, status)


@pytest.fixture
def script() -> Iterator[Script]:
    endpoint = Script()
    for url in serve_answers(endpoint.answer):
        endpoint.url = url
        yield endpoint


@contextlib.asynccontextmanager
async def control_for(url: str, waits: list[float], **settings: Any) -> Any:
    """A `Control` over a `Poster` to `url`, its backoff waits recorded instead of slept."""

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    s = AwsSettings(stream="s", region=REGION, endpoint_url=url, **settings)
    async with contextlib.AsyncExitStack() as stack:
        poster = Poster(url, REGION, max_connections=2, request_timeout_s=2, connect_timeout_s=1)
        await poster.open(stack)

        async def keys() -> StaticCredentials:
            return KEYS

        yield Control(s, poster, keys, sleep=sleep, uniform=lambda low, high: high)


async def test_summary_and_every_page_of_shards(script: Script) -> None:
    """The summary is read as botocore reads it; later ListShards pages send only the token."""
    second = dict(SHARD, ShardId="shardId-000000000001")
    url = script(
        (200, {"StreamDescriptionSummary": dict(SUMMARY, MaxRecordSizeInKiB=2048)}),
        (200, {"Shards": [SHARD], "NextToken": "t1"}),
        (200, {"Shards": [second]}),
    )
    waits: list[float] = []
    async with control_for(url, waits) as control:
        summary = await control.describe_stream()
        shards = await control.list_shards()
    assert (summary.name, summary.open_shards, summary.mode) == ("s", 2, "PROVISIONED")
    assert summary.max_record_kib == 2048
    assert [s["ShardId"] for s in shards] == ["shardId-000000000000", "shardId-000000000001"]
    assert script.requests == [
        ("DescribeStreamSummary", {"StreamName": "s"}),
        ("ListShards", {"StreamName": "s"}),
        ("ListShards", {"NextToken": "t1"}),
    ]
    assert waits == []


@pytest.mark.parametrize(
    "second",
    [
        (503, b"<html>busy</html>"),
        (400, {"__type": "RequestTimeoutException", "message": "timed out"}),
        (200, b"<html>a captive portal</html>"),
    ],
)
async def test_throttling_and_transient_failures_are_tried_again_with_backoff(
    script: Script, second: tuple[int, Any]
) -> None:
    """Throttled, then a transient failure: the third try answers; the waits double."""
    url = script(
        (400, {"__type": "LimitExceededException", "message": "Rate exceeded"}),
        second,
        (200, {"StreamDescriptionSummary": SUMMARY}),
    )
    waits: list[float] = []
    async with control_for(url, waits) as control:
        summary = await control.describe_stream()
    assert summary.status == "ACTIVE"
    assert len(script.requests) == 3
    assert waits == [BACKOFF_BASE_S, 2 * BACKOFF_BASE_S]


async def test_the_last_failure_is_one_sentence_after_every_try(script: Script) -> None:
    """Throttled every time: `CONTROL_ATTEMPTS` tries, then an unreachable-service error."""
    refusal = (400, {"__type": "LimitExceededException", "message": "Rate exceeded"})
    url = script(*[refusal] * CONTROL_ATTEMPTS)
    waits: list[float] = []
    async with control_for(url, waits) as control:
        with pytest.raises(UnreachableError, match="LimitExceededException: Rate exceeded"):
            await control.list_shards()
    assert len(script.requests) == CONTROL_ATTEMPTS
    assert len(waits) == CONTROL_ATTEMPTS - 1


@pytest.mark.parametrize(
    ("answer", "error", "code", "words"),
    [
        (
            (400, {"__type": "AccessDeniedException", "message": "not authorized"}),
            CredentialsError,
            ExitCode.CREDENTIALS,
            "AWS refused the credentials (AccessDeniedException) when describing stream 's'",
        ),
        (
            (400, {"__type": "ResourceNotFoundException", "message": "Stream s not found"}),
            StreamMissingError,
            ExitCode.STREAM_MISSING,
            f"stream 's' does not exist in region {REGION}",
        ),
        (
            (400, {"__type": "com.amazon.coral#ValidationException", "message": "bad name"}),
            ConfigError,
            ExitCode.CONFIG,
            "AWS refused the request (ValidationException)",
        ),
        (
            (200, {"StreamDescriptionSummary": dict(SUMMARY, StreamStatus="DELETING")}),
            StreamNotActiveError,
            ExitCode.STREAM_NOT_ACTIVE,
            "stream 's' is DELETING, not ACTIVE",
        ),
        (
            (200, {"StreamDescriptionSummary": {"StreamName": "s"}}),
            UnreachableError,
            ExitCode.UNREACHABLE,
            "the answer is not a stream summary",
        ),
    ],
)
async def test_refusals_are_not_tried_again(
    script: Script, answer: tuple[int, Any], error: type[Exception], code: ExitCode, words: str
) -> None:
    """A refusal or a final answer is one try and one sentence with its exit code."""
    url = script(answer)
    waits: list[float] = []
    async with control_for(url, waits) as control:
        with pytest.raises(error) as caught:
            await control.describe_stream()
    assert words in str(caught.value)
    assert getattr(caught.value, "exit_code", None) == code
    assert len(script.requests) == 1


async def test_answers_that_are_not_json_are_tried_again(script: Script) -> None:
    """A 200 whose body is not a JSON object may be a proxy's page: tried again."""
    url = script((200, b"<html/>"), (200, b"[]"), (200, {"Shards": [SHARD]}))
    waits: list[float] = []
    async with control_for(url, waits) as control:
        shards = await control.list_shards()
    assert [s["ShardId"] for s in shards] == [SHARD["ShardId"]]
    assert len(waits) == 2


@pytest.mark.parametrize("status", [301, 307, 308])
async def test_a_redirect_is_an_answer_never_followed(script: Script, status: int) -> None:
    """Like botocore, the posts do not follow a redirect (a redirect to https would otherwise
    meet a connection made for plain HTTP): one request, one sentence, exit 6."""
    url = script((status, None), (200, {"StreamDescriptionSummary": SUMMARY}))
    waits: list[float] = []
    async with control_for(url, waits) as control:
        with pytest.raises(UnreachableError, match=f"HTTP {status}"):
            await control.describe_stream()
    assert len(script.requests) == 1


@pytest.mark.parametrize("shards", [None, [1, "x"], "shards", [SHARD, None]])
async def test_shards_that_are_not_shards_are_one_sentence(script: Script, shards: Any) -> None:
    """A ListShards answer whose Shards is not a list of objects: exit 6, one sentence."""
    url = script((200, {"Shards": shards}))
    waits: list[float] = []
    async with control_for(url, waits) as control:
        with pytest.raises(UnreachableError, match="Shards is not a list of shards") as caught:
            await control.list_shards()
    assert caught.value.exit_code == ExitCode.UNREACHABLE


async def test_an_unreachable_endpoint_names_itself() -> None:
    """Nothing listens: every try fails to connect; the error names the endpoint."""
    waits: list[float] = []
    async with control_for("http://127.0.0.1:9", waits) as control:
        with pytest.raises(UnreachableError, match=r"http://127.0.0.1:9 is unreachable"):
            await control.describe_stream()
    assert len(waits) == CONTROL_ATTEMPTS - 1


async def test_an_unreachable_proxy_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a proxy that does not answer, the error names the endpoint and the proxy."""
    for name in ("http_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "127.0.0.1:9")
    waits: list[float] = []
    async with control_for("http://127.0.0.1:8", waits) as control:
        with pytest.raises(UnreachableError) as caught:
            await control.describe_stream()
    assert "the endpoint http://127.0.0.1:8 (through the proxy http://127.0.0.1:9)" in str(
        caught.value
    )


# -- the environment's proxy -----------------------------------------------------------------
@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A forwarding HTTP proxy: it records each absolute URL asked for (and the credentials it
    was given, if any, after a space) and passes it on."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        given = request.headers.get("Proxy-Authorization")
        seen.append(str(request.url) + ("" if given is None else " " + given))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(str(request.url), data=await request.read(), headers=headers) as resp,
        ):
            return web.Response(status=resp.status, body=await resp.read())

    for url in serve_answers(forward):
        yield url, seen


@pytest.mark.parametrize("spelling", ["url", "bare", "credentials"])
def test_every_post_goes_through_the_environments_proxy(
    moto_url: str,
    new_stream: Any,
    proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    spelling: str,
) -> None:
    """With HTTP_PROXY set (as a URL, or a bare host:port that botocore reads as http, or with
    credentials: sent to the proxy, never named), the control plane and PutRecords both go
    through it, as botocore's calls do; NO_PROXY naming another port does not exempt the
    endpoint, naming its host or its host:port does."""
    proxy_url, seen = proxy
    stream = new_stream(1)
    settings = AwsSettings(
        stream=stream,
        region=REGION,
        endpoint_url=moto_url,
        access_key_id="testing",
        secret_access_key="testing",
    )
    entry = Entry(b"hello", "k", "test", 1, 0.0)
    hermetic = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}

    async def use() -> tuple[str | None, int]:
        async with AwsKinesis(settings, environ=hermetic) as client:
            assert client.route is not None  # the direct route, no botocore
            await client.describe_stream()
            await client.list_shards()
            result = await client.put_records([entry])
            assert isinstance(result, PutOutcome)
            assert result.shard_ids[0]
            return client.proxy, len(seen)

    for name in ("http_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    bare = proxy_url.removeprefix("http://")
    spelled = {"url": proxy_url, "bare": bare, "credentials": f"http://us%40r:p%3As@{bare}"}
    monkeypatch.setenv("HTTP_PROXY", spelled[spelling])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1:1")
    through, count = asyncio.run(use())
    assert through == proxy_url
    assert count == 3
    assert all(url.startswith(moto_url) for url in seen)
    credentials = " Basic " + base64.b64encode(b"us@r:p:s").decode()
    assert all(url.endswith(credentials) == (spelling == "credentials") for url in seen), seen
    for exempt in ("127.0.0.1", moto_url.removeprefix("http://")):
        monkeypatch.setenv("NO_PROXY", exempt)
        through, count = asyncio.run(use())
        assert through is None
        assert count == 3  # no more through the proxy


async def test_an_unreadable_ca_bundle_is_a_configuration_error() -> None:
    """AWS_CA_BUNDLE naming no readable bundle, for an https endpoint: exit 2, one sentence."""
    settings = AwsSettings(
        stream="s",
        region=REGION,
        endpoint_url="https://127.0.0.1:9",
        access_key_id="a",
        secret_access_key="b",
    )
    environ = {
        "AWS_CA_BUNDLE": "/nonexistent/ca.pem",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    client = AwsKinesis(settings, environ=environ)
    with pytest.raises(ConfigError, match=r"the CA bundle /nonexistent/ca\.pem cannot be used"):
        async with client:
            pass


def test_the_default_trust_store_is_botocores() -> None:
    """With no bundle named, TLS is verified against the bundle botocore uses."""
    from botocore.httpsession import where  # noqa: PLC0415 - botocore's own answer

    assert default_ca_bundle() == where()
    assert tls_context(None).cert_store_stats()["x509_ca"] > 0


@pytest.mark.parametrize(
    "first",
    [
        "streamer.aws.quiet_aiohttp",
        "streamer.sources.http",
        "streamer.aws.boto",
        "streamer.aws.startup",
    ],
)
def test_aiohttp_is_imported_without_its_default_ca_loads(first: str) -> None:
    """Imported by any module of the package that uses it, aiohttp's default verified context
    trusts nothing (so nothing falls back on it unverified), and TLS contexts made afterwards
    load CAs again."""
    code = (
        f"import ssl, {first}, aiohttp.connector as c\n"
        "print(c._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca'],"
        " c._SSL_CONTEXT_VERIFIED.verify_mode == ssl.CERT_REQUIRED,"
        " ssl.create_default_context().cert_store_stats()['x509_ca'] > 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout.split() == [b"0", b"True", b"True"]


@pytest.fixture
def tls_kinesis(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Kinesis endpoint over TLS with a certificate of its own; its URL and certificate."""
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)

    async def answer(request: web.Request) -> web.Response:
        action = request.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if action == "DescribeStreamSummary":
            return _json({"StreamDescriptionSummary": SUMMARY})
        return _json({"Shards": [SHARD]})

    for url in serve_answers(answer, tls=server):
        yield url, cert


@pytest.mark.parametrize("named", [True, False])
def test_an_https_endpoint_is_verified_against_the_bundle_named(
    tls_kinesis: tuple[str, Path], named: bool
) -> None:
    """`streamer check` over TLS (a fresh process: aiohttp imported the package's way): the
    endpoint's own certificate named as AWS_CA_BUNDLE passes; not named, verification fails,
    exit 6 in one sentence (never a connection that is not verified)."""
    url, cert = tls_kinesis
    env = aws_env(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    if named:
        env["AWS_CA_BUNDLE"] = str(cert)
    args = ["--stream", "s", "--region", REGION, "--endpoint-url", url]
    proc = subprocess.run(
        streamer_cmd("check", *args), env=env, capture_output=True, timeout=120, check=False
    )
    if named:
        assert proc.returncode == 0, proc.stderr.decode()
    else:
        assert proc.returncode == ExitCode.UNREACHABLE, proc.stderr.decode()
        assert b"CERTIFICATE_VERIFY_FAILED" in proc.stderr
        assert b"Traceback" not in proc.stderr


def test_put_records_over_tls_carry_large_bodies_whole(tmp_path: Path) -> None:
    """PutRecords over TLS through the posts' own client (h1, on uvloop): 500 records of 1.5 KB
    (a body of about a megabyte, written in many pieces) arrive whole, on one connection."""
    cert, key = self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    received: list[list[bytes]] = []
    peers: set[Any] = set()

    async def answer(request: web.Request) -> web.Response:
        action = request.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        if action == "DescribeStreamSummary":
            return _json({"StreamDescriptionSummary": SUMMARY})
        if action == "ListShards":
            return _json({"Shards": [SHARD]})
        records = orjson.loads(await request.read())["Records"]
        received.append([base64.b64decode(r["Data"]) for r in records])
        result = {"SequenceNumber": "1", "ShardId": SHARD["ShardId"]}
        return _json({"FailedRecordCount": 0, "Records": [result] * len(records)})

    datas = [bytes([i % 251]) * 1500 for i in range(500)]
    entries = [Entry(data, f"k{i}", "test", i + 1, 0.0) for i, data in enumerate(datas)]

    async def send(url: str) -> list[Any]:
        settings = AwsSettings(
            stream="s", region=REGION, endpoint_url=url, access_key_id="a", secret_access_key="b"
        )
        environ = {
            "AWS_CA_BUNDLE": str(cert),
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
        async with AwsKinesis(settings, environ=environ) as client:
            await client.describe_stream()
            return [await client.put_records(entries) for _ in range(2)]

    for url in serve_answers(answer, tls=server):
        results = uvloop.run(send(url))
    assert all(isinstance(r, PutOutcome) and all(r.shard_ids) for r in results)
    assert received == [datas, datas]
    assert len(peers) == 1  # the summary and both posts: one kept-alive connection
