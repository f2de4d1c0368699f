"""Error classification: one row per family of Kinesis error codes, and the exit codes."""

from __future__ import annotations

import pytest

from streamer.errors import (
    CREDENTIAL_ERRORS,
    RETRIABLE_REQUEST_ERRORS,
    ConfigError,
    CredentialsError,
    ExitCode,
    RequestFailure,
    StreamerError,
    StreamMissingError,
    StreamNotActiveError,
    UnreachableError,
    classify_request_error,
    is_retriable_record_error,
)


@pytest.mark.parametrize(
    ("code", "status", "retriable"),
    [
        pytest.param("ProvisionedThroughputExceededException", 400, True, id="throughput"),
        pytest.param("ThrottlingException", 400, True, id="throttling"),
        pytest.param("LimitExceededException", 400, True, id="limit-exceeded"),
        pytest.param("KMSThrottlingException", 400, True, id="kms-throttling"),
        pytest.param("InternalFailure", 500, True, id="internal-failure"),
        pytest.param("ServiceUnavailable", 503, True, id="unavailable"),
        pytest.param("ExpiredTokenException", 400, True, id="expired-token"),
        pytest.param("ResourceInUseException", 400, True, id="stream-updating"),
        pytest.param("SomethingNew", 502, True, id="unknown-5xx"),
        pytest.param("SomethingNew", 429, True, id="too-many-requests"),
        pytest.param("AccessDeniedException", 400, False, id="access-denied"),
        pytest.param("UnrecognizedClientException", 400, False, id="bad-key"),
        pytest.param("InvalidSignatureException", 400, False, id="bad-signature"),
        pytest.param("ValidationException", 400, False, id="validation"),
        pytest.param("InvalidArgumentException", 400, False, id="invalid-argument"),
        pytest.param("ResourceNotFoundException", 400, False, id="stream-gone"),
        pytest.param("KMSAccessDeniedException", 400, False, id="kms-denied"),
        pytest.param("SomethingNew", 400, False, id="unknown-4xx"),
    ],
)
def test_request_error_classification(code: str, status: int, retriable: bool) -> None:
    """Each family of whole-request errors is retriable or not, by code then by status."""
    failure = classify_request_error(code, "msg", status=status)
    assert failure == RequestFailure(code=code, message="msg", retriable=retriable)


@pytest.mark.parametrize(
    ("code", "retriable"),
    [
        ("ProvisionedThroughputExceededException", True),
        ("InternalFailure", True),
        ("KMSThrottlingException", True),
        ("KMSAccessDeniedException", False),
        ("KMSNotFoundException", False),
        ("KMSDisabledException", False),
        ("ValidationException", False),
    ],
)
def test_record_error_classification(code: str, retriable: bool) -> None:
    """Per-record ErrorCodes are retried only for throttling and internal failures."""
    assert is_retriable_record_error(code) is retriable


def test_credential_errors_are_never_retried() -> None:
    """No credential error is in the retriable set, so a refused key fails fast."""
    assert not CREDENTIAL_ERRORS & RETRIABLE_REQUEST_ERRORS
    for code in CREDENTIAL_ERRORS:
        assert not classify_request_error(code, "", status=403).retriable


def test_describe_joins_code_and_message() -> None:
    """describe() names the code, with the message when there is one."""
    assert RequestFailure("C", "m", retriable=False).describe() == "C: m"
    assert RequestFailure("C", "", retriable=False).describe() == "C"


def test_each_start_up_failure_has_its_own_exit_code() -> None:
    """Start-up errors exit non-zero, each with a distinct code."""
    classes = [
        StreamerError,
        ConfigError,
        StreamMissingError,
        StreamNotActiveError,
        CredentialsError,
        UnreachableError,
    ]
    codes = [cls.exit_code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert ExitCode.OK not in codes
    assert all(issubclass(cls, StreamerError) for cls in classes)
