"""Starting the processes a benchmark run needs: the local endpoint and `streamer run`.

What it does: launches `benchmarks.endpoint` and waits for its listening line; builds the
`streamer run` command line and environment (dummy credentials) aimed at it.

What it leaves out: measuring (each benchmark measures what it reports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def start_endpoint(shards: int, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """An endpoint process with stream `bench`; returns it and its URL once it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.endpoint",
            "--port",
            "0",
            "--shards",
            str(shards),
            "--stream",
            "bench",
            *extra,
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    return proc, str(json.loads(proc.stdout.readline())["url"])


def streamer_cmd(url: str, dead_letter: Path, *extra: str) -> list[str]:
    """`streamer run` against stream `bench` at `url`."""
    return [
        sys.executable,
        "-m",
        "streamer",
        "run",
        "--stream",
        "bench",
        "--region",
        "us-east-1",
        "--endpoint-url",
        url,
        "--dead-letter",
        str(dead_letter),
        *extra,
    ]


def bench_env() -> dict[str, str]:
    """The environment with dummy credentials (the endpoint does not check them)."""
    return {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
