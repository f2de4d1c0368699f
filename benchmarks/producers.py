"""The producers under test, and the snapshot of the code they run from.

What it does: `PRODUCERS` names each producer the harness can run (the streamer with each
transport and record format, the hand-written aiobotocore loop, async-kinesis with aggregation
off and on, the AWS SDK for JavaScript v3 loop when `node_peer_ready`) with its label and its
command line against an endpoint; `REFERENCE` is the one the others are compared with;
`MAIN_PRODUCERS`, `FORMAT_PRODUCERS` and `LIMIT_PRODUCERS` are who runs in the main table, the
record formats suite and the shard limits suite. `snapshot` copies `streamer/` and `benchmarks/`
into the work directory, and every subprocess (endpoint, workload generator, producers) runs
from that copy, so edits made to the working tree while a benchmark runs cannot change what
later runs measure; the copy is compiled to bytecode once, as an installed package is.
What it leaves out: running and measuring them (`runner.py`), choosing what to run
(`harness.py`).
"""

from __future__ import annotations

import compileall
import hashlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
STREAM: Final = "bench"
REGION: Final = "us-east-1"
SNAPSHOT_PACKAGES: Final = ("streamer", "benchmarks")
NODE_PEER: Final = ROOT / "benchmarks" / "peers" / "node"
"""The Node.js peer: its script and its npm packages (installed by `scripts/bench.sh`)."""


@dataclass(frozen=True, slots=True)
class Producer:
    """One producer under test: how to start it and whether the endpoint can count its events."""

    name: str
    label: str
    argv: Callable[[str, Path, bool], list[str]]
    """(endpoint url, dead-letter path, endpoint enforces shard limits) -> command line."""
    per_event_records: bool = True


def _command(module: str, url: str, *extra: str) -> list[str]:
    target = ["--stream", STREAM, "--region", REGION, "--endpoint-url", url]
    return [sys.executable, "-m", *module.split(), *target, *extra]


def _streamer(
    transport: str, *extra: str, spool: bool = False
) -> Callable[[str, Path, bool], list[str]]:
    def argv(url: str, dead_letter: Path, shard_limits: bool) -> list[str]:
        factor = "1" if shard_limits else "0"  # 0: no client-side shard limit
        options = ("--dead-letter", str(dead_letter), "--transport", transport, *extra)
        if spool:
            # a fresh spool per run (a killed run's leftovers would be replayed into the next)
            directory = dead_letter.with_suffix(".spool")
            shutil.rmtree(directory, ignore_errors=True)
            options += ("--spool-dir", str(directory), "--spool-sync", "interval")
        return _command("streamer run", url, *options, "--shard-rate-factor", factor)

    return argv


_KPL: Final = ("--aggregation", "kpl")
_GZIP: Final = ("--compression", "gzip")
_ZSTD: Final = ("--compression", "zstd")


def _boto_loop(url: str, _dead_letter: Path, _shard_limits: bool) -> list[str]:
    return _command("benchmarks.peers.boto_loop", url)


def _async_kinesis(aggregation: str) -> Callable[[str, Path, bool], list[str]]:
    def argv(url: str, _dead_letter: Path, shard_limits: bool) -> list[str]:
        throttle = "capacity" if shard_limits else "off"
        options = ("--aggregation", aggregation, "--throttle", throttle)
        return _command("benchmarks.peers.async_kinesis_peer", url, *options)

    return argv


def _node_sdk(url: str, _dead_letter: Path, _shard_limits: bool) -> list[str]:
    # Run from the working tree, not the snapshot: its node_modules stay where npm put them.
    target = ["--stream", STREAM, "--region", REGION, "--endpoint-url", url]
    return [shutil.which("node") or "node", str(NODE_PEER / "put_loop.mjs"), *target]


def node_peer_ready() -> bool:
    """Whether the Node peer can run: node on PATH and its npm packages installed (the stamp
    `scripts/node_peer.sh` leaves after a complete `npm ci`)."""
    installed = NODE_PEER / "node_modules" / ".installed"
    return shutil.which("node") is not None and installed.is_file()


PRODUCERS: Final = {
    p.name: p
    for p in (
        Producer("streamer", "streamer (fast transport)", _streamer("fast")),
        Producer("streamer_botocore", "streamer (--transport botocore)", _streamer("botocore")),
        Producer(
            "streamer_spool",
            "streamer with a spool (interval sync)",
            _streamer("fast", spool=True),
        ),
        Producer("boto_loop", "aiobotocore loop (500/call, 8 tasks)", _boto_loop),
        Producer("async_kinesis_off", "async-kinesis, aggregation off", _async_kinesis("off")),
        Producer(
            "async_kinesis_on",
            "async-kinesis, aggregation on",
            _async_kinesis("on"),
            per_event_records=False,
        ),
        Producer(
            "node_sdk",
            "AWS SDK for JavaScript v3 loop (500/call, 8 in flight, pre-built records)",
            _node_sdk,
        ),
        # Record formats (issue 14): the endpoint de-aggregates and decompresses to count ids.
        Producer("streamer_kpl", "streamer --aggregation kpl", _streamer("fast", *_KPL)),
        Producer("streamer_gzip", "streamer --compression gzip", _streamer("fast", *_GZIP)),
        Producer("streamer_zstd", "streamer --compression zstd", _streamer("fast", *_ZSTD)),
        Producer(
            "streamer_kpl_zstd",
            "streamer --aggregation kpl --compression zstd",
            _streamer("fast", *_KPL, *_ZSTD),
        ),
    )
}
REFERENCE: Final = "streamer"
MAIN_PRODUCERS: Final = (
    "streamer", "streamer_botocore", "streamer_spool", "boto_loop", "async_kinesis_off",
    "async_kinesis_on",
)  # fmt: skip
"""The main table: the streamer against the alternatives a user would pick."""
FORMAT_PRODUCERS: Final = (
    "streamer", "streamer_kpl", "streamer_gzip", "streamer_zstd", "streamer_kpl_zstd",
)  # fmt: skip
"""The record formats suite: the streamer with each aggregation and compression setting."""
LIMIT_PRODUCERS: Final = ("streamer", "streamer_kpl")
"""The per-shard limits suite: with and without aggregation, against real shard limits."""


def snapshot(workdir: Path) -> tuple[Path, str]:
    """Copy the packages under test into `workdir`; returns the copy and a hash of its files."""
    target = workdir / "code"
    digest = hashlib.sha256()
    for package in SNAPSHOT_PACKAGES:
        shutil.copytree(
            ROOT / package,
            target / package,
            ignore=shutil.ignore_patterns("__pycache__", "results", "node_modules"),
            dirs_exist_ok=True,
        )
    # The compiled module built in place (`streamer/_native*.so`) is copied with its package;
    # its source is hashed with the Python files.
    for path in sorted(p for p in target.rglob("*") if p.suffix in (".py", ".c")):
        digest.update(path.relative_to(target).as_posix().encode())
        digest.update(path.read_bytes())
    # Bytecode up front, as an installed package has it: with PYTHONDONTWRITEBYTECODE set in the
    # environment every run would otherwise compile the snapshot again (~0.07 CPU s of start-up).
    compileall.compile_dir(target, quiet=1)
    return target, digest.hexdigest()[:16]
