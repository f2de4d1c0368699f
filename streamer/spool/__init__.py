"""The write-ahead spool: accepted lines on disk until they are settled (see `spool.py`)."""

from streamer.spool.segments import SyncMode, SyncPolicy, segment_bytes_for
from streamer.spool.spool import Spool, open_spool
from streamer.spool.store import SpoolLocked, SpoolStore

__all__ = [
    "Spool",
    "SpoolLocked",
    "SpoolStore",
    "SyncMode",
    "SyncPolicy",
    "open_spool",
    "segment_bytes_for",
]
