"""User records inside a Kinesis record: KPL de-aggregation and per-record decompression.

What it does: `user_records(data)` returns the user records a consumer reads out of one
Kinesis record's data: the records of a KPL aggregate (magic `F3 89 9A C2`, protobuf
`AggregatedRecord`, MD5 trailer checked, as KCL does: a bad digest or protobuf makes it a plain
record), or the record itself; each one gzip- or zstd-decompressed when it starts with that
format's magic. `looks_packed(blob)` tells from the first bytes of the base64 text whether the
record needs this at all, so the endpoint's hot loop stays as it was for plain JSON records.
Written independently of the streamer's encoder (tests check it against `aws-kinesis-agg`).
What it leaves out: explicit hash keys and tags inside aggregates (read past), and routing.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Final

MAGIC: Final = b"\xf3\x89\x9a\xc2"
_DIGEST: Final = 16
_GZIP: Final = b"\x1f\x8b"
_ZSTD: Final = b"\x28\xb5\x2f\xfd"
PACKED_PREFIXES: Final = ("84ma", "H4sI", "KLUv")
"""How base64 text starts for an aggregate, a gzip member and a zstd frame."""


def looks_packed(blob: str | bytes) -> bool:
    """Whether a record's data (base64 text, or raw bytes when kept) may hold packed records."""
    if isinstance(blob, str):
        return blob.startswith(PACKED_PREFIXES)
    return blob.startswith((MAGIC, _GZIP, _ZSTD))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message; raises ValueError when malformed."""
    out: list[tuple[int, int | bytes]] = []
    pos, end = 0, len(buf)
    try:
        while pos < end:
            tag, pos = _varint(buf, pos)
            wire = tag & 7
            if wire == 0:
                value, pos = _varint(buf, pos)
                out.append((tag >> 3, value))
            elif wire == 2:
                length, pos = _varint(buf, pos)
                if pos + length > end:
                    raise ValueError("length past the end")
                out.append((tag >> 3, buf[pos : pos + length]))
                pos += length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                raise ValueError(f"wire type {wire}")
    except IndexError as exc:
        raise ValueError("truncated") from exc
    if pos != end:
        raise ValueError("truncated")
    return out


def deaggregate(data: bytes) -> list[tuple[str, bytes]] | None:
    """(partition key, data) of each user record of a KPL aggregate; None if `data` is not one."""
    if not data.startswith(MAGIC) or len(data) <= len(MAGIC) + _DIGEST:
        return None
    message, digest = data[len(MAGIC) : -_DIGEST], data[-_DIGEST:]
    if hashlib.md5(message).digest() != digest:
        return None
    try:
        keys: list[str] = []
        records: list[tuple[int, bytes]] = []
        for number, value in _fields(message):
            if number == 1 and isinstance(value, bytes):
                keys.append(value.decode())
            elif number == 3 and isinstance(value, bytes):
                index, body = -1, b""
                for inner, item in _fields(value):
                    if inner == 1 and isinstance(item, int):
                        index = item
                    elif inner == 3 and isinstance(item, bytes):
                        body = item
                records.append((index, body))
        return [(keys[index], body) for index, body in records]
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def decompress(data: bytes) -> bytes:
    """`data` uncompressed when it is a gzip member or a zstd frame, else as it is."""
    if data.startswith(_GZIP):
        return zlib.decompress(data, 31)
    if data.startswith(_ZSTD):
        import zstandard  # noqa: PLC0415 - only for zstd runs

        return zstandard.ZstdDecompressor().decompress(data)
    return data


def user_records(data: bytes) -> list[bytes]:
    """The user records' data (uncompressed) a consumer reads out of one Kinesis record."""
    packed = deaggregate(data)
    if packed is None:
        return [decompress(data)]
    return [decompress(body) for _key, body in packed]
