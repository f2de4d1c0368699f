"""Rows of `[producer]`: how records are batched, limited, retried, ordered and encoded.

What it does: one `Option` per producer key (linger, writers, request/record/line limits,
buffer, retry budgets and backoff, timeout, transport, rate factor, ordering, aggregation,
compression), with the bounds each number must lie in.

What it leaves out: where records come from and go (`daemon.py`, `top.py`).
"""

from __future__ import annotations

from typing import Final

from streamer import limits
from streamer.options.row import DAY_S, Option

PRODUCER: Final[tuple[Option, ...]] = (
    # -- [producer] -------------------------------------------------------------------------------
    Option(
        "linger_ms",
        "producer",
        "how long a partial batch may wait for more records",
        "MS",
        low=0,
        high=limits.MAX_LINGER_MS,
        unit="ms",
    ),
    Option(
        "writers",
        "producer",
        "concurrent PutRecords calls, also the HTTP pool size",
        "N",
        low=1,
        high=limits.MAX_WRITERS,
    ),
    Option(
        "max_request_bytes",
        "producer",
        "PutRecords request size limit (streams configured for it take up to 10 MiB)",
        "BYTES",
        low=limits.MIN_RECORD_BYTES,
        high=limits.MAX_REQUEST_BYTES_CEILING,
        check=True,
    ),
    Option(
        "max_record_bytes",
        "producer",
        "record limit, data plus partition key; above the stream's own limit is refused",
        "BYTES",
        low=limits.MIN_RECORD_BYTES,
        high=limits.MAX_RECORD_BYTES_CEILING,
        zero_means="the stream's limit",
        shown_default="0: the stream's limit, 1 MiB when the endpoint reports none",
        check=True,
    ),
    Option(
        "max_line_bytes",
        "producer",
        "longer input lines are dead-lettered and skipped",
        "BYTES",
        shown_default="0, the record limit plus 64 KiB",
        low=limits.MIN_LINE_BYTES,
        high=limits.MAX_LINE_BYTES,
        zero_means="automatic",
    ),
    Option(
        "buffer_records",
        "producer",
        "records buffered before input waits",
        "N",
        low=1,
        high=limits.MAX_BUFFER_RECORDS,
    ),
    Option(
        "buffer_bytes",
        "producer",
        "bytes buffered before input waits",
        "BYTES",
        low=1,
        high=limits.MAX_BUFFER_BYTES,
    ),
    Option(
        "record_budget_s",
        "producer",
        "time a record may spend being retried",
        "S",
        low=0.001,
        high=DAY_S,
        unit="s",
    ),
    Option(
        "max_attempts",
        "producer",
        "send attempts per record before dead-lettering",
        "N",
        low=1,
        high=1000,
    ),
    Option(
        "backoff_base_s",
        "producer",
        "first retry's backoff ceiling (full jitter, doubling per attempt)",
        "S",
        low=0,
        high=60,
        unit="s",
    ),
    Option(
        "backoff_cap_s",
        "producer",
        "largest retry backoff",
        "S",
        low=0.001,
        high=3600,
        unit="s",
    ),
    Option(
        "request_timeout_s",
        "producer",
        "per-request timeout",
        "S",
        low=0.001,
        high=3600,
        check=True,
        unit="s",
    ),
    Option("transport", "producer", "PutRecords path: fast (own encoding + SigV4) or botocore"),
    Option(
        "shard_rate_factor",
        "producer",
        "per-shard send rate as a multiple of the shard write limit (1,000 records/s, 1 MiB/s), "
        "lowered adaptively on throttling; 0 turns it off, e.g. for a local endpoint without "
        "limits",
        "F",
        low=0,
        high=100,
    ),
    Option(
        "ordering",
        "producer",
        "strict: at most one record per partition key per call, so a retried record is always "
        "written before later records of its key; relaxed: pack freely",
    ),
    Option(
        "aggregation",
        "producer",
        "kpl: pack each shard's records into KPL aggregated records (the consumer must "
        "de-aggregate: KCL and Firehose do; see README, Consumers); none: one record each",
    ),
    Option(
        "aggregation_target_bytes",
        "producer",
        "size KPL aggregated records are cut at; never above the record limit",
        "BYTES",
        low=limits.MIN_RECORD_BYTES,
        high=limits.MAX_RECORD_BYTES_CEILING,
    ),
    Option(
        "compression",
        "producer",
        "compress each record's data on its own (the consumer must decompress; the record "
        "limit applies to the compressed bytes)",
    ),
)
