"""Where records go and as whom: the stream (by name or by ARN), its region, the role to assume,
and the record limit decided from what the stream reports.

What it does: parses a stream ARN (`arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME`), so a
stream in another account can be named, and decides the region from it; checks a role ARN and
its session name; and, at start-up, decides the record limit (`record_limit`) from the stream's
`MaxRecordSizeInKiB` (when DescribeStreamSummary reports one) and the configured
`max_record_bytes` (0: follow the stream). Pure functions; every refusal is a `ConfigError` with
one sentence.

What it leaves out: calling AWS (`aws/`) and loading the settings (`config.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from streamer import limits
from streamer.errors import ConfigError

STREAM_NAME: Final = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
STREAM_ARN: Final = re.compile(
    r"^arn:(aws[a-z-]*):kinesis:([a-z0-9-]+):(\d{12}):stream/([a-zA-Z0-9_.-]{1,128})$"
)
ROLE_ARN: Final = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
ROLE_SESSION_NAME: Final = re.compile(r"^[\w+=,.@-]{2,64}$")
EXTERNAL_ID: Final = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
DEFAULT_ROLE_SESSION_NAME: Final = "streamer"

Label = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class StreamArn:
    """The parts of a Kinesis stream ARN."""

    partition: str
    region: str
    account: str
    name: str


def parse_stream_arn(text: str, label: str = "stream_arn") -> StreamArn:
    """The ARN's parts; a `ConfigError` naming `label` when it is not a Kinesis stream ARN."""
    match = STREAM_ARN.match(text)
    if match is None:
        raise ConfigError(
            f"{label} {text!r} is not a Kinesis stream ARN like "
            "arn:aws:kinesis:eu-west-1:123456789012:stream/NAME"
        )
    partition, region, account, name = match.groups()
    return StreamArn(partition, region, account, name)


def stream_region(stream: str, stream_arn: str, region: str, name: Label) -> str:
    """Check the stream is named once (by name or ARN) and return the region to use: the one
    given, or the ARN's, which a given region must equal."""
    if stream and stream_arn:
        raise ConfigError(
            f"give either {name('stream')} or {name('stream_arn')}, not both: "
            "the ARN already names the stream"
        )
    if stream_arn:
        arn = parse_stream_arn(stream_arn, name("stream_arn"))
        if region and region != arn.region:
            raise ConfigError(
                f"{name('region')} {region!r} differs from the stream ARN's region "
                f"{arn.region!r}: leave {name('region')} out or make them agree"
            )
        return arn.region
    if not stream:
        raise ConfigError(
            "no stream given: pass --stream NAME or --stream-arn ARN, or set stream or "
            "stream_arn in the config file"
        )
    if not STREAM_NAME.match(stream):
        raise ConfigError(
            f"stream name {stream!r} is invalid: 1 to 128 letters, digits, '_', '.' or '-'"
        )
    if not region:
        raise ConfigError("no region given: pass --region REGION or set region in the config file")
    return region


def stream_label(stream: str, stream_arn: str) -> str:
    """The stream's name for log lines, from the name or the ARN (assumed valid)."""
    if stream or not stream_arn:
        return stream
    match = STREAM_ARN.match(stream_arn)
    return match.group(4) if match else stream_arn


def check_role(
    role_arn: str | None, external_id: str | None, session_name: str, name: Label
) -> None:
    """A role ARN like arn:aws:iam::ACCOUNT:role/NAME, a valid session name and external id;
    an external id without a role is refused."""
    if role_arn is None:
        if external_id is not None:
            raise ConfigError(
                f"{name('external_id')} is only used with {name('role_arn')}: set both"
            )
        return
    if not ROLE_ARN.match(role_arn):
        raise ConfigError(
            f"{name('role_arn')} {role_arn!r} is not an IAM role ARN like "
            "arn:aws:iam::123456789012:role/NAME"
        )
    if external_id is not None and not EXTERNAL_ID.match(external_id):
        raise ConfigError(
            f"{name('external_id')} must be 2 to 1224 letters, digits or characters among +=,.@:/-_"
        )
    if not ROLE_SESSION_NAME.match(session_name):
        raise ConfigError(
            f"{name('role_session_name')} {session_name!r} must be 2 to 64 letters, digits or "
            "characters among +=,.@-_"
        )


@dataclass(frozen=True, slots=True)
class RecordLimit:
    """The record limit a run enforces, and where it comes from (for the start-up line)."""

    max_bytes: int
    source: str
    """"config", "stream" or "default" (the endpoint reports none), with any cap named."""


def record_limit(
    configured: int,
    stream_kib: int | None,
    *,
    max_request_bytes: int,
    buffer_bytes: int,
) -> RecordLimit:
    """The record limit: the configured one (0: unset) if the stream takes records that large,
    else the stream's (`MaxRecordSizeInKiB`, or 1 MiB when not reported), kept within the request
    and buffer limits since a record must fit in both."""
    stream_bytes = stream_kib * 1024 if stream_kib else None
    if configured:
        if stream_bytes is not None and configured > stream_bytes:
            raise ConfigError(
                f"max_record_bytes ({configured}) is above the stream's record limit "
                f"({stream_bytes} bytes, MaxRecordSizeInKiB {stream_kib}): lower it, leave it "
                "out to follow the stream, or raise the stream's limit"
            )
        return RecordLimit(configured, "config")
    limit, source = (
        (stream_bytes, "stream") if stream_bytes else (limits.MAX_RECORD_BYTES, "default")
    )
    if limit > max_request_bytes:
        limit, source = max_request_bytes, f"{source}, capped by max_request_bytes"
    if limit > buffer_bytes:
        limit, source = buffer_bytes, f"{source}, capped by buffer_bytes"
    return RecordLimit(limit, source)
