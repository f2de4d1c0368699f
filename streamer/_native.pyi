from collections.abc import Sequence

from streamer.record import Entry

def records_body(prefix: bytes, entries: Sequence[Entry], /) -> bytes: ...
