from collections.abc import Sequence

from streamer.record import Entry

def records_body(prefix: bytes, entries: Sequence[Entry], /) -> bytes: ...

SIMD: str
"""The base64 path: "avx2", or "" for the portable table."""
