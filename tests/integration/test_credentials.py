"""Start-up against an endpoint that refuses the credentials: the real adapter turns the
service's answer into a CredentialsError, and the process exits 5 with one sentence."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import web

from streamer.aws import AwsKinesis, AwsSettings
from streamer.errors import CredentialsError, ExitCode
from tests.integration.conftest import aws_env, run_streamer

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

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/", refuse)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


async def test_adapter_reports_refused_credentials(refusing_endpoint: str) -> None:
    """DescribeStreamSummary refused for the key raises CredentialsError naming the code."""
    settings = AwsSettings(
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
