"""The streamer's error tree and the classification of Kinesis failures.

What it does: names the start-up failures (each with its exit code) and classifies every
whole-request failure into one `RequestFailure` value: retriable or not, whether the records
may have been written anyway (a timeout or reset after sending), and its `RequestKind`
(throttled, stream missing, other). Per-record error codes are classified into a `RecordFault`
(throttled, retriable, fatal, maybe written) against `limits.RETRYABLE_RECORD_ERRORS`. Vendor
error codes stop here: the pipeline and its settle logic see only these classifications.

What it leaves out: retry timing (`retry.py`) and talking to AWS (`aws/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
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


THROTTLED_CODE: Final = "ProvisionedThroughputExceededException"
STREAM_MISSING_CODE: Final = "ResourceNotFoundException"


class RequestKind(Enum):
    """What a whole-request failure means for the pipeline beyond retrying."""

    THROTTLED = "throttled"
    """The shards in the call were throttled: slow them down."""
    STREAM_MISSING = "stream_missing"
    """The stream (or a shard) is not found: refresh the shard map."""
    OTHER = "other"


class RecordFault(Enum):
    """How one failed record inside an answered PutRecords call failed."""

    THROTTLED = "throttled"
    """Its shard was over its limits: retriable, and the shard slows down."""
    RETRIABLE = "retriable"
    FATAL = "fatal"
    """Never worth resending (e.g. a KMS key that is disabled)."""
    MAYBE_WRITTEN = "maybe_written"
    """The result is unreadable: the record may have been written; retried, a possible duplicate."""


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

    @property
    def kind(self) -> RequestKind:
        if self.code == THROTTLED_CODE:
            return RequestKind.THROTTLED
        if self.code == STREAM_MISSING_CODE:
            return RequestKind.STREAM_MISSING
        return RequestKind.OTHER


RETRIABLE_REQUEST_ERRORS: Final = frozenset(
    {
        THROTTLED_CODE,
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


def refusal_error(code: str, message: str, doing: str) -> StreamerError:
    """The start-up error for an answer refusing a request (error `code`, `message`) made while
    `doing` something: credentials (5), stream missing (3), configuration (2), else service (6)."""
    if code in CREDENTIAL_ERRORS:
        return CredentialsError(f"AWS refused the credentials ({code}) when {doing}: {message}")
    if code == STREAM_MISSING_CODE:
        return StreamMissingError(f"the stream does not exist ({code}) when {doing}")
    if code in {"ValidationException", "InvalidArgumentException"}:
        return ConfigError(f"AWS refused the request ({code}) when {doing}: {message}")
    return UnreachableError(f"{doing} failed: {code}: {message}".rstrip(": "))


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


def classify_record_error(code: str) -> RecordFault:
    """The `RecordFault` of a per-record ErrorCode (or `MALFORMED_RESULT`)."""
    if code == THROTTLED_CODE:
        return RecordFault.THROTTLED
    if code == MALFORMED_RESULT:
        return RecordFault.MAYBE_WRITTEN
    if code in RETRYABLE_RECORD_ERRORS:
        return RecordFault.RETRIABLE
    return RecordFault.FATAL
