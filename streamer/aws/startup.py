"""Start-up failures from AWS libraries as `StreamerError`s: one sentence and its exit code.

What it does: classifies every exception credential loading, AssumeRole, the client's region and
endpoint, DescribeStreamSummary and ListShards can raise: configuration (2), stream missing (3),
credentials (5), network or service (6), anything else a plain failure (1).

What it leaves out: failures of PutRecords calls, which are data (`RequestFailure`), not errors.
"""

from __future__ import annotations

import streamer.aws.quiet_aiohttp  # noqa: F401 - first: see there

# isort: split
import aiohttp
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    InvalidConfigError,
    InvalidRegionError,
    MetadataRetrievalError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
    UnknownCredentialError,
    UnknownEndpointError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from streamer.errors import (
    ConfigError,
    CredentialsError,
    StreamerError,
    UnreachableError,
    refusal_error,
)

_CONFIG_EXCEPTIONS = (
    InvalidRegionError,
    NoRegionError,
    UnknownEndpointError,
    ParamValidationError,
    InvalidConfigError,
)
_CREDENTIAL_EXCEPTIONS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    ProfileNotFound,
    TokenRetrievalError,
    UnknownCredentialError,
    MetadataRetrievalError,
)
_NETWORK_EXCEPTIONS = (BotoConnectionError, HTTPClientError, aiohttp.ClientError, TimeoutError)


def startup_error(exc: Exception, doing: str, url: str) -> StreamerError:
    """One sentence and its exit code for an exception met while `doing` something at start-up:
    configuration (2), stream missing (3), credentials (5), network or service (6), else a plain
    failure (1). At run time the pipeline treats any of them as a failed refresh."""
    error = exc if isinstance(exc, StreamerError) else _classify(exc, doing, url)
    text = str(error)
    return error if "\n" not in text else type(error)(" ".join(text.split()))


def _classify(exc: Exception, doing: str, url: str) -> StreamerError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return refusal_error(err.get("Code", "Unknown"), err.get("Message", ""), doing)
    if isinstance(exc, _CONFIG_EXCEPTIONS):
        return ConfigError(f"invalid AWS setting when {doing}: {exc}")
    if isinstance(exc, _CREDENTIAL_EXCEPTIONS):
        return CredentialsError(f"AWS credentials could not be loaded when {doing}: {exc}")
    if isinstance(exc, _NETWORK_EXCEPTIONS):
        detail = str(exc) or type(exc).__name__
        return UnreachableError(f"the endpoint {url} is unreachable when {doing}: {detail}")
    return StreamerError(f"{doing} failed: {type(exc).__name__}: {exc}")
