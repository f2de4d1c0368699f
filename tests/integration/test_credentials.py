"""Start-up against endpoints that say no: refused credentials (the real adapter raises
CredentialsError, the process exits 5) and a stream that is not ACTIVE (exit 4), each with one
sentence."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import web

from streamer.aws import AwsKinesis
from streamer.errors import CredentialsError, ExitCode, StreamMissingError
from streamer.kinesis import AwsSettings, Transport
from tests.support.answering import serve_answers
from tests.support.processes import aws_env, run_streamer

pytestmark = pytest.mark.integration


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    """An HTTP server that answers every Kinesis call as AWS does for an unknown access key."""

    async def refuse(request: web.Request) -> web.Response:
        body = {
            "__type": "UnrecognizedClientException",
            "message": "The security token included in the request is invalid.",
        }
        return web.Response(
            status=400, body=orjson.dumps(body), content_type="application/x-amz-json-1.1"
        )

    yield from serve_answers(refuse)


@pytest.fixture
def deleting_stream_endpoint() -> Iterator[str]:
    """An HTTP server whose stream is being deleted (DescribeStreamSummary says DELETING)."""

    async def describe(request: web.Request) -> web.Response:
        body = {
            "StreamDescriptionSummary": {
                "StreamName": "s",
                "StreamARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/s",
                "StreamStatus": "DELETING",
                "OpenShardCount": 1,
            }
        }
        return web.Response(body=orjson.dumps(body), content_type="application/x-amz-json-1.1")

    yield from serve_answers(describe)


def _list_shards_refused(code: str) -> Iterator[str]:
    """An ACTIVE stream whose ListShards answers with the error `code`."""

    async def answer(request: web.Request) -> web.Response:
        if request.headers.get("X-Amz-Target", "").endswith("ListShards"):
            body: dict[str, object] = {"__type": code, "message": "refused"}
            return web.Response(
                status=400, body=orjson.dumps(body), content_type="application/x-amz-json-1.1"
            )
        body = {
            "StreamDescriptionSummary": {
                "StreamName": "s",
                "StreamARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/s",
                "StreamStatus": "ACTIVE",
                "OpenShardCount": 1,
            }
        }
        return web.Response(body=orjson.dumps(body), content_type="application/x-amz-json-1.1")

    yield from serve_answers(answer)


@pytest.fixture
def list_shards_denied_endpoint() -> Iterator[str]:
    """DescribeStreamSummary works, ListShards is denied (a policy without kinesis:ListShards)."""
    yield from _list_shards_refused("AccessDeniedException")


@pytest.fixture
def list_shards_missing_endpoint() -> Iterator[str]:
    """DescribeStreamSummary works, ListShards says the stream is not found."""
    yield from _list_shards_refused("ResourceNotFoundException")


def _run_against(endpoint: str) -> subprocess.CompletedProcess[bytes]:
    """`streamer run` on stream `s` at `endpoint`, with no input."""
    return run_streamer(
        ["run", "--stream", "s", "--region", "eu-west-1", "--endpoint-url", endpoint],
        b"",
        env=aws_env(),
    )


def test_list_shards_denied_exits_5(list_shards_denied_endpoint: str) -> None:
    """An AccessDenied on ListShards is a credentials failure, exit 5 with one sentence."""
    proc = _run_against(list_shards_denied_endpoint)
    assert proc.returncode == ExitCode.CREDENTIALS, proc.stderr.decode()
    refused = b"AWS refused the credentials (AccessDeniedException) when listing the shards"
    assert refused in proc.stderr
    assert b"Traceback" not in proc.stderr


@pytest.mark.parametrize("transport", ["fast", "botocore"])
async def test_list_shards_not_found_is_stream_missing(
    list_shards_missing_endpoint: str, transport: Transport
) -> None:
    """ResourceNotFound on ListShards raises StreamMissingError (exit 3), by either transport."""
    settings = AwsSettings(
        transport=transport,
        stream="s",
        region="eu-west-1",
        endpoint_url=list_shards_missing_endpoint,
        access_key_id="AKID",
        secret_access_key="secret",
    )
    async with AwsKinesis(settings) as client:
        with pytest.raises(StreamMissingError) as caught:
            await client.list_shards()
    assert caught.value.exit_code == ExitCode.STREAM_MISSING


@pytest.mark.parametrize("transport", ["fast", "botocore"])
async def test_adapter_reports_refused_credentials(
    refusing_endpoint: str, transport: Transport
) -> None:
    """DescribeStreamSummary refused for the key raises CredentialsError naming the code, by
    either transport."""
    settings = AwsSettings(
        transport=transport,
        stream="s",
        region="eu-west-1",
        endpoint_url=refusing_endpoint,
        access_key_id="AKIDBAD",
        secret_access_key="bad",
    )
    async with AwsKinesis(settings) as client:
        with pytest.raises(CredentialsError, match="UnrecognizedClientException"):
            await client.describe_stream()


def test_refused_credentials_exit_5(refusing_endpoint: str) -> None:
    """`streamer run` exits 5 with one sentence when AWS refuses the credentials."""
    proc = run_streamer(
        ["run", "--stream", "s", "--region", "eu-west-1", "--endpoint-url", refusing_endpoint],
        b"",
        env=aws_env(),
    )
    assert proc.returncode == ExitCode.CREDENTIALS, proc.stderr.decode()
    assert b"AWS refused the credentials (UnrecognizedClientException)" in proc.stderr


def test_stream_not_active_exits_4(deleting_stream_endpoint: str) -> None:
    """A stream that is not ACTIVE stops start-up with exit 4 and says its status."""
    proc = _run_against(deleting_stream_endpoint)
    assert proc.returncode == ExitCode.STREAM_NOT_ACTIVE, proc.stderr.decode()
    assert b"stream 's' is DELETING, not ACTIVE" in proc.stderr
