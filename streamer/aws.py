"""The aiobotocore adapter: the only module that talks to AWS libraries.

What it does: resolves credentials (explicit keys or the standard AWS chain), runs the control
plane through aiobotocore (DescribeStreamSummary, paginated ListShards) and sends PutRecords one
of two ways: `fast` (default) encodes the body itself (`wire.py`), signs it with botocore's SigV4
signer and posts it over a keep-alive aiohttp pool; `botocore` calls the client's put_records
(generic serialization and validation, several microseconds per record more). Both return
per-record outcomes as data, with botocore's own retries off: the retry loop is the pipeline's.

What it leaves out: retry decisions, batching, and logging of credentials (never logged).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from streamer.errors import (
    CREDENTIAL_ERRORS,
    STREAM_MISSING_CODE,
    CredentialsError,
    RequestFailure,
    StreamMissingError,
    StreamNotActiveError,
    UnreachableError,
    classify_request_error,
)
from streamer.kinesis import AwsSettings, PutResult, StreamSummary
from streamer.record import Entry
from streamer.wire import (
    CONTENT_TYPE,
    TARGET_PREFIX,
    decode_put_records,
    encode_put_records,
    outcome_from_records,
)


class AwsKinesis:
    """`KinesisClient` over aiobotocore (control plane) and signed aiohttp posts (PutRecords)."""

    def __init__(self, settings: AwsSettings) -> None:
        self._s = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._credentials: Any = None
        self._url = ""
        self._headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": TARGET_PREFIX + "PutRecords",
        }

    async def __aenter__(self) -> AwsKinesis:
        s = self._s
        session = AioSession(profile=s.profile) if s.profile else AioSession()
        if s.access_key_id and s.secret_access_key:
            session.set_credentials(s.access_key_id, s.secret_access_key, s.session_token)
        try:
            self._credentials = await session.get_credentials()
        except BotoCoreError as exc:
            raise CredentialsError(f"AWS credentials could not be loaded: {exc}") from exc
        if self._credentials is None:
            raise CredentialsError(
                "no AWS credentials found: set access_key_id and secret_access_key in the config "
                "file, or use the standard AWS chain (AWS_ACCESS_KEY_ID, a shared profile, ...)"
            )
        config = AioConfig(
            retries={
                "total_max_attempts": 1 if s.transport == "botocore" else 3,
                "mode": "standard",
            },
            connect_timeout=s.connect_timeout_s,
            read_timeout=s.request_timeout_s,
            max_pool_connections=s.max_connections,
            tcp_keepalive=True,
        )
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "kinesis", region_name=s.region, endpoint_url=s.endpoint_url, config=config
            )
        )
        self._url = self._client.meta.endpoint_url
        if s.transport == "fast":
            connector = aiohttp.TCPConnector(limit=s.max_connections, keepalive_timeout=30)
            timeout = aiohttp.ClientTimeout(
                total=s.request_timeout_s, sock_connect=s.connect_timeout_s
            )
            self._http = await self._stack.enter_async_context(
                aiohttp.ClientSession(connector=connector, timeout=timeout)
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    # -- control plane ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _control_plane(self, operation: str) -> Iterator[None]:
        """Map a control-plane call's failures to start-up errors (each with its exit code)."""
        s = self._s
        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == STREAM_MISSING_CODE:
                raise StreamMissingError(
                    f"stream {s.stream!r} does not exist in region {s.region}"
                ) from exc
            if code in CREDENTIAL_ERRORS:
                raise CredentialsError(
                    f"AWS refused the credentials ({code}) on {operation} of stream {s.stream!r}"
                ) from exc
            raise UnreachableError(f"{operation} failed: {code}") from exc
        except NoCredentialsError as exc:
            raise CredentialsError("no AWS credentials found") from exc
        except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise UnreachableError(
                f"the Kinesis endpoint {self._url} is unreachable: {exc}"
            ) from exc

    async def describe_stream(self) -> StreamSummary:
        s = self._s
        with self._control_plane("DescribeStreamSummary"):
            answer = await self._client.describe_stream_summary(StreamName=s.stream)
        summary = answer["StreamDescriptionSummary"]
        result = StreamSummary(
            name=summary["StreamName"],
            status=summary["StreamStatus"],
            open_shards=int(summary.get("OpenShardCount", 0)),
            arn=summary.get("StreamARN", ""),
        )
        if result.status not in {"ACTIVE", "UPDATING"}:
            raise StreamNotActiveError(
                f"stream {s.stream!r} is {result.status}, not ACTIVE, so it cannot take records"
            )
        return result

    async def list_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": self._s.stream}
        while True:
            with self._control_plane("ListShards"):
                page = await self._client.list_shards(**kwargs)
            shards.extend(page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    # -- data plane ------------------------------------------------------------------------
    async def put_records(self, entries: Sequence[Entry]) -> PutResult:
        if self._http is None:
            return await self._put_botocore(entries)
        body = encode_put_records(self._s.stream, entries)
        try:
            frozen = await self._credentials.get_frozen_credentials()
            request = AWSRequest(method="POST", url=self._url, data=body, headers=self._headers)
            SigV4Auth(frozen, "kinesis", self._s.region).add_auth(request)
            async with self._http.post(self._url, data=body, headers=dict(request.headers)) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            return RequestFailure(
                "RequestTimeout",
                f"no answer within {self._s.request_timeout_s:g} s",
                retriable=True,
                maybe_written=True,
            )
        except aiohttp.ClientConnectorError as exc:
            return RequestFailure("ConnectionError", str(exc), retriable=True)
        except (aiohttp.ClientError, OSError) as exc:
            return RequestFailure(
                "ConnectionError",
                f"{type(exc).__name__}: {exc}",
                retriable=True,
                maybe_written=True,
            )
        except BotoCoreError as exc:  # credential refresh failed
            return RequestFailure("CredentialsError", str(exc), retriable=True)
        return decode_put_records(status, raw, len(entries))

    async def _put_botocore(self, entries: Sequence[Entry]) -> PutResult:
        records = [{"Data": e.data, "PartitionKey": e.partition_key} for e in entries]
        try:
            answer = await self._client.put_records(StreamName=self._s.stream, Records=records)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            return classify_request_error(
                err.get("Code", "Unknown"), err.get("Message", ""), status=status
            )
        except ReadTimeoutError as exc:
            return RequestFailure("RequestTimeout", str(exc), retriable=True, maybe_written=True)
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            return RequestFailure("ConnectionError", str(exc), retriable=True)
        except (TimeoutError, BotoCoreError, aiohttp.ClientError) as exc:
            return RequestFailure(type(exc).__name__, str(exc), retriable=True, maybe_written=True)
        got = answer.get("Records", [])
        if len(got) != len(entries):
            return RequestFailure(
                "ResponseMismatch",
                f"answer holds {len(got)} results for {len(entries)} records",
                retriable=True,
                maybe_written=True,
            )
        return outcome_from_records(got)
