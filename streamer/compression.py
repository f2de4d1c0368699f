"""Per-record compression: each export record's data compressed on its own, opt-in.

What it does: `codec_functions(codec)` gives the (compress, decompress) pair of a codec: gzip
(a gzip member, through zlib) or zstd (a zstandard frame with its content size, through the
`zstandard` package). `CompressingExporter` wraps the exporter: it exports as usual (with the
limit raised to the line limit, so a record over the record limit before compression is not
refused), compresses the record and checks the record limit on the compressed bytes plus the
partition key, which are what is sent. With aggregation the user records are compressed, each on
its own, before they are packed. `exporter_for` builds the plain exporter when compression is off,
so nothing here is on the path then.

What it leaves out: decompressing for the dead-letter file (`DeadLetterFile` is handed the
decompress function and keeps the uncompressed record), and the consumers' side.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from typing import Final, Literal

from streamer.export import Activation, Exported, Exporter, Result
from streamer.rejections import TOO_LARGE, Rejected

Codec = Literal["none", "gzip", "zstd"]
Transform = Callable[[bytes], bytes]

GZIP_LEVEL: Final = 6
ZSTD_LEVEL: Final = 3
_GZIP_WBITS: Final = 31  # zlib writes a gzip member with this window setting


def codec_functions(codec: Codec) -> tuple[Transform, Transform] | None:
    """(compress, decompress) for `codec`, None for "none"."""
    if codec == "gzip":
        return (
            lambda data: zlib.compress(data, GZIP_LEVEL, _GZIP_WBITS),
            lambda data: zlib.decompress(data, _GZIP_WBITS),
        )
    if codec == "zstd":
        import zstandard  # only loaded when chosen  # noqa: PLC0415

        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        decompressor = zstandard.ZstdDecompressor()
        return compressor.compress, decompressor.decompress
    return None


def decompressor(codec: Codec) -> Transform | None:
    """What turns a sent record's data back into the export record (None: nothing to undo)."""
    functions = codec_functions(codec)
    return None if functions is None else functions[1]


class CompressingExporter:
    """An exporter whose records are compressed, the record limit checked after compression."""

    __slots__ = ("_compress", "_inner", "_limit")

    def __init__(self, inner: Exporter, compress: Transform, limit: int) -> None:
        self._inner = inner
        self._compress = compress
        self._limit = limit

    def export(self, line: bytes) -> Result:
        result = self._inner.export(line)
        if type(result) is not Exported:
            return result
        data = self._compress(result.data)
        key = result.partition_key
        size = len(data) + len(key.encode())
        if size > self._limit:
            return Rejected(
                f"export record is {size} bytes compressed with its partition key, over the "
                f"stream's record limit of {self._limit} bytes",
                TOO_LARGE,
            )
        return Exported(data, key)


def exporter_for(
    activation: Activation, codec: Codec, line_limit: int
) -> Exporter | CompressingExporter:
    """The exporter of a run: plain, or compressing with the record limit checked after."""
    functions = codec_functions(codec)
    if functions is None:
        return Exporter(activation)
    limit = activation.max_record_bytes
    inner = Exporter(dataclasses.replace(activation, max_record_bytes=max(line_limit, limit)))
    return CompressingExporter(inner, functions[0], limit)
