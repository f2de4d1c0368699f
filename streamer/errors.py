"""The streamer's error tree and the classification of Kinesis failures.

What it does: names the start-up failures (each with its exit code) and classifies every
whole-request failure into one `RequestFailure` value: retriable or not, and whether the records
may have been written anyway (a timeout or reset after sending). Per-record error codes are
classified against `limits.RETRYABLE_RECORD_ERRORS`.

What it leaves out: retry timing (`retry.py`) and talking to AWS (`aws.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from streamer.limits import RETRYABLE_RECORD_ERRORS


class ExitCode(IntEnum):
    """Process exit codes; each start-up failure has its own."""

    OK = 0
    FAILURE = 1
    CONFIG = 2
    STREAM_MISSING = 3
    STREAM_NOT_ACTIVE = 4
    CREDENTIALS = 5
    UNREACHABLE = 6
    INTERRUPTED = 130


class StreamerError(Exception):
    """A failure that stops the daemon with a one-sentence message and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(StreamerError):
    exit_code = ExitCode.CONFIG


class StreamMissingError(StreamerError):
    exit_code = ExitCode.STREAM_MISSING


class StreamNotActiveError(StreamerError):
    exit_code = ExitCode.STREAM_NOT_ACTIVE


class CredentialsError(StreamerError):
    exit_code = ExitCode.CREDENTIALS


class UnreachableError(StreamerError):
    exit_code = ExitCode.UNREACHABLE


@dataclass(frozen=True, slots=True)
class RequestFailure:
    """A PutRecords call that failed as a whole; the same applies to every entry in it."""

    code: str
    message: str
    retriable: bool
    maybe_written: bool = False
    """The request may have been applied (timeout, reset or unreadable answer): retrying may
    duplicate records."""

    def describe(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


RETRIABLE_REQUEST_ERRORS: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "ExpiredTokenException",
        "ExpiredToken",
        "RequestExpired",
        "ResourceInUseException",
    }
)
"""Whole-request error codes worth retrying. Expired credentials are retried because the
credential chain refreshes them; ResourceInUse covers a stream being resharded (UPDATING)."""

CREDENTIAL_ERRORS: Final = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "AccessDeniedException",
        "AccessDenied",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


def classify_request_error(code: str, message: str, *, status: int) -> RequestFailure:
    """Classify an error answer from the service by its code, falling back on the HTTP status."""
    retriable = code in RETRIABLE_REQUEST_ERRORS or status >= 500 or status == 429
    return RequestFailure(code=code, message=message, retriable=retriable)


MALFORMED_RESULT: Final = "MalformedResult"
"""Our code for an answer entry with neither a ShardId nor an ErrorCode: the record may or may
not have been written, so it is retried and counted as a possible duplicate."""


def is_retriable_record_error(code: str) -> bool:
    """Whether a per-record ErrorCode inside a 200 PutRecords answer is worth retrying."""
    return code in RETRYABLE_RECORD_ERRORS or code == MALFORMED_RESULT
