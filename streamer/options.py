"""The table of settings: one row per key, with its section, flag, help and bounds.

What it does: names every setting the config file and the command line accept, once. A row
says where the key belongs in the TOML file (the top level for the destination and activation,
`[producer]` for batching, limits, retries, rate and ordering, `[daemon]` for inputs, dead letter,
drain, logs and metrics), the bounds a number must lie in, whether `streamer check` takes it too
(`streamer replay` takes the top-level and [producer] keys and `REPLAY_DAEMON_KEYS`), and the
help text. `cli.py` generates the flags from these rows and `config.py` validates the
values against them; defaults and types come from the `Settings` dataclass fields, so help,
defaults and validation cannot drift apart. Adding a setting is one `Settings` field and one row.

What it leaves out: parsing and validation (`config.py`), argparse (`cli.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from streamer import limits

Section = Literal["", "producer", "daemon"]
"""Where a key belongs in the TOML file; "" is the top level."""

SECTIONS: Final = ("producer", "daemon")


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its key (the `Settings` field), section, help and bounds."""

    key: str
    section: Section
    help: str
    metavar: str | None = None
    low: float | None = None
    """Smallest value allowed (numbers only), inclusive."""
    high: float | None = None
    """Largest value allowed (numbers only), inclusive."""
    zero_means: str | None = None
    """0 is allowed besides the bounds and means this (e.g. "automatic")."""
    check: bool = False
    """`streamer check` takes the flag too (it matters to the start-up checks)."""
    flag: bool = True
    """False for secrets: a command line is readable by every user of the machine."""
    repeat: bool = False
    """The flag may be given several times, each adding one value (e.g. --input)."""
    unit: str = ""
    """Shown after the default in the help, e.g. "ms"."""
    shown_default: str | None = None
    """The default as the help shows it, when the field's value does not say it well."""
    flag_as: str | None = None
    """The flag's name when it is not the key with dashes (e.g. --input for inputs)."""

    @property
    def flag_name(self) -> str:
        return self.flag_as or "--" + self.key.replace("_", "-")


MiB = limits.MiB
DAY_S = 86_400.0

OPTIONS: Final[tuple[Option, ...]] = (
    # -- top level: the destination -------------------------------------------------------------
    Option("name", "", "destination name, shown in the start-up log line", "TEXT", check=True),
    Option("description", "", "destination description, logged at start-up", "TEXT", check=True),
    Option("stream", "", "Kinesis stream name", "NAME", check=True),
    Option(
        "stream_arn",
        "",
        "Kinesis stream ARN, instead of stream (e.g. a stream in another account); the region "
        "comes from it",
        "ARN",
        check=True,
    ),
    Option("region", "", "AWS region, e.g. eu-west-1", "REGION", check=True),
    Option(
        "endpoint_url",
        "",
        "Kinesis-compatible endpoint, e.g. a local one",
        "URL",
        check=True,
        shown_default="AWS's endpoint for the region",
    ),
    Option("profile", "", "AWS shared-config profile", "NAME", check=True, shown_default="none"),
    Option("access_key_id", "", "AWS access key id (config file only)", flag=False),
    Option("secret_access_key", "", "AWS secret access key (config file only)", flag=False),
    Option("session_token", "", "AWS session token (config file only)", flag=False),
    Option(
        "role_arn",
        "",
        "IAM role to assume on top of the base credentials; refreshed before it expires",
        "ARN",
        check=True,
        shown_default="none",
    ),
    Option(
        "external_id",
        "",
        "external id the role's trust policy asks for",
        "ID",
        check=True,
        shown_default="none",
    ),
    Option("role_session_name", "", "session name when assuming the role", "NAME", check=True),
    # -- top level: the activation --------------------------------------------------------------
    Option(
        "segments",
        "",
        "mapped segment ids, comma-separated, or all (the file also takes tables with names "
        "and timestamps); profiles in none of them are not exported",
        "IDS",
    ),
    Option(
        "attributes",
        "",
        "selected attributes as dotted paths, comma-separated, or all",
        "PATHS",
    ),
    Option("include_segment_names", "", "add each mapped segment's name to its entry"),
    Option("include_segment_timestamps", "", "add each mapped segment's timestamps to its entry"),
    Option(
        "partition_key",
        "",
        "identity namespace whose first id is the partition key",
        "NAMESPACE",
    ),
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

BY_KEY: Final = {o.key: o for o in OPTIONS}

REPLAY_DAEMON_KEYS: Final = frozenset(
    {"dead_letter", "drain_deadline_s", "log_level", "log_format"}
)
"""The [daemon] keys `streamer replay` takes besides every top-level and [producer] key (it
reads no inputs and serves no metrics)."""


def takes(command: str, option: Option) -> bool:
    """Whether `streamer COMMAND` has a flag for `option`."""
    if not option.flag:
        return False
    if command == "check":
        return option.check
    if command == "replay":
        return option.section != "daemon" or option.key in REPLAY_DAEMON_KEYS
    return True
