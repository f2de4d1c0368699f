"""Whether a run can reach Kinesis without botocore, and where: the direct route.

What it does: `direct_route` decides, from the settings, the environment and whether an AWS
config file exists, if the run needs nothing botocore alone knows, and then gives the endpoint URL
and the credentials to sign with. It does when the transport is `fast`, no profile and no role
are named, the keys are given (the config file or flags, else AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, with AWS_SESSION_TOKEN when set), no AWS config file exists (it may name
endpoints, FIPS, a CA bundle, ...), no environment variable changes botocore's endpoint or
models, and the endpoint is given or is the region's standard one: `https://kinesis.REGION.SUFFIX`,
the suffix of the region's partition in botocore's own `partitions.json` (read as a file, without
importing botocore). Every other run goes through botocore, as before. botocore and aiobotocore
take about 0.2 CPU s to import, which is most of an empty run's start-up.

What it leaves out: the requests themselves (`control.py`, `poster.py`), and botocore's chain of
credential providers, roles, profiles, FIPS and dual-stack endpoints (`boto.py`).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from streamer.kinesis import AwsSettings

BOTOCORE_ONLY_ENV: Final = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KINESIS",
    "AWS_DATA_PATH",
)
"""Environment variables that change what botocore would do (profile, credentials' expiry,
endpoints, models); any of them set sends the run through botocore. (AWS_CONFIG_FILE counts only
when the file it names exists: `config_file`.)"""
_REGION: Final = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")
"""botocore's rule for a region name (a host name label); any other goes to botocore's error."""


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """Keys that do not expire; shaped as botocore's frozen credentials for the signer."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never the secret
        return f"StaticCredentials(access_key={self.access_key[:4]}...)"


@dataclass(frozen=True, slots=True)
class DirectRoute:
    """Where and as whom a run reaches Kinesis without botocore."""

    url: str
    credentials: StaticCredentials


def config_file(environ: Mapping[str, str]) -> Path:
    """The AWS config file botocore would read: AWS_CONFIG_FILE, else ~/.aws/config."""
    return Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()


def direct_route(
    s: AwsSettings,
    environ: Mapping[str, str],
    *,
    config_exists: bool,
    partitions: list[dict[str, Any]] | None = None,
) -> DirectRoute | None:
    """The direct route of a run with settings `s`, or None when it needs botocore.

    `partitions` is botocore's list (read from its `partitions.json` when not given and needed).
    """
    if s.transport != "fast" or s.profile or s.role_arn or config_exists:
        return None
    if any(environ.get(name) for name in BOTOCORE_ONLY_ENV):
        return None
    credentials = static_credentials(s, environ)
    if credentials is None or not _REGION.match(s.region):
        return None
    url = s.endpoint_url
    if not url:
        if s.stream_arn:  # botocore routes a stream named by ARN to an account endpoint
            return None
        suffix = dns_suffix(s.region, botocore_partitions() if partitions is None else partitions)
        if suffix is None:
            return None
        url = f"https://kinesis.{s.region}.{suffix}"
    return DirectRoute(url, credentials)


def static_credentials(s: AwsSettings, environ: Mapping[str, str]) -> StaticCredentials | None:
    """The keys botocore's chain would take first, when they are static: the settings', else the
    environment's; None when neither holds both halves of a key (botocore then says why)."""
    if s.access_key_id and s.secret_access_key:
        return StaticCredentials(s.access_key_id, s.secret_access_key, s.session_token or None)
    if s.access_key_id or s.secret_access_key:
        return None
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        return None
    token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN") or None
    return StaticCredentials(key, secret, token)


def dns_suffix(region: str, partitions: list[dict[str, Any]]) -> str | None:
    """The DNS suffix of the partition `region` belongs to (listed, else matching its pattern),
    as botocore's endpoint rules pick it; None when no partition claims the region."""
    for partition in partitions:
        if region in partition.get("regions", {}):
            return str(partition["outputs"]["dnsSuffix"])
    for partition in partitions:
        if re.match(partition.get("regionRegex", "$^"), region):
            return str(partition["outputs"]["dnsSuffix"])
    return None


def botocore_partitions() -> list[dict[str, Any]]:
    """botocore's partitions, read from the installed package's data without importing it."""
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = os.path.join(next(iter(spec.submodule_search_locations)), "data", "partitions.json")
    try:
        with open(path, "rb") as f:
            data = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return []
    partitions = data.get("partitions") if isinstance(data, dict) else None
    return partitions if isinstance(partitions, list) else []
