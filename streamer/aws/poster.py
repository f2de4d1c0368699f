"""Signed JSON posts to one Kinesis endpoint: the `fast` transport's HTTP.

What it does: `Poster` holds one keep-alive pool for an endpoint URL and posts JSON 1.1 bodies to
it, each signed for its `X-Amz-Target` (`sigv4.Signer`, one per target). Straight to the
endpoint, the pool is `h1.Origin` (the head written once per post, the answer parsed by
httptools); through the proxy the environment names for that URL, it is aiohttp's, which speaks
to proxies (looked up once as botocore looks it up, `proxy_for`: HTTP_PROXY or HTTPS_PROXY by
the URL's scheme, `http://` added to a bare host:port, NO_PROXY matched against host and
host:port; urllib, which reads them, is imported only where a proxy can be named: an
environment variable ending in `_proxy`, or macOS and Windows, where it also reads the system's
settings). TLS is verified against the bundle botocore would use (`tls.tls_context`), made
only when a connection needs TLS (an https endpoint or proxy). `put_records` turns a PutRecords
post into a `PutResult`: every transport failure is data, never an exception.

What it leaves out: credentials (the caller's, passed per post), retries (the pipeline's for
PutRecords, `control.py`'s for the control plane) and what the answers mean (`wire.py`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import time
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import unquote, urlsplit

from streamer import __version__
from streamer.aws.h1 import ConnectFailed, Origin
from streamer.aws.sigv4 import DEFAULT_PORTS, Signer, host_of
from streamer.aws.tls import tls_context
from streamer.errors import ConfigError, RequestFailure
from streamer.kinesis import PutResult
from streamer.wire import CONTENT_TYPE, TARGET_PREFIX, decode_put_records

if TYPE_CHECKING:
    import aiohttp

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


def proxies_possible() -> bool:
    """Whether urllib could name a proxy: from an environment variable named `*_proxy` (any
    case), and on macOS and Windows also from the system's settings."""
    return sys.platform in ("darwin", "win32") or any(
        name.lower().endswith("_proxy") for name in os.environ
    )


def proxy_for(url: str) -> tuple[str | None, tuple[str, str] | None]:
    """The proxy URL (without its credentials) and the (user, password) botocore would use for
    `url`, from the environment; (None, None) for none."""
    if not proxies_possible():
        return None, None  # and no urllib.request (http.client, email...): ~14 ms of start-up
    import urllib.request  # noqa: PLC0415  (see above)

    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.netloc):
        return None, None
    value = urllib.request.getproxies().get(parts.scheme)
    if not value:
        return None, None
    if not value.startswith(("http:", "https:")):
        value = "http:" + value if value.startswith("//") else "http://" + value
    proxy = urlsplit(value)
    if proxy.username is None:
        return value, None
    netloc = proxy.netloc.rpartition("@")[2]
    bare = proxy._replace(netloc=netloc).geturl()
    return bare, (unquote(proxy.username), unquote(proxy.password or ""))


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
        self._target = url if urlsplit(url).path else url + "/"
        self._scheme = urlsplit(url).scheme  # lower case, as urlsplit gives it
        self._region = region
        self._limit = max_connections
        self.request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._ca_bundle = ca_bundle
        self._signers: dict[str, Signer] = {}
        self._http: aiohttp.ClientSession | None = None
        """aiohttp's pool, through a proxy (else None)."""
        self._origin: Origin | None = None
        """The pool straight to the endpoint (else None)."""
        self._head = ""
        """The request line and the headers every post of `h1` sends before its signed ones."""
        self._proxy: str | None = None
        self._proxy_auth: tuple[str, str] | None = None
        self._proxy_headers: dict[str, str] = {}

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        """Make the pool (closed by `stack`) and look up the proxy and the trust store."""
        self._proxy, self._proxy_auth = proxy_for(self._target)
        tls = "https" in (self._scheme, self._proxy and urlsplit(self._proxy).scheme)
        # never aiohttp's default contexts (see tls.import_aiohttp); none needed without TLS
        context = tls_context(self._ca_bundle) if tls else None
        if self._proxy is None:
            parts = urlsplit(self._target)
            self._origin = Origin(
                parts.hostname or "",
                parts.port or DEFAULT_PORTS[self._scheme],
                tls=context,
                limit=self._limit,
                keepalive_s=KEEPALIVE_S,
                connect_timeout_s=self._connect_timeout_s,
            )
            stack.callback(self._origin.close)
            path = Signer.path_of(self.url)
            self._head = (
                f"POST {path} HTTP/1.1\r\nHost: {host_of(self.url)}\r\n"
                f"User-Agent: streamer/{__version__}\r\n"
            )
            return
        self._proxy_headers = self._proxy_authorization()
        import streamer.aws.quiet_aiohttp  # noqa: F401, PLC0415 - only for a proxy (0.05 CPU s)

        # isort: split
        import aiohttp  # noqa: PLC0415

        connector = aiohttp.TCPConnector(
            limit=self._limit, keepalive_timeout=KEEPALIVE_S, ssl=context or False
        )
        self._http = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self.request_timeout_s, sock_connect=self._connect_timeout_s
                ),
            )
        )

    def _proxy_authorization(self) -> dict[str, str]:
        """The proxy's `Proxy-Authorization` header (none without credentials), encoded as
        botocore encodes it (Latin-1); a proxy URL or credentials that cannot be used are a
        configuration error, at start-up rather than at each post."""
        assert self._proxy is not None
        variable = f"{self._scheme.upper()}_PROXY"
        try:
            parts = urlsplit(self._proxy)
            if not parts.hostname:
                raise ValueError("no host")  # noqa: TRY301 - one message for every flaw
            _ = parts.port  # a port out of range or not a number raises
        except ValueError as exc:
            raise ConfigError(f"{variable} names the proxy {self._proxy}, unusable: {exc}") from exc
        if self._proxy_auth is None:
            return {}
        user, password = self._proxy_auth
        if ":" in user:
            raise ConfigError(f"{variable}: the proxy's user name must not hold a ':'")
        try:
            token = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode()
        except UnicodeEncodeError as exc:
            raise ConfigError(
                f"{variable}: the proxy's user name and password must be Latin-1 text"
            ) from exc
        return {"Proxy-Authorization": f"Basic {token}"}

    @property
    def proxy(self) -> str | None:
        """The proxy posts go through, without its credentials (for logs and tests)."""
        return self._proxy

    def _signer(self, action: str) -> Signer:
        signer = self._signers.get(action)
        if signer is None:
            headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + action}
            signer = Signer(self.url, headers, service="kinesis", region=self._region)
            self._signers[action] = signer
        return signer

    async def post(self, action: str, body: bytes, credentials: Credentials) -> tuple[int, bytes]:
        """POST `body` as Kinesis action `action`: the answer's status and body (a redirect is
        not followed: it is the answer). Raises TimeoutError, `h1.ConnectFailed` (nothing sent)
        or another OSError (through a proxy, aiohttp's errors are raised as these)."""
        headers = self._signer(action).headers(
            body, credentials.access_key, credentials.secret_key, credentials.token, time.time()
        )
        if self._origin is not None:
            head = [self._head, f"Content-Length: {len(body)}\r\n"]
            for name, value in headers.items():
                if not value.isprintable():  # credentials are the caller's
                    raise ValueError(f"the {name} header would hold a control character")
                head.append(f"{name}: {value}\r\n")
            head.append("\r\n")
            return await self._origin.post("".join(head).encode(), body, self.request_timeout_s)
        return await self._through_proxy(body, headers)

    async def _through_proxy(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        import aiohttp  # noqa: PLC0415 - imported by `open` for a proxy

        assert self._http is not None, "open() first"
        if self._proxy_headers and self._scheme != "https":
            # plain HTTP goes to the proxy itself (aiohttp sends proxy_headers on CONNECT only)
            headers = {**headers, **self._proxy_headers}
        try:
            async with self._http.post(
                self._target,
                data=body,
                headers=headers,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                allow_redirects=False,  # as botocore: a redirect is an answer, never followed
            ) as resp:
                return resp.status, await resp.read()
        except TimeoutError:
            raise
        except aiohttp.ClientConnectorError as exc:
            raise ConnectFailed(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionError(str(exc) or type(exc).__name__) from exc

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
        except ConnectFailed as exc:
            return RequestFailure("ConnectionError", str(exc), retriable=True)
        except OSError as exc:
            cause = exc.__cause__ or exc  # through a proxy: aiohttp's error, named
            return RequestFailure(
                "ConnectionError",
                f"{type(cause).__name__}: {cause}",
                retriable=True,
                maybe_written=True,
            )
        return decode_put_records(status, raw, sent)
