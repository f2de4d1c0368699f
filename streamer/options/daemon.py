"""Rows of `[daemon]`: inputs, the dead-letter file, drain, logs, metrics, spool, HTTP input.

What it does: one `Option` per key of the running daemon: what it listens on and how it treats
connections (limits, idle and shutdown timeouts), where undeliverable records go, how long a
drain may take, logging, the status endpoint and readiness, the crash-safe spool and the HTTP
input's limits, token and TLS files.

What it leaves out: the producer's tuning (`producer.py`) and the destination (`top.py`).
"""

from __future__ import annotations

from typing import Final

from streamer import limits
from streamer.options.row import DAY_S, Option

DAEMON: Final[tuple[Option, ...]] = (
    # -- [daemon] ---------------------------------------------------------------------------------
    Option(
        "inputs",
        "daemon",
        "where NDJSON lines come from, repeatable: stdin, tcp://HOST:PORT (HOST defaults to "
        "127.0.0.1), unix:///path/to.sock (created 0600, removed at exit), or http://HOST:PORT "
        "(https:// with tls_cert_file and tls_key_file; POST /v1/records); with a socket or "
        "HTTP input the daemon runs until SIGTERM/SIGINT",
        "INPUT",
        repeat=True,
        check=True,
        flag_as="--input",
    ),
    Option(
        "max_connections",
        "daemon",
        "open socket connections at once; more are closed at once",
        "N",
        low=1,
        high=limits.MAX_CONNECTIONS_CEILING,
    ),
    Option(
        "max_body_bytes",
        "daemon",
        "largest HTTP request body, also after decompression; larger ones are answered 413",
        "BYTES",
        low=1,
        high=limits.MAX_BODY_BYTES_CEILING,
    ),
    Option(
        "http_wait_s",
        "daemon",
        "how long an HTTP request waits for room in the buffer before it is answered 503",
        "S",
        low=0.001,
        high=3600,
        unit="s",
    ),
    Option(
        "http_token_file",
        "daemon",
        "file holding the bearer token HTTP clients must send (re-read when it changes)",
        "FILE",
        shown_default="none: no authentication",
    ),
    Option(
        "tls_cert_file",
        "daemon",
        "PEM certificate (chain) for https:// inputs",
        "FILE",
        shown_default="none",
    ),
    Option(
        "tls_key_file",
        "daemon",
        "PEM private key for https:// inputs",
        "FILE",
        shown_default="none",
    ),
    Option(
        "allow_remote_unauthenticated",
        "daemon",
        "allow tcp:// inputs, and http(s):// inputs without a token, on a non-loopback address",
    ),
    Option(
        "idle_timeout_s",
        "daemon",
        "a socket connection that completes no line for this long is closed (at the connection "
        "limit, the one longest without a line is closed for a new client after 10 s)",
        "S",
        low=1,
        high=DAY_S,
        unit="s",
    ),
    Option(
        "shutdown_idle_ms",
        "daemon",
        "at SIGTERM, open connections are read until their end or until nothing arrives for "
        "this long (stdin: its line in progress), within the drain deadline",
        "MS",
        low=1,
        high=DAY_S * 1000,
        unit="ms",
    ),
    Option(
        "metrics_address",
        "daemon",
        "serve /metrics (Prometheus), /healthz and /readyz here, e.g. 127.0.0.1:9108",
        "HOST:PORT",
        check=True,
    ),
    Option(
        "dead_letter",
        "daemon",
        "where undeliverable records and bad lines go, one JSON line each with a reason",
        "FILE",
        check=True,
    ),
    Option(
        "drain_deadline_s",
        "daemon",
        "time allowed to drain at exit",
        "S",
        low=0.001,
        high=DAY_S,
        unit="s",
    ),
    Option("log_level", "daemon", "log level", check=True),
    Option("log_format", "daemon", "json lines or console", check=True),
    Option(
        "unready_after_s",
        "daemon",
        "/readyz answers 503 once every PutRecords call for this long has failed (at once when "
        "the stream is gone or the endpoint unreachable)",
        "S",
        low=0.001,
        high=DAY_S,
        unit="s",
    ),
    Option(
        "progress",
        "daemon",
        "log a progress line every progress_interval_s (on by default when stderr is a terminal)",
    ),
    Option(
        "progress_interval_s",
        "daemon",
        "seconds between progress lines",
        "S",
        low=0.01,
        high=DAY_S,
        unit="s",
    ),
    Option("spool_dir", "daemon", "keep accepted lines here until settled (README: Spool)", "DIR"),
    Option("spool_sync", "daemon", "when the spool syncs: interval, always or never (README)"),
    Option(
        "spool_sync_interval_ms", "daemon", "most a line waits to be synced", "MS", low=1, unit="ms"
    ),
    Option(
        "spool_max_bytes",
        "daemon",
        "input waits while the spool holds this much",
        "BYTES",
        low=limits.MIN_SPOOL_MAX_BYTES,
    ),
)
