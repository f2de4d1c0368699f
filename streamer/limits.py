"""Kinesis Data Streams service limits and the streamer's own defaults, as named constants.

Every bound the code enforces is named here once, with its unit in the name. Nothing here is
learned from error messages at run time; the config may lower some of these (and raise the
per-request and per-record sizes for streams that allow larger records), never exceed them.
"""

from typing import Final

MiB: Final = 1024 * 1024

# PutRecords request limits (per call).
MAX_RECORDS_PER_REQUEST: Final = 500
MAX_REQUEST_BYTES: Final = 5 * MiB
"""Sum of data blobs and partition keys in one PutRecords call (before base64)."""
MAX_REQUEST_BYTES_CEILING: Final = 10 * MiB
"""Largest request size a stream can be configured for (streams may now accept 10 MiB)."""

# Per-record limits.
MAX_RECORD_BYTES: Final = 1 * MiB
"""Data blob plus partition key, in bytes, for a record of a default stream."""
MAX_RECORD_BYTES_CEILING: Final = 10 * MiB
MAX_PARTITION_KEY_CHARS: Final = 256

# Per-shard write capacity.
SHARD_WRITE_RECORDS_PER_S: Final = 1000
SHARD_WRITE_BYTES_PER_S: Final = 1 * MiB

# 128-bit hash key space used by shard routing.
HASH_KEY_MAX: Final = (1 << 128) - 1

# Per-record error codes Kinesis reports inside a 200 PutRecords response that are worth retrying.
RETRYABLE_RECORD_ERRORS: Final = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)

# Streamer defaults.
DEFAULT_LINGER_MS: Final = 50.0
MAX_LINGER_MS: Final = 60_000.0
"""A partial batch never waits longer than a minute: a larger linger would hold records until
the drain."""
DEFAULT_RECORD_BUDGET_S: Final = 30.0
DEFAULT_MAX_ATTEMPTS: Final = 20
DEFAULT_BACKOFF_BASE_S: Final = 0.02
DEFAULT_BACKOFF_CAP_S: Final = 2.0
"""Full-jitter backoff doubles from 20 ms up to 2 s: a sporadic InternalFailure costs a record
little latency, while 20 attempts still span about the record's 30 s budget."""
DEFAULT_AGGREGATION_TARGET_BYTES: Final = 51_200
"""KPL aggregates are cut at this size by default, as the Kinesis Producer Library does; never
above the record limit."""
DEFAULT_WRITERS: Final = 16
MAX_WRITERS: Final = 1024
DEFAULT_BUFFER_RECORDS: Final = 20_000
DEFAULT_BUFFER_BYTES: Final = 32 * MiB
MAX_BUFFER_RECORDS: Final = 10_000_000
MAX_BUFFER_BYTES: Final = 16 * 1024 * MiB
MIN_RECORD_BYTES: Final = 1024
"""Smallest record or request limit the config accepts: below it no real profile fits."""
LINE_SLACK_BYTES: Final = 64 * 1024
"""The default line limit is the record limit plus this, for JSON whitespace and dropped keys."""
MIN_LINE_BYTES: Final = 1024
MAX_LINE_BYTES: Final = MAX_RECORD_BYTES_CEILING + 16 * MiB
DEFAULT_REQUEST_TIMEOUT_S: Final = 10.0
DEFAULT_DRAIN_DEADLINE_S: Final = 30.0
DEFAULT_SHARD_REFRESH_MIN_INTERVAL_S: Final = 1.0
DEFAULT_CONNECT_TIMEOUT_S: Final = 5.0
DEFAULT_MAX_CONNECTIONS: Final = 256
MAX_CONNECTIONS_CEILING: Final = 65536
DEFAULT_PROGRESS_INTERVAL_S: Final = 5.0
DEFAULT_SHARD_RATE_FACTOR: Final = 1.0
READ_CHUNK_BYTES: Final = 256 * 1024
STDIN_PIPE_BYTES: Final = READ_CHUNK_BYTES
"""What a stdin pipe is widened to (Linux's default is 64 KiB): one read can then take a whole
chunk, instead of a sleep and a wake-up per 64 KiB."""
DEAD_LETTER_LINE_PREVIEW_CHARS: Final = 4096
"""How much of an overlong input line (over the line limit) a dead-letter entry keeps; other
lines are kept whole."""
REPEATED_WARNING_INTERVAL_S: Final = 30.0
"""A warning that can repeat (a failing shard map refresh, refused connections) is logged at
most once per this interval, with the count of occurrences."""
DEFAULT_UNREADY_AFTER_S: Final = 30.0
"""/readyz turns 503 when every PutRecords call for this long has failed."""
DEFAULT_MAX_BODY_BYTES: Final = 16 * MiB
"""Largest HTTP request body, before and after decompression."""
MAX_BODY_BYTES_CEILING: Final = 1024 * MiB
DEFAULT_HTTP_WAIT_S: Final = 10.0
"""How long an HTTP request waits for room in the buffer before it is answered 503."""
MAX_HTTP_ERRORS_LISTED: Final = 100
"""An HTTP answer lists at most this many bad lines (its `rejected` counts them all)."""
DEAD_LETTER_FLUSH_BYTES: Final = 256 * 1024
"""Pending dead-letter entries are written once they reach this size (and at every flush)."""
DEAD_LETTER_RETRY_S: Final = 1.0
"""After a failed dead-letter write (disk full), how long before the next attempt."""
EVICT_IDLE_MIN_S: Final = 10.0
"""At the connection limit, the connection longest without a complete line is closed to admit a
new client only if it has gone at least this long without one."""
DEFAULT_IDLE_TIMEOUT_S: Final = 300.0
"""A connection that completes no line for this long is closed."""
DEFAULT_SHUTDOWN_IDLE_MS: Final = 200.0
"""At shutdown, an open connection (or stdin's line in progress) is read until nothing has
arrived for this long, within the drain deadline."""
DEFAULT_SPOOL_SYNC_INTERVAL_MS: Final = 50.0
"""Spool group commit: lines appended are synced at most this long after the first of them."""
DEFAULT_SPOOL_MAX_BYTES: Final = 1024 * MiB
MIN_SPOOL_MAX_BYTES: Final = 64 * 1024
SPOOL_SEGMENT_BYTES: Final = 64 * MiB
"""Largest spool segment file; a segment is deleted once all its lines are settled."""
