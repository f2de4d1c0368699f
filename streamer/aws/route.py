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
from urllib.parse import urlsplit

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
    "AWS_ACCOUNT_ID",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE",
)
"""Environment variables that change what botocore would do (profile, credentials' expiry,
endpoints (an account ID sends requests to account endpoints), models); any of them set sends
the run through botocore. (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE count when the file
they name exists: `aws_files`.)"""
_UNSAFE_URL_CHARS: Final = frozenset("\t\r\n")
"""Characters botocore refuses in an endpoint URL (urlsplit would strip them)."""
_VARIABLE: Final = re.compile(r"\$(\w+)|\$\{([^}]*)\}")
"""$NAME or ${NAME}, as os.path.expandvars reads them."""
_LABEL: Final = re.compile(r"^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$")
"""One label of a host name, as botocore checks it."""
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


def aws_files(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """The AWS config and shared credentials files botocore would read (AWS_CONFIG_FILE, else
    ~/.aws/config; AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), expanded as botocore
    expands them: environment variables, then `~`. botocore reads settings (endpoints, FIPS, a
    CA bundle) from both."""
    config = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    shared = environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return Path(_expand(config, environ)), Path(_expand(shared, environ))


def _expand(path: str, environ: Mapping[str, str]) -> str:
    """os.path.expandvars then expanduser, against the environment given."""
    path = _VARIABLE.sub(lambda m: environ.get(m[1] or m[2], m[0]), path)
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return os.path.expanduser(path)  # ~user


def any_aws_file(environ: Mapping[str, str]) -> bool:
    """Whether either AWS file botocore would read exists."""
    return any(path.is_file() for path in aws_files(environ))


def direct_route(
    s: AwsSettings,
    environ: Mapping[str, str],
    *,
    files_exist: bool,
    partitions: list[dict[str, Any]] | None = None,
) -> DirectRoute | None:
    """The direct route of a run with settings `s`, or None when it needs botocore.

    `files_exist` says whether an AWS config or shared credentials file exists (`any_aws_file`);
    `partitions` is botocore's list (read from its `partitions.json` when not given and needed).
    """
    if s.transport != "fast" or s.profile or s.role_arn or files_exist:
        return None
    if any(environ.get(name) for name in BOTOCORE_ONLY_ENV):
        return None
    credentials = static_credentials(s, environ)
    if credentials is None or not _REGION.match(s.region):
        return None
    url = s.endpoint_url
    if url and not plain_endpoint(url):
        return None  # botocore says what is wrong with it
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
    token = environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN") or None
    return StaticCredentials(key, secret, token)


def plain_endpoint(url: str) -> bool:
    """Whether `url` is an endpoint botocore takes as it is: http or https, a valid host name,
    no user or password, no query or fragment, nothing urlsplit would strip."""
    if _UNSAFE_URL_CHARS.intersection(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return False
    host = parts.hostname
    if parts.scheme not in {"http", "https"} or not host or len(host) > 255:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    if parts.query or parts.fragment:
        return False
    if ":" in host:  # an IPv6 literal (urlsplit checked its brackets)
        return True
    return all(_LABEL.match(label) for label in host.removesuffix(".").split("."))


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


def botocore_file(*parts: str) -> str | None:
    """The path of a file the installed botocore ships (e.g. "data", "partitions.json"), found
    without importing botocore; None when botocore or the file is missing."""
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(next(iter(spec.submodule_search_locations)), *parts)
    return path if os.path.isfile(path) else None


def botocore_partitions() -> list[dict[str, Any]]:
    """botocore's partitions, read from the installed package's data without importing it."""
    path = botocore_file("data", "partitions.json")
    if path is None:
        return []
    try:
        with open(path, "rb") as f:
            data = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return []
    partitions = data.get("partitions") if isinstance(data, dict) else None
    return partitions if isinstance(partitions, list) else []
