"""The Kinesis client verifies TLS everywhere there is TLS: only a plain-HTTP endpoint reached
without a proxy skips loading the CA bundle."""

from __future__ import annotations

import contextlib
import os
import re
import sys

import pytest

from streamer.aws.boto import tls_verify
from streamer.aws.poster import Poster, proxies_possible, proxy_for
from streamer.errors import ConfigError

PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_VARIABLES, "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("endpoint", "verify"),
    [
        ("http://127.0.0.1:4567", False),
        ("https://kinesis.eu-west-1.amazonaws.com", None),
        ("https://127.0.0.1:4567", None),
        (None, None),
    ],
)
def test_only_plain_http_skips_verification(
    no_proxy: pytest.MonkeyPatch, endpoint: str | None, verify: bool | None
) -> None:
    """http:// has no TLS to verify; https:// and the default endpoint keep botocore's default."""
    assert tls_verify(endpoint) is verify


def test_a_proxy_keeps_verification(no_proxy: pytest.MonkeyPatch) -> None:
    """Through a proxy (which may speak TLS) the default stays, even for an http:// endpoint."""
    no_proxy.setenv("HTTP_PROXY", "https://proxy.example:3128")
    assert tls_verify("http://127.0.0.1:4567") is None


def test_a_proxy_for_other_schemes_or_hosts_changes_nothing(no_proxy: pytest.MonkeyPatch) -> None:
    """An https-only proxy or a NO_PROXY list does not carry http:// requests."""
    no_proxy.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    no_proxy.setenv("NO_PROXY", "localhost")
    assert tls_verify("http://127.0.0.1:4567") is False


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="urllib reads system settings")
def test_proxies_are_looked_up_only_where_a_variable_can_name_one(
    no_proxy: pytest.MonkeyPatch,
) -> None:
    """Without a `*_proxy` variable there is nothing to look up (and urllib.request is not
    imported for it); a variable in any case is found as urllib finds it."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            no_proxy.delenv(name)
    assert not proxies_possible()
    assert proxy_for("https://kinesis.eu-west-1.amazonaws.com/") == (None, None)
    no_proxy.setenv("Https_Proxy", "http://proxy.example:3128")
    assert proxies_possible()
    assert proxy_for("https://kinesis.eu-west-1.amazonaws.com/") == (
        "http://proxy.example:3128",
        None,
    )


@pytest.mark.parametrize(
    ("value", "proxy", "auth"),
    [
        ("http://proxy.example:3128", "http://proxy.example:3128", None),
        ("proxy.example:3128", "http://proxy.example:3128", None),
        ("http://us%40r:p%3Ass@proxy.example:3128", "http://proxy.example:3128", ("us@r", "p:ss")),
        ("https://user@[::1]:3128/", "https://[::1]:3128/", ("user", "")),
    ],
)
def test_the_posts_proxy_and_its_credentials(
    no_proxy: pytest.MonkeyPatch, value: str, proxy: str, auth: tuple[str, str] | None
) -> None:
    """The proxy is named without its credentials; they are decoded and sent apart."""
    no_proxy.setenv("HTTPS_PROXY", value)
    assert proxy_for("https://kinesis.eu-west-1.amazonaws.com/") == (proxy, auth)
    assert proxy_for("http://kinesis.eu-west-1.amazonaws.com/") == (None, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://proxy.example:99999", "unusable"),
        ("http://:3128", "unusable"),
        ("http://us%3Aer:pw@proxy.example:3128", "must not hold a ':'"),
        ("http://\u0107:pw@proxy.example:3128", "Latin-1"),
    ],
)
async def test_a_proxy_that_cannot_be_used_is_a_configuration_error(
    no_proxy: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    """Refused at start-up, naming the variable, rather than failing each post."""
    no_proxy.setenv("HTTPS_PROXY", value)
    poster = Poster(
        "https://kinesis.eu-west-1.amazonaws.com",
        "eu-west-1",
        max_connections=1,
        request_timeout_s=1,
        connect_timeout_s=1,
    )
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(ConfigError, match=f"HTTPS_PROXY.*{re.escape(problem)}"):
            await poster.open(stack)


@pytest.mark.parametrize("scheme", ["https", "HTTPS", "Https"])
async def test_an_https_endpoint_in_any_case_gets_tls(
    no_proxy: pytest.MonkeyPatch, scheme: str
) -> None:
    poster = Poster(
        f"{scheme}://kinesis.eu-west-1.amazonaws.com",
        "eu-west-1",
        max_connections=1,
        request_timeout_s=1,
        connect_timeout_s=1,
    )
    async with contextlib.AsyncExitStack() as stack:
        await poster.open(stack)
        origin = poster._origin
        assert origin is not None
        assert origin._tls is not None
        assert origin._port == 443
