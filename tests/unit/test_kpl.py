"""KPL aggregated records: what `kpl.encode` writes is what `aws-kinesis-agg` (the consumers'
deaggregation library) reads, and its size is known before it is written."""

from __future__ import annotations

import base64
import hashlib

from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given
from hypothesis import strategies as st

from streamer import kpl


def deaggregate(blob: bytes, key: str = "agg") -> list[tuple[str, bytes]]:
    """The user records a Lambda-style consumer reads out of one Kinesis record."""
    record = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "sequenceNumber": "1",
            "approximateArrivalTimestamp": 0,
            "partitionKey": key,
            "data": base64.b64encode(blob),
        }
    }
    return [
        (r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]))
        for r in deaggregate_records([record])
    ]


def size_of(records: list[tuple[str, bytes]]) -> int:
    """The encoded size as a builder predicts it, record by record."""
    keys: dict[str, int] = {}
    size = kpl.OVERHEAD
    for key, data in records:
        index = keys.get(key)
        size += kpl.record_cost(len(data), len(key.encode()), len(keys) if index is None else index,
                                index is None)  # fmt: skip
        if index is None:
            keys[key] = len(keys)
    return size


def test_the_library_reads_back_every_record_with_its_own_key() -> None:
    """Keys, data and order survive; a repeated key is stored once in the key table."""
    records = [("ecid-1", b'{"a":1}'), ("ecid-2", b'{"b":2}'), ("ecid-1", b'{"c":3}')]
    blob = kpl.encode(records)
    assert blob.startswith(b"\xf3\x89\x9a\xc2")
    assert blob[-16:] == hashlib.md5(blob[4:-16]).digest()
    assert deaggregate(blob) == records
    assert blob.count(b"ecid-1") == 1


def test_a_bad_digest_is_not_read_as_an_aggregate() -> None:
    """The MD5 trailer is what consumers check: a flipped byte turns it into a plain record."""
    blob = bytearray(kpl.encode([("k", b"data")]))
    blob[-1] ^= 0xFF
    assert deaggregate(bytes(blob)) == [("agg", bytes(blob))]


def test_varints_at_their_edges() -> None:
    """Base-128 varints, little-endian groups with a continuation bit."""
    assert kpl.varint(0) == b"\x00"
    assert kpl.varint(127) == b"\x7f"
    assert kpl.varint(128) == b"\x80\x01"
    assert kpl.varint(300) == b"\xac\x02"
    for value in (0, 127, 128, 16383, 16384, 2**21, 2**35):
        assert kpl.varint_size(value) == len(kpl.varint(value))


def test_every_looked_up_varint_is_the_encoding() -> None:
    """The table of varints below 16,384 holds each value's base-128 encoding, and past it the
    computed ones continue the sequence."""

    def reference(value: int) -> bytes:
        groups = []
        while True:
            groups.append(value & 0x7F)
            value >>= 7
            if not value:
                return bytes([g | 0x80 for g in groups[:-1]] + groups[-1:])

    assert [kpl.varint(v) for v in range(2**14 + 3)] == [reference(v) for v in range(2**14 + 3)]


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=40).filter(lambda k: len(k.encode()) <= 256),
            st.binary(max_size=300),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_records_round_trip_and_their_size_is_predicted(
    records: list[tuple[str, bytes]],
) -> None:
    """For any keys and data, the library reads back exactly what was packed, and the size the
    builder predicts record by record is the size written."""
    blob = kpl.encode(records)
    assert deaggregate(blob) == records
    assert len(blob) == size_of(records)
    builder = kpl.Builder()
    for key, data in records:
        builder.add(key, data, builder.cost(key, len(key.encode()), len(data)))
    assert builder.finish() == blob
    assert builder.size == len(blob)


def test_large_records_use_multi_byte_lengths() -> None:
    """Records over 127 and 16,383 bytes need longer length varints."""
    records = [("k", b"x" * 200), ("j", b"y" * 20_000)]
    blob = kpl.encode(records)
    assert deaggregate(blob) == records
    assert len(blob) == size_of(records)
