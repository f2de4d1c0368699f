"""Start-up imports only what a run needs: the real `streamer run` against moto's server, its
imports read from the interpreter's own log of them (`-X importtime`, every module the process
imported, start-up and run alike)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from local_kinesis import REGION

from tests.support.processes import aws_env

pytestmark = pytest.mark.integration

OPTIONAL = (
    "aiohttp",  # the HTTP input's and the status endpoint's server, posts through a proxy
    "streamer.sources.http",
    "streamer.spool",
    "streamer.replay",
    "streamer.metrics",
    "prometheus_client",
    "zstandard",
    "botocore",  # only when the direct route cannot serve the run (aws/route.py)
    "aiobotocore",
    "urllib.request",  # only where a proxy can be named (aws/poster.py)
)


def imported_by_run(moto_url: str, stream: str, tmp_path: Path, *flags: str) -> set[str]:
    """The modules a `streamer run` with empty standard input and `flags` imported."""
    command = [sys.executable, "-X", "importtime", "-m", "streamer", "run", "--stream", stream]
    command += ["--region", REGION, "--endpoint-url", moto_url, "--shard-rate-factor", "0"]
    command += ["--dead-letter", str(tmp_path / "dead.ndjson"), *flags]
    env = {k: v for k, v in aws_env().items() if not k.lower().endswith("_proxy")}
    proc = subprocess.run(
        command, input=b"", env=env, capture_output=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    lines = proc.stderr.decode().splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def optional_parts(modules: set[str]) -> set[str]:
    return {m for m in modules for part in OPTIONAL if m == part or m.startswith(part + ".")}


def test_a_plain_stdin_run_imports_no_optional_part(
    moto_url: str, new_stream: Callable[[int], str], tmp_path: Path
) -> None:
    """No aiohttp, spool, replay, metrics, zstd, botocore or urllib.request in a run that uses
    none of them (static keys, a given endpoint and no proxy variable: the direct route; its
    posts go over `h1`)."""
    modules = imported_by_run(moto_url, new_stream(1), tmp_path)
    assert {"streamer.cli", "streamer.sources.stdin", "streamer.aws.h1", "httptools"} <= modules
    assert optional_parts(modules) == set()


def test_the_botocore_transport_imports_botocore(
    moto_url: str, new_stream: Callable[[int], str], tmp_path: Path
) -> None:
    """A run that needs botocore (here its transport) loads it, and the run succeeds."""
    modules = imported_by_run(moto_url, new_stream(1), tmp_path, "--transport", "botocore")
    assert {"aiobotocore.session", "streamer.aws.boto"} <= modules


def test_a_run_that_uses_them_imports_them(
    moto_url: str, new_stream: Callable[[int], str], tmp_path: Path
) -> None:
    """The same run with a spool, zstd records and a metrics endpoint loads those parts."""
    flags = ["--spool-dir", str(tmp_path / "spool"), "--compression", "zstd"]
    flags += ["--metrics-address", "127.0.0.1:0"]
    loaded = optional_parts(imported_by_run(moto_url, new_stream(1), tmp_path, *flags))
    assert {"aiohttp.web", "streamer.spool", "streamer.metrics", "zstandard"} <= loaded
    assert "streamer.sources.http" not in loaded
    assert "streamer.replay" not in loaded
