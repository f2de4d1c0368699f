"""Where records go and as whom: stream ARNs and their region, role settings, and the record
limit decided from what the stream reports, each refusal one sentence (exit 2)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamer import limits
from streamer.config import aws_settings, build, load
from streamer.destination import (
    RecordLimit,
    check_role,
    parse_stream_arn,
    record_limit,
    stream_region,
)
from streamer.errors import ConfigError, ExitCode
from streamer.record import Entry
from streamer.wire import encode_put_records

MiB = limits.MiB
ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/profile-exports"


def same(key: str) -> str:
    return key


def test_stream_arn_parts() -> None:
    """A stream ARN gives its partition, region, account and stream name."""
    arn = parse_stream_arn("arn:aws-cn:kinesis:cn-north-1:210987654321:stream/a.b_c-1")
    assert (arn.partition, arn.region, arn.account, arn.name) == (
        "aws-cn",
        "cn-north-1",
        "210987654321",
        "a.b_c-1",
    )


@pytest.mark.parametrize(
    "text",
    [
        "profile-exports",
        "arn:aws:kinesis:eu-west-1:123456789012:profile-exports",
        "arn:aws:kinesis:eu-west-1:1234:stream/x",
        "arn:aws:sqs:eu-west-1:123456789012:stream/x",
        "arn:aws:kinesis::123456789012:stream/x",
        "arn:aws:kinesis:eu-west-1:123456789012:stream/",
        "arn:aws:kinesis:eu-west-1:123456789012:stream/x/consumer/c:1",
    ],
)
def test_malformed_stream_arn_is_refused(text: str) -> None:
    """Anything but arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME is a ConfigError."""
    with pytest.raises(ConfigError, match="is not a Kinesis stream ARN") as info:
        parse_stream_arn(text, "--stream-arn")
    assert str(info.value).startswith("--stream-arn ")


def test_region_comes_from_the_arn() -> None:
    """With a stream ARN and no region, the ARN's region is used; the same region is accepted."""
    assert stream_region("", ARN, "", same) == "eu-west-1"
    assert stream_region("", ARN, "eu-west-1", same) == "eu-west-1"
    assert stream_region("s", "", "us-east-1", same) == "us-east-1"


@pytest.mark.parametrize(
    ("stream", "arn", "region", "message"),
    [
        ("s", ARN, "", "give either stream or stream_arn, not both"),
        ("", ARN, "us-east-1", "region 'us-east-1' differs from the stream ARN's region"),
        ("", "", "r", "no stream given"),
        ("bad name!", "", "r", "stream name 'bad name!' is invalid"),
        ("s", "", "", "no region given"),
    ],
)
def test_stream_and_region_refusals(stream: str, arn: str, region: str, message: str) -> None:
    """Both names, a region other than the ARN's, or neither name: one sentence each."""
    with pytest.raises(ConfigError, match=message):
        stream_region(stream, arn, region, same)


def test_settings_by_arn_take_the_region_and_send_streamarn() -> None:
    """Loaded by ARN, the settings carry the ARN's region, the stream's name for log lines,
    and the adapter names the stream by ARN."""
    s = build({"stream_arn": ARN})
    assert s.region == "eu-west-1"
    assert s.stream_name == "profile-exports"
    aws = aws_settings(s)
    assert aws.stream_ref == {"StreamARN": ARN}
    assert build({"stream": "s", "region": "r"}).stream_name == "s"
    assert aws_settings(build({"stream": "s", "region": "r"})).stream_ref == {"StreamName": "s"}


def test_flag_names_in_arn_errors() -> None:
    """A region flag that disagrees with the ARN is named as the flag, exit 2."""
    with pytest.raises(ConfigError) as info:
        load(None, {"stream_arn": ARN, "region": "us-east-1"})
    assert str(info.value).startswith("--region 'us-east-1' differs")
    assert info.value.exit_code == ExitCode.CONFIG


def test_fast_path_body_names_the_stream_by_arn() -> None:
    """The fast path's PutRecords body carries StreamARN instead of StreamName."""
    body = orjson.loads(
        encode_put_records(ARN, [Entry(b"x", "k", source="t", line_no=1, now=0.0)], by_arn=True)
    )
    assert body["StreamARN"] == ARN
    assert "StreamName" not in body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"role_arn": "arn:aws:iam::123:role/x"}, "role_arn 'arn:aws:iam::123:role/x' is not"),
        ({"role_arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/s"}, "not an IAM role"),
        ({"external_id": "abc"}, "external_id is only used with role_arn"),
        (
            {"role_arn": "arn:aws:iam::123456789012:role/r", "role_session_name": "a b"},
            "role_session_name 'a b' must be 2 to 64",
        ),
        (
            {"role_arn": "arn:aws:iam::123456789012:role/r", "external_id": "x"},
            "external_id must be 2 to 1224",
        ),
    ],
)
def test_role_refusals(raw: dict[str, Any], message: str) -> None:
    """A malformed role ARN, session name or external id, or an external id alone: exit 2."""
    with pytest.raises(ConfigError, match=message):
        build({"stream": "s", "region": "r", **raw})


def test_role_settings_reach_the_adapter() -> None:
    """A valid role, external id and session name are handed to the adapter as given."""
    role = "arn:aws:iam::210987654321:role/path/writer"
    s = build(
        {
            "stream": "s",
            "region": "r",
            "role_arn": role,
            "external_id": "tenant-42",
            "role_session_name": "exports@host",
        }
    )
    check_role(s.role_arn, s.external_id, s.role_session_name, same)
    aws = aws_settings(s)
    assert (aws.role_arn, aws.external_id, aws.role_session_name) == (
        role,
        "tenant-42",
        "exports@host",
    )
    assert "tenant-42" not in repr(s)


@pytest.mark.parametrize(
    ("configured", "stream_kib", "request_bytes", "buffer", "expected"),
    [
        (0, None, 5 * MiB, 32 * MiB, RecordLimit(MiB, "default")),
        (0, 1024, 5 * MiB, 32 * MiB, RecordLimit(MiB, "stream")),
        (0, 2048, 5 * MiB, 32 * MiB, RecordLimit(2 * MiB, "stream")),
        (
            0,
            10240,
            5 * MiB,
            32 * MiB,
            RecordLimit(5 * MiB, "stream, capped by max_request_bytes"),
        ),
        (0, 10240, 10 * MiB, 32 * MiB, RecordLimit(10 * MiB, "stream")),
        (0, 4096, 10 * MiB, 3 * MiB, RecordLimit(3 * MiB, "stream, capped by buffer_bytes")),
        (512 * 1024, 1024, 5 * MiB, 32 * MiB, RecordLimit(512 * 1024, "config")),
        (2 * MiB, None, 5 * MiB, 32 * MiB, RecordLimit(2 * MiB, "config")),
        (2 * MiB, 2048, 5 * MiB, 32 * MiB, RecordLimit(2 * MiB, "config")),
    ],
)
def test_record_limit(
    configured: int, stream_kib: int | None, request_bytes: int, buffer: int, expected: RecordLimit
) -> None:
    """Unset follows the stream (1 MiB when not reported), within the request and buffer
    limits; a configured limit within the stream's is kept."""
    got = record_limit(configured, stream_kib, max_request_bytes=request_bytes, buffer_bytes=buffer)
    assert got == expected


def test_record_limit_above_the_streams_is_refused() -> None:
    """A configured record limit above the stream's MaxRecordSizeInKiB is exit 2, one sentence."""
    with pytest.raises(ConfigError) as info:
        record_limit(2 * MiB, 1024, max_request_bytes=5 * MiB, buffer_bytes=32 * MiB)
    assert info.value.exit_code == ExitCode.CONFIG
    assert str(info.value).startswith(
        "max_record_bytes (2097152) is above the stream's record limit (1048576 bytes"
    )
    assert "\n" not in str(info.value)
