"""PutRecords wire format: request bodies that decode back to the entries, and every shape of
answer turned into per-record outcomes or one whole-request failure."""

from __future__ import annotations

from base64 import b64decode
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.errors import RequestFailure
from streamer.kinesis import PutOutcome
from streamer.record import Entry
from streamer.wire import careful_decode, decode_put_records, encode_put_records, error_code

ODD_KEYS = [
    "plain",
    "ключ",
    "emoji-😀-𝄞",
    'quote"and\\backslash',
    "tab\tnew\nline\r",
    "nul\x00ctl\x1f",
    "line\u2028sep\u2029",
    "</script>",
    "x" * 256,
]


def entry(data: bytes, key: str) -> Entry:
    return Entry(data, key, source="t", line_no=1, now=0.0)


def decode_request(body: bytes) -> tuple[str, list[tuple[bytes, str]]]:
    doc = orjson.loads(body)
    assert set(doc) == {"StreamName", "Records"}
    return doc["StreamName"], [(b64decode(r["Data"]), r["PartitionKey"]) for r in doc["Records"]]


def test_encoded_request_decodes_back_to_the_entries() -> None:
    """Every record's data and (odd Unicode) key survive encoding, in order."""
    entries = [entry(f'{{"n":{i}}}'.encode() + bytes([i]), key) for i, key in enumerate(ODD_KEYS)]
    stream, records = decode_request(encode_put_records("profile-exports", entries))
    assert stream == "profile-exports"
    assert records == [(e.data, e.partition_key) for e in entries]


def test_encoded_request_with_no_records() -> None:
    """An empty batch is still a valid body with an empty Records list."""
    assert orjson.loads(encode_put_records("s", [])) == {"StreamName": "s", "Records": []}


def test_stream_name_is_json_escaped() -> None:
    """The stream name is escaped like any JSON string."""
    stream, _ = decode_request(encode_put_records('we"ird', [entry(b"x", "k")]))
    assert stream == 'we"ird'


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(max_size=64),
            st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
        ),
        max_size=20,
    )
)
def test_encoding_round_trips_any_data_and_key(records: list[tuple[bytes, str]]) -> None:
    """Arbitrary bytes and any valid Unicode key decode back exactly."""
    entries = [entry(data, key) for data, key in records]
    _, decoded = decode_request(encode_put_records("s", entries))
    assert decoded == records


def answer(records: Any) -> bytes:
    return orjson.dumps({"FailedRecordCount": 0, "Records": records})


def test_decode_success() -> None:
    """A full success maps each index to its shard and holds no failures."""
    raw = answer([{"SequenceNumber": "1", "ShardId": "shardId-0"}, {"ShardId": "shardId-3"}])
    assert decode_put_records(200, raw, 2) == PutOutcome(["shardId-0", "shardId-3"], {})


def test_decode_partial_failures_aligned_by_index() -> None:
    """Failed records are reported by their request index with code and message."""
    raw = answer(
        [
            {"ShardId": "shardId-0"},
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"},
            {"ShardId": "shardId-1"},
            {"ErrorCode": "InternalFailure"},
        ]
    )
    outcome = decode_put_records(200, raw, 4)
    assert isinstance(outcome, PutOutcome)
    assert outcome.shard_ids == ["shardId-0", None, "shardId-1", None]
    assert outcome.failures == {
        1: ("ProvisionedThroughputExceededException", "slow"),
        3: ("InternalFailure", ""),
    }


def test_decode_non_object_record_is_a_failure_of_that_record() -> None:
    """A result that is not an object fails only its own record."""
    outcome = decode_put_records(200, answer([{"ShardId": "a"}, "junk"]), 2)
    assert outcome == PutOutcome(["a", None], {1: ("MalformedResult", "result is a str")})


@pytest.mark.parametrize(
    "result",
    [{"SequenceNumber": "1"}, {"ShardId": None}, {"ShardId": ""}, {"ShardId": 7}],
    ids=["no-shard", "null-shard", "empty-shard", "number-shard"],
)
def test_result_without_shard_or_error_is_never_delivered(result: dict[str, Any]) -> None:
    """A result with neither a ShardId string nor an ErrorCode is a MalformedResult failure."""
    body = orjson.dumps({"FailedRecordCount": 0, "Records": [{"ShardId": "a"}, result]})
    outcome = decode_put_records(200, body, 2)
    assert isinstance(outcome, PutOutcome)
    assert outcome.shard_ids == ["a", None]
    assert outcome.failures[1][0] == "MalformedResult"


@pytest.mark.parametrize(
    ("raw", "got"),
    [
        pytest.param(answer([{"ShardId": "a"}]), "1", id="too-few"),
        pytest.param(answer([{"ShardId": "a"}] * 3), "3", id="too-many"),
        pytest.param(orjson.dumps({"FailedRecordCount": 0}), "no", id="no-records"),
        pytest.param(orjson.dumps({"Records": {"0": {}}}), "no", id="records-not-list"),
        pytest.param(orjson.dumps([1, 2]), "no", id="body-not-object"),
        pytest.param(b"", "no", id="empty-body"),
    ],
)
def test_decode_count_mismatch_fails_the_whole_request(raw: bytes, got: str) -> None:
    """An answer not holding one result per record sent fails every record, maybe written."""
    result = decode_put_records(200, raw, 2)
    assert result == RequestFailure(
        "ResponseMismatch",
        f"answer holds {got} results for 2 records",
        retriable=True,
        maybe_written=True,
    )


@pytest.mark.parametrize(("status", "maybe_written"), [(200, True), (502, False), (400, False)])
def test_decode_non_json_is_malformed(status: int, maybe_written: bool) -> None:
    """A body that is not JSON is a retriable MalformedResponse; only a 200 may have written."""
    result = decode_put_records(status, b"<html>gateway</html>", 1)
    assert isinstance(result, RequestFailure)
    assert result.code == "MalformedResponse"
    assert result.retriable
    assert result.maybe_written is maybe_written
    assert f"HTTP {status}" in result.message
    assert "20 bytes" in result.message


@pytest.mark.parametrize(
    ("status", "body", "code", "retriable"),
    [
        pytest.param(
            400,
            {
                "__type": "com.amazonaws.kinesis.v20131202#ResourceNotFoundException",
                "message": "Stream s not found",
            },
            "ResourceNotFoundException",
            False,
            id="stream-gone",
        ),
        pytest.param(
            400,
            {"__type": "ns#ProvisionedThroughputExceededException", "message": "Rate exceeded"},
            "ProvisionedThroughputExceededException",
            True,
            id="throttled",
        ),
        pytest.param(
            400,
            {"__type": "ValidationException", "Message": "bad"},
            "ValidationException",
            False,
            id="validation-without-namespace",
        ),
        pytest.param(
            403, {"__type": "ns#AccessDeniedException"}, "AccessDeniedException", False, id="denied"
        ),
        pytest.param(500, {"__type": "InternalFailure"}, "InternalFailure", True, id="500"),
        pytest.param(503, {"code": "Whatever"}, "Whatever", True, id="503-unknown-code"),
        pytest.param(500, None, "UnknownError", True, id="500-empty-body"),
    ],
)
def test_decode_error_answers_are_classified(
    status: int, body: Any, code: str, retriable: bool
) -> None:
    """Error bodies are read as "ns#Code" and classified; 5xx is retriable whatever the code."""
    raw = b"" if body is None else orjson.dumps(body)
    result = decode_put_records(status, raw, 3)
    assert isinstance(result, RequestFailure)
    assert result.code == code
    assert result.retriable is retriable
    assert result.maybe_written is False
    if isinstance(body, dict):
        assert result.message == str(body.get("message") or body.get("Message") or "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"__type": "a.b#Code", "message": "m"}, ("Code", "m")),
        ({"__type": "a#b#Code"}, ("Code", "")),
        ({"code": "Other", "Message": "M"}, ("Other", "M")),
        ({}, ("UnknownError", "")),
        ("text", ("UnknownError", "")),
    ],
)
def test_error_code(body: Any, expected: tuple[str, str]) -> None:
    """error_code takes the part after the last '#' and falls back sensibly."""
    assert error_code(body) == expected


def test_zero_failed_count_with_an_error_entry_is_still_read_per_record() -> None:
    """An answer claiming no failures but holding an ErrorCode is read record by record."""
    body = orjson.dumps(
        {
            "FailedRecordCount": 0,
            "Records": [{"ShardId": "a", "SequenceNumber": "1"}, {"ErrorCode": "InternalFailure"}],
        }
    )
    outcome = decode_put_records(200, body, 2)
    assert isinstance(outcome, PutOutcome)
    assert outcome.shard_ids == ["a", None]
    assert outcome.failures == {1: ("InternalFailure", "")}


THROTTLED = "ProvisionedThroughputExceededException"
TEXT = st.one_of(
    st.none(),
    st.sampled_from(["", "shardId-000000000001", "InternalFailure", THROTTLED, "slow"]),
    st.text(max_size=4),
)
ODD = st.one_of(
    st.integers(-2, 2), st.booleans(), st.floats(allow_nan=False), st.lists(st.integers(0, 9))
)
FIELDS = ("ShardId", "SequenceNumber", "ErrorCode", "ErrorMessage")
WELL_FORMED = st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, TEXT))
"""Results the typed reading takes (the others go to the careful one)."""
RESULTS = st.one_of(
    WELL_FORMED,
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, st.one_of(TEXT, ODD))),
    st.one_of(TEXT, ODD),  # not an object at all
)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.lists(WELL_FORMED, max_size=6), st.lists(RESULTS, max_size=6)),
    st.sampled_from([0, 0, 1, None, 0.0, False, "0"]),
    st.sampled_from([0, 0, 0, 1, -1]),
    st.sampled_from([200, 200, 200, 500]),
)
def test_typed_reading_agrees_with_the_careful_one(
    records: list[Any], failed_count: Any, miscount: int, status: int
) -> None:
    """For any JSON answer, the msgspec reading gives exactly what the plain JSON one gives."""
    body: dict[str, Any] = {"Records": records}
    if failed_count is not None:
        body["FailedRecordCount"] = failed_count
    raw = orjson.dumps(body)
    sent = len(records) + miscount
    assert decode_put_records(status, raw, sent) == careful_decode(status, raw, sent)
