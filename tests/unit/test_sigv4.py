"""The lean SigV4 signer signs exactly as botocore's `SigV4Auth` does for the same request.

Hypothesis draws bodies, credentials (with and without a session token), regions, endpoint URLs
(ports default or not, IPv4, IPv6, names, a path) and times; botocore signs a copy of the request
and our headers must equal the ones it sends (the time is taken from botocore's own stamp).
"""

from __future__ import annotations

import calendar
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.aws.sigv4 import Signer, host_of

FIXED = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "Kinesis_20131202.PutRecords",
}
urls = st.sampled_from(
    [
        "https://kinesis.us-east-1.amazonaws.com",
        "https://kinesis.eu-west-1.amazonaws.com:443",
        "http://127.0.0.1:4567",
        "http://localhost",
        "http://[::1]:8080",
        "https://proxy.example.com:8443/kinesis/",
    ]
)
keys = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=20)
secrets = st.text("abcdefghijklmnopqrstuvwxyz0123456789/+", min_size=30, max_size=40)
tokens = st.one_of(st.none(), st.text("abcdefXYZ0123456789/+=", min_size=10, max_size=60))


@settings(max_examples=60)
@given(
    body=st.binary(max_size=2000),
    url=urls,
    access_key=keys,
    secret_key=secrets,
    token=tokens,
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
)
def test_headers_equal_botocore_sigv4(
    body: bytes, url: str, access_key: str, secret_key: str, token: str | None, region: str
) -> None:
    """Same X-Amz-Date, token header and Authorization (credential, signed headers, signature)."""
    credentials = Credentials(access_key, secret_key, token).get_frozen_credentials()
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(FIXED))
    SigV4Auth(credentials, "kinesis", region).add_auth(request)
    theirs = dict(request.headers)
    now = calendar.timegm(time.strptime(theirs["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    ours = Signer(url, FIXED, service="kinesis", region=region).headers(
        body, access_key, secret_key, token, now
    )
    assert ours == theirs


def test_signing_key_is_reused_within_a_day_and_renewed_after() -> None:
    """Two calls on one day share the derived key; the next day derives a new one."""
    signer = Signer("http://127.0.0.1:1", FIXED, service="kinesis", region="us-east-1")
    day = calendar.timegm((2026, 12, 1, 10, 0, 0))
    first = signer.headers(b"a", "AK", "secret", None, day)["Authorization"]
    again = signer.headers(b"a", "AK", "secret", None, day)["Authorization"]
    later = signer.headers(b"a", "AK", "secret", None, day + 86_400)["Authorization"]
    assert first == again
    assert "20261201/us-east-1/kinesis" in first
    assert "20261202/us-east-1/kinesis" in later
    assert list(signer._keys) == [("secret", "20261202")]


def test_host_of_drops_only_the_default_port() -> None:
    """The Host value botocore signs: the port unless it is the scheme's default."""
    assert host_of("https://a.example.com:443/x") == "a.example.com"
    assert host_of("http://a.example.com:443") == "a.example.com:443"
    assert host_of("http://[::1]:80") == "[::1]"
