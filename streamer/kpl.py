"""Pure KPL aggregated record format: many user records in one Kinesis record.

What it does: `encode(records)` writes the format the Kinesis Producer Library writes and KCL,
Firehose and the deaggregation modules read: the magic `F3 89 9A C2`, the protobuf message
`AggregatedRecord` {1: repeated partition_key_table, 2: repeated explicit_hash_key_table,
3: repeated Record {1: partition_key_index, 2: explicit_hash_key_index, 3: data}}, then the
16-byte MD5 of the protobuf bytes. Partition keys are stored once each in the key table. The
protobuf wire format for these fields is varints and length-delimited fields, written here by
hand (no protobuf runtime on the hot path). `Builder` writes one aggregate a record at a time
and knows its exact size and what one more record would add, so a packer can stop before a
target size without encoding twice.

What it leaves out: which records are aggregated together (`aggregate.py`), explicit hash keys
per user record (every user record here routes by its own partition key, so the table stays
empty) and decoding (consumers and the tests use `aws-kinesis-agg`; the test endpoint has its
own reader).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

MAGIC: Final = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES: Final = 16
OVERHEAD: Final = len(MAGIC) + DIGEST_BYTES
"""Bytes every aggregated record carries besides its protobuf message."""

_KEY_TABLE: Final = b"\x0a"  # field 1, length-delimited
_RECORD: Final = b"\x1a"  # field 3, length-delimited
_KEY_INDEX: Final = b"\x08"  # Record field 1, varint
_DATA: Final = b"\x1a"  # Record field 3, length-delimited


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL: Final = 1 << 14
_VARINTS: Final = tuple(
    bytes((i,)) if i < 0x80 else bytes((i & 0x7F | 0x80, i >> 7)) for i in range(_SMALL)
)
"""Varints of every value below 16,384 (one or two bytes), looked up instead of computed (built
without `_varint`'s loop: half the import time)."""


def varint(value: int) -> bytes:
    """The protobuf base-128 varint of a non-negative integer."""
    return _VARINTS[value] if value < _SMALL else _varint(value)


def varint_size(value: int) -> int:
    """How many bytes `varint(value)` takes."""
    if value < 0x80:
        return 1
    if value < _SMALL:
        return 2
    size = 3
    value >>= 21
    while value:
        value >>= 7
        size += 1
    return size


def record_cost(data_len: int, key_len: int, key_index: int, new_key: bool) -> int:
    """Bytes one user record adds to an aggregate: its Record message, plus its key's table
    entry when the key is new to the aggregate."""
    inner = 2 + varint_size(key_index) + varint_size(data_len) + data_len
    cost = 1 + varint_size(inner) + inner
    if new_key:
        cost += 1 + varint_size(key_len) + key_len
    return cost


class Builder:
    """One aggregated record written a user record at a time; `size` is always its exact
    encoded size, and `cost` says what a record would add before it is added."""

    __slots__ = ("_body", "_table", "keys", "size")

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        """Partition key -> its index in the key table."""
        self._table: list[bytes] = [MAGIC]
        self._body: list[bytes] = []
        self.size = OVERHEAD

    def cost(self, key: str, key_len: int, data_len: int) -> int:
        """Bytes adding a record of `data_len` bytes under `key` (`key_len` UTF-8 bytes) adds."""
        index = self.keys.get(key)
        if index is None:
            return record_cost(data_len, key_len, len(self.keys), True)
        return record_cost(data_len, key_len, index, False)

    def add(self, key: str, data: bytes, cost: int) -> None:
        """Append a user record; `cost` is what `cost` returned for it."""
        index = self.keys.get(key)
        if index is None:
            index = self.keys[key] = len(self.keys)
            raw_key = key.encode()
            self._table += (_KEY_TABLE, varint(len(raw_key)), raw_key)
        size = len(data)
        index_bytes, size_bytes = varint(index), varint(size)
        inner = varint(2 + len(index_bytes) + len(size_bytes) + size)
        self._body += (_RECORD, inner, _KEY_INDEX, index_bytes, _DATA, size_bytes, data)
        self.size += cost

    def finish(self) -> bytes:
        """The aggregated record: magic, protobuf message, MD5 of the message."""
        blob = b"".join(self._table + self._body)
        return blob + hashlib.md5(memoryview(blob)[len(MAGIC) :]).digest()  # noqa: S324 - format's checksum


def encode(records: Iterable[tuple[str, bytes]]) -> bytes:
    """One aggregated record holding `records` (partition key, data), in order."""
    builder = Builder()
    for key, data in records:
        builder.add(key, data, builder.cost(key, len(key.encode()), len(data)))
    return builder.finish()
