"""PutRecords entries decoded and validated, and the unique id found in a record's data.

What it does: `decode` checks every entry of a request against the record, key and request
limits (the whole request is refused on the first problem) and returns them as parallel lists;
data stays base64 unless the endpoint keeps records, its decoded size computed from its length.
`id_in_bytes` / `id_in_base64` find the id field in a record's data, decoding a growing prefix
of base64 only as far as needed.
What it leaves out: routing, accounting and faults (`model`, `faults`); malformed base64 after
the id goes unnoticed unless records are kept.
"""

from __future__ import annotations

import binascii
from typing import Any, Final, NamedTuple

from benchmarks.endpoint.api import HASH_KEY_MAX, MAX_PARTITION_KEY_CHARS, ApiError, invalid

_ID_WINDOW_CHARS: Final = 64


class Batch(NamedTuple):
    """A validated request's records as parallel lists (blobs stay base64 unless kept)."""

    keys: list[bytes]
    blobs: list[str | bytes]
    hashes: list[int | None]
    sizes: list[int]


def decode(raw: list[Any], *, keep: bool, max_record: int, max_request: int) -> Batch:
    """Validate every record; the whole request is rejected on the first problem."""
    batch = Batch([], [], [], [])
    add_key, add_blob = batch.keys.append, batch.blobs.append
    add_hash, add_size = batch.hashes.append, batch.sizes.append
    total = 0
    index = 0
    try:
        for index, record in enumerate(raw):
            key = record["PartitionKey"]
            data = record["Data"]
            if not 1 <= len(key) <= MAX_PARTITION_KEY_CHARS:
                raise invalid(
                    f"1 validation error detected: Value at 'records.{index + 1}.member."
                    f"partitionKey' failed to satisfy constraint: Member must have length "
                    f"between 1 and {MAX_PARTITION_KEY_CHARS} ({len(key)})"
                )
            key_bytes = key.encode()
            if keep:
                data = binascii.a2b_base64(data, strict_mode=True)
                size = len(data) + len(key_bytes)
            else:  # the decoded length, without decoding
                length = len(data)
                if length & 3:
                    raise ApiError(
                        400,
                        "SerializationException",
                        f"Record {index} Data is not base64: its length is not a multiple of 4",
                    )
                size = (length >> 2) * 3 - data.count("=", length - 2) + len(key_bytes)
            if size > max_record:
                raise invalid(
                    f"Record {index} has {size} bytes of data and partition key, over the "
                    f"{max_record}-byte record limit"
                )
            total += size
            explicit = record.get("ExplicitHashKey")
            add_hash(None if explicit is None else explicit_hash(explicit, index))
            add_key(key_bytes)
            add_blob(data)
            add_size(size)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ApiError(
            400, "SerializationException", f"Record {index} is malformed: {exc!r}"
        ) from exc
    except binascii.Error as exc:
        raise ApiError(
            400, "SerializationException", f"Record {index} Data is not base64: {exc}"
        ) from exc
    if total > max_request:
        raise invalid(
            f"Records total {total} bytes of data and partition keys, over the "
            f"{max_request}-byte request limit"
        )
    return batch


def explicit_hash(value: Any, index: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        if number <= HASH_KEY_MAX:
            return number
    raise invalid(f"Record {index} has an ExplicitHashKey outside 0..2^128-1: {value!r}")


def id_in_bytes(data: bytes, needle: bytes, skip: int) -> bytes | None:
    start = data.find(needle)
    if start < 0:
        return None
    end = data.find(b'"', start + skip)
    return data[start + skip : end] if end >= 0 else None


def id_in_base64(data: str, needle: bytes, skip: int) -> bytes | None:
    """Decode a growing prefix of the blob until it holds the id and its closing quote."""
    window = _ID_WINDOW_CHARS
    while True:
        try:
            chunk = binascii.a2b_base64(data[:window])
        except binascii.Error:
            return None
        start = chunk.find(needle)
        if start >= 0:
            end = chunk.find(b'"', start + skip)
            if end >= 0:
                return chunk[start + skip : end]
        if window >= len(data):
            return None
        window *= 4
