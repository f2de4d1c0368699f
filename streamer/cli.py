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

from streamer import check, config, daemon, logs, runtime
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


def _add_run_options(p: argparse.ArgumentParser) -> None:
    s = argparse.SUPPRESS
    p.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=s,
        metavar="INPUT",
        help="where NDJSON lines come from, repeatable: stdin (default), tcp://HOST:PORT "
        "(HOST defaults to 127.0.0.1) or unix:///path/to.sock (created 0600, removed at exit); "
        "with a socket input the daemon runs until SIGTERM/SIGINT",
    )
    p.add_argument(
        "--max-connections",
        dest="max_connections",
        type=int,
        default=s,
        metavar="N",
        help=f"open socket connections at once; more are closed at once "
        f"(default {config.DEFAULT_MAX_CONNECTIONS})",
    )
    p.add_argument(
        "--max-line-bytes",
        dest="max_line_bytes",
        type=int,
        default=s,
        metavar="BYTES",
        help="longer input lines are dead-lettered and skipped (default: the record limit "
        "plus 64 KiB)",
    )
    p.add_argument(
        "--metrics-address",
        dest="metrics_address",
        default=s,
        metavar="HOST:PORT",
        help="serve /metrics (Prometheus), /healthz and /readyz here, e.g. 127.0.0.1:9108 "
        "(default: off)",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        default=s,
        help="log a progress line every few seconds (on by default when stderr is a terminal)",
    )
    p.add_argument(
        "--progress-interval-s",
        dest="progress_interval_s",
        type=float,
        default=s,
        metavar="S",
        help=f"seconds between progress lines (default {config.DEFAULT_PROGRESS_INTERVAL_S:g})",
    )
    p.add_argument(
        "--dead-letter",
        dest="dead_letter",
        default=s,
        metavar="FILE",
        help="where undeliverable records and bad lines go, one JSON line each "
        "with a reason (default dead-letter.ndjson)",
    )
    p.add_argument(
        "--writers",
        type=int,
        default=s,
        metavar="N",
        help="concurrent PutRecords calls, also the HTTP pool size (default 16)",
    )
    p.add_argument(
        "--linger-ms",
        dest="linger_ms",
        type=float,
        default=s,
        metavar="MS",
        help="how long a partial batch may wait for more records (default 50)",
    )
    p.add_argument(
        "--max-request-bytes",
        dest="max_request_bytes",
        type=int,
        default=s,
        metavar="BYTES",
        help="PutRecords request size limit (default 5 MiB; "
        "streams configured for it take up to 10 MiB)",
    )
    p.add_argument(
        "--max-record-bytes",
        dest="max_record_bytes",
        type=int,
        default=s,
        metavar="BYTES",
        help="record limit incl. partition key (default 1 MiB)",
    )
    p.add_argument(
        "--record-budget-s",
        dest="record_budget_s",
        type=float,
        default=s,
        metavar="S",
        help="time a record may spend being retried (default 30)",
    )
    p.add_argument(
        "--max-attempts",
        dest="max_attempts",
        type=int,
        default=s,
        metavar="N",
        help="send attempts per record before dead-lettering (default 20)",
    )
    p.add_argument(
        "--buffer-records",
        dest="buffer_records",
        type=int,
        default=s,
        metavar="N",
        help="records buffered before input waits (default 20000)",
    )
    p.add_argument(
        "--request-timeout-s",
        dest="request_timeout_s",
        type=float,
        default=s,
        metavar="S",
        help="per-request timeout (default 10)",
    )
    p.add_argument(
        "--drain-deadline-s",
        dest="drain_deadline_s",
        type=float,
        default=s,
        metavar="S",
        help="time allowed to drain at exit (default 30)",
    )
    p.add_argument(
        "--transport",
        default=s,
        choices=config.TRANSPORTS,
        help="PutRecords path: fast (own encoding + SigV4, default) or botocore",
    )
    p.add_argument(
        "--shard-rate-factor",
        dest="shard_rate_factor",
        type=float,
        default=s,
        metavar="F",
        help="per-shard send rate as a multiple of the shard write limit (1,000 records/s, "
        "1 MiB/s), lowered adaptively on throttling; 0 turns it off, e.g. for a local "
        "endpoint without limits (default 1)",
    )
    p.add_argument(
        "--ordering",
        default=s,
        choices=config.ORDERINGS,
        help="strict (default): at most one record per partition key per call, so a retried "
        "record is always written before later records of its key; relaxed: pack freely",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer",
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="stream events from standard input or sockets into Kinesis",
        description="Read NDJSON profile events from standard input and/or TCP and Unix "
        "sockets (--input), export each to the stream, drain at end of input (stdin only) or "
        "on SIGTERM/SIGINT, and print a JSON summary as the last line on stderr.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(run)
    _add_run_options(run)
    check = sub.add_parser(
        "check",
        help="run only the start-up checks and report them",
        description="Validate the config, load credentials, check that the stream exists and "
        "is ACTIVE, and load its shard map, exactly as `run` does before accepting input; print "
        "a short report. Takes the same options as `run`; exits with the same codes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(check)
    _add_run_options(check)
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


async def _run(settings: config.Settings) -> int:
    async with AwsKinesis(aws_settings(settings)) as client:
        runner = daemon.Daemon(settings, client, progress=settings.progress or sys.stderr.isatty())
        await runner.run()
    if runner.failed:
        return int(ExitCode.FAILURE)
    return int(ExitCode.INTERRUPTED if runner.interrupted else ExitCode.OK)


async def _check(settings: config.Settings, path: Path | None) -> int:
    await check.check(settings, path, lambda: AwsKinesis(aws_settings(settings)), print)
    return int(ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> int:
    runtime.cap_malloc_arenas()
    args = build_parser().parse_args(argv)
    try:
        settings = config.load(args.config, _overrides(args))
    except StreamerError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if args.command == "check":
        # the report is the output: only warnings and errors go to the log
        level = settings.log_level if settings.log_level in ("warning", "error") else "warning"
        logs.configure(level, settings.log_format)
    else:
        logs.configure(settings.log_level, settings.log_format)
    try:
        if args.command == "check":
            return uvloop.run(_check(settings, args.config))
        return uvloop.run(_run(settings))
    except StreamerError as exc:
        structlog.get_logger("streamer").error("start-up failed", error=str(exc))
        print(f"streamer: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
