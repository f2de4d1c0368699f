"""Signed JSON posts to one Kinesis endpoint: the `fast` transport's HTTP.

What it does: `Poster` holds one keep-alive aiohttp pool for an endpoint URL and posts JSON 1.1
bodies to it, each signed for its `X-Amz-Target` (`sigv4.Signer`, one per target). It goes
through the proxy the environment names for that URL, looked up once as botocore looks it up
(`proxy_for`: HTTP_PROXY or HTTPS_PROXY by the URL's scheme, `http://` added to a bare
host:port, NO_PROXY matched against host and host:port), and verifies TLS against the bundle
botocore would use (`tls.tls_context`), made only when a connection needs TLS (an https
endpoint or proxy). `put_records` turns a PutRecords post into a `PutResult`: every transport
failure is data, never an exception.

What it leaves out: credentials (the caller's, passed per post), retries (the pipeline's for
PutRecords, `control.py`'s for the control plane) and what the answers mean (`wire.py`).
"""

from __future__ import annotations

import contextlib
import ssl
import time
import urllib.request
from typing import Final, Protocol
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from streamer.aws.sigv4 import Signer
from streamer.aws.tls import tls_context
from streamer.errors import RequestFailure
from streamer.kinesis import PutResult
from streamer.wire import CONTENT_TYPE, TARGET_PREFIX, decode_put_records

KEEPALIVE_S: Final = 30.0
"""How long an idle connection of the pool stays open."""


class Credentials(Protocol):
    """Frozen credentials, as botocore's `ReadOnlyCredentials` and `StaticCredentials` hold them."""

    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def token(self) -> str | None: ...


def proxy_for(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy (without its credentials) and the credentials botocore would use for `url`,
    from the environment; (None, None) for none."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.netloc):
        return None, None
    value = urllib.request.getproxies().get(parts.scheme)
    if not value:
        return None, None
    if not value.startswith(("http:", "https:")):
        value = "http:" + value if value.startswith("//") else "http://" + value
    proxy = URL(value)
    if proxy.user is None:
        return proxy, None
    return proxy.with_user(None), aiohttp.BasicAuth(proxy.user, proxy.password or "")


class Poster:
    """Signed posts of JSON bodies to one endpoint URL over a keep-alive pool."""

    def __init__(
        self,
        url: str,
        region: str,
        *,
        max_connections: int,
        request_timeout_s: float,
        connect_timeout_s: float,
        ca_bundle: str | None = None,
    ) -> None:
        self.url = url
        """The endpoint, as given (for messages)."""
        # the path spelled out ("/"), as a proxy reads the request's absolute form
        self._target = URL(url if urlsplit(url).path else url + "/")
        self._region = region
        self._limit = max_connections
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, sock_connect=connect_timeout_s
        )
        self.request_timeout_s = request_timeout_s
        self._ca_bundle = ca_bundle
        self._signers: dict[str, Signer] = {}
        self._http: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        """Make the pool (closed by `stack`) and look up the proxy and the trust store."""
        self._proxy, self._proxy_auth = proxy_for(str(self._target))
        tls = self._target.scheme == "https" or (
            self._proxy is not None and self._proxy.scheme == "https"
        )
        # never aiohttp's default contexts (see tls.import_aiohttp); none needed without TLS
        context: ssl.SSLContext | bool = tls_context(self._ca_bundle) if tls else False
        connector = aiohttp.TCPConnector(
            limit=self._limit, keepalive_timeout=KEEPALIVE_S, ssl=context
        )
        self._http = await stack.enter_async_context(
            aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        )

    @property
    def proxy(self) -> str | None:
        """The proxy posts go through, without its credentials (for logs and tests)."""
        return None if self._proxy is None else str(self._proxy)

    def _signer(self, action: str) -> Signer:
        signer = self._signers.get(action)
        if signer is None:
            headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + action}
            signer = Signer(self.url, headers, service="kinesis", region=self._region)
            self._signers[action] = signer
        return signer

    async def post(self, action: str, body: bytes, credentials: Credentials) -> tuple[int, bytes]:
        """POST `body` as Kinesis action `action`: the answer's status and body (a redirect is
        not followed: it is the answer). Raises what aiohttp raises (TimeoutError,
        aiohttp.ClientError, OSError)."""
        assert self._http is not None, "open() first"
        headers = self._signer(action).headers(
            body, credentials.access_key, credentials.secret_key, credentials.token, time.time()
        )
        async with self._http.post(
            self._target,
            data=body,
            headers=headers,
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
            allow_redirects=False,  # as botocore: a redirect is an answer, never followed
        ) as resp:
            return resp.status, await resp.read()

    async def put_records(self, body: bytes, sent: int, credentials: Credentials) -> PutResult:
        """One PutRecords post of `sent` records: its outcome, or its failure as data."""
        try:
            status, raw = await self.post("PutRecords", body, credentials)
        except TimeoutError:
            return RequestFailure(
                "RequestTimeout",
                f"no answer within {self.request_timeout_s:g} s",
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
        return decode_put_records(status, raw, sent)
