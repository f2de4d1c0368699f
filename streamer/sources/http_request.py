"""Pure pieces of the HTTP input: its address, its settings, the media check and the body decoder.

What it does: `parse_http` reads the part after `http://` or `https://` of an `--input` value;
`HttpSettings` is what the HTTP input is handed from the configuration; `check_media` says
whether a request's `Content-Type` and `Content-Encoding` are ones it takes (NDJSON as
`application/x-ndjson`, `application/json` or no type; identity or gzip); `BodyDecoder` takes
the raw body chunk by chunk, gunzips it when asked, and raises `BodyTooLarge` as soon as the raw
or the decompressed size passes the limit, so a gzip bomb is cut off after at most the limit
plus one chunk of output, and `BadBody` for a broken gzip stream.

What it leaves out: sockets, aiohttp and the daemon (`http.py`); the bearer token
(`http_auth.py`); what became of the lines (`http_tally.py`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from streamer import limits
from streamer.sources.address import InputSpec, parse_host_port

NDJSON_TYPES: Final = frozenset({"", "application/x-ndjson", "application/json"})
"""Media types a body may be declared as ("" is no Content-Type at all)."""
GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
"""zlib's window bits for a gzip header and trailer."""


def parse_http(text: str, rest: str) -> InputSpec:
    """The part after `http://` or `https://` of the input `text` (a trailing `/` is allowed)."""
    scheme = text.partition("://")[0]
    hp = parse_host_port(rest.removesuffix("/"), label=f"input {text!r}")
    return InputSpec(scheme, host=hp.host, port=hp.port)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """What the HTTP input needs of the configuration."""

    max_body_bytes: int = limits.DEFAULT_MAX_BODY_BYTES
    wait_s: float = limits.DEFAULT_HTTP_WAIT_S
    """How long a request waits for room (or for its lines to become durable) before a 503."""
    settle_wait_s: float = limits.DEFAULT_RECORD_BUDGET_S + limits.DEFAULT_DRAIN_DEADLINE_S
    """How long `?wait=delivered` waits for the lines to settle (record budget plus drain)."""
    token_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


class Media(NamedTuple):
    """The verdict on a request's declared media: a problem (a 415 reason) or whether to gunzip."""

    problem: str | None
    gzipped: bool = False


def check_media(content_type: str | None, content_encoding: str | None) -> Media:
    """Whether a body declared with these headers is one the input takes."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in NDJSON_TYPES:
        return Media(
            f"Content-Type {media!r} is not taken: send NDJSON as application/x-ndjson "
            "(or application/json, or no Content-Type)"
        )
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return Media(None)
    if encoding in ("gzip", "x-gzip"):
        return Media(None, gzipped=True)
    return Media(f"Content-Encoding {encoding!r} is not taken: send gzip or no encoding")


class BodyTooLarge(Exception):
    """The body, or what it decompresses to, is over the limit (a 413)."""


class BadBody(Exception):
    """The body cannot be decoded (a 400)."""


class BodyDecoder:
    """Takes a body chunk by chunk; `finish` returns it decoded, whole."""

    __slots__ = ("_gzip", "_gzipped", "_limit", "_parts", "_raw", "_size")

    def __init__(self, limit: int, *, gzipped: bool) -> None:
        self._limit = limit
        self._gzipped = gzipped
        self._gzip = zlib.decompressobj(GZIP_WBITS) if gzipped else None
        self._parts: list[bytes] = []
        self._raw = 0
        self._size = 0

    def feed(self, data: bytes) -> None:
        """Take the next raw chunk; raise `BodyTooLarge` or `BadBody`."""
        self._raw += len(data)
        if self._raw > self._limit:
            raise BodyTooLarge(f"the request body is over the limit of {self._limit} bytes")
        if not self._gzipped:
            self._keep(data)
            return
        while data:
            gz = self._gzip
            if gz is None or gz.eof:  # another gzip member follows (concatenated files)
                gz = self._gzip = zlib.decompressobj(GZIP_WBITS)
            try:
                out = gz.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise BadBody(f"the body is not valid gzip: {exc}") from exc
            self._keep(out)
            data = gz.unused_data if gz.eof else gz.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise BodyTooLarge(
                f"the request body decompresses to over the limit of {self._limit} bytes"
            )
        if data:
            self._parts.append(data)

    def finish(self) -> bytes:
        """The whole decoded body; raise `BadBody` if a gzip stream was cut short."""
        if self._gzip is not None and self._raw and not self._gzip.eof:
            raise BadBody("the body is not valid gzip: the stream ends early")
        body = b"".join(self._parts)
        self._parts = []
        return body

    @property
    def raw_bytes(self) -> int:
        return self._raw
