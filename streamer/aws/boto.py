"""The botocore side of the AWS adapter: `Boto`, for runs the direct route cannot serve.

What it does: resolves credentials (explicit keys or the standard AWS chain, optionally a role
assumed on top of them through STS, refreshed by botocore's refreshable credentials before it
expires), makes the aiobotocore Kinesis client (whose endpoint URL, resolved by botocore's rules,
the `fast` transport posts to) and serves the `botocore` transport: the control plane
(DescribeStreamSummary, paginated ListShards) and PutRecords through the client's generic
serialization and validation, with botocore's own retries off for PutRecords (the retry loop is
the pipeline's). Every exception start-up can meet becomes a `StreamerError` through
`startup.startup_error`.

Models are read through botocore's data loader, told to look a service up in its own
directory rather than list every service botocore ships (`loader.py`).

What it leaves out: the `fast` transport (`poster.py`, `control.py`), which runs without
botocore when `route.py` allows, and logging of credentials (never logged).
"""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import streamer.aws.quiet_aiohttp  # noqa: F401 - first: see there

# isort: split
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

from streamer.aws.control import summary_of
from streamer.aws.loader import direct_loader
from streamer.aws.poster import Credentials
from streamer.aws.startup import startup_error
from streamer.errors import (
    STREAM_MISSING_CODE,
    ConfigError,
    CredentialsError,
    RequestFailure,
    StreamerError,
    StreamMissingError,
    classify_request_error,
)
from streamer.kinesis import AwsSettings, PutResult, StreamSummary
from streamer.record import Entry
from streamer.wire import outcome_from_records

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


class Boto:
    """Credentials, the Kinesis client and the `botocore` transport, through aiobotocore."""

    def __init__(self, settings: AwsSettings, stack: contextlib.AsyncExitStack) -> None:
        self._s = settings
        self._stack = stack
        self._client: Any = None
        self._sts: Any = None
        self._credentials: Any = None
        self.url = settings.endpoint_url or f"Kinesis in {settings.region}"
        """The endpoint URL the client resolved (once `open` has run)."""
        self.ca_bundle: str | None = None
        """The CA bundle botocore's settings name (AWS_CA_BUNDLE, a profile's ca_bundle)."""
        self.role_sessions = 0
        """AssumeRole calls answered (the first, then one per refresh)."""

    async def open(self) -> None:
        s = self._s
        try:
            session = AioSession(profile=s.profile) if s.profile else AioSession()
            session.register_component("data_loader", direct_loader(session))
            if s.access_key_id and s.secret_access_key:
                session.set_credentials(s.access_key_id, s.secret_access_key, s.session_token)
            self._credentials = await session.get_credentials()
            self.ca_bundle = session.get_config_variable("ca_bundle")
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
        self.url = self._client.meta.endpoint_url

    async def frozen_credentials(self) -> Credentials:
        """The credentials to sign with now, refreshing an assumed role's near expiry (one
        caller refreshes while the others go on; all wait when it is about to expire)."""
        try:
            frozen: Credentials = await self._credentials.get_frozen_credentials()
        except (BotoCoreError, ClientError, RuntimeError) as exc:
            raise CredentialsError(f"credentials could not be refreshed: {exc}") from exc
        return frozen

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

    # -- control plane ---------------------------------------------------------------------
    async def describe_stream(self) -> StreamSummary:
        s = self._s
        stream = s.stream_label
        try:
            answer = await self._client.describe_stream_summary(**self._s.stream_ref)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == STREAM_MISSING_CODE:
                raise StreamMissingError(
                    f"stream {stream!r} does not exist in region {s.region}"
                ) from exc
            raise startup_error(exc, f"describing stream {stream!r}", self.url) from exc
        except Exception as exc:
            raise startup_error(exc, f"describing stream {stream!r}", self.url) from exc
        return summary_of(answer, stream)

    async def list_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = dict(self._s.stream_ref)
        while True:
            try:
                page = await self._client.list_shards(**kwargs)
            except Exception as exc:
                doing = f"listing the shards of stream {self._s.stream_label!r}"
                raise startup_error(exc, doing, self.url) from exc
            shards.extend(page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    # -- the botocore transport's data plane ---------------------------------------------
    async def put_records(self, entries: Sequence[Entry]) -> PutResult:
        records: list[dict[str, Any]] = [
            {"Data": e.data, "PartitionKey": e.partition_key} for e in entries
        ]
        for record, entry in zip(records, entries, strict=True):
            if entry.explicit_hash_key is not None:  # an aggregate, routed to its shard
                record["ExplicitHashKey"] = entry.explicit_hash_key
        try:
            answer = await self._client.put_records(**self._s.stream_ref, Records=records)
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
