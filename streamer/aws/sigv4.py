"""Pure AWS Signature Version 4 for one kind of request: a POST of a body to an endpoint URL.

What it does: `Signer.headers(body, access_key, secret_key, token, now)` returns the headers to
send (the fixed ones given, `X-Amz-Date`, `X-Amz-Security-Token` with temporary credentials, and
`Authorization`), signed over the same canonical request botocore's `SigV4Auth` builds for such a
request: method, the URL's path, no query, every given header plus `host`, `x-amz-date` and the
token, and the SHA-256 of the body. The endpoint's part of the canonical request is computed once;
the signing key once per day and secret. botocore's generic signer spends about 200 us a call
parsing the URL and canonicalizing headers through `email.message`, which at a few hundred
records a call is a measurable share of the CPU per record; the body's hash is the same work
either way.

What it leaves out: query strings, chunked or unsigned payloads, presigning, header values that
need whitespace folding (the given ones are plain), credentials (resolved and refreshed by the
caller), and the clock (`now` is passed in, seconds since the epoch).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlsplit

ALGORITHM: Final = "AWS4-HMAC-SHA256"
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
"""The port a URL of each scheme means when it names none."""


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def host_of(url: str) -> str:
    """The Host header value for `url`: host, and port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host


class Signer:
    """Signs POSTs of bodies to one URL with fixed headers, for one service and region."""

    __slots__ = ("_fixed", "_fixed_canonical", "_keys", "_path", "_region", "_service")

    def __init__(self, url: str, headers: Mapping[str, str], *, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._path = self.path_of(url)
        self._fixed = dict(headers)
        self._fixed_canonical = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
        self._fixed_canonical["host"] = host_of(url)
        self._keys: dict[tuple[str, str], bytes] = {}

    @staticmethod
    def path_of(url: str) -> str:
        """The request path as signed (and so as sent): the URL's path, quoted, "/" for none."""
        return quote(urlsplit(url).path or "/", safe="/~")

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        key = self._keys.get((secret_key, day))
        if key is None:
            k = _hmac(("AWS4" + secret_key).encode(), day)
            k = _hmac(k, self._region)
            k = _hmac(k, self._service)
            key = _hmac(k, "aws4_request")
            self._keys = {(secret_key, day): key}  # one day and secret at a time
        return key

    def headers(
        self, body: bytes, access_key: str, secret_key: str, token: str | None, now: float
    ) -> dict[str, str]:
        """The headers of a POST of `body` signed at `now` with these credentials."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = stamp[:8]
        canonical = {**self._fixed_canonical, "x-amz-date": stamp}
        if token:
            canonical["x-amz-security-token"] = token
        names = sorted(canonical)
        signed = ";".join(names)
        request = "\n".join(
            (
                "POST",
                self._path,
                "",
                *(f"{name}:{canonical[name]}" for name in names),
                "",
                signed,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
        signature = hmac.new(
            self._signing_key(secret_key, day), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        out = {**self._fixed, "X-Amz-Date": stamp}
        if token:
            out["X-Amz-Security-Token"] = token
        out["Authorization"] = (
            f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}"
        )
        return out
