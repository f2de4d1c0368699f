"""Every exception a start-up call can meet (credential loading, AssumeRole, the client's region
and endpoint, DescribeStreamSummary, ListShards) becomes one sentence and its exit code."""

from __future__ import annotations

import aiohttp
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    InvalidRegionError,
    MetadataRetrievalError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSLError,
    TokenRetrievalError,
)

from streamer.aws.startup import startup_error
from streamer.errors import ExitCode, StreamerError, UnreachableError

URL = "https://kinesis.eu-west-1.amazonaws.com"


def client_error(code: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} says no"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "ListShards")


CASES = [
    (InvalidRegionError(region_name="not a region!"), ExitCode.CONFIG),
    (NoRegionError(), ExitCode.CONFIG),
    (ParamValidationError(report="Invalid length for parameter RoleArn"), ExitCode.CONFIG),
    (client_error("ValidationException"), ExitCode.CONFIG),
    (client_error("InvalidArgumentException"), ExitCode.CONFIG),
    (client_error("ResourceNotFoundException"), ExitCode.STREAM_MISSING),
    (NoCredentialsError(), ExitCode.CREDENTIALS),
    (
        PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
        ExitCode.CREDENTIALS,
    ),
    (CredentialRetrievalError(provider="sso", error_msg="expired"), ExitCode.CREDENTIALS),
    (ProfileNotFound(profile="nope"), ExitCode.CREDENTIALS),
    (TokenRetrievalError(provider="sso", error_msg="expired"), ExitCode.CREDENTIALS),
    (MetadataRetrievalError(error_msg="no instance metadata"), ExitCode.CREDENTIALS),
    (client_error("AccessDeniedException"), ExitCode.CREDENTIALS),
    (client_error("AccessDenied", 403), ExitCode.CREDENTIALS),
    (client_error("UnrecognizedClientException"), ExitCode.CREDENTIALS),
    (client_error("InvalidClientTokenId", 403), ExitCode.CREDENTIALS),
    (EndpointConnectionError(endpoint_url=URL), ExitCode.UNREACHABLE),
    (SSLError(endpoint_url=URL, error="WRONG_VERSION_NUMBER"), ExitCode.UNREACHABLE),
    (ConnectTimeoutError(endpoint_url=URL), ExitCode.UNREACHABLE),
    (ReadTimeoutError(endpoint_url=URL), ExitCode.UNREACHABLE),
    (ConnectionClosedError(endpoint_url=URL), ExitCode.UNREACHABLE),
    (aiohttp.ServerDisconnectedError(), ExitCode.UNREACHABLE),
    (TimeoutError(), ExitCode.UNREACHABLE),
    (client_error("InternalFailure", 500), ExitCode.UNREACHABLE),
    (client_error("LimitExceededException"), ExitCode.UNREACHABLE),
    (RuntimeError("unexpected"), ExitCode.FAILURE),
]


def _id(case: tuple[Exception, ExitCode]) -> str:
    exc, code = case
    name = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
    return f"{name}-{int(code)}"


@pytest.mark.parametrize(("exc", "code"), CASES, ids=[_id(c) for c in CASES])
def test_each_exception_has_its_code_and_one_sentence(exc: Exception, code: ExitCode) -> None:
    """The error's exit code is the documented one; its message is one line naming the call."""
    error = startup_error(exc, "listing the shards of stream 's'", URL)
    assert isinstance(error, StreamerError)
    assert error.exit_code == code
    text = str(error)
    assert "\n" not in text
    assert "listing the shards of stream 's'" in text


def test_a_streamer_error_passes_through() -> None:
    """An error already classified keeps its class and sentence."""
    original = UnreachableError("the endpoint is down")
    assert startup_error(original, "anything", URL) is original
