"""The aiobotocore adapter: `AwsKinesis`, the `KinesisClient` that talks to AWS.

What it does: resolves credentials (explicit keys or the standard AWS chain, optionally a role
assumed on top of them through STS, refreshed by botocore's refreshable credentials before it
expires, for both send paths), names the stream by name or by ARN, runs the control plane through
aiobotocore (DescribeStreamSummary, paginated ListShards) and sends PutRecords one of two ways:
`fast` (default) encodes the body itself (`wire.py`), signs it (`sigv4.py`, the same signature as
botocore's SigV4 signer at a fraction of its cost) and posts it over a keep-alive aiohttp pool;
`botocore` calls the client's put_records (generic serialization and validation, several
microseconds per record more). Both return per-record outcomes as data, with botocore's own retries
off: the retry loop is the pipeline's. Every exception start-up can meet (credentials, AssumeRole,
the client's region and endpoint, DescribeStreamSummary, ListShards) becomes a `StreamerError`
through `startup.startup_error`.

Models are read through botocore's data loader, told to look a service up in its own
directory rather than list every service botocore ships (`loader.py`).

What it leaves out: retry decisions, batching, and logging of credentials (never logged).
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import aiohttp
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentialResolver, AioRefreshableCredentials
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from streamer.aws.loader import direct_loader
from streamer.aws.sigv4 import Signer
from streamer.aws.startup import startup_error
from streamer.errors import (
    STREAM_MISSING_CODE,
    ConfigError,
    CredentialsError,
    RequestFailure,
    StreamerError,
    StreamMissingError,
    StreamNotActiveError,
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

log = structlog.get_logger("streamer")
logging.getLogger("aiobotocore.credentials").setLevel(logging.ERROR)
"""A failed refresh is logged once, as one line, by `_fetch_role`, not with botocore's traceback."""


def tls_verify(endpoint_url: str | None) -> bool | None:
    """The Kinesis client's `verify`: False for a plain-HTTP endpoint reached without a proxy,
    where there is no TLS and so no CA bundle to load (aiobotocore loads it for every endpoint:
    about 0.02 s of CPU at start-up); None, botocore's default (verified), for any other."""
    if not (endpoint_url and endpoint_url.startswith("http://")):
        return None
    proxies = urllib.request.getproxies()  # the environment's, as botocore reads them
    return None if "http" in proxies or "all" in proxies else False


class _Given(CredentialProvider):  # type: ignore[misc]
    """A credential chain of one: the assumed role's refreshable credentials."""

    METHOD = "assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    async def load(self) -> Any:
        return self._credentials


class AwsKinesis:
    """`KinesisClient` over aiobotocore (control plane) and signed aiohttp posts (PutRecords)."""

    def __init__(self, settings: AwsSettings) -> None:
        self._s = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._sts: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._signer: Signer | None = None
        self._credentials: Any = None
        self._url = settings.endpoint_url or f"Kinesis in {settings.region}"
        self._stream_ref = settings.stream_ref
        self._headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": TARGET_PREFIX + "PutRecords",
        }
        self.role_sessions = 0
        """AssumeRole calls answered (the first, then one per refresh)."""

    async def __aenter__(self) -> AwsKinesis:
        try:
            await self._open()
        except BaseException as exc:
            await self._stack.aclose()
            if isinstance(exc, Exception):
                raise startup_error(exc, "opening the Kinesis client", self._url) from exc
            raise
        return self

    async def _open(self) -> None:
        s = self._s
        try:
            session = AioSession(profile=s.profile) if s.profile else AioSession()
            session.register_component("data_loader", direct_loader(session))
            if s.access_key_id and s.secret_access_key:
                session.set_credentials(s.access_key_id, s.secret_access_key, s.session_token)
            self._credentials = await session.get_credentials()
        except (BotoCoreError, ValueError) as exc:
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
        if s.role_arn:
            session = await self._assume_role(session, config)
        try:
            self._client = await self._stack.enter_async_context(
                session.create_client(
                    "kinesis",
                    region_name=s.region,
                    endpoint_url=s.endpoint_url,
                    config=config,
                    verify=tls_verify(s.endpoint_url),
                )
            )
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(
                f"the Kinesis client cannot be made for region {s.region!r}"
                + (f" and endpoint {s.endpoint_url}" if s.endpoint_url else "")
                + f": {exc}"
            ) from exc
        self._url = self._client.meta.endpoint_url
        if s.transport == "fast":
            self._signer = Signer(self._url, self._headers, service="kinesis", region=s.region)
            connector = aiohttp.TCPConnector(limit=s.max_connections, keepalive_timeout=30)
            timeout = aiohttp.ClientTimeout(
                total=s.request_timeout_s, sock_connect=s.connect_timeout_s
            )
            self._http = await self._stack.enter_async_context(
                aiohttp.ClientSession(connector=connector, timeout=timeout)
            )

    async def _assume_role(self, base: AioSession, config: AioConfig) -> AioSession:
        """A session whose credentials are the role's, assumed with the base session's and
        refreshed (advisory: by one caller while the others go on; mandatory near expiry)."""
        s = self._s
        doing = f"assuming role {s.role_arn}"
        try:
            self._sts = await self._stack.enter_async_context(
                base.create_client("sts", region_name=s.region, config=config)
            )
        except (BotoCoreError, ValueError) as exc:
            raise startup_error(exc, doing, "STS") from exc
        try:  # the first session here, so that a failure is one sentence, not a logged traceback
            first = await self._fetch_role()
        except Exception as exc:
            error = startup_error(exc, doing, self._sts.meta.endpoint_url)
            if isinstance(exc, ClientError) or type(error) is StreamerError:
                error = CredentialsError(f"role {s.role_arn} cannot be assumed: {error}")
            raise error from exc
        extra = {"time_fetcher": s.clock} if s.clock is not None else {}
        credentials = AioRefreshableCredentials(
            access_key=first["access_key"],
            secret_key=first["secret_key"],
            token=first["token"],
            expiry_time=datetime.fromisoformat(first["expiry_time"]),
            refresh_using=self._fetch_role,
            method="assume-role",
            **extra,
        )
        self._credentials = credentials
        session = AioSession()
        session.register_component(
            "credential_provider", AioCredentialResolver([_Given(credentials)])
        )
        # the models and endpoints the STS client loaded, not read and parsed again (0.04 s)
        session.register_component("data_loader", base.get_component("data_loader"))
        return session

    async def _fetch_role(self) -> dict[str, str]:
        """One AssumeRole call, as the metadata botocore's refreshable credentials take."""
        s = self._s
        args: dict[str, Any] = {
            "RoleArn": s.role_arn,
            "RoleSessionName": s.role_session_name,
            "DurationSeconds": s.role_duration_s,
        }
        if s.external_id:
            args["ExternalId"] = s.external_id
        first = self.role_sessions == 0
        try:
            answer = await self._sts.assume_role(**args)
        except Exception as exc:
            if not first:  # at start-up the caller says it in one sentence
                log.warning("role refresh failed", role=s.role_arn, error=str(exc))
            raise
        self.role_sessions += 1
        creds = answer["Credentials"]
        if not first:
            log.info("role refreshed", role=s.role_arn, expires=creds["Expiration"].isoformat())
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    # -- control plane ---------------------------------------------------------------------
    async def describe_stream(self) -> StreamSummary:
        s = self._s
        stream = s.stream_label
        try:
            answer = await self._client.describe_stream_summary(**self._stream_ref)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == STREAM_MISSING_CODE:
                raise StreamMissingError(
                    f"stream {stream!r} does not exist in region {s.region}"
                ) from exc
            raise startup_error(exc, f"describing stream {stream!r}", self._url) from exc
        except Exception as exc:
            raise startup_error(exc, f"describing stream {stream!r}", self._url) from exc
        summary = answer["StreamDescriptionSummary"]
        max_kib = summary.get("MaxRecordSizeInKiB")
        result = StreamSummary(
            name=summary["StreamName"],
            status=summary["StreamStatus"],
            open_shards=int(summary.get("OpenShardCount", 0)),
            arn=summary.get("StreamARN", ""),
            mode=str(summary.get("StreamModeDetails", {}).get("StreamMode", "")),
            max_record_kib=int(max_kib) if max_kib else None,
        )
        if result.status not in {"ACTIVE", "UPDATING"}:
            raise StreamNotActiveError(
                f"stream {stream!r} is {result.status}, not ACTIVE, so it cannot take records"
            )
        return result

    async def list_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = dict(self._stream_ref)
        while True:
            try:
                page = await self._client.list_shards(**kwargs)
            except Exception as exc:
                doing = f"listing the shards of stream {self._s.stream_label!r}"
                raise startup_error(exc, doing, self._url) from exc
            shards.extend(page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    # -- data plane ------------------------------------------------------------------------
    async def put_records(self, entries: Sequence[Entry]) -> PutResult:
        if self._http is None:
            return await self._put_botocore(entries)
        s = self._s
        body = encode_put_records(s.stream_label, entries, by_arn=bool(s.stream_arn))
        try:  # refreshes an assumed role's credentials when near expiry (see _assume_role)
            frozen = await self._credentials.get_frozen_credentials()
        except (BotoCoreError, ClientError, RuntimeError) as exc:
            return RequestFailure(
                "CredentialsError", f"credentials could not be refreshed: {exc}", retriable=True
            )
        assert self._signer is not None  # made with the fast transport's session
        headers = self._signer.headers(
            body, frozen.access_key, frozen.secret_key, frozen.token, time.time()
        )
        try:
            async with self._http.post(self._url, data=body, headers=headers) as resp:
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
        return decode_put_records(status, raw, len(entries))

    async def _put_botocore(self, entries: Sequence[Entry]) -> PutResult:
        records: list[dict[str, Any]] = [
            {"Data": e.data, "PartitionKey": e.partition_key} for e in entries
        ]
        for record, entry in zip(records, entries, strict=True):
            if entry.explicit_hash_key is not None:  # an aggregate, routed to its shard
                record["ExplicitHashKey"] = entry.explicit_hash_key
        try:
            answer = await self._client.put_records(**self._stream_ref, Records=records)
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
