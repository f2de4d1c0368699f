"""The AWS adapter: `AwsKinesis`, the `KinesisClient` that talks to AWS.

What it does: opens one of two ways. On the direct route (`route.py`: static keys, the standard or
a given endpoint, nothing only botocore knows) it imports no botocore at all and runs the control
plane over signed posts (`control.py`); on any other, `boto.Boto` resolves credentials (the AWS
chain, profiles, an assumed role) and the endpoint, and its aiobotocore client runs the control
plane, as before. The `fast` transport (default) sends PutRecords as signed posts (`poster.py`):
the body encoded by `wire.py`, signed by `sigv4.py` (the same signature as botocore's SigV4 signer
at a fraction of its cost), posted over a keep-alive pool (`h1.py`; aiohttp's through a proxy).
The `botocore` transport sends them through the aiobotocore client too. Both return per-record
outcomes as data; the retry loop for PutRecords is the pipeline's. Every exception
start-up can meet becomes a `StreamerError`.

What it leaves out: retry decisions, batching, and logging of credentials (never logged).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog

from streamer.aws.control import Control
from streamer.aws.poster import Credentials, Poster
from streamer.aws.route import DirectRoute, any_aws_file, direct_route
from streamer.errors import CredentialsError, RequestFailure, StreamerError
from streamer.kinesis import AwsSettings, PutResult, StreamSummary
from streamer.record import Entry
from streamer.wire import encode_put_records

if TYPE_CHECKING:
    from streamer.aws.boto import Boto

log = structlog.get_logger("streamer")


class AwsKinesis:
    """`KinesisClient` over signed posts (`fast`) or aiobotocore (`botocore`)."""

    def __init__(self, settings: AwsSettings, environ: dict[str, str] | None = None) -> None:
        self._s = settings
        self._environ = dict(os.environ) if environ is None else environ
        self._stack = contextlib.AsyncExitStack()
        self._boto: Boto | None = None
        self._poster: Poster | None = None
        self._control: Control | None = None
        self._credentials: Callable[[], Awaitable[Credentials]] | None = None
        self.route: DirectRoute | None = None
        """The direct route, when the run takes it (None: through botocore)."""

    @property
    def role_sessions(self) -> int:
        """AssumeRole calls answered (the first, then one per refresh)."""
        return 0 if self._boto is None else self._boto.role_sessions

    @property
    def proxy(self) -> str | None:
        """The proxy the signed posts go through (None: direct, or the botocore transport)."""
        return None if self._poster is None else self._poster.proxy

    async def __aenter__(self) -> AwsKinesis:
        try:
            await self._open()
        except BaseException as exc:
            await self._stack.aclose()
            if isinstance(exc, Exception) and not isinstance(exc, StreamerError):
                from streamer.aws.startup import startup_error  # noqa: PLC0415 - botocore's

                url = self._s.endpoint_url or f"Kinesis in {self._s.region}"
                raise startup_error(exc, "opening the Kinesis client", url) from exc
            raise
        return self

    async def _open(self) -> None:
        s, environ = self._s, self._environ
        self.route = direct_route(s, environ, files_exist=any_aws_file(environ))
        if self.route is not None:
            url, ca_bundle = self.route.url, environ.get("AWS_CA_BUNDLE") or None
            static = self.route.credentials

            async def credentials() -> Credentials:
                return static

            self._credentials = credentials
        else:
            from streamer.aws.boto import Boto  # noqa: PLC0415 - about 0.2 CPU s to import

            self._boto = Boto(s, self._stack)
            await self._boto.open()
            url, ca_bundle = self._boto.url, self._boto.ca_bundle
            self._credentials = self._boto.frozen_credentials
        if s.transport == "fast":
            self._poster = Poster(
                url,
                s.region,
                max_connections=s.max_connections,
                request_timeout_s=s.request_timeout_s,
                connect_timeout_s=s.connect_timeout_s,
                ca_bundle=ca_bundle,
            )
            await self._poster.open(self._stack)
            if self.route is not None:  # else botocore's client, to the endpoints it resolves
                self._control = Control(s, self._poster, self._credentials)
        log.debug(
            "kinesis client",
            route="direct" if self.route else "botocore",
            transport=s.transport,
            url=url,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    # -- control plane ---------------------------------------------------------------------
    async def describe_stream(self) -> StreamSummary:
        if self._control is not None:
            return await self._control.describe_stream()
        assert self._boto is not None
        return await self._boto.describe_stream()

    async def list_shards(self) -> list[dict[str, Any]]:
        if self._control is not None:
            return await self._control.list_shards()
        assert self._boto is not None
        return await self._boto.list_shards()

    # -- data plane ------------------------------------------------------------------------
    async def put_records(self, entries: Sequence[Entry]) -> PutResult:
        if self._poster is None:
            assert self._boto is not None
            return await self._boto.put_records(entries)
        s = self._s
        body = encode_put_records(s.stream_label, entries, by_arn=bool(s.stream_arn))
        assert self._credentials is not None
        try:  # refreshes an assumed role's credentials when near expiry
            credentials = await self._credentials()
        except CredentialsError as exc:
            return RequestFailure("CredentialsError", str(exc), retriable=True)
        return await self._poster.put_records(body, len(entries), credentials)
