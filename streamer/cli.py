"""Command line: `streamer run`, `check` and `replay`; argument parsing and exit codes only.

What it does: generates each command's flags from the settings table (`options.OPTIONS`: flag,
help, bounds; the default shown is the `Settings` field's, so help and defaults cannot drift),
loads and validates the settings, configures logging, runs the daemon under uvloop, and maps
every `StreamerError` to one sentence on stderr and its exit code.

What it leaves out: everything the daemon does, and building any component's settings
(`config.py`).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import uvloop

from streamer import check, config, daemon, deadletter, logs, runtime
from streamer.aws import AwsKinesis
from streamer.errors import ConfigError, ExitCode, StreamerError
from streamer.options import OPTIONS, Option, takes

WIDTH = 96

HELP = """Stream profile segment-qualification events (newline-delimited JSON) into an Amazon
Kinesis data stream, one export record per profile, with batching, shard-aware concurrent writers,
retries of partial failures and a dead-letter file. Nothing is dropped silently."""

RUN_HELP = """Read NDJSON profile events from standard input and/or TCP and Unix sockets
(--input), export each to the stream, drain at end of input (stdin only) or on SIGTERM/SIGINT,
and log a summary as the last line on stderr. Every setting can also be set in the TOML config
file (--config) under the key named like the flag; a flag wins over the file."""

CHECK_HELP = """Validate the config, load credentials, check that the stream exists and is
ACTIVE, and load its shard map, exactly as `run` does before accepting input; print a short
report. Takes the options that matter to those checks; exits with the same codes as `run`."""

REPLAY_HELP = """Send the entries of a dead-letter file again, through the same batching, retries
and export as `run`: with --kind delivery (the default) each delivery entry's record and partition
key as they are; with --kind input each input entry's line through the export with the current
activation (e.g. after fixing it). What fails again goes to --dead-letter, a new file that must
differ from the file read (the file read is never rewritten). Overlong lines, of which only a
preview was kept, cannot be replayed and are copied to the new file. A replayed record arrives
after any later record of its profile, so it can roll back a consumer's state: the summary says
for how many profiles. Exit 0 when everything was delivered, 1 when entries went to the new
file."""

EPILOG = """Credentials: access_key_id/secret_access_key in the config file (never as flags: a
command line is readable by every user of the machine), or the standard AWS chain
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, shared files, instance roles); with
--role-arn (and --external-id), a role assumed on top of them and refreshed before it expires. A
stream in another account: --stream-arn instead of --stream (the region is the ARN's).

Exit codes: 0 clean drain, 1 failure, 2 invalid config, 3 stream missing, 4 stream not ACTIVE,
5 credentials refused or role not assumable, 6 endpoint unreachable, 130 interrupted (a second
SIGINT)."""


def _wrap(text: str) -> str:
    return "\n\n".join(
        textwrap.fill(" ".join(p.split()), WIDTH) for p in text.split("\n\n") if p.strip()
    )


def _default_text(option: Option) -> str:
    if option.shown_default is not None:
        return option.shown_default
    value = config.DEFAULTS[option.key]
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "all" if option.key in {"segments", "attributes"} else "off"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}{' ' + option.unit if option.unit else ''}"
    if value == "":
        return "none"
    return str(value)


def _comma_list(text: str) -> str | list[str]:
    """A flag's comma-separated list; "all" stays a word."""
    if text == "all":
        return text
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    hint = config.HINTS[option.key]
    inner = [a for a in typing.get_args(hint) if a is not type(None)]
    base = inner[0] if len(inner) == 1 else hint
    kwargs: dict[str, Any] = {
        "dest": option.key,
        "default": argparse.SUPPRESS,
        "help": f"{option.help} (default {_default_text(option)})",
    }
    if hint is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(hint) is Literal:
        kwargs["choices"] = typing.get_args(hint)
    else:
        kwargs["metavar"] = option.metavar or option.key.upper()
        if option.repeat:
            kwargs["action"] = "append"
        elif typing.get_origin(base) is tuple:
            kwargs["type"] = _comma_list
        elif base is int:
            kwargs["type"] = int
        elif base is float:
            kwargs["type"] = float
    parser.add_argument(option.flag_name, **kwargs)


def _add_options(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file: destination and activation keys at the top level, "
        "[producer] and [daemon] sections; flags override it",
    )
    for option in OPTIONS:
        if takes(command, option):
            _add_option(parser, option)
    if command == "replay":
        parser.add_argument(
            "file", type=Path, metavar="DEAD_LETTER_FILE", help="the dead-letter file to replay"
        )
        parser.add_argument(
            "--kind",
            choices=deadletter.KINDS,
            default="delivery",
            help="which entries to send again: delivery (records, as they are) or input (lines, "
            "exported again) (default delivery)",
        )


COMMANDS = {
    "run": ("stream events from standard input or sockets into Kinesis", RUN_HELP),
    "check": ("run only the start-up checks and report them", CHECK_HELP),
    "replay": ("send the entries of a dead-letter file again", REPLAY_HELP),
}


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (for tests and documentation)."""
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = action.choices[name]
    return parser


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="streamer", description=_wrap(HELP), epilog=_wrap(EPILOG), formatter_class=formatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (short, long) in COMMANDS.items():
        command = sub.add_parser(
            name,
            help=short,
            description=_wrap(long),
            epilog=_wrap(EPILOG),
            formatter_class=formatter,
        )
        _add_options(command, name)
    return parser


async def _run(settings: config.Settings) -> int:
    async with AwsKinesis(config.aws_settings(settings)) as client:
        runner = daemon.Daemon(settings, client, progress=settings.progress or sys.stderr.isatty())
        await runner.run()
    if runner.failed:
        return int(ExitCode.FAILURE)
    return int(ExitCode.INTERRUPTED if runner.interrupted else ExitCode.OK)


async def _check(settings: config.Settings, path: Path | None) -> int:
    await check.check(settings, path, lambda: AwsKinesis(config.aws_settings(settings)), print)
    return int(ExitCode.OK)


async def _replay(settings: config.Settings, path: Path, kind: deadletter.Kind) -> int:
    from streamer import replay  # noqa: PLC0415 - only `streamer replay` loads it

    async with AwsKinesis(config.aws_settings(settings)) as client:
        _, report, written = await replay.replay(settings, client, path, kind)
    return int(ExitCode.FAILURE if written or report.failed else ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> int:
    runtime.cap_malloc_arenas()
    runtime.pad_heap()
    args = build_parser().parse_args(argv)
    own = {"command", "config", "file", "kind"}
    flags = {k: v for k, v in vars(args).items() if k not in own}
    try:
        if args.command == "replay" and "dead_letter" not in flags:
            raise ConfigError(
                "replay needs --dead-letter NEW_FILE, where what fails again is written"
            )
        settings = config.load(args.config, flags)
        runtime.tune_gc()
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
        if args.command == "replay":
            return uvloop.run(_replay(settings, args.file, args.kind))
        return uvloop.run(_run(settings))
    except StreamerError as exc:
        print(f"streamer: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
