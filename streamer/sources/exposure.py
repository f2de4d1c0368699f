"""Pure rules about what inputs listen on: beyond this machine, and with TLS.

What it does: `input_problem` checks the inputs against the HTTP settings: an `https://` input
needs both `tls_cert_file` and `tls_key_file`, which go together and are set only for one;
`is_loopback` says whether a host is this machine only (127.0.0.0/8, ::1,
`localhost`); `exposure_problem` names, in one sentence, the first input that would listen on
another address without authentication: any `tcp://` input (a raw socket has none), or an
`http://`/`https://` input without a token file. Both are allowed only with
`allow_remote_unauthenticated`.

What it leaves out: resolving host names (any name but `localhost` counts as remote) and
binding (`sockets.py`, `http.py`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from streamer.sources.address import InputSpec

HTTP_SCHEMES = ("http", "https")


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(specs: Iterable[InputSpec], *, has_token: bool, allowed: bool) -> str | None:
    """Why these inputs may not listen where they are asked to, or None."""
    if allowed:
        return None
    for spec in specs:
        if not spec.host or is_loopback(spec.host):
            continue
        if spec.kind == "tcp":
            return (
                f"input {spec} would accept lines from other machines with no authentication: "
                "bind it to 127.0.0.1, use an http:// input with http_token_file, or set "
                "allow_remote_unauthenticated = true"
            )
        if spec.kind in HTTP_SCHEMES and not has_token:
            return (
                f"input {spec} would accept records from other machines with no authentication: "
                "set http_token_file, bind it to 127.0.0.1, or set "
                "allow_remote_unauthenticated = true"
            )
    return None


def input_problem(
    specs: Iterable[InputSpec],
    *,
    has_token: bool,
    tls_files: tuple[object | None, object | None],
    allowed: bool,
) -> str | None:
    """The first rule the inputs break (TLS files, then exposure), in one sentence, or None."""
    specs = list(specs)
    cert, key = tls_files
    if (cert is None) != (key is None):
        return "tls_cert_file and tls_key_file must be given together"
    https = any(spec.kind == "https" for spec in specs)
    if https and cert is None:
        return "an https:// input needs tls_cert_file and tls_key_file"
    if cert is not None and not https:
        return "tls_cert_file and tls_key_file are set but no input is https://"
    return exposure_problem(specs, has_token=has_token, allowed=allowed)
