"""Command line: `streamer run` and `streamer check`; argument parsing and exit codes only.

What it does: turns flags into setting overrides, loads and validates the settings, configures
logging, runs the daemon under uvloop, and maps every `StreamerError` to one sentence on stderr
and its exit code.

What it leaves out: everything the daemon does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import uvloop

from streamer import config, daemon, logs
from streamer.aws import AwsKinesis, AwsSettings
from streamer.errors import ExitCode, StreamerError

HELP = """Stream profile segment-qualification events (newline-delimited JSON) into an Amazon
Kinesis data stream, one export record per profile, with batching, shard-aware concurrent
writers, retries of partial failures and a dead-letter file. Nothing is dropped silently."""

EPILOG = """Credentials: access_key_id/secret_access_key in the config file, or the standard AWS
chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, shared files, instance roles).
Exit codes: 0 clean drain, 1 failure, 2 invalid config, 3 stream missing, 4 stream not ACTIVE,
5 credentials refused, 6 endpoint unreachable."""


def _add_common(p: argparse.ArgumentParser) -> None:
    s = argparse.SUPPRESS
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file (destination, activation, producer settings); flags override it",
    )
    p.add_argument("--stream", default=s, metavar="NAME", help="Kinesis stream name")
    p.add_argument("--region", default=s, metavar="REGION", help="AWS region, e.g. eu-west-1")
    p.add_argument(
        "--endpoint-url",
        dest="endpoint_url",
        default=s,
        metavar="URL",
        help="Kinesis-compatible endpoint (e.g. a local one); default: AWS's",
    )
    p.add_argument("--profile", default=s, metavar="NAME", help="AWS shared-config profile")
    p.add_argument(
        "--log-level",
        dest="log_level",
        default=s,
        choices=config.LOG_LEVELS,
        help="log level (default info)",
    )
    p.add_argument(
        "--log-format",
        dest="log_format",
        default=s,
        choices=config.LOG_FORMATS,
        help="json lines (default) or console",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = argparse.SUPPRESS
    run = sub.add_parser(
        "run",
        help="stream events from standard input into Kinesis",
        description="Read NDJSON profile events from standard input, export "
        "each to the stream, drain at end of input (or SIGTERM/SIGINT) and print "
        "a JSON summary as the last line on stderr.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(run)
    run.add_argument(
        "--dead-letter",
        dest="dead_letter",
        default=s,
        metavar="FILE",
        help="where undeliverable records and bad lines go, one JSON line each "
        "with a reason (default dead-letter.ndjson)",
    )
    run.add_argument(
        "--writers",
        type=int,
        default=s,
        metavar="N",
        help="concurrent PutRecords calls, also the HTTP pool size (default 16)",
    )
    run.add_argument(
        "--linger-ms",
        dest="linger_ms",
        type=float,
        default=s,
        metavar="MS",
        help="how long a partial batch may wait for more records (default 50)",
    )
    run.add_argument(
        "--max-request-bytes",
        dest="max_request_bytes",
        type=int,
        default=s,
        metavar="BYTES",
        help="PutRecords request size limit (default 5 MiB; "
        "streams configured for it take up to 10 MiB)",
    )
    run.add_argument(
        "--max-record-bytes",
        dest="max_record_bytes",
        type=int,
        default=s,
        metavar="BYTES",
        help="record limit incl. partition key (default 1 MiB)",
    )
    run.add_argument(
        "--record-budget-s",
        dest="record_budget_s",
        type=float,
        default=s,
        metavar="S",
        help="time a record may spend being retried (default 30)",
    )
    run.add_argument(
        "--max-attempts",
        dest="max_attempts",
        type=int,
        default=s,
        metavar="N",
        help="send attempts per record before dead-lettering (default 10)",
    )
    run.add_argument(
        "--buffer-records",
        dest="buffer_records",
        type=int,
        default=s,
        metavar="N",
        help="records buffered before input waits (default 20000)",
    )
    run.add_argument(
        "--request-timeout-s",
        dest="request_timeout_s",
        type=float,
        default=s,
        metavar="S",
        help="per-request timeout (default 10)",
    )
    run.add_argument(
        "--drain-deadline-s",
        dest="drain_deadline_s",
        type=float,
        default=s,
        metavar="S",
        help="time allowed to drain at exit (default 30)",
    )
    run.add_argument(
        "--transport",
        default=s,
        choices=config.TRANSPORTS,
        help="PutRecords path: fast (own encoding + SigV4, default) or botocore",
    )
    run.add_argument(
        "--shard-rate-factor",
        dest="shard_rate_factor",
        type=float,
        default=s,
        metavar="F",
        help="per-shard send rate as a multiple of the shard write limit (1,000 records/s, "
        "1 MiB/s), lowered adaptively on throttling; 0 turns it off, e.g. for a local "
        "endpoint without limits (default 1)",
    )
    run.add_argument(
        "--ordering",
        default=s,
        choices=config.ORDERINGS,
        help="strict (default): at most one record per partition key per call, so a retried "
        "record is always written before later records of its key; relaxed: pack freely",
    )
    return parser


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    values = {k: v for k, v in vars(ns).items() if k not in {"command", "config"}}
    if "linger_ms" in values:
        values["linger_s"] = values.pop("linger_ms") / 1000
    return values


def aws_settings(s: config.Settings) -> AwsSettings:
    return AwsSettings(
        stream=s.stream,
        region=s.region,
        endpoint_url=s.endpoint_url,
        access_key_id=s.access_key_id,
        secret_access_key=s.secret_access_key,
        session_token=s.session_token,
        profile=s.profile,
        request_timeout_s=s.request_timeout_s,
        max_connections=s.writers,
        transport="botocore" if s.transport == "botocore" else "fast",
    )


async def _run(settings: config.Settings) -> None:
    async with AwsKinesis(aws_settings(settings)) as client:
        await daemon.run(settings, client)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.load(args.config, _overrides(args))
    except StreamerError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    logs.configure(settings.log_level, settings.log_format)
    try:
        if args.command == "run":
            uvloop.run(_run(settings))
    except StreamerError as exc:
        structlog.get_logger("streamer").error("start-up failed", error=str(exc))
        print(f"streamer: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
